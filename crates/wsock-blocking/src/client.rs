//! The client: resolve, connect, handshake.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wsock_core::HandshakeError;
use wsock_core::handshake::client::{ClientHandshake, ClientRequest, IntoClientRequest};

use crate::engine::{Handshake, Shared, read_by, write_all_by};
use crate::settings::{Settings, settings_setters};
use crate::transport::{MaybeTlsStream, Transport};
use crate::websocket::WebSocket;
use crate::{ConnectAttempt, Error, ErrorKind};

/// The least time an address gets when the connect timeout is shared among
/// several (as Go's dialer does), so one slow address does not starve the
/// others of all but a sliver.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// Everything set before a client connects.
///
/// ```
/// use std::time::Duration;
/// # let server = wsock_blocking::Server::builder()
/// #     .on_request(|_| Ok(wsock_blocking::Accept::new().protocol("chat")))
/// #     .bind("127.0.0.1:0", |mut ws| { let _ = ws.recv(); })?;
/// # let url = format!("ws://{}/chat", server.local_addr());
/// // url: "ws://127.0.0.1:9001/chat" or similar
/// let mut ws = wsock_blocking::ClientBuilder::new(&url)
///     .protocol("chat")
///     .header("Authorization", "Bearer t0ken")
///     .connect_timeout(Some(Duration::from_secs(5)))
///     .read_timeout(Some(Duration::from_secs(30)))
///     .keepalive_interval(Some(Duration::from_secs(20)))
///     .max_message_size(1 << 20)
///     .connect()?;
/// assert_eq!(ws.protocol(), Some("chat"));
/// ws.send("hello")?;
/// # Ok::<(), wsock_blocking::Error>(())
/// ```
///
/// Invalid input (a bad URL, header or subprotocol) is reported by
/// [`connect`](Self::connect) and [`handshake`](Self::handshake). A builder can
/// be kept and used for every reconnection.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    request: Result<ClientRequest, Deferred>,
    settings: Settings,
    nodelay: bool,
    connect_timeout: Option<Duration>,
    addresses: Option<Vec<SocketAddr>>,
    #[cfg(feature = "tls")]
    tls: Option<wsock_tls::TlsConnector>,
    #[cfg(feature = "tls")]
    proxy: Proxy,
}

/// Where the proxy setting comes from.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
enum Proxy {
    None,
    Explicit(wsock_tls::proxy::ProxyConfig),
    FromEnv,
}

/// The default TLS connector (webpki roots), built once.
#[cfg(feature = "tls")]
fn default_connector() -> wsock_tls::TlsConnector {
    static CONNECTOR: std::sync::LazyLock<wsock_tls::TlsConnector> =
        std::sync::LazyLock::new(wsock_tls::TlsConnector::new);
    CONNECTOR.clone()
}

/// A deferred builder error (cloneable, unlike [`Error`]).
#[derive(Debug, Clone)]
struct Deferred(HandshakeError);

impl ClientBuilder {
    /// A client for `request`: a URL (`ws://host[:port]/path?query`), an
    /// `http::Request<()>` or `http::Uri`, or a [`ClientRequest`] (see
    /// [`IntoClientRequest`]), with the defaults: no-delay on, a 30 s
    /// connect timeout, a 10 s handshake timeout, no read or write timeout,
    /// the core's default limits.
    pub fn new(request: impl IntoClientRequest) -> Self {
        Self::with_request(request.into_client_request().map_err(Deferred))
    }

    /// A client for a request built with [`ClientRequest`]'s own builder.
    pub fn from_request(request: ClientRequest) -> Self {
        Self::with_request(Ok(request))
    }

