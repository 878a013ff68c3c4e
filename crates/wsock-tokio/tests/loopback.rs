//! Client and server of this crate against each other over loopback TCP
//! (and `tokio::io::duplex`): every feature end to end.

mod common;

use std::time::Duration;

use common::{LIMIT, close_code_in, frame, listener, pair, pair_with, raw_client, read_to_end};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use wsock_tokio::{
    Accept, Acceptor, ClientBuilder, CloseCode, CloseFrame, Config, DataKind, ErrorKind, Message,
    Role, State, Timeout, WebSocket,
};

async fn echo_all(mut ws: WebSocket<tokio::net::TcpStream>) {
    while let Some(message) = ws.recv().await.unwrap() {
        if message.is_data() {
            ws.send(message).await.unwrap();
        }
    }
}

async fn roundtrip() {
    let (mut client, server) = pair().await;
    let echo = tokio::spawn(echo_all(server));
    client.send("hello").await.unwrap();
    client.send(vec![0u8, 1, 2, 255]).await.unwrap();
    client.send(Message::text("")).await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    client.send(big.clone()).await.unwrap();
    assert_eq!(client.recv().await.unwrap(), Some(Message::text("hello")));
    assert_eq!(
        client.recv().await.unwrap(),
        Some(Message::binary(vec![0u8, 1, 2, 255]))
    );
    assert_eq!(client.recv().await.unwrap(), Some(Message::text("")));
    assert_eq!(client.recv().await.unwrap(), Some(Message::binary(big)));
    client.close(None).await.unwrap();
    assert_eq!(client.state(), State::Closed);
    echo.await.unwrap();
}

#[tokio::test]
async fn roundtrip_current_thread() {
    timeout(LIMIT, roundtrip()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_multi_thread() {
    timeout(LIMIT, roundtrip()).await.unwrap();
}

// The close handshake from either side; reading and writing after it.
#[tokio::test]
async fn close_handshake_and_use_after_close() {
    timeout(LIMIT, async {
        let (mut client, mut server) = pair().await;
        let server_task = tokio::spawn(async move {
            let got = server.recv().await.unwrap();
            assert_eq!(
                got,
                Some(Message::Close(Some(CloseFrame::new(4000, "bye"))))
            );
            assert_eq!(server.recv().await.unwrap(), None);
            // Reading after close: still the end.
            assert_eq!(server.recv().await.unwrap(), None);
            assert_eq!(server.next().await.map(|r| r.is_ok()), None);
            let err = server.send("late").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AlreadyClosed);
            server.close(None).await.unwrap();
        });
        client
            .close(Some(CloseFrame::new(4000, "bye")))
            .await
            .unwrap();
        assert_eq!(client.recv().await.unwrap(), None);
        assert_eq!(
            client.send("late").await.unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );
        // Closing again is fine.
        client.close(None).await.unwrap();
        server_task.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn server_initiated_close_is_seen_by_client() {
    timeout(LIMIT, async {
        let (mut client, mut server) = pair().await;
        let server_task = tokio::spawn(async move {
            server.send("last words").await.unwrap();
            server
                .close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart")))
                .await
                .unwrap();
        });
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::text("last words"))
        );
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(1001, "restart"))))
        );
        assert_eq!(client.recv().await.unwrap(), None);
        server_task.await.unwrap();
    })
    .await
    .unwrap();
}

