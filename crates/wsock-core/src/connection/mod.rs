//! The connection state machine: bytes in, events out; calls in, bytes out.
//!
//! A [`Connection`] starts after the opening handshake. It owns a read
//! buffer (so payloads are unmasked in place and handed out as borrowed
//! slices) and a write buffer (so pongs and close replies it owes are
//! queued without the caller knowing why). Time enters only as an argument
//! to [`Connection::handle_timeout`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use bytes::BufMut;
use core::time::Duration;

use crate::close::CloseCode;
use crate::config::{Config, Role};
use crate::error::Error;
use crate::event::{DataKind, Event};
use crate::extension::Extensions;
use crate::frame::{MAX_CONTROL_PAYLOAD, OpCode};
use crate::message::Message;
use crate::utf8::Utf8Validator;

// `Connection` below is the facade; each concern has its own file.
mod close; // the closing handshake and failing the connection
mod input; // the read and message buffers, read sizing
mod output; // the bytes queued for the transport
mod read_space; // reading into the read buffer's uninitialized room
mod receive; // frame decoding, reassembly, UTF-8, inflating
mod send; // frame encoding, masking, fragmenting, deflating
mod shutdown; // ending the transport: the close plan
mod timer; // keepalive, idle, close and closing timers
use input::Input;
use output::Output;
pub use read_space::ReadSpace;
use receive::{InFrame, InMessage};
pub use shutdown::CloseStep;
use shutdown::Closing;
use timer::{TimerTable, Traffic};

/// How received data messages are handed out. The mode in force when a
/// message's first frame arrives applies to the whole message, except that
/// switching to [`ReceiveMode::Stream`] mid-message streams the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    /// Whole messages: [`Event::Message`] with a text or binary [`Message`].
    #[default]
    Message,
    /// Pieces as they arrive: [`Event::Chunk`]. Nothing is buffered whole.
    Stream,
}

/// Where the closing handshake stands (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Received messages are
    /// still delivered; nothing but the close is sent.
    CloseSent,
    /// Both close frames were exchanged, or the connection failed. See
    /// [`Connection::should_close_transport`].
    Closed,
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes handed to the connection.
    pub bytes_received: u64,
    /// Bytes the caller reported written.
    pub bytes_sent: u64,
    /// Frames decoded.
    pub frames_received: u64,
    /// Frames encoded.
    pub frames_sent: u64,
    /// Data messages completed.
    pub messages_received: u64,
    /// Data messages sent (a fragmented message counts when finished).
    pub messages_sent: u64,
    /// Pings received.
    pub pings_received: u64,
    /// Pongs received.
    pub pongs_received: u64,
    /// Pings sent (keepalive included).
    pub pings_sent: u64,
    /// Pongs sent (automatic ones included).
    pub pongs_sent: u64,
}

type MaskSource = Box<dyn FnMut() -> [u8; 4] + Send>;

/// The cap on `Connection::closing_time`: a close nobody waits for
/// (a dropped handle, a failed connection) must not hold a thread or a
/// socket for the whole close timeout.
const MAX_CLOSING_TIME: Duration = Duration::from_secs(2);

/// Write coalescing: at most this many messages are left unwritten at a
/// time (see [`Connection::may_defer_output`]); the next one is written
/// with them.
const MAX_DEFERRED_MESSAGES: usize = 16;

/// Write coalescing: at most this many bytes of output are left unwritten
/// at a time (or the write-buffer bound, if smaller).
const MAX_DEFERRED_BYTES: usize = 16 * 1024;

