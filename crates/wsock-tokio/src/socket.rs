//! [`WebSocket`], its halves, and the streaming message types.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsock_core::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Event, Fragmenter, Message, ReceiveMode,
    Role, State, Stats, StreamStep,
};

use crate::shared::{Flush, Handshake, Queued, RecvState, SendState, Shared};
use crate::{Error, ErrorKind};

/// A WebSocket connection over any `AsyncRead + AsyncWrite + Unpin`
/// transport (a `TcpStream`, a TLS stream, hyper's upgraded connection,
/// `tokio::io::duplex`).
///
/// Receive with [`recv`](Self::recv) (or as a [`Stream`] of messages),
/// send with [`send`](Self::send) (or as a [`Sink`]), end with
/// [`close`](Self::close). [`split`](Self::split) gives halves for two
/// tasks. Pings are answered automatically, and the closing handshake and
/// timeouts run inside the receive calls, so **keep a receive going** (the
/// usual `while let Some(message) = ws.recv().await?` loop) for as long as
/// the connection lives.
///
/// # Cancel safety
///
/// | method | dropped before it completes |
/// |---|---|
/// | [`recv`](Self::recv), [`Stream::poll_next`] | nothing is lost: a message is only taken when it is returned |
/// | [`recv_stream`](Self::recv_stream) | nothing is lost: a message that started arriving is handed to the next `recv` or `recv_stream` |
/// | [`send`](Self::send) | the message is sent whole or not at all: either it was still waiting for buffer room (not sent), or it is queued and goes out with the next send, flush or receive |
/// | [`flush`](Self::flush), [`Sink::poll_flush`] | nothing is lost: unwritten bytes stay queued |
/// | [`close`](Self::close) | the close frame stays queued; call `close` or `recv` again to finish |
/// | [`Sink::poll_ready`], `SinkExt::feed` | as `send`: whole or not at all |
/// | a read of a [`MessageReader`] | nothing is lost (bytes are only taken when returned); dropping the reader itself discards the rest of its message |
/// | a write of a [`MessageWriter`] | a write either took its bytes (gathered, or queued as a frame, and reported them) or did nothing; dropping the writer after a write and before `finish` closes the connection with 1011, since a partial message cannot be taken back |
/// | [`connect`](crate::connect), [`accept`](crate::accept) and the builders | the transport is dropped; nothing to resume |
///
/// Frames never interleave and are never cut: all output leaves through
/// the core's one buffer, in order, whoever writes it.
///
/// # Timers
///
/// Keepalive pings, the keepalive and close timeouts, and the read timeout
/// run on tokio's timer while a receive is waiting, and the keepalive and
/// close timeouts also while a send waits for the transport, so a dead
/// peer is detected on either side. The runtime needs its time driver.
///
/// # Backpressure
///
/// At most [`Config::write_buffer_size`] bytes (plus the message being
/// queued) wait in memory: `send`, `Sink::poll_ready` and
/// [`MessageWriter`] wait for the transport to take bytes before queuing
/// more, so a slow reader on the other side makes senders wait rather than
/// memory grow.
///
/// # Example
///
/// ```
/// use wsock_tokio::{CloseFrame, Message};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsock_tokio::Error> {
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("ws://{}/", listener.local_addr()?);
/// # tokio::spawn(async move {
/// #     let (tcp, _) = listener.accept().await?;
/// #     let mut ws = wsock_tokio::accept(tcp).await?;
/// #     while let Some(m) = ws.recv().await? { if m.is_data() { ws.send(m).await?; } }
/// #     Ok::<_, wsock_tokio::Error>(())
/// # });
/// let mut ws = wsock_tokio::connect(&url).await?;
/// ws.send("text").await?;
/// ws.send(vec![1, 2, 3]).await?; // binary
/// ws.send(Message::ping(&b"are you there"[..])).await?;
/// assert_eq!(ws.recv().await?, Some(Message::text("text")));
/// assert_eq!(ws.recv().await?, Some(Message::binary(vec![1, 2, 3])));
/// assert_eq!(ws.recv().await?, Some(Message::pong(&b"are you there"[..])));
/// assert_eq!(ws.stats().messages_received, 2);
///
/// // Our close frame; the server's reply ends the loop with `None`.
/// ws.send(Message::Close(Some(CloseFrame::new(1000, "done")))).await?;
/// while let Some(message) = ws.recv().await? {
///     println!("{message:?}"); // the server's close frame
/// }
/// # Ok(())
/// # }
/// ```
pub struct WebSocket<S> {
    shared: Arc<Shared<S>>,
    recv: RecvState,
    send: SendState,
}

