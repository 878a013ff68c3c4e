//! TLS (rustls with the *ring* provider) and HTTP `CONNECT` proxies for the
//! wsock adapters.
//!
//! - Client: [`ClientTlsConfig`] → [`TlsConnector`];
//!   [`connect_blocking`](TlsConnector::connect_blocking) /
//!   [`connect_blocking_timeout`](TlsConnector::connect_blocking_timeout) over
//!   any `Read + Write`, `connect_async` over
//!   any tokio `AsyncRead + AsyncWrite`. Handshakes complete before these
//!   return, so certificate errors surface at connect time.
//! - Server: [`ServerTlsConfig`] → [`TlsAcceptor`];
//!   [`accept_blocking_timeout`](TlsAcceptor::accept_blocking_timeout) and
//!   `accept_async` with a handshake timeout
//!   (default 10 s) so a silent client cannot hold a slot.
//! - Errors: [`TlsError`], whose certificate failures say what failed
//!   ([`CertificateErrorKind`]: unknown issuer, expired, wrong host name, …).
//! - [`TlsInfo`]: peer certificates, protocol version, cipher suite, ALPN.
//! - [`proxy`]: `CONNECT` tunnels through HTTP proxies, configured
//!   explicitly or from `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`.
//!
//! # Which wsock crate
//!
//! This crate only does TLS and proxies: it hands back encrypted streams
//! that `wsock-blocking` (`client`, `ClientBuilder::handshake`,
//! `Acceptor::accept`) and `wsock-tokio` (`ClientBuilder::handshake`,
//! `accept`) run the WebSocket protocol over. With `wsock-core` in your own
//! event loop, drive a `rustls::ClientConnection` or `ServerConnection`
//! built from [`TlsConnector::new_connection`] or
//! [`TlsAcceptor::new_connection`]. To end TLS at a reverse proxy instead,
//! see `docs/deploy.md` in the repository.
//!
//! # Wiring into an adapter
//!
//! `wsock-blocking` and `wsock-tokio` do this themselves through their
//! `tls` feature (on by default): `connect("wss://…")`, a `TlsConnector`
//! through `ClientBuilder::tls_connector`, a `ProxyConfig` through
//! `ClientBuilder::proxy`, a `TlsAcceptor` through the blocking
//! `ServerBuilder::bind_tls` or tokio's `accept_tls`. By hand, over any
//! stream:
//!
//! ```no_run
//! use std::io::Write;
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use wsock_tls::proxy::ProxyConfig;
//! use wsock_tls::{TlsConnectionInfo, TlsConnector};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (host, port) = ("example.com", 443); // from wss://example.com/chat
//! let connector = TlsConnector::new(); // or ClientTlsConfig::new()…build()?
//!
//! // Optional: an HTTP proxy (explicit, or from the environment if the user
//! // opted in). The tunnel is opened for ws:// and wss:// alike.
//! let tcp = match ProxyConfig::from_env(host, true) {
//!     Some(proxy) => proxy.tunnel_blocking(host, port, Some(Duration::from_secs(10)))?,
//!     None => TcpStream::connect((host, port))?,
//! };
//! // wss:// only: the TLS handshake, with the *target* host name.
//! let mut tls = connector.connect_blocking_timeout(host, tcp)?;
//! println!("{:?}", tls.tls_info().protocol_version);
//! tls.write_all(b"GET /chat HTTP/1.1\r\n...")?; // the WebSocket handshake
//! # Ok(()) }
//! ```
//!
//! The tokio equivalents: `proxy.tunnel_async(host, port).await?` (or
//! `proxy::connect_via_proxy_async` over your own stream), then
//! `connector.connect_async(host, tcp).await?`.
//!
//! Server side: `let tls = acceptor.accept_blocking_timeout(tcp_stream)?;`
//! or `let tls = acceptor.accept_async(tcp_stream).await?;`.
//!
//! Blocking streams are [`rustls::StreamOwned`] ([`ClientTlsStream`],
//! [`ServerTlsStream`]); async streams are `tokio_rustls::client::TlsStream`
//! and `tokio_rustls::server::TlsStream`.
//!
//! # Features
//!
//! - `tokio` (default): `connect_async`, `accept_async`,
//!   `proxy::connect_via_proxy_async`.
//! - `native-roots`: `ClientTlsConfig::native_roots`, the platform's
//!   certificate store.
//! - `logging`: rustls logs through the `log` crate.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod error;
mod handshake;
mod info;
mod pem;
pub mod proxy;
mod server;
mod verify;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;

pub use client::{ClientTlsConfig, ClientTlsStream, TlsConnector, server_name_for};
pub use error::{CertificateErrorKind, TlsError, TlsErrorKind};
pub use handshake::SocketTimeouts;
pub use info::{TlsConnectionInfo, TlsInfo};
pub use pem::Pem;
pub use server::{ServerTlsConfig, ServerTlsStream, TlsAcceptor};
pub use verify::{CertificateDecision, ServerCertificateCheck, VerifyCallback};

/// Re-export: the rustls version this crate is built on.
pub use rustls;
/// Re-export: the tokio-rustls version this crate is built on.
#[cfg(feature = "tokio")]
pub use tokio_rustls;

/// The default handshake timeout of [`TlsConnector`] and [`TlsAcceptor`].
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ring crypto provider, shared by every configuration built here (the
/// process-wide default provider is neither needed nor installed).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    Arc::clone(&PROVIDER)
}

#[cfg(feature = "tokio")]
async fn with_timeout<T>(
    timeout: Option<Duration>,
    handshake: impl Future<Output = std::io::Result<T>>,
) -> Result<T, TlsError> {
    match timeout {
        Some(limit) => match tokio::time::timeout(limit, handshake).await {
            Ok(result) => result.map_err(TlsError::from_io),
            Err(_elapsed) => Err(TlsError::HandshakeTimeout),
        },
        None => handshake.await.map_err(TlsError::from_io),
    }
}
