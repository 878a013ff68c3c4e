//! The client: resolve, connect, handshake.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Instant;

use wsock_core::HandshakeError;
use wsock_core::handshake::client::{ClientHandshake, ClientRequest, IntoClientRequest};

use crate::engine::{Handshake, Shared, read_by, write_all_by};
use crate::transport::{MaybeTlsStream, Transport};
use crate::websocket::WebSocket;
use crate::{ConnectAttempt, Error, ErrorKind};
use wsock_io::connect::{attempt_timeout, interleave, target};
use wsock_io::options::ClientOptions;
use wsock_io::options::Settings;

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
    options: ClientOptions,
}

impl ClientBuilder {
    /// A client for `request`: a URL (`ws://host[:port]/path?query`), an
    /// `http::Request<()>` or `http::Uri`, or a [`ClientRequest`] (see
    /// [`IntoClientRequest`]), with the defaults: no-delay on, a 30 s
    /// connect timeout, a 10 s handshake timeout, no read or write timeout,
    /// the core's default limits.
    pub fn new(request: impl IntoClientRequest) -> Self {
        Self {
            options: ClientOptions::new(request),
        }
    }

    wsock_io::client_setters!();

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
        let request = self.options.request()?;
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
            let connector = self.options.tls_connector();
            let peer = tcp.peer_addr().ok();
            let tls = connector
                .connect_blocking_timeout(request.host(), tcp)
                .map_err(Error::tls)
                .inspect_err(|e| {
                    let span = crate::diag::peer_span(wsock_core::Role::Client, peer);
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
        self.tcp(&self.options.request()?)
    }

    fn tcp(&self, request: &ClientRequest) -> Result<TcpStream, Error> {
        #[cfg(feature = "tls")]
        if let Some(proxy) = self.options.proxy_for(request)? {
            let tcp = proxy
                .tunnel_blocking(request.host(), request.port(), self.options.connect_timeout)
                .map_err(Error::proxy)?;
            tcp.set_nodelay(self.options.nodelay).map_err(Error::io)?;
            return Ok(tcp);
        }
        let deadline = self.options.connect_timeout.map(|t| Instant::now() + t);
        let (host, port) = (request.host(), request.port());
        let addrs = match &self.options.addresses {
            Some(addrs) => addrs.clone(),
            None => resolve(host, port, deadline)?,
        };
        let stream = connect_any(&target(host, port), &interleave(addrs), deadline)?;
        stream
            .set_nodelay(self.options.nodelay)
            .map_err(Error::io)?;
        Ok(stream)
    }

    /// Runs the opening handshake over an already connected stream (TCP,
    /// TLS, a Unix socket, an in-memory pipe, …), bounded by the handshake
    /// timeout.
    pub fn handshake<S: Transport>(&self, stream: S) -> Result<WebSocket<S>, Error> {
        client_handshake(stream, &self.options.request()?, &self.options.settings)
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
                Some(attempt_timeout(remaining, left))
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
    let span = crate::diag::peer_span(wsock_core::Role::Client, io.peer_addr().ok());
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
            let handshake = Handshake::Client(Box::new(connected.response));
            let shared = Shared::new(conn, settings, handshake, span.clone()).with_tls_info_of(&io);
            return Ok(WebSocket::new(shared, io, settings));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

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
