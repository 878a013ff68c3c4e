//! `wsock_hyper::upgrade`: WebSocket served by hyper over HTTP/1.1 and
//! over HTTP/2, RFC 8441 (`wsock_tokio`'s clients, and bare `h2` requests
//! for what they never send), through hyper-util's `auto` server as
//! applications run it.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::LIMIT;
use futures_util::SinkExt;
use h2::Reason;
use h2::client::SendRequest;
use hyper::body::{Bytes, Incoming};
use hyper::http;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use wsock_hyper::http2::{H2Stream, Http2Client, Http2Connection};
use wsock_hyper::upgrade::{AcceptorExt, Body, Upgraded, is_upgrade_request};
use wsock_tokio::{
    Accept, Acceptor, ClientBuilder, CloseCode, ErrorKind, Message, Rejection, WebSocket,
};

type ServerSocket = WebSocket<Upgraded>;

/// The service of the tests: `/forbidden` is refused with 403 by the
/// callback, `chat.v2` is chosen when offered, any other request that is
/// not an upgrade is a 404 page; accepted WebSockets go to `accepted`.
/// (Answering needs no `.await`: the WebSocket arrives in a task.)
fn handle(
    mut request: hyper::Request<Incoming>,
    acceptor: &Acceptor,
    accepted: mpsc::UnboundedSender<ServerSocket>,
) -> hyper::Response<Body> {
    if !is_upgrade_request(&request) && request.uri().path() != "/strict" {
        let mut page = hyper::Response::new(Body::from("not here\n"));
        *page.status_mut() = hyper::StatusCode::NOT_FOUND;
        return page;
    }
    let upgrade = acceptor.upgrade_with(&mut request, |request| {
        if request.path() == "/forbidden" {
            return Err(Rejection::new(403).body("go away\n"));
        }
        match request.protocols().iter().find(|p| *p == "chat.v2") {
            Some(p) => Ok(Accept::new().protocol(p.as_str())),
            None => Ok(Accept::new()),
        }
    });
    match upgrade {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                let _ = accepted.send(upgrade.await.unwrap());
            });
            response
        }
        Err(refusal) => refusal,
    }
}

/// hyper-util's auto server (HTTP/1.1 with upgrades, h2c with extended
/// CONNECT) on a loopback port; the accepted WebSockets come out of the
/// receiver.
async fn server(acceptor: Acceptor) -> (SocketAddr, mpsc::UnboundedReceiver<ServerSocket>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let response = handle(request, &acceptor, tx.clone());
                    std::future::ready(Ok::<_, Infallible>(response))
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, rx)
}

async fn next(accepted: &mut mpsc::UnboundedReceiver<ServerSocket>) -> ServerSocket {
    accepted.recv().await.unwrap()
}

// ---------------------------------------------------------------- HTTP/1.1

#[tokio::test]
async fn http11_messages_subprotocol_deflate_and_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(Acceptor::new()).await;
        let mut client = ClientBuilder::new(format!("ws://{addr}/chat"))
            .protocol("chat.v1")
            .protocol("chat.v2")
            .connect()
            .await
            .unwrap();
        let mut server = next(&mut accepted).await;
        assert_eq!(
            (client.protocol(), server.protocol()),
            (Some("chat.v2"), Some("chat.v2"))
        );
        #[cfg(feature = "deflate")]
        assert!(client.extensions().deflate().is_some());
        #[cfg(feature = "deflate")]
        assert!(server.extensions().deflate().is_some());
        assert_eq!(server.request().unwrap().path(), "/chat");
        assert_eq!(client.response().unwrap().status(), 101);

        client.send("hello").await.unwrap();
        client.send(vec![1u8, 2, 3]).await.unwrap();
        client.send(Message::ping(&b"there?"[..])).await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("hello")));
        assert_eq!(
            server.recv().await.unwrap(),
            Some(Message::binary(vec![1, 2, 3]))
        );
        assert_eq!(
            server.recv().await.unwrap(),
            Some(Message::ping(&b"there?"[..]))
        );
        server.send("x".repeat(10_000)).await.unwrap();
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::pong(&b"there?"[..]))
        );
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::text("x".repeat(10_000)))
        );
        // Compressed on the wire: the 10 kB of 'x' took a few bytes.
        #[cfg(feature = "deflate")]
        assert!(server.stats().bytes_sent < 1_000, "{:?}", server.stats());

        let closing = tokio::spawn(async move {
            client
                .close(Some(wsock_tokio::CloseFrame::new(1000, "bye")))
                .await
        });
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
async fn http11_refusals_reach_the_client_with_their_status() {
    timeout(LIMIT, async {
        let (addr, _accepted) = server(Acceptor::new()).await;
        let err = wsock_tokio::connect(&format!("ws://{addr}/forbidden"))
            .await
            .unwrap_err();
        assert_eq!(
            (err.kind(), err.http_status()),
            (ErrorKind::Handshake, Some(403))
        );
        // No subprotocol offered: none chosen.
        let ws = wsock_tokio::connect(&format!("ws://{addr}/plain"))
            .await
            .unwrap();
        assert_eq!(ws.protocol(), None);

        // A request of another version: 426 naming the one spoken.
        let response = raw(
            addr,
            "GET /strict HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("sec-websocket-version: 13\r\n")
        );
        // Not an upgrade at all, where only WebSocket is served: the core's 400.
        let response = raw(addr, "GET /strict HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
        // And a POST that asks: 405 with `Allow: GET`.
        let response = raw(
            addr,
            "POST /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 405 "), "{response}");
        assert!(response.to_ascii_lowercase().contains("allow: get\r\n"));
        // Other requests are the application's.
        let response = raw(addr, "GET /page HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
    })
    .await
    .unwrap();
}

/// Sends `request` on a new connection and returns the response head.
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tcp.read_u8().await.unwrap();
        head.push(byte);
    }
    String::from_utf8(head).unwrap()
}

