//! [`Request::from_http`] for HTTP/1.1 and RFC 8441 requests: on its own, as it needs `std`.

use super::reject::reject_response;
use super::request::{Request, UpgradeKind};
use super::validate::{Checked, check_target};
use crate::config::Config;
use crate::error::HandshakeError;
use crate::handshake::handover::Rejected;
use crate::handshake::wire::{Headers, trim};

impl Request {
    /// Checks a request that an HTTP stack such as hyper parsed, and
    /// negotiates what `config` enables, as
    /// [`ServerHandshake`](super::ServerHandshake) does; its
    /// [`accept`](Self::accept) answers with the response to hand back to
    /// that stack
    /// ([`Accepted::response`](crate::handshake::Accepted::response)). The
    /// body is not looked at, and there are no leftover bytes: the stack
    /// hands over the upgraded connection or stream.
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
    /// * any other bad field: 400, as from [`ServerHandshake`](super::ServerHandshake).
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

    /// Whether an HTTP stack's request asks for a WebSocket, for routing
    /// it to [`from_http`](Self::from_http) rather than to plain HTTP: an
    /// HTTP/1.1 `Upgrade` field listing `websocket`, or an HTTP/2 or 3
    /// `CONNECT` whose `:protocol` (`protocol`, as for `from_http`) is
    /// `websocket` (both case-insensitive). Only the intent is read: a
    /// request that asks and is malformed (no key, a wrong version, `POST`)
    /// is still `true`, so that `from_http` answers it with the status
    /// that says what is wrong rather than the application answering 404.
    ///
    /// ```
    /// use wsock_core::handshake::server::Request;
    /// use wsock_core::http;
    ///
    /// let page = http::Request::get("/").body(())?;
    /// let upgrade = http::Request::get("/chat").header("upgrade", "WebSocket").body(())?;
    /// let h2 = http::Request::connect("https://example.com/chat")
    ///     .version(http::Version::HTTP_2)
    ///     .body(())?;
    /// assert!(!Request::is_upgrade_request(&page, None));
    /// assert!(Request::is_upgrade_request(&upgrade, None));
    /// assert!(Request::is_upgrade_request(&h2, Some("websocket")));
    /// assert!(!Request::is_upgrade_request(&h2, Some("webtransport")));
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn is_upgrade_request<B>(request: &::http::Request<B>, protocol: Option<&str>) -> bool {
        use ::http::{Method, Version};
        let websocket = |token: &[u8]| token.eq_ignore_ascii_case(b"websocket");
        match request.version() {
            Version::HTTP_11 => request
                .headers()
                .get_all(::http::header::UPGRADE)
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .any(|token| websocket(trim(token))),
            Version::HTTP_2 | Version::HTTP_3 => {
                request.method() == Method::CONNECT
                    && protocol.is_some_and(|p| websocket(p.as_bytes()))
            }
            _ => false,
        }
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
}
