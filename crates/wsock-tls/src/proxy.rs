//! HTTP `CONNECT` proxies, for `ws://` and `wss://` alike.
//!
//! Connect a TCP stream to the proxy ([`ProxyConfig::host`],
//! [`ProxyConfig::port`]), open the tunnel with [`connect_via_proxy_blocking`]
//! (or `connect_via_proxy_async`), then use the stream as if it were
//! connected to the target: run the TLS handshake over it for `wss://`
//! (with the *target* host name), then the WebSocket handshake.
//!
//! ```no_run
//! use std::net::TcpStream;
//! use wsock_tls::proxy::{ProxyConfig, connect_via_proxy_blocking};
//!
//! let (host, port) = ("example.com", 443);
//! if let Some(proxy) = ProxyConfig::from_env(host, true) {
//!     let mut tcp = TcpStream::connect((proxy.host(), proxy.port()))?;
//!     connect_via_proxy_blocking(&mut tcp, host, port, proxy.credentials())?;
//!     // `tcp` now reaches example.com:443.
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The proxy's response is read byte by byte up to the end of its header
//! block, so no byte of the tunnelled stream is consumed.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;

/// Maximum size of the proxy's response header block.
pub const MAX_RESPONSE_HEADER_BYTES: usize = 8 * 1024;
const MAX_RESPONSE_HEADERS: usize = 64;
const MAX_INTERIM_RESPONSES: usize = 8;

/// Credentials for `Proxy-Authorization: Basic`. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyCredentials {
    username: String,
    password: String,
}

impl ProxyCredentials {
    /// A user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The `Proxy-Authorization` header value: `Basic base64(user:password)`.
    pub fn basic_authorization(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// An HTTP proxy: `http://[user:password@]host[:port]` (port default 80).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    host: String,
    port: u16,
    credentials: Option<ProxyCredentials>,
}

impl ProxyConfig {
    /// A proxy at `host:port` without credentials. `host` may be a name or
    /// an IP address (IPv6 with or without brackets).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(bare) => bare.to_owned(),
            None => host,
        };
        Self {
            host,
            port,
            credentials: None,
        }
    }

    /// Authenticates to the proxy with Basic credentials.
    pub fn with_credentials(mut self, credentials: ProxyCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Parses `http://[user:password@]host[:port][/]`. A missing scheme
    /// means `http`; other schemes (`https`, `socks5`, …) are refused with
    /// [`ProxyError::UnsupportedScheme`]. User name and password are
    /// percent-decoded.
    pub fn parse(url: &str) -> Result<Self, ProxyError> {
        let invalid = |why: &str| ProxyError::InvalidUrl(format!("{url:?}: {why}"));
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) => {
                if !scheme.eq_ignore_ascii_case("http") {
                    return Err(ProxyError::UnsupportedScheme(scheme.to_owned()));
                }
                rest
            }
            None => url,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '['"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| invalid("junk after ']'"))?,
                    ),
                ),
            }
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(port) => port.parse().map_err(|_| invalid("bad port"))?,
        };
        let mut config = Self::new(host, port);
        if let Some(userinfo) = userinfo {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user = percent_decode(user).ok_or_else(|| invalid("bad user name encoding"))?;
            let password =
                percent_decode(password).ok_or_else(|| invalid("bad password encoding"))?;
            config.credentials = Some(ProxyCredentials::new(user, password));
        }
        Ok(config)
    }

    /// The proxy to use for `target_host` according to the environment, if
    /// any — only call this if the user opted in to environment proxies.
    ///
    /// Reads `https_proxy`/`HTTPS_PROXY` (for `wss://`, `is_tls`) or
    /// `http_proxy`/`HTTP_PROXY` (for `ws://`), falling back to
    /// `all_proxy`/`ALL_PROXY` (lower case first, empty values ignored), and
    /// returns `None` if `no_proxy`/`NO_PROXY` matches the host (see
    /// [`no_proxy_matches`]). An unusable value (a `socks5://` proxy, a
    /// malformed URL) is ignored; use [`try_from_env`](Self::try_from_env)
    /// to see it.
    pub fn from_env(target_host: &str, is_tls: bool) -> Option<Self> {
        Self::try_from_env(target_host, is_tls).ok().flatten()
    }

    /// [`from_env`](Self::from_env), reporting an unusable proxy setting.
    pub fn try_from_env(target_host: &str, is_tls: bool) -> Result<Option<Self>, ProxyError> {
        Self::from_lookup(|name| std::env::var(name).ok(), target_host, is_tls)
    }

    /// [`try_from_env`](Self::try_from_env) with variables read from
    /// `lookup` instead of the process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        target_host: &str,
        is_tls: bool,
    ) -> Result<Option<Self>, ProxyError> {
        let first = |names: &[&str]| {
            names
                .iter()
                .filter_map(|name| lookup(name))
                .map(|value| value.trim().to_owned())
                .find(|value| !value.is_empty())
        };
        let names: &[&str] = if is_tls {
            &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        } else {
            &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        };
        let Some(url) = first(names) else {
            return Ok(None);
        };
        if let Some(no_proxy) = first(&["no_proxy", "NO_PROXY"])
            && no_proxy_matches(&no_proxy, target_host)
        {
            return Ok(None);
        }
        Self::parse(&url).map(Some)
    }

    /// The proxy's host (IPv6 without brackets): connect to
    /// `(host(), port())`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&ProxyCredentials> {
        self.credentials.as_ref()
    }

    /// Connects to the proxy and opens a tunnel to
    /// `target_host:target_port`: the returned stream reaches the target.
    ///
    /// `timeout` bounds each connection attempt (every address the proxy's
    /// name resolves to is tried in turn) and each read and write of the
    /// `CONNECT` exchange; the stream is returned with no read or write
    /// timeout set.
    pub fn tunnel_blocking(
        &self,
        target_host: &str,
        target_port: u16,
        timeout: Option<Duration>,
    ) -> Result<TcpStream, ProxyError> {
        let mut last_error = None;
        let mut stream = None;
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            let attempt = match timeout {
                Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(ProxyError::from_io(last_error.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("proxy host {:?} resolved to no address", self.host),
                )
            })));
        };
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        connect_via_proxy_blocking(&mut stream, target_host, target_port, self.credentials())?;
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        Ok(stream)
    }

    /// The async twin of [`tunnel_blocking`](Self::tunnel_blocking), without
    /// a timeout of its own (wrap it in `tokio::time::timeout`).
    #[cfg(feature = "tokio")]
    pub async fn tunnel_async(
        &self,
        target_host: &str,
        target_port: u16,
    ) -> Result<tokio::net::TcpStream, ProxyError> {
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(ProxyError::from_io)?;
        connect_via_proxy_async(&mut stream, target_host, target_port, self.credentials()).await?;
        Ok(stream)
    }
}

