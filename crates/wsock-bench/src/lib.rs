//! Shared pieces of the wsock benchmarks: payloads, masked client frames,
//! in-memory transports, and the same workload written once per library
//! (wsock, tungstenite, fastwebsockets, tokio-websockets) with each
//! library's plain public API.
//!
//! Used by `benches/peers.rs` (criterion, in-memory) and by the
//! `wsock-bench` binary (the echo load generator and its echo servers, and
//! the fixed-count driver used for instruction counts).

#![allow(clippy::cast_precision_loss)] // Rates and ratios are printed as floats.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsock_core::__internals::{FrameHeader, OpCode, apply_mask};
use wsock_core::{Config, Connection, DataKind, Event, Message, Role};

pub mod deflate;
pub mod echo;
pub mod fanout;

/// The key every benchmark frame is masked with.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Bytes an in-memory transport hands out per read, as a socket read would.
pub const READ: usize = 64 * 1024;

/// What a payload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Arbitrary bytes in a binary message.
    Binary,
    /// ASCII text.
    Ascii,
    /// UTF-8 text, mostly 2-, 3- and 4-byte code points.
    Multilingual,
}

impl Kind {
    /// All kinds, in table order.
    pub const ALL: [Kind; 3] = [Kind::Binary, Kind::Ascii, Kind::Multilingual];

    /// The name used in benchmark ids and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Ascii => "text-ascii",
            Self::Multilingual => "text-multilingual",
        }
    }

    /// Exactly `len` bytes of this kind. Text is valid UTF-8 at every
    /// length: a code point that would not fit whole is left out and the
    /// rest padded with ASCII.
    pub fn payload(self, len: usize) -> Vec<u8> {
        match self {
            Self::Binary => (0..len).map(|i| (i * 31 % 251) as u8).collect(),
            Self::Ascii => b"The quick brown fox jumps over the lazy dog. 0123456789\n"
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect(),
            Self::Multilingual => {
                let sample = "κόσμε 世界 こんにちは 🌍🚀 Привет мир ";
                let mut text = String::with_capacity(len + 4);
                for c in sample.chars().cycle() {
                    if text.len() + c.len_utf8() > len {
                        break;
                    }
                    text.push(c);
                }
                while text.len() < len {
                    text.push('.');
                }
                text.into_bytes()
            }
        }
    }

    /// The kind of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The frame opcode for this kind.
    pub fn opcode(self) -> OpCode {
        match self {
            Self::Binary => OpCode::Binary,
            Self::Ascii | Self::Multilingual => OpCode::Text,
        }
    }
}

/// Appends one final frame carrying `payload`, masked with [`KEY`] when
/// `masked` (as a client sends it), to `out`.
pub fn frame(opcode: OpCode, payload: &[u8], masked: bool, out: &mut Vec<u8>) {
    frame_rsv(opcode, 0, payload, masked, out);
}

/// [`frame`] with the RSV bits `rsv` set (RSV1 marks a compressed message).
pub fn frame_rsv(opcode: OpCode, rsv: u8, payload: &[u8], masked: bool, out: &mut Vec<u8>) {
    let header = FrameHeader {
        fin: true,
        rsv,
        opcode,
        mask: masked.then_some(KEY),
        payload_len: payload.len() as u64,
    };
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if masked {
        apply_mask(&mut out[start..], KEY, 0);
    }
}

/// `count` masked client frames of `kind`, each with a `size`-byte payload.
pub fn client_stream(kind: Kind, size: usize, count: usize) -> Vec<u8> {
    let payload = kind.payload(size);
    let mut out = Vec::with_capacity(count * (size + 14));
    for _ in 0..count {
        frame(kind.opcode(), &payload, true, &mut out);
    }
    out
}

/// A readable transport that serves `data` over and over (at most [`READ`]
/// bytes per read, never past the end of one copy), and a writable one that
/// copies what is written into `written` (as a kernel socket would) and
/// forgets it on [`MemIo::take_written`]. Both sync (`Read`/`Write`) and async
/// (never pending).
#[derive(Debug, Clone)]
pub struct MemIo {
    data: Rc<[u8]>,
    pos: Rc<Cell<usize>>,
    written: Rc<RefCell<Vec<u8>>>,
}

