//! The server side of the opening handshake (RFC 6455 §4.2): read and check
//! the client's request, then answer it with [`Request::accept`], which
//! hands over a ready [`Connection`](crate::Connection), or
//! [`Request::reject`]. A malformed request is answered by turning its
//! error into a [`Rejected`].

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::ExtensionOffer;
use super::handover::{Accepted, Rejected, hand_over, server_connection};
#[cfg(feature = "std")]
use super::wire::header_map;
use super::wire::{
    self as wire, HeaderReader, Headers, INCOMPLETE, check_user_header, first, invalid,
    is_field_value, is_token, list_items, require_token, single, trim, write_header,
};
use super::{accept_key, extension};
use crate::config::Config;
use crate::error::HandshakeError;
use crate::extension::Extensions;

/// Reads a client's opening handshake from a byte stream.
///
/// ```
/// use wsock_core::handshake::server::{Accept, ServerHandshake};
/// use wsock_core::{Config, Event, Message};
///
/// let mut hs = ServerHandshake::new(&Config::default());
/// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n\x81\x80\0\0\0\0";
/// let request = hs.feed(bytes)?.expect("complete request");
/// assert_eq!((request.path(), request.leftover()), ("/chat", &b"\x81\x80\0\0\0\0"[..]));
/// let accepted = request.accept(Accept::new()).map_err(|r| r.error)?;
/// assert!(accepted.response_bytes.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
/// // The empty text frame that followed the request is already in the connection.
/// let mut connection = accepted.connection;
/// assert_eq!(connection.poll_event()?, Some(Event::Message(Message::text(""))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerHandshake {
    reader: HeaderReader,
    /// Some input arrived already (the first byte was checked).
    started: bool,
    config: Config,
}

/// The first byte of a TLS record carrying a handshake message (a
/// ClientHello, when a `wss://` client reaches a plain-text port).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

impl ServerHandshake {
    /// A handshake that reads a request within `config.handshake` and
    /// negotiates what `config` enables (permessage-deflate with
    /// [`Config::deflate`](crate::Config)); the connection it hands over
    /// runs with the same `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            reader: HeaderReader::new(config.handshake),
            started: false,
            config: config.clone(),
        }
    }

    /// Takes received bytes. `Ok(None)`: more are needed. `Ok(Some(request))`:
    /// the request is complete and valid; the bytes of `data` behind it are
    /// kept in the request ([`Request::leftover`]) and go to the connection
    /// it hands over. After an error, every later call returns it again;
    /// answer it with [`Rejected::from`] (or
    /// [`HandshakeError::rejection_response`]).
    ///
    /// A TLS ClientHello (first byte 0x16) is rejected at once with 400
    /// rather than left to the handshake timeout.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Request>, HandshakeError> {
        if !self.started && !data.is_empty() {
            self.started = true;
            if data[0] == TLS_HANDSHAKE_RECORD {
                let e = HandshakeError::MalformedHttp("TLS handshake sent to a plain-text port");
                return Err(self.reader.fail(e));
            }
        }
        let Some(n) = self.reader.push(data)? else {
            return Ok(None);
        };
        match self.parse() {
            Ok(mut request) => {
                request.leftover = data[n..].to_vec();
                Ok(Some(request))
            }
            Err(e) => Err(self.reader.fail(e)),
        }
    }

    fn parse(&self) -> Result<Request, HandshakeError> {
        let mut slots = self.reader.header_slots();
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(self.reader.block()) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(INCOMPLETE),
            Err(e) => return Err(self.reader.parse_error(e)),
        }
        let (method, target) = (req.method.unwrap_or_default(), req.path.unwrap_or_default());
        let headers = req.headers.iter().map(|h| (h.name, h.value));
        let version = req.version.unwrap_or_default();
        validate_request(method, target, version, headers, &self.config)
    }
}

