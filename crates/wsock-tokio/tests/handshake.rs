//! Connecting and accepting: Happy Eyeballs, error kinds, timeouts, and
//! every rejection status.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{LIMIT, listener, read_head};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use wsock_tokio::{
    Accept, Acceptor, ClientBuilder, ErrorKind, HandshakeError, Message, Rejection, Timeout,
};

/// A listener whose accept queue is full, so further SYNs are dropped and
/// connecting to it hangs (a black hole), plus the connections filling it.
async fn black_hole(
    ip: &str,
) -> (
    SocketAddr,
    Vec<std::net::TcpStream>,
    tokio::net::TcpListener,
) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::task::spawn_blocking(move || {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
        })
        .await
        .unwrap()
        {
            Ok(tcp) => fillers.push(tcp),
            Err(_) => return (addr, fillers, listener),
        }
    }
    panic!("could not fill the accept queue of {addr}");
}

async fn echo_server(listener: tokio::net::TcpListener) {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = wsock_tokio::accept(tcp).await.unwrap();
    while let Some(m) = ws.recv().await.unwrap() {
        if m.is_data() {
            ws.send(m).await.unwrap();
        }
    }
}

// RFC 8305: an address that hangs does not hold up the next one for longer
// than the attempt delay; the first connection wins.
#[tokio::test]
async fn happy_eyeballs_skips_a_black_hole() {
    timeout(LIMIT, async {
        let (hole, _fillers, _socket) = black_hole("127.0.0.2").await;
        let (good, url) = listener().await;
        let good_addr = good.local_addr().unwrap();
        let server = tokio::spawn(echo_server(good));
        let started = Instant::now();
        let mut ws = ClientBuilder::new(format!("ws://wsock.test:{}/", good_addr.port()))
            .addresses([hole, good_addr])
            .connect_timeout(Some(Duration::from_secs(10)))
            .connect()
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200),
            "the second attempt waited for the delay: {took:?}"
        );
        assert!(
            took < Duration::from_secs(3),
            "did not wait for the first attempt to time out: {took:?}"
        );
        ws.send("through").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("through")));
        ws.close(None).await.unwrap();
        server.await.unwrap();
        let _ = url;
    })
    .await
    .unwrap();
}

// Only black holes: the connect timeout ends it with a Timeout error.
#[tokio::test]
async fn connect_timeout() {
    timeout(LIMIT, async {
        let (hole, _fillers, _socket) = black_hole("127.0.0.2").await;
        let started = Instant::now();
        let err = ClientBuilder::new(format!("ws://{hole}/"))
            .connect_timeout(Some(Duration::from_millis(400)))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Connect), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    })
    .await
    .unwrap();
}

// Every address refused: one Connect error that lists them all.
#[tokio::test]
async fn refused_everywhere_lists_every_address() {
    timeout(LIMIT, async {
        let a = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let b = std::net::TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = ClientBuilder::new("ws://wsock.test/")
            .addresses([a, b])
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect);
        let tried: Vec<SocketAddr> = err
            .connect_attempts()
            .iter()
            .map(wsock_tokio::ConnectAttempt::addr)
            .collect();
        assert_eq!(tried, [a, b]);
        assert!(
            err.connect_attempts()
                .iter()
                .all(|a| a.error().kind() == std::io::ErrorKind::ConnectionRefused)
        );
        let text = err.to_string();
        assert!(
            text.contains(&a.to_string()) && text.contains(&b.to_string()),
            "{text}"
        );
    })
    .await
    .unwrap();
}

// A name resolves through the system resolver; `localhost` stays on this machine.
#[tokio::test]
async fn connects_by_name() {
    timeout(LIMIT, async {
        let (listener, _) = listener().await;
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(echo_server(listener));
        let mut ws = wsock_tokio::connect(&format!("ws://localhost:{port}/"))
            .await
            .unwrap();
        ws.send("by name").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("by name")));
        ws.close(None).await.unwrap();
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn url_and_tls_errors() {
    for url in [
        "http://example.com/",
        "not a url",
        "ws://example.com/#fragment",
    ] {
        let err = wsock_tokio::connect(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{url}: {err}");
    }
    let err = wsock_tokio::connect("wss://127.0.0.1:1/")
        .await
        .unwrap_err();
    // With TLS built in, wss:// gets as far as the TCP connect.
    #[cfg(feature = "tls")]
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    #[cfg(not(feature = "tls"))]
    {
        assert_eq!(err.kind(), ErrorKind::Tls);
        assert!(err.to_string().contains("TLS support not enabled"), "{err}");
    }
}

// Both sides give up on a peer that never finishes the handshake.
#[tokio::test]
async fn handshake_timeouts() {
    timeout(LIMIT, async {
        // A server that accepts TCP but never answers.
        let (silent, url) = listener().await;
        let keep = tokio::spawn(async move {
            let (tcp, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(tcp);
        });
        let err = ClientBuilder::new(format!("{url}/"))
            .handshake_timeout(Some(Duration::from_millis(200)))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Handshake), "{err}");
        keep.abort();

        // A client that connects and never sends a request: 408.
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            Acceptor::new()
                .handshake_timeout(Some(Duration::from_millis(200)))
                .accept(tcp)
                .await
                .unwrap_err()
        });
        let mut tcp = TcpStream::connect(url.trim_start_matches("ws://"))
            .await
            .unwrap();
        let head = read_head(&mut tcp).await;
        assert!(head.starts_with("HTTP/1.1 408 "), "{head}");
        assert_eq!(
            server.await.unwrap().kind(),
            ErrorKind::Timeout(Timeout::Handshake)
        );
    })
    .await
    .unwrap();
}