    fn with_request(request: Result<ClientRequest, Deferred>) -> Self {
        Self {
            request,
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

    fn edit(
        mut self,
        f: impl FnOnce(ClientRequest) -> Result<ClientRequest, HandshakeError>,
    ) -> Self {
        self.request = self.request.and_then(|r| f(r).map_err(Deferred));
        self
    }

    /// Offers a subprotocol, in order of preference (call once per
    /// protocol). [`WebSocket::protocol`] says which one the server chose.
    pub fn protocol(self, protocol: &str) -> Self {
        self.edit(|r| r.protocol(protocol))
    }

    /// Adds a request header (not one the handshake writes itself).
    pub fn header(self, name: &str, value: &str) -> Self {
        self.edit(|r| r.header(name, value))
    }

    /// Sets the `Origin` header.
    pub fn origin(self, origin: &str) -> Self {
        self.edit(|r| r.origin(origin))
    }

    /// Sets `TCP_NODELAY` on the connection (default on: frames go out at
    /// once instead of waiting to be coalesced).
    pub fn nodelay(mut self, nodelay: bool) -> Self {
        self.nodelay = nodelay;
        self
    }

    /// Bounds name resolution plus all connection attempts together.
    /// Several addresses share it (each gets at least 2 s of what is
    /// left). Default 30 s; `None` leaves it to the system.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects to these addresses, in order, instead of resolving the
    /// URL's host (which is still sent as `Host`).
    pub fn addresses(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.addresses = Some(addrs.into_iter().collect());
        self
    }

    /// The TLS settings for `wss://`: trusted roots (webpki, the
    /// platform's, extra PEM), a client certificate for mutual TLS, a
    /// verification callback, the development escape hatch, or a custom
    /// `rustls::ClientConfig` (`TlsConnector::from_config`). Default:
    /// [`TlsConnector::new`](wsock_tls::TlsConnector::new), which verifies
    /// the server against the Mozilla roots of `webpki-roots`.
    ///
    /// ```no_run
    /// use wsock_blocking::tls::{ClientTlsConfig, Pem};
    ///
    /// let connector = ClientTlsConfig::new()
    ///     .add_root_certificates(Pem::file("corp-ca.pem"))
    ///     .client_certificate(Pem::file("me.pem"), Pem::file("me.key"))
    ///     .build()?;
    /// let mut ws = wsock_blocking::ClientBuilder::new("wss://internal.example/feed")
    ///     .tls_connector(connector)
    ///     .connect()?;
    /// println!("{:?}", ws.tls_info().and_then(|i| i.protocol_version));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The TLS handshake is bounded by the connector's own handshake
    /// timeout (default 10 s).
    #[cfg(feature = "tls")]
    pub fn tls_connector(mut self, connector: wsock_tls::TlsConnector) -> Self {
        self.tls = Some(connector);
        self
    }

    /// Connects through an HTTP proxy with `CONNECT` (for `ws://` and
    /// `wss://`; TLS runs end to end through the tunnel). A refusal is an
    /// [`ErrorKind::Proxy`] error.
    #[cfg(feature = "tls")]
    pub fn proxy(mut self, proxy: wsock_tls::proxy::ProxyConfig) -> Self {
        self.proxy = Proxy::Explicit(proxy);
        self
    }

    /// Uses the proxy named by `HTTPS_PROXY` (`wss://`) or `HTTP_PROXY`
    /// (`ws://`), else `ALL_PROXY`, unless `NO_PROXY` matches the host
    /// (see `wsock_tls::proxy::ProxyConfig::from_env`). Off by default:
    /// the environment is read only when asked.
    #[cfg(feature = "tls")]
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = Proxy::FromEnv;
        self
    }

    settings_setters!(settings);

    fn request(&self) -> Result<ClientRequest, Error> {
        self.request
            .clone()
            .map_err(|e| Error::invalid_request(e.0))
    }

    /// Connects: resolves the host, tries each address in turn within the
    /// connect timeout, and runs the opening handshake.
    ///
    /// Fails with [`ErrorKind::Dns`], [`ErrorKind::Connect`],
    /// or [`ErrorKind::Timeout`] (with every
    /// address tried in [`Error::connect_attempts`]), [`ErrorKind::Proxy`],
    /// [`ErrorKind::Tls`] for `wss://` (a rejected certificate, a TLS
    /// handshake timeout; without the `tls` feature, always), or
    /// [`ErrorKind::Handshake`].
    pub fn connect(&self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let request = self.request()?;
        #[cfg(not(feature = "tls"))]
        if request.is_tls() {
            return Err(Error::message(
                ErrorKind::Tls,
                "TLS support not enabled: wss:// needs the `tls` feature, or a TLS \
                 transport (connect with `connect_tcp`, wrap the stream in TLS, then call \
                 `client`)",
            ));
        }
        let tcp = self.tcp(&request)?;
        #[cfg(feature = "tls")]
        if request.is_tls() {
            let connector = self.tls.clone().unwrap_or_else(default_connector);
            let peer = tcp.peer_addr().ok();
            let tls = connector
                .connect_blocking_timeout(request.host(), tcp)
                .map_err(Error::tls)
                .inspect_err(|e| {
                    let span = crate::diag::connection_span(wsock_core::Role::Client);
                    if let Some(peer) = peer {
                        crate::diag::record_peer(&span, peer);
                    }
                    crate::diag::handshake_failed(&span, e);
                })?;
            return self.handshake(MaybeTlsStream::Tls(Box::new(tls)));
        }
        self.handshake(MaybeTlsStream::Plain(tcp))
    }

    /// Only the TCP part of [`connect`](Self::connect): resolution and
    /// connection attempts (or the proxy tunnel), with no-delay applied. For
    /// layering your own TLS before [`handshake`](Self::handshake).
    pub fn connect_tcp(&self) -> Result<TcpStream, Error> {
        self.tcp(&self.request()?)
    }

    fn tcp(&self, request: &ClientRequest) -> Result<TcpStream, Error> {
        #[cfg(feature = "tls")]
        if let Some(proxy) = self.proxy_for(request)? {
            let tcp = proxy
                .tunnel_blocking(request.host(), request.port(), self.connect_timeout)
                .map_err(Error::proxy)?;
            tcp.set_nodelay(self.nodelay).map_err(Error::io)?;
            return Ok(tcp);
        }
        let deadline = self.connect_timeout.map(|t| Instant::now() + t);
        let (host, port) = (request.host(), request.port());
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addrs = match &self.addresses {
            Some(addrs) => addrs.clone(),
            None => resolve(host, port, deadline)?,
        };
        let stream = connect_any(&target, &addrs, deadline)?;
        stream.set_nodelay(self.nodelay).map_err(Error::io)?;
        Ok(stream)
    }

    #[cfg(feature = "tls")]
    fn proxy_for(
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

    /// Runs the opening handshake over an already connected stream (TCP,
    /// TLS, a Unix socket, an in-memory pipe, …), bounded by the handshake
    /// timeout.
    pub fn handshake<S: Transport>(&self, stream: S) -> Result<WebSocket<S>, Error> {
        client_handshake(stream, &self.request()?, &self.settings)
    }
}

/// Resolves `host` (an IP address needs no lookup). A lookup bounded by a
/// deadline runs on a helper thread, since the system resolver cannot be
/// interrupted.
fn resolve(host: &str, port: u16, deadline: Option<Instant>) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = {
        let host = host.to_owned();
        move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>)
        }
    };
    let result = match deadline {
        None => lookup(),
        Some(deadline) => {
            let (tx, rx) = mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("wsock-resolve".into())
                .spawn(move || {
                    let _ = tx.send(lookup());
                });
            if spawned.is_err() {
                return Err(Error::message(
                    ErrorKind::Io,
                    "could not start a thread for name resolution",
                ));
            }
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(result) => result,
                Err(_) => {
                    return Err(Error::message(
                        ErrorKind::Dns,
                        "name resolution did not finish within the connect timeout",
                    ));
                }
            }
        }
    };
    match result {
        Ok(addrs) if addrs.is_empty() => Err(Error::message(
            ErrorKind::Dns,
            "the host name resolved to no address",
        )),
        Ok(addrs) => Ok(addrs),
        Err(e) => Err(Error::dns(host, e)),
    }
}