/// Checks an HTTP/1.x request that was parsed elsewhere, as
/// [`ServerHandshake`] does, and negotiates what `config` enables.
/// `http_minor_version` is the `x` of `HTTP/1.x`. With `std`,
/// [`Request::from_http`] does the same from an `http::Request` (and also
/// takes HTTP/2 extended CONNECT).
pub fn validate_request<'a>(
    method: &str,
    target: &str,
    http_minor_version: u8,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    config: &Config,
) -> Result<Request, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::MethodNotAllowed(method.into()));
    }
    if http_minor_version < 1 {
        return Err(HandshakeError::UnsupportedHttpVersion(http_minor_version));
    }
    check_target(target)?;
    let headers: Headers = headers
        .into_iter()
        .map(|(n, v)| (n.into(), v.to_vec()))
        .collect();
    let checked = Checked::read(&headers, UpgradeKind::Http11, None)?;
    #[cfg(feature = "std")]
    let message = {
        let mut request = ::http::Request::new(());
        *request.uri_mut() = ::http::Uri::try_from(target)
            .map_err(|_| HandshakeError::MalformedHttp("invalid request-target"))?;
        *request.headers_mut() = header_map(&headers)?;
        request
    };
    #[cfg(not(feature = "std"))]
    let message = Message {
        method: method.into(),
        headers,
    };
    Ok(Request::build(message, target.into(), checked, config))
}

/// What the handshake reads from a request's fields, once.
struct Checked {
    kind: UpgradeKind,
    host: String,
    origin: Option<String>,
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
}

impl Checked {
    /// §4.2.1 for [`UpgradeKind::Http11`]; RFC 8441 §5 for
    /// [`UpgradeKind::ExtendedConnect`], where `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Key` play no part and the host may come from the
    /// `:authority` (`authority`).
    fn read(
        headers: &[(String, Vec<u8>)],
        kind: UpgradeKind,
        authority: Option<&str>,
    ) -> Result<Self, HandshakeError> {
        let host = match (single(headers, "Host")?, authority) {
            (_, Some(authority)) if kind == UpgradeKind::ExtendedConnect => authority.into(),
            (Some(host), _) => text(host, "Host")?,
            (None, _) if kind == UpgradeKind::ExtendedConnect => {
                return Err(HandshakeError::MissingHeader(":authority"));
            }
            (None, _) => return Err(HandshakeError::MissingHeader("Host")),
        };
        if kind == UpgradeKind::Http11 {
            require_token(headers, "Upgrade", "websocket")?;
            require_token(headers, "Connection", "upgrade")?;
        }
        // The key first: a request without one is malformed (400) whatever
        // its version says.
        let key = match kind {
            UpgradeKind::Http11 => Some(read_key(headers)?),
            UpgradeKind::ExtendedConnect => None,
        };
        check_version(headers)?;
        let origin = first(headers, "Origin")
            .map(|v| text(v, "Origin"))
            .transpose()?;
        Ok(Self {
            kind,
            host,
            origin,
            key,
            protocols: read_protocols(headers)?,
            extensions: read_extensions(headers)?,
        })
    }
}

/// How the client asked for the WebSocket, which decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpgradeKind {
    /// RFC 6455 §4: an HTTP/1.1 `GET` with `Upgrade: websocket`, answered
    /// `101 Switching Protocols`; the WebSocket then owns the connection.
    Http11,
    /// RFC 8441 (HTTP/2; RFC 9220 for HTTP/3): an extended `CONNECT` with
    /// `:protocol` `websocket`, answered `200`; the WebSocket runs on that
    /// one stream. Only [`Request::from_http`] reads these.
    ExtendedConnect,
}

/// Origin-form (`/path?query`) or absolute-form (RFC 7230 §5.3).
fn check_target(target: &str) -> Result<(), HandshakeError> {
    if target.starts_with('/') || absolute_path_start(target).is_some() {
        Ok(())
    } else {
        Err(HandshakeError::MalformedHttp(
            "request-target is not a path or an absolute URI",
        ))
    }
}

