//! `wsock serve` with TLS over HTTP/2 (ALPN `h2`, RFC 8441 extended
//! CONNECT) and `--page`, driven over real sockets: an HTTP/2 client on
//! the `h2` crate loads the page and opens WebSockets on the same
//! connection; `--no-http2` and plain TCP stay on HTTP/1.1.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Context, Poll, ready};
use std::thread;
use std::time::Duration;

use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_core::http;
use wsock_tokio::tls::{ClientTlsConfig, Pem};
use wsock_tokio::{CloseCode, Config, Message, Role, WebSocket};

mod pki;

use pki::pki;

const WSOCK: &str = env!("CARGO_BIN_EXE_wsock");

/// Longest any step may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

const PAGE: &str = "<!doctype html><title>wsock</title><p>hello from the page</p>\n";

// ------------------------------------------------------------------ harness

/// The page `--page` serves, written once next to the test certificates.
fn page() -> &'static str {
    static PAGE_FILE: OnceLock<String> = OnceLock::new();
    PAGE_FILE.get_or_init(|| {
        let path = pki().dir.join("page.html");
        std::fs::write(&path, PAGE).unwrap();
        path.to_string_lossy().into_owned()
    })
}

/// A `wsock serve` child, killed on drop; its stderr is collected.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(WSOCK)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wsock serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let addr = line
                    .strip_prefix("listening on wss://")
                    .or_else(|| line.strip_prefix("listening on ws://"));
                if let (Some(addr), Some(tx)) = (addr, tx.take()) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(DEADLINE)
            .expect("wsock serve printed its address")
            .parse()
            .unwrap();
        Self { child, addr, log }
    }

    fn tls(extra: &[&str]) -> Self {
        let pki = pki();
        let mut args = vec!["--tls-cert", &pki.cert, "--tls-key", &pki.key];
        args.extend_from_slice(extra);
        Self::start(&args)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    async fn wait_log(&self, needle: &str) -> String {
        timeout(DEADLINE, async {
            loop {
                let log = self.log();
                if log.contains(needle) {
                    return log;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("log never contained {needle:?}:\n{}", self.log()))
    }

    /// SIGTERM, then waits for a clean exit (graceful shutdown) and for
    /// the log's last line.
    async fn terminate(&mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let log = self.wait_log("served ").await;
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit {status}:\n{log}");
        log
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS connection offering `alpn`, trusting the test CA; the protocol
/// the server picked.
async fn tls(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> (
    impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Option<Vec<u8>>,
) {
    let connector = ClientTlsConfig::new()
        .webpki_roots(false)
        .add_root_certificates(Pem::file(&pki().ca))
        .alpn_protocols(alpn.iter().map(|p| p.to_vec()).collect())
        .build()
        .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = connector.connect_async("localhost", tcp).await.unwrap();
    let picked = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (stream, picked)
}

// ------------------------------------------------------ HTTP/2 (RFC 8441)

/// An HTTP/2 connection over TLS (ALPN `h2`) that may open WebSocket
/// streams: waits for the server's `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
async fn h2_connection(addr: SocketAddr) -> SendRequest<Bytes> {
    let (stream, picked) = tls(addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(picked.as_deref(), Some(&b"h2"[..]), "the server picks h2");
    let (send, connection) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    timeout(DEADLINE, async {
        while !send.is_extended_connect_protocol_enabled() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            send = send.clone().ready().await.unwrap();
        }
    })
    .await
    .expect("the server enables extended CONNECT");
    send
}

/// A plain request on the connection: status and body.
async fn h2_get(h2: &mut SendRequest<Bytes>, path: &str) -> (http::StatusCode, String) {
    let request = http::Request::get(format!("https://localhost{path}"))
        .body(())
        .unwrap();
    let (response, _) = h2.send_request(request, true).unwrap();
    let (head, mut body) = response.await.unwrap().into_parts();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (head.status, String::from_utf8(text).unwrap())
}

/// An RFC 8441 WebSocket on a new stream: the response head, and the
/// client on the stream when it was accepted.
async fn h2_websocket(
    h2: &mut SendRequest<Bytes>,
    path: &str,
    protocol: Option<&str>,
) -> (http::response::Parts, Option<WebSocket<H2Stream>>) {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://localhost{path}"))
        .header("sec-websocket-version", "13");
    if let Some(protocol) = protocol {
        request = request.header("sec-websocket-protocol", protocol);
    }
    let mut request = request.body(()).unwrap();
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = h2.send_request(request, false).unwrap();
    let (head, recv) = response.await.unwrap().into_parts();
    let ws = (head.status == http::StatusCode::OK)
        .then(|| WebSocket::from_raw(H2Stream::new(recv, send), Role::Client, Config::default()));
    (head, ws)
}

/// One HTTP/2 stream as a byte stream (as in wsock-tokio's tests/hyper.rs).
struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    pending: Bytes,
}

impl H2Stream {
    fn new(recv: RecvStream, send: SendStream<Bytes>) -> Self {
        Self {
            send,
            recv,
            pending: Bytes::new(),
        }
    }
}

fn h2_error(e: h2::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.pending = data;
                }
                Some(Err(e)) => return Poll::Ready(Err(h2_error(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(&self.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.send.reserve_capacity(buf.len());
        match ready!(self.send.poll_capacity(cx)) {
            Some(Ok(n)) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                self.send.send_data(data, false).map_err(h2_error)?;
                Poll::Ready(Ok(n))
            }
            Some(Err(e)) => Poll::Ready(Err(h2_error(e))),
            None => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.send.send_data(Bytes::new(), true).map_err(h2_error))
    }
}

/// Sends text and binary, expects them echoed, closes with 4000.
async fn exchange<S>(ws: &mut WebSocket<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send("hello over h2").await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(Message::text("hello over h2"))
    );
    ws.send(Message::binary(vec![0u8, 1, 254, 255]))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(Message::binary(vec![0u8, 1, 254, 255]))
    );
    ws.close(Some(wsock_tokio::CloseFrame::new(
        CloseCode::from(4000),
        "bye",
    )))
    .await
    .unwrap();
}

#[tokio::test]
async fn h2_page_and_websockets_share_one_connection() {
    let mut server = Server::tls(&["--page", page(), "--subprotocol", "chat"]);
    timeout(DEADLINE, async {
        let mut h2 = h2_connection(server.addr).await;
        assert_eq!(
            h2_get(&mut h2, "/").await,
            (http::StatusCode::OK, PAGE.to_owned())
        );
        assert_eq!(
            h2_get(&mut h2, "/missing").await.0,
            http::StatusCode::NOT_FOUND
        );

        // Two WebSockets on the page's connection.
        let (head, ws) = h2_websocket(&mut h2, "/chat?room=1", Some("chat")).await;
        assert_eq!(head.headers["sec-websocket-protocol"], "chat");
        let mut first = ws.expect("accepted");
        let (_, ws) = h2_websocket(&mut h2, "/other", None).await;
        let mut second = ws.expect("accepted");
        exchange(&mut first).await;
        exchange(&mut second).await;
    })
    .await
    .expect("within the deadline");
    let log = server.wait_log("#1.2 ").await;
    assert!(log.contains("#1 127.0.0.1:"), "{log}");
    assert!(log.contains("GET / HTTP/2 answered 200 OK"), "{log}");
    assert!(log.contains("GET /missing HTTP/2 answered 404"), "{log}");
    assert!(
        log.contains("connected: CONNECT /chat?room=1 HTTP/2 (subprotocol chat)"),
        "{log}"
    );
    assert!(log.contains("connected: CONNECT /other HTTP/2"), "{log}");
    let log = server.terminate().await;
    assert!(log.contains("closed: 4000 \"bye\"; echoed 2"), "{log}");
    assert!(
        log.contains("served 0 WebSockets over HTTP/1.1 and 2 over HTTP/2"),
        "{log}"
    );
}

#[tokio::test]
async fn h2_shutdown_closes_websockets_with_1001() {
    let mut server = Server::tls(&[]);
    let mut ws = timeout(DEADLINE, async {
        let mut h2 = h2_connection(server.addr).await;
        let (_, ws) = h2_websocket(&mut h2, "/", None).await;
        let mut ws = ws.expect("accepted");
        ws.send("ping").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("ping")));
        ws
    })
    .await
    .unwrap();
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let close = timeout(DEADLINE, ws.recv()).await.unwrap().unwrap();
    let Some(Message::Close(Some(frame))) = close else {
        panic!("expected a close frame, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::GOING_AWAY);
    assert_eq!(timeout(DEADLINE, ws.recv()).await.unwrap().unwrap(), None);
    let log = server.terminate().await;
    // The connection and its WebSocket.
    assert!(
        log.contains("shutting down: closing 2 connections"),
        "{log}"
    );
    assert!(log.contains("closed: 1001"), "{log}");
    assert!(log.contains("shut down: 2 connections closed"), "{log}");
}

#[tokio::test]
async fn h2_websockets_take_connection_slots() {
    // One slot for the connection, one for its first WebSocket, and one
    // the accept loop holds for the next connection: the second WebSocket
    // is refused with 503.
    let server = Server::tls(&["--max-connections", "3"]);
    timeout(DEADLINE, async {
        let mut h2 = h2_connection(server.addr).await;
        let (_, first) = h2_websocket(&mut h2, "/", None).await;
        let mut first = first.expect("accepted");
        let (head, second) = h2_websocket(&mut h2, "/", None).await;
        assert_eq!(head.status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(second.is_none());
        exchange(&mut first).await;
    })
    .await
    .unwrap();
    server.wait_log("no connection slot left").await;
}

#[tokio::test]
async fn h2_without_page_refuses_plain_requests() {
    let server = Server::tls(&[]);
    timeout(DEADLINE, async {
        let mut h2 = h2_connection(server.addr).await;
        // The engine's answer to a request that is no extended CONNECT.
        assert_eq!(
            h2_get(&mut h2, "/").await.0,
            http::StatusCode::METHOD_NOT_ALLOWED
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn broadcast_room_joins_http2_and_http11_clients() {
    let mut server = Server::tls(&["--broadcast"]);
    timeout(DEADLINE, async {
        let mut h2 = h2_connection(server.addr).await;
        let (_, ws) = h2_websocket(&mut h2, "/room", None).await;
        let mut over_h2 = ws.expect("accepted");
        server.wait_log("connected: CONNECT /room HTTP/2").await;
        let (stream, _) = tls(server.addr, &[b"http/1.1"]).await;
        let url = format!("wss://localhost:{}/room", server.addr.port());
        let mut over_h11 = wsock_tokio::client(stream, url.as_str()).await.unwrap();
        server.wait_log("connected: GET /room HTTP/1.1").await;
        // Each hears the other, and itself.
        over_h11.send("from HTTP/1.1").await.unwrap();
        let heard = Some(Message::text("from HTTP/1.1"));
        assert_eq!(over_h2.recv().await.unwrap(), heard);
        assert_eq!(over_h11.recv().await.unwrap(), heard);
        over_h2.send("from HTTP/2").await.unwrap();
        let heard = Some(Message::text("from HTTP/2"));
        assert_eq!(over_h11.recv().await.unwrap(), heard);
        assert_eq!(over_h2.recv().await.unwrap(), heard);
    })
    .await
    .unwrap();
    let log = server.terminate().await;
    assert!(
        log.contains("served 1 WebSockets over HTTP/1.1 and 1 over HTTP/2"),
        "{log}"
    );
}

#[tokio::test]
async fn h2_connection_without_websockets_closes_when_idle() {
    let server = Server::tls(&["-v", "--page", page(), "--idle-timeout", "1"]);
    timeout(DEADLINE, async {
        let (stream, _) = tls(server.addr, &[b"h2"]).await;
        let (mut h2, connection) = h2::client::handshake(stream).await.unwrap();
        let connection = tokio::spawn(connection);
        assert_eq!(h2_get(&mut h2, "/").await.0, http::StatusCode::OK);
        // GOAWAY once nothing is open for --idle-timeout: the connection
        // ends (how the client's side ends it is its own business).
        let _ = connection.await.unwrap();
    })
    .await
    .expect("the idle connection was closed");
    server.wait_log("idle HTTP/2 connection closed").await;
}

// ------------------------------------------------------------- HTTP/1.1

/// Sends `request` and reads the whole answer (the server closes).
async fn http11<S>(mut stream: S, request: &str) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn no_http2_serves_page_and_websocket_over_http11() {
    let mut server = Server::tls(&["--no-http2", "--page", page()]);
    timeout(DEADLINE, async {
        let (stream, picked) = tls(server.addr, &[b"h2", b"http/1.1"]).await;
        assert_eq!(picked.as_deref(), Some(&b"http/1.1"[..]));
        let answer = http11(stream, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with(PAGE), "{answer}");

        let (stream, _) = tls(server.addr, &[b"http/1.1"]).await;
        let answer = http11(stream, "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");

        let (stream, _) = tls(server.addr, &[b"http/1.1"]).await;
        let url = format!("wss://localhost:{}/chat", server.addr.port());
        let mut ws = wsock_tokio::client(stream, url.as_str()).await.unwrap();
        exchange(&mut ws).await;
        while ws.recv().await.unwrap().is_some() {}
    })
    .await
    .unwrap();
    let log = server.terminate().await;
    assert!(log.contains("GET / HTTP/1.1 answered 200 OK"), "{log}");
    assert!(log.contains("GET /nope HTTP/1.1 answered 404"), "{log}");
    assert!(log.contains("connected: GET /chat HTTP/1.1"), "{log}");
    assert!(
        log.contains("served 1 WebSockets over HTTP/1.1 and 0 over HTTP/2"),
        "{log}"
    );
}

#[tokio::test]
async fn page_over_plain_tcp_and_upgrades_still_work() {
    let server = Server::start(&["--page", page()]);
    timeout(DEADLINE, async {
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let answer = http11(tcp, "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"), "no body for HEAD: {answer}");
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let answer = http11(tcp, "POST / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        // The request head is read ahead, then handed to the engine whole.
        let mut ws = wsock_tokio::connect(format!("ws://{}/up", server.addr).as_str())
            .await
            .unwrap();
        exchange(&mut ws).await;
        // A malformed upgrade still gets the engine's answer.
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let answer = http11(
            tcp,
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    })
    .await
    .unwrap();
    server.wait_log("connected: GET /up HTTP/1.1").await;
}
