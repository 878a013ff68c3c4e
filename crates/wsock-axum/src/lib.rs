//! WebSocket routes for [axum](https://docs.rs/axum) 0.8 on the wsock
//! engine, over HTTP/1.1 (`101 Switching Protocols`) and HTTP/2 (RFC 8441
//! extended CONNECT, answered with `200`).
//!
//! [`WebSocketUpgrade`] is an extractor as axum's own: take it in a
//! handler, set the options, and return [`on_upgrade`](WebSocketUpgrade::on_upgrade)'s
//! response; the callback gets the [`WebSocket`] once the response is
//! sent. The checks and the negotiation (subprotocols, permessage-deflate,
//! limits) are wsock-hyper's [`upgrade`](wsock_hyper::upgrade) module,
//! with the same [`Acceptor`] settings as a plain TCP accept.
//!
//! ```
//! use axum::{Router, response::Response, routing::any};
//! use wsock_axum::{WebSocket, WebSocketUpgrade};
//!
//! async fn handler(ws: WebSocketUpgrade) -> Response {
//!     ws.protocols(["chat.v2", "chat.v1"])
//!         .max_message_size(1 << 20)
//!         .on_upgrade(echo)
//! }
//!
//! async fn echo(mut ws: WebSocket) {
//!     while let Ok(Some(message)) = ws.recv().await {
//!         if message.is_data() && ws.send(message).await.is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! // `any`: an HTTP/2 WebSocket is a CONNECT, not a GET.
//! let app: Router = Router::new().route("/ws", any(handler));
//! ```
//!
//! # HTTP/2
//!
//! An HTTP/2 WebSocket request is a `CONNECT` (with `:protocol
//! websocket`), so its route must accept that method: route with
//! `any(handler)`, or `get(handler).connect(handler)`; `get(handler)`
//! alone answers HTTP/2 clients with 405. `axum::serve` accepts extended
//! CONNECT when axum's `http2` feature is on (it calls
//! `enable_connect_protocol()`); serving the router with hyper-util's
//! `auto::Builder` yourself, call `builder.http2().enable_connect_protocol()`
//! and `serve_connection_with_upgrades`.
//!
//! # Refusals
//!
//! A request that is not a valid WebSocket opening handshake is refused by
//! the extractor with a [`WebSocketUpgradeRejection`], an axum response
//! with the core's status: 400 (not an upgrade, no key…), 405 (`Allow:
//! GET`), 426 (another version), 501 (an extended CONNECT of another
//! protocol). Take `Option<WebSocketUpgrade>` to serve something else to
//! requests that do not ask for a WebSocket (a malformed one still gets
//! its error).

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::fmt;
use std::future::Future;

use axum_core::body::Body;
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use wsock_hyper::upgrade::{AcceptorExt as _, Upgraded, is_upgrade_request};
use wsock_tokio::{Accept, Config, Request};

pub use wsock_tokio::{Acceptor, CloseCode, CloseFrame, Error, ErrorKind, Message};

#[cfg(feature = "deflate")]
pub use wsock_tokio::DeflateConfig;

/// The WebSocket a route's callback gets: wsock-tokio's, on hyper's
/// upgraded connection (HTTP/1.1) or stream (HTTP/2).
pub type WebSocket = wsock_tokio::WebSocket<Upgraded>;

/// What to do when the connection ends before the upgrade completes.
type OnFailed = Box<dyn FnOnce(Error) + Send>;

/// An extractor for a WebSocket opening handshake (HTTP/1.1 `GET` with
/// `Upgrade: websocket`, or HTTP/2 extended `CONNECT`): set the options,
/// then answer with [`on_upgrade`](Self::on_upgrade).
///
/// The options start as [`Acceptor::new`]'s (permessage-deflate on, wsock's
/// default limits); [`acceptor`](Self::acceptor) sets them all at once,
/// the setters one each.
#[must_use = "the WebSocket only comes by returning `on_upgrade`'s response"]
pub struct WebSocketUpgrade {
    /// The request's head, with hyper's upgrade handle and the extended
    /// CONNECT's `:protocol` moved into its extensions, as
    /// [`AcceptorExt::upgrade_with`](wsock_hyper::upgrade::AcceptorExt::upgrade_with) reads them.
    request: http::Request<()>,
    acceptor: Acceptor,
    /// The server's subprotocols.
    protocols: Vec<String>,
    on_failed_upgrade: Option<OnFailed>,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field("version", &self.request.version())
            .field("acceptor", &self.acceptor)
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// Replaces every option (limits, buffers, deflate, keepalive,
    /// timeouts) with `acceptor`'s. Subprotocols stay
    /// [`protocols`](Self::protocols)'. The settings of the opening
    /// handshake (`handshake_timeout`, `max_headers`, `max_header_bytes`)
    /// play no part: hyper read the request, within its own limits.
    pub fn acceptor(mut self, acceptor: Acceptor) -> Self {
        self.acceptor = acceptor;
        self
    }

