//! WebSocket over [hyper] and HTTP/2 for the [`wsock_tokio`] adapter of
//! the wsock engine.
//!
//! * [`upgrade`]: serve WebSocket from a hyper 1.x server, over HTTP/1.1
//!   (`101 Switching Protocols`) and over HTTP/2 (RFC 8441 extended
//!   CONNECT), with a [`wsock_tokio::Acceptor`]'s settings and checks:
//!   [`AcceptorExt::upgrade`](upgrade::AcceptorExt::upgrade) gives the
//!   response to return from the service and a future of the
//!   [`wsock_tokio::WebSocket`].
//! * [`http2`]: the RFC 8441 client. [`Http2Client`](http2::Http2Client)
//!   takes a [`wsock_tokio::ClientBuilder`] (TLS, proxy, timeouts, limits,
//!   headers as set there) and opens one WebSocket over HTTP/2, or an
//!   [`Http2Connection`](http2::Http2Connection) on which several
//!   WebSockets share one TCP and TLS connection.
//!
//! A crate of its own so that wsock-tokio stays a thin adapter without
//! hyper and h2; the WebSockets here are wsock-tokio's, with all their
//! methods. For axum routes, `wsock-axum` builds on [`upgrade`].
//!
//! Features: `tls` (default; `wss://` for the client, with ALPN `h2`,
//! through wsock-tls), `deflate` (default; permessage-deflate, as in
//! wsock-tokio), `tracing` (default; diagnostics, as in wsock-tokio).
//!
//! [hyper]: https://docs.rs/hyper
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod http2;
pub mod upgrade;
