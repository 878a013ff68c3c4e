//! The server's side of the opening handshake, as both adapters drive it:
//! what to answer to the bytes and the request, whatever reads and writes
//! them.

use wsock_core::handshake::server::{Accept, Rejection, Request, ServerHandshake};
use wsock_core::handshake::{Accepted, Rejected};

use crate::Error;

/// A rejection to send, and the error to report once it is sent.
pub type Refusal = (Rejected, Error);

/// Feeds bytes read to the handshake: the request once it is whole, or,
/// for a bad request, its HTTP error response and the error.
pub fn feed(handshake: &mut ServerHandshake, bytes: &[u8]) -> Result<Option<Request>, Refusal> {
    handshake
        .feed(bytes)
        .map_err(|e| (Rejected::from(e.clone()), Error::handshake(e)))
}

/// Lets `callback` decide on a whole `request`: the accepted handshake
/// (write its `101`), or the response to send and the error to report when
/// the callback rejects it or its answer is invalid (a subprotocol the
/// client did not offer, an extension the core lacks, or a header the
/// handshake owns).
pub fn answer<F>(request: Request, callback: F) -> Result<Accepted, Refusal>
where
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    match callback(&request) {
        Ok(accept) => request.accept(accept).map_err(|rejected| {
            let err = Error::invalid_request(rejected.error.clone());
            (rejected, err)
        }),
        Err(rejection) => {
            let rejected = request.reject(rejection);
            let err = Error::handshake(rejected.error.clone());
            Err((rejected, err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use wsock_core::Config;

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

    fn request() -> Request {
        let mut handshake = ServerHandshake::new(&Config::default());
        assert!(matches!(feed(&mut handshake, &REQUEST[..10]), Ok(None)));
        feed(&mut handshake, &REQUEST[10..])
            .unwrap()
            .expect("a whole request")
    }

    #[test]
    fn without_a_callback_every_request_is_accepted() {
        let accepted = answer(request(), |r| crate::options::decide(None, r));
        assert!(accepted.is_ok());
        let refuse: &crate::options::RequestCallback = &|_| Err(Rejection::new(403));
        let refused = answer(request(), |r| crate::options::decide(Some(refuse), r));
        assert_eq!(refused.unwrap_err().0.status, 403);
    }

    #[test]
    fn a_bad_request_gets_its_error_response() {
        let mut handshake = ServerHandshake::new(&Config::default());
        let (rejected, err) = feed(&mut handshake, b"POST / HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!(rejected.status, 405);
        assert_eq!(err.kind(), ErrorKind::Handshake);
    }

    #[test]
    fn the_callback_decides() {
        // (answer, status sent, error kind reported)
        type Case = fn(&Request) -> Result<Accept, Rejection>;
        let cases: [(Case, u16, Option<ErrorKind>); 3] = [
            (|_| Ok(Accept::new().protocol("chat")), 101, None),
            (
                |_| Err(Rejection::new(404)),
                404,
                Some(ErrorKind::Handshake),
            ),
            // A subprotocol the client did not offer.
            (
                |_| Ok(Accept::new().protocol("mqtt")),
                500,
                Some(ErrorKind::InvalidInput),
            ),
        ];
        for (callback, status, kind) in cases {
            match answer(request(), callback) {
                Ok(accepted) => {
                    assert_eq!((status, kind), (101, None));
                    assert_eq!(accepted.connection.protocol(), Some("chat"));
                }
                Err((rejected, err)) => {
                    assert_eq!(rejected.status, status);
                    assert_eq!(Some(err.kind()), kind);
                }
            }
        }
    }
}
