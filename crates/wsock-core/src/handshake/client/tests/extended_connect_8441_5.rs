//! The client's extended CONNECT and its checks on the answer over HTTP/2
//! (RFC 8441 §5): the same offers and the same checks as §4.1, with a
//! `2xx` in place of the `101`.

use super::*;
use crate::handshake::client::Http2Handshake;

fn http2(url: &str) -> Http2Handshake {
    let request = ClientRequest::new(url)
        .unwrap()
        .protocol("chat")
        .unwrap()
        .protocol("superchat")
        .unwrap()
        .origin("https://example.com")
        .unwrap()
        .header("X-Token", "t0")
        .unwrap();
    Http2Handshake::new(&request, &plain()).unwrap()
}

fn answer(status: u16, fields: &[(&str, &str)]) -> ::http::Response<()> {
    let mut response = ::http::Response::builder()
        .status(status)
        .version(::http::Version::HTTP_2);
    for (name, value) in fields {
        response = response.header(*name, *value);
    }
    response.body(()).unwrap()
}

#[test]
fn rfc8441_5_request_is_a_connect_with_the_websocket_fields() {
    let request = http2("wss://user:pw@server.example.com:8443/chat?room=1").request();
    assert_eq!(request.method(), ::http::Method::CONNECT);
    assert_eq!(request.version(), ::http::Version::HTTP_2);
    // :scheme, :authority and :path come from the URI.
    assert_eq!(request.uri(), "https://server.example.com:8443/chat?room=1");
    let headers = request.headers();
    assert_eq!(headers["sec-websocket-version"], "13");
    assert_eq!(headers["sec-websocket-protocol"], "chat, superchat");
    assert_eq!(headers["origin"], "https://example.com");
    assert_eq!(headers["x-token"], "t0");
    assert_eq!(headers["authorization"], "Basic dXNlcjpwdw==");
    // None of HTTP/1.1's upgrade: the stream is the WebSocket.
    for name in ["host", "upgrade", "connection", "sec-websocket-key"] {
        assert!(!headers.contains_key(name), "{name}");
    }
    let plain = http2("ws://[::1]/").request();
    assert_eq!(plain.uri(), "http://[::1]/");
}

#[cfg(feature = "deflate")]
#[test]
fn rfc8441_5_offers_deflate_from_the_config_and_checks_the_answer() {
    let request = ClientRequest::new("ws://example.com/").unwrap();
    let handshake = Http2Handshake::new(&request, &Config::default()).unwrap();
    let offer = handshake.request().headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(offer.starts_with("permessage-deflate"), "{offer}");
    let connected = handshake
        .finish(&answer(
            200,
            &[("sec-websocket-extensions", "permessage-deflate")],
        ))
        .unwrap();
    assert!(connected.connection.extensions().deflate().is_some());
    assert!(
        connected
            .response
            .negotiated_extensions()
            .deflate()
            .is_some()
    );
    // Declined: no extension, not an error.
    let handshake = Http2Handshake::new(&request, &Config::default()).unwrap();
    let connected = handshake.finish(&answer(200, &[])).unwrap();
    assert!(connected.connection.extensions().deflate().is_none());
}

#[test]
fn rfc8441_5_any_2xx_accepts_with_the_chosen_subprotocol() {
    let connected = http2("ws://example.com/")
        .finish(&answer(200, &[("sec-websocket-protocol", "superchat")]))
        .unwrap();
    assert_eq!(connected.connection.protocol(), Some("superchat"));
    assert_eq!(connected.connection.role(), crate::Role::Client);
    assert_eq!(connected.response.status(), 200);
    assert_eq!(connected.response.http().version(), ::http::Version::HTTP_2);
    let connected = http2("ws://example.com/")
        .finish(&answer(204, &[]))
        .unwrap();
    assert_eq!(connected.connection.protocol(), None);
}

#[test]
fn rfc8441_5_unoffered_subprotocol_and_extension_are_refused_as_over_http11() {
    assert_eq!(
        http2("ws://example.com/")
            .finish(&answer(200, &[("sec-websocket-protocol", "other")]))
            .unwrap_err(),
        HandshakeError::UnofferedSubprotocol("other".into())
    );
    assert_eq!(
        http2("ws://example.com/")
            .finish(&answer(200, &[("sec-websocket-extensions", "x-custom")]))
            .unwrap_err(),
        HandshakeError::UnofferedExtension("x-custom".into())
    );
    assert!(matches!(
        http2("ws://example.com/")
            .finish(&answer(
                200,
                &[("sec-websocket-protocol", "chat, superchat")]
            ))
            .unwrap_err(),
        HandshakeError::InvalidHeader { .. }
    ));
}

#[test]
fn rfc8441_5_other_statuses_are_errors_carrying_the_status() {
    match http2("ws://example.com/")
        .finish(&answer(403, &[("x-why", "no")]))
        .unwrap_err()
    {
        HandshakeError::Rejected {
            status, headers, ..
        } => {
            assert_eq!(status, 403);
            assert_eq!(headers, vec![("x-why".to_string(), b"no".to_vec())]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        http2("ws://example.com/")
            .finish(&answer(308, &[("location", "/elsewhere")]))
            .unwrap_err(),
        HandshakeError::Redirect {
            status: 308,
            location: Some("/elsewhere".into())
        }
    );
    assert!(matches!(
        http2("ws://example.com/").finish(&answer(101, &[])),
        Err(HandshakeError::Rejected { status: 101, .. })
    ));
}

#[test]
fn rfc9113_8_2_2_connection_specific_fields_are_refused() {
    for name in ["Keep-Alive", "proxy-connection", "TE"] {
        let request = ClientRequest::new("ws://example.com/")
            .unwrap()
            .header(name, "x")
            .unwrap();
        assert!(
            matches!(
                Http2Handshake::new(&request, &plain()),
                Err(HandshakeError::InvalidHeader { .. })
            ),
            "{name}"
        );
    }
}
