//! WebSocket URIs (§3): hosts, ports, IPv6, refused URLs, userinfo as Basic auth (RFC 7617).

use super::*;

#[test]
fn rfc6455_3_ipv6_literal() {
    let request = ClientRequest::new("ws://[::1]:9001/x?y=1").unwrap();
    assert_eq!(
        (request.host(), request.port(), request.path_and_query()),
        ("::1", 9001, "/x?y=1")
    );
    assert!(
        request_text("ws://[::1]:9001/x?y=1")
            .starts_with("GET /x?y=1 HTTP/1.1\r\nHost: [::1]:9001\r\n")
    );
    assert!(request_text("wss://[2001:db8::1]/").contains("\r\nHost: [2001:db8::1]\r\n"));
    let v4 = ClientRequest::new("ws://127.0.0.1:8080").unwrap();
    assert_eq!((v4.host(), v4.port()), ("127.0.0.1", 8080));
}

#[test]
fn rfc6455_3_fragment_and_bad_urls_rejected() {
    for url in ["ws://example.com/#frag", "ws://example.com/chat#"] {
        assert!(
            matches!(ClientRequest::new(url), Err(HandshakeError::InvalidUrl(_))),
            "{url}"
        );
    }
    for (url, scheme) in [
        ("http://example.com/", "http"),
        ("https://example.com/", "https"),
        ("ftp://x/", "ftp"),
        ("mailto:a@b", "mailto"),
    ] {
        assert_eq!(
            ClientRequest::new(url),
            Err(HandshakeError::UnsupportedScheme(scheme.into()))
        );
    }
    for url in ["example.com", "ws://", "ws://exa mple.com/", "ws://[::1/"] {
        assert!(
            matches!(ClientRequest::new(url), Err(HandshakeError::InvalidUrl(_))),
            "{url}"
        );
    }
}

#[test]
fn rfc7617_userinfo_becomes_basic_auth() {
    let request = ClientRequest::new("ws://user:p%40ss@example.com/").unwrap();
    assert_eq!(request.url(), "ws://example.com/");
    assert!(!format!("{request:?}").contains("dXNlcjpwQHNz"));
    let text = request_text("ws://user:p%40ss@example.com/");
    assert!(
        text.ends_with("\r\nAuthorization: Basic dXNlcjpwQHNz\r\n\r\n"),
        "{text}"
    );
    assert!(request_text("ws://al%C3%AFce@h/").contains("Authorization: Basic YWzDr2NlOg==\r\n"));
    let explicit = request.header("authorization", "Bearer t").unwrap();
    let hs = ClientHandshake::with_key(&explicit, NONCE, &plain());
    let text = String::from_utf8(hs.request_bytes().to_vec()).unwrap();
    assert!(
        !text.contains("Basic") && text.ends_with("\r\nauthorization: Bearer t\r\n\r\n"),
        "{text}"
    );
    assert!(!format!("{hs:?}").contains("Bearer"));
}

#[test]
fn percent_decode_handles_partial_escapes() {
    assert_eq!(percent_decode("a%2"), b"a%2");
    assert_eq!(percent_decode("%zz%41"), b"%zzA");
    assert_eq!(percent_decode("%"), vec![b'%']);
    assert_eq!(percent_decode("%+1%fF"), b"%+1\xff");
}
