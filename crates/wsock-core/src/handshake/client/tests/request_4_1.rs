//! The client's request (§4.1): the bytes written, what the builder refuses, and the key.

use super::*;

#[test]
fn rfc6455_4_1_request_with_default_port() {
    assert_eq!(
        request_text("ws://server.example.com/chat"),
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let request = ClientRequest::new("wss://Example.COM:443").unwrap();
    assert_eq!(
        (request.host(), request.port(), request.is_tls()),
        ("example.com", 443, true)
    );
    assert_eq!(
        (request.path_and_query(), request.url()),
        ("/", "wss://example.com/")
    );
    assert!(
        request_text("ws://example.com:80/?")
            .starts_with("GET /? HTTP/1.1\r\nHost: example.com\r\n")
    );
}

#[test]
fn rfc6455_4_1_request_with_other_port() {
    let request = ClientRequest::new("wss://example.com:8443/a%20b?q=1&r").unwrap();
    assert_eq!(
        (request.port(), request.path_and_query()),
        (8443, "/a%20b?q=1&r")
    );
    let text = request_text("wss://example.com:8443/a%20b?q=1&r");
    assert!(
        text.starts_with("GET /a%20b?q=1&r HTTP/1.1\r\nHost: example.com:8443\r\n"),
        "{text}"
    );
    assert!(request_text("ws://example.com:443/").contains("\r\nHost: example.com:443\r\n"));
}

#[test]
fn rfc6455_4_1_offers_and_headers_in_request() {
    let request = ClientRequest::new("ws://h/")
        .unwrap()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap()
        .origin("http://example.com")
        .unwrap()
        .extension(ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None))
        .unwrap()
        .extension(ExtensionOffer::new("x-webkit"))
        .unwrap()
        .header("Cookie", "a=b")
        .unwrap();
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert_eq!(request.extensions().len(), 2);
    let hs = ClientHandshake::with_key(&request, NONCE, &plain());
    let text = core::str::from_utf8(hs.request_bytes()).unwrap();
    assert!(text.ends_with(
        "Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-webkit\r\nCookie: a=b\r\n\r\n"
    ), "{text}");
}

#[test]
fn builder_rejects_invalid_or_reserved_input() {
    let base = ClientRequest::new("ws://h/").unwrap();
    assert!(base.clone().protocol("a b").is_err());
    assert!(base.clone().protocol("").is_err());
    assert!(base.clone().protocol("a").unwrap().protocol("a").is_err());
    assert!(base.clone().origin("http://x\r\nEvil: 1").is_err());
    assert!(base.clone().header("X-A", "1\r\nEvil: 1").is_err());
    assert!(base.clone().header("X-A\n", "1").is_err());
    for reserved in [
        "Host",
        "upgrade",
        "CONNECTION",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Accept",
    ] {
        assert!(
            matches!(
                base.clone().header(reserved, "x"),
                Err(HandshakeError::InvalidHeader { .. })
            ),
            "{reserved}"
        );
    }
    assert!(base.clone().extension(ExtensionOffer::new("a;b")).is_err());
    assert!(
        base.extension(ExtensionOffer::new("a").param("p", Some("x y")))
            .is_err()
    );
}

#[cfg(feature = "std")]
#[test]
fn random_keys_differ_and_verify() {
    let request = ClientRequest::new("ws://h/").unwrap();
    let a = ClientHandshake::new(&request, &plain());
    let b = ClientHandshake::new(&request, &plain());
    assert_ne!(a.request_bytes(), b.request_bytes());
    let accept = a.accept.clone();
    let mut a = a;
    let reply = crlf(&format!(
        "HTTP/1.1 101 OK|Upgrade: websocket|Connection: Upgrade|Sec-WebSocket-Accept: {accept}||"
    ));
    assert!(a.read_response(&reply).unwrap().is_some());
    let text = core::str::from_utf8(b.request_bytes()).unwrap();
    let key = text
        .split("Sec-WebSocket-Key: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap();
    assert_eq!(
        (key.len(), accept_key(key.as_bytes())),
        (24, b.accept.clone())
    );
}
