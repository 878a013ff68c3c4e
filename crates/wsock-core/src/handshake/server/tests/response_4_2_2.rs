//! The server's answer (§4.2.2, the §1.2 example): what `accept` writes, and what it refuses.

use super::*;

#[test]
fn rfc6455_1_2_example_request_and_response() {
    let request = parse(RFC_REQUEST).unwrap();
    assert_eq!(request.method(), "GET");
    assert_eq!(
        (request.target(), request.path(), request.query()),
        ("/chat", "/chat", None)
    );
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert_eq!(request.header("sec-websocket-version"), Some(&b"13"[..]));
    assert_eq!(request.headers().len(), 7);
    let response = respond(&request, Accept::new().protocol("chat")).unwrap();
    assert_eq!(
        response,
        b"HTTP/1.1 101 Switching Protocols\r\n\
          Upgrade: websocket\r\n\
          Connection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
          Sec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn rfc6455_4_2_2_accept_with_protocol_extension_and_headers() {
    let request = parse(CHROME).unwrap();
    let accept = Accept::new()
        .header("Set-Cookie", "sid=1; HttpOnly")
        .header("X-Server", "wsock");
    let response = String::from_utf8(respond(&request, accept).unwrap()).unwrap();
    assert!(
        response.ends_with("\r\nSet-Cookie: sid=1; HttpOnly\r\nX-Server: wsock\r\n\r\n"),
        "{response}"
    );
    assert!(response.contains(&format!(
        "Sec-WebSocket-Accept: {}\r\n",
        accept_key(b"x3JJHMbDL1EzLkh9GBhXDw==")
    )));
    let request = parse(RFC_REQUEST).unwrap();
    let response = respond(&request, Accept::new().protocol("superchat")).unwrap();
    assert!(response.ends_with(b"Sec-WebSocket-Protocol: superchat\r\n\r\n"));
}

/// The extension answer comes from the `Config`, and the connection
/// handed over applies it.
#[cfg(feature = "deflate")]
#[test]
fn rfc7692_accept_answers_deflate_from_the_config() {
    let mut config = Config::default();
    config.deflate.server_no_context_takeover = true;
    let request = ServerHandshake::new(&config).feed(CHROME).unwrap().unwrap();
    let accepted = request.accept(Accept::new()).unwrap();
    let response = String::from_utf8(accepted.response_bytes).unwrap();
    assert!(
        response.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"
        ),
        "{response}"
    );
    assert!(accepted.connection.extensions().deflate().is_some());
    // Naming it again by hand contradicts the Config's answer.
    let request = ServerHandshake::new(&config).feed(CHROME).unwrap().unwrap();
    let deflate =
        ExtensionOffer::new("permessage-deflate").param("server_no_context_takeover", None);
    let rejected = request
        .accept(Accept::new().extension(deflate))
        .unwrap_err();
    assert!(matches!(
        rejected.error,
        HandshakeError::InvalidHeader {
            name: "Sec-WebSocket-Extensions",
            ..
        }
    ));
}

/// An offered extension the core does not implement cannot be
/// accepted: a 101 naming it would promise frames nobody decodes.
#[test]
fn accept_refuses_an_extension_the_core_lacks() {
    let bytes = edit(
        "Origin: http://example.com",
        "Sec-WebSocket-Extensions: x-foo, permessage-deflate",
    );
    let request = parse(&bytes).unwrap();
    let err = respond(
        &request,
        Accept::new().extension(ExtensionOffer::new("x-foo")),
    );
    assert_eq!(
        err,
        Err(HandshakeError::UnsupportedExtension("x-foo".into()))
    );
    // Not even permessage-deflate when the Config leaves it off.
    let err = respond(
        &request,
        Accept::new().extension(ExtensionOffer::new("permessage-deflate")),
    );
    assert_eq!(
        err,
        Err(HandshakeError::UnsupportedExtension(
            "permessage-deflate".into()
        ))
    );
}

#[test]
fn rfc6455_4_2_2_accept_rejects_what_was_not_offered() {
    let request = parse(RFC_REQUEST).unwrap();
    let err = respond(&request, Accept::new().protocol("Chat")).unwrap_err();
    assert_eq!(err, HandshakeError::UnofferedSubprotocol("Chat".into()));
    let err = respond(
        &request,
        Accept::new().extension(ExtensionOffer::new("x-foo")),
    )
    .unwrap_err();
    assert_eq!(err, HandshakeError::UnofferedExtension("x-foo".into()));
}

#[test]
fn accept_rejects_header_injection() {
    let request = parse(RFC_REQUEST).unwrap();
    for (name, value) in [
        ("X-A", "1\r\nSet-Cookie: evil=1"),
        ("X-A", "1\nx"),
        ("X-A\r\nEvil", "1"),
        ("X A", "1"),
        ("Sec-WebSocket-Accept", "x"),
        ("connection", "close"),
    ] {
        let err = respond(&request, Accept::new().header(name, value)).unwrap_err();
        assert!(
            matches!(err, HandshakeError::InvalidHeader { .. }),
            "{name:?}: {value:?}"
        );
    }
    let bad_ext = ExtensionOffer::new("superchat\r\nX: y");
    assert!(matches!(
        respond(&request, Accept::new().extension(bad_ext)),
        Err(HandshakeError::InvalidHeader { .. })
    ));
}
