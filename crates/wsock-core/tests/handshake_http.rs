//! The server handshake from requests an HTTP stack parsed
//! (`Request::from_http`): HTTP/1.1 upgrades (RFC 6455 §4.2) and HTTP/2
//! extended CONNECT (RFC 8441).
#![cfg(feature = "std")]

use wsock_core::handshake::server::{Accept, Rejection, Request, UpgradeKind};
use wsock_core::http::{self, HeaderValue, Method, StatusCode, Version};
use wsock_core::{Config, Event, HandshakeError, Message};

/// A masked text frame "Hi" (mask key 0), as a client sends it.
const HI: &[u8] = b"\x81\x82\0\0\0\0Hi";

/// The example request of RFC 6455 §1.2, as hyper hands it over.
fn http11() -> http::request::Builder {
    http::Request::get("/chat?room=1")
        .header("host", "server.example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "http://example.com")
        .header("sec-websocket-protocol", "chat, superchat")
        .header("sec-websocket-version", "13")
}

/// An RFC 8441 §5 request: `:protocol` travels apart, as in hyper and h2.
fn extended_connect() -> http::request::Builder {
    http::Request::connect("https://server.example.com/chat?room=1")
        .version(Version::HTTP_2)
        .header("origin", "http://example.com")
        .header("sec-websocket-protocol", "chat, superchat")
        .header("sec-websocket-version", "13")
}

fn plain() -> Config {
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = wsock_core::DeflateConfig::disabled();
    }
    config
}

