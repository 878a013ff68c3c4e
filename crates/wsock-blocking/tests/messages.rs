//! The whole-message API over loopback TCP: round trips, control frames,
//! the closing handshake, information, faults, timeouts, keepalive and
//! backpressure.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{
    bounded, close_code, end, frame, listener, pair, pair_with, raw_client, raw_server, read_frame,
};
use wsock_blocking::{
    Acceptor, ClientBuilder, CloseCode, CloseFrame, ErrorKind, Message, Role, State,
};

#[test]
fn text_and_binary_round_trip() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        client.send("héllo").unwrap();
        client.send(vec![0u8, 1, 2, 255]).unwrap();
        client.send(Message::binary(Vec::new())).unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("héllo")
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::binary(vec![0, 1, 2, 255])
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::binary(vec![])
        );
        server.send(Message::text("x".repeat(100_000))).unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("x".repeat(100_000))
        );
        end(client, server);
    });
}

#[test]
fn pings_are_answered_and_still_returned() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        server
            .send(Message::ping(b"are you there".to_vec()))
            .unwrap();
        server.send("after the ping").unwrap();
        // The client sees the ping; its pong goes out as it reads.
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::ping(b"are you there".to_vec())
        );
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("after the ping")
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::pong(b"are you there".to_vec())
        );
        assert_eq!(client.stats().pongs_sent, 1);
        assert_eq!(server.stats().pongs_received, 1);
        // An unsolicited pong is delivered as is.
        client.send(Message::pong(b"heartbeat".to_vec())).unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::pong(b"heartbeat".to_vec())
        );
        end(client, server);
    });
}

#[test]
fn auto_pong_can_be_turned_off() {
    bounded(20, || {
        let (mut client, mut server) = pair_with(|b| b.auto_pong(false), Acceptor::new());
        server.send(Message::ping(b"1".to_vec())).unwrap();
        server.send("marker").unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::ping(b"1".to_vec())
        );
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("marker")
        );
        client.send("reply").unwrap();
        // No pong came before the reply.
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("reply")
        );
        assert_eq!(client.stats().pongs_sent, 0);
        end(client, server);
    });
}

#[test]
fn client_initiated_close() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        client.send("last words").unwrap();
        client
            .send(Message::close(CloseCode::NORMAL, "bye"))
            .unwrap();
        assert_eq!(client.state(), State::CloseSent);
        // Sending after close is refused.
        assert_eq!(
            client.send("too late").unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );

        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("last words")
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1000, "bye")))
        );
        assert_eq!(server.state(), State::Closed);

        // The server's reply echoes the code; then the server's end of
        // stream finishes the client's side.
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1000, "")))
        );
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(
            client.send("x").unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );
        // Closing again is harmless.
        client.close(None).unwrap();

        assert_eq!(server.recv().unwrap(), None);
        assert_eq!(server.recv().unwrap(), None);
    });
}

#[test]
fn server_initiated_close_with_application_code() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        server.send(Message::close(4001, "maintenance")).unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(4001, "maintenance")))
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(4001, "")))
        );
        // The server ended its side of the transport, which ends the
        // client's wait.
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(server.recv().unwrap(), None);
    });
}

#[test]
fn invalid_close_codes_are_refused() {
    bounded(20, || {
        let (mut client, server) = pair();
        assert_eq!(
            client.send(Message::close(1005, "")).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            client
                .close(Some(wsock_blocking::CloseFrame::new(1000, "x".repeat(124))))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            client.send(Message::ping(vec![0; 126])).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        // Still open.
        client.send("fine").unwrap();
        end(client, server);
    });
}

#[test]
fn reading_after_close_never_hangs() {
    bounded(20, || {
        let (mut client, server) = pair();
        // Dropping sends 1001 and waits for the reply: on another thread.
        let dropper = std::thread::spawn(move || drop(server));
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1001, "")))
        );
        assert_eq!(client.recv().unwrap(), None);
        for _ in 0..3 {
            assert_eq!(client.recv().unwrap(), None);
            assert!(client.recv_stream().unwrap().is_none());
            let err = client
                .send_stream(wsock_blocking::DataKind::Text)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AlreadyClosed);
        }
        dropper.join().unwrap();
    });
}

