//! [`Http2Handshake`]: the client's opening handshake over HTTP/2 (RFC 8441),
//! an extended CONNECT on a new stream instead of an HTTP/1.1 upgrade.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::core_offers;
use super::request::ClientRequest;
use super::response::{Negotiation, status_error};
use crate::config::Config;
use crate::error::HandshakeError;
use crate::handshake::ExtensionOffer;
use crate::handshake::handover::{Connected, MaskSource, client_connection, hand_over};

/// A client's opening handshake over HTTP/2 (RFC 8441): the extended
/// CONNECT to send on a new stream, and the check of the server's answer,
/// which hands over the [`Connected`] connection.
///
/// It takes the same [`ClientRequest`] and [`Config`] as the HTTP/1.1
/// [`ClientHandshake`](super::ClientHandshake) (subprotocols, extension
/// offers, permessage-deflate from the `Config`, `Origin`, extra headers)
/// and checks the answer with the same code: a subprotocol or extension
/// the client did not offer is refused as over HTTP/1.1. Only what
/// HTTP/2 changes differs (RFC 8441 §5): the request is a `CONNECT` with
/// no `Sec-WebSocket-Key`, `Upgrade` or `Connection`, and the answer is
/// any `2xx` with no `Sec-WebSocket-Accept`, since the stream, not the
/// connection, becomes the WebSocket.
///
/// The core does no HTTP/2 framing: send [`request`](Self::request) with
/// an HTTP/2 stack, **setting the `:protocol` pseudo-header to
/// `websocket` yourself** (the `http` types have no place for it: with the
/// `h2` crate it is the extension `h2::ext::Protocol::from_static("websocket")`,
/// with hyper `hyper::ext::Protocol`), after checking that the server
/// allows extended CONNECT (its `SETTINGS_ENABLE_CONNECT_PROTOCOL`, RFC
/// 8441 §3). Then give the response head to [`finish`](Self::finish) and
/// run the connection over the stream's DATA frames.
///
/// ```
/// use wsock_core::handshake::client::{ClientRequest, Http2Handshake};
/// use wsock_core::{Config, http};
///
/// let request = ClientRequest::new("wss://example.com/chat")?.protocol("chat")?;
/// let handshake = Http2Handshake::new(&request, &Config::default())?;
/// let connect = handshake.request();
/// assert_eq!(connect.method(), http::Method::CONNECT);
/// assert_eq!(connect.uri(), "https://example.com/chat");
/// assert_eq!(connect.headers()["sec-websocket-version"], "13");
/// assert_eq!(connect.headers()["sec-websocket-protocol"], "chat");
/// assert!(!connect.headers().contains_key("sec-websocket-key"));
///
/// // The server's answer, as the HTTP/2 stack hands it over.
/// let response = http::Response::builder()
///     .status(200)
///     .header("sec-websocket-protocol", "chat")
///     .body(())?;
/// let connected = handshake.finish(&response)?;
/// assert_eq!(connected.connection.protocol(), Some("chat"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Http2Handshake {
    request: ::http::Request<()>,
    /// The offers the answer is checked against.
    negotiation: Negotiation,
    /// The settings of the connection [`finish`](Self::finish) hands over.
    config: Config,
    /// Where that connection's mask keys come from, if not the default.
    mask_source: Option<MaskSource>,
}

impl Http2Handshake {
    /// Starts a handshake for `request`, offering what `config` enables
    /// (permessage-deflate with [`Config::deflate`](crate::Config)); the
    /// connection it hands over runs with `config`.
    ///
    /// Fails for a header HTTP/2 forbids (`Keep-Alive`,
    /// `Proxy-Connection`, `TE`; RFC 9113 §8.2.2), which the HTTP/1.1
    /// handshake would send.
    pub fn new(request: &ClientRequest, config: &Config) -> Result<Self, HandshakeError> {
        let mut negotiation = Negotiation {
            protocols: request.protocols.clone(),
            extensions: request.extensions.iter().map(|e| e.name.clone()).collect(),
            offered: None,
        };
        let mut extensions: Vec<ExtensionOffer> = request.extensions.clone();
        extensions.extend(core_offers(&mut negotiation, config));
        Ok(Self {
            request: request.to_http2(&extensions)?,
            negotiation,
            config: config.clone(),
            mask_source: None,
        })
    }

    /// Sets where the connection's mask keys come from (RFC 6455 §5.3),
    /// instead of the operating system's random source.
    pub fn with_mask_source(mut self, source: impl FnMut() -> [u8; 4] + Send + 'static) -> Self {
        self.mask_source = Some(alloc::boxed::Box::new(source));
        self
    }

    /// The extended CONNECT to send (a new value on each call, as
    /// `http::Request` is not `Clone`): method `CONNECT`, version HTTP/2,
    /// the URI whose scheme (`https` for `wss://`, `http` for `ws://`),
    /// authority and path are the pseudo-headers, and the header fields.
    /// The `:protocol` pseudo-header is the caller's to add (see above).
    pub fn request(&self) -> ::http::Request<()> {
        let mut request = ::http::Request::new(());
        *request.method_mut() = self.request.method().clone();
        *request.version_mut() = self.request.version();
        *request.uri_mut() = self.request.uri().clone();
        *request.headers_mut() = self.request.headers().clone();
        request
    }

    /// Checks the server's answer (its head: status and fields; the body
    /// is the stream, and is not read). A `2xx` with a subprotocol and
    /// extensions the client offered gives the [`Connected`] connection,
    /// which runs with what was agreed (its first bytes are the stream's
    /// DATA). Otherwise the same errors as over HTTP/1.1:
    /// [`HandshakeError::Redirect`] for a `3xx`,
    /// [`HandshakeError::Rejected`] carrying the status and fields for any
    /// other status, [`HandshakeError::UnofferedSubprotocol`],
    /// [`HandshakeError::UnofferedExtension`], or a malformed
    /// `Sec-WebSocket-Extensions`.
    pub fn finish<B>(
        mut self,
        response: &::http::Response<B>,
    ) -> Result<Connected, HandshakeError> {
        let headers: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .map(|(name, value)| (String::from(name.as_str()), value.as_bytes().to_vec()))
            .collect();
        if !response.status().is_success() {
            return Err(status_error(response.status().as_u16(), headers, &[]));
        }
        let mut message = ::http::Response::new(());
        *message.status_mut() = response.status();
        *message.version_mut() = response.version();
        *message.headers_mut() = response.headers().clone();
        let response = self.negotiation.response(message, headers)?;
        // A stream, not a TCP connection: the client need not wait for
        // the server to end it after the closing handshake.
        let connection = client_connection(self.config.clone(), self.mask_source.take())?
            .with_stream_transport();
        let connection = hand_over(
            connection,
            response.protocol.clone(),
            response.negotiated,
            &[],
        );
        Ok(Connected {
            response,
            connection,
        })
    }
}

/// Leaves the request's fields out: they may hold credentials.
impl fmt::Debug for Http2Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Handshake")
            .field("uri", self.request.uri())
            .field("protocols", &self.negotiation.protocols)
            .field("extensions", &self.negotiation.extensions)
            .finish_non_exhaustive()
    }
}