// Messages sent after our close frame still arrive until the peer's close.
#[tokio::test]
async fn messages_in_flight_during_close_are_delivered() {
    timeout(LIMIT, async {
        let (mut client, mut server) = pair().await;
        client.send(Message::Close(None)).await.unwrap();
        assert_eq!(client.state(), State::CloseSent);
        let server_task = tokio::spawn(async move {
            // The server sends before it has read the close.
            server.send("in flight").await.unwrap();
            let mut seen = Vec::new();
            while let Some(m) = server.recv().await.unwrap() {
                seen.push(m);
            }
            seen
        });
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::text("in flight"))
        );
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(1000, ""))))
        );
        assert_eq!(client.recv().await.unwrap(), None);
        assert_eq!(
            server_task.await.unwrap(),
            vec![Message::Close(Some(CloseFrame::new(1000, "")))]
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn pings_are_answered_and_reported() {
    timeout(LIMIT, async {
        let (mut client, server) = pair().await;
        let echo = tokio::spawn(echo_all(server));
        client
            .send(Message::ping(b"are you there".to_vec()))
            .await
            .unwrap();
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::pong(b"are you there".to_vec()))
        );
        client
            .send(Message::pong(b"unsolicited".to_vec()))
            .await
            .unwrap();
        client.send("after").await.unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(Message::text("after")));
        let too_long = client.send(Message::ping(vec![0; 126])).await.unwrap_err();
        assert_eq!(too_long.kind(), ErrorKind::InvalidInput);
        let bad_code = client
            .close(Some(CloseFrame::new(1005, "")))
            .await
            .unwrap_err();
        assert_eq!(bad_code.kind(), ErrorKind::InvalidInput);
        client.close(None).await.unwrap();
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn auto_pong_off_leaves_pongs_to_the_application() {
    timeout(LIMIT, async {
        let (mut client, mut server) = pair_with(|b| b, Acceptor::new().auto_pong(false)).await;
        client.send(Message::ping(b"1".to_vec())).await.unwrap();
        client.send("marker").await.unwrap();
        assert_eq!(
            server.recv().await.unwrap(),
            Some(Message::ping(b"1".to_vec()))
        );
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("marker")));
        server.send(Message::pong(b"1".to_vec())).await.unwrap();
        server.send("done").await.unwrap();
        // Only the application's pong arrives.
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::pong(b"1".to_vec()))
        );
        assert_eq!(client.recv().await.unwrap(), Some(Message::text("done")));
        assert_eq!(server.stats().pongs_sent, 1);
    })
    .await
    .unwrap();
}

// Subprotocol, Origin and custom headers reach the server's callback.
#[tokio::test]
async fn subprotocols_origin_and_headers() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            wsock_tokio::accept_with(tcp, |request| {
                assert_eq!(request.path(), "/room");
                assert_eq!(request.query(), Some("id=7"));
                assert_eq!(request.origin(), Some("https://example.com"));
                assert_eq!(request.header("X-Token"), Some(&b"secret"[..]));
                assert_eq!(request.protocols(), ["v1", "v2"]);
                Ok(Accept::new().protocol("v2").header("X-Server", "wsock"))
            })
            .await
            .unwrap()
        });
        let client = ClientBuilder::new(format!("{url}/room?id=7"))
            .protocol("v1")
            .protocol("v2")
            .origin("https://example.com")
            .header("X-Token", "secret")
            .connect()
            .await
            .unwrap();
        let server = server.await.unwrap();
        assert_eq!(client.protocol(), Some("v2"));
        assert_eq!(server.protocol(), Some("v2"));
        assert_eq!(
            client.response().unwrap().header("X-Server"),
            Some(&b"wsock"[..])
        );
        let request = server.request().unwrap();
        assert_eq!((request.path(), request.query()), ("/room", Some("id=7")));
        assert_eq!((client.role(), server.role()), (Role::Client, Role::Server));

        // A header the handshake owns is refused before connecting.
        let err = ClientBuilder::new(format!("{url}/"))
            .header("Sec-WebSocket-Key", "x")
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    })
    .await
    .unwrap();
}