#[test]
fn ten_thousand_messages_arrive_in_order_before_the_close() {
    bounded(60, || {
        let (mut client, mut server) = pair();
        let sender = std::thread::spawn(move || {
            for i in 0..10_000u32 {
                // Queue most of them; backpressure writes them out.
                if i % 2 == 0 {
                    client.write(format!("message {i}")).unwrap();
                } else {
                    client.send(i.to_be_bytes().to_vec()).unwrap();
                }
            }
            client.send(Message::close(1000, "all sent")).unwrap();
            client
        });
        for i in 0..10_000u32 {
            let expected = if i % 2 == 0 {
                Message::text(format!("message {i}"))
            } else {
                Message::binary(i.to_be_bytes().to_vec())
            };
            assert_eq!(
                server.recv().unwrap().expect("a message"),
                expected,
                "message {i}"
            );
        }
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1000, "all sent")))
        );
        let mut client = sender.join().unwrap();
        assert!(matches!(
            client.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(server.recv().unwrap(), None);
        assert_eq!(server.stats().messages_received, 10_000);
        assert_eq!(client.stats().messages_sent, 10_000);
    });
}

// An `http::Request`, as tungstenite users build them, is a request too.
#[test]
fn connect_with_an_http_request() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |request| {
                assert_eq!(request.path(), "/chat");
                assert_eq!(request.headers()["x-token"], "secret");
                assert_eq!(request.protocols(), ["v1.chat", "v2.chat"]);
                Ok(wsock_blocking::Accept::new().protocol("v1.chat"))
            })
            .unwrap()
        });
        let request = wsock_blocking::wsock_core::http::Request::get(format!("{url}chat"))
            .header("Sec-WebSocket-Protocol", "v1.chat, v2.chat")
            .header("X-Token", "secret")
            .body(())
            .unwrap();
        let client = wsock_blocking::connect(request).unwrap();
        let server = server.join().unwrap();
        assert_eq!(
            (client.protocol(), server.protocol()),
            (Some("v1.chat"), Some("v1.chat"))
        );
        let request = wsock_blocking::wsock_core::http::Request::get(format!("{url}chat"))
            .header("Host", "elsewhere")
            .body(())
            .unwrap();
        let err = wsock_blocking::connect(request).unwrap_err();
        assert_eq!(err.kind(), wsock_blocking::ErrorKind::InvalidInput);
    });
}

#[test]
fn information() {
    bounded(20, || {
        let (listener, url) = listener();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            wsock_blocking::accept_with(stream, |request| {
                assert_eq!(request.path(), "/chat");
                assert_eq!(request.query(), Some("room=1"));
                assert_eq!(request.protocols(), ["v1.chat", "v2.chat"]);
                assert_eq!(request.header("x-token"), Some(&b"secret"[..]));
                assert_eq!(request.origin(), Some("https://example.com"));
                Ok(wsock_blocking::Accept::new()
                    .protocol("v2.chat")
                    .header("Set-Cookie", "sid=42"))
            })
            .unwrap()
        });
        let mut client = ClientBuilder::new(format!("{url}chat?room=1"))
            .protocol("v1.chat")
            .protocol("v2.chat")
            .header("X-Token", "secret")
            .origin("https://example.com")
            .connect()
            .unwrap();
        let mut server = server.join().unwrap();

        assert_eq!(client.protocol(), Some("v2.chat"));
        assert_eq!(server.protocol(), Some("v2.chat"));
        assert_eq!(client.role(), Role::Client);
        assert_eq!(server.role(), Role::Server);
        assert_eq!(client.local_addr().unwrap(), server.peer_addr().unwrap());
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(
            client.response().unwrap().header("set-cookie"),
            Some(&b"sid=42"[..])
        );
        assert!(client.request().is_none());
        assert_eq!(server.request().unwrap().path(), "/chat");
        assert!(
            client.get_ref().tcp().nodelay().unwrap(),
            "no-delay is on by default"
        );
        assert_eq!(client.state(), State::Open);

        client.send("abc").unwrap();
        client.send(Message::ping(vec![])).unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("abc")
        );
        assert!(matches!(
            server.recv().unwrap().expect("a message"),
            Message::Ping(_)
        ));
        let stats = server.stats();
        assert_eq!(
            (
                stats.messages_received,
                stats.pings_received,
                stats.frames_received
            ),
            (1, 1, 2)
        );
        assert_eq!(stats.pongs_sent, 1);
        assert_eq!(client.stats().frames_sent, 2);
        assert!(client.stats().bytes_sent >= 3 + 2 * 6);
        end(client, server);
    });
}

