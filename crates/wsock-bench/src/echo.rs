//! The echo benchmark: echo servers written with each library's plain API,
//! and a load generator that drives them over loopback.
//!
//! The servers run on tokio ([`serve`]: wsock-tokio, tokio-tungstenite,
//! fastwebsockets, tokio-websockets, sockudo-ws) or on std's blocking sockets with a
//! thread per connection ([`serve_threaded`]: wsock-blocking, tungstenite).
//! Each echoes text as text and binary as binary.
//!
//! The load generator builds its masked frames once (binary, or text with
//! the text opcode: see [`Kind`]), keeps `window` messages in flight per
//! connection, checks that every echo has the opcode sent and every echoed
//! byte, and counts the messages that came back while the clock ran.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use std::future::ready;

use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Kind;

/// The echo servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// wsock-tokio: `recv` then `send`.
    Wsock,
    /// tokio-tungstenite: `StreamExt::next` then `SinkExt::send`.
    TokioTungstenite,
    /// fastwebsockets: `read_frame` then `write_frame`.
    Fastwebsockets,
    /// tokio-websockets: `StreamExt::next` then `SinkExt::send`.
    TokioWebsockets,
    /// sockudo-ws: `StreamExt::next` then `SinkExt::feed`, the echo loop
    /// its README recommends (replies are queued while parsed input
    /// remains and written out before the next read).
    SockudoWs,
    /// wsock-blocking, a thread per connection: `recv` then `send`.
    WsockBlocking,
    /// tungstenite (sync), a thread per connection: `read` then `send`.
    Tungstenite,
}

impl Server {
    /// The tokio servers, ours first: the default matrix.
    pub const ALL: [Server; 5] = [
        Server::Wsock,
        Server::TokioTungstenite,
        Server::Fastwebsockets,
        Server::TokioWebsockets,
        Server::SockudoWs,
    ];

    /// The blocking servers, a thread per connection, ours first: chosen
    /// by name (`--servers`), not run by default.
    pub const THREADED: [Server; 2] = [Server::WsockBlocking, Server::Tungstenite];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wsock => "wsock",
            Self::TokioTungstenite => "tokio-tungstenite",
            Self::Fastwebsockets => "fastwebsockets",
            Self::TokioWebsockets => "tokio-websockets",
            Self::SockudoWs => "sockudo-ws",
            Self::WsockBlocking => "wsock-blocking",
            Self::Tungstenite => "tungstenite",
        }
    }

    /// The server of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::THREADED)
            .find(|s| s.name() == name)
    }

    /// Whether this server runs a thread per connection on std's
    /// blocking sockets ([`serve_threaded`]) rather than tasks on a tokio
    /// runtime ([`serve`]).
    pub fn is_threaded(self) -> bool {
        Self::THREADED.contains(&self)
    }

    /// Whether this is one of wsock's servers rather than a peer's.
    pub fn is_ours(self) -> bool {
        matches!(self, Self::Wsock | Self::WsockBlocking)
    }
}

/// How an echo server is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Receive a message, send it (which writes it out), repeat: one write
    /// per message.
    Loop,
    /// The read half's `Stream` forwarded into the write half's `Sink`
    /// (`StreamExt::forward`): messages are queued while more are ready and
    /// written out together when the stream has to wait. fastwebsockets
    /// has no `Sink`, so it keeps its loop.
    Forward,
}

impl Style {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loop => "loop",
            Self::Forward => "forward",
        }
    }

    /// The style of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Loop, Self::Forward]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// Accepts connections forever and echoes every data message on each, as
