//! The server side of the opening handshake (RFC 6455 §4.2): read and check
//! the client's request, then answer it with [`Request::accept`], which
//! hands over a ready [`Connection`](crate::Connection), or
//! [`Request::reject`]. A malformed request is answered by turning its
//! error into a [`Rejected`](crate::handshake::Rejected).

use super::wire::{HeaderReader, INCOMPLETE};
use crate::config::Config;
use crate::error::HandshakeError;

mod accept; // Accept, and the 101 (or 200) answer Request::accept writes
#[cfg(feature = "std")]
mod from_http; // Request::from_http: requests another HTTP stack parsed
mod reject; // Rejection, Request::reject and the error responses
mod request; // the Request a valid handshake yields, and its getters
mod validate; // the checks on a request's fields (§4.2.1, RFC 8441 §5)

pub use accept::Accept;
pub use reject::{Rejection, reject_response};
pub use request::{Request, UpgradeKind};
pub use validate::validate_request;

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
    /// answer it with [`Rejected::from`](crate::handshake::Rejected::from) (or
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

#[cfg(test)]
mod tests;
