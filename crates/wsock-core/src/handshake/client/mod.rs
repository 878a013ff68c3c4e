//! The client side of the opening handshake (RFC 6455 §4.1): describe the
//! request with [`ClientRequest`], send [`ClientHandshake::request_bytes`],
//! and feed the server's answer to [`ClientHandshake::feed`], which hands
//! over the [`Connected`] connection.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::handover::{Connected, MaskSource, client_connection, hand_over};
use super::wire::{HeaderReader, write_header};
use super::{ExtensionOffer, accept_key};
use crate::config::Config;
use crate::error::HandshakeError;
use crate::extension::Extensions;

#[cfg(feature = "std")]
mod http2;
mod into_request; // IntoClientRequest, and ClientRequest::from_http
mod request; // ClientRequest: the request to send, from a URL
mod response; // the server's answer: its checks, and the Response // Http2Handshake: the RFC 8441 extended CONNECT

#[cfg(feature = "std")]
pub use http2::Http2Handshake;
pub use into_request::IntoClientRequest;
pub use request::ClientRequest;
use response::Negotiation;
pub use response::Response;

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
    /// The offers the answer is checked against.
    negotiation: Negotiation,
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
            negotiation: Negotiation {
                protocols: request.protocols.clone(),
                extensions: request.extensions.iter().map(|e| e.name.clone()).collect(),
                offered: None,
            },
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
        let offers = core_offers(&mut self.negotiation, config);
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
        }
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
}

/// Leaves the request bytes out: they may hold credentials.
impl fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("protocols", &self.negotiation.protocols)
            .field("extensions", &self.negotiation.extensions)
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// The offers `config` enables that the request does not already make by
/// name, recorded in `negotiation` (which then checks the answer against
/// them): what both handshakes add to the application's offers.
fn core_offers(negotiation: &mut Negotiation, config: &Config) -> Vec<ExtensionOffer> {
    let offers: Vec<ExtensionOffer> = Extensions::offers(config)
        .into_iter()
        .filter(|o| {
            !negotiation
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
    negotiation
        .extensions
        .extend(offers.iter().map(|o| o.name.clone()));
    negotiation.offered = Some(enabled);
    offers
}

#[cfg(test)]
mod tests;
