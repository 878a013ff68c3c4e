//! `wsock_axum::WebSocketUpgrade` in an axum `Router` served by
//! `axum::serve` on loopback TCP: HTTP/1.1 with a `wsock_tokio` client,
//! and HTTP/2 (h2c, prior knowledge) with `wsock_tokio`'s RFC 8441 client
//! (and one bare `h2` request it would never send).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use h2::client::SendRequest;
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use wsock_axum::{CloseCode, CloseFrame, DeflateConfig, Message, WebSocket, WebSocketUpgrade};
use wsock_hyper::http2::{Http2, Http2Client};
use wsock_tokio::{ClientBuilder, ErrorKind};

/// Every test body runs under this bound.
const LIMIT: Duration = Duration::from_secs(20);

type Accepted = mpsc::UnboundedSender<WebSocket>;

/// The routes of the tests; accepted WebSockets go to the state's sender.
/// `/ws` speaks `chat.v2` and `chat.v1` (preferring neither: the client's
/// order decides); `/plain` has no deflate; `/small` takes messages of at
/// most 16 bytes; `/page` serves a page to other requests; `/strict` has its
/// options from an `Acceptor` (no deflate); `/get-only` is
/// routed with `get`, which an HTTP/2 CONNECT does not reach.
fn app(accepted: Accepted) -> Router {
    async fn ws(State(tx): State<Accepted>, ws: WebSocketUpgrade) -> Response {
        ws.protocols(["chat.v2", "chat.v1"])
            .on_upgrade(move |ws| async move {
                let _ = tx.send(ws);
            })
    }
    async fn plain(State(tx): State<Accepted>, ws: WebSocketUpgrade) -> Response {
        ws.deflate(DeflateConfig::disabled())
            .on_upgrade(move |ws| async move {
                let _ = tx.send(ws);
            })
    }
    async fn small(State(tx): State<Accepted>, ws: WebSocketUpgrade) -> Response {
        ws.max_message_size(16)
            .max_frame_size(16)
            .write_buffer_size(1024)
            .on_upgrade(move |ws| async move {
                let _ = tx.send(ws);
            })
    }
    async fn page(State(tx): State<Accepted>, ws: Option<WebSocketUpgrade>) -> Response {
        match ws {
            Some(ws) => ws.on_upgrade(move |ws| async move {
                let _ = tx.send(ws);
            }),
            None => "a page\n".into_response(),
        }
    }
    async fn strict(State(tx): State<Accepted>, ws: WebSocketUpgrade) -> Response {
        ws.acceptor(wsock_tokio::Acceptor::new().deflate(DeflateConfig::disabled()))
            .on_upgrade(move |ws| async move {
                let _ = tx.send(ws);
            })
    }
    Router::new()
        .route("/ws", any(ws))
        .route("/strict", any(strict))
        .route("/plain", any(plain))
        .route("/small", any(small))
        .route("/page", any(page))
        .route("/get-only", get(ws))
        .with_state(accepted)
}

/// `axum::serve` (HTTP/1.1 and h2c, extended CONNECT enabled) on a
/// loopback port.
async fn server() -> (SocketAddr, mpsc::UnboundedReceiver<WebSocket>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move { axum::serve(listener, app(tx)).await.unwrap() });
    (addr, rx)
}

// ---------------------------------------------------------------- HTTP/1.1