// An `http::Request`, as tungstenite users build them, is a request too:
// its fields reach the server's callback as the builder's do.
#[tokio::test]
async fn connect_with_an_http_request() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            wsock_tokio::accept_with(tcp, |request| {
                assert_eq!(request.path(), "/room");
                assert_eq!(request.origin(), Some("https://example.com"));
                assert_eq!(request.headers()["x-token"], "secret");
                assert_eq!(request.protocols(), ["v1", "v2"]);
                Ok(Accept::new().protocol("v2"))
            })
            .await
            .unwrap()
        });
        let request = wsock_core::http::Request::get(format!("{url}/room"))
            .header("Sec-WebSocket-Protocol", "v1, v2")
            .header("Origin", "https://example.com")
            .header("X-Token", "secret")
            .body(())
            .unwrap();
        let client = wsock_tokio::connect(request).await.unwrap();
        let server = server.await.unwrap();
        assert_eq!(
            (client.protocol(), server.protocol()),
            (Some("v2"), Some("v2"))
        );

        // Fields the handshake writes itself are refused before connecting.
        let request = wsock_core::http::Request::get(format!("{url}/"))
            .header("Sec-WebSocket-Key", "x")
            .body(())
            .unwrap();
        let err = wsock_tokio::connect(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn fragmented_sending_is_received_whole() {
    timeout(LIMIT, async {
        // Uncompressed, so the frames carry the text itself.
        let (mut client, mut server) = pair_with(
            |b| common::uncompressed(b.fragment_size(Some(1000))),
            Acceptor::new(),
        )
        .await;
        let text = "é".repeat(5000); // code points split across frames
        client.send(text.clone()).await.unwrap();
        assert_eq!(server.recv().await.unwrap(), Some(Message::text(text)));
        assert!(client.stats().frames_sent >= 10);
    })
    .await
    .unwrap();
}

// Going over a limit closes with 1009 and reports Capacity.
#[tokio::test]
async fn message_size_limit() {
    timeout(LIMIT, async {
        let (mut client, mut server) =
            pair_with(|b| b, Acceptor::new().max_message_size(1000)).await;
        client.send(vec![7u8; 1001]).await.unwrap();
        // The server's error comes once its close frame is out and the
        // transport is closed, which needs the client to take part.
        let server_side = tokio::spawn(async move {
            let err = server.recv().await.unwrap_err();
            assert_eq!(server.recv().await.unwrap(), None);
            err
        });
        match client.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG),
            other => panic!("expected a close frame, got {other:?}"),
        }
        assert_eq!(client.recv().await.unwrap(), None);
        let err = server_side.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Capacity);
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
    })
    .await
    .unwrap();
}

/// Incompressible bytes (a seeded xorshift generator): deflate makes them
/// a little larger on the wire.
#[cfg(feature = "deflate")]
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

// With permessage-deflate the limits measure inflated bytes: a message
// exactly at `max_frame_size == max_message_size` arrives both ways
// although its compressed frame is larger, and one byte more fails with
// 1009, whichever side receives it.
#[cfg(feature = "deflate")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_messages_at_the_limits_arrive_and_one_byte_over_fails_with_1009() {
    const LIMIT: usize = 1 << 20;
    timeout(Duration::from_secs(60), async {
        let connect = || {
            pair_with(
                |b| b.max_frame_size(LIMIT).max_message_size(LIMIT),
                Acceptor::new()
                    .max_frame_size(LIMIT)
                    .max_message_size(LIMIT),
            )
        };
        let exact = noise(LIMIT, 1);
        let over = noise(LIMIT + 1, 2);
        // A masked frame's header is 14 bytes: more was received, so the
        // compressed payload was over the limits.
        let wire_over = (LIMIT + 14) as u64;

        let (mut client, mut server) = connect().await;
        assert!(client.extensions().deflate().is_some());
        assert!(server.extensions().deflate().is_some());
        let expected = exact.clone();
        let echo = tokio::spawn(async move {
            let message = server.recv().await.unwrap();
            assert_eq!(message, Some(Message::binary(expected.clone())));
            assert!(server.stats().bytes_received > wire_over);
            server.send(expected).await.unwrap();
            // Until the client's close.
            while let Some(message) = server.recv().await.unwrap() {
                assert!(!message.is_data(), "{message:?}");
            }
        });
        client.send(exact.clone()).await.unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(Message::binary(exact)));
        assert!(client.stats().bytes_received > wire_over - 4);
        client.close(None).await.unwrap();
        echo.await.unwrap();

        // Client to server, one byte over.
        let (mut client, mut server) = connect().await;
        let receiver = tokio::spawn(async move {
            let err = server.recv().await.unwrap_err();
            assert_eq!(server.recv().await.unwrap(), None);
            err
        });
        client.send(over.clone()).await.unwrap();
        match client.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG),
            other => panic!("expected a close frame, got {other:?}"),
        }
        assert_eq!(client.recv().await.unwrap(), None);
        let err = receiver.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));

        // Server to client, one byte over.
        let (mut client, mut server) = connect().await;
        let sender = tokio::spawn(async move {
            server.send(over).await.unwrap();
            let close = server.recv().await.unwrap();
            assert_eq!(server.recv().await.unwrap(), None);
            close
        });
        let err = client.recv().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        match sender.await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG),
            other => panic!("expected a close frame, got {other:?}"),
        }
    })
    .await
    .unwrap();
}

