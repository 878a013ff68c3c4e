//! What both adapters' builders hold, and the setters they share, so that
//! `wsock_blocking::ClientBuilder` and `wsock_tokio::ClientBuilder` (and
//! their `Acceptor`s and `ServerBuilder`s) take the same options under the
//! same names with the same meanings. The adapters differ only in how they
//! act on them.
//!
//! The setters are macros, expanded inside each adapter's builder, so they
//! are documented as that builder's own methods.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wsock_core::Config;
use wsock_core::HandshakeError;
use wsock_core::handshake::client::{ClientRequest, IntoClientRequest};
use wsock_core::handshake::server::{Accept, Rejection, Request};

use crate::Error;

/// Everything chosen for one connection besides the request: the core's
/// [`Config`], the adapters' own timeouts, and write coalescing.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The protocol settings (limits, buffers, keepalive, close timeout).
    pub config: Config,
    /// How long one receive may wait for data.
    pub read_timeout: Option<Duration>,
    /// How long a send or flush may wait for the transport to take bytes.
    pub write_timeout: Option<Duration>,
    /// Whether `send` may leave a reply queued while the peer's next
    /// message is already received, so a receive-then-send loop answers a
    /// pipelined batch in one write (wsock-tokio's write coalescing; the
    /// blocking adapter always writes before `send` returns). Default on.
    pub write_coalescing: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            config: Config::default(),
            read_timeout: None,
            write_timeout: None,
            write_coalescing: true,
        }
    }
}

/// A client's options: the request and how to reach the server.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The request, or the first reason it is unusable (reported when
    /// connecting, so that the builder's setters need not return `Result`).
    request: Result<ClientRequest, HandshakeError>,
    /// The connection's settings.
    pub settings: Settings,
    /// `TCP_NODELAY` on the connection.
    pub nodelay: bool,
    /// Bounds resolution and every connection attempt together.
    pub connect_timeout: Option<Duration>,
    /// Addresses to connect to instead of resolving the host.
    pub addresses: Option<Vec<SocketAddr>>,
    /// The TLS connector for `wss://`; `None`: the default one.
    #[cfg(feature = "tls")]
    pub tls: Option<wsock_tls::TlsConnector>,
    /// Where the proxy setting comes from.
    #[cfg(feature = "tls")]
    pub proxy: Proxy,
}

/// Where a client's proxy setting comes from.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub enum Proxy {
    /// No proxy.
    None,
    /// This one.
    Explicit(wsock_tls::proxy::ProxyConfig),
    /// The `*_PROXY` environment variables, read when connecting.
    FromEnv,
}

impl ClientOptions {
    /// The defaults for `request`: no-delay on, a 30 s connect timeout, no
    /// read or write timeout, the core's default [`Config`].
    pub fn new(request: impl IntoClientRequest) -> Self {
        Self {
            request: request.into_client_request(),
            settings: Settings::default(),
            nodelay: true,
            connect_timeout: Some(Duration::from_secs(30)),
            addresses: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            proxy: Proxy::None,
        }
    }

    /// Changes the request; the first failure is kept for
    /// [`request`](Self::request) to report.
    pub fn edit(&mut self, f: impl FnOnce(ClientRequest) -> Result<ClientRequest, HandshakeError>) {
        let request = std::mem::replace(&mut self.request, Err(HandshakeError::UnexpectedEof));
        self.request = request.and_then(f);
    }

    /// The request to send, or why there is none: a bad URL is
    /// [`ErrorKind::InvalidUrl`](crate::ErrorKind::InvalidUrl), a header or
    /// subprotocol the handshake refuses is
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput).
    pub fn request(&self) -> Result<ClientRequest, Error> {
        self.request.clone().map_err(Error::invalid_request)
    }

    /// The TLS connector for `wss://`: the one set, else the default
    /// (webpki roots), built once per process.
    #[cfg(feature = "tls")]
    pub fn tls_connector(&self) -> wsock_tls::TlsConnector {
        static DEFAULT: std::sync::LazyLock<wsock_tls::TlsConnector> =
            std::sync::LazyLock::new(wsock_tls::TlsConnector::new);
        self.tls.clone().unwrap_or_else(|| DEFAULT.clone())
    }

    /// The proxy to tunnel through for `request`, if any.
    #[cfg(feature = "tls")]
    pub fn proxy_for(
        &self,
        request: &ClientRequest,
    ) -> Result<Option<wsock_tls::proxy::ProxyConfig>, Error> {
        match &self.proxy {
            Proxy::None => Ok(None),
            Proxy::Explicit(proxy) => Ok(Some(proxy.clone())),
            Proxy::FromEnv => {
                wsock_tls::proxy::ProxyConfig::try_from_env(request.host(), request.is_tls())
                    .map_err(Error::proxy)
            }
        }
    }
}