/// Where the path starts in an absolute-form target such as `ws://h/p`.
fn absolute_path_start(target: &str) -> Option<usize> {
    let (scheme, rest) = target.split_once("://")?;
    let known = ["http", "https", "ws", "wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme));
    known.then(|| scheme.len() + 3 + rest.find(['/', '?']).unwrap_or(rest.len()))
}

/// A trimmed UTF-8 header value.
fn text(value: &[u8], name: &'static str) -> Result<String, HandshakeError> {
    core::str::from_utf8(trim(value))
        .map(String::from)
        .map_err(|_| invalid(name, value))
}

/// §4.2.1 item 6: version 13, once. Missing or anything else is a version
/// this server does not speak: both are answered 426 with
/// `Sec-WebSocket-Version: 13` (§4.4).
fn check_version(headers: &[(String, Vec<u8>)]) -> Result<(), HandshakeError> {
    let name = "Sec-WebSocket-Version";
    let found: Vec<&[u8]> = wire::values(headers, name).map(trim).collect();
    match found.as_slice() {
        [] => Err(HandshakeError::MissingHeader(name)),
        [b"13"] => Ok(()),
        _ => {
            let joined = found.join(&b", "[..]);
            Err(HandshakeError::UnsupportedVersion(
                String::from_utf8_lossy(&joined).into_owned(),
            ))
        }
    }
}

/// §4.2.1 item 5: base64 of exactly 16 bytes, once.
fn read_key(headers: &[(String, Vec<u8>)]) -> Result<String, HandshakeError> {
    let name = "Sec-WebSocket-Key";
    let raw = single(headers, name)?.ok_or(HandshakeError::MissingHeader(name))?;
    let key = trim(raw);
    match STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(String::from_utf8_lossy(key).into_owned()),
        _ => Err(invalid(name, raw)),
    }
}

/// §4.1 item 10: every line, comma-split; each a token, no repeats.
fn read_protocols(headers: &[(String, Vec<u8>)]) -> Result<Vec<String>, HandshakeError> {
    let name = "Sec-WebSocket-Protocol";
    let mut out: Vec<String> = Vec::new();
    for item in list_items(headers, name) {
        let fresh = is_token(item) && !out.iter().any(|p| p.as_bytes() == item);
        if !fresh {
            return Err(invalid(name, item));
        }
        out.push(String::from_utf8_lossy(item).into_owned());
    }
    Ok(out)
}

fn read_extensions(headers: &[(String, Vec<u8>)]) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut out = Vec::new();
    for value in wire::values(headers, "Sec-WebSocket-Extensions") {
        out.extend(extension::parse_bytes(value)?);
    }
    Ok(out)
}

/// The request line and fields of a request, as received (without `std`;
/// with it, an `http::Request<()>`).
#[cfg(not(feature = "std"))]
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    method: String,
    headers: Headers,
}

/// A valid opening-handshake request, with what was read from it once
/// (offered subprotocols and extensions, the key) and what the server's
/// [`Config`] makes of it. Answer it with [`accept`](Self::accept) or
/// [`reject`](Self::reject).
///
/// With `std` the request itself is an `http::Request<()>`
/// ([`http`](Self::http)); the getters here read it.
#[derive(Debug, Clone)]
pub struct Request {
    #[cfg(feature = "std")]
    message: ::http::Request<()>,
    #[cfg(not(feature = "std"))]
    message: Message,
    target: String,
    kind: UpgradeKind,
    host: String,
    origin: Option<String>,
    key: Option<String>,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    negotiated: Extensions,
    answers: Vec<ExtensionOffer>,
    /// The settings of the connection [`accept`](Self::accept) hands over
    /// (boxed: a request is passed around by value).
    config: Box<Config>,
    /// Bytes that arrived behind the request: the client's first frames.
    leftover: Vec<u8>,
}

