//! The opening handshake: rejections with the right HTTP status, the
//! application's callback, timeouts, and handshakes over other streams.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{bounded, listener, read_to_end};
use wsock_blocking::{Accept, Acceptor, AnyStream, ClientBuilder, ErrorKind, Message, Rejection};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends `request` to a server running `accept` and returns the server's
/// error and the whole HTTP response it wrote before closing.
fn rejected(request: &str, acceptor: Acceptor) -> (wsock_blocking::Error, String) {
    let (listener, _) = listener();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        acceptor.accept(stream).unwrap_err()
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    // The request may be cut short by the server's answer (431).
    let _ = stream.write_all(request.as_bytes());
    let response = String::from_utf8_lossy(&read_to_end(&mut stream)).into_owned();
    // Our end of stream ends the server's lingering close.
    drop(stream);
    (server.join().unwrap(), response)
}

fn request(lines: &[&str]) -> String {
    let mut out = String::from("GET /ws HTTP/1.1\r\nHost: example.com\r\n");
    for line in lines {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out
}

fn valid() -> Vec<String> {
    vec![
        "Upgrade: websocket".into(),
        "Connection: Upgrade".into(),
        format!("Sec-WebSocket-Key: {KEY}"),
        "Sec-WebSocket-Version: 13".into(),
    ]
}

#[test]
fn missing_upgrade_is_400() {
    bounded(20, || {
        let lines = valid();
        let lines: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("Upgrade"))
            .collect();
        let (err, response) = rejected(&request(&lines), Acceptor::new());
        assert!(
            response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{response}"
        );
        assert!(response.contains("Connection: close\r\n"), "{response}");
        assert_eq!(
            (err.kind(), err.http_status()),
            (ErrorKind::Handshake, Some(400)),
            "{err}"
        );
    });
}

#[test]
fn malformed_http_is_400() {
    bounded(20, || {
        let (err, response) = rejected("GET /\0 HTTP/1.1\r\n\r\n", Acceptor::new());
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
        assert_eq!(err.http_status(), Some(400));
    });
}

#[test]
fn wrong_method_is_405() {
    bounded(20, || {
        let lines = valid();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let req = request(&lines).replacen("GET", "POST", 1);
        let (err, response) = rejected(&req, Acceptor::new());
        assert!(
            response.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{response}"
        );
        assert!(response.contains("Allow: GET\r\n"), "{response}");
        assert_eq!(err.http_status(), Some(405));
    });
}

#[test]
fn wrong_version_is_426() {
    bounded(20, || {
        let mut lines = valid();
        lines[3] = "Sec-WebSocket-Version: 8".into();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (err, response) = rejected(&request(&lines), Acceptor::new());
        assert!(
            response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{response}"
        );
        assert!(
            response.contains("Sec-WebSocket-Version: 13\r\n"),
            "{response}"
        );
        assert_eq!(err.http_status(), Some(426));
    });
}

#[test]
fn oversized_headers_are_431() {
    bounded(20, || {
        let mut lines = valid();
        let big = format!("X-Filler: {}", "a".repeat(1000));
        lines.extend(std::iter::repeat_n(big, 20));
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (err, response) = rejected(&request(&lines), Acceptor::new().max_header_bytes(4096));
        assert!(
            response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{response}"
        );
        assert_eq!(err.http_status(), Some(431));

        // Too many fields is 431 as well.
        let mut lines = valid();
        lines.extend((0..20).map(|i| format!("X-{i}: {i}")));
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (err, response) = rejected(&request(&lines), Acceptor::new().max_headers(10));
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
        assert_eq!(err.http_status(), Some(431));
    });
}

#[test]
fn application_rejection_reaches_the_client() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |request| {
                assert_eq!(request.origin(), Some("https://evil.example"));
                Err(Rejection::new(403)
                    .header("X-Why", "origin")
                    .body("forbidden origin\n"))
            })
            .unwrap_err()
        });
        let err = ClientBuilder::new(&url)
            .origin("https://evil.example")
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert_eq!(err.http_status(), Some(403));
        match err.handshake_error() {
            Some(wsock_blocking::wsock_core::HandshakeError::Rejected {
                headers,
                body_prefix,
                ..
            }) => {
                assert!(headers.iter().any(|(n, v)| n == "X-Why" && v == b"origin"));
                assert_eq!(body_prefix, b"forbidden origin\n");
            }
            other => panic!("{other:?}"),
        }
        let server_err = server.join().unwrap();
        assert_eq!(server_err.kind(), ErrorKind::Handshake);
        assert_eq!(server_err.http_status(), Some(403));
    });
}

#[test]
fn application_rejection_on_the_wire() {
    bounded(20, || {
        let (listener, _) = listener();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |request| {
                if request.path() == "/private" {
                    Err(Rejection::new(404))
                } else {
                    Ok(Accept::new())
                }
            })
            .unwrap_err()
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        let lines = valid();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        stream
            .write_all(request(&lines).replacen("/ws", "/private", 1).as_bytes())
            .unwrap();
        let response = String::from_utf8(read_to_end(&mut stream)).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{response}"
        );
        assert!(
            response.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"),
            "{response}"
        );
        drop(stream);
        assert_eq!(server.join().unwrap().http_status(), Some(404));
    });
}