    /// The subprotocols this route speaks. The first one the client
    /// offers (in its order) that is listed here is chosen, and is the
    /// WebSocket's [`protocol`](wsock_tokio::WebSocket::protocol); if none
    /// is, the connection is accepted without a subprotocol.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.request
            .headers()
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// Largest accepted message (close code 1009 above it). Default 64 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.acceptor = self.acceptor.max_message_size(bytes);
        self
    }

    /// Largest accepted frame payload (close code 1009 above it). Default
    /// 16 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.acceptor = self.acceptor.max_frame_size(bytes);
        self
    }

    /// Queued output above which sending waits for the peer to read.
    /// Default 64 KiB.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.acceptor = self.acceptor.write_buffer_size(bytes);
        self
    }

    /// permessage-deflate (RFC 7692): accepted when the client offers it,
    /// by default; `DeflateConfig::disabled()` turns it off.
    #[cfg(feature = "deflate")]
    #[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
    pub fn deflate(mut self, deflate: DeflateConfig) -> Self {
        self.acceptor = self.acceptor.deflate(deflate);
        self
    }

    /// Called with the error when the connection ends before hyper hands
    /// it over (the client went away after the request). By default the
    /// failure is only reported through `tracing`, as wsock-tokio reports
    /// failed handshakes.
    pub fn on_failed_upgrade<F>(mut self, callback: F) -> Self
    where
        F: FnOnce(Error) + Send + 'static,
    {
        self.on_failed_upgrade = Some(Box::new(callback));
        self
    }

    /// Accepts the WebSocket: returns the response for the handler to
    /// return (`101 Switching Protocols` over HTTP/1.1, `200` over HTTP/2,
    /// with the chosen subprotocol and extensions), and runs `callback`
    /// with the [`WebSocket`] in a task of its own once the response is
    /// sent.
    ///
    /// The extractor checked the request already; should the acceptor
    /// refuse it nonetheless, the response is that refusal and `callback`
    /// never runs.
    pub fn on_upgrade<C, Fut>(mut self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let protocols = std::mem::take(&mut self.protocols);
        let answer = self.acceptor.upgrade_with(&mut self.request, |request| {
            let chosen = request
                .protocols()
                .iter()
                .find(|offered| protocols.iter().any(|p| p == *offered));
            Ok(match chosen {
                Some(protocol) => Accept::new().protocol(protocol.as_str()),
                None => Accept::new(),
            })
        });
        match answer {
            Ok((response, upgrade)) => {
                let on_failed_upgrade = self.on_failed_upgrade;
                tokio::spawn(async move {
                    match upgrade.await {
                        Ok(ws) => callback(ws).await,
                        Err(e) => {
                            if let Some(on_failed_upgrade) = on_failed_upgrade {
                                on_failed_upgrade(e);
                            }
                        }
                    }
                });
                response.map(Body::new)
            }
            Err(refusal) => refusal.map(Body::new),
        }
    }
}

/// The core's checks of the request, as in
/// [`AcceptorExt::upgrade_with`](wsock_hyper::upgrade::AcceptorExt::upgrade_with): the extractor tells bad requests from good
/// ones, the route's options apply in
/// [`on_upgrade`](WebSocketUpgrade::on_upgrade).
fn check(
    request: &http::Request<()>,
    protocol: Option<&str>,
) -> Result<(), WebSocketUpgradeRejection> {
    match Request::from_http(request, protocol, &Config::default()) {
        Ok(_) => Ok(()),
        Err(rejected) => {
            let reason = rejected.error.to_string();
            let (head, body) = rejected.response().into_parts();
            Err(WebSocketUpgradeRejection::new(RejectionInner {
                status: head.status,
                headers: head.headers,
                body,
                reason,
            }))
        }
    }
}

impl<S> FromRequestParts<S> for WebSocketUpgrade
where
    S: Send + Sync,
{
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let protocol = parts.extensions.get::<hyper::ext::Protocol>().cloned();
        let mut request = http::Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        check(
            &request,
            protocol.as_ref().map(hyper::ext::Protocol::as_str),
        )?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(WebSocketUpgradeRejection::not_upgradable)?;
        request.extensions_mut().insert(on_upgrade);
        if let Some(protocol) = protocol {
            request.extensions_mut().insert(protocol);
        }
        Ok(Self {
            request,
            acceptor: Acceptor::new(),
            protocols: Vec::new(),
            on_failed_upgrade: None,
        })
    }
}