impl MemIo {
    /// A transport that reads `data` in a loop.
    pub fn new(data: Vec<u8>) -> Self {
        Self {
            data: data.into(),
            pos: Rc::new(Cell::new(0)),
            written: Rc::default(),
        }
    }

    /// How many bytes were written since the last call (shared by clones);
    /// forgets them.
    pub fn take_written(&self) -> usize {
        let mut written = self.written.borrow_mut();
        let n = written.len();
        written.clear();
        n
    }

    fn write_bytes(&self, buf: &[u8]) {
        self.written.borrow_mut().extend_from_slice(buf);
    }

    /// Like [`read_into`](Self::read_into), into a `BufMut` (copying only
    /// what it reads).
    fn put_into(&self, buf: &mut impl bytes::BufMut) -> usize {
        if self.data.is_empty() {
            return 0;
        }
        let pos = self.pos.get();
        let n = buf.remaining_mut().min(READ).min(self.data.len() - pos);
        buf.put_slice(&self.data[pos..pos + n]);
        self.pos.set(if pos + n == self.data.len() {
            0
        } else {
            pos + n
        });
        n
    }

    fn read_into(&self, buf: &mut [u8]) -> usize {
        if self.data.is_empty() {
            return 0;
        }
        let pos = self.pos.get();
        let n = buf.len().min(READ).min(self.data.len() - pos);
        buf[..n].copy_from_slice(&self.data[pos..pos + n]);
        self.pos.set(if pos + n == self.data.len() {
            0
        } else {
            pos + n
        });
        n
    }
}

impl Read for MemIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

impl Write for MemIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemIo {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Copies only what it reads, as a socket does: initializing the
        // whole unfilled part first would charge readers of uninitialized
        // memory a pass that no real transport makes.
        self.put_into(buf);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut n = 0;
        for b in bufs {
            self.write_bytes(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs a future over [`MemIo`] to completion: it never waits, so one poll
/// does it (no executor in the measurement).
pub fn now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("in-memory future waited"),
    }
}

/// The libraries compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    /// wsock's sans-IO core, driven as an adapter would.
    WsockCore,
    /// wsock's sans-IO core, fed from a buffer of the reader's own
    /// (`Connection::feed`), as wsock-blocking drives it. Decode only.
    WsockCoreFeed,
    /// wsock's tokio adapter (`recv` of owned messages).
    WsockTokio,
    /// tungstenite (sync API; tokio-tungstenite wraps it).
    Tungstenite,
    /// fastwebsockets (`WebSocket::read_frame`/`write_frame`).
    Fastwebsockets,
    /// tokio-websockets (`Stream`/`Sink` of messages).
    TokioWebsockets,
}

impl Lib {
    /// Every library, ours first.
    pub const ALL: [Lib; 6] = [
        Lib::WsockCore,
        Lib::WsockCoreFeed,
        Lib::WsockTokio,
        Lib::Tungstenite,
        Lib::Fastwebsockets,
        Lib::TokioWebsockets,
    ];

    /// The name used in benchmark ids and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::WsockCore => "wsock-core",
            Self::WsockCoreFeed => "wsock-core-feed",
            Self::WsockTokio => "wsock-tokio",
            Self::Tungstenite => "tungstenite",
            Self::Fastwebsockets => "fastwebsockets",
            Self::TokioWebsockets => "tokio-websockets",
        }
    }

    /// Whether only the decode workloads drive it (no encoder of its own).
    pub fn decodes_only(self) -> bool {
        matches!(self, Self::WsockCoreFeed | Self::WsockTokio)
    }

    /// The library of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }
}

/// A server receiving masked client frames from a [`MemIo`] through one
/// library. [`Decoder::receive`] takes whole messages and returns the
/// payload bytes seen (after unmasking and, for text, UTF-8 validation).
#[allow(clippy::large_enum_variant)] // Ours unboxed: no indirection added to it.
pub enum Decoder {
    /// wsock core: read into `read_buffer`, `commit_read`, `poll_event`.
    WsockCore(Connection, MemIo),
    /// wsock core: `Read::read` into a buffer of its own, `feed`,
    /// `poll_event`.
    WsockCoreFeed(Connection, MemIo, Vec<u8>),
    /// wsock tokio adapter over the in-memory transport.
    WsockTokio(Box<wsock_tokio::WebSocket<MemIo>>),
    /// tungstenite `WebSocket::read`.
    Tungstenite(Box<tungstenite::WebSocket<MemIo>>),
    /// fastwebsockets `WebSocket::read_frame`.
    Fastwebsockets(Box<fastwebsockets::WebSocket<MemIo>>),
    /// tokio-websockets `WebSocketStream::next`.
    TokioWebsockets(Box<tokio_websockets::WebSocketStream<MemIo>>),
}

