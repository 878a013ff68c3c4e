//! The connection handle, and its halves for full-duplex use.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wsock_core::handshake::client::Response;
use wsock_core::handshake::server::Request;
use wsock_core::{
    CloseCode, CloseFrame, Connection, DataKind, Event, Message, ReceiveMode, Role, State, Stats,
};

use crate::engine::{ReadState, Shared};
use crate::stream::{MessageReader, MessageWriter};
use crate::transport::Transport;
use crate::{Error, ErrorKind};
use wsock_io::handshake::Handshake;
use wsock_io::options::Settings;

/// The reading side and the transport. The last handle to go (the
/// connection, or the last of its two halves) ends the connection.
struct Inner<S: Transport> {
    read: ReadState,
    io: S,
}

impl<S: Transport> Drop for Inner<S> {
    fn drop(&mut self) {
        if self.read.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.read.close_on_drop(&mut self.io);
        }
    }
}

macro_rules! debug_impl {
    ($t:ident) => {
        impl<S: Transport> std::fmt::Debug for $t<S> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let shared = self.shared();
                let (role, state) = {
                    let conn = shared.peek();
                    (conn.role(), conn.state())
                };
                f.debug_struct(stringify!($t))
                    .field("role", &role)
                    .field("protocol", &shared.protocol)
                    .field("state", &state)
                    .finish_non_exhaustive()
            }
        }
    };
}
debug_impl!(WebSocket);
debug_impl!(ReadHalf);
debug_impl!(WriteHalf);

/// What every handle tells of the whole connection.
macro_rules! state_methods {
    () => {
        /// Where the closing handshake stands.
        pub fn state(&self) -> State {
            self.shared().peek().state()
        }

        /// Traffic counters (of the whole connection).
        pub fn stats(&self) -> Stats {
            *self.shared().peek().stats()
        }
    };
}

/// Receiving methods, for [`WebSocket`] and [`ReadHalf`].
macro_rules! recv_methods {
    () => {
        /// The next message: text, binary, or a ping, pong or close frame
        /// from the peer. `Ok(None)` once the connection is over (after the
        /// closing handshake, or after an error was returned); it stays `None`.
        ///
        /// Blocks until a message is complete, or the
        /// [read timeout](crate::ClientBuilder::read_timeout) passes
        /// ([`Timeout::Read`](crate::Timeout::Read); a message partly received
        /// is kept, and the next `recv` continues it).
        ///
        /// Errors that end the connection (protocol violations, a vanished
        /// peer) close the transport before they are returned.
        pub fn recv(&mut self) -> Result<Option<Message>, Error> {
            let Inner { read, io } = &mut *self.inner;
            until_closed(read_message(read, io))
        }

        /// The next data message as a stream of bytes, without buffering it
        /// whole: memory stays bounded by the read buffer size however large
        /// the message is. Pings and pongs that arrive first are answered and
        /// skipped. `Ok(None)` when the connection closes first.
        ///
        /// A reader dropped before the end of its message discards the rest.
        pub fn recv_stream(&mut self) -> Result<Option<MessageReader<'_, S>>, Error> {
            let Inner { read, io } = &mut *self.inner;
            until_closed(MessageReader::start(read, io))
        }

        /// Changes the [read timeout](crate::ClientBuilder::read_timeout).
        pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
            self.inner.read.timeout = timeout;
        }
    };
}