#[test]
fn peer_vanishing_mid_message_is_an_abnormal_close() {
    bounded(20, || {
        let (listener, url) = listener();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            // A frame announcing 1000 bytes, cut after 10; then the peer dies.
            let full = frame(0x82, &[7u8; 1000], None);
            stream.write_all(&full[..14]).unwrap();
        });
        let mut client = wsock_blocking::connect(&url).unwrap();
        peer.join().unwrap();
        let err = client.recv().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
        assert_eq!(client.state(), State::Closed);
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(
            client.send("x").unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );
    });
}

#[test]
fn messages_before_the_end_of_stream_are_still_delivered() {
    bounded(20, || {
        let (listener, url) = listener();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            stream.write_all(&frame(0x81, b"one", None)).unwrap();
            stream.write_all(&frame(0x81, b"two", None)).unwrap();
        });
        let mut client = wsock_blocking::connect(&url).unwrap();
        peer.join().unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("one")
        );
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("two")
        );
        assert_eq!(client.recv().unwrap_err().kind(), ErrorKind::AbnormalClose);
    });
}

#[test]
fn protocol_violation_sends_the_close_frame_before_closing() {
    bounded(20, || {
        let (listener, url) = listener();
        let client = std::thread::spawn(move || {
            let mut client = wsock_blocking::connect(&url).unwrap();
            let err = client.recv().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
            assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
            assert_eq!(client.recv().unwrap(), None);
        });
        let mut stream = raw_server(&listener);
        // Reserved opcode 0x3, then more data that the client never reads:
        // without a lingering close this could reset the connection.
        stream.write_all(&frame(0x83, b"bad", None)).unwrap();
        let _ = stream.write_all(&frame(0x82, &vec![0u8; 200_000], None));
        let (b0, payload) = read_frame(&mut stream);
        assert_eq!(b0, 0x88);
        assert_eq!(close_code(&payload), 1002);
        // Then the client's end of stream.
        assert!(common::read_to_end(&mut stream).is_empty());
        drop(stream);
        client.join().unwrap();
    });
}