// A protocol violation: the close frame reaches the peer before the
// transport closes (lingering close, no reset), and the error is reported.
#[tokio::test]
async fn protocol_error_sends_close_then_ends_transport() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            let err = ws.recv().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol);
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
            assert_eq!(ws.recv().await.unwrap(), None);
        });
        let mut tcp = raw_client(&url).await;
        // An unmasked frame from a client, and more bytes after it that the
        // server never reads.
        let mut bytes = frame(0x81, b"not masked", false);
        bytes.extend(std::iter::repeat_n(0u8, 10_000));
        tcp.write_all(&bytes).await.unwrap();
        let got = read_to_end(&mut tcp).await;
        assert_eq!(close_code_in(&got), Some(1002));
        drop(tcp);
        server.await.unwrap();
    })
    .await
    .unwrap();
}

// Invalid UTF-8 fails as soon as the bad bytes arrive, not at the end.
#[tokio::test]
async fn invalid_utf8_fails_fast() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            ws.recv().await.unwrap_err()
        });
        let mut tcp = raw_client(&url).await;
        // The first fragment of a text message, invalid already; no end.
        tcp.write_all(&frame(0x01, b"ok \xff", true)).await.unwrap();
        // The close frame comes at once, though the message never ends.
        assert_eq!(close_code_in(&read_to_end(&mut tcp).await), Some(1007));
        drop(tcp);
        let err = server.await.unwrap();
        assert_eq!(
            (err.kind(), err.close_code()),
            (ErrorKind::Protocol, Some(CloseCode::INVALID_PAYLOAD))
        );
    })
    .await
    .unwrap();
}