/// The receiving half of a [`WebSocket`], from [`WebSocket::split`]. It
/// also answers pings and completes the closing handshake, writing those
/// frames itself: it never waits for the [`WriteHalf`]'s task.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
    recv: RecvState,
}

/// The sending half of a [`WebSocket`], from [`WebSocket::split`].
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
    send: SendState,
}

/// The two halves given to [`ReadHalf::reunite`] came from different
/// connections. Both are handed back.
pub struct ReuniteError<S>(pub ReadHalf<S>, pub WriteHalf<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different WebSocket connections")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

macro_rules! debug_impl {
    ($($t:ident),+) => {$(
        impl<S> fmt::Debug for $t<S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("role", &self.shared.role)
                    .field("state", &self.shared.conn(Connection::state))
                    .field("protocol", &self.shared.protocol)
                    .finish_non_exhaustive()
            }
        }
    )+};
}
debug_impl!(WebSocket, ReadHalf, WriteHalf);

/// Accessors every handle has.
/// The error of an address this crate does not know.
pub(crate) fn unknown_addr() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the address of a transport handed in is not known",
    )
}

macro_rules! common_accessors {
    () => {
        /// What TLS negotiated — peer certificate chain, protocol version,
        /// cipher suite, ALPN — for connections this crate ran TLS for
        /// (`wss://` with [`connect`](crate::connect),
        /// [`accept_tls`](crate::Acceptor::accept_tls)); `None`
        /// otherwise.
        #[cfg(feature = "tls")]
        pub fn tls_info(&self) -> Option<&wsock_tls::TlsInfo> {
            self.shared.tls_info.as_ref()
        }

        /// The client's opening-handshake request (path, query, headers),
        /// on a connection this crate accepted; `None` otherwise.
        pub fn request(&self) -> Option<&crate::Request> {
            self.shared.handshake.request()
        }

        /// The server's opening-handshake response (status, headers), on a
        /// connection this crate opened; `None` otherwise.
        pub fn response(&self) -> Option<&crate::Response> {
            self.shared.handshake.response()
        }

        /// The local address of the TCP connection under this one (TLS
        /// or not), for connections [`connect`](crate::connect),
        /// [`ClientBuilder`](crate::ClientBuilder) or a
        /// [`Server`](crate::Server) made; an error for a transport
        /// handed in, whose address this crate does not know.
        pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
            self.shared
                .addrs
                .map(|a| a.0)
                .ok_or_else(crate::socket::unknown_addr)
        }

        /// The peer's address, as [`local_addr`](Self::local_addr) is ours.
        pub fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
            self.shared
                .addrs
                .map(|a| a.1)
                .ok_or_else(crate::socket::unknown_addr)
        }

        /// Which end of the connection this is.
        pub fn role(&self) -> Role {
            self.shared.role
        }

        /// The subprotocol the handshake settled on, if any.
        pub fn protocol(&self) -> Option<&str> {
            self.shared.protocol.as_deref()
        }

        /// The extensions the handshake negotiated (permessage-deflate and
        /// its parameters, with the `deflate` feature).
        pub fn extensions(&self) -> wsock_core::Extensions {
            self.shared.extensions
        }

        /// Where the closing handshake stands.
        pub fn state(&self) -> State {
            self.shared.conn(Connection::state)
        }

        /// Traffic counters.
        pub fn stats(&self) -> Stats {
            self.shared.conn(|c| *c.stats())
        }

        /// Bytes queued and not yet taken by the transport.
        pub fn buffered_output(&self) -> usize {
            self.shared.conn(Connection::buffered_output)
        }
    };
}

