//! Interoperability with tokio-tungstenite, in both directions.

mod common;

use std::time::Duration;

use common::{LIMIT, listener};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _};
use wsock_tokio::{Accept, ClientBuilder, CloseCode, CloseFrame, DataKind, Message};

type TMessage = tungstenite::Message;

// tokio-tungstenite client, our server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tungstenite_client_against_our_server() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept_with(tcp, |request| {
                assert!(request.protocols().iter().any(|p| p == "echo"));
                Ok(Accept::new().protocol("echo"))
            })
            .await
            .unwrap();
            let mut seen = Vec::new();
            while let Some(m) = ws.recv().await.unwrap() {
                if m.is_data() {
                    ws.send(m.clone()).await.unwrap();
                }
                seen.push(m);
            }
            seen
        });
        let mut request = format!("{url}/chat").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "echo".parse().unwrap());
        let (mut tt, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "echo");

        tt.send(TMessage::text("héllo")).await.unwrap();
        assert_eq!(tt.next().await.unwrap().unwrap(), TMessage::text("héllo"));
        let big: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7) as u8).collect();
        tt.send(TMessage::binary(big.clone())).await.unwrap();
        assert_eq!(tt.next().await.unwrap().unwrap(), TMessage::binary(big));
        tt.send(TMessage::Ping(b"p".to_vec().into())).await.unwrap();
        assert_eq!(
            tt.next().await.unwrap().unwrap(),
            TMessage::Pong(b"p".to_vec().into())
        );
        tt.close(Some(tungstenite::protocol::CloseFrame {
            code: 4001.into(),
            reason: "done".into(),
        }))
        .await
        .unwrap();
        // Our server answers the close and ends the connection.
        loop {
            match tt.next().await {
                Some(Ok(TMessage::Close(frame))) => assert_eq!(frame.unwrap().code, 4001.into()),
                Some(Ok(other)) => panic!("unexpected {other:?}"),
                Some(Err(tungstenite::Error::ConnectionClosed)) | None => break,
                Some(Err(e)) => panic!("{e}"),
            }
        }
        let seen = server.await.unwrap();
        assert_eq!(
            seen.last(),
            Some(&Message::Close(Some(CloseFrame::new(4001, "done"))))
        );
        assert!(seen.contains(&Message::ping(b"p".to_vec())));
    })
    .await
    .unwrap();
}

async fn tungstenite_echo_server(tcp: tokio::net::TcpStream) -> Vec<TMessage> {
    let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
    let mut seen = Vec::new();
    while let Some(m) = tt.next().await {
        let m = m.unwrap();
        if m.is_text() || m.is_binary() {
            tt.send(m.clone()).await.unwrap();
        }
        seen.push(m);
    }
    seen
}

// Our client, tokio-tungstenite server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_against_tungstenite_server() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tungstenite_echo_server(tcp).await
        });
        let mut ws = ClientBuilder::new(format!("{url}/"))
            .fragment_size(Some(1000))
            .connect()
            .await
            .unwrap();
        ws.send("fragmented ".repeat(1000)).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("fragmented ".repeat(1000)))
        );
        ws.send(Message::ping(b"x".to_vec())).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::pong(b"x".to_vec())));
        // A streamed message.
        let mut writer = ws.send_stream(DataKind::Binary).unwrap();
        for i in 0..100u8 {
            writer.write_all(&[i; 333]).await.unwrap();
        }
        writer.finish().await.unwrap();
        match ws.recv().await.unwrap() {
            Some(Message::Binary(b)) => {
                assert_eq!(b.len(), 33_300);
                assert!(
                    b.chunks(333)
                        .enumerate()
                        .all(|(i, c)| c.iter().all(|&x| x == i as u8))
                );
            }
            other => panic!("{other:?}"),
        }
        ws.close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
            .await
            .unwrap();
        let seen = server.await.unwrap();
        assert!(matches!(seen.last(), Some(TMessage::Close(Some(f))) if f.reason == "bye"));
    })
    .await
    .unwrap();
}

// tokio-tungstenite closes first; our client completes the handshake and
// waits for the server's end of stream.
#[tokio::test]
async fn tungstenite_server_closes_first() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tt = tokio_tungstenite::accept_async(tcp).await.unwrap();
            tt.send(TMessage::text("goodbye")).await.unwrap();
            tt.close(Some(tungstenite::protocol::CloseFrame {
                code: tungstenite::protocol::frame::coding::CloseCode::Away,
                reason: "maintenance".into(),
            }))
            .await
            .unwrap();
            while let Some(Ok(_)) = tt.next().await {}
        });
        let mut ws = wsock_tokio::connect(&format!("{url}/")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("goodbye")));
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(1001, "maintenance"))))
        );
        assert_eq!(
            timeout(Duration::from_secs(5), ws.recv())
                .await
                .unwrap()
                .unwrap(),
            None
        );
        server.await.unwrap();
    })
    .await
    .unwrap();
}

// Our server closes first; tokio-tungstenite sees the close and the end.
#[tokio::test]
async fn our_server_closes_first() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            ws.send("goodbye").await.unwrap();
            ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart")))
                .await
                .unwrap();
        });
        let (mut tt, _) = tokio_tungstenite::connect_async(format!("{url}/"))
            .await
            .unwrap();
        assert_eq!(tt.next().await.unwrap().unwrap(), TMessage::text("goodbye"));
        match tt.next().await.unwrap().unwrap() {
            TMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            tt.next().await,
            None | Some(Err(tungstenite::Error::ConnectionClosed))
        ));
        server.await.unwrap();
    })
    .await
    .unwrap();
}