fn header<'a>(response: &'a http::Response<impl Sized>, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn rfc6455_4_2_1_request_from_parts_is_accepted_with_101() {
    let parsed = http11().body(()).unwrap();
    let request = Request::from_http(&parsed, None, &plain()).unwrap();
    assert_eq!(request.upgrade_kind(), UpgradeKind::Http11);
    assert_eq!((request.method(), request.path()), ("GET", "/chat"));
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(request.header("Sec-WebSocket-Version"), Some(&b"13"[..]));
    assert_eq!(request.http().uri(), "/chat?room=1");
    assert_eq!(request.headers().len(), 7);
    let accepted = request.accept(Accept::new().protocol("chat")).unwrap();
    let response = &accepted.response;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(header(response, "upgrade"), Some("websocket"));
    assert_eq!(header(response, "connection"), Some("Upgrade"));
    assert_eq!(
        header(response, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(header(response, "sec-websocket-protocol"), Some("chat"));
    assert!(
        accepted
            .response_bytes
            .starts_with(b"HTTP/1.1 101 Switching Protocols\r\n")
    );
    assert_eq!(accepted.request.leftover(), b"");
    let mut connection = accepted.connection;
    assert_eq!(connection.protocol(), Some("chat"));
    connection.feed(HI);
    assert_eq!(
        connection.poll_event(),
        Ok(Some(Event::Message(Message::text("Hi"))))
    );
}

#[test]
fn rfc6455_4_2_1_parts_go_through_the_same_checks() {
    let cases: [(http::Request<()>, u16); 5] = [
        (http11().method(Method::POST).body(()).unwrap(), 405),
        (http11().version(Version::HTTP_10).body(()).unwrap(), 400),
        (http11().header("upgrade", "h2c").body(()).unwrap(), 200),
        (
            {
                let mut r = http11().body(()).unwrap();
                r.headers_mut().remove("sec-websocket-key");
                r
            },
            400,
        ),
        (
            {
                let mut r = http11().body(()).unwrap();
                r.headers_mut()
                    .insert("sec-websocket-version", HeaderValue::from_static("8"));
                r
            },
            426,
        ),
    ];
    for (parsed, status) in cases {
        match Request::from_http(&parsed, None, &plain()) {
            // A second Upgrade line still names websocket.
            Ok(_) => assert_eq!(status, 200),
            Err(rejected) => {
                assert_eq!(rejected.status, status, "{:?}", rejected.error);
                let response = rejected.response();
                assert_eq!(response.status().as_u16(), status);
                assert!(header(&response, "connection").is_none());
                if status == 405 {
                    assert_eq!(header(&response, "allow"), Some("GET"));
                }
                if status == 426 {
                    assert_eq!(header(&response, "sec-websocket-version"), Some("13"));
                    assert_eq!(header(&response, "upgrade"), Some("websocket"));
                }
                assert!(!response.body().is_empty());
            }
        }
    }
}

#[cfg(feature = "deflate")]
#[test]
fn rfc8441_5_extended_connect_is_accepted_with_200() {
    let parsed = extended_connect()
        .header(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        )
        .body(())
        .unwrap();
    let request = Request::from_http(&parsed, Some("websocket"), &Config::default()).unwrap();
    assert_eq!(request.upgrade_kind(), UpgradeKind::ExtendedConnect);
    assert_eq!((request.method(), request.path()), ("CONNECT", "/chat"));
    assert_eq!(request.query(), Some("room=1"));
    assert_eq!(request.host(), "server.example.com");
    assert_eq!(request.origin(), Some("http://example.com"));
    assert_eq!(request.key(), None);
    assert_eq!(request.protocols(), ["chat", "superchat"]);
    assert!(request.negotiated_extensions().deflate().is_some());

    let accepted = request.accept(Accept::new().protocol("superchat")).unwrap();
    let response = &accepted.response;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(header(response, absent).is_none(), "{absent}");
    }
    assert_eq!(
        header(response, "sec-websocket-protocol"),
        Some("superchat")
    );
    assert!(
        header(response, "sec-websocket-extensions")
            .unwrap()
            .starts_with("permessage-deflate"),
    );
    // Nothing to write by hand: the HTTP/2 stack sends the 200.
    assert!(accepted.response_bytes.is_empty());

    let mut connection = accepted.connection;
    assert_eq!(connection.protocol(), Some("superchat"));
    assert!(connection.extensions().deflate().is_some());
    connection.feed(HI);
    assert_eq!(
        connection.poll_event(),
        Ok(Some(Event::Message(Message::text("Hi"))))
    );
    // A compressed frame: "Hi" deflated (RFC 7692 §7.2.3.1), RSV1 set.
    let compressed = [0xc1, 0x84, 0, 0, 0, 0, 0xf2, 0xc8, 0x04, 0x00];
    connection.feed(&compressed);
    assert_eq!(
        connection.poll_event(),
        Ok(Some(Event::Message(Message::text("Hi"))))
    );
}

#[test]
fn rfc8441_5_subprotocol_negotiated_as_on_http11() {
    let parsed = extended_connect().body(()).unwrap();
    let request = Request::from_http(&parsed, Some("websocket"), &plain()).unwrap();
    let rejected = request
        .clone()
        .accept(Accept::new().protocol("other"))
        .unwrap_err();
    assert_eq!(rejected.status, 500);
    assert_eq!(
        rejected.error,
        HandshakeError::UnofferedSubprotocol("other".into())
    );
    let accepted = request.accept(Accept::new()).unwrap();
    assert!(header(&accepted.response, "sec-websocket-protocol").is_none());
    assert_eq!(accepted.connection.protocol(), None);
}

#[test]
fn rfc8441_4_protocol_other_than_websocket_is_501() {
    let parsed = extended_connect().body(()).unwrap();
    let rejected = Request::from_http(&parsed, Some("webtransport"), &plain()).unwrap_err();
    assert_eq!(rejected.status, 501);
    assert_eq!(
        rejected.error,
        HandshakeError::UnsupportedProtocol("webtransport".into())
    );
    assert_eq!(rejected.response().status(), StatusCode::NOT_IMPLEMENTED);
    // Upgrade tokens are case-insensitive.
    assert!(Request::from_http(&parsed, Some("WebSocket"), &plain()).is_ok());
    // A CONNECT without :protocol is a tunnel request, not a WebSocket.
    let rejected = Request::from_http(&parsed, None, &plain()).unwrap_err();
    assert_eq!(rejected.status, 400);
    assert_eq!(rejected.error, HandshakeError::MissingHeader(":protocol"));
}

#[test]
fn rfc8441_5_missing_version_is_426_without_upgrade() {
    let mut parsed = extended_connect().body(()).unwrap();
    parsed.headers_mut().remove("sec-websocket-version");
    let rejected = Request::from_http(&parsed, Some("websocket"), &plain()).unwrap_err();
    assert_eq!(rejected.status, 426);
    assert_eq!(
        rejected.error,
        HandshakeError::MissingHeader("Sec-WebSocket-Version")
    );
    let response = rejected.response();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(header(&response, "sec-websocket-version"), Some("13"));
    // Connection-specific fields are not allowed in HTTP/2 (RFC 9113 §8.2.2).
    assert!(header(&response, "upgrade").is_none());
    assert!(header(&response, "connection").is_none());
    // The same as over HTTP/1.1.
    let mut parsed = http11().body(()).unwrap();
    parsed.headers_mut().remove("sec-websocket-version");
    let rejected = Request::from_http(&parsed, None, &plain()).unwrap_err();
    assert_eq!(rejected.status, 426);
    assert_eq!(header(&rejected.response(), "upgrade"), Some("websocket"));
}

#[test]
fn rfc8441_4_http2_methods_other_than_connect_are_405() {
    let parsed = http11().version(Version::HTTP_2).body(()).unwrap();
    let rejected = Request::from_http(&parsed, Some("websocket"), &plain()).unwrap_err();
    assert_eq!(rejected.status, 405);
    assert_eq!(header(&rejected.response(), "allow"), Some("CONNECT"));
    // And CONNECT is no HTTP/1.1 WebSocket handshake.
    let parsed = extended_connect()
        .version(Version::HTTP_11)
        .body(())
        .unwrap();
    let rejected = Request::from_http(&parsed, Some("websocket"), &plain()).unwrap_err();
    assert_eq!(rejected.status, 405);
    assert_eq!(header(&rejected.response(), "allow"), Some("GET"));
}

#[test]
fn extended_connect_rejection_by_the_application() {
    let parsed = extended_connect().body(()).unwrap();
    let request = Request::from_http(&parsed, Some("websocket"), &plain()).unwrap();
    let rejected = request.reject(
        Rejection::new(403)
            .header("X-Reason", "origin")
            .body("forbidden\n"),
    );
    assert_eq!(rejected.error, HandshakeError::RejectedByApplication(403));
    let response = rejected.response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&response, "x-reason"), Some("origin"));
    assert_eq!(header(&response, "content-length"), Some("10"));
    assert_eq!(response.body(), b"forbidden\n");
}

