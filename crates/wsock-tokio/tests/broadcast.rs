//! Fan-out through a `broadcast::Hub` over real connections: every
//! subscriber gets every message in order, with and without deflate; a
//! subscriber that stops reading holds nobody back and is closed with 1008
//! (or skips, under `Overflow::Skip`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::LIMIT;
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_tokio::broadcast::{Hub, Overflow};
use wsock_tokio::{
    ClientBuilder, CloseCode, CloseFrame, DeflateConfig, ErrorKind, Message, Server, WebSocket,
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

fn numbered(i: usize) -> Message {
    if i.is_multiple_of(2) {
        Message::text(format!("message {i}"))
    } else {
        Message::binary(i.to_be_bytes().to_vec())
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
            let mut builder = ClientBuilder::new(&url);
            if i % 2 == 1 {
                builder = builder.deflate(DeflateConfig::disabled());
            }
            clients.push(builder.connect().await.unwrap());
        }
        wait_for_subscribers(&hub, 4).await;
        assert!(clients[0].extensions().deflate().is_some());
        assert!(clients[1].extensions().deflate().is_none());
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
        for mut client in clients {
            client.close(None).await.unwrap();
        }
        server.shutdown(Duration::from_secs(2)).await;
    })
    .await
    .unwrap();
}

// A subscriber that stops reading does not slow the others: they get
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
        let mut live = ClientBuilder::new(&url).connect().await.unwrap();
        wait_for_subscribers(&hub, 2).await;
        let payload = vec![7u8; 16 * 1024];
        let received = Arc::new(AtomicUsize::new(0));
        let reader = tokio::spawn({
            let received = Arc::clone(&received);
            async move {
                for i in 0..N {
                    match live.recv().await.unwrap() {
                        Some(Message::Binary(b)) => {
                            assert_eq!(&b[..8], &(i as u64).to_be_bytes(), "message {i}");
                        }
                        other => panic!("message {i}: {other:?}"),
                    }
                    received.store(i + 1, Ordering::Release);
                }
                live
            }
        });
        for i in 0..N {
            let mut message = payload.clone();
            message[..8].copy_from_slice(&(i as u64).to_be_bytes());
            hub.publish(ROOM, message);
            // Publishing never waits; pace it so the live subscriber, which
            // reads, is never a whole room behind (the stalled one is).
            while i + 1 - received.load(Ordering::Acquire) > 32 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let mut live = reader.await.unwrap();
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
        live.close(Some(CloseFrame::new(1000u16, "")))
            .await
            .unwrap();
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