#[test]
fn oversized_message_is_refused_with_1009() {
    bounded(20, || {
        let (listener, _url) = listener();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = Acceptor::new()
                .max_message_size(1000)
                .accept(stream)
                .unwrap();
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                Message::binary(vec![1; 1000])
            );
            let err = ws.recv().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
            assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        });
        let mut stream = raw_client(addr);
        stream
            .write_all(&frame(0x82, &[1; 1000], Some([1, 2, 3, 4])))
            .unwrap();
        stream
            .write_all(&frame(0x02, &[1; 600], Some([1, 2, 3, 4])))
            .unwrap();
        stream
            .write_all(&frame(0x80, &[1; 600], Some([1, 2, 3, 4])))
            .unwrap();
        let (b0, payload) = read_frame(&mut stream);
        assert_eq!((b0, close_code(&payload)), (0x88, 1009));
        drop(stream);
        server.join().unwrap();
    });
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
#[test]
#[cfg(feature = "deflate")]
fn compressed_messages_at_the_limits_arrive_and_one_byte_over_fails_with_1009() {
    const LIMIT: usize = 1 << 20;
    bounded(60, || {
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

        let (mut client, mut server) = connect();
        assert!(client.extensions().deflate().is_some());
        assert!(server.extensions().deflate().is_some());
        let expected = exact.clone();
        let echo = std::thread::spawn(move || {
            assert_eq!(
                server.recv().unwrap().expect("a message"),
                Message::binary(expected.clone())
            );
            assert!(server.stats().bytes_received > wire_over);
            server.send(expected).unwrap();
            server
        });
        client.send(exact.clone()).unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::binary(exact)
        );
        assert!(client.stats().bytes_received > wire_over - 4);
        end(client, echo.join().unwrap());

        // Client to server, one byte over.
        let (mut client, mut server) = connect();
        let receiver = std::thread::spawn(move || server.recv().unwrap_err());
        client.send(over.clone()).unwrap();
        match client.recv() {
            Ok(Some(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG);
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
        let err = receiver.join().unwrap();
        assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));

        // Server to client, one byte over.
        let (mut client, mut server) = connect();
        let sender = std::thread::spawn(move || {
            server.send(over).unwrap();
            server.recv()
        });
        let err = client.recv().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Capacity, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
        match sender.join().unwrap() {
            Ok(Some(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::MESSAGE_TOO_BIG);
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    });
}

#[test]
fn read_timeout_keeps_the_connection_usable() {
    bounded(20, || {
        let (listener, url) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            // Half a frame, then silence until told to go on.
            let full = frame(0x81, b"hello world", None);
            stream.write_all(&full[..6]).unwrap();
            rx.recv().unwrap();
            stream.write_all(&full[6..]).unwrap();
            rx.recv().unwrap();
            stream
        });
        let mut client = ClientBuilder::new(&url)
            .read_timeout(Some(Duration::from_millis(200)))
            .connect()
            .unwrap();
        let started = Instant::now();
        let err = client.recv().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)), "{err}");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(190) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        assert_eq!(client.state(), State::Open);
        // Timing out again is fine too.
        assert!(matches!(
            client.recv().unwrap_err().kind(),
            ErrorKind::Timeout(_)
        ));
        tx.send(()).unwrap();
        // The half frame was kept: the message arrives whole.
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("hello world")
        );
        client.send("still works").unwrap();
        tx.send(()).unwrap();
        let mut stream = peer.join().unwrap();
        let (b0, payload) = read_frame(&mut stream);
        assert_eq!((b0, payload), (0x81, b"still works".to_vec()));
    });
}

#[test]
fn handshake_timeout_on_a_server_that_never_answers() {
    bounded(20, || {
        let (listener, url) = listener();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        // Accepts, never answers.
        let silent = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(stream);
        });
        let started = Instant::now();
        let err = ClientBuilder::new(&url)
            .handshake_timeout(Some(Duration::from_millis(300)))
            .connect()
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        done.send(()).unwrap();
        silent.join().unwrap();
    });
}

