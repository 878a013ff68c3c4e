//! An idle connection sleeps: once its buffers are freed, nothing wakes
//! it until the peer sends something (no timer per connection).

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::Counted;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_not_polled_by_timers() {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let io = Counted::new(server);
    let reads = Arc::clone(&io.reads);
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