/// A WebSocket connection after the opening handshake.
///
/// It does no I/O and reads no clock: received bytes and the time are
/// handed in, events and bytes to send are handed out. The handshakes
/// ([`ServerHandshake`](crate::handshake::server::ServerHandshake),
/// [`ClientHandshake`](crate::handshake::client::ClientHandshake)) hand
/// over a ready one; [`new`](Self::new) makes one for a transport whose
/// handshake happened elsewhere.
///
/// ```
/// use wsock_core::{Config, Connection, Event, Message, Role};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked text frame "Hi" from a client.
/// server.feed(&[0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2]);
/// assert_eq!(server.poll_event()?, Some(Event::Message(Message::text("Hi"))));
/// server.send("Hi back")?;
/// let mut slices = [&[][..]; 4];
/// let n = server.poll_transmit(&mut slices);
/// assert_eq!(slices[..n].concat(), b"\x81\x07Hi back");
/// # Ok::<(), wsock_core::Error>(())
/// ```
///
/// # How to drive it
///
/// One way in, one way out, one way for events. Besides the constructors,
/// its methods come in four kinds:
///
/// - A. Getters, taking `&self`: [`state`](Self::state),
///   [`stats`](Self::stats), [`wants_read`](Self::wants_read),
///   [`wants_write`](Self::wants_write),
///   [`should_close_transport`](Self::should_close_transport) and the like.
/// - B. Inputs from the transport and the clock: read into
///   [`read_buffer`](Self::read_buffer) then
///   [`commit_read`](Self::commit_read) (or [`feed`](Self::feed) bytes
///   that arrived elsewhere), [`handle_eof`](Self::handle_eof),
///   [`handle_write_shut`](Self::handle_write_shut), and
///   [`handle_timeout`](Self::handle_timeout).
/// - C. Commands from the application: [`send`](Self::send) (any
///   [`Message`]), [`send_prepared`](Self::send_prepared),
///   [`send_fragment`](Self::send_fragment),
///   [`ping`](Self::ping), [`close`](Self::close),
///   [`abandon`](Self::abandon) (the application's last handle is gone),
///   [`set_receive_mode`](Self::set_receive_mode),
///   [`skip_message`](Self::skip_message),
///   [`shrink_buffers`](Self::shrink_buffers). They only queue bytes.
/// - D. Polling for what the caller must hand on or do:
///   [`poll_event`](Self::poll_event), [`poll_transmit`](Self::poll_transmit)
///   (then [`consume_output`](Self::consume_output)),
///   [`poll_close_step`](Self::poll_close_step), and
///   [`poll_timeout`](Self::poll_timeout).
///
/// After any call of kind B or C, call the polling methods in this order:
///
/// 1. [`poll_event`](Self::poll_event) until it returns `Ok(None)` or an
///    error. Events can queue output (the pong a ping is owed, the answer
///    to a close, the close frame of a failure), so they come first. Each
///    event owns its payload: a message that arrived in one read shares the
///    read buffer's allocation, which is reused once the message is
///    dropped.
/// 2. [`poll_transmit`](Self::poll_transmit): write out what is queued and
///    [`consume_output`](Self::consume_output) what was written. An error
///    from `poll_event` still leaves a close frame to write.
/// 3. [`poll_close_step`](Self::poll_close_step): once the connection is
///    over, the steps that end the transport ([`CloseStep`]): write the
///    rest, shut down the writing side, discard input while the peer may
///    still be sending, close; each reported back, all within one closing
///    deadline. The core decides them, so every adapter ends a connection
///    alike.
/// 4. [`poll_timeout`](Self::poll_timeout), and call
///    [`handle_timeout`](Self::handle_timeout) at that moment (or earlier).
///    Its answer depends on 2 and 3, so it comes last.
///
/// Getters may be called at any time. Time, passed to `handle_timeout` as
/// the time elapsed since an origin of the caller's choosing, must never
/// go backwards; with [`Config::idle_timeout`] set, call `handle_timeout`
/// after every read too, since the idle timer restarts only when it sees
/// that bytes arrived.
///
/// ```no_run
/// # #[cfg(feature = "std")] {
/// use std::io::{ErrorKind, IoSlice, Read, Write};
/// use std::net::{Shutdown, TcpStream};
/// use std::time::{Duration, Instant};
///
/// use wsock_core::{CloseStep, Config, Connection, Event, Message, Role};
///
/// /// An echo server for one accepted (and upgraded) TCP stream.
/// fn echo(mut tcp: TcpStream) -> std::io::Result<()> {
///     let start = Instant::now();
///     let mut conn = Connection::new(Role::Server, Config::default());
///     loop {
///         // B: what arrived, and the time.
///         match tcp.read(conn.read_buffer()) {
///             Ok(0) => conn.handle_eof(),
///             Ok(n) => conn.commit_read(n),
///             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
///             Err(e) => return Err(e),
///         }
///         conn.handle_timeout(start.elapsed());
///         // D1: events, answered with C (the payload is sent back as is).
///         loop {
///             match conn.poll_event() {
///                 Ok(Some(Event::Message(message @ (Message::Text(_) | Message::Binary(_))))) => {
///                     let _ = conn.send(message);
///                 }
///                 Ok(Some(_)) => {}
///                 Ok(None) | Err(_) => break,
///             }
///         }
///         // D2: the output, in one vectored write at a time.
///         loop {
///             let mut slices = [&[][..]; 16];
///             let n = conn.poll_transmit(&mut slices);
///             if n == 0 {
///                 break;
///             }
///             let io: Vec<IoSlice<'_>> = slices[..n].iter().map(|s| IoSlice::new(s)).collect();
///             let written = tcp.write_vectored(&io)?;
///             conn.consume_output(written);
///         }
///         // D3: the end, by the core's plan.
///         while let Some(step) = conn.poll_close_step() {
///             match step {
///                 CloseStep::ShutdownWrite => {
///                     tcp.shutdown(Shutdown::Write)?;
///                     conn.handle_write_shut();
///                 }
///                 CloseStep::DiscardInput => {
///                     // Until the peer's end of stream, or the deadline.
///                     tcp.set_read_timeout(Some(conn.closing_time()))?;
///                     let mut scratch = [0; 4096];
///                     while matches!(tcp.read(&mut scratch), Ok(n) if n > 0) {}
///                     return Ok(());
///                 }
///                 // D2 wrote everything, so no `WriteOutput`: close.
///                 _ => return Ok(()),
///             }
///         }
///         // D4: wake up for the next deadline even if nothing arrives.
///         let wait = conn
///             .poll_timeout()
///             .map(|at| at.saturating_sub(start.elapsed()).max(Duration::from_millis(1)));
///         tcp.set_read_timeout(wait)?;
///     }
/// }
/// # }
/// ```
pub struct Connection {
    input: Input,
    core: Core,
}

