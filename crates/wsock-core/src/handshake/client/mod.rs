//! The client side of the opening handshake (RFC 6455 §4.1): describe the
//! request with [`ClientRequest`], send [`ClientHandshake::request_bytes`],
//! and feed the server's answer to [`ClientHandshake::feed`], which hands
//! over the [`Connected`] connection.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::handover::{Connected, MaskSource, client_connection, hand_over};
#[cfg(feature = "std")]
use super::wire::header_map;
use super::wire::{
    self as wire, HeaderReader, Headers, INCOMPLETE, check_user_header, first, invalid,
    is_field_value, is_token, owned_headers, require_token, single, trim, write_header,
};
use super::{ExtensionOffer, accept_key, extension};
use crate::config::Config;
use crate::error::HandshakeError;
use crate::extension::Extensions;

/// The most body bytes a [`HandshakeError::Rejected`] keeps.
const BODY_PREFIX_MAX: usize = 1024;

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
    protocols: Vec<String>,
    origin: Option<String>,
    extensions: Vec<ExtensionOffer>,
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
    fn to_bytes(&self, key: &str) -> Vec<u8> {
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
    /// The request an `http::Request<()>` describes, as tungstenite users
    /// build them: the URI (`ws://` or `wss://`, absolute) as with
    /// [`new`](Self::new), method `GET`, version HTTP/1.1 (the defaults).
    /// Its header fields go through the same checks as the builder's:
    /// `Sec-WebSocket-Protocol` values are offered as with
    /// [`protocol`](Self::protocol), `Sec-WebSocket-Extensions` offers as
    /// with [`extension`](Self::extension), `Origin` as with
    /// [`origin`](Self::origin), and every other field as with
    /// [`header`](Self::header), which refuses those the handshake writes
    /// itself (`Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`, …) and values that are not UTF-8.
    ///
    /// ```
    /// use wsock_core::handshake::client::ClientRequest;
    /// use wsock_core::http;
    ///
    /// let request = http::Request::get("wss://example.com/chat")
    ///     .header("Sec-WebSocket-Protocol", "chat, superchat")
    ///     .header("Authorization", "Bearer t0ken")
    ///     .body(())?;
    /// let request = ClientRequest::from_http(request)?;
    /// assert_eq!((request.host(), request.is_tls()), ("example.com", true));
    /// assert_eq!(request.protocols(), ["chat", "superchat"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http(request: ::http::Request<()>) -> Result<Self, HandshakeError> {
        let (parts, ()) = request.into_parts();
        if parts.method != ::http::Method::GET {
            return Err(HandshakeError::MethodNotAllowed(
                parts.method.as_str().into(),
            ));
        }
        if parts.version != ::http::Version::HTTP_11 {
            return Err(HandshakeError::MalformedHttp(
                "the opening handshake is an HTTP/1.1 request",
            ));
        }
        let mut request = Self::new(&parts.uri.to_string())?;
        for (name, value) in &parts.headers {
            let value = core::str::from_utf8(value.as_bytes())
                .map_err(|_| invalid("field-value", value.as_bytes()))?;
            request = match name.as_str() {
                "sec-websocket-protocol" => value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .try_fold(request, Self::protocol)?,
                "sec-websocket-extensions" => extension::parse_bytes(value.as_bytes())?
                    .into_iter()
                    .try_fold(request, Self::extension)?,
                "origin" => request.origin(value)?,
                name => request.header(name, value)?,
            };
        }
        Ok(request)
    }
}

/// What names a WebSocket server to connect to: a `ws://` or `wss://` URL
/// (`&str`, `String`), a [`ClientRequest`], and with `std` an `http::Uri`
/// or an `http::Request<()>` ([`ClientRequest::from_http`]). Adapters'
/// `connect` functions take any of them, as tungstenite's do.
pub trait IntoClientRequest {
    /// The request, or why it cannot be made.
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError>;
}

impl IntoClientRequest for &str {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::new(self)
    }
}

impl IntoClientRequest for String {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::new(&self)
    }
}

impl IntoClientRequest for &String {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::new(self)
    }
}

impl IntoClientRequest for ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        Ok(self)
    }
}

