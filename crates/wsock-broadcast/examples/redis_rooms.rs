//! A chat room shared by two servers through Redis pub/sub (the `redis`
//! feature): each server has its own `wsock_broadcast::Hub`, linked to the same
//! Redis with `HubBuilder::build_redis`, so a message a client sends to
//! either server reaches the clients of both, in order.
//!
//! With a Redis server running (`redis-server --port 6379 --save ''`):
//!
//! ```text
//! cargo run -p wsock-broadcast --features redis --example redis_rooms [-- redis://127.0.0.1:6379/]
//! ```
//!
//! starts both servers on free ports in this process (they could as well
//! be two processes on two machines: nothing but Redis links them),
//! connects a client to each, sends from one and checks that both get
//! every message, then exits.

use std::time::Duration;

use tokio::net::TcpStream;
use wsock_broadcast::{Hub, RedisBroker};
use wsock_tokio::{Message, Server, WebSocket};

const ROOM: &str = "lobby";

/// One server: every connection joins `ROOM`, and what a client sends is
/// published to it (through Redis, so every server's clients get it).
async fn chat_server(hub: Hub) -> Result<Server, wsock_tokio::Error> {
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let mut servers = Vec::new();
    let mut hubs = Vec::new();
    for _ in 0..2 {
        // A wrong URL or an unreachable Redis is an error here; a Redis
        // lost later is reconnected to (see `RedisBroker`).
        let hub = Hub::builder()
            .capacity(1024)
            .build_redis(RedisBroker::new(&url)?.prefix("example:"))
            .await?;
        servers.push(chat_server(hub.clone()).await?);
        hubs.push(hub);
    }
    let mut alice = wsock_tokio::connect(format!("ws://{}/", servers[0].local_addr())).await?;
    let mut bob = wsock_tokio::connect(format!("ws://{}/", servers[1].local_addr())).await?;
    // Each server subscribes to the room's channel once its first client
    // joins; messages published before that do not reach it.
    while !hubs.iter().all(|hub| hub.linked(ROOM)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..5 {
        alice.send(format!("hello {i} from alice")).await?;
    }
    for (name, ws) in [("alice", &mut alice), ("bob", &mut bob)] {
        for i in 0..5 {
            let got = ws.recv().await?;
            assert_eq!(got, Some(Message::text(format!("hello {i} from alice"))));
            println!("{name} got: hello {i} from alice");
        }
    }
    for hub in &hubs {
        println!("{:?}", hub.broker_stats());
    }
    alice.close(None).await?;
    bob.close(None).await?;
    Ok(())
}
