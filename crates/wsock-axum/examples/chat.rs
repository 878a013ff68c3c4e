//! A chat room on axum: every message from any client goes to every
//! client, through a `wsock_broadcast::Hub` in the router's state.
//!
//! ```text
//! cargo run -p wsock-axum --example chat [ADDRESS]   # default 127.0.0.1:3000
//! ```
//!
//! Then connect clients to `ws://127.0.0.1:3000/chat` (over HTTP/1.1, or
//! HTTP/2 with extended CONNECT: the route takes any method). Its test,
//! three clients in one room, runs under `cargo test`.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use wsock_axum::{WebSocket, WebSocketUpgrade};
use wsock_broadcast::Hub;

/// The one room every client joins.
const ROOM: &str = "lobby";

/// The chat application: `/chat` is the room's WebSocket.
fn app(hub: Hub) -> Router {
    Router::new().route("/chat", any(chat)).with_state(hub)
}

async fn chat(State(hub): State<Hub>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |ws| member(hub, ws))
}

/// One client: what it sends is published to the room, and what the room
/// gets is forwarded to it (by a task of its own, so a slow client only
/// slows itself; one a whole room behind is closed with 1008).
async fn member(hub: Hub, ws: WebSocket) {
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("chat on ws://{}/chat", listener.local_addr()?);
    axum::serve(listener, app(Hub::new())).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wsock_broadcast::Hub;
    use wsock_tokio::Message;

    /// Three clients each send five messages at once: every client gets
    /// all fifteen, in the one order the room published them, and each
    /// sender's own in the order it sent them.
    #[tokio::test]
    async fn every_message_reaches_every_client_in_order() {
        tokio::time::timeout(Duration::from_secs(20), async {
            let hub = Hub::new();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}/chat", listener.local_addr().unwrap());
            tokio::spawn(axum::serve(listener, super::app(hub.clone())).into_future());

            let mut clients = Vec::new();
            for _ in 0..3 {
                clients.push(wsock_tokio::connect(&url).await.unwrap());
            }
            while hub.subscribers(super::ROOM) < 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }

            let mut readers = Vec::new();
            for (name, client) in ["alice", "bob", "carol"].into_iter().zip(clients) {
                let (mut rx, mut tx) = client.split();
                tokio::spawn(async move {
                    for i in 0..5 {
                        tx.send(format!("{name} {i}")).await.unwrap();
                    }
                    // Kept open until the readers are done.
                    std::future::pending::<()>().await;
                });
                readers.push(tokio::spawn(async move {
                    let mut received = Vec::new();
                    while received.len() < 15 {
                        match rx.recv().await.unwrap() {
                            Some(Message::Text(text)) => received.push(text.to_string()),
                            other => panic!("{other:?}"),
                        }
                    }
                    received
                }));
            }
            let mut seen = Vec::new();
            for reader in readers {
                seen.push(reader.await.unwrap());
            }
            assert_eq!(seen[0], seen[1]);
            assert_eq!(seen[0], seen[2]);
            for name in ["alice", "bob", "carol"] {
                let own: Vec<_> = seen[0].iter().filter(|m| m.starts_with(name)).collect();
                let sent: Vec<_> = (0..5).map(|i| format!("{name} {i}")).collect();
                assert_eq!(own, sent.iter().collect::<Vec<_>>());
            }
        })
        .await
        .unwrap();
    }
}