#[tokio::test]
async fn http11_messages_subprotocol_deflate_and_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server().await;
        let mut client = ClientBuilder::new(format!("ws://{addr}/ws"))
            .protocol("chat.v3")
            .protocol("chat.v1")
            .protocol("chat.v2")
            .connect()
            .await
            .unwrap();
        let mut server = accepted.recv().await.unwrap();
        // The first the client offers that the route lists.
        assert_eq!(
            (client.protocol(), server.protocol()),
            (Some("chat.v1"), Some("chat.v1"))
        );
        assert_eq!(client.response().unwrap().status(), 101);
        assert!(client.extensions().deflate().is_some());
        assert!(server.extensions().deflate().is_some());
        assert_eq!(server.request().unwrap().path(), "/ws");

        client.send("hello").await.unwrap();
        client.send(vec![1u8, 2, 3]).await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("hello")));
        assert_eq!(
            server.recv().await.unwrap(),
            Some(Message::binary(vec![1, 2, 3]))
        );
        server.send("x".repeat(10_000)).await.unwrap();
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::text("x".repeat(10_000)))
        );
        // Compressed on the wire.
        assert!(server.stats().bytes_sent < 1_000, "{:?}", server.stats());

        let closing =
            tokio::spawn(async move { client.close(Some(CloseFrame::new(1000, "bye"))).await });
        match server.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.reason, "bye"),
            other => panic!("{other:?}"),
        }
        assert_eq!(server.recv().await.unwrap(), None);
        closing.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn http11_options_deflate_off_no_subprotocol_limits() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server().await;
        // Offered deflate, refused by the route; a subprotocol not listed.
        let client = ClientBuilder::new(format!("ws://{addr}/plain"))
            .protocol("chat.v2")
            .connect()
            .await
            .unwrap();
        let server = accepted.recv().await.unwrap();
        assert!(client.extensions().deflate().is_none());
        assert!(server.extensions().deflate().is_none());
        assert_eq!((client.protocol(), server.protocol()), (None, None));
        // The same from a whole `Acceptor`.
        let client = wsock_tokio::connect(&format!("ws://{addr}/strict"))
            .await
            .unwrap();
        assert!(client.extensions().deflate().is_none());
        assert!(
            accepted
                .recv()
                .await
                .unwrap()
                .extensions()
                .deflate()
                .is_none()
        );

        // A route's limits: a message above 16 bytes closes with 1009.
        let mut client = wsock_tokio::connect(&format!("ws://{addr}/small"))
            .await
            .unwrap();
        let mut server = accepted.recv().await.unwrap();
        client.send("short").await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("short")));
        client.send("x".repeat(100)).await.unwrap();
        // Both ends read at once: the server's closing handshake waits for
        // the client's answer.
        let client_side = async {
            match client.recv().await.unwrap() {
                Some(Message::Close(Some(frame))) => {
                    assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG);
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(client.recv().await.unwrap(), None);
        };
        let (server_side, ()) = tokio::join!(server.recv(), client_side);
        let err = server_side.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn http11_refusals_are_http_errors() {
    timeout(LIMIT, async {
        let (addr, _accepted) = server().await;
        // A plain GET on the WebSocket route: the core's 400.
        let (head, body) = raw(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        assert!(!body.is_empty());
        // Another version: 426 naming the one spoken.
        let (head, _) = raw(
            addr,
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-version: 13\r\n")
        );
        // A POST that asks: 405 with `Allow: GET`.
        let (head, _) = raw(
            addr,
            "POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
        assert!(head.to_ascii_lowercase().contains("allow: get\r\n"));
        // The client sees the status.
        let err = wsock_tokio::connect(&format!("ws://{addr}/nowhere"))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(404));

        // `Option<WebSocketUpgrade>`: other requests get the page, a
        // WebSocket the upgrade, a malformed one still its error.
        let (head, body) = raw(addr, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body, "a page\n");
        wsock_tokio::connect(&format!("ws://{addr}/page"))
            .await
            .unwrap();
        let (head, _) = raw(
            addr,
            "GET /page HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    })
    .await
    .unwrap();
}

/// Sends `request` on a new connection; the response head and the body
/// (by `Content-Length`).
async fn raw(addr: SocketAddr, request: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    tcp.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8(body).unwrap())
}

// ------------------------------------------------------ HTTP/2 (RFC 8441)

/// wsock's HTTP/2 client: a WebSocket on its own h2c (prior knowledge)
/// connection.
fn h2_client(builder: ClientBuilder) -> Http2Client {
    Http2Client::new(builder).mode(Http2::PriorKnowledge)
}

/// A bare h2c connection, for a request wsock's client never sends (no
/// version): the server's SETTINGS are in once a PING comes back.
async fn raw_h2(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut ping = connection.ping_pong().unwrap();
    tokio::spawn(connection);
    ping.ping(h2::Ping::opaque()).await.unwrap();
    send.ready().await.unwrap()
}

#[tokio::test]
async fn h2_message_subprotocol_and_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server().await;
        let mut client =
            h2_client(ClientBuilder::new(format!("ws://{addr}/ws")).protocol("chat.v2"))
                .connect()
                .await
                .unwrap();
        let head = client.response().unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.http().version(), http::Version::HTTP_2);
        assert_eq!(head.header("sec-websocket-protocol"), Some(&b"chat.v2"[..]));
        assert!(head.header("upgrade").is_none());
        assert!(client.extensions().deflate().is_some());
        let mut server = accepted.recv().await.unwrap();
        assert_eq!(server.protocol(), Some("chat.v2"));
        assert!(server.extensions().deflate().is_some());
        assert_eq!(server.request().unwrap().path(), "/ws");

        client.send("over h2").await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("over h2")));
        server.send(vec![7u8; 3]).await.unwrap();
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::binary(vec![7; 3]))
        );

        let closing = tokio::spawn(async move {
            server
                .close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "bye")))
                .await
        });
        match client.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
        assert_eq!(client.recv().await.unwrap(), None);
        closing.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn h2_routes_must_accept_connect() {
    timeout(LIMIT, async {
        let (addr, _accepted) = server().await;
        // `get(handler)` alone: the CONNECT does not reach it.
        let err = h2_client(ClientBuilder::new(format!("ws://{addr}/get-only")))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert_eq!(err.http_status(), Some(405));
        // No version: the core's 426 over the stream.
        let mut request = http::Request::builder()
            .method(http::Method::CONNECT)
            .uri(format!("http://{addr}/ws"))
            .body(())
            .unwrap();
        request
            .extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let (response, _send) = raw_h2(addr).await.send_request(request, false).unwrap();
        assert_eq!(response.await.unwrap().status(), 426);
    })
    .await
    .unwrap();
}

/// The router served by hyper-util's `auto::Builder`, as an application
/// without `axum::serve` does: extended CONNECT must be enabled by hand,
/// and upgrades allowed (`serve_connection_with_upgrades`).
#[tokio::test]
async fn hyper_util_auto_builder_serves_the_router_over_both_versions() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;

    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut accepted) = mpsc::unbounded_channel();
        let router = app(tx);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder.http2().enable_connect_protocol();
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });

        let mut client = wsock_tokio::connect(&format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let mut server = accepted.recv().await.unwrap();
        client.send("over 1.1").await.unwrap();
        assert_eq!(
            server.recv().await.unwrap(),
            Some(Message::text("over 1.1"))
        );

        let mut client = h2_client(ClientBuilder::new(format!("ws://{addr}/ws")))
            .connect()
            .await
            .unwrap();
        assert_eq!(client.response().unwrap().status(), 200);
        let mut server = accepted.recv().await.unwrap();
        client.send("over 2").await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("over 2")));
        server.send("back").await.unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(Message::text("back")));
    })
    .await
    .unwrap();
}