#[test]
fn keepalive_pings_an_idle_peer() {
    bounded(20, || {
        let (mut client, mut server) = pair_with(
            |b| {
                b.keepalive_interval(Some(Duration::from_millis(100)))
                    .read_timeout(Some(Duration::from_secs(2)))
            },
            Acceptor::new(),
        );
        let server = std::thread::spawn(move || {
            // Reading answers the pings.
            let mut pings = 0;
            while let Ok(Some(message)) = server.recv() {
                if matches!(message, Message::Ping(_)) {
                    pings += 1;
                }
            }
            pings
        });
        // Nothing but keepalive traffic: a ping every interval, each answered.
        let started = Instant::now();
        let mut pongs = 0;
        while started.elapsed() < Duration::from_millis(800) {
            match client.recv().unwrap().expect("a message") {
                Message::Pong(payload) => {
                    assert!(payload.is_empty());
                    pongs += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(pongs >= 3, "{pongs} pongs in 800 ms with a 100 ms interval");
        let stats = client.stats();
        assert!(
            stats.pings_sent >= 3 && stats.pongs_received >= 3,
            "{stats:?}"
        );
        client.send(Message::close(1000, "")).unwrap();
        while let Ok(Some(_)) = client.recv() {}
        assert!(server.join().unwrap() >= 3);
    });
}

#[test]
fn keepalive_timeout_fails_a_silent_peer() {
    bounded(20, || {
        let (listener, url) = listener();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            // Completes the handshake, then never reads nor writes.
            let stream = raw_server(&listener);
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(stream);
        });
        let mut client = ClientBuilder::new(&url)
            .keepalive_interval(Some(Duration::from_millis(100)))
            .keepalive_timeout(Duration::from_millis(200))
            .connect()
            .unwrap();
        let started = Instant::now();
        let err = client.recv().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(wsock_blocking::Timeout::Keepalive),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(client.recv().unwrap(), None);
        done.send(()).unwrap();
        peer.join().unwrap();
    });
}

#[test]
fn close_timeout_when_the_peer_never_answers() {
    bounded(20, || {
        let (listener, url) = listener();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let stream = raw_server(&listener);
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(stream);
        });
        let mut client = ClientBuilder::new(&url)
            .close_timeout(Some(Duration::from_millis(300)))
            .connect()
            .unwrap();
        client.send(Message::close(1000, "")).unwrap();
        let started = Instant::now();
        let err = client.recv().unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(wsock_blocking::Timeout::Close),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(client.recv().unwrap(), None);
        done.send(()).unwrap();
        peer.join().unwrap();
    });
}

#[test]
fn write_timeout_and_backpressure_against_a_peer_that_does_not_read() {
    bounded(30, || {
        let (listener, url) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            // Do not read until told to.
            rx.recv().unwrap();
            let mut total = 0usize;
            let mut count = 0usize;
            loop {
                let (b0, payload) = read_frame(&mut stream);
                if b0 == 0x88 {
                    break;
                }
                assert_eq!(b0, 0x82);
                total += payload.len();
                count += 1;
            }
            (count, total)
        });
        let mut client = ClientBuilder::new(&url)
            .write_timeout(Some(Duration::from_millis(200)))
            .write_buffer_size(16 * 1024)
            .connect()
            .unwrap();
        let chunk = vec![0xabu8; 64 * 1024];
        let started = Instant::now();
        let mut sent = 0usize;
        let err = loop {
            match client.send(chunk.clone()) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "the socket buffers never filled");
        };
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(client.state(), State::Open);
        // `write` only queues up to the write buffer size; then it must
        // wait for the transport too, so memory stays bounded.
        let mut queued = 0;
        let err = loop {
            match client.write(chunk.clone()) {
                Ok(()) => queued += 1,
                Err(e) => break e,
            }
            assert!(queued < 1000, "write never waited for the transport");
        };
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)));
        // The peer starts reading: everything queued goes out intact.
        tx.send(()).unwrap();
        client.set_write_timeout(Some(Duration::from_secs(10)));
        client.flush().unwrap();
        client.send(Message::close(1000, "")).unwrap();
        let (count, total) = peer.join().unwrap();
        // Nothing was lost: the messages whose writes timed out were queued.
        assert_eq!(count, sent + queued + 2);
        assert_eq!(total, (sent + queued + 2) * chunk.len());
    });
}

#[test]
fn connection_refused_lists_every_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addrs: Vec<std::net::SocketAddr> = vec![
        format!("[::1]:{port}").parse().unwrap(),
        format!("127.0.0.1:{port}").parse().unwrap(),
    ];
    let err = ClientBuilder::new(format!("ws://localhost:{port}/"))
        .addresses(addrs.clone())
        .connect()
        .unwrap_err();
    let tried: Vec<_> = err
        .connect_attempts()
        .iter()
        .map(wsock_blocking::ConnectAttempt::addr)
        .collect();
    assert_eq!(tried, addrs, "{err}");
    assert!(matches!(err.kind(), ErrorKind::Connect), "{err}");
    assert_eq!(
        err.connect_attempts()[1].error().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("[::1]:{port}")) && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );

    // Through the system resolver: every address `localhost` has is tried.
    let resolved: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", port))
        .unwrap()
        .collect();
    let err = wsock_blocking::connect(format!("ws://localhost:{port}/")).unwrap_err();
    let tried: Vec<_> = err
        .connect_attempts()
        .iter()
        .map(wsock_blocking::ConnectAttempt::addr)
        .collect();
    assert_eq!(tried, resolved, "{err}");
    assert!(tried.iter().any(|a| a.ip().is_loopback()));
}