/// Sending methods, for [`WebSocket`] and [`WriteHalf`].
macro_rules! send_methods {
    () => {
        /// Sends a message and writes it out (with everything queued before
        /// it). Blocks at most the [write timeout](crate::ClientBuilder::write_timeout).
        ///
        /// If the timeout passes, this fails with
        /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) and the message
        /// stays queued, in order: nothing is lost, and the next
        /// [`flush`](Self::flush) or send continues writing. A peer that keeps
        /// not reading is best treated as gone: each message sent after a
        /// timeout is queued too.
        ///
        /// `Message::Close` starts the closing handshake like
        /// [`close`](Self::close). Fails with
        /// [`ErrorKind::AlreadyClosed`](crate::ErrorKind::AlreadyClosed)
        /// once a close frame was sent or received.
        pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
            let (shared, io) = self.writer();
            shared.queue_message(io, true, message.into())
        }

        /// Sends a message framed (and compressed) once for many connections,
        /// and writes it out, as [`send`](Self::send) does: the frame is not
        /// encoded again, a large one is written from the prepared buffer
        /// itself, and with permessage-deflate the message is compressed once
        /// per window size rather than once per connection. See
        /// [`PreparedMessage`](crate::PreparedMessage) for how that stays
        /// correct with context takeover, and what it costs in ratio.
        pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), Error> {
            let (shared, io) = self.writer();
            shared.queue_prepared(io, message)
        }

        /// Queues a message without writing it out, unless the queued output
        /// exceeds the [write buffer size](crate::ClientBuilder::write_buffer_size):
        /// then it is written out first. Call [`flush`](Self::flush) when done
        /// queueing.
        pub fn write(&mut self, message: impl Into<Message>) -> Result<(), Error> {
            let (shared, io) = self.writer();
            shared.queue_message(io, false, message.into())
        }

        /// Writes out everything queued.
        pub fn flush(&mut self) -> Result<(), Error> {
            let (shared, io) = self.writer();
            shared.flush(io, None, None)
        }

        /// Sends one message of type `kind` as an [`io::Write`], in fragments:
        /// every [`fragment_size`](crate::ClientBuilder::fragment_size) bytes
        /// (default: the write buffer size) become a frame, and
        /// [`MessageWriter::finish`] ends the message. Memory stays bounded
        /// however large the message is. Text must be valid UTF-8 as a whole;
        /// pieces may split code points.
        pub fn send_stream(&mut self, kind: DataKind) -> Result<MessageWriter<'_, S>, Error> {
            let (shared, io) = self.writer();
            MessageWriter::start(shared, io, kind)
        }

        /// Changes the [write timeout](crate::ClientBuilder::write_timeout).
        pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
            self.shared().set_write_timeout(timeout);
        }
    };
}

/// An open WebSocket connection over a [`Transport`] `S`.
///
/// Get one from [`connect`](crate::connect), [`client`](crate::client),
/// [`accept`](crate::accept) or the builders. Receive with
/// [`recv`](Self::recv) (or [`recv_stream`](Self::recv_stream) for one
/// message as an [`io::Read`]) until it returns `None`, send with
/// [`send`](Self::send) (or [`send_stream`](Self::send_stream)), and end
/// with [`close`](Self::close). The same verbs and meanings as
/// `wsock_tokio::WebSocket`, without `async`.
///
/// Pings are answered by the connection itself, as soon as they are read;
/// [`recv`](Self::recv) still returns them (and pongs and the peer's close)
/// so the application can see them.
///
/// Dropping a connection that is still open sends a close frame (1001,
/// going away) and waits a short time (at most the close timeout, capped
/// at 2 s) for the closing handshake, then closes the transport.
///
/// ```
/// use wsock_blocking::{ErrorKind, Message};
///
/// # let server = wsock_blocking::Server::bind("127.0.0.1:0", |mut ws| {
/// #     while let Ok(Some(m)) = ws.recv() { if m.is_data() && ws.send(m).is_err() { break } }
/// # })?;
/// # let url = format!("ws://{}/", server.local_addr());
/// let mut ws = wsock_blocking::connect(&url)?;
/// ws.send("text")?;
/// ws.send(vec![1, 2, 3])?; // binary
/// ws.send(Message::ping(&b"are you there"[..]))?;
/// assert_eq!(ws.recv()?, Some(Message::text("text")));
/// assert_eq!(ws.recv()?, Some(Message::binary(vec![1, 2, 3])));
/// assert_eq!(ws.recv()?, Some(Message::pong(&b"are you there"[..])));
/// assert_eq!(ws.stats().messages_received, 2);
///
/// // Closes with 1000 and waits for the server's close and the end.
/// ws.close(None)?;
/// assert_eq!(ws.recv()?, None);
/// # let _ = ErrorKind::Io;
/// # Ok::<(), wsock_blocking::Error>(())
/// ```
pub struct WebSocket<S: Transport> {
    inner: Box<Inner<S>>,
}