// ------------------------------------------------------ HTTP/2 (RFC 8441)

/// wsock's own HTTP/2 client: an h2c (prior knowledge) connection to the
/// server, on which WebSockets open as streams.
async fn h2_connection(addr: SocketAddr) -> Http2Connection {
    Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
        .connection()
        .await
        .unwrap()
}

/// A bare h2c connection, for requests wsock's client never sends
/// (another `:protocol`, no version): the server's SETTINGS are in once a
/// PING comes back.
async fn raw_h2(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, mut connection) = h2::client::handshake(tcp).await.unwrap();
    let mut ping = connection.ping_pong().unwrap();
    tokio::spawn(connection);
    ping.ping(h2::Ping::opaque()).await.unwrap();
    let send = send.ready().await.unwrap();
    assert!(send.is_extended_connect_protocol_enabled());
    send
}

/// An RFC 8441 §5 request: `CONNECT` with `:protocol`, `:scheme http`,
/// `:path` and `:authority` from the URI, the version, and `headers`.
fn extended_connect(
    addr: SocketAddr,
    path: &str,
    protocol: &'static str,
    headers: &[(&str, &str)],
) -> http::Request<()> {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static(protocol));
    request
}

/// Opens a stream: the response head, and the stream.
async fn open(
    h2: &mut SendRequest<Bytes>,
    request: http::Request<()>,
) -> (http::response::Parts, H2Stream) {
    let (response, send) = h2.send_request(request, false).unwrap();
    let (head, recv) = response.await.unwrap().into_parts();
    (head, H2Stream::new(recv, send))
}

#[tokio::test]
async fn h2_two_websockets_share_a_connection_and_each_side_closes() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(Acceptor::new()).await;
        let h2 = h2_connection(addr).await;
        let mut a = h2
            .websocket_with(
                &ClientBuilder::new(format!("ws://{addr}/a"))
                    .protocol("chat.v1")
                    .protocol("chat.v2"),
            )
            .await
            .unwrap();
        let mut server_a = next(&mut accepted).await;
        let mut b = h2
            .websocket_with(&common::uncompressed(ClientBuilder::new(format!(
                "ws://{addr}/b"
            ))))
            .await
            .unwrap();
        let mut server_b = next(&mut accepted).await;
        let head = a.response().unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.header("sec-websocket-protocol"), Some(&b"chat.v2"[..]));
        assert!(head.header("upgrade").is_none());
        assert!(head.header("sec-websocket-accept").is_none());
        assert_eq!(a.protocol(), Some("chat.v2"));
        assert_eq!(server_a.protocol(), Some("chat.v2"));
        assert_eq!(server_a.request().unwrap().path(), "/a");
        assert_eq!(server_b.request().unwrap().path(), "/b");
        #[cfg(feature = "deflate")]
        assert!(server_b.extensions().deflate().is_none(), "not offered");

        // Interleaved on the one connection.
        a.send("to a").await.unwrap();
        b.send(vec![0xbu8; 100_000]).await.unwrap();
        a.send(vec![0xau8; 3]).await.unwrap();
        assert_eq!(server_a.recv().await.unwrap(), Some(Message::text("to a")));
        assert_eq!(
            server_b.recv().await.unwrap(),
            Some(Message::binary(vec![0xb; 100_000]))
        );
        assert_eq!(
            server_a.recv().await.unwrap(),
            Some(Message::binary(vec![0xa; 3]))
        );
        server_a.send("from a").await.unwrap();
        server_b.send(Message::ping(&b"b?"[..])).await.unwrap();
        assert_eq!(a.recv().await.unwrap(), Some(Message::text("from a")));
        assert_eq!(b.recv().await.unwrap(), Some(Message::ping(&b"b?"[..])));
        assert_eq!(
            server_b.recv().await.unwrap(),
            Some(Message::pong(&b"b?"[..]))
        );

        // The client closes `a`; both ends see the closing handshake and
        // the stream's end (END_STREAM each way).
        let closing = tokio::spawn(async move { a.close(None).await });
        assert!(matches!(
            server_a.recv().await.unwrap(),
            Some(Message::Close(_))
        ));
        assert_eq!(server_a.recv().await.unwrap(), None);
        closing.await.unwrap().unwrap();

        // The server closes `b`, still usable after `a` ended.
        b.send("still there").await.unwrap();
        assert_eq!(
            server_b.recv().await.unwrap(),
            Some(Message::text("still there"))
        );
        let closing = tokio::spawn(async move {
            server_b
                .close(Some(wsock_tokio::CloseFrame::new(
                    CloseCode::GOING_AWAY,
                    "bye",
                )))
                .await
        });
        match b.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.recv().await.unwrap(), None);
        closing.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