impl Decoder {
    /// A server-role decoder of `lib` reading `stream` in a loop.
    pub fn new(lib: Lib, stream: Vec<u8>) -> Self {
        let io = MemIo::new(stream);
        match lib {
            Lib::WsockCore => Self::WsockCore(Connection::new(Role::Server, Config::default()), io),
            Lib::WsockCoreFeed => Self::WsockCoreFeed(
                Connection::new(Role::Server, Config::default()),
                io,
                vec![0; READ],
            ),
            Lib::WsockTokio => Self::WsockTokio(Box::new(wsock_tokio::WebSocket::from_raw(
                io,
                Role::Server,
                Config::default(),
            ))),
            Lib::Tungstenite => {
                Self::Tungstenite(Box::new(tungstenite::WebSocket::from_raw_socket(
                    io,
                    tungstenite::protocol::Role::Server,
                    None,
                )))
            }
            Lib::Fastwebsockets => {
                let mut ws =
                    fastwebsockets::WebSocket::after_handshake(io, fastwebsockets::Role::Server);
                ws.set_max_message_size(64 << 20);
                Self::Fastwebsockets(Box::new(ws))
            }
            Lib::TokioWebsockets => {
                Self::TokioWebsockets(Box::new(tokio_websockets::ServerBuilder::new().serve(io)))
            }
        }
    }

    /// Receives `messages` whole messages; returns their payload bytes.
    pub fn receive(&mut self, messages: usize) -> usize {
        let mut seen = 0;
        match self {
            // Into the read buffer's room without zeroing it, as a
            // transport that reads into uninitialized memory does.
            Self::WsockCore(conn, io) => {
                return receive_core(conn, messages, |conn| {
                    io.put_into(&mut conn.read_space());
                });
            }
            Self::WsockCoreFeed(conn, io, buf) => {
                return receive_core(conn, messages, |conn| {
                    let n = io.read_into(buf);
                    conn.feed(&buf[..n]);
                });
            }
            Self::WsockTokio(ws) => {
                for _ in 0..messages {
                    let message = now(ws.recv()).expect("valid stream").expect("open");
                    seen += message.as_bytes().len();
                }
            }
            Self::Tungstenite(ws) => {
                for _ in 0..messages {
                    seen += match ws.read().expect("valid stream") {
                        tungstenite::Message::Text(t) => t.len(),
                        tungstenite::Message::Binary(b) => b.len(),
                        other => panic!("unexpected {other:?}"),
                    };
                }
            }
            Self::Fastwebsockets(ws) => {
                for _ in 0..messages {
                    let frame = now(ws.read_frame()).expect("valid stream");
                    seen += frame.payload.len();
                }
            }
            Self::TokioWebsockets(ws) => {
                for _ in 0..messages {
                    let message = now(ws.next()).expect("open").expect("valid stream");
                    seen += message.as_payload().len();
                }
            }
        }
        seen
    }
}

/// Takes `messages` whole messages from `conn`, calling `read` for more
/// input whenever it has no event; returns their payload bytes.
fn receive_core(
    conn: &mut Connection,
    messages: usize,
    mut read: impl FnMut(&mut Connection),
) -> usize {
    let (mut seen, mut left) = (0, messages);
    while left > 0 {
        while let Some(event) = conn.poll_event().expect("valid stream") {
            seen += match event {
                Event::Message(Message::Text(t)) => t.len(),
                Event::Message(Message::Binary(b)) => b.len(),
                other => panic!("unexpected {other:?}"),
            };
            left -= 1;
            if left == 0 {
                return seen;
            }
        }
        read(conn);
    }
    seen
}

