//! Fan-out through a `wsock_broadcast::Hub` over real connections: every
//! subscriber gets every message in order, with and without deflate; a
//! subscriber that stops reading holds nobody back and is closed with 1008
//! (or skips, under `Overflow::Skip`).

// Every test here mixes compressed and uncompressed subscribers: the
// dev-dependency on wsock-tokio turns its `deflate` feature on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::LIMIT;
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_broadcast::{Hub, Overflow};
use wsock_tokio::{
    Acceptor, ClientBuilder, CloseCode, CloseFrame, DeflateConfig, ErrorKind, Message, Server,
    WebSocket,
};

const ROOM: &str = "room";

/// A server whose connections all subscribe to `ROOM`; what a client
/// sends is published to it. Returns the server and the handlers'
/// `forward` outcomes.
async fn chat(
    hub: &Hub,
) -> (
    Server,
    tokio::sync::mpsc::UnboundedReceiver<Result<(), wsock_tokio::Error>>,
) {
    let (done_tx, done) = tokio::sync::mpsc::unbounded_channel();
    let hub = hub.clone();
    let server = Server::bind("127.0.0.1:0", move |ws: WebSocket<TcpStream>| {
        let (hub, done_tx) = (hub.clone(), done_tx.clone());
        async move {
            let (mut rx, mut tx) = ws.split();
            let mut subscription = hub.subscribe(ROOM);
            let forward = tokio::spawn(async move {
                let outcome = subscription.forward(&mut tx).await;
                let _ = done_tx.send(outcome);
                tx
            });
            while let Ok(Some(message)) = rx.recv().await {
                if message.is_data() {
                    hub.publish(ROOM, message);
                }
            }
            if let Ok(tx) = forward.await {
                drop((rx, tx));
            }
        }
    })
    .await
    .unwrap();
    (server, done)
}