/// text when it came as text. Fails at once for a threaded server.
pub async fn serve(server: Server, style: Style, listener: TcpListener) -> io::Result<()> {
    if server.is_threaded() {
        return Err(io::Error::other(format!(
            "{} runs a thread per connection, not on tokio",
            server.name()
        )));
    }
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(async move {
            // A client that goes away mid-message is the normal end here.
            let _ = match (server, style) {
                (Server::Wsock, Style::Loop) => echo_wsock(tcp).await,
                (Server::Wsock, Style::Forward) => forward_wsock(tcp).await,
                (Server::TokioTungstenite, Style::Loop) => echo_tungstenite(tcp).await,
                (Server::TokioTungstenite, Style::Forward) => forward_tungstenite(tcp).await,
                (Server::Fastwebsockets, _) => echo_fastwebsockets(tcp).await,
                (Server::TokioWebsockets, Style::Loop) => echo_tokio_websockets(tcp).await,
                (Server::TokioWebsockets, Style::Forward) => forward_tokio_websockets(tcp).await,
                (Server::SockudoWs, Style::Loop) => echo_sockudo(tcp).await,
                (Server::SockudoWs, Style::Forward) => forward_sockudo(tcp).await,
                (Server::WsockBlocking | Server::Tungstenite, _) => unreachable!("threaded"),
            };
        });
    }
}

/// Accepts connections forever, starts a thread for each, and echoes
/// every data message on it in a receive-then-send loop, as text when it
/// came as text. Only for the [threaded](Server::is_threaded) servers,
/// which have no `Sink` style: they keep their loop.
pub fn serve_threaded(server: Server, listener: &std::net::TcpListener) -> io::Result<()> {
    if !server.is_threaded() {
        return Err(io::Error::other(format!(
            "{} runs on tokio, not a thread per connection",
            server.name()
        )));
    }
    loop {
        let (tcp, _) = listener.accept()?;
        tcp.set_nodelay(true)?;
        std::thread::Builder::new()
            .name(server.name().to_string())
            .spawn(move || {
                // A client that goes away is the normal end here.
                let _ = match server {
                    Server::WsockBlocking => echo_wsock_blocking(tcp),
                    Server::Tungstenite => echo_tungstenite_threaded(tcp),
                    _ => unreachable!("not threaded"),
                };
            })?;
    }
}

fn echo_wsock_blocking(tcp: std::net::TcpStream) -> Result<(), BoxError> {
    let mut ws = wsock_blocking::accept(tcp)?;
    while let Some(message) = ws.recv()? {
        if message.is_data() {
            ws.send(message)?;
        }
    }
    Ok(())
}

fn echo_tungstenite_threaded(tcp: std::net::TcpStream) -> Result<(), BoxError> {
    let mut ws = tungstenite::accept(tcp).map_err(|e| e.to_string())?;
    loop {
        let message = ws.read()?;
        if message.is_text() || message.is_binary() {
            ws.send(message)?;
        }
    }
}

async fn forward_wsock(tcp: TcpStream) -> Result<(), BoxError> {
    let (read, write) = wsock_tokio::accept(tcp).await?.split();
    read.try_filter(|m| ready(m.is_data()))
        .forward(write)
        .await?;
    Ok(())
}

async fn forward_tungstenite(tcp: TcpStream) -> Result<(), BoxError> {
    let (write, read) = tokio_tungstenite::accept_async(tcp).await?.split();
    read.try_filter(|m| ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await?;
    Ok(())
}

async fn forward_tokio_websockets(tcp: TcpStream) -> Result<(), BoxError> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await?;
    let (write, read) = ws.split();
    read.try_filter(|m| ready(m.is_text() || m.is_binary()))
        .forward(write)
        .await?;
    Ok(())
}

/// A sockudo-ws server connection: its HTTP/1.1 upgrade
/// (`WebSocketServer::accept_raw`, which keeps any frame bytes read with
/// the request and the concrete stream type) with `Config::default()`.
/// Its `Config::uws_defaults()` caps messages at 16 KiB, too small for the
/// large cells; the default validates text as UTF-8, as every server here
/// does.
async fn sockudo_accept(
    tcp: TcpStream,
) -> Result<sockudo_ws::WebSocketStream<TcpStream>, BoxError> {
    let server = sockudo_ws::server::WebSocketServer::<sockudo_ws::Http1>::new(
        sockudo_ws::Config::default(),
    );
    let (ws, _handshake) = server.accept_raw(tcp).await?;
    Ok(ws)
}

