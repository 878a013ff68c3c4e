//! An async [tokio] adapter for the [`wsock_core`] WebSocket (RFC 6455)
//! engine.
//!
//! The adapter only moves bytes and time: the protocol (framing, masking,
//! UTF-8 validation, the closing handshake, keepalive) lives in the core.
//! It works over any `AsyncRead + AsyncWrite + Unpin` transport, on the
//! multi-thread and the current-thread runtime (with the time driver
//! enabled). The handshakes ([`accept`], [`client`] and their builders)
//! take one that is also `Send + 'static`, so that write coalescing (see
//! [`WebSocket::send`]) can be on by default; other transports go through
//! [`WebSocket::from_connection`].
//!
//! * Clients: [`connect`] or [`ClientBuilder`] (Happy Eyeballs connection
//!   racing, timeouts, subprotocols, headers, limits, keepalive). Over
//!   HTTP/2 (RFC 8441), several WebSockets sharing one connection: the
//!   `wsock-hyper` crate's `Http2Client`, which takes a [`ClientBuilder`].
//! * Servers: [`accept`], [`accept_with`] (inspect the request; accept or
//!   [`Rejection`]) or [`Acceptor`]. Behind hyper 1.x, over HTTP/1.1 or
//!   HTTP/2 (RFC 8441): the `wsock-hyper` crate, which takes an
//!   [`Acceptor`]; after another HTTP stack did the upgrade,
//!   [`WebSocket::from_connection`].
//! * A [`WebSocket`] has plain async methods ([`recv`](WebSocket::recv),
//!   [`send`](WebSocket::send), [`flush`](WebSocket::flush),
//!   [`close`](WebSocket::close)) and implements `Stream` and `Sink`; it
//!   [splits](WebSocket::split) into halves for two tasks.
//! * Fan-out to rooms (one message framed once, written to many
//!   connections in batches, across processes through Redis) is the
//!   `wsock-broadcast` crate, built on [`WriteHalf::try_queue_prepared`].
//! * Large messages stream: [`WebSocket::recv_stream`] gives an
//!   `AsyncRead` of one message, [`WebSocket::send_stream`] an `AsyncWrite`.
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> Result<(), wsock_tokio::Error> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("ws://{}/", listener.local_addr()?);
//! # tokio::spawn(async move {
//! #     let (tcp, _) = listener.accept().await?;
//! #     let mut ws = wsock_tokio::accept(tcp).await?;
//! #     let hello = ws.recv().await?;
//! #     ws.send(hello.unwrap()).await?;
//! #     ws.close(None).await
//! # });
//! // url: "ws://127.0.0.1:9001/" or similar
//! let mut ws = wsock_tokio::connect(&url).await?;
//! ws.send("hello").await?;
//! while let Some(message) = ws.recv().await? {
//!     println!("{message:?}"); // the echo, then the server's close frame
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Which wsock crate
//!
//! This one suits servers with many connections and async applications.
//! Pick `wsock-blocking` for code without a runtime (tools, tests, a few
//! connections on threads), `wsock-core` to drive the protocol from your
//! own event loop (`mio`, `io_uring`, `no_std`), `wsock-tls` for
//! TLS and HTTP proxies on their own, `wsock-hyper` to serve from a hyper
//! server or connect over HTTP/2, and `wsock-axum` for axum routes. The guide (`docs/guide-tokio.md` in the
//! repository) walks through clients, servers, split halves, streaming,
//! timeouts, keepalive, errors and TLS.
//!
//! `wss://` works with the default `tls` feature (rustls with the ring
//! provider, through the `wsock-tls` crate, re-exported as `tls`): the
//! server is verified against the webpki roots unless
//! `ClientBuilder::tls_connector` says otherwise; servers use
//! `Acceptor::accept_tls`; `WebSocket::tls_info` says what was
//! negotiated; certificate errors are [`ErrorKind::Tls`] errors whose
//! `Error::certificate_error` says what failed. Without the feature,
//! `wss://` URLs are an [`ErrorKind::Tls`] error: connect with
//! [`ClientBuilder::connect_tcp`], run your own TLS handshake, and pass the
//! stream to [`ClientBuilder::handshake`].
//!
//! [tokio]: https://docs.rs/tokio
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The write-coalescing setter, on a builder whose field `$($field).+` is
/// a `wsock_io::options::Settings` (the adapter's own option: the blocking
/// adapter always writes before `send` returns).
macro_rules! write_coalescing_setter {
    ($($field:ident).+) => {
        /// Write coalescing (default on): `send` may leave a data message
        /// queued while the peer's next message is already received, so a
        /// receive-then-send loop answers a pipelined batch in one write;
        /// it reaches the peer without further calls, and a write error
        /// shows at the next call. `false`: every `send` writes before it
        /// returns. See [`WebSocket::send`](crate::WebSocket::send) and
        /// [`WebSocket::set_write_coalescing`](crate::WebSocket::set_write_coalescing).
        pub fn write_coalescing(mut self, on: bool) -> Self {
            self.$($field).+.write_coalescing = on;
            self
        }
    };
}

mod client;
use wsock_io::diag;
mod listener;
mod server;
mod shared;
mod socket;
mod stream;
mod sweeper;

pub use client::{ClientBuilder, client, connect};
pub use listener::{Server, ServerBuilder, listen};
pub use server::{Acceptor, accept, accept_with};
#[cfg(feature = "tls")]
pub use server::{ServerTlsStream, accept_tls};
pub use stream::MaybeTlsStream;
pub use wsock_io::{ConnectAttempt, Error, ErrorKind, ShutdownReport, Timeout};

pub use socket::{MessageReader, MessageWriter, ReadHalf, ReuniteError, WebSocket, WriteHalf};
pub use wsock_core::handshake::server::Rejection;
/// The TLS layer (rustls, ring provider) and HTTP `CONNECT` proxies: the
/// `wsock-tls` crate, for [`ClientBuilder::tls_connector`],
/// [`Acceptor::accept_tls`] and [`ClientBuilder::proxy`].
#[cfg(feature = "tls")]
pub use wsock_tls as tls;

#[cfg(feature = "deflate")]
pub use wsock_core::DeflateConfig;
pub use wsock_core::handshake::client::{ClientRequest, IntoClientRequest, Response};
pub use wsock_core::handshake::server::{Accept, Request};
pub use wsock_core::{
    CapacityError, CloseCode, CloseFrame, Config, Connection, DataKind, Error as CoreError,
    Extensions, HandshakeError, Message, PreparedMessage, ProtocolError, Role, State, Stats,
};

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn handles_and_errors_cross_threads() {
        send_sync::<crate::WebSocket<tokio::net::TcpStream>>();
        send_sync::<crate::ReadHalf<tokio::net::TcpStream>>();
        send_sync::<crate::WriteHalf<tokio::net::TcpStream>>();
        send_sync::<crate::Error>();
    }
}