/// Tries each address in turn; each attempt gets a share of the time left.
fn connect_any(
    target: &str,
    addrs: &[SocketAddr],
    deadline: Option<Instant>,
) -> Result<TcpStream, Error> {
    let mut attempts = Vec::with_capacity(addrs.len());
    for (i, addr) in addrs.iter().enumerate() {
        let left = addrs.len() - i;
        let timeout = match deadline {
            None => None,
            Some(deadline) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(Error::connect(target, attempts, left));
                }
                let share = remaining / u32::try_from(left).unwrap_or(u32::MAX);
                Some(if share < MIN_ATTEMPT {
                    remaining.min(MIN_ATTEMPT)
                } else {
                    share
                })
            }
        };
        let result = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(stream) => return Ok(stream),
            Err(e) => attempts.push(ConnectAttempt::new(*addr, e)),
        }
    }
    Err(Error::connect(target, attempts, 0))
}

/// The client's opening handshake over `io`, reported in a new span.
pub(crate) fn client_handshake<S: Transport>(
    io: S,
    request: &ClientRequest,
    settings: &Settings,
) -> Result<WebSocket<S>, Error> {
    let span = crate::diag::connection_span(wsock_core::Role::Client);
    if let Ok(peer) = io.peer_addr() {
        crate::diag::record_peer(&span, peer);
    }
    let result = opening_handshake(io, request, settings, &span);
    if let Err(e) = &result {
        crate::diag::handshake_failed(&span, e);
    }
    result
}