/// Sends `request` raw; returns the server's response and its error.
async fn raw_request(request: String, server: Acceptor) -> (String, wsock_tokio::Error) {
    let (listener, url) = listener().await;
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server.accept(tcp).await.unwrap_err()
    });
    let mut tcp = TcpStream::connect(url.trim_start_matches("ws://"))
        .await
        .unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.unwrap();
    drop(tcp);
    (
        String::from_utf8_lossy(&response).into_owned(),
        task.await.unwrap(),
    )
}

fn request(method: &str, version: &str, extra: &str) -> String {
    format!(
        "{method} /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    )
}

// Each malformed request gets its status (written before the close), and
// the server reports the same status.
#[tokio::test]
async fn every_rejection_status() {
    timeout(LIMIT, async {
        let big = format!("X-Big: {}\r\n", "a".repeat(10_000));
        let cases = [
            (request("POST", "13", ""), 405, Some("Allow: GET")),
            (request("GET", "12", ""), 426, Some("Sec-WebSocket-Version: 13")),
            (request("GET", "13", &big), 431, None),
            ("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_owned(), 400, None),
            ("NOT HTTP AT ALL\r\n\r\n".to_owned(), 400, None),
        ];
        for (request, status, header) in cases {
            let (response, err) = raw_request(request, Acceptor::new()).await;
            assert!(response.starts_with(&format!("HTTP/1.1 {status} ")), "{response}");
            if let Some(header) = header {
                assert!(response.contains(header), "{response}");
            }
            assert!(response.lines().any(|l| l.starts_with("Connection:") && l.ends_with("close")), "{response}");
            assert_eq!(err.kind(), ErrorKind::Handshake);
            assert_eq!(err.http_status(), Some(status), "{err}");
        }
    })
    .await
    .unwrap();
}

// The application rejects with its own status, headers and body; the
// client sees all three.
#[tokio::test]
async fn application_rejection_reaches_the_client() {
    timeout(LIMIT, async {
        let (first, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = first.accept().await.unwrap();
            wsock_tokio::accept_with(tcp, |request| {
                assert!(request.header("Authorization").is_none());
                Err(Rejection::new(401)
                    .header("WWW-Authenticate", "Bearer")
                    .body("log in first\n"))
            })
            .await
            .unwrap_err()
        });
        let err = wsock_tokio::connect(&format!("{url}/private"))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.http_status()),
            (ErrorKind::Handshake, Some(401))
        );
        match err.handshake_error() {
            Some(HandshakeError::Rejected {
                headers,
                body_prefix,
                ..
            }) => {
                assert!(
                    headers
                        .iter()
                        .any(|(n, v)| n == "WWW-Authenticate" && v == b"Bearer")
                );
                assert_eq!(body_prefix, b"log in first\n");
            }
            other => panic!("{other:?}"),
        }
        let server_err = server.await.unwrap();
        assert_eq!(
            (server_err.kind(), server_err.http_status()),
            (ErrorKind::Handshake, Some(401))
        );

        // Choosing a subprotocol the client did not offer is the server's
        // bug: 500, and an InvalidInput error.
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            wsock_tokio::accept_with(tcp, |_| Ok(Accept::new().protocol("never-offered")))
                .await
                .unwrap_err()
        });
        let err = wsock_tokio::connect(&format!("{url}/")).await.unwrap_err();
        assert_eq!(err.http_status(), Some(500));
        assert_eq!(server.await.unwrap().kind(), ErrorKind::InvalidInput);
    })
    .await
    .unwrap();
}

// A redirect is reported with its status and location.
#[tokio::test]
async fn redirect_is_reported() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            read_head(&mut tcp).await;
            tcp.write_all(b"HTTP/1.1 301 Moved Permanently\r\nLocation: ws://elsewhere/\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let err = wsock_tokio::connect(&format!("{url}/")).await.unwrap_err();
        assert_eq!(err.http_status(), Some(301));
        match err.handshake_error() {
            Some(HandshakeError::Redirect { location, .. }) => assert_eq!(location.as_deref(), Some("ws://elsewhere/")),
            other => panic!("{other:?}"),
        }
    })
    .await
    .unwrap();
}

/// The core applies only the extensions its Config negotiates: accepting
/// any other one is the application's error (500), never a `101` that
/// names an extension the connection would not apply. Same in
/// wsock-blocking.
#[tokio::test]
async fn accepting_an_extension_the_core_lacks_is_the_applications_error() {
    timeout(LIMIT, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            wsock_tokio::accept_with(tcp, |_| {
                let offer = wsock_core::handshake::ExtensionOffer::new("x-custom");
                Ok(Accept::new().extension(offer))
            })
            .await
            .unwrap_err()
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Extensions: x-custom\r\n\r\n",
        )
        .await
        .unwrap();
        let mut response = Vec::new();
        let _ = tcp.read_to_end(&mut response).await;
        let response = String::from_utf8(response).unwrap();
        assert!(response.starts_with("HTTP/1.1 500 "), "{response}");
        let err = server.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    })
    .await
    .unwrap();
}
