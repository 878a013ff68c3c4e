//! A thin blocking adapter for the [`wsock_core`] WebSocket (RFC 6455)
//! engine: it moves bytes between the sans-IO core and any
//! [`Read`](std::io::Read) + [`Write`](std::io::Write) stream, and keeps time for it. All protocol logic lives in the
//! core.
//!
//! * Client: [`connect`] for the common case, [`ClientBuilder`] for
//!   timeouts, subprotocols, headers and limits, [`client`] over a stream
//!   you connected yourself.
//! * Server: [`accept`] and [`accept_with`] over an accepted stream,
//!   [`Acceptor`] for settings, [`Server`] for a small thread-per-connection
//!   listener with graceful shutdown.
//! * Messages: [`WebSocket::recv`], [`WebSocket::send`],
//!   [`WebSocket::close`]; one message as an [`io::Read`](std::io::Read) or
//!   [`io::Write`](std::io::Write) with [`WebSocket::recv_stream`] and
//!   [`WebSocket::send_stream`]; full duplex with [`WebSocket::split`].
//! * TLS (the default `tls` feature: rustls with the ring provider, through
//!   the `wsock-tls` crate, re-exported as `tls`): `wss://` in [`connect`],
//!   verified against the webpki roots unless
//!   `ClientBuilder::tls_connector` says otherwise; HTTP `CONNECT` proxies
//!   with `ClientBuilder::proxy`; `ServerBuilder::bind_tls` for servers;
//!   `WebSocket::tls_info` for what was negotiated. Certificate errors are
//!   [`ErrorKind::Tls`] errors whose `Error::certificate_error` says what
//!   failed.
//!
//! ```
//! use std::net::TcpListener;
//! use wsock_blocking::{CloseFrame, Message};
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", listener.local_addr()?);
//! let server = std::thread::spawn(move || -> Result<(), wsock_blocking::Error> {
//!     let (stream, _) = listener.accept().expect("accept");
//!     let mut ws = wsock_blocking::accept(stream)?;
//!     // `None` once the closing handshake is over.
//!     while let Some(message) = ws.recv()? {
//!         if message.is_data() {
//!             ws.send(message)?;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! let mut ws = wsock_blocking::connect(&url)?;
//! ws.send("hello")?;
//! assert_eq!(ws.recv()?, Some(Message::text("hello")));
//! // Sends 1000 with a reason, waits for the server's reply and the end.
//! ws.close(Some(CloseFrame::new(1000, "done")))?;
//! assert_eq!(ws.recv()?, None);
//! // The server saw the closing handshake finish.
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which wsock crate
//!
//! This one suits tools, tests, command-line clients and servers with a
//! few hundred connections at most (a thread each). Pick `wsock-tokio` for
//! many connections or an async application, `wsock-core` to drive the
//! protocol from your own event loop (`mio`, `io_uring`, a game loop,
//! `no_std`), and `wsock-tls` for `wss://` and HTTP proxies. The guide
//! (`docs/guide-blocking.md` in the repository) walks through clients,
//! servers, split halves, streaming, timeouts, keepalive, errors and TLS.
//!
//! # Time
//!
//! Every blocking read is bounded by the next deadline that matters: the
//! read timeout, the keepalive ping, the close timeout. A transport
//! without read timeouts (see [`Transport`]) only notices them when data
//! arrives.
#![warn(missing_docs)]

mod client;
mod engine;
mod listener;
mod server;
mod stream;
mod transport;
mod websocket;

pub use client::ClientBuilder;
#[cfg(feature = "tls")]
pub use listener::ServerTlsStream;
pub use listener::{Server, ServerBuilder, listen};
pub use server::Acceptor;
pub use stream::{MessageReader, MessageWriter};
pub use transport::{AnyStream, MaybeTlsStream, Transport};
pub use websocket::{ReadHalf, ReuniteError, WebSocket, WriteHalf};
pub use wsock_core::handshake::server::Rejection;
use wsock_io::diag;
pub use wsock_io::{ConnectAttempt, Error, ErrorKind, ShutdownReport, Timeout};