// The peer vanishing without a close frame is ConnectionClosed (1006).
#[tokio::test]
async fn abnormal_close_is_reported() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            let first = ws.recv().await.unwrap();
            (
                first,
                ws.recv().await.unwrap_err(),
                ws.recv().await.unwrap(),
            )
        });
        let mut tcp = raw_client(&url).await;
        tcp.write_all(&frame(0x81, b"hi", true)).await.unwrap();
        drop(tcp);
        let (first, err, after) = server.await.unwrap();
        assert_eq!(first, Some(Message::text("hi")));
        assert_eq!(
            (err.kind(), err.close_code()),
            (ErrorKind::AbnormalClose, Some(CloseCode::ABNORMAL))
        );
        assert_eq!(after, None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn stream_and_sink() {
    timeout(LIMIT, async {
        let (mut client, server) = pair().await;
        let echo = tokio::spawn(echo_all(server));
        let messages: Vec<Message> = (0..100).map(|i| Message::text(format!("m{i}"))).collect();
        let mut source = futures_util::stream::iter(messages.clone().into_iter().map(Ok));
        client.send_all(&mut source).await.unwrap();
        let got: Vec<Message> = (&mut client).take(100).map(Result::unwrap).collect().await;
        assert_eq!(got, messages);
        SinkExt::close(&mut client).await.unwrap();
        assert_eq!(client.state(), State::CloseSent);
        // The rest of the closing handshake happens on the stream side.
        let rest: Vec<_> = client.collect().await;
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert!(matches!(rest[0], Ok(Message::Close(_))));
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

// Streaming receive: an AsyncRead of one message, read in small pieces.
// Streaming send: an AsyncWrite whose writes become frames.
#[tokio::test]
async fn streaming_messages() {
    timeout(LIMIT, async {
        // The server may stream messages far larger than its whole-message limit.
        let (mut client, mut server) =
            pair_with(|b| b, Acceptor::new().max_message_size(64 << 20)).await;
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let sender = {
            let payload = payload.clone();
            tokio::spawn(async move {
                let mut writer = client.send_stream(DataKind::Binary).unwrap();
                for piece in payload.chunks(7919) {
                    writer.write_all(piece).await.unwrap();
                }
                writer.finish().await.unwrap();
                let mut text = client.send_stream(DataKind::Text).unwrap();
                text.write_all("héllo ".as_bytes()).await.unwrap();
                text.write_all(&"wörld".as_bytes()[..2]).await.unwrap(); // splits 'ö'
                text.write_all(&"wörld".as_bytes()[2..]).await.unwrap();
                text.shutdown().await.unwrap();
                drop(text);
                client.send("whole").await.unwrap();
                client
            })
        };
        let mut reader = server.recv_stream().await.unwrap().unwrap();
        assert_eq!(reader.kind(), DataKind::Binary);
        let mut got = Vec::new();
        let mut piece = [0u8; 1000];
        loop {
            let n = reader.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got.len(), payload.len());
        assert!(got == payload);
        let mut reader = server.recv_stream().await.unwrap().unwrap();
        assert_eq!(reader.kind(), DataKind::Text);
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "héllo wörld");
        // Whole-message receive works after streaming.
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("whole")));
        let mut client = sender.await.unwrap();
        // In fragments of the write buffer size (64 KiB, no fragment size
        // set), then one frame each for the text and "whole".
        assert_eq!(
            client.stats().frames_sent,
            payload.len().div_ceil(64 * 1024) as u64 + 2
        );
        // Invalid UTF-8 through a text writer is refused.
        let mut bad = client.send_stream(DataKind::Text).unwrap();
        assert_eq!(
            bad.write_all(b"\xff").await.unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    })
    .await
    .unwrap();
}

// A streamed message goes out in frames of the fragment size, however it
// is written (as wsock-blocking's writer does): a raw peer reads the
// frames off the socket.
#[tokio::test]
async fn send_stream_sends_frames_of_the_fragment_size() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = Acceptor::new()
                .fragment_size(Some(1000))
                .accept(tcp)
                .await
                .unwrap();
            let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
            let mut writer = ws.send_stream(DataKind::Binary).unwrap();
            for piece in payload.chunks(777) {
                writer.write_all(piece).await.unwrap();
            }
            writer.finish().await.unwrap();
            // One write larger than a fragment, then a flush mid-message.
            let mut writer = ws.send_stream(DataKind::Text).unwrap();
            writer.write_all(&[b'a'; 2500]).await.unwrap();
            writer.flush().await.unwrap();
            writer.write_all(b"end").await.unwrap();
            writer.finish().await.unwrap();
            ws
        });
        let mut tcp = raw_client(&url).await;
        let mut frames = Vec::new(); // (first byte, payload length)
        while frames.len() < 14 {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.unwrap();
            assert_eq!(head[1] & 0x80, 0, "a server's frames are not masked");
            let len = match head[1] & 0x7f {
                126 => usize::from(tcp.read_u16().await.unwrap()),
                127 => usize::try_from(tcp.read_u64().await.unwrap()).unwrap(),
                n => usize::from(n),
            };
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.unwrap();
            frames.push((head[0], len));
        }
        let mut expected = vec![(0x02, 1000)];
        expected.extend([(0x00, 1000); 8]);
        expected.push((0x80, 1000));
        // 2500 bytes: two whole fragments, the gathered rest at the flush,
        // and the last piece at the finish.
        expected.extend([(0x01, 1000), (0x00, 1000), (0x00, 500), (0x80, 3)]);
        assert_eq!(frames, expected);
        let ws = server.await.unwrap();
        assert_eq!(ws.stats().frames_sent, 14);
    })
    .await
    .unwrap();
}

