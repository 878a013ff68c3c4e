//! Server handshake tests: shared helpers here, the tests in files named after RFC sections.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::config::HandshakeLimits;
use crate::error::{CapacityError, Limit};
use crate::handshake::wire::invalid;
use crate::handshake::{ExtensionOffer, accept_key};

/// The example request of RFC 6455 §1.2 / §4.1.
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
    Host: server.example.com\r\n\
    Upgrade: websocket\r\n\
    Connection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Origin: http://example.com\r\n\
    Sec-WebSocket-Protocol: chat, superchat\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

const CHROME: &[u8] = b"GET /socket?room=7 HTTP/1.1\r\n\
    Host: localhost:9001\r\n\
    Connection: Upgrade\r\n\
    Pragma: no-cache\r\n\
    Cache-Control: no-cache\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
    Upgrade: websocket\r\n\
    Origin: http://localhost:8080\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Accept-Encoding: gzip, deflate, br, zstd\r\n\
    Accept-Language: en-US,en;q=0.9\r\n\
    Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

const FIREFOX: &[u8] = b"GET /ws HTTP/1.1\r\n\
    Host: example.org\r\n\
    User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
    Accept: */*\r\n\
    Accept-Language: en-US,en;q=0.5\r\n\
    Accept-Encoding: gzip, deflate, br, zstd\r\n\
    Sec-WebSocket-Version: 13\r\n\
    Origin: https://example.org\r\n\
    Sec-WebSocket-Extensions: permessage-deflate\r\n\
    Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\
    Connection: keep-alive, Upgrade\r\n\
    Sec-Fetch-Dest: empty\r\n\
    Sec-Fetch-Mode: websocket\r\n\
    Sec-Fetch-Site: same-origin\r\n\
    Pragma: no-cache\r\n\
    Cache-Control: no-cache\r\n\
    Upgrade: websocket\r\n\r\n";

/// A server config that negotiates no extension, so responses hold
/// only what a test asks for.
fn plain() -> Config {
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = crate::DeflateConfig::disabled();
    }
    config
}

fn limits(max_header_bytes: usize, max_headers: usize) -> Config {
    let mut config = plain();
    config.handshake = HandshakeLimits {
        max_header_bytes,
        max_headers,
        ..Default::default()
    };
    config
}

fn parse(bytes: &[u8]) -> Result<Request, HandshakeError> {
    let request = ServerHandshake::new(&plain())
        .feed(bytes)?
        .expect("complete");
    assert_eq!(request.leftover(), b"");
    Ok(request)
}

/// The `101` response bytes for `accept`, or why it was refused.
fn respond(request: &Request, accept: Accept) -> Result<Vec<u8>, HandshakeError> {
    match request.clone().accept(accept) {
        Ok(accepted) => Ok(accepted.response_bytes),
        Err(rejected) => {
            assert!(rejected.response_bytes.starts_with(b"HTTP/1.1 500 "));
            Err(rejected.error)
        }
    }
}

/// Feeds `chunks` in order; returns the request and the offset of the
/// first unconsumed byte in the concatenated input.
fn feed_chunks(chunks: &[&[u8]]) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut hs = ServerHandshake::new(&plain());
    let mut offset = 0;
    for chunk in chunks {
        if let Some(mut request) = hs.feed(chunk)? {
            let n = chunk.len() - request.leftover().len();
            // Compared across chunkings: only the request itself.
            request.leftover.clear();
            return Ok(Some((request, offset + n)));
        }
        offset += chunk.len();
    }
    Ok(None)
}

/// `RFC_REQUEST` with line `from` replaced by `to` (or removed if empty).
fn edit(from: &str, to: &str) -> Vec<u8> {
    let text = core::str::from_utf8(RFC_REQUEST).unwrap();
    assert!(text.contains(from), "{from}");
    let to = if to.is_empty() {
        String::new()
    } else {
        format!("{to}\r\n")
    };
    text.replace(&format!("{from}\r\n"), &to).into_bytes()
}

fn status_of(e: &HandshakeError) -> String {
    let response = String::from_utf8(e.rejection_response().expect("a request error")).unwrap();
    response.split("\r\n").next().unwrap().into()
}

mod chunking;
mod limits_10_4;
mod opening_4_2_1;
mod rejection;
mod response_4_2_2;