/// Receiving methods, for [`WebSocket`] and [`ReadHalf`].
macro_rules! recv_methods {
    () => {
        /// The next message: text, binary, ping, pong, or the peer's close.
        /// `Ok(None)` once the connection is over (after the close
        /// handshake, or after an error was returned); it stays `None`.
        ///
        /// Pings are answered automatically (unless `auto_pong` is off)
        /// and still returned, for information.
        ///
        /// When the connection fails (a protocol error, a limit, a
        /// timeout, the transport), the error is returned once the close
        /// frame is written and the transport shut down (after at most a
        /// short linger for the peer's end), so dropping the connection
        /// right after is safe.
        ///
        /// Cancel-safe: dropping the future loses nothing.
        pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
            poll_fn(|cx| poll_recv(&self.shared, &mut self.recv, cx)).await
        }

        /// Waits for the next data message and returns a reader of its
        /// payload that does not buffer the message whole: the bytes are
        /// handed out as they arrive (text is validated as UTF-8 on the
        /// way). `Ok(None)` when the connection closes first. Pings and
        /// pongs received meanwhile are answered and not returned; a close
        /// frame is returned by the next [`recv`](Self::recv).
        ///
        /// Dropping the reader before its end discards the rest of the
        /// message. Cancel-safe.
        pub async fn recv_stream(&mut self) -> Result<Option<MessageReader<'_, S>>, Error> {
            let kind = poll_fn(|cx| poll_recv_stream(&self.shared, &mut self.recv, cx)).await?;
            Ok(kind.map(|kind| MessageReader {
                shared: &self.shared,
                st: &mut self.recv,
                kind,
            }))
        }

        /// Makes [`recv`](Self::recv) fail with [`ErrorKind::Timeout`]
        /// when nothing arrives for this long. The connection stays
        /// usable: receive again to keep waiting. `None` (the default for
        /// [`WebSocket::from_raw`]) waits forever.
        pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
            self.recv.read_timeout = timeout;
        }
    };
}