/// Compares what was received and read (`http::Request` has no
/// `PartialEq`: its method, URI, version and fields are compared).
impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "std")]
        let same_message = {
            let (a, b) = (&self.message, &other.message);
            a.method() == b.method()
                && a.uri() == b.uri()
                && a.version() == b.version()
                && a.headers() == b.headers()
        };
        #[cfg(not(feature = "std"))]
        let same_message = self.message == other.message;
        same_message
            && self.target == other.target
            && self.kind == other.kind
            && self.host == other.host
            && self.origin == other.origin
            && self.key == other.key
            && self.protocols == other.protocols
            && self.extensions == other.extensions
            && self.negotiated == other.negotiated
            && self.answers == other.answers
            && self.config == other.config
            && self.leftover == other.leftover
    }
}

impl Eq for Request {}

#[cfg(feature = "std")]
impl Request {
    /// Checks a request that an HTTP stack such as hyper parsed, and
    /// negotiates what `config` enables, as [`ServerHandshake`] does; its
    /// [`accept`](Self::accept) answers with the response to hand back to
    /// that stack ([`Accepted::response`]). The body is not looked at, and
    /// there are no leftover bytes: the stack hands over the upgraded
    /// connection or stream.
    ///
    /// Two kinds of request are taken ([`UpgradeKind`]):
    ///
    /// * HTTP/1.1 `GET` with `Upgrade: websocket`, `Connection: Upgrade`,
    ///   `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13` (RFC 6455
    ///   §4.2.1), answered `101`. `protocol` is ignored.
    /// * HTTP/2 or HTTP/3 extended `CONNECT` (RFC 8441, RFC 9220) with
    ///   `Sec-WebSocket-Version: 13` and no key, answered `200`.
    ///   `protocol` is the request's `:protocol` pseudo-header, which HTTP
    ///   stacks keep outside the header map (`hyper::ext::Protocol` and
    ///   `h2::ext::Protocol` in the request's extensions): it must be
    ///   `websocket`.
    ///
    /// Refused with the [`Rejected`] response to send (it has no
    /// `Connection` header, so it suits HTTP/2 as it is):
    ///
    /// * another version than HTTP/1.1, 2 or 3: 400;
    /// * HTTP/1.1 other than `GET`: 405 with `Allow: GET`; HTTP/2 or 3
    ///   other than `CONNECT`: 405 with `Allow: CONNECT`;
    /// * a `CONNECT` without `:protocol` (a plain tunnel): 400;
    /// * a `:protocol` other than `websocket`: 501 Not Implemented
    ///   ([`HandshakeError::UnsupportedProtocol`]): the request is a
    ///   well-formed extended CONNECT (RFC 8441 §4) for a protocol this
    ///   endpoint does not implement, which RFC 9110 §15.6.2 answers with
    ///   501 (RFC 8441 names no status);
    /// * `Sec-WebSocket-Version` missing or not 13: 426 with
    ///   `Sec-WebSocket-Version: 13` (RFC 6455 §4.4, RFC 8441 §5);
    /// * any other bad field: 400, as from [`ServerHandshake`].
    ///
    /// ```
    /// use wsock_core::handshake::server::{Accept, Request, UpgradeKind};
    /// use wsock_core::http;
    /// use wsock_core::Config;
    ///
    /// // An RFC 8441 request as an HTTP/2 stack hands it over.
    /// let h2 = http::Request::connect("https://example.com/chat")
    ///     .version(http::Version::HTTP_2)
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-protocol", "chat")
    ///     .body(())?;
    /// let request = Request::from_http(&h2, Some("websocket"), &Config::default())
    ///     .map_err(|r| r.error)?;
    /// assert_eq!((request.upgrade_kind(), request.path()), (UpgradeKind::ExtendedConnect, "/chat"));
    /// let accepted = request.accept(Accept::new().protocol("chat")).map_err(|r| r.error)?;
    /// assert_eq!(accepted.response.status(), http::StatusCode::OK);
    /// assert_eq!(accepted.response.headers()["sec-websocket-protocol"], "chat");
    /// // accepted.connection runs on the stream once the 200 is sent.
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http<B>(
        request: &::http::Request<B>,
        protocol: Option<&str>,
        config: &Config,
    ) -> Result<Self, Rejected> {
        use ::http::Version;
        let kind = match request.version() {
            Version::HTTP_11 => UpgradeKind::Http11,
            Version::HTTP_2 | Version::HTTP_3 => UpgradeKind::ExtendedConnect,
            _ => return Err(HandshakeError::UnsupportedHttpVersion(0).into()),
        };
        let http2 = kind == UpgradeKind::ExtendedConnect;
        Self::check_http_method(request.method(), kind, protocol)
            .and_then(|()| Self::read_http(request, kind, config))
            .map_err(|error| {
                let rejected = match &error {
                    // Not the `Allow: GET` of an HTTP/1.1 refusal.
                    HandshakeError::MethodNotAllowed(_) if http2 => {
                        let body = error.rejection_body();
                        let bytes = reject_response(405, &[("Allow", "CONNECT")], body.as_bytes());
                        Rejected::with_response(405, bytes, error)
                    }
                    _ => Rejected::from(error),
                };
                rejected.for_http2(http2)
            })
    }

