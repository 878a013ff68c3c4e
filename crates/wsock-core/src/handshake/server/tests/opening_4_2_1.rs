//! The request checks (§4.2.1, §4.1's method, §4.4's version): what passes, each refusal's status.

use super::*;

#[test]
fn rfc6455_4_2_1_browser_requests_accepted() {
    let chrome = parse(CHROME).unwrap();
    assert_eq!((chrome.path(), chrome.query()), ("/socket", Some("room=7")));
    assert_eq!(chrome.host(), "localhost:9001");
    let deflate = ExtensionOffer::new("permessage-deflate").param("client_max_window_bits", None);
    assert_eq!(chrome.extensions(), [deflate]);
    assert!(chrome.protocols().is_empty());
    let firefox = parse(FIREFOX).unwrap();
    assert_eq!(
        firefox.extensions(),
        [ExtensionOffer::new("permessage-deflate")]
    );
    assert_eq!(firefox.origin(), Some("https://example.org"));
}

#[test]
fn rfc6455_4_2_1_connection_token_list() {
    let bytes = edit("Connection: Upgrade", "Connection: keep-alive, Upgrade");
    assert!(parse(&bytes).is_ok());
    let bytes = edit(
        "Connection: Upgrade",
        "Connection: keep-alive\r\nConnection: upgrade",
    );
    assert!(parse(&bytes).is_ok());
    let bytes = edit("Upgrade: websocket", "Upgrade: WebSocket");
    assert!(parse(&bytes).is_ok());
}

#[test]
fn rfc6455_4_2_1_missing_host_is_400() {
    let err = parse(&edit("Host: server.example.com", "")).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Host"));
    assert_eq!(status_of(&err), "HTTP/1.1 400 Bad Request");
    let twice = edit("Host: server.example.com", "Host: a\r\nHost: b");
    assert!(matches!(
        parse(&twice),
        Err(HandshakeError::InvalidHeader { name: "Host", .. })
    ));
}

#[test]
fn rfc6455_4_2_1_upgrade_and_connection_required() {
    let err = parse(&edit("Upgrade: websocket", "")).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Upgrade"));
    let err = parse(&edit("Upgrade: websocket", "Upgrade: h2c")).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::InvalidHeader {
            name: "Upgrade",
            value: "h2c".into()
        }
    );
    let err = parse(&edit("Connection: Upgrade", "Connection: keep-alive")).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::InvalidHeader {
            name: "Connection",
            value: "keep-alive".into()
        }
    );
    assert_eq!(status_of(&err), "HTTP/1.1 400 Bad Request");
}

#[test]
fn rfc6455_4_2_1_key_must_decode_to_16_bytes() {
    for key in [
        "AQIDBAUGBwgJCgsMDQ4P",
        "AQIDBAUGBwgJCgsMDQ4PEBE=",
        "not base64 at all!!!!!==",
        "",
        "dGhlIHNhbXBsZSBub25jZQ",
    ] {
        let err = parse(&edit(
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            &format!("Sec-WebSocket-Key: {key}"),
        ))
        .unwrap_err();
        assert!(
            matches!(
                err,
                HandshakeError::InvalidHeader {
                    name: "Sec-WebSocket-Key",
                    ..
                }
            ),
            "{key}"
        );
        assert_eq!(status_of(&err), "HTTP/1.1 400 Bad Request");
    }
    let err = parse(&edit("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "")).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Sec-WebSocket-Key"));
    let twice = edit(
        "Origin: http://example.com",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==",
    );
    assert!(matches!(
        parse(&twice),
        Err(HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Key",
            ..
        })
    ));
}

#[test]
fn rfc6455_4_1_post_is_405_with_allow() {
    let bytes = [b"POST", &RFC_REQUEST[3..]].concat();
    let err = parse(&bytes).unwrap_err();
    assert_eq!(err, HandshakeError::MethodNotAllowed("POST".into()));
    let response = String::from_utf8(err.rejection_response().unwrap()).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"),
        "{response}"
    );
    assert!(response.contains("Connection: close\r\n"));
}

