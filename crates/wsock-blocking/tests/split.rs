//! Full duplex: a connection split into halves used from two threads.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{bounded, close_code, frame, listener, pair, raw_server, read_frame};
use wsock_blocking::{ClientBuilder, CloseFrame, ErrorKind, Message};

#[test]
fn one_thread_floods_while_the_other_reads_and_the_peer_pings() {
    bounded(60, || {
        const N: u32 = 3000;
        let (client, mut server) = pair();
        // The peer echoes every message and pings every 50 messages.
        let peer = std::thread::spawn(move || {
            let (mut data, mut pings, mut pongs) = (0u32, 0u32, 0u32);
            while data < N {
                match server.recv().unwrap().expect("a message") {
                    message @ Message::Binary(_) => {
                        server.send(message).unwrap();
                        data += 1;
                        if data % 50 == 0 {
                            server
                                .send(Message::ping(data.to_be_bytes().to_vec()))
                                .unwrap();
                            pings += 1;
                        }
                    }
                    Message::Pong(payload) => {
                        assert_eq!(payload.len(), 4);
                        pongs += 1;
                    }
                    other => panic!("peer got {other:?}"),
                }
            }
            server.send(Message::close(1000, "enough")).unwrap();
            loop {
                match server.recv() {
                    Ok(Some(Message::Pong(_))) => pongs += 1,
                    Ok(Some(Message::Close(_))) => {}
                    // The closing handshake is over.
                    Ok(None) => break,
                    Ok(other) => panic!("peer got {other:?} after closing"),
                    Err(e) => panic!("the close failed: {e}"),
                }
            }
            (pings, pongs)
        });

        let (mut reader, mut writer) = client.split().unwrap();
        let flooder = std::thread::spawn(move || {
            for i in 0..N {
                let mut payload = i.to_be_bytes().to_vec();
                payload.resize(1024, 0xee);
                writer.send(payload).unwrap();
            }
            writer
        });
        let mut next = 0u32;
        let mut pings = 0;
        let close = loop {
            match reader.recv().unwrap().expect("a message") {
                Message::Binary(payload) => {
                    assert_eq!(payload[..4], next.to_be_bytes(), "echo out of order");
                    next += 1;
                }
                Message::Ping(_) => pings += 1,
                Message::Close(frame) => break frame,
                other => panic!("client got {other:?}"),
            }
        };
        assert_eq!(next, N);
        assert_eq!(close, Some(CloseFrame::new(1000, "enough")));
        assert_eq!(reader.recv().unwrap(), None);
        let writer = flooder.join().unwrap();
        let (peer_pings, peer_pongs) = peer.join().unwrap();
        assert_eq!(pings, peer_pings);
        assert_eq!(peer_pongs, peer_pings, "every ping was answered");
        assert_eq!(writer.stats().pongs_sent, u64::from(peer_pings));
        assert_eq!(reader.stats().messages_received, u64::from(N));
    });
}

#[test]
fn a_pong_due_while_the_writer_is_busy_is_still_sent() {
    bounded(30, || {
        let (listener, url) = listener();
        let (ping, ping_now) = std::sync::mpsc::channel::<()>();
        let (go, read_now) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            ping_now.recv().unwrap();
            stream
                .write_all(&frame(0x89, b"ping during a big write", None))
                .unwrap();
            read_now.recv().unwrap();
            let mut frames = Vec::new();
            loop {
                let (b0, payload) = read_frame(&mut stream);
                frames.push(b0);
                if b0 == 0x8a {
                    assert_eq!(payload, b"ping during a big write");
                    return frames;
                }
            }
        });
        let client = ClientBuilder::new(&url).connect().unwrap();
        let (mut reader, mut writer) = client.split().unwrap();
        let big = std::thread::spawn(move || {
            // Far more than the socket buffers hold: blocks, holding the
            // write lock, until the peer reads.
            writer.send(vec![7u8; 16 << 20]).unwrap();
            writer
        });
        std::thread::sleep(Duration::from_millis(200));
        ping.send(()).unwrap();
        // The reader takes the ping while the writer is stuck; the pong is
        // queued behind the big frame, and sent by the writer.
        assert_eq!(
            reader.recv().unwrap().expect("a message"),
            Message::ping(b"ping during a big write".to_vec())
        );
        go.send(()).unwrap();
        // Frames never interleave: the pong follows the big frame.
        assert_eq!(peer.join().unwrap(), [0x82, 0x8a]);
        let writer = big.join().unwrap();
        assert_eq!(writer.stats().pongs_sent, 1);
        drop(reader);
        drop(writer);
    });
}