impl IntoClientRequest for &ClientRequest {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        Ok(self.clone())
    }
}

#[cfg(feature = "std")]
impl IntoClientRequest for ::http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::new(&self.to_string())
    }
}

#[cfg(feature = "std")]
impl IntoClientRequest for &::http::Uri {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::new(&self.to_string())
    }
}

#[cfg(feature = "std")]
impl IntoClientRequest for ::http::Request<()> {
    fn into_client_request(self) -> Result<ClientRequest, HandshakeError> {
        ClientRequest::from_http(self)
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

fn percent_decode(s: &str) -> Vec<u8> {
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

/// A client's opening handshake in progress.
///
/// ```
/// use wsock_core::handshake::client::{ClientHandshake, ClientRequest};
/// use wsock_core::{Config, Event, Message};
///
/// let request = ClientRequest::new("ws://example.com/chat")?;
/// let mut hs = ClientHandshake::with_key(&request, *b"the sample nonce", &Config::default());
/// assert!(hs.request_bytes().starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// let reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
/// let connected = hs.feed(reply)?.expect("complete response");
/// assert_eq!(connected.response.status(), 101);
/// // The empty text frame behind the response is already in the connection.
/// let mut connection = connected.connection;
/// assert_eq!(connection.poll_event()?, Some(Event::Message(Message::text(""))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientHandshake {
    request: Vec<u8>,
    accept: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
    /// Set once the core's own offers were added: the answer is checked
    /// against them.
    offered: Option<Config>,
    reader: HeaderReader,
    /// The settings of the connection [`feed`](Self::feed) hands over.
    config: Config,
    /// Where that connection's mask keys come from, if not the default.
    mask_source: Option<MaskSource>,
}

impl ClientHandshake {
    /// Starts a handshake with a key from the operating system's random
    /// number generator, offering what `config` enables
    /// (permessage-deflate with [`Config::deflate`](crate::Config)); the
    /// connection it hands over runs with `config`.
    ///
    /// # Panics
    ///
    /// If the OS cannot provide randomness (as `rand` does in that case).
    #[cfg(feature = "std")]
    pub fn new(request: &ClientRequest, config: &Config) -> Self {
        use rand::TryRng as _;
        let mut key = [0; 16];
        rand::rngs::SysRng
            .try_fill_bytes(&mut key)
            .expect("OS random number generator failed");
        Self::with_key(request, key, config)
    }

    /// Starts a handshake with `key`, which must be 16 fresh random bytes
    /// (§4.1); its base64 is the `Sec-WebSocket-Key`. For `no_std` targets
    /// (with [`with_mask_source`](Self::with_mask_source)) and
    /// deterministic tests.
    pub fn with_key(request: &ClientRequest, key: [u8; 16], config: &Config) -> Self {
        let key = STANDARD.encode(key);
        Self {
            request: request.to_bytes(&key),
            accept: accept_key(key.as_bytes()),
            protocols: request.protocols.clone(),
            extensions: request.extensions.iter().map(|e| e.name.clone()).collect(),
            offered: None,
            reader: HeaderReader::new(config.handshake),
            config: config.clone(),
            mask_source: None,
        }
        .offer(config)
    }

    /// Sets where the connection's mask keys come from (RFC 6455 §5.3
    /// requires keys an attacker cannot predict). Needed without `std`;
    /// with it, the default is the operating system's random source.
    pub fn with_mask_source(mut self, source: impl FnMut() -> [u8; 4] + Send + 'static) -> Self {
        self.mask_source = Some(alloc::boxed::Box::new(source));
        self
    }

    /// Adds the extensions `config` enables to the request, and has the
    /// server's answer checked against them: the agreement is then in
    /// [`Response::negotiated_extensions`] and in force in the connection.
    /// An extension the request already offers by name is not offered
    /// twice.
    fn offer(mut self, config: &Config) -> Self {
        let offers: Vec<ExtensionOffer> = Extensions::offers(config)
            .into_iter()
            .filter(|o| {
                !self
                    .extensions
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&o.name))
            })
            .collect();
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut enabled = config.clone();
        #[cfg(feature = "deflate")]
        {
            enabled.deflate.enabled = offers.iter().any(|o| o.name == crate::deflate::NAME);
        }
        if !offers.is_empty() {
            let list: Vec<String> = offers.iter().map(ToString::to_string).collect();
            // Before the blank line that ends the request.
            self.request.truncate(self.request.len() - 2);
            write_header(
                &mut self.request,
                "Sec-WebSocket-Extensions",
                list.join(", ").as_bytes(),
            );
            self.request.extend_from_slice(b"\r\n");
            self.extensions.extend(offers.into_iter().map(|o| o.name));
        }
        self.offered = Some(enabled);
        self
    }

