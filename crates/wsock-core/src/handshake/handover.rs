//! What a finished handshake hands over: on success a ready [`Connection`]
//! (role, subprotocol, negotiated extensions and the bytes that arrived
//! behind the handshake already in it), on refusal the response to write
//! and a typed error.
//!
//! The connection is built here, once, so that no caller can forget a part
//! of the agreement (an extension left out would make the first compressed
//! frame fail the connection) or the frames that arrived with the request.

use alloc::string::String;
use alloc::vec::Vec;

use alloc::boxed::Box;

use super::client::Response;
use super::server::{Request, reject_response};
use crate::config::{Config, Role};
use crate::connection::Connection;
use crate::error::HandshakeError;
use crate::extension::Extensions;

/// The server accepted: write [`response_bytes`](Self::response_bytes)
/// (or hand `response` to the HTTP stack that read the request), then run
/// [`connection`](Self::connection).
#[derive(Debug)]
#[non_exhaustive]
pub struct Accepted {
    /// The `101 Switching Protocols` response, to write before any frame.
    /// Empty for an extended CONNECT
    /// ([`UpgradeKind::ExtendedConnect`](super::server::UpgradeKind)),
    /// whose `200` only the HTTP/2 stack can send: it sends `response`.
    pub response_bytes: Vec<u8>,
    /// The same response as an `http` value (status `101`, or `200` for
    /// an extended CONNECT, and the header fields), for an HTTP stack such
    /// as hyper that writes responses itself.
    #[cfg(feature = "std")]
    pub response: http::Response<()>,
    /// The connection in force once the response is written: the chosen
    /// subprotocol, the extensions negotiated from the handshake's
    /// [`Config`], and any frames the client sent right behind its
    /// request, already fed.
    pub connection: Connection,
    /// The request that was accepted (for its path, headers and origin).
    pub request: Request,
}

/// The server refused: write [`response_bytes`](Self::response_bytes), then
/// close the transport. [`error`](Self::error) says why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejected {
    /// The HTTP status of the response.
    pub status: u16,
    /// The whole HTTP response, ready to write; it closes the connection.
    pub response_bytes: Vec<u8>,
    /// Why: a request error, [`HandshakeError::RejectedByApplication`], or
    /// an [`Accept`](super::server::Accept) the core cannot honour.
    pub error: HandshakeError,
    /// The request was an extended CONNECT: its answer goes out on an
    /// HTTP/2 stream, where `Upgrade` means nothing.
    http2: bool,
}

impl Rejected {
    /// The answer to a client that did not finish its request in time:
    /// `408 Request Timeout`. Adapters that bound the handshake with a
    /// timer all answer with this.
    pub fn timed_out() -> Self {
        HandshakeError::Timeout.into()
    }

    /// The longest an adapter spends ending the transport after this
    /// response: writing it, shutting down its writing side, then reading
    /// and dropping what the client still sends until its end of stream.
    /// Closing with unread request bytes would send a reset, which can
    /// destroy the response in flight. 1 s for a client too slow to send
    /// its request (408: it is unlikely to be sending much), 2 s otherwise.
    pub fn closing_time(&self) -> core::time::Duration {
        let secs = if self.status == 408 { 1 } else { 2 };
        core::time::Duration::from_secs(secs)
    }

    /// A refusal with a response of the caller's making.
    pub(crate) fn with_response(
        status: u16,
        response_bytes: Vec<u8>,
        error: HandshakeError,
    ) -> Self {
        Self {
            status,
            response_bytes,
            error,
            http2: false,
        }
    }

    /// Marks the refusal of an extended CONNECT.
    pub(crate) fn for_http2(mut self, http2: bool) -> Self {
        self.http2 = http2;
        self
    }