impl<S: Transport> WebSocket<S> {
    /// The connection the opening handshake made over `io`, reported in
    /// `span`.
    pub(crate) fn open(
        conn: Connection,
        io: S,
        settings: &Settings,
        handshake: Handshake,
        span: &crate::diag::Span,
    ) -> Self {
        crate::diag::handshake_done(span, conn.protocol(), conn.extensions());
        let shared = Arc::new(Shared::new(conn, settings, handshake, span.clone(), &io));
        let read = ReadState::new(shared, settings.read_timeout);
        Self {
            inner: Box::new(Inner { read, io }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.read.shared
    }

    fn writer(&mut self) -> (&Shared, &mut S) {
        let Inner { read, io } = &mut *self.inner;
        (&read.shared, io)
    }

    recv_methods!();
    send_methods!();
    state_methods!();

    /// Closes the connection: sends a close frame (`None`: code 1000, no
    /// reason) unless one was sent, then receives and discards until the
    /// peer's close and the end of the transport. Returns the first error
    /// not yet returned, if the connection failed. Calling it again, or
    /// after the connection ended, is fine.
    ///
    /// To receive what the peer still sends, send `Message::Close` with
    /// [`send`](Self::send) instead and keep calling [`recv`](Self::recv)
    /// until it returns `None`.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        let Inner { read, io } = &mut *self.inner;
        close(&read.shared, io, frame)?;
        while until_closed(read_message(read, io))?.is_some() {}
        Ok(())
    }

    /// Splits the connection into a reading and a writing half that can be
    /// used from two threads at once. Needs a transport that can be cloned
    /// ([`Transport::try_clone`], as `TcpStream` can); otherwise gives the
    /// connection back with the error.
    ///
    /// Pings are answered and the peer's close is answered while the reader
    /// reads, even while the writer is busy; a close received by the reader
    /// makes the writer's sends fail with
    /// [`ErrorKind::AlreadyClosed`](crate::ErrorKind::AlreadyClosed).
    pub fn split(self) -> Result<(ReadHalf<S>, WriteHalf<S>), (Self, Error)> {
        let io = match self.inner.io.try_clone() {
            Ok(clone) => clone,
            Err(e) => return Err((self, Error::io(e))),
        };
        let shared = Arc::clone(&self.inner.read.shared);
        shared.handles.store(2, Ordering::Release);
        shared.split.store(true, Ordering::Release);
        let reader = ReadHalf { inner: self.inner };
        Ok((reader, WriteHalf { shared, io }))
    }

    /// The local address of the transport.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.peer_addr()
    }

    /// The subprotocol the handshake settled on, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.shared().protocol.as_deref()
    }

    /// The extensions the handshake negotiated (permessage-deflate and its
    /// parameters, with the `deflate` feature).
    pub fn extensions(&self) -> wsock_core::Extensions {
        self.shared().peek().extensions()
    }

    /// Whether this end is the client or the server.
    pub fn role(&self) -> Role {
        self.shared().peek().role()
    }

    /// What TLS negotiated — peer certificate chain, protocol version, cipher
    /// suite, ALPN — if the connection runs over TLS (`wss://`, or a
    /// [`Server`](crate::Server) with TLS); `None` otherwise.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<&wsock_tls::TlsInfo> {
        self.shared().tls_info.as_ref()
    }

    /// The client's handshake request (on a server).
    pub fn request(&self) -> Option<&Request> {
        self.shared().handshake.request()
    }

    /// The server's handshake response (on a client).
    pub fn response(&self) -> Option<&Response> {
        self.shared().handshake.response()
    }

    /// The transport. Reading from or writing to it directly would corrupt
    /// the connection; use it for socket options and information.
    pub fn get_ref(&self) -> &S {
        &self.inner.io
    }

    /// The connection's shared state, for the server's registry.
    pub(crate) fn shared_arc(&self) -> Arc<Shared> {
        Arc::clone(&self.inner.read.shared)
    }
}