/// The TLS layer (rustls, ring provider) and HTTP `CONNECT` proxies: the
/// `wsock-tls` crate, for [`ClientBuilder::tls_connector`],
/// [`ServerBuilder::bind_tls`] and [`ClientBuilder::proxy`].
#[cfg(feature = "tls")]
pub use wsock_tls as tls;

/// The protocol engine underneath, for its types (limits, handshake
/// errors) and lower-level use.
pub use wsock_core;
#[cfg(feature = "deflate")]
pub use wsock_core::DeflateConfig;
pub use wsock_core::handshake::client::{ClientRequest, IntoClientRequest, Response};
pub use wsock_core::handshake::server::{Accept, Request};
pub use wsock_core::{
    CloseCode, CloseFrame, Config, DataKind, Extensions, Message, PreparedMessage, Role, State,
    Stats,
};

/// Connects to a `ws://` or `wss://` URL (or an `http::Request<()>`, an
/// `http::Uri`, a [`ClientRequest`]: see [`IntoClientRequest`]) with the
/// default settings and runs the opening handshake. Use [`ClientBuilder`]
/// to change them.
///
/// `wss://` (with the `tls` feature, on by default) verifies the server
/// against the Mozilla roots of `webpki-roots`, with SNI for host names
/// and ALPN `http/1.1`; `ClientBuilder::tls_connector` changes that.
///
/// ```
/// # let server = wsock_blocking::Server::bind("127.0.0.1:0", |mut ws| { let _ = ws.recv(); })?;
/// # let port = server.local_addr().port();
/// let mut ws = wsock_blocking::connect(&format!("ws://127.0.0.1:{port}/chat?room=1"))?;
/// ws.send("hello")?;
/// ws.close(None)?;
/// # Ok::<(), wsock_blocking::Error>(())
/// ```
pub fn connect(request: impl IntoClientRequest) -> Result<WebSocket<MaybeTlsStream>, Error> {
    ClientBuilder::new(request).connect()
}

/// Runs the client's opening handshake over a stream connected by other
/// means (a TLS stream, a Unix socket, an in-memory pipe wrapped in
/// [`AnyStream`]); `request` is a URL, an `http::Request<()>` or a
/// [`ClientRequest`].
pub fn client<S: Transport>(
    stream: S,
    request: impl IntoClientRequest,
) -> Result<WebSocket<S>, Error> {
    ClientBuilder::new(request).handshake(stream)
}

/// Accepts a WebSocket connection on a stream (usually a `TcpStream` from
/// a listener), with the default settings. A request that is not a valid
/// WebSocket handshake is answered with the right HTTP error (400, 405, 426
/// or 431) before the stream is closed. Use [`Acceptor`] to change the
/// settings.
///
/// ```
/// use std::net::TcpListener;
/// use wsock_blocking::Message;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = std::thread::spawn(move || -> Result<Message, wsock_blocking::Error> {
///     let mut ws = wsock_blocking::connect(&format!("ws://{addr}/"))?;
///     let greeting = ws.recv()?.expect("a message");
///     ws.send(Message::close(1000, "thanks"))?;
///     while !matches!(ws.recv()?.expect("a message"), Message::Close(_)) {}
///     Ok(greeting)
/// });
/// let (stream, _) = listener.accept()?;
/// let mut ws = wsock_blocking::accept(stream)?;
/// ws.send("welcome")?;
/// assert!(matches!(ws.recv()?.expect("a message"), Message::Close(_)));
/// assert_eq!(client.join().unwrap()?, Message::text("welcome"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept<S: Transport>(stream: S) -> Result<WebSocket<S>, Error> {
    Acceptor::new().accept(stream)
}

/// Accepts a connection if `callback` agrees: it sees the [`Request`] and
/// returns an [`Accept`] (subprotocol, response headers) or a
/// [`Rejection`] (status, headers, body). See [`Acceptor::accept_with`].
pub fn accept_with<S, F>(stream: S, callback: F) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    Acceptor::new().accept_with(stream, callback)
}

/// Compile-time checks that the handles can move between threads.
#[allow(dead_code)]
fn assert_send() {
    fn send<T: Send>() {}
    send::<WebSocket<std::net::TcpStream>>();
    send::<ReadHalf<std::net::TcpStream>>();
    send::<WriteHalf<std::net::TcpStream>>();
    send::<Error>();
}