#[test]
fn connect_timeout_on_a_listener_that_never_accepts() {
    bounded(30, || {
        use socket2::{Domain, Socket, Type};
        // A listener with the smallest backlog that never accepts: once its
        // queue is full, new connection attempts go unanswered.
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let err = ClientBuilder::new(format!("ws://{addr}/"))
            .connect_timeout(Some(Duration::from_millis(300)))
            .connect()
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Timeout(_)), "{err}");
        assert_eq!(err.connect_attempts().len(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(socket);
    });
}

#[test]
fn dns_and_url_errors() {
    let err = wsock_blocking::connect("ws://no-such-host.invalid/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dns, "{err}");
    let err = wsock_blocking::connect("wss://127.0.0.1:1/").unwrap_err();
    // With TLS built in, wss:// gets as far as the TCP connect.
    #[cfg(feature = "tls")]
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    #[cfg(not(feature = "tls"))]
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let err = wsock_blocking::connect("ws://exa mple.com/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err}");
    let err = wsock_blocking::connect("ws://example.com/#fragment").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err}");
}

#[test]
fn dropping_an_open_connection_says_going_away() {
    bounded(20, || {
        let (client, mut server) = pair();
        let dropper = std::thread::spawn(move || drop(client));
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1001, "")))
        );
        assert_eq!(server.recv().unwrap(), None);
        dropper.join().unwrap();
    });
}

#[test]
fn fragment_size_splits_outgoing_messages() {
    bounded(20, || {
        // Uncompressed, so the frames carry the 10,000 bytes themselves.
        let (mut client, mut server) = pair_with(
            |b| {
                let b = b.fragment_size(Some(1000));
                #[cfg(feature = "deflate")]
                let b = b.deflate(wsock_blocking::DeflateConfig::disabled());
                b
            },
            Acceptor::new(),
        );
        client.send(vec![5u8; 10_000]).unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::binary(vec![5u8; 10_000])
        );
        assert_eq!(server.stats().frames_received, 10);
        end(client, server);
    });
}

// A prepared message goes to several connections (with and without
// deflate, with and without context takeover), interleaved with ordinary
// sends, and arrives intact everywhere; the deflate ones get it
// compressed.
#[test]
#[cfg(feature = "deflate")]
fn prepared_messages_reach_every_kind_of_connection() {
    use wsock_blocking::{DeflateConfig, PreparedMessage};
    bounded(20, || {
        let kinds: [fn(ClientBuilder) -> ClientBuilder; 3] = [
            |b| b,
            |b| b.deflate(DeflateConfig::disabled()),
            |b| {
                let mut deflate = DeflateConfig::default();
                deflate.server_no_context_takeover = true;
                b.deflate(deflate)
            },
        ];
        let mut pairs: Vec<_> = kinds
            .into_iter()
            .map(|kind| pair_with(kind, Acceptor::new()))
            .collect();
        let line = |i: usize| format!("{{\"tick\":{i},\"body\":\"{}\"}}", "la ".repeat(200));
        for i in 0..20 {
            let prepared = PreparedMessage::new(Message::text(line(i)));
            for (_, server) in &mut pairs {
                if i % 3 == 1 {
                    server.send(Message::text(line(i))).unwrap();
                } else {
                    server.send_prepared(&prepared).unwrap();
                }
            }
        }
        for (n, (client, _)) in pairs.iter_mut().enumerate() {
            for i in 0..20 {
                assert_eq!(client.recv().unwrap(), Some(Message::text(line(i))));
            }
            let compressed = client.stats().bytes_received < 20 * 600;
            assert_eq!(compressed, n != 1, "client {n}");
        }
        for (client, server) in pairs {
            end(client, server);
        }
    });
}
