//! An idle connection sleeps: once its buffers are freed, nothing wakes
//! it until the peer sends something (no timer per connection).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// A transport that counts the reads attempted on it.
struct CountingIo {
    io: DuplexStream,
    reads: Arc<AtomicUsize>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_not_polled_by_timers() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let reads = Arc::new(AtomicUsize::new(0));
    let io = CountingIo {
        io: server,
        reads: reads.clone(),
    };
    client.write_all(REQUEST).await.unwrap();
    let server = tokio::spawn(async move {
        let mut ws = wsock_tokio::accept(io).await.unwrap();
        ws.recv().await.unwrap()
    });
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));

    // A minute of silence (paused time: every timer fires at once).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = reads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let idle_reads = reads.load(Ordering::SeqCst) - settled;
    assert!(
        idle_reads <= 1,
        "{idle_reads} reads attempted during a minute without input"
    );

    // Input still wakes it: a masked text frame "hi".
    client
        .write_all(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2])
        .await
        .unwrap();
    let message = server.await.unwrap();
    assert_eq!(message, Some(wsock_tokio::Message::text("hi")));
}