    /// The HTTP request to send.
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// Takes received bytes. `Ok(None)`: more are needed.
    /// `Ok(Some(connected))`: the server accepted; the [`Connected`]
    /// connection runs with the subprotocol and extensions it agreed to,
    /// and the bytes of `data` behind the response (the server's first
    /// frames) are already in it. After an error, every later call returns
    /// it again.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Connected>, HandshakeError> {
        let Some((response, n)) = self.read_response(data)? else {
            return Ok(None);
        };
        let connection = client_connection(self.config.clone(), self.mask_source.take())?;
        let connection = hand_over(
            connection,
            response.protocol.clone(),
            response.negotiated,
            &data[n..],
        );
        Ok(Some(Connected {
            response,
            connection,
        }))
    }

    /// The response once whole, and how many bytes of `data` it took,
    /// without handing over a connection: what [`feed`](Self::feed) does
    /// first. Public only for the fuzz targets, which compare how much of
    /// the input each chunking consumed.
    #[doc(hidden)]
    pub fn read_response(
        &mut self,
        data: &[u8],
    ) -> Result<Option<(Response, usize)>, HandshakeError> {
        let Some(n) = self.reader.push(data)? else {
            return Ok(None);
        };
        match self.parse(&data[n..]) {
            Ok(response) => Ok(Some((response, n))),
            Err(e) => Err(self.reader.fail(e)),
        }
    }

    fn parse(&self, after: &[u8]) -> Result<Response, HandshakeError> {
        let mut slots = self.reader.header_slots();
        let mut res = httparse::Response::new(&mut slots);
        match res.parse(self.reader.block()) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(INCOMPLETE),
            Err(e) => return Err(self.reader.parse_error(e)),
        }
        let (status, version) = (
            res.code.unwrap_or_default(),
            res.version.unwrap_or_default(),
        );
        let headers = owned_headers(res.headers);
        if status != 101 {
            return Err(status_error(status, headers, after));
        }
        if version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion(version));
        }
        self.validate(headers)
    }

    /// §4.1, the client's checks on a `101` response.
    // Without `std` the fields move into the response; with it they are
    // copied into a HeaderMap.
    #[cfg_attr(feature = "std", allow(clippy::needless_pass_by_value))]
    fn validate(&self, headers: Headers) -> Result<Response, HandshakeError> {
        require_token(&headers, "Upgrade", "websocket")?;
        require_token(&headers, "Connection", "upgrade")?;
        let name = "Sec-WebSocket-Accept";
        let got = trim(single(&headers, name)?.ok_or(HandshakeError::MissingHeader(name))?);
        if got != self.accept.as_bytes() {
            let got = String::from_utf8_lossy(&got[..got.len().min(256)]).into_owned();
            return Err(HandshakeError::AcceptMismatch {
                expected: self.accept.clone(),
                got,
            });
        }
        let protocol = self.chosen_protocol(&headers)?;
        let extensions = self.accepted_extensions(&headers)?;
        let negotiated = match &self.offered {
            Some(config) => Extensions::accepted(config, &extensions)?,
            None => Extensions::none(),
        };
        #[cfg(feature = "std")]
        let message = {
            let mut message = ::http::Response::new(());
            *message.status_mut() = ::http::StatusCode::SWITCHING_PROTOCOLS;
            *message.headers_mut() = header_map(&headers)?;
            message
        };
        Ok(Response {
            #[cfg(feature = "std")]
            message,
            #[cfg(not(feature = "std"))]
            status: 101,
            #[cfg(not(feature = "std"))]
            headers,
            protocol,
            extensions,
            negotiated,
        })
    }

    /// At most one value, and one that was offered; empty means none.
    fn chosen_protocol(
        &self,
        headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, HandshakeError> {
        let name = "Sec-WebSocket-Protocol";
        let Some(value) = single(headers, name)?.map(trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if value.contains(&b',') {
            return Err(invalid(name, value));
        }
        match self.protocols.iter().find(|p| p.as_bytes() == value) {
            Some(p) => Ok(Some(p.clone())),
            None => Err(HandshakeError::UnofferedSubprotocol(
                String::from_utf8_lossy(value).into_owned(),
            )),
        }
    }

    fn accepted_extensions(
        &self,
        headers: &[(String, Vec<u8>)],
    ) -> Result<Vec<ExtensionOffer>, HandshakeError> {
        let mut out = Vec::new();
        for value in wire::values(headers, "Sec-WebSocket-Extensions") {
            out.extend(extension::parse_bytes(value)?);
        }
        match out.iter().find(|e| {
            !self
                .extensions
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&e.name))
        }) {
            Some(unoffered) => Err(HandshakeError::UnofferedExtension(unoffered.name.clone())),
            None => Ok(out),
        }
    }
}