/// Sending methods, for [`WebSocket`] and [`WriteHalf`].
macro_rules! send_methods {
    () => {
        /// Makes sending and flushing fail with
        /// [`Timeout::Write`](crate::Timeout::Write) when the transport
        /// takes no bytes for this long (a peer that stopped reading). What
        /// was not written stays queued and the connection stays usable.
        /// `None` (the default for [`WebSocket::from_raw`]) waits forever.
        pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
            self.send.write_timeout = timeout;
        }

        /// Sends a message (text, binary, ping, pong, or close) and writes
        /// it out. Waits first while the write buffer is full.
        ///
        /// When it returns, the message is written to the transport, with
        /// one exception, write coalescing, which is on by default on a
        /// [`WebSocket`] this crate's handshakes made (never on a half; see
        /// [`WebSocket::set_write_coalescing`]): while the peer's next
        /// bytes are already received (the caller is draining a pipelined
        /// batch), a data message may be left queued, at most 16 messages
        /// or 16 KiB (or the write-buffer bound) at a time, so the batch's
        /// replies go out in one write. They are written, in order and
        /// before anything queued after them (a pong, a close frame), by
        /// whatever comes first: the next `recv` that has to wait for
        /// input, the next `send` past the cap, without input buffered, or
        /// of a ping, pong or close (never left queued), `flush`, `close`,
        /// dropping the connection, or, when the caller does something
        /// else instead (awaits a timer, a channel), a task on the runtime
        /// that runs as soon as the caller's task yields. So the message
        /// reaches the peer without further calls either way; what
        /// coalescing gives up is that a write error shows at the next
        /// call instead of this one. Outside a Tokio runtime, `send`
        /// always writes before it returns.
        ///
        /// Cancel safety: see [`WebSocket`]; never a partial frame.
        pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
            let message = message.into();
            let may_defer = Self::MAY_DEFER && message.is_data();
            // One lock when the write buffer has room, the common case.
            match self.shared.queue_now(message, may_defer)? {
                Queued::Deferred => return Ok(()),
                Queued::ToWrite => {}
                Queued::NoRoom(message) => {
                    poll_fn(|cx| self.shared.poll_flush(&mut self.send, cx, Flush::Room)).await?;
                    self.shared.queue_message(message)?;
                    if may_defer && self.shared.defer() {
                        return Ok(());
                    }
                }
            }
            poll_fn(|cx| self.shared.poll_flush(&mut self.send, cx, Flush::All)).await
        }

        /// Sends a message framed (and compressed) once for many
        /// connections, and writes it out; waits first while the write
        /// buffer is full. A large frame is queued as the prepared buffer
        /// itself, shared by every connection it goes to, and with
        /// permessage-deflate the message is compressed once per window
        /// size rather than once per connection: see
        /// [`PreparedMessage`](crate::PreparedMessage) for how that stays
        /// correct with context takeover, and what it costs in ratio.
        /// wsock-broadcast's `Hub` sends every message this way.
        ///
        /// Cancel safety: as [`send`](Self::send).
        pub async fn send_prepared(
            &mut self,
            message: &crate::PreparedMessage,
        ) -> Result<(), Error> {
            poll_fn(|cx| self.shared.poll_flush(&mut self.send, cx, Flush::Room)).await?;
            self.shared.queue_prepared(message)?;
            poll_fn(|cx| self.shared.poll_flush(&mut self.send, cx, Flush::All)).await
        }

        /// Starts a message whose payload is written through the returned
        /// [`AsyncWrite`] in pieces, sent in fragments of the configured
        /// fragment size, without holding it whole. End it with
        /// [`MessageWriter::finish`] (or `shutdown`). Fails with
        /// [`ErrorKind::AlreadyClosed`] once the closing handshake has
        /// started.
        pub fn send_stream(&mut self, kind: DataKind) -> Result<MessageWriter<'_, S>, Error> {
            if self.shared.conn(Connection::state) != State::Open {
                return Err(Error::already_closed());
            }
            let message = self.shared.queue(|c| Ok(Fragmenter::new(c, kind)))?;
            Ok(MessageWriter {
                shared: &self.shared,
                st: &mut self.send,
                message,
            })
        }

        /// Writes out everything queued. Cancel-safe.
        pub async fn flush(&mut self) -> Result<(), Error> {
            poll_fn(|cx| self.shared.poll_flush(&mut self.send, cx, Flush::All)).await
        }
    };
}

impl<S> WebSocket<S> {
    common_accessors!();
}