async fn echo_sockudo(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = sockudo_accept(tcp).await?;
    // Its README's echo loop: `feed` queues the reply; `next` writes what
    // is queued out once the parsed input runs dry, before reading more.
    while let Some(message) = ws.next().await {
        match message? {
            message @ (sockudo_ws::Message::Text(_) | sockudo_ws::Message::Binary(_)) => {
                ws.feed(message).await?;
            }
            sockudo_ws::Message::Close(_) => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

async fn forward_sockudo(tcp: TcpStream) -> Result<(), BoxError> {
    let ws = sockudo_accept(tcp).await?;
    // `StreamExt::split`, not sockudo's own `split` (a shared transport
    // behind a mutex, for reader and writer in different tasks): its README
    // names this way of polling the Stream and Sink of one stream apart.
    let (write, read) = StreamExt::split(ws);
    read.try_filter(|m| {
        ready(matches!(
            m,
            sockudo_ws::Message::Text(_) | sockudo_ws::Message::Binary(_)
        ))
    })
    .forward(write)
    .await?;
    Ok(())
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn echo_wsock(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = wsock_tokio::accept(tcp).await?;
    // The plainest loop, as users write it, with the defaults (write
    // coalescing on). `WSOCK_BENCH_COALESCE=0`: coalescing off, every
    // `send` writes at once, for before/after in one run.
    if std::env::var_os("WSOCK_BENCH_COALESCE").is_some_and(|v| v == "0") {
        ws.set_write_coalescing(false);
    }
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn echo_tungstenite(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// A fastwebsockets server connection after the opening handshake, with
/// automatic close and pong. fastwebsockets does the upgrade through hyper
/// (its `upgrade` feature); the same answer written by hand keeps hyper out
/// of the measurement and of this crate.
pub(crate) async fn fastwebsockets_accept(
    mut tcp: TcpStream,
) -> Result<fastwebsockets::WebSocket<TcpStream>, BoxError> {
    let request = read_head(&mut tcp).await?;
    let key = header(&request, "sec-websocket-key").ok_or("no key")?;
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(response.as_bytes()).await?;
    let mut ws = fastwebsockets::WebSocket::after_handshake(tcp, fastwebsockets::Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    Ok(ws)
}

async fn echo_fastwebsockets(tcp: TcpStream) -> Result<(), BoxError> {
    let mut ws = fastwebsockets_accept(tcp).await?;
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            fastwebsockets::OpCode::Close => return Ok(()),
            fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary => {
                // A received frame keeps its mask key; a server must
                // send unmasked, so the echo is a new frame.
                let reply = fastwebsockets::Frame::new(true, frame.opcode, None, frame.payload);
                ws.write_frame(reply).await?;
            }
            _ => {}
        }
    }
}

async fn echo_tokio_websockets(tcp: TcpStream) -> Result<(), BoxError> {
    let (_request, mut ws) = tokio_websockets::ServerBuilder::new().accept(tcp).await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

/// Reads an HTTP head (up to the blank line) byte by byte, so nothing after
/// it is consumed.
pub(crate) async fn read_head(tcp: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
        head.push(tcp.read_u8().await?);
    }
    String::from_utf8(head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// One load-generator run against one server.
#[derive(Debug, Clone)]
pub struct Load {
    /// The echo server's address.
    pub addr: SocketAddr,
    /// Open connections.
    pub connections: usize,
    /// What the messages hold: binary, or text (sent with the text opcode).
    pub kind: Kind,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages in flight per connection.
    pub window: usize,
    /// Offer permessage-deflate as a browser does and send JSON-like text
    /// messages, each different ([`crate::deflate::json_message`]),
    /// compressed when the server agrees (`kind` is then unused).
    pub deflate: bool,
}

/// Shared state of the connections of one run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages echoed back, verified.
    pub echoed: AtomicU64,
    /// Connections past their handshake.
    pub ready: AtomicU64,
    /// Tells the connections to stop.
    pub stop: AtomicBool,
    /// Connections whose server agreed to permessage-deflate.
    pub deflated: AtomicU64,
}

/// The frames one connection sends: `window` copies of one masked frame
/// of one kind, built once, and the payload and first header byte (final
/// bit and opcode) the echoes must have.
#[derive(Debug)]
pub struct Frames {
    wire: Vec<u8>,
    frame_len: usize,
    payload: Vec<u8>,
    first: u8,
}

impl Frames {
    /// `window` masked frames of `kind` (binary, or text with the text
    /// opcode) of `size` bytes each.
    pub fn new(kind: Kind, size: usize, window: usize) -> Self {
        let payload = kind.payload(size);
        assert!(
            kind == Kind::Binary || std::str::from_utf8(&payload).is_ok(),
            "{} payload of {size} bytes is not UTF-8",
            kind.name()
        );
        let mut wire = Vec::new();
        for _ in 0..window.max(1) {
            crate::frame(kind.opcode(), &payload, true, &mut wire);
        }
        Self {
            frame_len: wire.len() / window.max(1),
            first: wire[0],
            wire,
            payload,
        }
    }
}

/// Drives one connection until `tally.stop`: handshake, keep `window`
/// messages in flight, verify each echo.
pub async fn drive(load: &Load, frames: &Frames, tally: &Tally) -> io::Result<()> {
    if load.deflate {
        return drive_deflate(load, tally).await;
    }
    let (mut tcp, _) = upgrade(load.addr, "").await?;
    tally.ready.fetch_add(1, Ordering::Relaxed);

    let window = frames.wire.len() / frames.frame_len;
    tcp.write_all(&frames.wire).await?;
    let mut buf = vec![0; (frames.frame_len * window).max(64 * 1024)];
    let mut have = 0;
    loop {
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = tcp.read(&mut buf[have..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        let mut at = 0;
        let mut echoed = 0;
        while let Some((start, len)) = parse_server_frame(&buf[at..have], frames.first)? {
            if buf[at + start..at + start + len] != frames.payload[..] {
                return Err(io::Error::other("echo differs from what was sent"));
            }
            at += start + len;
            echoed += 1;
        }
        buf.copy_within(at..have, 0);
        have -= at;
        if echoed > 0 {
            tally.echoed.fetch_add(echoed as u64, Ordering::Relaxed);
            if tally.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            tcp.write_all(&frames.wire[..echoed * frames.frame_len])
                .await?;
        }
    }
}

/// Connects and upgrades with `extra` header lines; returns the socket and
/// the server's response head.
async fn upgrade(addr: SocketAddr, extra: &str) -> io::Result<(TcpStream, String)> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    tcp.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let head = read_head(&mut tcp).await?;
    if !head.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("handshake refused: {head}")));
    }
    Ok((tcp, head))
}

/// [`drive`] with permessage-deflate offered: message `n` of a connection
/// is [`json_message(n)`](crate::deflate::json_message), compressed with
/// context takeover when the server agreed, and echo `n` must inflate (or
/// be, when the server declined) to exactly that.
async fn drive_deflate(load: &Load, tally: &Tally) -> io::Result<()> {
    let (mut tcp, head) = upgrade(load.addr, crate::deflate::OFFER).await?;
    let agreed = crate::deflate::Agreed::parse(header(&head, "sec-websocket-extensions"));
    if agreed.is_some() {
        tally.deflated.fetch_add(1, Ordering::Relaxed);
    }
    tally.ready.fetch_add(1, Ordering::Relaxed);
    let mut deflater = agreed.map(crate::deflate::Deflater::new);
    let mut inflater = crate::deflate::Inflater::new(agreed, load.size + 1024);
    let (mut sent, mut checked) = (0u64, 0u64);
    let (mut wire, mut compressed, mut inflated) = (Vec::new(), Vec::new(), Vec::new());
    let mut send = async |tcp: &mut TcpStream, count: usize, sent: &mut u64| -> io::Result<()> {
        wire.clear();
        for _ in 0..count {
            let message = crate::deflate::json_message(*sent, load.size);
            *sent += 1;
            if let Some(deflater) = deflater.as_mut() {
                compressed.clear();
                deflater.deflate(&message, &mut compressed)?;
                crate::frame_rsv(
                    wsock_core::__internals::OpCode::Text,
                    wsock_core::__internals::RSV1,
                    &compressed,
                    true,
                    &mut wire,
                );
            } else {
                crate::frame(
                    wsock_core::__internals::OpCode::Text,
                    &message,
                    true,
                    &mut wire,
                );
            }
        }
        tcp.write_all(&wire).await
    };
    send(&mut tcp, load.window.max(1), &mut sent).await?;
    let mut buf = vec![0; 64 * 1024];
    let mut have = 0;
    loop {
        if have == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = tcp.read(&mut buf[have..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        have += n;
        let mut at = 0;
        let mut echoed = 0;
        loop {
            let rest = &buf[at..have];
            // A compressed echo has RSV1 set (0xc1), only if agreed.
            let first = match rest.first() {
                Some(0xc1) if agreed.is_some() => 0xc1,
                _ => 0x81,
            };
            let Some((start, len)) = parse_server_frame(rest, first)? else {
                break;
            };
            let payload = &rest[start..start + len];
            let message = if first == 0xc1 {
                inflater.inflate(payload, &mut inflated)?;
                &inflated[..]
            } else {
                payload
            };
            if message != crate::deflate::json_message(checked, load.size) {
                return Err(io::Error::other(format!(
                    "echo {checked} differs from what was sent"
                )));
            }
            checked += 1;
            at += start + len;
            echoed += 1;
        }
        buf.copy_within(at..have, 0);
        have -= at;
        if echoed > 0 {
            tally.echoed.fetch_add(echoed as u64, Ordering::Relaxed);
            if tally.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            send(&mut tcp, echoed, &mut sent).await?;
        }
    }
}

/// An unmasked final frame whose first header byte is `first` (the
/// opcode sent) at the start of `buf`: (header length, payload length), or
/// `None` when incomplete.
fn parse_server_frame(buf: &[u8], first: u8) -> io::Result<Option<(usize, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] != first || buf[1] & 0x80 != 0 {
        return Err(io::Error::other(format!(
            "unexpected frame header {:02x} {:02x}",
            buf[0], buf[1]
        )));
    }
    let (start, len) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
        127 if buf.len() >= 10 => (
            10,
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize,
        ),
        126 | 127 => return Ok(None),
        n => (2, n as usize),
    };
    Ok((buf.len() >= start + len).then_some((start, len)))
}

/// CPU time (user + system) of process `pid` so far, in seconds.
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces), 1-based from
    // field 3: utime is field 14, stime field 15.
    let rest = stat
        .rsplit_once(')')
        .ok_or_else(|| io::Error::other("bad stat"))?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // USER_HZ is 100 on every Linux the kernel ABI allows user space to see.
    Ok(ticks as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::{Frames, parse_server_frame};
    use crate::Kind;

    #[test]
    fn an_echo_must_have_the_opcode_sent() {
        for kind in Kind::ALL {
            let frames = Frames::new(kind, 16, 1);
            let text = kind != Kind::Binary;
            assert_eq!(frames.first, if text { 0x81 } else { 0x82 });
            let mut echo = vec![frames.first, 16];
            echo.extend_from_slice(&frames.payload);
            assert_eq!(
                parse_server_frame(&echo, frames.first).unwrap(),
                Some((2, 16))
            );
            echo[0] = if text { 0x82 } else { 0x81 };
            assert!(parse_server_frame(&echo, frames.first).is_err());
        }
    }
}