/// Sends binary messages through one library into a [`MemIo`] (which
/// copies the bytes, as a socket would).
pub struct Encoder {
    io: MemIo,
    lib: EncoderLib,
}

#[allow(clippy::large_enum_variant)] // Ours unboxed: no indirection added to it.
enum EncoderLib {
    WsockCore(Connection),
    Tungstenite(Box<tungstenite::WebSocket<MemIo>>, bytes::Bytes),
    Fastwebsockets(Box<fastwebsockets::WebSocket<MemIo>>),
    TokioWebsockets(Box<tokio_websockets::WebSocketStream<MemIo>>, bytes::Bytes),
}

impl Encoder {
    /// An encoder of `lib` in `role` for `payload`, or `None` when the
    /// library has no such API. wsock core: `send_fragment` (whole, borrowed), then `poll_transmit`
    /// written out and consumed; tungstenite: `WebSocket::send` of a shared
    /// `Bytes`; fastwebsockets: `write_frame` of a borrowed payload;
    /// tokio-websockets: `SinkExt::send` of a shared `Bytes`.
    pub fn new(lib: Lib, role: Role, payload: &[u8]) -> Option<Self> {
        let io = MemIo::new(Vec::new());
        let handle = io.clone();
        let client = role == Role::Client;
        let lib = match lib {
            Lib::WsockCore => EncoderLib::WsockCore(Connection::new(role, Config::default())),
            Lib::WsockCoreFeed | Lib::WsockTokio => return None,
            Lib::Tungstenite => EncoderLib::Tungstenite(
                Box::new(tungstenite::WebSocket::from_raw_socket(
                    io,
                    if client {
                        tungstenite::protocol::Role::Client
                    } else {
                        tungstenite::protocol::Role::Server
                    },
                    None,
                )),
                bytes::Bytes::copy_from_slice(payload),
            ),
            Lib::Fastwebsockets => {
                EncoderLib::Fastwebsockets(Box::new(fastwebsockets::WebSocket::after_handshake(
                    io,
                    if client {
                        fastwebsockets::Role::Client
                    } else {
                        fastwebsockets::Role::Server
                    },
                )))
            }
            Lib::TokioWebsockets => EncoderLib::TokioWebsockets(
                Box::new(if client {
                    tokio_websockets::ClientBuilder::new().take_over(io)
                } else {
                    tokio_websockets::ServerBuilder::new().serve(io)
                }),
                bytes::Bytes::copy_from_slice(payload),
            ),
        };
        Some(Self { io: handle, lib })
    }

    /// Sends `payload` as one binary message; returns the bytes written.
    pub fn send(&mut self, payload: &[u8]) -> usize {
        match &mut self.lib {
            EncoderLib::WsockCore(conn) => {
                // From the borrowed buffer, as the peers' borrowed APIs do.
                conn.send_fragment(DataKind::Binary, payload, true)
                    .expect("open");
                let mut slices = [&[][..]; 2];
                let count = conn.poll_transmit(&mut slices);
                let mut n = 0;
                for slice in &slices[..count] {
                    self.io.write_bytes(slice);
                    n += slice.len();
                }
                conn.consume_output(n);
            }
            EncoderLib::Tungstenite(ws, bytes) => {
                ws.send(tungstenite::Message::Binary(bytes.clone()))
                    .expect("open");
            }
            EncoderLib::Fastwebsockets(ws) => {
                now(ws.write_frame(fastwebsockets::Frame::binary(
                    fastwebsockets::Payload::Borrowed(payload),
                )))
                .expect("open");
            }
            EncoderLib::TokioWebsockets(ws, bytes) => {
                now(ws.send(tokio_websockets::Message::binary(bytes.clone()))).expect("open");
            }
        }
        self.io.take_written()
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn payloads_have_the_size_asked_and_text_is_utf8() {
        let sizes = (0..=300).chain([1023, 1024, 1025, 64 * 1024 - 1, 64 * 1024, 1 << 20]);
        for size in sizes {
            for kind in Kind::ALL {
                let payload = kind.payload(size);
                assert_eq!(payload.len(), size, "{} {size}", kind.name());
                if kind != Kind::Binary {
                    assert!(
                        std::str::from_utf8(&payload).is_ok(),
                        "{} {size}",
                        kind.name()
                    );
                }
            }
        }
    }
}