/// Dropping the last handle of a connection that was not closed tells the
/// peer (1001, going away) instead of vanishing (1006), as blocking's drop
/// does; but a drop cannot wait, so the close frame goes out only as far as
/// the transport takes it at once, and the peer's reply is not awaited.
/// Call `close` to end a connection cleanly.
macro_rules! close_on_last_drop {
    ($($handle:ident),+) => {$(
        impl<S> Drop for $handle<S> {
            fn drop(&mut self) {
                if Arc::strong_count(&self.shared) == 1 {
                    self.shared.close_on_drop();
                }
            }
        }
    )+};
}
close_on_last_drop!(WebSocket, ReadHalf, WriteHalf);

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// A connection over a transport whose opening handshake is already
    /// done by other code.
    ///
    /// Write coalescing is off here, since the transport need not be
    /// `Send + 'static`; [`set_write_coalescing`](Self::set_write_coalescing)
    /// turns it on for one that is.
    pub fn from_raw(io: S, role: Role, config: Config) -> Self {
        Self::from_connection(io, Connection::new(role, config))
    }

    /// A connection over a transport, driving a core [`Connection`] you
    /// set up (for example with a subprotocol via
    /// [`Connection::with_protocol`], or with bytes read past the
    /// handshake already fed to it). Write coalescing is off, as for
    /// [`from_raw`](Self::from_raw).
    pub fn from_connection(io: S, conn: Connection) -> Self {
        let span = crate::diag::connection_span(conn.role());
        Self::from_handshake(io, conn, span)
    }

    /// [`from_connection`](Self::from_connection), in the diagnostics
    /// span its handshake reported in.
    pub(crate) fn from_handshake(io: S, conn: Connection, span: crate::diag::Span) -> Self {
        Self {
            shared: Arc::new(Shared::new(io, conn, span)),
            recv: RecvState::default(),
            send: SendState::default(),
        }
    }

    /// The state shared with the halves (for the server helper).
    pub(crate) fn shared(&self) -> &Arc<Shared<S>> {
        &self.shared
    }

    /// Records what `record` sets on the shared state: what the handshake
    /// and the transport were (only before the handle is shared).
    fn with(mut self, record: impl FnOnce(&mut Shared<S>)) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            record(shared);
        }
        self
    }

    /// Records what the opening handshake exchanged.
    pub(crate) fn with_handshake(self, handshake: Handshake) -> Self {
        self.with(|shared| shared.handshake = handshake)
    }

    /// Records the transport's addresses (local, peer) for
    /// [`local_addr`](Self::local_addr) and [`peer_addr`](Self::peer_addr),
    /// on a transport handed in whose addresses this crate does not know
    /// (a TLS stream of your own, an HTTP/2 stream); the peer's also goes
    /// into the connection's diagnostics span. Only on a WebSocket
    /// fresh from its handshake: once it is split, has deferred a write
    /// (write coalescing) or has waited for input (the idle sweeper then
    /// knows it), the call does nothing.
    pub fn with_addrs(self, addrs: Option<(SocketAddr, SocketAddr)>) -> Self {
        self.with(|shared| shared.set_addrs(addrs))
    }

    /// Records what TLS negotiated, for [`tls_info`](Self::tls_info), on a
    /// transport handed in that runs over TLS (an HTTP/2 stream, a TLS
    /// stream of your own); as [`with_addrs`](Self::with_addrs), only on a
    /// WebSocket fresh from its handshake.
    #[cfg(feature = "tls")]
    pub fn with_tls_info(self, info: wsock_tls::TlsInfo) -> Self {
        self.with(|shared| shared.tls_info = Some(info))
    }

    recv_methods!();
    send_methods!();

    /// Closes the connection: sends a close frame (`None`: code 1000, no
    /// reason) unless one was sent, then receives and discards until the
    /// peer's close and the end of the transport. Returns the first error
    /// not yet returned, if the connection failed. Calling it again, or
    /// after the connection ended, is fine.
    ///
    /// To receive what the peer still sends, send `Message::Close` with
    /// [`send`](Self::send) instead and keep calling [`recv`](Self::recv)
    /// until it returns `None`.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        match self.shared.queue_close(frame) {
            Err(e) if e.kind() == ErrorKind::InvalidInput => return Err(e),
            _ => {}
        }
        while self.recv().await?.is_some() {}
        Ok(())
    }

    /// Only the unsplit connection coalesces writes (see
    /// [`set_write_coalescing`](Self::set_write_coalescing)).
    const MAY_DEFER: bool = true;

    /// Splits the connection into halves usable from two tasks at once.
    pub fn split(mut self) -> (ReadHalf<S>, WriteHalf<S>) {
        let read = ReadHalf {
            shared: self.shared.clone(),
            recv: std::mem::take(&mut self.recv),
        };
        let write = WriteHalf {
            shared: self.shared.clone(),
            send: std::mem::take(&mut self.send),
        };
        (read, write)
    }

    /// The transport back, discarding anything queued (no close frame is
    /// sent). With write coalescing on, that includes replies a `send`
    /// left queued (see [`send`](Self::send)): call
    /// [`flush`](Self::flush) first to have them written.
    pub fn into_inner(self) -> S {
        let mut shared = self.shared.clone();
        drop(self);
        // Only a flusher task (write coalescing) can hold it besides us,
        // for the length of one poll.
        loop {
            match Arc::try_unwrap(shared) {
                Ok(shared) => return shared.into_io(),
                Err(again) => shared = again,
            }
            std::thread::yield_now();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> WebSocket<S> {
    /// A connection over a transport whose opening handshake other code
    /// ran with this crate's settings (the `wsock-hyper` crate: behind a
    /// hyper server, on an HTTP/2 stream): `conn` is the core connection
    /// the handshake produced, `opened` the settings outside the core, the
    /// request or response for [`request`](Self::request) and
    /// [`response`](Self::response), and the diagnostics span. Unlike
    /// [`from_connection`](Self::from_connection), the settings' write
    /// coalescing applies, as after this crate's own handshakes.
    pub fn from_opened(io: S, conn: Connection, opened: wsock_io::opened::Opened) -> Self {
        Self::from_handshake(io, conn, opened.span)
            .with_settings(&opened.settings)
            .with_handshake(opened.exchanged)
    }

    /// Applies the builder's settings that live outside the core: the read
    /// and write timeouts, and write coalescing.
    pub(crate) fn with_settings(mut self, settings: &wsock_io::options::Settings) -> Self {
        self.recv.read_timeout = settings.read_timeout;
        self.send.write_timeout = settings.write_timeout;
        self.set_write_coalescing(settings.write_coalescing);
        self.shared.use_sweeper();
        self
    }

    /// Turns write coalescing on or off: whether [`send`](Self::send) may
    /// leave a data message unwritten while the peer's next bytes are
    /// already received, so that an echo or request-reply loop over
    /// pipelined input answers a batch in one write instead of one per
    /// message (as a `Sink`-based loop does).
    ///
    /// On by default for every connection this crate's entry points make
    /// ([`connect`](crate::connect), [`ClientBuilder`](crate::ClientBuilder),
    /// [`accept`](crate::accept) and [`Acceptor`](crate::Acceptor), the
    /// [`Server`](crate::Server), [`from_opened`](Self::from_opened)), whose
    /// `write_coalescing(false)` turns it off; off for
    /// [`from_raw`](Self::from_raw) and
    /// [`from_connection`](Self::from_connection), whose transport need
    /// not be `Send + 'static`. Turn it off when every `send` must have
    /// written its message (or met the write error) before it returns.
    ///
    /// What `send` still promises, and when the deferred bytes are
    /// written, is in [`send`](Self::send). It needs a Tokio runtime (the
    /// writing falls to a task spawned on it when the caller does not come
    /// back to `recv`); outside one, `send` writes at once. Only the
    /// unsplit connection coalesces: halves' sends always write.
    pub fn set_write_coalescing(&mut self, on: bool) {
        let spawner: crate::shared::Spawner<S> = crate::shared::spawn_flusher::<S>;
        self.shared.set_spawner(on.then_some(spawner));
    }
}

impl<S> ReadHalf<S> {
    common_accessors!();

    /// Whether `write` is the other half of this connection.
    pub fn is_pair_of(&self, write: &WriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.shared, &write.shared)
    }

    /// Joins the halves again.
    #[allow(clippy::result_large_err)] // Hands both halves back, as tokio's `reunite` does.
    pub fn reunite(mut self, mut write: WriteHalf<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if self.is_pair_of(&write) {
            Ok(WebSocket {
                shared: self.shared.clone(),
                recv: std::mem::take(&mut self.recv),
                send: std::mem::take(&mut write.send),
            })
        } else {
            Err(ReuniteError(self, write))
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    recv_methods!();
}

impl<S> WriteHalf<S> {
    common_accessors!();

    /// A half never defers a write: its other half's buffered input says
    /// nothing about what this task does next.
    const MAY_DEFER: bool = false;
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    send_methods!();

    /// Starts the closing handshake: sends a close frame (`None`: 1000)
    /// unless one was sent, and writes it out. The [`ReadHalf`] receives
    /// the peer's close and ends the connection, so keep it receiving.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        poll_fn(|cx| poll_close(&self.shared, &mut self.send, cx, frame.as_ref())).await
    }

    /// Queues a prepared message without writing it or waiting, if the
    /// write buffer is under its bound (`Ok(true)`); `Ok(false)`, nothing
    /// queued, if it is full. For a sender that gathers messages into one
    /// write, as wsock-broadcast's `Subscription::forward` does for a room:
    /// it queues what is waiting while this says there is room, then
    /// writes the batch with one flush (`Sink::poll_flush`), since one
    /// write system call per message is most of fan-out's CPU;
    /// `Sink::poll_ready` waits for room. The buffer stays bounded by
    /// [`Config::write_buffer_size`](crate::Config::write_buffer_size) plus
    /// one message.
    pub fn try_queue_prepared(&mut self, message: &crate::PreparedMessage) -> Result<bool, Error> {
        if self.shared.conn(Connection::buffered_output) >= self.shared.write_buffer_size {
            return Ok(false);
        }
        self.shared.queue_prepared(message).map(|()| true)
    }
}

/// Sends `frame` (`None`: 1000) unless a close frame was sent, and writes
/// everything out; a connection already closed is no error. A write
/// half's `close`, and a `Sink`'s.
fn poll_close<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared<S>,
    st: &mut SendState,
    cx: &mut Context<'_>,
    frame: Option<&CloseFrame>,
) -> Poll<Result<(), Error>> {
    let result = match shared.queue_close(frame.cloned()) {
        Ok(_) => ready!(shared.poll_flush(st, cx, Flush::All)),
        Err(e) => Err(e),
    };
    Poll::Ready(match result {
        Err(e) if e.kind() == ErrorKind::AlreadyClosed => Ok(()),
        other => other,
    })
}

fn poll_recv<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<S>>,
    st: &mut RecvState,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Message>, Error>> {
    st.stream.abandon();
    if let Some(close) = st.stream.take_close() {
        return Poll::Ready(Ok(Some(close)));
    }
    shared.poll_event(st, cx, ReceiveMode::Message, |event, _| match event {
        // Moved out of the core: no copy, validated once as it arrived.
        Event::Message(message) => Some(message),
        // In message mode the core hands out chunks only of a message a
        // dropped reader left, and it skips those.
        _ => None,
    })
}

fn poll_recv_stream<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared<S>>,
    st: &mut RecvState,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<DataKind>, Error>> {
    // A reader of an earlier message is gone (it has no `Drop`, so that
    // its borrow ends where it is last used): its rest is skipped.
    st.stream.abandon();
    if st.stream.has_close() {
        // Kept for the next `recv`.
        return Poll::Ready(Ok(None));
    }
    let started = |event, st: &mut RecvState| match st.stream.handle(event)? {
        StreamStep::Started(kind) => Some(Some(kind)),
        _ => Some(None),
    };
    (shared.poll_event(st, cx, ReceiveMode::Stream, started)).map_ok(Option::flatten)
}

/// The payload of one received message, as an [`AsyncRead`] that ends
/// with the message. From [`WebSocket::recv_stream`] or
/// [`ReadHalf::recv_stream`]. While it is read, pings are answered and the
/// timers run as during [`WebSocket::recv`].
pub struct MessageReader<'a, S> {
    shared: &'a Arc<Shared<S>>,
    st: &'a mut RecvState,
    kind: DataKind,
}

