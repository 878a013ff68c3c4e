//! What the opening handshake leaves behind on a connection, as both
//! adapters keep it: the request a server accepted or the response a
//! client got, for their `WebSocket::request` and `WebSocket::response`.

use wsock_core::handshake::client::Response;
use wsock_core::handshake::server::Request;

/// The request a server accepted, or the response a client got; nothing
/// for a connection made without a handshake of this crate's (from raw
/// parts, or over a stream an HTTP server upgraded).
#[derive(Debug, Default)]
pub enum Handshake {
    /// No handshake is known.
    #[default]
    None,
    /// The client's side: the server's response.
    Client(Box<Response>),
    /// The server's side: the client's request.
    Server(Box<Request>),
}

impl Handshake {
    /// The client's request, on a server.
    pub fn request(&self) -> Option<&Request> {
        match self {
            Self::Server(request) => Some(request),
            _ => None,
        }
    }

    /// The server's response, on a client.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Self::Client(response) => Some(response),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsock_core::Config;
    use wsock_core::handshake::client::{ClientHandshake, IntoClientRequest};
    use wsock_core::handshake::server::{Accept, ServerHandshake};

    #[test]
    fn each_side_keeps_its_own_half() {
        let config = Config::default();
        let request = "ws://example.com/chat".into_client_request().unwrap();
        let mut client = ClientHandshake::new(&request, &config);
        let mut server = ServerHandshake::new(&config);
        let received = server.feed(client.request_bytes()).unwrap().unwrap();
        let accepted = received.accept(Accept::new()).unwrap();
        let connected = client.feed(&accepted.response_bytes).unwrap().unwrap();

        let server_side = Handshake::Server(Box::new(accepted.request));
        assert_eq!(server_side.request().map(Request::path), Some("/chat"));
        assert!(server_side.response().is_none());

        let client_side = Handshake::Client(Box::new(connected.response));
        let upgrade = client_side.response().and_then(|r| r.header("upgrade"));
        assert_eq!(upgrade, Some(&b"websocket"[..]));
        assert!(client_side.request().is_none());

        let none = Handshake::default();
        assert!(none.request().is_none() && none.response().is_none());
    }
}