async fn wait_for_subscribers(hub: &Hub, n: usize) {
    while hub.subscribers(ROOM) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Short text, short binary, and long text and binary that deflate
/// compresses (over its 64-byte threshold), each naming `i`.
fn numbered(i: usize) -> Message {
    match i % 4 {
        0 => Message::text(format!("message {i}")),
        1 => Message::binary(i.to_be_bytes().to_vec()),
        2 => Message::text(format!(
            "{{\"message\":{i},\"body\":\"{}\"}}",
            "la ".repeat(i % 50 + 30)
        )),
        _ => {
            let mut data = vec![(i % 7) as u8; 200 + i % 300];
            data[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Message::binary(data)
        }
    }
}

/// Client settings: deflate with context takeover (the default), no
/// deflate, deflate with the server's context reset each message, and
/// deflate with a small server window.
fn client_kind(url: &str, i: usize) -> ClientBuilder {
    let builder = ClientBuilder::new(url);
    let mut deflate = DeflateConfig::default();
    match i % 4 {
        0 => builder,
        1 => builder.deflate(DeflateConfig::disabled()),
        2 => {
            deflate.server_no_context_takeover = true;
            builder.deflate(deflate)
        }
        _ => {
            deflate.server_max_window_bits = 10;
            builder.deflate(deflate)
        }
    }
}

// Every subscriber, with deflate or without, gets every message, in
// order and unchanged, whoever publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_every_message_in_order() {
    timeout(LIMIT, async {
        const N: usize = 500;
        let hub = Hub::new();
        let (server, _) = chat(&hub).await;
        let url = format!("ws://{}/", server.local_addr());
        let mut clients = Vec::new();
        for i in 0..4 {
            clients.push(client_kind(&url, i).connect().await.unwrap());
        }
        wait_for_subscribers(&hub, 4).await;
        let agreed = |c: &WebSocket<_>| c.extensions().deflate().copied();
        assert!(agreed(&clients[0]).is_some_and(|p| !p.server_no_context_takeover));
        assert!(agreed(&clients[1]).is_none());
        assert!(agreed(&clients[2]).is_some_and(|p| p.server_no_context_takeover));
        assert!(agreed(&clients[3]).is_some_and(|p| p.server_max_window_bits == 10));
        // Half from a client through the server, half from the hub itself.
        for i in 0..N / 2 {
            clients[0].send(numbered(i)).await.unwrap();
        }
        // The first half has reached the room before the second is published.
        for i in 0..N / 2 {
            assert_eq!(clients[3].recv().await.unwrap(), Some(numbered(i)));
        }
        for i in N / 2..N {
            assert_eq!(hub.publish(ROOM, numbered(i)), 4);
        }
        for i in N / 2..N {
            assert_eq!(clients[3].recv().await.unwrap(), Some(numbered(i)));
        }
        for client in &mut clients[..3] {
            for i in 0..N {
                assert_eq!(client.recv().await.unwrap(), Some(numbered(i)));
            }
        }
        // The long messages reached the deflate clients compressed.
        for (i, client) in clients.iter().enumerate() {
            let (wire, messages) = (
                client.stats().bytes_received,
                client.stats().messages_received,
            );
            assert_eq!(messages, N as u64);
            let compressed = i != 1;
            assert_eq!(wire < 60_000, compressed, "client {i}: {wire} bytes");
        }
        for mut client in clients {
            client.close(None).await.unwrap();
        }
        server.shutdown(Duration::from_secs(2)).await;
    })
    .await
    .unwrap();
}

// A subscriber that stops reading does not slow the others (with deflate,
// with and without context takeover): they get
// every message while it is stuck, and once a whole room passes it by it
// is closed with 1008 (policy violation) while the room's memory stays
// bounded by its capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_holds_nobody_back_and_is_closed() {
    timeout(LIMIT, async {
        const N: usize = 2_000;
        let hub = Hub::builder().capacity(64).build();
        let (server, mut done) = chat(&hub).await;
        let url = format!("ws://{}/", server.local_addr());
        // Small buffers, no compression: the stalled client's socket fills.
        let stalled = ClientBuilder::new(&url)
            .deflate(DeflateConfig::disabled())
            .connect()
            .await
            .unwrap();
        // Two that read: deflate with context takeover, and without.
        let mut readers = Vec::new();
        let mut received = Vec::new();
        let mut lives = Vec::new();
        for kind in [0, 2] {
            lives.push(client_kind(&url, kind).connect().await.unwrap());
        }
        wait_for_subscribers(&hub, 3).await;
        let payload: Vec<u8> = (0..16 * 1024u32).map(|k| (k % 251) as u8).collect();
        for mut live in lives {
            let count = Arc::new(AtomicUsize::new(0));
            received.push(Arc::clone(&count));
            readers.push(tokio::spawn(async move {
                for i in 0..N {
                    match live.recv().await.unwrap() {
                        Some(Message::Binary(b)) => {
                            assert_eq!(&b[..8], &(i as u64).to_be_bytes(), "message {i}");
                            assert_eq!(b.len(), 16 * 1024);
                        }
                        other => panic!("message {i}: {other:?}"),
                    }
                    count.store(i + 1, Ordering::Release);
                }
                live
            }));
        }
        let slowest = || {
            received
                .iter()
                .map(|r| r.load(Ordering::Acquire))
                .min()
                .unwrap_or(0)
        };
        for i in 0..N {
            let mut message = payload.clone();
            message[..8].copy_from_slice(&(i as u64).to_be_bytes());
            hub.publish(ROOM, message);
            // Publishing never waits; pace it so the live subscribers,
            // which read, are never a whole room behind (the stalled one is).
            while i + 1 - slowest() > 32 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let mut live = Vec::new();
        for reader in readers {
            let client = reader.await.unwrap();
            // Compressed on the way (the payload repeats every 251 bytes).
            assert!(client.stats().bytes_received < (N * 4 * 1024) as u64);
            live.push(client);
        }
        // The stalled one was closed for falling behind.
        let outcome = done.recv().await.unwrap();
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Capacity);
        // It reads at last: what was queued, then the 1008 close.
        let mut stalled = stalled;
        let close = loop {
            match stalled.recv().await {
                Ok(Some(Message::Close(frame))) => break frame,
                Ok(Some(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(close.map(|f| f.code), Some(CloseCode::POLICY_VIOLATION));
        for mut live in live {
            live.close(Some(CloseFrame::new(1000u16, "")))
                .await
                .unwrap();
        }
        server.shutdown(Duration::from_secs(2)).await;
    })
    .await
    .unwrap();
}

// Under Overflow::Skip a subscriber that fell behind carries on from the
// oldest message the room keeps, and says how many it missed.
#[tokio::test]
async fn skip_carries_on_and_counts_what_was_missed() {
    let hub = Hub::builder().capacity(4).overflow(Overflow::Skip).build();
    let mut slow = hub.subscribe(ROOM);
    for i in 0..10 {
        hub.publish(ROOM, numbered(i));
    }
    assert_eq!(slow.recv().await.unwrap(), Some(numbered(6)));
    assert_eq!(slow.missed(), 6);
    for i in 7..10 {
        assert_eq!(slow.recv().await.unwrap(), Some(numbered(i)));
    }
    // Under Overflow::Close the same subscriber is told instead.
    let hub = Hub::builder().capacity(4).build();
    let mut slow = hub.subscribe(ROOM);
    for i in 0..10 {
        hub.publish(ROOM, numbered(i));
    }
    assert_eq!(slow.recv().await.unwrap_err().missed, 6);
    // A room without subscribers is gone; publishing to it reaches nobody.
    drop(slow);
    assert_eq!(hub.publish(ROOM, "anyone?"), 0);
    assert_eq!(hub.subscribers(ROOM), 0);
}

/// A TCP stream that counts its writes and can stop taking bytes, as a
/// peer that stopped reading does, without the test guessing when the
/// kernel's buffers are full.
struct Gate {
    tcp: TcpStream,
    state: Arc<GateState>,
}

#[derive(Default)]
struct GateState {
    /// Write calls that took bytes.
    writes: AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
    /// The writer parked on the closed gate.
    waker: std::sync::Mutex<Option<std::task::Waker>>,
    /// Told each time a write finds the gate closed.
    blocked: tokio::sync::Notify,
}

impl GateState {
    fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

impl tokio::io::AsyncRead for Gate {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Gate {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.state.closed.load(Ordering::SeqCst) {
            *self.state.waker.lock().unwrap() = Some(cx.waker().clone());
            // Opened meanwhile: go on rather than sleep.
            if self.state.closed.load(Ordering::SeqCst) {
                self.state.blocked.notify_one();
                return std::task::Poll::Pending;
            }
        }
        let written = std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf);
        if matches!(written, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.state.writes.fetch_add(1, Ordering::SeqCst);
        }
        written
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

// `forward` writes the messages waiting for a subscriber as one batch:
// all of them, in order, over deflate with context takeover, in a few
// writes rather than one each. And the overrun watch still holds: a
// subscriber whose write waits while the room passes it by is closed with
// 1008, after what it was already sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_goes_out_whole_in_order_and_overrun_still_closes() {
    timeout(LIMIT, async {
        const CAPACITY: usize = 64;
        const N: usize = 60;
        let (listener, url) = common::listener().await;
        let state = Arc::new(GateState::default());
        let accept = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let (tcp, _) = listener.accept().await.unwrap();
                wsock_tokio::accept(Gate { tcp, state }).await.unwrap()
            }
        });
        let mut client = ClientBuilder::new(format!("{url}/"))
            .connect()
            .await
            .unwrap();
        let server = accept.await.unwrap();
        assert!(
            client
                .extensions()
                .deflate()
                .is_some_and(|p| !p.server_no_context_takeover)
        );
        let handshake_writes = state.writes.load(Ordering::SeqCst);

        // N messages are waiting before the subscriber forwards any.
        let hub = Hub::builder().capacity(CAPACITY).build();
        let mut subscription = hub.subscribe(ROOM);
        for i in 0..N {
            assert_eq!(hub.publish(ROOM, numbered(i)), 1);
        }
        let (mut rx, mut tx) = server.split();
        let reader = tokio::spawn(async move { while let Ok(Some(_)) = rx.recv().await {} });
        let forward = tokio::spawn(async move { subscription.forward(&mut tx).await });
        for i in 0..N {
            assert_eq!(
                client.recv().await.unwrap(),
                Some(numbered(i)),
                "message {i}"
            );
        }
        let writes = state.writes.load(Ordering::SeqCst) - handshake_writes;
        assert!(writes < N / 10, "{N} messages took {writes} writes");

        // The peer stops taking bytes; one message waits on it, and the
        // room passes it by.
        state.closed.store(true, Ordering::SeqCst);
        hub.publish(ROOM, numbered(N));
        state.blocked.notified().await;
        for i in N + 1..N + 2 + CAPACITY {
            hub.publish(ROOM, numbered(i));
        }
        let outcome = forward.await.unwrap();
        assert_eq!(outcome.unwrap_err().kind(), ErrorKind::Capacity);
        // The peer reads again: the message it was sent, then the 1008.
        state.open();
        assert_eq!(client.recv().await.unwrap(), Some(numbered(N)));
        match client.recv().await.unwrap() {
            Some(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::POLICY_VIOLATION));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(client.recv().await.unwrap(), None);
        reader.await.unwrap();
    })
    .await
    .unwrap();
}

// Cancelling `forward` loses no message: not while its batch's flush
// waits on a peer that stopped reading (the message the batch had no room
// for stays in the subscription), nor while the next call waits for room
// to queue that message. A later `forward` sends everything, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_forward_loses_no_message() {
    timeout(LIMIT, async {
        const BOUND: usize = 1024;
        let big = |i: u8| Message::binary(vec![i; 4 * BOUND]);
        let (listener, url) = common::listener().await;
        let state = Arc::new(GateState::default());
        let accept = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                let (tcp, _) = listener.accept().await.unwrap();
                Acceptor::new()
                    .write_buffer_size(BOUND)
                    .deflate(DeflateConfig::disabled())
                    .accept(Gate { tcp, state })
                    .await
                    .unwrap()
            }
        });
        let mut client = common::uncompressed(ClientBuilder::new(format!("{url}/")))
            .connect()
            .await
            .unwrap();
        let (_rx, mut tx) = accept.await.unwrap().split();

        let hub = Hub::new();
        let mut subscription = hub.subscribe(ROOM);
        state.closed.store(true, Ordering::SeqCst);
        hub.publish(ROOM, big(1));
        hub.publish(ROOM, big(2));
        // Message 1 is queued past the bound, 2 is taken without room, and
        // the batch's flush waits on the closed gate: cancelled there.
        tokio::select! {
            outcome = subscription.forward(&mut tx) => panic!("{outcome:?}"),
            () = state.blocked.notified() => {}
        }
        // Message 2 now waits for room behind message 1: cancelled again.
        tokio::select! {
            outcome = subscription.forward(&mut tx) => panic!("{outcome:?}"),
            () = state.blocked.notified() => {}
        }
        state.open();
        hub.publish(ROOM, big(3));
        let forward = tokio::spawn(async move { subscription.forward(&mut tx).await });
        for i in 1..=3 {
            assert_eq!(client.recv().await.unwrap(), Some(big(i)), "message {i}");
        }
        forward.abort();
    })
    .await
    .unwrap();
}