    /// `GET` for HTTP/1.1; `CONNECT` with `:protocol` `websocket` (an
    /// upgrade token: case-insensitive) for HTTP/2 and 3.
    fn check_http_method(
        method: &::http::Method,
        kind: UpgradeKind,
        protocol: Option<&str>,
    ) -> Result<(), HandshakeError> {
        use ::http::Method;
        let expected = match kind {
            UpgradeKind::Http11 => Method::GET,
            UpgradeKind::ExtendedConnect => Method::CONNECT,
        };
        if *method != expected {
            return Err(HandshakeError::MethodNotAllowed(method.as_str().into()));
        }
        match (kind, protocol) {
            (UpgradeKind::Http11, _) => Ok(()),
            (UpgradeKind::ExtendedConnect, None) => Err(HandshakeError::MissingHeader(":protocol")),
            (UpgradeKind::ExtendedConnect, Some(p)) if p.eq_ignore_ascii_case("websocket") => {
                Ok(())
            }
            (UpgradeKind::ExtendedConnect, Some(p)) => {
                Err(HandshakeError::UnsupportedProtocol(p.into()))
            }
        }
    }

    fn read_http<B>(
        request: &::http::Request<B>,
        kind: UpgradeKind,
        config: &Config,
    ) -> Result<Self, HandshakeError> {
        let target = alloc::string::ToString::to_string(request.uri());
        check_target(&target)?;
        let headers: Headers = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().into(), v.as_bytes().to_vec()))
            .collect();
        let authority = request
            .uri()
            .authority()
            .map(::http::uri::Authority::as_str);
        let checked = Checked::read(&headers, kind, authority)?;
        let mut message = ::http::Request::new(());
        *message.method_mut() = request.method().clone();
        *message.uri_mut() = request.uri().clone();
        *message.version_mut() = request.version();
        *message.headers_mut() = request.headers().clone();
        Ok(Self::build(message, target, checked, config))
    }

    /// The request as received: method, URI, version and header fields
    /// (names in lower case, as `http` keeps them).
    pub fn http(&self) -> &::http::Request<()> {
        &self.message
    }

    /// The request as received, given up.
    pub fn into_http(self) -> ::http::Request<()> {
        self.message
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

    /// The method (`GET`, or `CONNECT` for an extended CONNECT).
    pub fn method(&self) -> &str {
        self.message.method().as_str()
    }
}

#[cfg(not(feature = "std"))]
impl Request {
    /// Every header field, in order, names as sent.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.message.headers
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first(&self.message.headers, name)
    }

    /// The method (always `GET`).
    pub fn method(&self) -> &str {
        &self.message.method
    }
}

impl Request {
    fn build(
        #[cfg(feature = "std")] message: ::http::Request<()>,
        #[cfg(not(feature = "std"))] message: Message,
        target: String,
        checked: Checked,
        config: &Config,
    ) -> Self {
        let (negotiated, answers) = Extensions::answer(config, &checked.extensions);
        Self {
            message,
            target,
            kind: checked.kind,
            host: checked.host,
            origin: checked.origin,
            key: checked.key,
            protocols: checked.protocols,
            extensions: checked.extensions,
            negotiated,
            answers,
            config: Box::new(config.clone()),
            leftover: Vec::new(),
        }
    }