impl<S> MessageReader<'_, S> {
    /// Whether the message is text or binary. Text is validated as it is
    /// read; a read fails with `InvalidData` at the first invalid byte.
    pub fn kind(&self) -> DataKind {
        self.kind
    }
}

impl<S> fmt::Debug for MessageReader<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageReader")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MessageReader<'_, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(piece) = this.st.stream.read_bytes(buf.remaining()) {
                buf.put_slice(&piece);
                return Poll::Ready(Ok(()));
            }
            let step = ready!(this.shared.poll_event(
                this.st,
                cx,
                ReceiveMode::Stream,
                |event, st| st.stream.handle(event)
            ));
            match step {
                Ok(Some(StreamStep::Closed) | None) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed inside the message",
                    )));
                }
                Ok(Some(_)) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

/// A message being sent in pieces, as an [`AsyncWrite`]. From
/// [`WebSocket::send_stream`] or [`WriteHalf::send_stream`].
///
/// Bytes are gathered into fragments of the configured
/// [fragment size](crate::ClientBuilder::fragment_size) (default: the
/// write buffer size), as wsock-blocking's writer does; each full fragment
/// is queued as a frame, after waiting while the write buffer is full.
/// `flush` sends what is gathered as a fragment and writes everything out;
/// [`finish`](Self::finish) or `shutdown` ends the message and flushes.
/// Text must be valid UTF-8 as a whole; a code point may be split between
/// writes, and a write whose bytes cannot continue valid text fails with
/// `InvalidInput` (as in wsock-blocking) and takes none of them. Control frames (pongs) still go
/// out between the fragments.
///
/// Dropping it after a write and before `finish` cannot take back what was
/// sent, so it closes the connection with 1011; dropping it before any
/// write sends nothing.
pub struct MessageWriter<'a, S> {
    shared: &'a Shared<S>,
    st: &'a mut SendState,
    /// The fragment size and what is gathered: the core's decision.
    message: Fragmenter,
}