/// Decides on each request a server receives.
pub type RequestCallback = dyn Fn(&Request) -> Result<Accept, Rejection> + Send + Sync;

/// What `callback` decides on `request`; without a callback, accept.
pub fn decide(callback: Option<&RequestCallback>, request: &Request) -> Result<Accept, Rejection> {
    callback.map_or_else(|| Ok(Accept::new()), |callback| callback(request))
}

/// A server's options besides the per-connection ones (`A`, the adapter's
/// `Acceptor`).
#[derive(Clone)]
pub struct ServerOptions<A> {
    /// Every connection's settings.
    pub acceptor: A,
    /// Most handshakes in progress at once.
    pub max_handshakes: usize,
    /// How long a request may stay incomplete before its handshake may be
    /// ended to make room.
    pub evict_after: Duration,
    /// The listen backlog of sockets the server binds.
    pub backlog: u32,
    /// `TCP_NODELAY` on accepted connections.
    pub nodelay: bool,
    /// Decides on each request; `None` accepts all.
    pub callback: Option<Arc<RequestCallback>>,
}

/// The default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// The default bound on handshakes in progress.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;

impl<A: Default> Default for ServerOptions<A> {
    fn default() -> Self {
        Self {
            acceptor: A::default(),
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
            evict_after: wsock_core::admission::DEFAULT_EVICT_AFTER,
            backlog: DEFAULT_BACKLOG,
            nodelay: true,
            callback: None,
        }
    }
}

impl<A: fmt::Debug> fmt::Debug for ServerOptions<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("acceptor", &self.acceptor)
            .field("max_handshakes", &self.max_handshakes)
            .field("evict_after", &self.evict_after)
            .field("backlog", &self.backlog)
            .field("nodelay", &self.nodelay)
            .finish_non_exhaustive()
    }
}