    /// How the client asked: an HTTP/1.1 upgrade or an extended CONNECT.
    pub fn upgrade_kind(&self) -> UpgradeKind {
        self.kind
    }

    /// The request-target as sent: usually `/path?query`, possibly an
    /// absolute URI (always one for an extended CONNECT from
    /// [`from_http`](Self::from_http)).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target, without the query (at least `/`).
    pub fn path(&self) -> &str {
        let start = absolute_path_start(&self.target).unwrap_or(0);
        let rest = &self.target[start..];
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        if path.is_empty() { "/" } else { path }
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The `Host` value (for an extended CONNECT, the `:authority`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` value; browsers always send it, so check it to stop
    /// cross-site WebSocket hijacking (§10.2).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` value (base64 text); `None` for an extended
    /// CONNECT, which has none.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The extensions the connection runs with once accepted: those the
    /// [`Config`] enables that the client offered (RFC 7692 §7.1 for
    /// permessage-deflate: the first offer it can honour; malformed offers
    /// are declined, not failed).
    pub fn negotiated_extensions(&self) -> Extensions {
        self.negotiated
    }

    /// Bytes that arrived behind the request (the client's first frames);
    /// [`accept`](Self::accept) feeds them to the connection.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// Accepts the request: the response and the
    /// [`Connection`](crate::Connection) to run once it is written, with the
    /// chosen subprotocol, the negotiated extensions and the leftover bytes
    /// in it. The response is `101 Switching Protocols` for an HTTP/1.1
    /// upgrade, `200` for an extended CONNECT ([`UpgradeKind`]).
    ///
    /// Refused, with a `500` response to write, if `accept` picks a
    /// subprotocol or extension the client did not offer, accepts an
    /// extension the core does not implement (only permessage-deflate is,
    /// and it is negotiated from the [`Config`]), or holds a header that is
    /// malformed or owned by the handshake.
    pub fn accept(mut self, accept: Accept) -> Result<Accepted, Rejected> {
        // The application's mistake, not the client's: 500, whatever the
        // error's own status.
        let http2 = self.kind == UpgradeKind::ExtendedConnect;
        let fail =
            |e| Rejected::with_response(500, reject_response(500, &[], b""), e).for_http2(http2);
        let fields = self.response_fields(&accept).map_err(fail)?;
        #[cfg(feature = "std")]
        let response = {
            let status = match self.kind {
                UpgradeKind::Http11 => 101,
                UpgradeKind::ExtendedConnect => 200,
            };
            http_response(status, self.message.version(), &fields).map_err(fail)?
        };
        let response_bytes = match self.kind {
            UpgradeKind::Http11 => {
                let mut out = Vec::with_capacity(256);
                out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
                for (name, value) in &fields {
                    write_header(&mut out, name, value.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out
            }
            UpgradeKind::ExtendedConnect => Vec::new(),
        };
        let leftover = core::mem::take(&mut self.leftover);
        let connection = hand_over(
            server_connection((*self.config).clone()),
            accept.protocol,
            self.negotiated,
            &leftover,
        );
        Ok(Accepted {
            response_bytes,
            #[cfg(feature = "std")]
            response,
            connection,
            request: self,
        })
    }

    /// Refuses the request: the response `rejection` describes, and
    /// [`HandshakeError::RejectedByApplication`] with its status.
    pub fn reject(self, rejection: Rejection) -> Rejected {
        let (status, response_bytes) = rejection.into_response();
        let error = HandshakeError::RejectedByApplication(status);
        Rejected::with_response(status, response_bytes, error)
            .for_http2(self.kind == UpgradeKind::ExtendedConnect)
    }

    /// The header fields of the answer to `accept`, once checked.
    fn response_fields<'a>(
        &self,
        accept: &'a Accept,
    ) -> Result<Vec<(&'a str, String)>, HandshakeError> {
        self.check(accept)?;
        let mut out: Vec<(&str, String)> = Vec::with_capacity(6 + accept.headers.len());
        if let Some(key) = &self.key {
            out.push(("Upgrade", "websocket".into()));
            out.push(("Connection", "Upgrade".into()));
            out.push(("Sec-WebSocket-Accept", accept_key(key.as_bytes())));
        }
        if let Some(protocol) = &accept.protocol {
            out.push(("Sec-WebSocket-Protocol", protocol.clone()));
        }
        if !accept.extensions.is_empty() || !self.answers.is_empty() {
            let list: Vec<String> = self
                .answers
                .iter()
                .chain(&accept.extensions)
                .map(|e| format!("{e}"))
                .collect();
            out.push(("Sec-WebSocket-Extensions", list.join(", ")));
        }
        for (name, value) in &accept.headers {
            out.push((name, value.clone()));
        }
        Ok(out)
    }

    fn check(&self, accept: &Accept) -> Result<(), HandshakeError> {
        if let Some(p) = accept
            .protocol
            .as_ref()
            .filter(|p| !self.protocols.contains(p))
        {
            return Err(HandshakeError::UnofferedSubprotocol(p.clone()));
        }
        if let Some(ext) = accept.extensions.first() {
            self.check_extension(ext)?;
        }
        accept
            .headers
            .iter()
            .try_for_each(|(n, v)| check_user_header(n, v))
    }

    /// Why an extension the application accepted cannot be answered: it is
    /// malformed, already negotiated, not offered, or one the core lacks.
    fn check_extension(&self, ext: &ExtensionOffer) -> Result<(), HandshakeError> {
        ext.validate()?;
        // Negotiated by the core: a second answer would contradict it.
        if self
            .answers
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(&ext.name))
        {
            return Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Extensions",
                value: format!("{ext} (already negotiated from the Config)"),
            });
        }
        if !self
            .extensions
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&ext.name))
        {
            return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
        }
        // The connection could not apply it: a 101 that names it would
        // break the first frame that uses it.
        Err(HandshakeError::UnsupportedExtension(ext.name.clone()))
    }
}