impl<S: AsyncRead + AsyncWrite + Unpin> MessageWriter<'_, S> {
    /// Ends the message and writes everything out.
    pub async fn finish(mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_finish(cx)).await
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.message.is_finished() {
            let result = self.shared.queue(|c| self.message.finish(c));
            if let Err(e) = result {
                if e.kind() == ErrorKind::InvalidInput {
                    // The message cannot end validly (text ending inside a
                    // code point), and no other message can follow an
                    // unfinished one.
                    self.abort("message could not be completed");
                }
                return Poll::Ready(Err(e));
            }
        }
        self.shared.poll_flush(self.st, cx, Flush::All)
    }
}

impl<S> fmt::Debug for MessageWriter<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageWriter")
            .field("kind", &self.message.kind())
            .field("finished", &self.message.is_finished())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MessageWriter<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.message.is_finished() {
            return Poll::Ready(Err(io::Error::other(
                "write after the message was finished",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(this.shared.poll_flush(this.st, cx, Flush::Room))?;
        let n = this
            .shared
            .queue(|c| this.message.write(c, buf))
            .map_err(io::Error::from)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.message.is_finished() {
            this.shared.queue(|c| this.message.flush(c))?;
        }
        this.shared
            .poll_flush(this.st, cx, Flush::All)
            .map_err(Into::into)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_finish(cx).map_err(Into::into)
    }
}

impl<S> MessageWriter<'_, S> {
    /// Closes the connection with 1011: a message begun cannot be ended.
    fn abort(&self, reason: &str) {
        let frame = CloseFrame::new(CloseCode::INTERNAL_ERROR, reason);
        let _ = self.shared.queue_close(Some(frame));
    }
}

impl<S> Drop for MessageWriter<'_, S> {
    fn drop(&mut self) {
        if self.message.is_started() && !self.message.is_finished() {
            self.abort("message aborted");
        }
    }
}

macro_rules! stream_impl {
    ($($t:ident),+) => {$(
        impl<S: AsyncRead + AsyncWrite + Unpin> Stream for $t<S> {
            type Item = Result<Message, Error>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                let this = self.get_mut();
                poll_recv(&this.shared, &mut this.recv, cx).map(Result::transpose)
            }
        }
    )+};
}
stream_impl!(WebSocket, ReadHalf);

/// `poll_ready` waits for room in the write buffer, `start_send` queues,
/// `poll_flush` writes out, `poll_close` sends a close frame (1000) unless
/// one was sent and writes it out; keep receiving to finish the closing
/// handshake.
macro_rules! sink_impl {
    ($($t:ident),+) => {$(
        impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for $t<S> {
            type Error = Error;

            fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                let this = self.get_mut();
                this.shared.poll_flush(&mut this.send, cx, Flush::Room)
            }

            fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
                self.shared.queue_message(item)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                let this = self.get_mut();
                this.shared.poll_flush(&mut this.send, cx, Flush::All)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
                let this = self.get_mut();
                poll_close(&this.shared, &mut this.send, cx, None)
            }
        }
    )+};
}
sink_impl!(WebSocket, WriteHalf);