/// `Option<WebSocketUpgrade>`: `None` for a request that does not ask for
/// a WebSocket; one that asks but is malformed is still refused.
impl<S> OptionalFromRequestParts<S> for WebSocketUpgrade
where
    S: Send + Sync,
{
    type Rejection = WebSocketUpgradeRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let mut head = http::Request::new(());
        *head.method_mut() = parts.method.clone();
        *head.version_mut() = parts.version;
        *head.headers_mut() = parts.headers.clone();
        if let Some(protocol) = parts.extensions.get::<hyper::ext::Protocol>() {
            head.extensions_mut().insert(protocol.clone());
        }
        if !is_upgrade_request(&head) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// A request the [`WebSocketUpgrade`] extractor refused, as an HTTP
/// response: the core's status and reason (400, 405 with `Allow: GET`, 426
/// with `Sec-WebSocket-Version: 13`, 501), or 426 when the server gave no
/// upgrade handle (the request did not come through hyper).
#[derive(Debug)]
pub struct WebSocketUpgradeRejection {
    /// Boxed: the extractor's `Result` stays small.
    inner: Box<RejectionInner>,
}

#[derive(Debug)]
struct RejectionInner {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    reason: String,
}

impl WebSocketUpgradeRejection {
    fn new(inner: RejectionInner) -> Self {
        Self {
            inner: Box::new(inner),
        }
    }

    fn not_upgradable() -> Self {
        let reason = "the request cannot be upgraded: no upgrade handle from the server";
        Self::new(RejectionInner {
            status: StatusCode::UPGRADE_REQUIRED,
            headers: HeaderMap::new(),
            body: format!("{reason}\n").into_bytes(),
            reason: reason.into(),
        })
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// Why the request was refused.
    pub fn reason(&self) -> &str {
        &self.inner.reason
    }
}

impl fmt::Display for WebSocketUpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.inner.status, self.inner.reason)
    }
}

impl std::error::Error for WebSocketUpgradeRejection {}

impl IntoResponse for WebSocketUpgradeRejection {
    fn into_response(self) -> Response {
        let RejectionInner {
            status,
            headers,
            body,
            ..
        } = *self.inner;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::request::Builder) -> Parts {
        request.body(()).unwrap().into_parts().0
    }

    fn handshake() -> http::request::Builder {
        http::Request::get("/ws")
            .header("host", "example.com")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13")
    }

    async fn extract(mut parts: Parts) -> Result<WebSocketUpgrade, WebSocketUpgradeRejection> {
        <WebSocketUpgrade as FromRequestParts<()>>::from_request_parts(&mut parts, &()).await
    }

    async fn extract_optional(
        mut parts: Parts,
    ) -> Result<Option<WebSocketUpgrade>, WebSocketUpgradeRejection> {
        <WebSocketUpgrade as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
    }

    #[tokio::test]
    async fn refusals_carry_the_core_status_and_headers() {
        let plain = parts(http::Request::get("/ws").header("host", "x"));
        let rejection = extract(plain).await.unwrap_err();
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        let response = rejection.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        let old = parts(handshake().header("sec-websocket-version", "8"));
        let response = extract(old).await.unwrap_err().into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");

        let post = parts(handshake().method(http::Method::POST));
        let rejection = extract(post).await.unwrap_err();
        assert_eq!(rejection.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert!(!rejection.reason().is_empty());
        assert_eq!(rejection.into_response().headers()["allow"], "GET");
    }

    #[tokio::test]
    async fn a_valid_request_without_hyper_upgrade_handle_is_426() {
        // Not served by hyper (a `oneshot` in a test, say): nothing to
        // upgrade.
        let rejection = extract(parts(handshake())).await.unwrap_err();
        assert_eq!(rejection.status(), StatusCode::UPGRADE_REQUIRED);
        assert!(rejection.to_string().contains("no upgrade handle"));
    }

    #[tokio::test]
    async fn optional_is_none_for_other_requests_only() {
        let plain = parts(http::Request::get("/ws").header("host", "x"));
        assert!(extract_optional(plain).await.unwrap().is_none());
        // Asks for a WebSocket, malformed: still refused.
        let mut no_key = handshake().body(()).unwrap();
        no_key.headers_mut().remove("sec-websocket-key");
        let rejection = extract_optional(no_key.into_parts().0).await.unwrap_err();
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    }
}