/// Everything but the received bytes, so events can borrow those while
/// the protocol state changes.
struct Core {
    role: Role,
    config: Config,
    /// Where the closing handshake stands; see `close.rs`.
    state: State,
    /// The connection failed (or timed out): nothing more is read.
    failed: bool,
    /// The transport reached end of stream.
    eof: bool,
    protocol: Option<String>,
    stats: Stats,
    extensions: Extensions,
    #[cfg(feature = "deflate")]
    codec: Option<crate::deflate::codec::Codec>,
    /// Compressed output of the message being sent, before framing.
    #[cfg(feature = "deflate")]
    deflated: Vec<u8>,
    /// The message being sent in fragments is compressed.
    #[cfg(feature = "deflate")]
    sending_compressed: bool,

    // Receiving: see `receive.rs`.
    /// The frame being received, from its header on.
    frame: Option<InFrame>,
    /// The data message being received, from its first frame on.
    message: Option<InMessage>,
    /// Validates received text as it arrives (fail fast, §8.1).
    utf8: Utf8Validator,
    mode: ReceiveMode,
    /// An error a timer raised, or invalid text read straight into the
    /// message buffer (`commit_direct`), for the next `poll_event`.
    pending_error: Option<Error>,
    /// The peer's close frame arrived: no event follows it.
    close_received: bool,

    // Sending: see `send.rs`.
    out: Output,
    /// The pong owed for the latest ping, while the output is too full to
    /// take it (§5.5.3 allows answering only the latest).
    pending_pong: Option<([u8; MAX_CONTROL_PAYLOAD], u8)>,
    /// The kind of the message being sent in fragments.
    sending: Option<DataKind>,
    /// Validates text sent in fragments across the pieces.
    send_utf8: Utf8Validator,
    mask_source: Option<MaskSource>,