    /// The same response as an `http` value, for an HTTP stack such as
    /// hyper that writes responses itself: the status, the header fields
    /// and the body. `Connection` is left out (the stack manages the
    /// connection), and so is `Upgrade` when the request was an HTTP/2
    /// extended CONNECT.
    #[cfg(feature = "std")]
    pub fn response(&self) -> http::Response<Vec<u8>> {
        let lines = self.response_bytes.split(|&b| b == b'\n').count();
        let mut slots = alloc::vec![httparse::EMPTY_HEADER; lines];
        let mut parsed = httparse::Response::new(&mut slots);
        let head = match parsed.parse(&self.response_bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => self.response_bytes.len(),
        };
        let mut response = http::Response::new(self.response_bytes[head..].to_vec());
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for field in parsed.headers.iter() {
            let hop = field.name.eq_ignore_ascii_case("Connection")
                || (self.http2 && field.name.eq_ignore_ascii_case("Upgrade"));
            let name = http::HeaderName::from_bytes(field.name.as_bytes());
            let value = http::HeaderValue::from_bytes(field.value);
            if let (false, Ok(name), Ok(value)) = (hop, name, value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A request error answered with its status (400, 405, 408, 426, 431), or
/// with `500` for an error that is the server's own (such as an
/// [`Accept`](super::server::Accept) naming something the client did not
/// offer). The body names the problem but never echoes request bytes.
impl From<HandshakeError> for Rejected {
    fn from(error: HandshakeError) -> Self {
        match error.rejection_response() {
            Some(bytes) => Self::with_response(error.http_status().unwrap_or(500), bytes, error),
            None => Self::with_response(500, reject_response(500, &[], b""), error),
        }
    }
}

/// The client's handshake is done: the server's response, and the
/// connection to run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Connected {
    /// The server's `101` response.
    pub response: Response,
    /// The connection, with the subprotocol and extensions the server
    /// agreed to, and any frames that arrived behind the response already
    /// fed.
    pub connection: Connection,
}

/// A source of client mask keys.
pub(crate) type MaskSource = Box<dyn FnMut() -> [u8; 4] + Send>;

/// A fresh client connection: mask keys from `source`, else (with `std`)
/// the operating system's random source.
// Infallible with `std`; without it, a missing source is an error.
#[cfg_attr(feature = "std", allow(clippy::unnecessary_wraps))]
pub(crate) fn client_connection(
    config: Config,
    source: Option<MaskSource>,
) -> Result<Connection, HandshakeError> {
    match source {
        Some(source) => Ok(Connection::with_mask_source(Role::Client, config, source)),
        #[cfg(feature = "std")]
        None => Ok(Connection::new(Role::Client, config)),
        #[cfg(not(feature = "std"))]
        None => Err(HandshakeError::NoMaskSource),
    }
}

/// A fresh connection for `role`. Only clients mask, so a server needs no
/// random source; a client without `std` gets its keys from the caller.
pub(crate) fn server_connection(config: Config) -> Connection {
    #[cfg(feature = "std")]
    {
        Connection::new(Role::Server, config)
    }
    #[cfg(not(feature = "std"))]
    {
        // A server never masks (RFC 6455 §5.1), so the source is never read.
        Connection::with_mask_source(Role::Server, config, || [0; 4])
    }
}

/// Puts the handshake's agreement and the bytes behind it into `connection`.
pub(crate) fn hand_over(
    connection: Connection,
    protocol: Option<String>,
    extensions: Extensions,
    leftover: &[u8],
) -> Connection {
    let mut connection = connection
        .with_protocol(protocol)
        .with_extensions(extensions);
    if !leftover.is_empty() {
        connection.feed(leftover);
    }
    connection
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::event::Event;
    use crate::handshake::server::{Accept, Rejection, ServerHandshake};

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    /// A masked text frame "Hi" (mask key 0), as a client sends it.
    const HI: &[u8] = b"\x81\x82\0\0\0\0Hi";

    #[test]
    fn rfc6455_4_2_2_frames_behind_the_request_arrive_as_events() {
        let mut hs = ServerHandshake::new(&Config::default());
        let request = hs.feed(&[REQUEST, HI, &HI[..3]].concat()).unwrap().unwrap();
        let accepted = request.accept(Accept::new().protocol("chat")).unwrap();
        let mut connection = accepted.connection;
        assert_eq!(connection.role(), Role::Server);
        assert_eq!(connection.protocol(), Some("chat"));
        assert_eq!(
            connection.poll_event(),
            Ok(Some(Event::Message(Message::text("Hi"))))
        );
        assert_eq!(connection.poll_event(), Ok(None));
        connection.feed(&HI[3..]);
        assert_eq!(
            connection.poll_event(),
            Ok(Some(Event::Message(Message::text("Hi"))))
        );
        assert_eq!(accepted.request.path(), "/chat");
        assert_eq!(accepted.request.leftover(), b"");
    }

    #[test]
    fn rfc6455_4_2_2_request_split_from_its_frames_still_hands_them_over() {
        let mut hs = ServerHandshake::new(&Config::default());
        let (head, tail) = REQUEST.split_at(REQUEST.len() - 1);
        assert!(hs.feed(head).unwrap().is_none());
        let request = hs.feed(&[tail, HI].concat()).unwrap().unwrap();
        assert_eq!(request.leftover(), HI);
        let mut connection = request.accept(Accept::new()).unwrap().connection;
        assert_eq!(connection.protocol(), None);
        assert_eq!(
            connection.poll_event(),
            Ok(Some(Event::Message(Message::text("Hi"))))
        );
    }

    #[test]
    fn reject_gives_the_applications_response_and_a_typed_error() {
        let request = ServerHandshake::new(&Config::default())
            .feed(REQUEST)
            .unwrap()
            .unwrap();
        let rejected = request.reject(Rejection::new(403).body("no\n"));
        assert_eq!(rejected.status, 403);
        assert!(
            rejected
                .response_bytes
                .starts_with(b"HTTP/1.1 403 Forbidden\r\n")
        );
        assert!(rejected.response_bytes.ends_with(b"\r\n\r\nno\n"));
        assert_eq!(rejected.error, HandshakeError::RejectedByApplication(403));
    }

    #[test]
    fn a_bad_accept_is_a_500_and_no_connection() {
        let request = ServerHandshake::new(&Config::default())
            .feed(REQUEST)
            .unwrap()
            .unwrap();
        let rejected = request.accept(Accept::new().protocol("nope")).unwrap_err();
        assert_eq!(rejected.status, 500);
        assert!(rejected.response_bytes.starts_with(b"HTTP/1.1 500 "));
        assert_eq!(
            rejected.error,
            HandshakeError::UnofferedSubprotocol("nope".into())
        );
    }

    #[test]
    fn request_errors_and_timeouts_become_their_responses() {
        let rejected = Rejected::timed_out();
        assert_eq!(
            (rejected.status, &rejected.error),
            (408, &HandshakeError::Timeout)
        );
        assert!(
            rejected
                .response_bytes
                .starts_with(b"HTTP/1.1 408 Request Timeout\r\n")
        );
        assert!(
            rejected
                .response_bytes
                .ends_with(b"\r\n\r\nthe handshake took too long\n")
        );
        let error = ServerHandshake::new(&Config::default())
            .feed(b"POST / HTTP/1.1\r\n\r\n")
            .unwrap_err();
        let rejected = Rejected::from(error);
        assert_eq!(rejected.status, 405);
        assert!(
            rejected
                .response_bytes
                .starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n")
        );
        let rejected = Rejected::from(HandshakeError::UnexpectedEof);
        assert_eq!(rejected.status, 500);
    }

    // Ending the transport after a rejection: a client too slow to send
    // its request gets the shorter linger.
    #[test]
    fn a_rejection_closes_within_its_closing_time() {
        let secs = |r: Rejected| r.closing_time().as_secs();
        assert_eq!(secs(Rejected::timed_out()), 1);
        assert_eq!(secs(Rejected::from(HandshakeError::UnexpectedEof)), 2);
        let request = ServerHandshake::new(&Config::default())
            .feed(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            secs(request.reject(super::super::server::Rejection::new(403))),
            2
        );
    }

    /// Both sides from one `Config`: the client's request through the
    /// server's handshake and back, each side handing over its connection.
    fn both_sides(config: &Config) -> (Connected, Accepted) {
        use crate::handshake::client::{ClientHandshake, ClientRequest};
        let request = ClientRequest::new("ws://example.com/chat")
            .unwrap()
            .protocol("chat")
            .unwrap();
        let mut client = ClientHandshake::with_key(&request, *b"the sample nonce", config)
            .with_mask_source(|| [1, 2, 3, 4]);
        let mut server = ServerHandshake::new(config);
        let request = server.feed(client.request_bytes()).unwrap().unwrap();
        let accepted = request.accept(Accept::new().protocol("chat")).unwrap();
        // The server's first frame ("Hi", unmasked) rides with the 101.
        let wire = [&accepted.response_bytes[..], b"\x81\x02Hi"].concat();
        let connected = client.feed(&wire).unwrap().unwrap();
        (connected, accepted)
    }

    #[test]
    fn rfc6455_4_1_frames_behind_the_response_arrive_as_events() {
        let (connected, _) = both_sides(&Config::default());
        assert_eq!(connected.response.status(), 101);
        let mut client = connected.connection;
        assert_eq!(
            (client.role(), client.protocol()),
            (Role::Client, Some("chat"))
        );
        assert_eq!(
            client.poll_event(),
            Ok(Some(Event::Message(Message::text("Hi"))))
        );
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn rfc7692_both_connections_have_deflate_in_force() {
        let (connected, accepted) = both_sides(&Config::default());
        assert!(connected.connection.extensions().deflate().is_some());
        assert!(accepted.connection.extensions().deflate().is_some());
        let mut config = Config::default();
        config.deflate = crate::DeflateConfig::disabled();
        let (connected, accepted) = both_sides(&config);
        assert!(connected.connection.extensions().deflate().is_none());
        assert!(accepted.connection.extensions().deflate().is_none());
    }

    #[test]
    fn the_client_masks_with_the_source_it_was_given() {
        let (connected, _) = both_sides(&Config::default());
        let mut client = connected.connection;
        client.send(b"\0\0").unwrap();
        let mut wire = alloc::vec::Vec::new();
        crate::connection::transmit_all(&mut client, &mut wire);
        assert_eq!(wire, b"\x82\x82\x01\x02\x03\x04\x01\x02".to_vec());
    }
}