#[test]
fn choosing_an_unoffered_subprotocol_is_the_applications_error() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |_| Ok(Accept::new().protocol("never-offered")))
                .unwrap_err()
        });
        let err = ClientBuilder::new(&url)
            .protocol("chat")
            .connect()
            .unwrap_err();
        assert_eq!(err.http_status(), Some(500), "{err}");
        assert_eq!(server.join().unwrap().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn client_rejects_a_bad_accept_key() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            common::read_head(&mut stream);
            stream
                .write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
                )
                .unwrap();
        });
        let err = wsock_blocking::connect(&url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert!(matches!(
            err.handshake_error(),
            Some(wsock_blocking::wsock_core::HandshakeError::AcceptMismatch { .. })
        ));
        server.join().unwrap();
    });
}

#[test]
fn server_handshake_timeout_on_a_silent_client() {
    bounded(20, || {
        let (listener, _) = listener();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        let started = Instant::now();
        let err = Acceptor::new()
            .handshake_timeout(Some(Duration::from_millis(200)))
            .accept(stream)
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(client);
    });
}

#[test]
fn client_seeing_the_stream_end_during_the_handshake() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            common::read_head(&mut stream);
        });
        let err = wsock_blocking::connect(&url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        server.join().unwrap();
    });
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let head = common::read_head(&mut stream);
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap();
            let accept = wsock_blocking::wsock_core::handshake::accept_key(key.trim().as_bytes());
            let mut bytes = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .into_bytes();
            // The first frames ride in the same segment as the response.
            bytes.extend(common::frame(0x81, b"early", None));
            bytes.extend(common::frame(0x82, b"bird", None));
            stream.write_all(&bytes).unwrap();
            stream
        });
        let mut client = wsock_blocking::connect(&url).unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("early")
        );
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::binary(b"bird".to_vec())
        );
        drop(server.join().unwrap());
    });
}

#[test]
fn handshake_over_any_stream() {
    bounded(20, || {
        // A Unix socket pair: a Transport with timeouts but no address.
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut ws = wsock_blocking::accept(b).unwrap();
            let message = ws.recv().unwrap().expect("a message");
            ws.send(message).unwrap();
            ws
        });
        let mut client = wsock_blocking::client(a, "ws://unix.invalid/socket").unwrap();
        client.send("over a unix socket").unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("over a unix socket")
        );
        assert!(client.local_addr().is_err());
        // Both ends close at once (each drop waits for the other's reply).
        let server = server.join().unwrap();
        let dropper = std::thread::spawn(move || drop(server));
        drop(client);
        dropper.join().unwrap();

        // The same through AnyStream (no timeouts, no split).
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut ws = wsock_blocking::accept(AnyStream(b)).unwrap();
            let message = ws.recv().unwrap().expect("a message");
            ws.send(message).unwrap();
            ws.send(Message::close(1000, "")).unwrap();
            assert!(matches!(
                ws.recv().unwrap().expect("a message"),
                Message::Close(_)
            ));
        });
        let request = wsock_blocking::ClientRequest::new("ws://pipe.invalid/")
            .unwrap()
            .protocol("p")
            .unwrap();
        let client = wsock_blocking::client(AnyStream(a), &request).unwrap();
        let (mut client, err) = client.split().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        client.send(vec![1u8, 2, 3]).unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::binary(vec![1u8, 2, 3])
        );
        assert!(matches!(
            client.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        server.join().unwrap();
        assert_eq!(client.recv().unwrap(), None);
    });
}

#[test]
fn connecting_to_given_addresses_skips_resolution() {
    bounded(20, || {
        let (listener, _) = listener();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = wsock_blocking::accept(stream).unwrap();
            let host = ws.request().unwrap().host().to_string();
            while let Ok(Some(_)) = ws.recv() {}
            host
        });
        let closed: SocketAddr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        // The first address refuses; the second is the server.
        let ws = ClientBuilder::new("ws://service.example:8080/")
            .addresses([closed, addr])
            .connect()
            .unwrap();
        assert_eq!(ws.peer_addr().unwrap(), addr);
        drop(ws);
        assert_eq!(server.join().unwrap(), "service.example:8080");
    });
}

/// The core applies only the extensions its Config negotiates: accepting
/// any other one is the application's error (500), never a `101` that
/// names an extension the connection would not apply. Same in wsock-tokio.
#[test]
fn accepting_an_extension_the_core_lacks_is_the_applications_error() {
    bounded(20, || {
        let (listener, _) = listener();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |_| {
                let offer = wsock_blocking::wsock_core::handshake::ExtensionOffer::new("x-custom");
                Ok(Accept::new().extension(offer))
            })
            .unwrap_err()
        });
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Extensions: x-custom\r\n\r\n",
        )
        .unwrap();
        let response = String::from_utf8(read_to_end(&mut tcp)).unwrap();
        assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
        let err = server.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}
