//! [`ClientRequest`]: the request built from a URL and written out, apart from the handshake.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::HandshakeError;
use crate::handshake::ExtensionOffer;
use crate::handshake::wire::{check_user_header, invalid, is_field_value, is_token, write_header};

/// What the client asks for: the URL plus offers and extra headers.
///
/// Methods that take text validate it, so they return `Result`; chain them
/// with `?`:
///
/// ```
/// use wsock_core::handshake::client::ClientRequest;
///
/// let request = ClientRequest::new("wss://example.com/chat?room=1")?
///     .protocol("chat")?
///     .origin("https://example.com")?
///     .header("Cookie", "sid=1")?;
/// assert_eq!((request.host(), request.port(), request.is_tls()), ("example.com", 443, true));
/// assert_eq!(request.path_and_query(), "/chat?room=1");
/// # Ok::<(), wsock_core::HandshakeError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientRequest {
    url: String,
    host: String,
    host_header: String,
    port: u16,
    tls: bool,
    path_and_query: String,
    pub(super) protocols: Vec<String>,
    origin: Option<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
    authorization: Option<String>,
}

impl ClientRequest {
    /// Parses a `ws://` or `wss://` URL. Credentials in it become a Basic
    /// `Authorization` header; a fragment is an error (§3).
    pub fn new(url: &str) -> Result<Self, HandshakeError> {
        let mut url =
            url::Url::parse(url).map_err(|e| HandshakeError::InvalidUrl(e.to_string()))?;
        let tls = match url.scheme() {
            "ws" => false,
            "wss" => true,
            other => return Err(HandshakeError::UnsupportedScheme(other.into())),
        };
        if url.fragment().is_some() {
            return Err(HandshakeError::InvalidUrl(
                "a WebSocket URL cannot have a fragment".into(),
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_string(),
            Some(url::Host::Ipv4(addr)) => addr.to_string(),
            Some(url::Host::Ipv6(addr)) => addr.to_string(),
            None => return Err(HandshakeError::InvalidUrl("missing host".into())),
        };
        // `Url` leaves the port out when it is the scheme's default.
        let host_str = url.host_str().unwrap_or_default();
        let host_header = url
            .port()
            .map_or_else(|| host_str.into(), |p| format!("{host_str}:{p}"));
        let authorization = basic_auth(&url);
        // Infallible for ws/wss URLs, which always have a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let path_and_query = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().into(),
        };
        Ok(Self {
            port: url
                .port_or_known_default()
                .unwrap_or(if tls { 443 } else { 80 }),
            url: url.into(),
            host,
            host_header,
            tls,
            path_and_query,
            protocols: Vec::new(),
            origin: None,
            extensions: Vec::new(),
            headers: Vec::new(),
            authorization,
        })
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`), in order of
    /// preference. It must be a token, offered once.
    pub fn protocol(mut self, protocol: &str) -> Result<Self, HandshakeError> {
        if !is_token(protocol.as_bytes()) || self.protocols.iter().any(|p| p == protocol) {
            return Err(invalid("Sec-WebSocket-Protocol", protocol.as_bytes()));
        }
        self.protocols.push(protocol.into());
        Ok(self)
    }

    /// Sets the `Origin` header (browsers always send one; servers may
    /// check it).
    pub fn origin(mut self, origin: &str) -> Result<Self, HandshakeError> {
        if origin.is_empty() || !is_field_value(origin.as_bytes()) {
            return Err(invalid("Origin", origin.as_bytes()));
        }
        self.origin = Some(origin.into());
        Ok(self)
    }

    /// Adds a header. Fails for a name that is not a token, a value with
    /// CR, LF or other controls, or a field the handshake writes itself
    /// (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-*`, …). An
    /// `Authorization` header replaces one derived from the URL.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, HandshakeError> {
        check_user_header(name, value)?;
        self.headers.push((name.into(), value.into()));
        Ok(self)
    }

    /// Offers an extension (`Sec-WebSocket-Extensions`). The server may
    /// only accept extensions offered here.
    pub fn extension(mut self, offer: ExtensionOffer) -> Result<Self, HandshakeError> {
        offer.validate()?;
        self.extensions.push(offer);
        Ok(self)
    }