// The peer's close in the middle of a streamed message: the reader fails
// (UnexpectedEof) after what arrived before it, and the next `recv`
// returns the close.
#[tokio::test]
async fn a_close_in_the_middle_of_a_streamed_message() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            let mut reader = ws.recv_stream().await.unwrap().unwrap();
            let mut got = Vec::new();
            let err = reader.read_to_end(&mut got).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
            assert_eq!(got, b"partial");
            assert_eq!(
                ws.recv().await.unwrap(),
                Some(Message::Close(Some(CloseFrame::new(1001, ""))))
            );
            assert_eq!(ws.recv().await.unwrap(), None);
        });
        let mut tcp = raw_client(&url).await;
        tcp.write_all(&frame(0x02, b"partial", true)).await.unwrap();
        tcp.write_all(&frame(0x88, &[0x03, 0xe9], true))
            .await
            .unwrap();
        assert_eq!(close_code_in(&read_to_end(&mut tcp).await), Some(1001));
        server.await.unwrap();
    })
    .await
    .unwrap();
}

// A streamed message whose reader is dropped early is skipped; a writer
// dropped midway closes the connection with 1011.
#[tokio::test]
async fn abandoned_streams() {
    timeout(LIMIT, async {
        let (mut client, mut server) =
            pair_with(|b| b.fragment_size(Some(100)), Acceptor::new()).await;
        client.send(vec![1u8; 10_000]).await.unwrap();
        client.send("next").await.unwrap();
        {
            let mut reader = server.recv_stream().await.unwrap().unwrap();
            let mut first = [0u8; 10];
            reader.read_exact(&mut first).await.unwrap();
        }
        assert_eq!(server.recv().await.unwrap(), Some(Message::text("next")));

        let mut writer = client.send_stream(DataKind::Binary).unwrap();
        writer.write_all(b"partial").await.unwrap();
        drop(writer);
        client.flush().await.unwrap();
        match server.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::INTERNAL_ERROR),
            other => panic!("expected close, got {other:?}"),
        }
    })
    .await
    .unwrap();
}