mod client {
    use wsock_core::HandshakeError;
    use wsock_core::handshake::client::{ClientHandshake, ClientRequest, IntoClientRequest};
    use wsock_core::handshake::server::{Accept, ServerHandshake};
    use wsock_core::http::{self, StatusCode, Uri, Version};

    fn request_text(request: &ClientRequest) -> String {
        let hs = ClientHandshake::with_key(request, *b"the sample nonce", &super::plain());
        String::from_utf8(hs.request_bytes().to_vec()).unwrap()
    }

    #[test]
    fn rfc6455_4_1_request_from_http_offers_and_headers() {
        let request = http::Request::get("ws://example.com:9001/chat?room=1")
            .header("Sec-WebSocket-Protocol", "chat, superchat")
            .header("sec-websocket-protocol", "v3")
            .header("Sec-WebSocket-Extensions", "x-foo; a=1")
            .header("Origin", "http://example.com")
            .header("Authorization", "Bearer t0ken")
            .body(())
            .unwrap();
        let request = ClientRequest::from_http(request).unwrap();
        assert_eq!((request.host(), request.port()), ("example.com", 9001));
        assert_eq!(request.path_and_query(), "/chat?room=1");
        assert_eq!(request.protocols(), ["chat", "superchat", "v3"]);
        assert_eq!(request.extensions()[0].name, "x-foo");
        let text = request_text(&request);
        assert!(
            text.starts_with("GET /chat?room=1 HTTP/1.1\r\nHost: example.com:9001\r\n"),
            "{text}"
        );
        for line in [
            "Origin: http://example.com\r\n",
            "Sec-WebSocket-Protocol: chat, superchat, v3\r\n",
            "Sec-WebSocket-Extensions: x-foo; a=1\r\n",
            "authorization: Bearer t0ken\r\n",
        ] {
            assert!(text.contains(line), "{line:?} in {text}");
        }
    }

    #[test]
    fn rfc6455_4_1_request_from_http_refuses_what_the_handshake_owns() {
        for (name, value) in [
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
            ("Content-Length", "0"),
        ] {
            let request = http::Request::get("ws://example.com/")
                .header(name, value)
                .body(())
                .unwrap();
            assert!(
                matches!(
                    ClientRequest::from_http(request),
                    Err(HandshakeError::InvalidHeader { name: n, .. }) if n.eq_ignore_ascii_case(name)
                ),
                "{name}"
            );
        }
        let bad: [(&str, &[u8]); 4] = [
            ("Sec-WebSocket-Protocol", b"a b"),
            ("Sec-WebSocket-Protocol", b"a, a"),
            ("Sec-WebSocket-Extensions", b"x;;"),
            // Not UTF-8 (a builder header is a &str).
            ("X-Latin1", b"caf\xe9"),
        ];
        for (name, value) in bad {
            let request = http::Request::get("ws://example.com/")
                .header(name, http::HeaderValue::from_bytes(value).unwrap())
                .body(())
                .unwrap();
            assert!(
                matches!(
                    ClientRequest::from_http(request),
                    Err(HandshakeError::InvalidHeader { .. })
                ),
                "{name}"
            );
        }
        // UTF-8 is fine, as in the builder.
        let request = http::Request::get("ws://example.com/")
            .header(
                "X-Name",
                http::HeaderValue::from_bytes("café".as_bytes()).unwrap(),
            )
            .body(())
            .unwrap();
        assert!(ClientRequest::from_http(request).is_ok());
    }

