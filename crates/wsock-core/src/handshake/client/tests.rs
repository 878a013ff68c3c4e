//! Client handshake tests: shared helpers here, the tests in files named after RFC sections.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::request::percent_decode;
use super::*;
use crate::config::HandshakeLimits;
use crate::error::{CapacityError, Limit};
use crate::handshake::ExtensionOffer;

/// A client config that offers no extension, so requests hold only
/// what a test asks for.
fn plain() -> Config {
    limited(HandshakeLimits::default())
}

fn limited(limits: HandshakeLimits) -> Config {
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let mut config = Config {
        handshake: limits,
        ..Config::default()
    };
    #[cfg(feature = "deflate")]
    {
        config.deflate = crate::DeflateConfig::disabled();
    }
    config
}

/// The nonce of RFC 6455 §1.3: base64 `dGhlIHNhbXBsZSBub25jZQ==`.
const NONCE: [u8; 16] = *b"the sample nonce";

/// The example response of RFC 6455 §1.2 / §4.2.2, lines separated by `|`.
const RFC_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols|Upgrade: websocket|Connection: Upgrade|\
    Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=|Sec-WebSocket-Protocol: chat||";

fn crlf(text: &str) -> Vec<u8> {
    text.replace('|', "\r\n").into_bytes()
}

/// `RFC_RESPONSE` with line `from` replaced by `to` (removed if empty).
fn reply(from: &str, to: &str) -> Vec<u8> {
    assert!(RFC_RESPONSE.contains(from), "{from}");
    let to = if to.is_empty() {
        String::new()
    } else {
        format!("{to}|")
    };
    crlf(&RFC_RESPONSE.replacen(&format!("{from}|"), &to, 1))
}

fn handshake(url: &str) -> ClientHandshake {
    let request = ClientRequest::new(url)
        .unwrap()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap();
    let request = request
        .extension(ExtensionOffer::new("permessage-deflate"))
        .unwrap();
    ClientHandshake::with_key(&request, NONCE, &plain())
}

fn feed(bytes: &[u8]) -> Result<Response, HandshakeError> {
    let (response, n) = handshake("ws://server.example.com/chat")
        .read_response(bytes)?
        .expect("complete");
    assert_eq!(n, bytes.len());
    Ok(response)
}

fn request_text(url: &str) -> String {
    let request = ClientRequest::new(url).unwrap();
    String::from_utf8(ClientHandshake::with_key(&request, NONCE, &plain()).request).unwrap()
}

mod chunking;
#[cfg(feature = "std")]
mod extended_connect_8441_5;
mod limits_10_4;
mod request_4_1;
mod response_4_1;
mod uri_3;