impl FromStr for ProxyConfig {
    type Err = ProxyError;

    fn from_str(url: &str) -> Result<Self, ProxyError> {
        Self::parse(url)
    }
}

/// Whether `host` is excluded by a `NO_PROXY` value: a comma-separated list
/// of `*` (everything), host names (`example.com` also matches its
/// subdomains; a leading `.` or `*.` is ignored), IP addresses, and CIDR
/// blocks (`10.0.0.0/8`, `fd00::/8`). Case-insensitive; ports in entries and
/// brackets around IPv6 addresses are ignored.
pub fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = bare_host(host).trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        if let Some((net, bits)) = entry.split_once('/') {
            if let (Ok(net), Ok(bits), Some(ip)) = (
                bare_host(net).parse::<IpAddr>(),
                bits.parse::<u8>(),
                host_ip,
            ) && in_cidr(ip, net, bits)
            {
                return true;
            }
            continue;
        }
        let entry = strip_port(&entry);
        if let Ok(ip) = entry.parse::<IpAddr>() {
            if host_ip == Some(ip) {
                return true;
            }
            continue;
        }
        let domain = entry
            .trim_start_matches('*')
            .trim_start_matches('.')
            .trim_end_matches('.');
        if domain.is_empty() {
            continue;
        }
        if host == domain
            || (host.len() > domain.len()
                && host.ends_with(domain)
                && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
        {
            return true;
        }
    }
    false
}

fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host:port`, `[v6]:port`, `[v6]` → host; a bare IPv6 address is kept.
fn strip_port(entry: &str) -> &str {
    if let Some(bracketed) = entry.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => host,
        _ => entry,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a `CONNECT` tunnel could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// 407: the proxy wants (other) credentials.
    #[error("proxy authentication required ({status}{})", challenge.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    AuthenticationRequired {
        /// The status code (407).
        status: u16,
        /// The `Proxy-Authenticate` challenge, if sent.
        challenge: Option<String>,
    },
    /// 403: the proxy refuses to connect to this target.
    #[error("proxy refused the tunnel: {status} {reason}")]
    Forbidden {
        /// The status code (403).
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// 502: the proxy could not reach the target.
    #[error("proxy could not reach the target: {status} {reason}")]
    BadGateway {
        /// The status code (502).
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// 504: the proxy timed out reaching the target.
    #[error("proxy timed out reaching the target: {status} {reason}")]
    GatewayTimeout {
        /// The status code (504).
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// Any other non-2xx status.
    #[error("proxy answered CONNECT with {status} {reason}")]
    Rejected {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The proxy's response is not valid HTTP.
    #[error("invalid response from proxy: {0}")]
    InvalidResponse(String),
    /// The proxy's response header block exceeds
    /// [`MAX_RESPONSE_HEADER_BYTES`].
    #[error("proxy response headers exceed {MAX_RESPONSE_HEADER_BYTES} bytes")]
    ResponseTooLarge,
    /// The proxy closed the connection before answering.
    #[error("proxy closed the connection before answering CONNECT")]
    Closed,
    /// Reading or writing timed out (the stream's own timeout fired).
    #[error("proxy did not answer in time")]
    Timeout,
    /// The transport failed.
    #[error("I/O error talking to the proxy: {0}")]
    Io(#[from] io::Error),
    /// The target host cannot be put in a request line.
    #[error("invalid target host {0:?}")]
    InvalidTarget(String),
    /// The proxy URL is malformed.
    #[error("invalid proxy URL {0}")]
    InvalidUrl(String),
    /// The proxy URL's scheme is not `http`.
    #[error("unsupported proxy scheme {0:?} (only http:// proxies are supported)")]
    UnsupportedScheme(String),
}

impl ProxyError {
    /// The proxy's HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::AuthenticationRequired { status, .. }
            | Self::Forbidden { status, .. }
            | Self::BadGateway { status, .. }
            | Self::GatewayTimeout { status, .. }
            | Self::Rejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_io(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Self::Timeout,
            io::ErrorKind::UnexpectedEof => Self::Closed,
            _ => Self::Io(error),
        }
    }
}

impl From<ProxyError> for io::Error {
    fn from(error: ProxyError) -> Self {
        match error {
            ProxyError::Io(e) => e,
            ProxyError::Timeout => io::Error::new(io::ErrorKind::TimedOut, error),
            ProxyError::Closed => io::Error::new(io::ErrorKind::UnexpectedEof, error),
            ProxyError::InvalidTarget(_)
            | ProxyError::InvalidUrl(_)
            | ProxyError::UnsupportedScheme(_) => {
                io::Error::new(io::ErrorKind::InvalidInput, error)
            }
            ProxyError::InvalidResponse(_) | ProxyError::ResponseTooLarge => {
                io::Error::new(io::ErrorKind::InvalidData, error)
            }
            ProxyError::AuthenticationRequired { .. } | ProxyError::Forbidden { .. } => {
                io::Error::new(io::ErrorKind::PermissionDenied, error)
            }
            _ => io::Error::new(io::ErrorKind::ConnectionRefused, error),
        }
    }
}

/// The `CONNECT` request for `host:port`.
fn connect_request(
    target_host: &str,
    target_port: u16,
    credentials: Option<&ProxyCredentials>,
) -> Result<String, ProxyError> {
    let bare = bare_host(target_host);
    if bare.is_empty()
        || bare
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"/@[]?#".contains(&b))
    {
        return Err(ProxyError::InvalidTarget(target_host.to_owned()));
    }
    let authority = if bare.contains(':') {
        format!("[{bare}]:{target_port}")
    } else {
        format!("{bare}:{target_port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(credentials) = credentials {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&credentials.basic_authorization());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    Ok(request)
}

/// Accumulates the response byte by byte; parses once a header block ends.
struct ResponseReader {
    buf: Vec<u8>,
    interim: usize,
}

impl ResponseReader {
    fn new() -> Self {
        Self {
            buf: Vec::with_capacity(256),
            interim: 0,
        }
    }

    /// `Some(result)` once a final response has been read.
    fn push(&mut self, byte: u8) -> Option<Result<(), ProxyError>> {
        self.buf.push(byte);
        if !(self.buf.ends_with(b"\r\n\r\n") || self.buf.ends_with(b"\n\n")) {
            return (self.buf.len() >= MAX_RESPONSE_HEADER_BYTES)
                .then_some(Err(ProxyError::ResponseTooLarge));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&self.buf) {
            Ok(httparse::Status::Partial) => None,
            Err(e) => Some(Err(ProxyError::InvalidResponse(e.to_string()))),
            Ok(httparse::Status::Complete(_)) => {
                let status = response.code.unwrap_or_default();
                let reason = response.reason.unwrap_or_default().to_owned();
                match status {
                    100..=199 => {
                        self.interim += 1;
                        if self.interim > MAX_INTERIM_RESPONSES {
                            return Some(Err(ProxyError::InvalidResponse(
                                "too many interim responses".to_owned(),
                            )));
                        }
                        self.buf.clear();
                        None
                    }
                    200..=299 => Some(Ok(())),
                    407 => {
                        let challenge = response
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("proxy-authenticate"))
                            .and_then(|h| std::str::from_utf8(h.value).ok())
                            .map(str::to_owned);
                        Some(Err(ProxyError::AuthenticationRequired {
                            status,
                            challenge,
                        }))
                    }
                    403 => Some(Err(ProxyError::Forbidden { status, reason })),
                    502 => Some(Err(ProxyError::BadGateway { status, reason })),
                    504 => Some(Err(ProxyError::GatewayTimeout { status, reason })),
                    _ => Some(Err(ProxyError::Rejected { status, reason })),
                }
            }
        }
    }
}

/// Opens a `CONNECT` tunnel to `target_host:target_port` over `stream`,
/// which is connected to the proxy. On success the stream carries the
/// target's bytes; nothing past the proxy's header block has been read.
///
/// `target_host` may be a name or an IP address (IPv6 with or without
/// brackets). No timeout of its own: set the stream's read timeout
/// (its firing becomes [`ProxyError::Timeout`]).
pub fn connect_via_proxy_blocking<S: Read + Write + ?Sized>(
    stream: &mut S,
    target_host: &str,
    target_port: u16,
    credentials: Option<&ProxyCredentials>,
) -> Result<(), ProxyError> {
    let request = connect_request(target_host, target_port, credentials)?;
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(ProxyError::from_io)?;
    let mut reader = ResponseReader::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(_) => {
                if let Some(result) = reader.push(byte[0]) {
                    return result;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ProxyError::from_io(e)),
        }
    }
}

/// The async twin of [`connect_via_proxy_blocking`]. No timeout of its own:
/// wrap it in `tokio::time::timeout`.
#[cfg(feature = "tokio")]
pub async fn connect_via_proxy_async<S>(
    stream: &mut S,
    target_host: &str,
    target_port: u16,
    credentials: Option<&ProxyCredentials>,
) -> Result<(), ProxyError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + ?Sized,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let request = connect_request(target_host, target_port, credentials)?;
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(ProxyError::from_io)?;
    stream.flush().await.map_err(ProxyError::from_io)?;
    let mut reader = ResponseReader::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte).await {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(_) => {
                if let Some(result) = reader.push(byte[0]) {
                    return result;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ProxyError::from_io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn parses_proxy_urls() {
        let p = ProxyConfig::parse("http://user:p%40ss@proxy.example:3128/").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.example", 3128));
        let creds = p.credentials().unwrap();
        assert_eq!((creds.username(), creds.password()), ("user", "p@ss"));
        assert!(!format!("{creds:?}").contains("p@ss"));

        let p = ProxyConfig::parse("proxy.example").unwrap();
        assert_eq!(
            (p.host(), p.port(), p.credentials()),
            ("proxy.example", 80, None)
        );
        let p = ProxyConfig::parse("HTTP://[::1]:8080").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 8080));
        let p = ProxyConfig::parse("http://[::1]").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 80));

        assert!(matches!(
            ProxyConfig::parse("socks5://proxy:1080"),
            Err(ProxyError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            ProxyConfig::parse("https://proxy:443"),
            Err(ProxyError::UnsupportedScheme(_))
        ));
        for bad in [
            "http://",
            "http://proxy:notaport",
            "http://[::1",
            "http://:80",
        ] {
            assert!(
                matches!(ProxyConfig::parse(bad), Err(ProxyError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn basic_authorization() {
        // RFC 7617's example.
        let creds = ProxyCredentials::new("Aladdin", "open sesame");
        assert_eq!(
            creds.basic_authorization(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn no_proxy_rules() {
        let list = " localhost, .internal.example ,10.0.0.0/8, ::1, example.org:8080, *.corp ";
        for host in [
            "localhost",
            "LOCALHOST",
            "a.internal.example",
            "internal.example",
            "10.1.2.3",
            "[::1]",
            "::1",
            "example.org",
            "www.example.org",
            "x.corp",
            "localhost.",
        ] {
            assert!(no_proxy_matches(list, host), "{host} should bypass");
        }
        for host in [
            "example.com",
            "notlocalhost",
            "xinternal.example",
            "11.0.0.1",
            "::2",
            "corp.example",
        ] {
            assert!(!no_proxy_matches(list, host), "{host} should use the proxy");
        }
        assert!(no_proxy_matches("*", "anything.example"));
        assert!(no_proxy_matches("fd00::/8", "[fd12::1]"));
        assert!(!no_proxy_matches("fd00::/8", "fe80::1"));
        assert!(no_proxy_matches("0.0.0.0/0", "192.0.2.1"));
        assert!(!no_proxy_matches("", "example.com"));
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_selection() {
        let env = lookup(&[
            ("HTTPS_PROXY", "http://secure:1"),
            ("http_proxy", "http://plain:2"),
            ("HTTP_PROXY", "http://ignored:3"),
            ("ALL_PROXY", "http://all:4"),
            ("NO_PROXY", "localhost,.corp"),
        ]);
        let get = |host, tls| {
            ProxyConfig::from_lookup(&env, host, tls)
                .unwrap()
                .map(|p| p.host().to_owned())
        };
        assert_eq!(get("example.com", true).as_deref(), Some("secure"));
        assert_eq!(get("example.com", false).as_deref(), Some("plain"));
        assert_eq!(get("localhost", true), None);
        assert_eq!(get("db.corp", false), None);

        let env = lookup(&[("all_proxy", "http://all:4"), ("https_proxy", " ")]);
        assert_eq!(
            ProxyConfig::from_lookup(&env, "example.com", true)
                .unwrap()
                .map(|p| p.port()),
            Some(4)
        );
        let env = lookup(&[]);
        assert_eq!(
            ProxyConfig::from_lookup(env, "example.com", true).unwrap(),
            None
        );
        let env = lookup(&[("https_proxy", "socks5://s:1080")]);
        assert!(ProxyConfig::from_lookup(env, "example.com", true).is_err());
    }

    #[test]
    fn connect_request_format() {
        assert_eq!(
            connect_request("example.com", 443, None).unwrap(),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert!(
            connect_request("::1", 80, None)
                .unwrap()
                .starts_with("CONNECT [::1]:80 HTTP/1.1\r\n")
        );
        assert!(
            connect_request("[::1]", 80, None)
                .unwrap()
                .starts_with("CONNECT [::1]:80 HTTP/1.1\r\n")
        );
        for bad in ["", "a b", "a\r\nX: y", "user@host"] {
            assert!(matches!(
                connect_request(bad, 80, None),
                Err(ProxyError::InvalidTarget(_))
            ));
        }
    }

    /// A fake stream: scripted input, recorded output.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn run(response: &[u8]) -> (Result<(), ProxyError>, Script) {
        let mut s = Script {
            input: io::Cursor::new(response.to_vec()),
            output: Vec::new(),
        };
        let r = connect_via_proxy_blocking(&mut s, "target", 443, None);
        (r, s)
    }

    #[test]
    fn response_parsing() {
        let (r, s) = run(b"HTTP/1.1 200 Connection established\r\n\r\nTUNNEL");
        r.unwrap();
        // The tunnelled bytes stay unread.
        assert_eq!(s.input.position(), 39);
        let (r, _) = run(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nX: y\r\n\r\n");
        r.unwrap();
        let (r, _) = run(b"HTTP/1.1 407 Auth\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n");
        assert!(matches!(
            r,
            Err(ProxyError::AuthenticationRequired { status: 407, challenge: Some(ref c) }) if c == "Basic realm=\"x\""
        ));
        let (r, _) = run(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        assert!(matches!(r, Err(ProxyError::BadGateway { status: 502, .. })));
        let (r, _) = run(b"HTTP/1.1 504 Gateway Timeout\r\n\r\n");
        assert_eq!(r.unwrap_err().status(), Some(504));
        let (r, _) = run(b"HTTP/1.1 500 Oops\r\n\r\n");
        assert!(matches!(r, Err(ProxyError::Rejected { status: 500, .. })));
        let (r, _) = run(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(r, Err(ProxyError::Closed)));
        let (r, _) = run(b"garbage\r\n\r\n");
        assert!(matches!(r, Err(ProxyError::InvalidResponse(_))));
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_RESPONSE_HEADER_BYTES));
        let (r, _) = run(&huge);
        assert!(matches!(r, Err(ProxyError::ResponseTooLarge)));
    }
}