#[test]
fn the_writer_sees_a_close_received_by_the_reader() {
    bounded(20, || {
        let (client, mut server) = pair();
        let (mut reader, mut writer) = client.split().unwrap();
        writer.send("before").unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("before")
        );
        server.send(Message::close(1001, "going")).unwrap();
        assert_eq!(
            reader.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1001, "going")))
        );
        let err = writer.send("after").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyClosed, "{err}");
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1001, "")))
        );
        assert_eq!(reader.recv().unwrap(), None);
        assert_eq!(server.recv().unwrap(), None);
    });
}

#[test]
fn the_writer_starts_the_close_and_the_reader_finishes_it() {
    bounded(20, || {
        let (client, mut server) = pair();
        let (mut reader, mut writer) = client.split().unwrap();
        let peer = std::thread::spawn(move || {
            assert_eq!(
                server.recv().unwrap().expect("a message"),
                Message::Close(Some(CloseFrame::new(1000, "bye")))
            );
            assert_eq!(server.recv().unwrap(), None);
        });
        writer.send(Message::close(1000, "bye")).unwrap();
        assert_eq!(
            reader.recv().unwrap().expect("a message"),
            Message::Close(Some(CloseFrame::new(1000, "")))
        );
        assert_eq!(reader.recv().unwrap(), None);
        assert_eq!(
            writer.send("x").unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );
        peer.join().unwrap();
    });
}

#[test]
fn the_close_timeout_applies_when_the_writer_closed() {
    bounded(20, || {
        let (listener, url) = listener();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            // Never answers the close.
            let stream = raw_server(&listener);
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(stream);
        });
        let client = ClientBuilder::new(&url)
            .close_timeout(Some(Duration::from_millis(300)))
            .connect()
            .unwrap();
        let (mut reader, mut writer) = client.split().unwrap();
        let started = Instant::now();
        let blocked_reader = std::thread::spawn(move || (reader.recv().unwrap_err(), reader));
        // The reader is already blocked in a read when the writer closes.
        std::thread::sleep(Duration::from_millis(50));
        writer.send(Message::close(1000, "")).unwrap();
        let (err, _reader) = blocked_reader.join().unwrap();
        assert_eq!(
            err.kind(),
            ErrorKind::Timeout(wsock_blocking::Timeout::Close),
            "{err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        done.send(()).unwrap();
        peer.join().unwrap();
    });
}

#[test]
fn reunite_gives_the_connection_back() {
    bounded(20, || {
        let (client, mut server) = pair();
        let (reader, writer) = client.split().unwrap();
        let (other_client, other_server) = pair();
        let (other_reader, other_writer) = other_client.split().unwrap();
        assert!(reader.is_pair_of(&writer) && !reader.is_pair_of(&other_writer));

        // Halves of different connections are refused and given back.
        let wsock_blocking::ReuniteError(reader, other_writer) =
            reader.reunite(other_writer).unwrap_err();
        let mut client = reader.reunite(writer).unwrap();
        client.send("whole again").unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("whole again")
        );
        server.send("reply").unwrap();
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("reply")
        );
        let other = other_reader.reunite(other_writer).unwrap();
        common::end(other, other_server);
        common::end(client, server);
    });
}

#[test]
fn dropping_both_halves_says_going_away() {
    bounded(20, || {
        let (listener, url) = listener();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            let (b0, payload) = read_frame(&mut stream);
            assert_eq!((b0 & 0x0f, close_code(&payload)), (0x8, 1001));
            // Answer, then end the transport as a server does.
            stream.write_all(&frame(0x88, &payload[..2], None)).unwrap();
        });
        let client = wsock_blocking::connect(&url).unwrap();
        let (reader, writer) = client.split().unwrap();
        drop(reader);
        // The writer is the last handle: it closes.
        drop(writer);
        peer.join().unwrap();
    });
}

#[test]
fn every_handle_shows_role_protocol_and_state() {
    bounded(20, || {
        let (client, server) = pair();
        let shown = format!("{client:?}");
        assert!(
            shown.starts_with("WebSocket") && shown.contains("Client") && shown.contains("Open"),
            "{shown}"
        );
        let (reader, writer) = client.split().unwrap();
        let (read, write) = (format!("{reader:?}"), format!("{writer:?}"));
        assert!(
            read.starts_with("ReadHalf") && read.contains("Client"),
            "{read}"
        );
        assert!(
            write.starts_with("WriteHalf") && write.contains("Open"),
            "{write}"
        );
        common::end(reader.reunite(writer).unwrap(), server);
    });
}