/// The per-connection setters, on a builder whose field `$($field).+` is a
/// [`Settings`].
#[macro_export]
#[doc(hidden)]
macro_rules! settings_setters {
    ($($field:ident).+) => {
        /// Replaces every protocol setting (limits, buffers, keepalive,
        /// the core's timeouts) at once. The setters below change one each.
        pub fn config(mut self, config: $crate::__core::Config) -> Self {
            self.$($field).+.config = config;
            self
        }

        /// How long one `recv` (or one read of a streamed message) may
        /// wait for data before it fails with
        /// [`Timeout::Read`](crate::Timeout::Read). The connection stays
        /// usable. Default `None` (wait forever).
        pub fn read_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.$($field).+.read_timeout = timeout;
            self
        }

        /// How long a `send` or `flush` may wait for a peer that does not
        /// read without any byte going out, before it fails with
        /// [`Timeout::Write`](crate::Timeout::Write); unsent bytes stay
        /// queued. Default `None` (wait forever).
        pub fn write_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.$($field).+.write_timeout = timeout;
            self
        }

        /// How long the whole opening handshake may take. Default 10 s.
        pub fn handshake_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.$($field).+.config.handshake.timeout = timeout;
            self
        }

        /// Largest accepted frame payload (close code 1009 above it).
        /// Default 16 MiB.
        pub fn max_frame_size(mut self, bytes: usize) -> Self {
            self.$($field).+.config.max_frame_size = bytes;
            self
        }

        /// Largest accepted message (close code 1009 above it). Streamed
        /// messages are never buffered whole, so this may be raised freely
        /// for them. Default 64 MiB.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            self.$($field).+.config.max_message_size = bytes;
            self
        }

        /// Most bytes in the handshake's header block. Default 8 KiB.
        pub fn max_header_bytes(mut self, bytes: usize) -> Self {
            self.$($field).+.config.handshake.max_header_bytes = bytes;
            self
        }

        /// Most header fields in the handshake. Default 64.
        pub fn max_headers(mut self, count: usize) -> Self {
            self.$($field).+.config.handshake.max_headers = count;
            self
        }

        /// Split outgoing messages into frames of at most this many payload
        /// bytes; also the fragment size of `send_stream`. Default `None`
        /// (one frame per message).
        pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
            self.$($field).+.config.fragment_size = bytes;
            self
        }

        /// Queued output above which sending waits for the transport, so
        /// memory stays bounded against a peer that does not read.
        /// Default 64 KiB.
        pub fn write_buffer_size(mut self, bytes: usize) -> Self {
            self.$($field).+.config.write_buffer_size = bytes;
            self
        }

        /// Bytes asked of the transport per read. Default 4 KiB.
        pub fn read_buffer_size(mut self, bytes: usize) -> Self {
            self.$($field).+.config.read_buffer_size = bytes;
            self
        }

        /// permessage-deflate (RFC 7692): what a client offers, what a
        /// server accepts, how messages are compressed. On by default;
        /// `DeflateConfig::disabled()` turns it off.
        #[cfg(feature = "deflate")]
        pub fn deflate(mut self, deflate: $crate::__core::DeflateConfig) -> Self {
            self.$($field).+.config.deflate = deflate;
            self
        }

        /// Send a ping after this long without traffic from the peer.
        /// Default `None` (no keepalive). Pings go out while the connection
        /// is being read.
        pub fn keepalive_interval(mut self, interval: Option<::std::time::Duration>) -> Self {
            self.$($field).+.config.keepalive_interval = interval;
            self
        }

        /// After a keepalive ping, fail the connection
        /// ([`Timeout::Keepalive`](crate::Timeout::Keepalive)) if nothing
        /// arrives within this long. Default 30 s.
        pub fn keepalive_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$($field).+.config.keepalive_timeout = timeout;
            self
        }

        /// Answer pings with pongs automatically. Default `true`.
        pub fn auto_pong(mut self, enabled: bool) -> Self {
            self.$($field).+.config.auto_pong = enabled;
            self
        }

        /// After sending a close frame, wait this long for the peer's.
        /// Default 5 s.
        pub fn close_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.$($field).+.config.close_timeout = timeout;
            self
        }

        /// Close the connection (code 1001, then
        /// [`Timeout::Idle`](crate::Timeout::Idle)) when nothing arrives
        /// from the peer for this long. Like keepalive pings, it runs while
        /// the connection is being read. Default `None`.
        pub fn idle_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.$($field).+.config.idle_timeout = timeout;
            self
        }
    };
}

/// A client builder's setters, on a builder whose field `options` is a
/// [`ClientOptions`].
#[macro_export]
#[doc(hidden)]
macro_rules! client_setters {
    () => {
        /// Offers a subprotocol; call again to offer more, in order of
        /// preference. The server's choice is `WebSocket::protocol`.
        pub fn protocol(mut self, protocol: impl AsRef<str>) -> Self {
            self.options.edit(|r| r.protocol(protocol.as_ref()));
            self
        }

        /// Sets the `Origin` header.
        pub fn origin(mut self, origin: impl AsRef<str>) -> Self {
            self.options.edit(|r| r.origin(origin.as_ref()));
            self
        }

        /// Adds a request header (not one the handshake writes itself, such
        /// as `Host` or `Sec-WebSocket-*`).
        pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
            self.options
                .edit(|r| r.header(name.as_ref(), value.as_ref()));
            self
        }

        /// `TCP_NODELAY` on the connection (default on: frames go out at
        /// once instead of waiting to be coalesced).
        pub fn nodelay(mut self, nodelay: bool) -> Self {
            self.options.nodelay = nodelay;
            self
        }

        /// Bounds name resolution plus all connection attempts together
        /// (and a proxy's tunnel). Default 30 s; `None` leaves it to the
        /// system.
        pub fn connect_timeout(mut self, timeout: Option<::std::time::Duration>) -> Self {
            self.options.connect_timeout = timeout;
            self
        }

        /// Connects to these addresses instead of resolving the URL's host
        /// (which is still sent as `Host`), trying them as resolved
        /// addresses are tried.
        pub fn addresses(
            mut self,
            addresses: impl IntoIterator<Item = ::std::net::SocketAddr>,
        ) -> Self {
            self.options.addresses = Some(addresses.into_iter().collect());
            self
        }

        /// The TLS settings for `wss://`: trusted roots (webpki, the
        /// platform's, extra PEM), a client certificate for mutual TLS, a
        /// verification callback, the development escape hatch, or a custom
        /// `rustls::ClientConfig` (`TlsConnector::from_config`). Default:
        /// `TlsConnector::new()`, which verifies the server against the
        /// Mozilla roots of `webpki-roots`. The TLS handshake is bounded by
        /// the connector's own handshake timeout (default 10 s).
        #[cfg(feature = "tls")]
        pub fn tls_connector(mut self, connector: $crate::__tls::TlsConnector) -> Self {
            self.options.tls = Some(connector);
            self
        }

        /// Connects through an HTTP proxy with `CONNECT` (for `ws://` and
        /// `wss://`; TLS runs end to end through the tunnel), within the
        /// connect timeout. A refusal is an
        /// [`ErrorKind::Proxy`](crate::ErrorKind::Proxy) error.
        #[cfg(feature = "tls")]
        pub fn proxy(mut self, proxy: $crate::__tls::proxy::ProxyConfig) -> Self {
            self.options.proxy = $crate::options::Proxy::Explicit(proxy);
            self
        }

        /// Uses the proxy named by `HTTPS_PROXY` (`wss://`) or `HTTP_PROXY`
        /// (`ws://`), else `ALL_PROXY`, unless `NO_PROXY` matches the host
        /// (see `ProxyConfig::from_env`). Off by default: the environment
        /// is read only when asked.
        #[cfg(feature = "tls")]
        pub fn proxy_from_env(mut self) -> Self {
            self.options.proxy = $crate::options::Proxy::FromEnv;
            self
        }

        $crate::settings_setters!(options.settings);
    };
}

