//! The client's checks on the answer (§4.1, §4.2.2's example, §9.1's extensions rule).

use super::*;

#[test]
fn rfc6455_4_2_2_example_response_accepted() {
    let mut bytes = reply(
        "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Protocol: chat|Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover|X-Extra: 1",
    );
    let response = feed(&bytes).unwrap();
    assert!(response.status() == 101);
    assert_eq!(response.protocol(), Some("chat"));
    assert_eq!(response.header("x-extra"), Some(&b"1"[..]));
    assert_eq!(response.headers().len(), 6);
    let deflate =
        ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None);
    assert_eq!(response.extensions(), [deflate]);
    bytes = reply("Sec-WebSocket-Protocol: chat", "");
    assert_eq!(feed(&bytes).unwrap().protocol(), None);
    let empty = reply("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: ");
    assert_eq!(feed(&empty).unwrap().protocol(), None);
    let tokens = reply(
        "Connection: Upgrade",
        "Connection: keep-alive, upgrade|Upgrade: WebSocket",
    );
    assert!(feed(&tokens).is_ok());
}

#[test]
fn rfc6455_4_1_http_version_must_be_1_1() {
    let bytes = crlf(&RFC_RESPONSE.replace("HTTP/1.1", "HTTP/1.0"));
    assert_eq!(feed(&bytes), Err(HandshakeError::UnsupportedHttpVersion(0)));
}

#[test]
fn rfc6455_4_1_redirect_reported_with_location() {
    let bytes = crlf("HTTP/1.1 302 Found|Location: wss://other.example/chat|Content-Length: 0||");
    let expected = HandshakeError::Redirect {
        status: 302,
        location: Some("wss://other.example/chat".into()),
    };
    assert_eq!(feed(&bytes), Err(expected));
    let bytes = crlf("HTTP/1.1 308 Permanent Redirect||");
    assert_eq!(
        feed(&bytes),
        Err(HandshakeError::Redirect {
            status: 308,
            location: None
        })
    );
}

#[test]
fn rfc6455_4_1_rejection_keeps_headers_and_body_prefix() {
    let mut bytes = crlf("HTTP/1.1 403 Forbidden|Content-Length: 9|Content-Type: text/plain||");
    bytes.extend_from_slice(b"forbiddenHTTP/1.1 ...");
    let mut hs = handshake("ws://h/");
    let err = hs.read_response(&bytes).unwrap_err();
    let HandshakeError::Rejected {
        status,
        headers,
        body_prefix,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, body_prefix.as_slice()), (403, &b"forbidden"[..]));
    assert_eq!(headers[1], ("Content-Type".into(), b"text/plain".to_vec()));
    assert_eq!(hs.read_response(b"more"), Err(err));
    let mut big = crlf("HTTP/1.1 500 Internal Server Error||");
    big.resize(big.len() + 4096, b'x');
    let err = handshake("ws://h/").read_response(&big).unwrap_err();
    assert!(
        matches!(err, HandshakeError::Rejected { status: 500, body_prefix, .. } if body_prefix.len() == 1024)
    );
}

#[test]
fn rfc6455_4_1_upgrade_and_connection_checked() {
    assert_eq!(
        feed(&reply("Upgrade: websocket", "")),
        Err(HandshakeError::MissingHeader("Upgrade"))
    );
    let err = feed(&reply("Upgrade: websocket", "Upgrade: h2c")).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::InvalidHeader {
            name: "Upgrade",
            value: "h2c".into()
        }
    );
    assert_eq!(
        feed(&reply("Connection: Upgrade", "")),
        Err(HandshakeError::MissingHeader("Connection"))
    );
    let err = feed(&reply("Connection: Upgrade", "Connection: close")).unwrap_err();
    assert_eq!(
        err,
        HandshakeError::InvalidHeader {
            name: "Connection",
            value: "close".into()
        }
    );
}

#[test]
fn rfc6455_4_1_accept_must_match_key() {
    let line = "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    assert_eq!(
        feed(&reply(line, "")),
        Err(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))
    );
    let err = feed(&reply(
        line,
        "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==",
    ))
    .unwrap_err();
    let expected = HandshakeError::AcceptMismatch {
        expected: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
        got: "dGhlIHNhbXBsZSBub25jZQ==".into(),
    };
    assert_eq!(err, expected);
    let twice = reply(line, &format!("{line}|{line}"));
    assert!(matches!(
        feed(&twice),
        Err(HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Accept",
            ..
        })
    ));
}

#[test]
fn rfc6455_4_1_protocol_must_be_one_offered() {
    let line = "Sec-WebSocket-Protocol: chat";
    let err = feed(&reply(line, "Sec-WebSocket-Protocol: mqtt")).unwrap_err();
    assert_eq!(err, HandshakeError::UnofferedSubprotocol("mqtt".into()));
    let err = feed(&reply(line, "Sec-WebSocket-Protocol: chat, superchat")).unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Protocol",
            ..
        }
    ));
    let err = feed(&reply(line, &format!("{line}|{line}"))).unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Protocol",
            ..
        }
    ));
    let request = ClientRequest::new("ws://h/").unwrap();
    let mut hs = ClientHandshake::with_key(&request, NONCE, &plain());
    assert_eq!(
        hs.read_response(&crlf(RFC_RESPONSE)),
        Err(HandshakeError::UnofferedSubprotocol("chat".into()))
    );
}

#[test]
fn rfc6455_9_1_extensions_must_be_offered() {
    let line = "Sec-WebSocket-Protocol: chat";
    let err = feed(&reply(
        line,
        "Sec-WebSocket-Extensions: permessage-deflate, x-foo",
    ))
    .unwrap_err();
    assert_eq!(err, HandshakeError::UnofferedExtension("x-foo".into()));
    let err = feed(&reply(
        line,
        "Sec-WebSocket-Extensions: permessage-deflate;",
    ))
    .unwrap_err();
    assert!(matches!(
        err,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Extensions",
            ..
        }
    ));
}