/// The client's opening handshake over `io`, within the handshake timeout.
fn opening_handshake<S: Transport>(
    mut io: S,
    request: &ClientRequest,
    settings: &Settings,
    span: &crate::diag::Span,
) -> Result<WebSocket<S>, Error> {
    if !request.extensions().is_empty() {
        return Err(Error::message(
            ErrorKind::InvalidInput,
            "only the extensions Config negotiates (permessage-deflate) are supported",
        ));
    }
    let config = &settings.config;
    let deadline = config.handshake.timeout.map(|t| Instant::now() + t);
    let mut handshake = ClientHandshake::new(request, config);
    write_all_by(
        &mut io,
        handshake.request_bytes(),
        deadline,
        "opening handshake timed out",
    )?;
    let mut buf = vec![0; 4096];
    loop {
        let n = read_by(&mut io, &mut buf, deadline, "opening handshake timed out")?;
        if n == 0 {
            return Err(Error::handshake(HandshakeError::UnexpectedEof));
        }
        if let Some(connected) = handshake.feed(&buf[..n]).map_err(Error::handshake)? {
            // Subprotocol, extensions and the frames that came with the
            // response are already in the connection.
            let conn = connected.connection;
            crate::diag::handshake_done(span, conn.protocol(), conn.extensions());
            let handshake = Handshake::Client(connected.response);
            let shared = Shared::new(conn, settings, handshake, span.clone()).with_tls_info_of(&io);
            return Ok(WebSocket::new(shared, io, settings));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn every_address_is_tried_and_listed() {
        // A port with nothing listening, on both loopbacks.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addrs: Vec<SocketAddr> = vec![
            format!("[::1]:{port}").parse().unwrap(),
            format!("127.0.0.1:{port}").parse().unwrap(),
        ];
        let err = connect_any(
            &format!("localhost:{port}"),
            &addrs,
            Some(Instant::now() + Duration::from_secs(5)),
        )
        .unwrap_err();
        let tried: Vec<SocketAddr> = err
            .connect_attempts()
            .iter()
            .map(ConnectAttempt::addr)
            .collect();
        assert_eq!(tried, addrs);
        assert_eq!(
            err.connect_attempts()[1].error().kind(),
            std::io::ErrorKind::ConnectionRefused
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("[::1]:{port}")) && text.contains(&format!("127.0.0.1:{port}")),
            "{text}"
        );
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        assert_eq!(
            resolve("::1", 80, None).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1", 81, None).unwrap(),
            vec!["127.0.0.1:81".parse().unwrap()]
        );
    }

    #[test]
    fn unknown_host_is_a_dns_error() {
        let err = resolve(
            "no-such-host.invalid",
            80,
            Some(Instant::now() + Duration::from_secs(10)),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Dns, "{err}");
    }

    #[test]
    fn builder_errors_are_deferred() {
        let err = ClientBuilder::new("ws://example.com/")
            .header("Upgrade", "x")
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = ClientBuilder::new("ftp://example.com/")
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err}");
        #[cfg(not(feature = "tls"))]
        {
            let err = ClientBuilder::new("wss://127.0.0.1:1/")
                .connect()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(err.to_string().contains("TLS support not enabled"), "{err}");
        }
    }
}
