//! Rooms across processes through a real Redis server (`redis-server`
//! started by the test; see `redis_server/mod.rs`): two hubs linked to
//! the same Redis, a message published on either reaches the subscribers
//! of both, in order, text as text; through real WebSocket connections;
//! the link survives Redis restarting; bad URLs and unreachable servers
//! are typed errors.

mod common;
mod redis_server;

use std::time::Duration;

use common::LIMIT;
use redis_server::RedisServer;
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_broadcast::{BrokerError, Hub, RedisBroker};
use wsock_tokio::{ClientBuilder, Message, Server, WebSocket};

const ROOM: &str = "lobby";

fn numbered(origin: &str, i: usize) -> Message {
    if i.is_multiple_of(3) {
        Message::binary(format!("{origin} {i}").into_bytes())
    } else {
        Message::text(format!("{origin} {i}: {}", "la ".repeat(i % 40)))
    }
}

async fn linked(hubs: &[&Hub], room: &str) {
    while !hubs.iter().all(|hub| hub.linked(room)) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn hub(redis: &RedisServer) -> Hub {
    Hub::builder()
        .build_redis(RedisBroker::new(&redis.url()).unwrap().prefix("test:"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_on_one_hub_reaches_both_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    timeout(LIMIT, async {
        const N: usize = 300;
        let (a, b) = (hub(&redis).await, hub(&redis).await);
        let mut on_a = [a.subscribe(ROOM), a.subscribe(ROOM)];
        let mut on_b = b.subscribe(ROOM);
        linked(&[&a, &b], ROOM).await;
        for i in 0..N {
            assert_eq!(a.try_publish(ROOM, numbered("a", i)), Ok(2));
        }
        for i in 0..N {
            assert_eq!(on_b.recv().await.unwrap(), Some(numbered("a", i)));
        }
        // Then from the other process (the order between two publishers
        // is Redis's arrival order, so one waits for the other here).
        for i in 0..N {
            b.publish(ROOM, numbered("b", i));
        }
        for i in 0..N {
            assert_eq!(on_b.recv().await.unwrap(), Some(numbered("b", i)));
        }
        for sub in &mut on_a {
            for origin in ["a", "b"] {
                for i in 0..N {
                    assert_eq!(sub.recv().await.unwrap(), Some(numbered(origin, i)));
                }
            }
        }
        // Another room is not delivered to this one.
        let mut other = b.subscribe("other");
        linked(&[&b], "other").await;
        a.publish("other", "elsewhere");
        assert_eq!(
            other.recv().await.unwrap(),
            Some(Message::text("elsewhere"))
        );
        let stats = a.broker_stats().unwrap();
        assert!(stats.publishing && stats.subscribed, "{stats:?}");
        assert_eq!((stats.dropped, stats.rejected, stats.reconnects), (0, 0, 0));
    })
    .await
    .unwrap();
}

/// A chat server on `hub`: every connection joins `ROOM`; what a client
/// sends is published to it.
async fn chat(hub: &Hub) -> Server {
    let hub = hub.clone();
    Server::bind("127.0.0.1:0", move |ws: WebSocket<TcpStream>| {
        let hub = hub.clone();
        async move {
            let (mut rx, mut tx) = ws.split();
            let mut subscription = hub.subscribe(ROOM);
            let forward = tokio::spawn(async move { subscription.forward(&mut tx).await });
            while let Ok(Some(message)) = rx.recv().await {
                if message.is_data() {
                    hub.publish(ROOM, message);
                }
            }
            forward.abort();
        }
    })
    .await
    .unwrap()
}

// Two servers, each on its own hub, linked through Redis: what a client
// of one sends reaches the clients of both, with and without deflate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_two_servers_share_a_room() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    timeout(LIMIT, async {
        const N: usize = 200;
        let (a, b) = (hub(&redis).await, hub(&redis).await);
        let (server_a, server_b) = (chat(&a).await, chat(&b).await);
        let url_a = format!("ws://{}/", server_a.local_addr());
        let url_b = format!("ws://{}/", server_b.local_addr());
        let mut sender = ClientBuilder::new(&url_a).connect().await.unwrap();
        let mut readers = [
            ClientBuilder::new(&url_b).connect().await.unwrap(),
            common::uncompressed(ClientBuilder::new(&url_b))
                .connect()
                .await
                .unwrap(),
        ];
        while a.subscribers(ROOM) < 1 || b.subscribers(ROOM) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        linked(&[&a, &b], ROOM).await;
        for i in 0..N {
            sender.send(numbered("client", i)).await.unwrap();
        }
        for reader in readers.iter_mut().chain([&mut sender]) {
            for i in 0..N {
                assert_eq!(reader.recv().await.unwrap(), Some(numbered("client", i)));
            }
        }
    })
    .await
    .unwrap();
}

// Redis restarts: both links reconnect, the room is subscribed again, and
// messages flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_survives_redis_restarting() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    timeout(LIMIT, async {
        let (a, b) = (hub(&redis).await, hub(&redis).await);
        let mut on_b = b.subscribe(ROOM);
        linked(&[&b], ROOM).await;
        a.publish(ROOM, "before");
        assert_eq!(on_b.recv().await.unwrap(), Some(Message::text("before")));
        let port = redis.stop();
        while b.linked(ROOM) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!b.broker_stats().unwrap().subscribed);
        let _redis = RedisServer::on_port(port).unwrap();
        linked(&[&b], ROOM).await;
        // The publishing link reconnects on its next message; the first
        // ones may be dropped with the broken connection (at most once).
        let mut i = 0;
        let got = loop {
            a.publish(ROOM, format!("after {i}"));
            tokio::select! {
                got = on_b.recv() => break got.unwrap(),
                () = tokio::time::sleep(Duration::from_millis(100)) => i += 1,
            }
        };
        assert!(matches!(got, Some(Message::Text(t)) if t.starts_with("after ")));
        assert!(b.broker_stats().unwrap().reconnects >= 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_are_typed_errors() {
    assert!(matches!(
        RedisBroker::new("http://example.com/"),
        Err(BrokerError::Url(_))
    ));
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let broker = RedisBroker::new(&format!("redis://127.0.0.1:{port}/")).unwrap();
    let err = Hub::builder().build_redis(broker).await.unwrap_err();
    assert!(matches!(err, BrokerError::Connect(_)), "{err}");
}

// A room whose local subscribers are all gone is unsubscribed from Redis
// (once a message for it finds nobody), and subscribed again when a
// subscriber comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_rooms_are_unsubscribed_and_come_back() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    timeout(LIMIT, async {
        let (a, b) = (hub(&redis).await, hub(&redis).await);
        let first = b.subscribe(ROOM);
        linked(&[&b], ROOM).await;
        drop(first);
        a.publish(ROOM, "nobody hears this");
        while b.linked(ROOM) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(b.subscribers(ROOM), 0);
        let mut again = b.subscribe(ROOM);
        linked(&[&b], ROOM).await;
        a.publish(ROOM, "welcome back");
        assert_eq!(
            again.recv().await.unwrap(),
            Some(Message::text("welcome back"))
        );
    })
    .await
    .unwrap();
}