#[cfg(feature = "deflate")]
#[tokio::test]
async fn h2_deflate_is_negotiated_in_the_200() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(Acceptor::new()).await;
        let h2 = h2_connection(addr).await;
        let client = h2.websocket(format!("ws://{addr}/")).await.unwrap();
        let answer = client
            .response()
            .unwrap()
            .header("sec-websocket-extensions")
            .unwrap();
        assert!(answer.starts_with(b"permessage-deflate"), "{answer:?}");
        assert!(client.extensions().deflate().is_some());
        let server = next(&mut accepted).await;
        assert!(server.extensions().deflate().is_some());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn h2_refusals_are_responses_on_the_stream() {
    timeout(LIMIT, async {
        let (addr, _accepted) = server(Acceptor::new()).await;
        let mut h2 = raw_h2(addr).await;
        // Another protocol over extended CONNECT: not a WebSocket request
        // (the application's 404), or 501 where only WebSocket is served.
        let (head, _) = open(&mut h2, extended_connect(addr, "/", "webtransport", &[])).await;
        assert_eq!(head.status, 404);
        let (head, _) = open(
            &mut h2,
            extended_connect(addr, "/strict", "webtransport", &[]),
        )
        .await;
        assert_eq!(head.status, 501);
        // The callback's refusal, without HTTP/1.1's hop-by-hop fields.
        let (head, _) = open(
            &mut h2,
            extended_connect(addr, "/forbidden", "websocket", &[]),
        )
        .await;
        assert_eq!(head.status, 403);
        assert!(!head.headers.contains_key("connection"));
        // No version: 426 naming 13.
        let mut request = extended_connect(addr, "/", "websocket", &[]);
        request.headers_mut().remove("sec-websocket-version");
        let (head, _) = open(&mut h2, request).await;
        assert_eq!(head.status, 426);
        assert_eq!(head.headers["sec-websocket-version"], "13");
        // The connection still serves WebSockets.
        let (head, _) = open(&mut h2, extended_connect(addr, "/", "websocket", &[])).await;
        assert_eq!(head.status, 200);
        // wsock's client reports the refusal with its status.
        let err = h2_connection(addr)
            .await
            .websocket(format!("ws://{addr}/forbidden"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake);
        assert_eq!(err.http_status(), Some(403));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn h2_reset_stream_is_an_abnormal_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(Acceptor::new()).await;
        let h2 = h2_connection(addr).await;
        for reason in [Reason::CANCEL, Reason::INTERNAL_ERROR] {
            let client = h2.websocket(format!("ws://{addr}/")).await.unwrap();
            let mut server = next(&mut accepted).await;
            client.into_inner().reset(reason);
            let err = server.recv().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{reason:?}: {err}");
            assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
            assert_eq!(server.recv().await.unwrap(), None);
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn h2_flow_control_stalls_a_sender_whose_peer_stops_reading() {
    timeout(LIMIT, async {
        const BOUND: usize = 64 * 1024;
        const SIZE: usize = 16 * 1024;
        const N: usize = 200; // 3.2 MB, far over the stream's 64 KiB window
        let acceptor = common::uncompressed_acceptor(Acceptor::new().write_buffer_size(BOUND));
        let (addr, mut accepted) = server(acceptor).await;
        let h2 = h2_connection(addr).await;
        let mut client = h2.websocket(format!("ws://{addr}/")).await.unwrap();
        let (server_rx, mut server_tx) = next(&mut accepted).await.split();
        // Another WebSocket on the connection, to show it is not held up.
        let mut other = h2.websocket(format!("ws://{addr}/")).await.unwrap();
        let mut other_server = next(&mut accepted).await;
        let sent = Arc::new(AtomicUsize::new(0));
        let max_buffered = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (sent, max_buffered) = (sent.clone(), max_buffered.clone());
            tokio::spawn(async move {
                for _ in 0..N {
                    server_tx
                        .feed(Message::binary(vec![1; SIZE]))
                        .await
                        .unwrap();
                    max_buffered.fetch_max(server_tx.buffered_output(), Ordering::SeqCst);
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                server_tx.flush().await.unwrap();
            })
        };
        // The client reads nothing (no window given back): the sender stalls.
        let mut stalled_at = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = sent.load(Ordering::SeqCst);
            if now == stalled_at {
                break;
            }
            stalled_at = now;
        }
        assert!(stalled_at < N / 4, "{stalled_at} messages went out");
        let buffered = server_rx.buffered_output();
        assert!(buffered <= BOUND + SIZE + 16, "{buffered}");
        // The other stream still flows both ways.
        other_server.send(vec![2u8; 200_000]).await.unwrap();
        assert_eq!(
            other.recv().await.unwrap(),
            Some(Message::binary(vec![2u8; 200_000]))
        );
        // Reading resumes the flow: everything arrives.
        for _ in 0..N {
            let message = client.recv().await.unwrap();
            assert!(matches!(message, Some(Message::Binary(b)) if b.len() == SIZE));
        }
        sender.await.unwrap();
        assert!(max_buffered.load(Ordering::SeqCst) <= BOUND + SIZE + 16);
    })
    .await
    .unwrap();
}

#[test]
fn is_upgrade_request_reads_hypers_protocol_extension() {
    let h2 = |protocol: Option<&'static str>| {
        let mut request = http::Request::connect("http://example.com/")
            .version(http::Version::HTTP_2)
            .body(())
            .unwrap();
        if let Some(protocol) = protocol {
            request
                .extensions_mut()
                .insert(hyper::ext::Protocol::from_static(protocol));
        }
        request
    };
    assert!(is_upgrade_request(&h2(Some("websocket"))));
    assert!(!is_upgrade_request(&h2(Some("connect-udp"))));
    assert!(!is_upgrade_request(&h2(None)));
    let get = http::Request::get("/")
        .header("upgrade", "websocket")
        .body(())
        .unwrap();
    assert!(is_upgrade_request(&get));
}

// ---------------------------------------------------------------- coalescing

/// Two messages from `client` in one write; `server` echoes the first and
/// must have left its reply queued (the second is already received), then
/// every echo arrives. Returns whether the first reply was deferred.
async fn first_reply_deferred<S, C>(mut server: WebSocket<S>, client: &mut WebSocket<C>) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    client.feed(Message::text("one")).await.unwrap();
    client.feed(Message::text("two")).await.unwrap();
    SinkExt::<Message>::flush(client).await.unwrap();
    let echo = tokio::spawn(async move {
        let mut deferred = None;
        while let Some(message) = server.recv().await.unwrap() {
            if !message.is_data() {
                continue;
            }
            server.send(message).await.unwrap();
            deferred.get_or_insert(server.buffered_output() > 0);
        }
        deferred.unwrap()
    });
    assert_eq!(client.recv().await.unwrap(), Some(Message::text("one")));
    assert_eq!(client.recv().await.unwrap(), Some(Message::text("two")));
    client.close(None).await.unwrap();
    echo.await.unwrap()
}

// A WebSocket from `upgrade` coalesces by default, over HTTP/1.1 and over
// an HTTP/2 stream.
#[tokio::test(flavor = "current_thread")]
async fn upgraded_websockets_coalesce_by_default() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(Acceptor::new()).await;
        let mut client = ClientBuilder::new(format!("ws://{addr}/"))
            .connect()
            .await
            .unwrap();
        let server = next(&mut accepted).await;
        assert!(first_reply_deferred(server, &mut client).await, "HTTP/1.1");

        let h2 = h2_connection(addr).await;
        let mut client = h2.websocket(format!("ws://{addr}/")).await.unwrap();
        let server = next(&mut accepted).await;
        assert!(first_reply_deferred(server, &mut client).await, "HTTP/2");
    })
    .await
    .unwrap();
}