// Receives cancelled at any point lose nothing: a half-received message
// is completed by the next call, whichever kind of receive it is.
#[tokio::test]
async fn cancelled_receives_lose_nothing() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let (step_tx, mut step_rx) = tokio::sync::mpsc::channel::<()>(1);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            let short = Duration::from_millis(150);
            let mut got = Vec::new();
            // 1. recv cancelled after the first fragment arrived.
            assert!(timeout(short, ws.recv()).await.is_err());
            step_tx.send(()).await.unwrap();
            got.push(ws.recv().await.unwrap());
            // 2. recv_stream cancelled with nothing arrived.
            assert!(timeout(short, ws.recv_stream()).await.is_err());
            step_tx.send(()).await.unwrap();
            got.push(ws.recv().await.unwrap());
            // 3. recv_stream cancelled after a frame header, before any payload:
            //    the message began streaming, so recv puts it back together.
            assert!(timeout(short, ws.recv_stream()).await.is_err());
            step_tx.send(()).await.unwrap();
            got.push(ws.recv().await.unwrap());
            // 4. recv cancelled after a frame header, then recv_stream: the
            //    whole message streams.
            assert!(timeout(short, ws.recv()).await.is_err());
            step_tx.send(()).await.unwrap();
            let mut reader = ws.recv_stream().await.unwrap().unwrap();
            let mut text = String::new();
            reader.read_to_string(&mut text).await.unwrap();
            got.push(Some(Message::text(text)));
            got
        });
        let mut tcp = raw_client(&url).await;
        tcp.write_all(&frame(0x01, b"first ", true)).await.unwrap();
        step_rx.recv().await.unwrap();
        tcp.write_all(&frame(0x80, b"second", true)).await.unwrap();
        step_rx.recv().await.unwrap();
        tcp.write_all(&frame(0x81, b"after", true)).await.unwrap();
        let gathered = frame(0x81, b"gathered", true);
        tcp.write_all(&gathered[..6]).await.unwrap();
        step_rx.recv().await.unwrap();
        tcp.write_all(&gathered[6..]).await.unwrap();
        let streamed = frame(0x81, b"streamed", true);
        tcp.write_all(&streamed[..6]).await.unwrap();
        step_rx.recv().await.unwrap();
        tcp.write_all(&streamed[6..]).await.unwrap();
        let got = server.await.unwrap();
        assert_eq!(
            got,
            vec![
                Some(Message::text("first second")),
                Some(Message::text("after")),
                Some(Message::text("gathered")),
                Some(Message::text("streamed"))
            ]
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn read_timeout_is_not_fatal() {
    timeout(LIMIT, async {
        let (mut client, mut server) = pair_with(
            |b| b.read_timeout(Some(Duration::from_millis(100))),
            Acceptor::new(),
        )
        .await;
        let err = client.recv().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Read), "{err}");
        server.send("late but fine").await.unwrap();
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::text("late but fine"))
        );
        client.set_read_timeout(None);
        // A dropped connection says it is going away.
        drop(server);
        assert_eq!(
            client.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                ""
            ))))
        );
    })
    .await
    .unwrap();
}

// Dropping the last handle of an open connection sends 1001 (going away),
// as the blocking adapter does, whether it was split or not; a connection
// taken apart with into_inner sends nothing.
#[tokio::test]
async fn dropping_the_last_handle_sends_going_away() {
    timeout(LIMIT, async {
        let going_away = Some(Message::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "",
        ))));
        let (mut client, server) = pair().await;
        let (read, write) = server.split();
        drop(read);
        client.send("still open").await.unwrap();
        drop(write);
        assert_eq!(client.recv().await.unwrap(), going_away);

        let (client, mut server) = pair().await;
        drop(client);
        assert_eq!(server.recv().await.unwrap(), going_away);

        let (mut client, server) = pair().await;
        let mut tcp = server.into_inner();
        tcp.shutdown().await.unwrap();
        assert_eq!(
            client.recv().await.unwrap_err().kind(),
            ErrorKind::AbnormalClose
        );
    })
    .await
    .unwrap();
}

// Any AsyncRead + AsyncWrite works, here an in-memory duplex pipe.
#[tokio::test]
async fn from_raw_over_duplex() {
    timeout(LIMIT, async {
        let (a, b) = tokio::io::duplex(64);
        let mut client = WebSocket::from_raw(a, Role::Client, Config::default());
        let mut server = WebSocket::from_raw(b, Role::Server, Config::default());
        let task = tokio::spawn(async move {
            while let Some(m) = server.recv().await.unwrap() {
                if m.is_data() {
                    server.send(m).await.unwrap();
                }
            }
            server
        });
        let big = "x".repeat(100_000);
        client.send(big.clone()).await.unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(Message::text(big)));
        client.close(None).await.unwrap();
        let server = task.await.unwrap();
        assert_eq!(server.state(), State::Closed);
        let _io = server.into_inner();
    })
    .await
    .unwrap();
}
