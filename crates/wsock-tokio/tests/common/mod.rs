//! Helpers shared by the integration tests: loopback pairs and raw frames.
#![allow(dead_code, unreachable_pub)]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use wsock_tokio::{Acceptor, ClientBuilder, MaybeTlsStream, WebSocket};

/// Every test body runs under this bound, so a hang fails instead of
/// stalling the suite.
pub const LIMIT: Duration = Duration::from_secs(20);

pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// A connected client and server with the given settings.
pub async fn pair_with(
    client: impl FnOnce(ClientBuilder) -> ClientBuilder,
    server: Acceptor,
) -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    let (listener, url) = listener().await;
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        server.accept(tcp).await.unwrap()
    });
    let client = client(ClientBuilder::new(format!("{url}/test")))
        .connect()
        .await
        .unwrap();
    (client, accept.await.unwrap())
}

/// `builder` without permessage-deflate, so that payloads cross the wire
/// as sent (they are never compressed without the feature).
pub fn uncompressed(builder: ClientBuilder) -> ClientBuilder {
    #[cfg(feature = "deflate")]
    let builder = builder.deflate(wsock_tokio::DeflateConfig::disabled());
    builder
}

/// The acceptor without permessage-deflate (see [`uncompressed`]).
pub fn uncompressed_acceptor(acceptor: Acceptor) -> Acceptor {
    #[cfg(feature = "deflate")]
    let acceptor = acceptor.deflate(wsock_tokio::DeflateConfig::disabled());
    acceptor
}

pub async fn pair() -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    pair_with(|b| b, Acceptor::new()).await
}

/// A frame as a client sends it (masked with a fixed key) or as a server
/// does (`mask: false`).
pub fn frame(b0: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n < 65536 => {
            out.push(m | 0x7e);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 0x7f);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x11, 0x22, 0x33, 0x44];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A raw client: TCP with a completed handshake, for sending arbitrary bytes.
pub async fn raw_client(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("ws://");
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Reads an HTTP response head (up to the blank line), byte by byte.
pub async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if tcp.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Everything until the peer's end of stream (or a reset).
pub async fn read_to_end(tcp: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let _ = tokio::time::timeout(LIMIT, tcp.read_to_end(&mut all))
        .await
        .expect("peer never closed");
    all
}

/// The close code in the first unmasked close frame in `bytes`.
pub fn close_code_in(bytes: &[u8]) -> Option<u16> {
    let mut rest = bytes;
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let len = (rest[1] & 0x7f) as usize;
        assert!(
            len < 126 && rest[1] & 0x80 == 0,
            "test helper reads small unmasked frames only"
        );
        let payload = &rest[2..2 + len];
        if opcode == 0x8 {
            return (len >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
        rest = &rest[2 + len..];
    }
    None
}

/// A transport that counts the reads attempted on it and the writes that
/// took bytes, for tests about how often a connection touches its I/O.
pub struct Counted<T> {
    pub io: T,
    pub reads: Arc<AtomicUsize>,
    pub writes: Arc<AtomicUsize>,
}

impl<T> Counted<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            reads: Arc::default(),
            writes: Arc::default(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