/// An `http::Response<()>` with `status` and `fields` (already checked).
#[cfg(feature = "std")]
fn http_response(
    status: u16,
    version: ::http::Version,
    fields: &[(&str, String)],
) -> Result<::http::Response<()>, HandshakeError> {
    let mut response = ::http::Response::new(());
    *response.status_mut() = ::http::StatusCode::from_u16(status)
        .map_err(|_| HandshakeError::MalformedHttp("invalid status"))?;
    *response.version_mut() = version;
    for (name, value) in fields {
        let name = ::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid("field-name", name.as_bytes()))?;
        let value = ::http::HeaderValue::from_str(value)
            .map_err(|_| invalid("field-value", value.as_bytes()))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}

/// The application's answer to a [`Request`]: what to put in the `101`
/// response. Checked when [`Request::accept`] writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with no subprotocol, no extensions, no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects one of the offered subprotocols.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Accepts an offered extension with the given response parameters.
    /// The core applies only permessage-deflate, which it negotiates itself
    /// from the [`Config`], so [`Request::accept`] refuses any extension
    /// named here ([`HandshakeError::UnsupportedExtension`], or
    /// [`HandshakeError::UnofferedExtension`]): a `101` never names an
    /// extension the connection would not apply.
    pub fn extension(mut self, extension: ExtensionOffer) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds a response header, such as `Set-Cookie`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The selected subprotocol.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The accepted extensions.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

