//! What the opening handshake exchanged, kept for the application's
//! `request()` and `response()` in either adapter.

use wsock_core::handshake::client::Response;
use wsock_core::handshake::server::Request;

/// The request a server accepted, or the response a client got; `None`
/// for a connection set up over a transport handed in.
#[derive(Debug)]
pub enum Handshake {
    /// No handshake of this crate's (a transport handed in).
    None,
    /// The server's response, on a client.
    Client(Box<Response>),
    /// The client's request, on a server.
    Server(Box<Request>),
}

impl Handshake {
    /// The client's request, on a connection a server accepted.
    pub fn request(&self) -> Option<&Request> {
        match self {
            Self::Server(request) => Some(request),
            _ => None,
        }
    }

    /// The server's response, on a connection a client opened.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Self::Client(response) => Some(response),
            _ => None,
        }
    }
}