    /// The host to resolve and connect to (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to (80 or 443 unless the URL says otherwise).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the connection needs TLS (`wss`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The request-target: path and query, at least `/`.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The subprotocols offered, in order.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions offered, in order.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The normalised URL, with any credentials removed (safe to log).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP request, with `key` as `Sec-WebSocket-Key`.
    pub(super) fn to_bytes(&self, key: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(format!("GET {} HTTP/1.1\r\n", self.path_and_query).as_bytes());
        write_header(&mut out, "Host", self.host_header.as_bytes());
        write_header(&mut out, "Upgrade", b"websocket");
        write_header(&mut out, "Connection", b"Upgrade");
        write_header(&mut out, "Sec-WebSocket-Key", key.as_bytes());
        write_header(&mut out, "Sec-WebSocket-Version", b"13");
        if let Some(origin) = &self.origin {
            write_header(&mut out, "Origin", origin.as_bytes());
        }
        if !self.protocols.is_empty() {
            write_header(
                &mut out,
                "Sec-WebSocket-Protocol",
                self.protocols.join(", ").as_bytes(),
            );
        }
        if !self.extensions.is_empty() {
            let list: Vec<String> = self.extensions.iter().map(ToString::to_string).collect();
            write_header(
                &mut out,
                "Sec-WebSocket-Extensions",
                list.join(", ").as_bytes(),
            );
        }
        let explicit_auth = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Authorization"));
        if let Some(auth) = self.authorization.as_ref().filter(|_| !explicit_auth) {
            write_header(&mut out, "Authorization", auth.as_bytes());
        }
        for (name, value) in &self.headers {
            write_header(&mut out, name, value.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(feature = "std")]
impl ClientRequest {
    /// The RFC 8441 §5 extended CONNECT: `CONNECT` to the URL's
    /// `https`/`http` target (its scheme, authority and path become the
    /// `:scheme`, `:authority` and `:path` pseudo-headers), version HTTP/2,
    /// `sec-websocket-version: 13`, the offers (`extensions`: the
    /// application's and the core's) and the other fields, names in lower
    /// case. No `Host` (the authority says it), nor the HTTP/1.1 upgrade's
    /// `Upgrade`, `Connection` and `Sec-WebSocket-Key`; fields HTTP/2
    /// forbids (RFC 9113 §8.2.2) are refused.
    pub(super) fn to_http2(
        &self,
        extensions: &[ExtensionOffer],
    ) -> Result<::http::Request<()>, HandshakeError> {
        use ::http::header::{HeaderName, HeaderValue};
        let scheme = if self.tls { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", self.host_header, self.path_and_query);
        let mut request = ::http::Request::new(());
        *request.method_mut() = ::http::Method::CONNECT;
        *request.version_mut() = ::http::Version::HTTP_2;
        *request.uri_mut() = uri
            .parse()
            .map_err(|_| HandshakeError::InvalidUrl(self.url.clone()))?;
        let headers = request.headers_mut();
        let mut put = |name: &str, value: &str| -> Result<(), HandshakeError> {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("field-name", name.as_bytes()))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid("field-value", value.as_bytes()))?;
            headers.append(name, value);
            Ok(())
        };
        put("sec-websocket-version", "13")?;
        if let Some(origin) = &self.origin {
            put("origin", origin)?;
        }
        if !self.protocols.is_empty() {
            put("sec-websocket-protocol", &self.protocols.join(", "))?;
        }
        if !extensions.is_empty() {
            let list: Vec<String> = extensions.iter().map(ToString::to_string).collect();
            put("sec-websocket-extensions", &list.join(", "))?;
        }
        let explicit_auth = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Authorization"));
        if let Some(auth) = self.authorization.as_ref().filter(|_| !explicit_auth) {
            put("authorization", auth)?;
        }
        for (name, value) in &self.headers {
            // Connection-specific fields, which HTTP/2 forbids (`Upgrade`,
            // `Connection` and `Transfer-Encoding` are refused for both
            // versions by `header`).
            if let Some(forbidden) = ["Keep-Alive", "Proxy-Connection", "TE"]
                .into_iter()
                .find(|f| f.eq_ignore_ascii_case(name))
            {
                return Err(invalid(forbidden, value.as_bytes()));
            }
            put(name, value)?;
        }
        Ok(request)
    }
}

/// Redacts the credentials.
impl fmt::Debug for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRequest")
            .field("url", &self.url)
            .field("protocols", &self.protocols)
            .field("origin", &self.origin)
            .field("extensions", &self.extensions)
            .field("headers", &self.headers)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// `Basic base64(user:password)` from the URL's percent-decoded userinfo.
fn basic_auth(url: &url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let mut credentials = percent_decode(url.username());
    credentials.push(b':');
    credentials.extend(percent_decode(url.password().unwrap_or_default()));
    Some(format!("Basic {}", STANDARD.encode(credentials)))
}

pub(super) fn percent_decode(s: &str) -> Vec<u8> {
    let hex = |b: Option<&u8>| Some(char::from(*b?).to_digit(16)? as u8);
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::with_capacity(s.len()), 0);
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(bytes.get(i + 1))? << 4 | hex(bytes.get(i + 2))?))
            .flatten();
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
