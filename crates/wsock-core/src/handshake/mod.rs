//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade exchange, or
//! on the server an HTTP/2 extended CONNECT (RFC 8441) that another HTTP
//! stack parsed.
//!
//! Both sides are sans-IO: feed received bytes to [`client::ClientHandshake`]
//! or [`server::ServerHandshake`] until they return the peer's message. A
//! server then accepts ([`Accepted`]) or rejects ([`Rejected`]) it; an
//! accepted handshake hands over a ready [`Connection`](crate::Connection)
//! that already holds the bytes that arrived behind the handshake.
//!
//! With the `std` feature the requests and responses are `http` crate
//! types ([`crate::http`]): the server's [`server::Request`] holds an
//! `http::Request<()>`, [`Accepted::response`] and the client's
//! [`client::Response`] are `http::Response<()>`,
//! [`server::Request::from_http`] takes a request parsed elsewhere, and a
//! [`client::ClientRequest`] can be built from an `http::Request<()>`
//! ([`client::IntoClientRequest`]). Without it the core keeps minimal
//! types of its own.

use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

pub mod client;
mod extension;
mod handover;
pub mod server;
mod wire;

pub use extension::ExtensionOffer;
pub use handover::{Accepted, Connected, Rejected};

/// The GUID every server appends to the client's key (§1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value that answers the `Sec-WebSocket-Key`
/// value `key` (the base64 text as sent, not the decoded bytes).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_1_3_accept_key_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