/// A server builder's setters, on a builder whose field `options` is a
/// [`ServerOptions`] of the adapter's `Acceptor`.
#[macro_export]
#[doc(hidden)]
macro_rules! server_setters {
    ($acceptor:ty) => {
        /// The settings every connection is accepted with (limits,
        /// timeouts).
        pub fn acceptor(mut self, acceptor: $acceptor) -> Self {
            self.options.acceptor = acceptor;
            self
        }

        /// Most opening handshakes in progress at once (default 256), TLS
        /// handshakes included. While all are taken the server stops
        /// accepting: new connections wait in the listen backlog (see
        /// [`backlog`](Self::backlog)) and are accepted as handshakes
        /// finish, so a burst of any size is served in turn. A handshake
        /// whose request is still incomplete
        /// [`evict_after`](Self::evict_after) after it was accepted (a
        /// client that dribbles its request, slowloris) is ended to make
        /// room when a connection waits; one whose request has arrived
        /// never is. Each handshake is also bounded by the acceptor's
        /// handshake timeout. See `wsock_core::admission`.
        pub fn max_handshakes(mut self, n: usize) -> Self {
            self.options.max_handshakes = n.max(1);
            self
        }

        /// How long a handshake's request may stay incomplete before the
        /// handshake may be ended to make room for a waiting connection
        /// (default 2 s; see [`max_handshakes`](Self::max_handshakes)).
        pub fn evict_after(mut self, after: ::std::time::Duration) -> Self {
            self.options.evict_after = after;
            self
        }

        /// The listen backlog of the sockets `bind` and `bind_tls` create
        /// (default 1024): how many connections the kernel queues while
        /// the server is not accepting. The kernel caps it (Linux:
        /// `net.core.somaxconn`). A listener given to `serve` keeps the
        /// backlog it was created with.
        pub fn backlog(mut self, backlog: u32) -> Self {
            self.options.backlog = backlog.max(1);
            self
        }

        /// `TCP_NODELAY` on accepted connections (default on).
        pub fn nodelay(mut self, nodelay: bool) -> Self {
            self.options.nodelay = nodelay;
            self
        }

        /// Decides on each request, as `Acceptor::accept_with` does.
        /// Default: accept everything.
        pub fn on_request<F>(mut self, callback: F) -> Self
        where
            F: Fn(
                    &$crate::__core::handshake::server::Request,
                ) -> Result<
                    $crate::__core::handshake::server::Accept,
                    $crate::__core::handshake::server::Rejection,
                > + Send
                + Sync
                + 'static,
        {
            self.options.callback = Some(::std::sync::Arc::new(callback));
            self
        }
    };
}