/// A refusal of an upgrade request: the status, headers and body an
/// application answers with instead of 101. Adapters write
/// [`Rejection::response_bytes`] and close the connection.
///
/// ```
/// use wsock_core::handshake::server::Rejection;
///
/// let rejection = Rejection::new(403).header("X-Reason", "origin").body("forbidden origin\n");
/// assert!(rejection.response_bytes().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Rejection {
    /// A rejection with `status` (200–599; anything else becomes 500), no
    /// extra headers and an empty body.
    pub fn new(status: u16) -> Self {
        let status = if (200..=599).contains(&status) {
            status
        } else {
            500
        };
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a response header (such as `WWW-Authenticate`). Headers that are
    /// not valid HTTP, or that would contradict the response's framing
    /// (`Content-Length`, `Transfer-Encoding`, `Connection`), are left out.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (sent as `text/plain` unless a `Content-Type` header
    /// says otherwise).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The status and the response, for [`Request::reject`].
    fn into_response(self) -> (u16, Vec<u8>) {
        (self.status, self.response_bytes())
    }

    /// The whole HTTP response, ready to write (see [`reject_response`]).
    pub fn response_bytes(&self) -> Vec<u8> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        reject_response(self.status, &headers, &self.body)
    }
}

/// A complete HTTP/1.1 error response that closes the connection. Statuses
/// outside 200–599 become 500 (a `1xx` would not end the exchange).
/// Headers that are not valid HTTP, or that would contradict the framing
/// written here (`Content-Length`, `Transfer-Encoding`, `Connection`), are
/// left out, so callers cannot inject or desynchronise the response.
pub fn reject_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let status = if (200..=599).contains(&status) {
        status
    } else {
        500
    };
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let (mut typed, mut upgrade) = (false, false);
    for &(name, value) in headers {
        let framing = ["Content-Length", "Transfer-Encoding", "Connection"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name));
        if framing || !is_token(name.as_bytes()) || !is_field_value(value.as_bytes()) {
            continue;
        }
        typed |= name.eq_ignore_ascii_case("Content-Type");
        upgrade |= name.eq_ignore_ascii_case("Upgrade");
        write_header(&mut out, name, value.as_bytes());
    }
    if !body.is_empty() && !typed {
        write_header(&mut out, "Content-Type", b"text/plain; charset=utf-8");
    }
    write_header(
        &mut out,
        "Content-Length",
        format!("{}", body.len()).as_bytes(),
    );
    // RFC 7230 §6.7: whoever sends Upgrade also lists it in Connection.
    write_header(
        &mut out,
        "Connection",
        if upgrade { b"Upgrade, close" } else { b"close" },
    );
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The standard reason phrase (RFC 9110 §15), or the class name.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

impl HandshakeError {
    /// A ready-to-send response for request errors (those with an
    /// [`http_status`](Self::http_status)); `None` for client-side errors.
    /// The body names the problem but never echoes request bytes.
    pub fn rejection_response(&self) -> Option<Vec<u8>> {
        let status = self.http_status()?;
        let headers: &[(&str, &str)] = match self {
            Self::MethodNotAllowed(_) => &[("Allow", "GET")],
            Self::UnsupportedVersion(_) | Self::MissingHeader("Sec-WebSocket-Version") => {
                &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")]
            }
            _ => &[],
        };
        Some(reject_response(
            status,
            headers,
            self.rejection_body().as_bytes(),
        ))
    }

    pub(crate) fn rejection_body(&self) -> String {
        match self {
            Self::MalformedHttp(what) => format!("malformed HTTP request: {what}\n"),
            Self::UnsupportedHttpVersion(_) => "a WebSocket handshake needs HTTP/1.1\n".into(),
            Self::MissingHeader("Sec-WebSocket-Version") => {
                "missing Sec-WebSocket-Version (this server speaks 13)\n".into()
            }
            Self::MissingHeader(name) => format!("missing {name} header\n"),
            Self::UnsupportedProtocol(_) => {
                "extended CONNECT is served here for the websocket protocol only\n".into()
            }
            Self::InvalidHeader { name, .. } => format!("invalid {name} header\n"),
            Self::MethodNotAllowed(_) => "a WebSocket handshake must use GET\n".into(),
            Self::UnsupportedVersion(_) => {
                "unsupported Sec-WebSocket-Version (this server speaks 13)\n".into()
            }
            Self::Capacity(c) => format!("request header fields too large ({} limit)\n", c.limit),
            Self::Timeout => "the handshake took too long\n".into(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests;