    // Time: see `timer.rs`.
    timers: TimerTable,
    traffic: Traffic,
    /// A timer ended the connection (the close or keepalive timeout): the
    /// transport closes now, whatever output is left.
    timed_out: bool,
    /// The connection failed on the peer's input (a protocol or capacity
    /// error), so the peer may still be sending: see
    /// [`Connection::should_linger`].
    peer_may_send: bool,
    /// This side ends the transport once the closing handshake is over,
    /// without waiting for the peer's end: see
    /// [`Connection::with_stream_transport`].
    ends_first: bool,
    /// Ending the transport: see `shutdown.rs`.
    closing: Closing,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.core.role)
            .field("state", &self.core.state)
            .field("protocol", &self.core.protocol)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose client-side mask keys come from the operating
    /// system's random source.
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_mask_source(role, config, rand::random::<[u8; 4]>)
    }

    /// A connection with an explicit source of mask keys (used only by
    /// clients). For `no_std` targets, and deterministic tests. RFC 6455
    /// §5.3 requires keys an attacker cannot predict.
    pub fn with_mask_source(
        role: Role,
        config: Config,
        mask_source: impl FnMut() -> [u8; 4] + Send + 'static,
    ) -> Self {
        let mut core = Core {
            role,
            config,
            state: State::Open,
            failed: false,
            eof: false,
            protocol: None,
            stats: Stats::default(),
            extensions: Extensions::none(),
            #[cfg(feature = "deflate")]
            codec: None,
            #[cfg(feature = "deflate")]
            deflated: Vec::new(),
            #[cfg(feature = "deflate")]
            sending_compressed: false,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            mode: ReceiveMode::Message,
            pending_error: None,
            close_received: false,
            out: Output::default(),
            pending_pong: None,
            sending: None,
            send_utf8: Utf8Validator::new(),
            mask_source: Some(Box::new(mask_source)),
            timers: TimerTable::default(),
            traffic: Traffic::default(),
            timed_out: false,
            peer_may_send: false,
            ends_first: role == Role::Server,
            closing: Closing::default(),
        };
        core.start_timers();
        Self {
            input: Input::default(),
            core,
        }
    }

    /// Marks the transport as one stream of a multiplexed connection (an
    /// HTTP/2 stream, RFC 8441, or HTTP/3, RFC 9220): once the closing
    /// handshake is over, a client ends its side of the stream at once
    /// ([`should_close_transport`](Self::should_close_transport)) instead
    /// of waiting for the server's end or the close timeout. §7.1.1 has
    /// the server end a TCP connection first so that TIME_WAIT stays on
    /// the server; a stream has no TIME_WAIT, and some servers never end
    /// a WebSocket's stream after the close frames (hypercorn), which
    /// would hold every client close for the close timeout. The HTTP/2
    /// client handshake
    /// ([`Http2Handshake`](crate::handshake::client::Http2Handshake))
    /// sets it; a server always ends first.
    pub fn with_stream_transport(mut self) -> Self {
        self.core.ends_first = true;
        self
    }

    /// Records the subprotocol the handshake settled on, for
    /// [`protocol`](Self::protocol).
    pub(crate) fn with_protocol(mut self, protocol: Option<String>) -> Self {
        self.core.protocol = protocol;
        self
    }

    /// Puts `extensions` in force, as a handshake that negotiated them
    /// does: for tests, fuzz targets and benchmarks that make a
    /// connection without one. Not part of the API: the handshakes hand
    /// over connections with their extensions already in force.
    #[doc(hidden)]
    pub fn with_extensions(mut self, extensions: Extensions) -> Self {
        self.core.extensions = extensions;
        #[cfg(feature = "deflate")]
        {
            let (role, config) = (self.core.role, &self.core.config.deflate);
            self.core.codec = extensions
                .deflate()
                .map(|p| crate::deflate::codec::Codec::new(*p, role, config));
        }
        self
    }

    // A. Getters: `&self`, callable at any time.

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The negotiated subprotocol, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.core.protocol.as_deref()
    }

    /// The extensions in force.
    pub fn extensions(&self) -> Extensions {
        self.core.extensions
    }

    /// Bytes of permessage-deflate state (zlib's windows and tables) this
    /// connection holds now; 0 without deflate. See
    /// [`DeflateConfig`](crate::config::DeflateConfig) for the figures and
    /// how to cap them.
    #[cfg(feature = "deflate")]
    pub fn deflate_memory(&self) -> usize {
        self.core
            .codec
            .as_ref()
            .map_or(0, crate::deflate::codec::Codec::memory)
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.core.state
    }

    /// Traffic counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The receive mode in force.
    pub fn receive_mode(&self) -> ReceiveMode {
        self.core.mode
    }

    /// The error the next [`poll_event`](Self::poll_event) reports first,
    /// when a timer already failed the connection (keepalive or close
    /// timeout), or invalid UTF-8 did as it was read straight into a text
    /// message (see [`read_space`](Self::read_space)). Lets an adapter's sending side, which does not take
    /// events, learn why the connection ended.
    pub fn pending_error(&self) -> Option<&Error> {
        self.core.pending_error.as_ref()
    }

    /// Whether reading from the transport is useful now.
    pub fn wants_read(&self) -> bool {
        !self.core.eof && !self.core.failed && !self.should_close_transport()
    }

    /// Whether there is anything to write.
    pub fn wants_write(&self) -> bool {
        self.core.buffered_output() > 0 || self.core.pending_pong.is_some()
    }

    /// Bytes queued for the transport and not yet consumed.
    pub fn buffered_output(&self) -> usize {
        self.core.out.len()
    }

    /// Received bytes not yet turned into events (part of a frame, or
    /// frames the peer sent ahead): an adapter can tell from it that the
    /// peer is pipelining and its next [`poll_event`](Self::poll_event) may
    /// not need the transport.
    pub fn buffered_input(&self) -> usize {
        self.input.available()
    }

    /// Write coalescing, for an adapter whose `send` may return before it
    /// writes: whether the data message just queued may stay unwritten,
    /// `deferred` messages having been left so since the output was last
    /// empty. Only while open, with the peer's next bytes already received
    /// (the caller is draining a pipelined batch: its next receive most
    /// likely answers without waiting, and writes first if it must wait),
    /// and within 16 messages and 16 KiB (or the write-buffer bound) of
    /// output, so a batch's replies go out in one write without holding
    /// much back.
    pub fn may_defer_output(&self, deferred: usize) -> bool {
        let cap = MAX_DEFERRED_BYTES.min(self.core.config.write_buffer_size.max(1));
        self.core.state == State::Open
            && !self.is_write_shut()
            && self.buffered_input() > 0
            && deferred < MAX_DEFERRED_MESSAGES
            && self.buffered_output() < cap
    }

    /// Write coalescing: whether output left unwritten (see
    /// [`may_defer_output`](Self::may_defer_output)) should wait for one
    /// more read. The rest of a frame is already arriving, so that read
    /// most likely completes it without waiting, and the reply to it then
    /// goes out in the same write (a batch a read cut in two stays one
    /// write).
    pub fn may_read_before_writing(&self) -> bool {
        self.core.state == State::Open && self.buffered_input() > 0 && self.wants_read()
    }

    /// Whether the adapter should close the transport now: the closing
    /// handshake is over (or failed, or timed out) and the output is
    /// written. A server closes first; a client waits for the server's
    /// end of stream or the close timeout (§7.1.1). How to close it is
    /// [`poll_close_step`](Self::poll_close_step)'s plan.
    pub fn should_close_transport(&self) -> bool {
        self.core.should_close_transport()
    }

    /// Once [`should_close_transport`](Self::should_close_transport) says
    /// so: whether the adapter, after shutting down its writing side,
    /// keeps reading and discarding input until the peer's end of stream
    /// (for at most [`closing_time`](Self::closing_time)) before it closes
    /// the transport.
    ///
    /// Only after a failure on the peer's input (a protocol or capacity
    /// error): the peer may still be sending, and input left unread when a
    /// socket closes turns the close into a reset, which can destroy the
    /// close frame in flight. Not after a clean closing handshake (nothing
    /// follows the peer's close frame), a timeout (the peer stopped
    /// answering) or the transport's end.
    pub fn should_linger(&self) -> bool {
        self.core.lingers()
    }

    /// The longest an adapter spends closing the transport (the deadline
    /// of [`poll_close_step`](Self::poll_close_step)'s plan), and the
    /// closing handshake of an [abandoned](Self::abandon) connection:
    /// writing what is queued, shutting down, lingering. The close
    /// timeout, at most 2 s: nobody waits for this part.
    pub fn closing_time(&self) -> Duration {
        self.core.closing_time()
    }

    // B. Inputs from the transport and the clock: `handle_*`.

    /// Free space at the end of the read buffer: read from the transport
    /// into it, then call [`commit_read`](Self::commit_read).
    ///
    /// Offers `read_buffer_size` bytes (more, up to a 64 KiB frame and its
    /// header, while reads keep filling the offer), more while a frame that
    /// must be held whole is arriving. While a frame of over 32 KiB that is
    /// held whole (up to 64 KiB) arrives, the offer ends where the frame
    /// does: bytes of the next frame read behind it would have to be moved
    /// to the buffer's front once it is handed out. Growth follows the
    /// bytes that actually arrived (it at most doubles the buffered
    /// amount), never a header's promise, so a peer announcing huge frames
    /// costs nothing until it sends them.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        let size = self.core.config.read_buffer_size;
        if let Some(rest) = self.in_place_rest() {
            return self.input.offer_rest(rest, size);
        }
        let wanted = self.bytes_wanted();
        self.input.offer(wanted, size)
    }

    /// The same room as [`read_buffer`](Self::read_buffer), as a
    /// [`BufMut`](bytes::BufMut) over uninitialized memory: for transports
    /// that read into uninitialized memory (tokio's `poll_read_buf`), which
    /// saves zeroing the room first. What is put in counts as received
    /// when the [`ReadSpace`] is dropped; no `commit_read` follows.
    ///
    /// While a data frame too large to be handed out in place (over
    /// 64 KiB, or a fragment) arrives with nothing else buffered, the room
    /// is the end of the buffer the message is gathered in, up to the
    /// frame's end and no further, so its payload is neither copied out
    /// of the read buffer nor unmasked in two places. Text is validated
    /// there as it lands, once; invalid text fails the connection when the
    /// space is dropped, and the next `poll_event` reports it. That room grows in
    /// proportion to what arrived (as much again as the message so far, at
    /// least a read), never with the frame header's promise alone.
    pub fn read_space(&mut self) -> ReadSpace<'_> {
        ReadSpace::new(self)
    }

    /// Marks `n` bytes of [`read_buffer`](Self::read_buffer) as received.
    ///
    /// A read that fills the whole offer doubles the next offer (up to
    /// 64 KiB and a frame header), so a busy connection makes few large reads; a read of less
    /// than half of it halves it back toward `read_buffer_size`.
    pub fn commit_read(&mut self, n: usize) {
        let n = self.input.commit(n, self.core.config.read_buffer_size);
        self.note_received(n);
    }

    /// Copies received bytes in: for callers whose bytes arrive elsewhere
    /// (a reader that must not hold the connection while it blocks, bytes
    /// read with the handshake). They land where a read into
    /// [`read_space`](Self::read_space) would put them, so a large data
    /// frame's payload is copied once, straight into the message it
    /// belongs to and unmasked on the way, not copied into the read buffer
    /// and out of it again; other bytes are copied into the read buffer's
    /// room without zero-filling it first.
    ///
    /// Text is therefore validated where it lands, and invalid text fails
    /// the connection during `feed`, as during a read into `read_space`:
    /// [`state`](Self::state) may be `Closed` and the close frame (1007)
    /// queued before the next [`poll_event`](Self::poll_event) reports the
    /// error.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = if let Some(rest) = self.direct_rest() {
                self.feed_direct(data, rest)
            } else if self.in_place_rest().is_none() && self.input.append_within(data) {
                // The common small case: room enough, nothing to skip.
                self.note_received(data.len());
                return;
            } else {
                // As a read into the space would: never past the end of a
                // frame held whole, growing the buffer by its rule.
                let mut space = self.read_space();
                let n = data.len().min(space.remaining_mut());
                space.put_slice(&data[..n]);
                n
            };
            if n == 0 {
                // Not reached: every offer has room. Stay correct anyway.
                self.input.append(data);
                self.note_received(data.len());
                return;
            }
            data = &data[n..];
        }
    }

    /// The transport reached end of stream. Without a completed closing
    /// handshake this is an abnormal closure (1006), reported by
    /// [`poll_event`](Self::poll_event) after any buffered events.
    pub fn handle_eof(&mut self) {
        self.core.eof = true;
    }

    /// Advances the timers to `now`: the time elapsed since any fixed
    /// origin the caller chooses (for example `start.elapsed()` of a
    /// `std::time::Instant`), never decreasing. Sends keepalive pings, and
    /// fails the connection when the keepalive, idle or close timeout
    /// passes. Cheap; call it whenever convenient as well as at the
    /// deadline. The idle timer counts from the last call that found newly
    /// received bytes, so an adapter using
    /// [`Config::idle_timeout`](crate::Config::idle_timeout) calls it after
    /// each read.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.advance_timers(now);
    }

    // C. Commands from the application: they only queue bytes.

    /// Queues a [`Message`]: text, binary, ping, pong, or close
    /// (`Close(None)` closes with 1000; see [`close`](Self::close)).
    ///
    /// The payload is taken, not borrowed: a text or binary payload of
    /// 2 KiB or more is written out from its own buffer, not copied (a
    /// server shares it, so one [`Bytes`](bytes::Bytes) can go to many connections; a
    /// client masks a payload it owns alone in place and copies a shared
    /// one). Smaller payloads, and compressed or fragmented messages, are
    /// encoded into the write buffer. To send from a borrowed buffer
    /// without allocating, use [`send_fragment`](Self::send_fragment) with
    /// `last = true`.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        match message.into() {
            Message::Text(text) => self.core.send_owned(DataKind::Text, text.into_bytes()),
            Message::Binary(data) => self.core.send_owned(DataKind::Binary, data),
            Message::Ping(payload) => self.core.send_control(OpCode::Ping, &payload),
            Message::Pong(payload) => self.core.send_control(OpCode::Pong, &payload),
            Message::Close(None) => self.close(CloseCode::NORMAL, ""),
            Message::Close(Some(frame)) => self.close(frame.code, &frame.reason),
        }
    }

    /// Queues a message framed (and compressed) once for many connections:
    /// see [`PreparedMessage`](crate::PreparedMessage).
    ///
    /// A server queues the prepared frame's own buffer (2 KiB or more) or
    /// copies it beside the other small frames; nothing is encoded again.
    /// With permessage-deflate, a message of at least the
    /// [`threshold`](crate::DeflateConfig::threshold) is sent in the form
    /// compressed without history for this connection's window size and
    /// level (made by the first connection that needs it), and this
    /// connection's compression window records its plaintext so its own
    /// later messages stay in step with the peer's (see the module's
    /// trade-off). A client (whose frames are masked per connection) and a
    /// connection with a [`fragment_size`](Config::fragment_size) smaller
    /// than the payload encode the frames from the prepared payload, still
    /// without compressing again. Control messages are sent as by
    /// [`send`](Self::send).
    pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
        if message.kind().is_none() {
            return self.send(message.message().clone());
        }
        self.core.send_prepared(message)
    }

    /// Queues the next piece of a message sent in fragments, copied from
    /// `data`. The first call starts the message; the call with
    /// `last = true` ends it (a first call with `last = true` sends a whole
    /// message in one frame, from a borrowed buffer). Text pieces may split
    /// code points; the whole must be valid UTF-8, checked as it goes.
    /// Control frames may be sent between pieces.
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], last: bool) -> Result<(), Error> {
        self.core.send_fragment(kind, data, last)
    }

    /// Queues a ping (payload at most 125 bytes). The peer's pong arrives
    /// as an event.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.send_control(OpCode::Ping, payload)
    }

    /// Starts the closing handshake: queues a close frame after everything
    /// queued so far. Received messages are still delivered until the
    /// peer's close arrives.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core.start_close(code, reason)
    }

    /// Starts the closing handshake as [`close`](Self::close) does, unless
    /// it already started (a close frame was sent or received, or the
    /// connection failed): the close an application may ask for any number
    /// of times, or a server's shutdown asks of every connection, where
    /// "already closing" is not an error. Returns whether it queued a close
    /// frame; an invalid code or reason is still an error.
    pub fn close_if_open(&mut self, code: CloseCode, reason: &str) -> Result<bool, Error> {
        if self.core.state != State::Open {
            return Ok(false);
        }
        self.close(code, reason).map(|()| true)
    }

    /// Chooses how data messages are handed out from the next
    /// [`poll_event`](Self::poll_event) on. A message in progress keeps its
    /// mode once a piece of it was handed out, except that a switch to
    /// [`ReceiveMode::Stream`] streams the rest of it, starting with what
    /// arrived so far. So a reader that wants whole messages never sees a
    /// chunk unless it left a streamed message unfinished (see
    /// [`skip_message`](Self::skip_message)).
    pub fn set_receive_mode(&mut self, mode: ReceiveMode) {
        self.core.mode = mode;
    }

    /// Discards the rest of the data message in progress: its remaining
    /// frames are read and dropped, with text still validated (invalid
    /// UTF-8 still fails the connection with 1007), and the next event is
    /// the next message or control frame. For a reader that gives up on a
    /// streamed message half-way. Does nothing between messages.
    pub fn skip_message(&mut self) {
        self.skip_rest_of_message();
    }

    /// Frees buffers that hold nothing, for connections about to sit idle,
    /// and the permessage-deflate streams between messages (see
    /// [`release_deflate`](Self::release_deflate)), so that an adapter's
    /// idle timer frees them even when they are kept between messages.
    pub fn shrink_buffers(&mut self) {
        self.input.free_if_empty(self.core.frame.is_some());
        self.core.out.free_if_empty();
        #[cfg(feature = "deflate")]
        self.release_deflate();
    }

    // D. Polling: what the caller must hand on or do: `poll_*`.

    /// The next event, or `Ok(None)` when more input is needed (or nothing
    /// more will come: check [`state`](Self::state)).
    ///
    /// An error means the connection failed: a close frame with the
    /// error's close code is queued (write it out with
    /// [`poll_transmit`](Self::poll_transmit)), then the transport should
    /// be closed.
    pub fn poll_event(&mut self) -> Result<Option<Event>, Error> {
        self.next_event()
    }

    /// Everything queued for the transport, in order, as up to `dst.len()`
    /// slices for one vectored write; returns how many slices it filled
    /// (0: nothing to write). Large payloads given to [`send`](Self::send)
    /// are slices of their own, written from the buffer they came in.
    /// Write some or all of it, then call
    /// [`consume_output`](Self::consume_output) with the bytes written.
    pub fn poll_transmit<'a>(&'a mut self, dst: &mut [&'a [u8]]) -> usize {
        self.core.flush_pong();
        self.core.out.slices(dst)
    }

    /// Marks the first `n` bytes of [`poll_transmit`](Self::poll_transmit)
    /// as written.
    pub fn consume_output(&mut self, n: usize) {
        let keep = self.core.config.write_buffer_size.saturating_mul(2);
        let n = self.core.out.consume(n, keep);
        self.core.stats.bytes_sent += n as u64;
    }

    /// The next moment [`handle_timeout`](Self::handle_timeout) must be
    /// called, on the caller's clock (see there), or `None` when no timer
    /// runs. A moment at or before the last `now` means "now": a timer
    /// needs to learn the current time to start.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_timeout()
    }
}

/// Moves everything queued for the transport to the end of `out`, through
/// [`Connection::poll_transmit`] and [`Connection::consume_output`]: a
/// convenience for tests, fuzz targets and benchmarks, which have no
/// transport. Not part of the API.
#[doc(hidden)]
pub fn transmit_all(conn: &mut Connection, out: &mut Vec<u8>) {
    loop {
        let mut slices = [&[][..]; 8];
        let n = conn.poll_transmit(&mut slices);
        if n == 0 {
            return;
        }
        let before = out.len();
        for slice in &slices[..n] {
            out.extend_from_slice(slice);
        }
        let written = out.len() - before;
        conn.consume_output(written);
    }
}

#[cfg(test)]
mod tests;