/// Leaves the request bytes out: they may hold credentials.
impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("protocols", &self.protocols)
            .field("extensions", &self.extensions)
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// `Redirect` for 3xx, else `Rejected` with what arrived of the body.
fn status_error(status: u16, headers: Headers, after: &[u8]) -> HandshakeError {
    if (300..400).contains(&status) {
        let location =
            first(&headers, "Location").map(|l| String::from_utf8_lossy(trim(l)).into_owned());
        return HandshakeError::Redirect { status, location };
    }
    let declared = first(&headers, "Content-Length")
        .and_then(|v| core::str::from_utf8(trim(v)).ok()?.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let body_prefix = after[..after.len().min(declared).min(BODY_PREFIX_MAX)].to_vec();
    HandshakeError::Rejected {
        status,
        headers,
        body_prefix,
    }
}

/// The server's accepting response: with `std` an `http::Response<()>`
/// ([`http`](Self::http)), plus what the handshake read from it.
#[derive(Debug, Clone)]
pub struct Response {
    #[cfg(feature = "std")]
    message: ::http::Response<()>,
    #[cfg(not(feature = "std"))]
    status: u16,
    #[cfg(not(feature = "std"))]
    headers: Headers,
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    negotiated: Extensions,
}

/// Compares what was received and read (`http::Response` has no
/// `PartialEq`: its status, version and fields are compared).
impl PartialEq for Response {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "std")]
        let same_message = self.message.status() == other.message.status()
            && self.message.version() == other.message.version()
            && self.message.headers() == other.message.headers();
        #[cfg(not(feature = "std"))]
        let same_message = self.status == other.status && self.headers == other.headers;
        same_message
            && self.protocol == other.protocol
            && self.extensions == other.extensions
            && self.negotiated == other.negotiated
    }
}

impl Eq for Response {}

#[cfg(feature = "std")]
impl Response {
    /// The status (`101 Switching Protocols`).
    pub fn status(&self) -> ::http::StatusCode {
        self.message.status()
    }

    /// Every header field.
    pub fn headers(&self) -> &::http::HeaderMap {
        self.message.headers()
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.message
            .headers()
            .get(name)
            .map(::http::HeaderValue::as_bytes)
    }

    /// The response as received: status, version and header fields.
    pub fn http(&self) -> &::http::Response<()> {
        &self.message
    }

    /// The response as received, given up.
    pub fn into_http(self) -> ::http::Response<()> {
        self.message
    }
}

#[cfg(not(feature = "std"))]
impl Response {
    /// The status (101).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header field, in order, names as sent.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first(&self.headers, name)
    }
}

impl Response {
    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with its parameters, in order.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The extensions in force in the connection handed over: those the
    /// `Config` offered that the server accepted.
    pub fn negotiated_extensions(&self) -> Extensions {
        self.negotiated
    }
}

#[cfg(test)]
mod tests;