pub(crate) fn read_message<S: Transport>(
    read: &mut ReadState,
    io: &mut S,
) -> Result<Message, Error> {
    read.stream.abandon();
    if let Some(close) = read.stream.take_close() {
        return Ok(close);
    }
    read.next(io, ReceiveMode::Message, None, |event, _| match event {
        // Moved out of the core: no copy, validated once as it arrived.
        Event::Message(message) => Some(message),
        // In message mode the core hands out chunks only of a message a
        // dropped reader left, and it skips those.
        _ => None,
    })
}

/// The end of the connection, reported by a read as an error, becomes
/// `None`: a clean closing handshake, or an error already returned.
fn until_closed<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionClosed | ErrorKind::AlreadyClosed
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Sends a close frame (`None`: 1000) and writes it out, unless the
/// closing handshake already started.
fn close<S: Transport>(
    shared: &Shared,
    io: &mut S,
    frame: Option<CloseFrame>,
) -> Result<(), Error> {
    let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NORMAL, ""));
    let queued =
        wsock_io::queue::close(&mut shared.conn(), &shared.span, frame.code, &frame.reason);
    if !queued.map_err(Error::core)? {
        return Ok(());
    }
    match shared.flush(io, None, None) {
        Err(e) if e.kind() == crate::ErrorKind::AlreadyClosed => Ok(()),
        other => other,
    }
}

/// The reading half of a [split](WebSocket::split) connection.
///
/// It answers pings and the peer's close as it reads, so keep a thread
/// reading. Dropping both halves ends the connection as dropping a
/// [`WebSocket`] does.
pub struct ReadHalf<S: Transport> {
    inner: Box<Inner<S>>,
}

impl<S: Transport> ReadHalf<S> {
    fn shared(&self) -> &Shared {
        &self.inner.read.shared
    }

    recv_methods!();
    state_methods!();

    /// Whether `writer` is the other half of this connection.
    pub fn is_pair_of(&self, writer: &WriteHalf<S>) -> bool {
        std::ptr::eq(self.shared(), Arc::as_ptr(&writer.shared))
    }

    /// Puts the halves back together. Fails, giving both back, if they are
    /// not halves of the same connection.
    pub fn reunite(self, writer: WriteHalf<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !self.is_pair_of(&writer) {
            return Err(ReuniteError(self, writer));
        }
        // The writer's handle is a clone of the same stream: let it go (it
        // is not the last handle, so the connection stays).
        drop(writer);
        self.shared().split.store(false, Ordering::Release);
        Ok(WebSocket { inner: self.inner })
    }
}

/// The writing half of a [split](WebSocket::split) connection.
pub struct WriteHalf<S: Transport> {
    shared: Arc<Shared>,
    io: S,
}

impl<S: Transport> WriteHalf<S> {
    fn shared(&self) -> &Shared {
        &self.shared
    }

    fn writer(&mut self) -> (&Shared, &mut S) {
        (&self.shared, &mut self.io)
    }

    send_methods!();
    state_methods!();

    /// Starts the closing handshake: sends a close frame (`None`: 1000)
    /// unless one was sent, and writes it out. The [`ReadHalf`] receives
    /// the peer's close and ends the connection, so keep it receiving.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        close(&self.shared, &mut self.io, frame)
    }
}

impl<S: Transport> Drop for WriteHalf<S> {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            ReadState::new(Arc::clone(&self.shared), None).close_on_drop(&mut self.io);
        }
    }
}

/// [`ReadHalf::reunite`] was given halves of two different connections;
/// here they are back.
pub struct ReuniteError<S: Transport>(pub ReadHalf<S>, pub WriteHalf<S>);

impl<S: Transport> std::fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: Transport> std::fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tried to reunite halves of different connections")
    }
}

impl<S: Transport> std::error::Error for ReuniteError<S> {}