#[test]
fn rfc6455_4_4_version_8_is_426_with_supported_version() {
    let err = parse(&edit(
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Version: 8",
    ))
    .unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedVersion("8".into()));
    let response = String::from_utf8(err.rejection_response().unwrap()).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
    assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n"));
    assert!(response.contains("\r\nConnection: Upgrade, close\r\n"));
    // A client that names no version does not speak 13 either: it is
    // told which one to use (RFC 8441 §5 refers to the same rule).
    let err = parse(&edit("Sec-WebSocket-Version: 13", "")).unwrap_err();
    assert_eq!(err, HandshakeError::MissingHeader("Sec-WebSocket-Version"));
    let response = String::from_utf8(err.rejection_response().unwrap()).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{response}"
    );
    assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
}

#[test]
fn rfc7230_http_1_0_is_400() {
    let text = core::str::from_utf8(RFC_REQUEST)
        .unwrap()
        .replace("HTTP/1.1", "HTTP/1.0");
    let err = parse(text.as_bytes()).unwrap_err();
    assert_eq!(err, HandshakeError::UnsupportedHttpVersion(0));
    assert_eq!(status_of(&err), "HTTP/1.1 400 Bad Request");
}

#[test]
fn rfc7230_garbage_is_malformed_400() {
    for bad in [
        &b"GET /chat\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET chat HTTP/1.1\r\n\r\n",
    ] {
        let err = ServerHandshake::new(&plain()).feed(bad).unwrap_err();
        assert!(matches!(err, HandshakeError::MalformedHttp(_)), "{err:?}");
        assert_eq!(status_of(&err), "HTTP/1.1 400 Bad Request");
    }
}

#[test]
fn tls_client_hello_is_400_at_the_first_byte() {
    let mut hs = ServerHandshake::new(&plain());
    // A TLS 1.2 record header announcing a ClientHello; nothing more.
    let e = hs.feed(&[0x16, 0x03, 0x01]).unwrap_err();
    assert_eq!(status_of(&e), "HTTP/1.1 400 Bad Request");
    assert_eq!(e, hs.feed(b"GET / HTTP/1.1\r\n").unwrap_err());
    // Byte by byte, the first byte alone decides.
    let mut hs = ServerHandshake::new(&plain());
    assert_eq!(
        status_of(&hs.feed(&[0x16]).unwrap_err()),
        "HTTP/1.1 400 Bad Request"
    );
    // 0x16 later in a request is just a bad byte, found at the end.
    let mut hs = ServerHandshake::new(&plain());
    assert_eq!(hs.feed(b"G").unwrap(), None);
    assert_eq!(hs.feed(&[0x16]).unwrap(), None);
}

#[test]
fn request_protocols_are_tokens_from_every_line() {
    let bytes = edit(
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Protocol: a ,b\r\nSec-WebSocket-Protocol: c",
    );
    assert_eq!(parse(&bytes).unwrap().protocols(), ["a", "b", "c"]);
    for bad in ["a b", "a, a", "a/b\""] {
        let bytes = edit(
            "Sec-WebSocket-Protocol: chat, superchat",
            &format!("Sec-WebSocket-Protocol: {bad}"),
        );
        assert!(
            matches!(
                parse(&bytes),
                Err(HandshakeError::InvalidHeader {
                    name: "Sec-WebSocket-Protocol",
                    ..
                })
            ),
            "{bad}"
        );
    }
    let bytes = edit(
        "Origin: http://example.com",
        "Sec-WebSocket-Extensions: a;;",
    );
    assert!(matches!(
        parse(&bytes),
        Err(HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Extensions",
            ..
        })
    ));
}

#[test]
fn validate_request_for_parsed_requests() {
    let headers: [(&str, &[u8]); 5] = [
        ("host", b"h"),
        ("upgrade", b"websocket"),
        ("connection", b"upgrade"),
        ("sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", b"13"),
    ];
    let request = validate_request("GET", "ws://h:80/a/b?c=d", 1, headers, &plain()).unwrap();
    assert_eq!((request.path(), request.query()), ("/a/b", Some("c=d")));
    let request = validate_request("GET", "http://h?x", 1, headers, &plain()).unwrap();
    assert_eq!((request.path(), request.query()), ("/", Some("x")));
    assert!(request.origin().is_none());
    assert_eq!(
        validate_request("GET", "*", 1, headers, &plain())
            .unwrap_err()
            .http_status(),
        Some(400)
    );
    assert_eq!(
        validate_request("get", "/", 1, headers, &plain())
            .unwrap_err()
            .http_status(),
        Some(405)
    );
}