    #[test]
    fn request_from_http_needs_a_ws_uri_get_and_http11() {
        let post = http::Request::post("ws://h/").body(()).unwrap();
        assert_eq!(
            ClientRequest::from_http(post),
            Err(HandshakeError::MethodNotAllowed("POST".into()))
        );
        let h2 = http::Request::get("ws://h/")
            .version(Version::HTTP_2)
            .body(())
            .unwrap();
        assert!(matches!(
            ClientRequest::from_http(h2),
            Err(HandshakeError::MalformedHttp(_))
        ));
        let relative = http::Request::get("/chat").body(()).unwrap();
        assert!(matches!(
            ClientRequest::from_http(relative),
            Err(HandshakeError::InvalidUrl(_))
        ));
        let https = http::Request::get("https://h/").body(()).unwrap();
        assert_eq!(
            ClientRequest::from_http(https),
            Err(HandshakeError::UnsupportedScheme("https".into()))
        );
    }

    #[test]
    fn into_client_request_for_urls_uris_and_requests() {
        let url = "wss://example.com/feed";
        let expected = ClientRequest::new(url).unwrap();
        let uri: Uri = url.parse().unwrap();
        let from_http = http::Request::get(url).body(()).unwrap();
        let all = [
            url.into_client_request(),
            String::from(url).into_client_request(),
            (&String::from(url)).into_client_request(),
            (&uri).into_client_request(),
            uri.into_client_request(),
            from_http.into_client_request(),
            (&expected).into_client_request(),
            expected.clone().into_client_request(),
        ];
        for request in all {
            assert_eq!(request.as_ref(), Ok(&expected));
        }
        assert!(matches!(
            "not a url".into_client_request(),
            Err(HandshakeError::InvalidUrl(_))
        ));
    }

    #[test]
    fn rfc6455_4_1_response_is_an_http_response() {
        let config = super::plain();
        let request = http::Request::get("ws://example.com/chat")
            .header("Sec-WebSocket-Protocol", "chat")
            .body(())
            .unwrap()
            .into_client_request()
            .unwrap();
        let mut client = ClientHandshake::new(&request, &config);
        let mut server = ServerHandshake::new(&config);
        let offered = server.feed(client.request_bytes()).unwrap().unwrap();
        let accepted = offered
            .accept(Accept::new().protocol("chat").header("Set-Cookie", "sid=1"))
            .unwrap();
        let connected = client.feed(&accepted.response_bytes).unwrap().unwrap();
        let response = &connected.response;
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.protocol(), Some("chat"));
        assert_eq!(response.header("SET-COOKIE"), Some(&b"sid=1"[..]));
        assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
        assert_eq!(response.http().version(), Version::HTTP_11);
        let http = connected.response.into_http();
        assert_eq!(http.headers().len(), 5);
        assert_eq!(connected.connection.protocol(), Some("chat"));
    }
}

#[test]
fn is_upgrade_request_reads_the_intent_only() {
    let get = |upgrade: Option<&str>| {
        let mut builder = http::Request::get("/chat");
        if let Some(upgrade) = upgrade {
            builder = builder.header("upgrade", upgrade);
        }
        builder.body(()).unwrap()
    };
    assert!(Request::is_upgrade_request(
        &http11().body(()).unwrap(),
        None
    ));
    assert!(!Request::is_upgrade_request(&get(None), None));
    assert!(!Request::is_upgrade_request(&get(Some("h2c")), None));
    assert!(Request::is_upgrade_request(
        &get(Some("h2c, WebSocket ")),
        None
    ));
    // Malformed but asking: from_http says what is wrong (here 400: no key).
    let asking = get(Some("websocket"));
    assert!(Request::is_upgrade_request(&asking, None));
    assert_eq!(
        Request::from_http(&asking, None, &plain())
            .unwrap_err()
            .status,
        400
    );
    let connect = extended_connect().body(()).unwrap();
    assert!(Request::is_upgrade_request(&connect, Some("websocket")));
    assert!(Request::is_upgrade_request(&connect, Some("WebSocket")));
    assert!(!Request::is_upgrade_request(&connect, Some("webtransport")));
    assert!(!Request::is_upgrade_request(&connect, None));
    let h2_get = http::Request::get("https://server.example.com/chat")
        .version(Version::HTTP_2)
        .body(())
        .unwrap();
    assert!(!Request::is_upgrade_request(&h2_get, Some("websocket")));
}
