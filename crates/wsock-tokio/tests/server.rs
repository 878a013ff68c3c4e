//! The `Server` helper: at the handshake cap it waits, and ends a stalled
//! handshake only to make room; graceful shutdown reports what it did.

mod common;

use std::time::{Duration, Instant};

use common::LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_tokio::{Acceptor, CloseFrame, Message, Server, WebSocket};

async fn echo(mut ws: WebSocket<TcpStream>) {
    while let Ok(Some(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_handshake_cap_ends_the_oldest_stalled_handshake() {
    const EVICT_AFTER: Duration = Duration::from_millis(400);
    timeout(LIMIT, async {
        let server = Server::builder()
            .max_handshakes(2)
            .evict_after(EVICT_AFTER)
            .acceptor(Acceptor::new().handshake_timeout(Some(Duration::from_secs(20))))
            .bind("127.0.0.1:0", echo)
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut dribblers = Vec::new();
        for _ in 0..2 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
            dribblers.push(tcp);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while server.handshakes() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        let mut ws = wsock_tokio::connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        ws.send("through").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("through")));
        // The new client waited in the backlog until the first dribbler
        // had stalled (no handshake is ended younger), then got its slot.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < EVICT_AFTER + Duration::from_secs(1),
            "admitted after {waited:?}"
        );
        // The first dribbler was ended; the second still waits.
        let mut buf = [0u8; 16];
        let first = timeout(Duration::from_secs(2), dribblers[0].read(&mut buf)).await;
        assert!(matches!(first, Ok(Ok(0) | Err(_))), "{first:?}");
        let second = timeout(Duration::from_millis(200), dribblers[1].read(&mut buf)).await;
        assert!(second.is_err(), "{second:?}");
        assert_eq!((server.handshakes(), server.connections()), (1, 2));
        let report = server.shutdown(Duration::from_secs(2)).await;
        assert_eq!(
            (report.open, report.handshakes_ended, report.close_sent),
            (2, 1, 1)
        );
        // The client learns why.
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(
                1001,
                "server shutting down"
            ))))
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection_with_1001() {
    timeout(LIMIT, async {
        let server = Server::bind("127.0.0.1:0", echo).await.unwrap();
        let url = format!("ws://{}/", server.local_addr());
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(wsock_tokio::connect(&url).await.unwrap());
        }
        for ws in &mut clients {
            ws.send("x").await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::text("x")));
        }
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut ws| {
                tokio::spawn(async move {
                    let close = ws.recv().await.unwrap();
                    (close, ws.recv().await.unwrap())
                })
            })
            .collect();
        let started = Instant::now();
        let report = server.shutdown(Duration::from_secs(3)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            (report.open, report.close_sent, report.closed, report.forced),
            (3, 3, 3, 0)
        );
        for reader in readers {
            let (close, end) = reader.await.unwrap();
            assert_eq!(
                close,
                Some(Message::Close(Some(CloseFrame::new(
                    1001,
                    "server shutting down"
                ))))
            );
            assert_eq!(end, None);
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_ignores_its_connection_is_forced_at_the_deadline() {
    timeout(LIMIT, async {
        let server = Server::bind("127.0.0.1:0", |ws: WebSocket<TcpStream>| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(ws);
        })
        .await
        .unwrap();
        let url = format!("ws://{}/", server.local_addr());
        let mut ws = wsock_tokio::connect(&url).await.unwrap();
        let started = Instant::now();
        let report = server.shutdown(Duration::from_millis(300)).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        assert_eq!((report.open, report.closed, report.forced), (1, 0, 1));
        // Aborting the task dropped the connection: the client sees the
        // transport end (a 1001 close from the drop, or 1006).
        let end = timeout(Duration::from_secs(3), ws.recv()).await.unwrap();
        assert!(
            matches!(end, Ok(Some(Message::Close(_)) | None) | Err(_)),
            "{end:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_learns_the_peer_and_the_request() {
    timeout(LIMIT, async {
        let server = Server::builder()
            .on_request(|request| match request.path() {
                "/chat" => Ok(wsock_tokio::Accept::new().protocol("chat")),
                _ => Err(wsock_tokio::Rejection::new(404)),
            })
            .bind("127.0.0.1:0", |mut ws: WebSocket<TcpStream>| async move {
                let about = format!(
                    "{} {} {:?}",
                    ws.peer_addr().unwrap().ip(),
                    ws.request().unwrap().path(),
                    ws.protocol()
                );
                let _ = ws.send(about).await;
                echo(ws).await;
            })
            .await
            .unwrap();
        let url = format!("ws://{}", server.local_addr());
        let mut ws = wsock_tokio::ClientBuilder::new(format!("{url}/chat"))
            .protocol("chat")
            .connect()
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("127.0.0.1 /chat Some(\"chat\")"))
        );
        let err = wsock_tokio::connect(&format!("{url}/other"))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(404));
        ws.close(None).await.unwrap();
        let report = server.shutdown(Duration::from_secs(2)).await;
        assert_eq!(report.forced, 0);
    })
    .await
    .unwrap();
}
