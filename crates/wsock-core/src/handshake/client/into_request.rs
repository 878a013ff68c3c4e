//! [`IntoClientRequest`] and [`ClientRequest::from_http`]: conversions, apart from the request.

use alloc::string::String;
#[cfg(feature = "std")]
use alloc::string::ToString;

use super::request::ClientRequest;
use crate::error::HandshakeError;
#[cfg(feature = "std")]
use crate::handshake::extension;
#[cfg(feature = "std")]
use crate::handshake::wire::invalid;

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
