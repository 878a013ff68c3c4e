//! One message as a stream of bytes: `recv_stream` and `send_stream`.

mod common;

use std::io::{ErrorKind as IoKind, Read, Write};
use std::time::Duration;

use common::{bounded, close_code, end, frame, listener, pair, pair_with, raw_server, read_frame};
use wsock_blocking::{Acceptor, CloseCode, CloseFrame, DataKind, ErrorKind, Message};

/// Deterministic bytes: `pattern(n)[i]` depends only on `i`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_message_larger_than_the_buffers_streams_in_pieces() {
    bounded(30, || {
        // Uncompressed: inflated pieces are bounded by the inflate step
        // instead (tested in the core).
        let (mut client, mut server) = pair_with(
            |b| {
                let b = b.read_buffer_size(1024);
                #[cfg(feature = "deflate")]
                let b = b.deflate(wsock_blocking::DeflateConfig::disabled());
                b
            },
            Acceptor::new(),
        );
        let payload = pattern(1 << 20);
        let sender = std::thread::spawn(move || {
            server.send(payload).unwrap();
            server.send("next").unwrap();
            server
        });
        let mut reader = client.recv_stream().unwrap().expect("a message");
        assert_eq!(reader.kind(), DataKind::Binary);
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut largest = 0;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            largest = largest.max(n);
            received.extend_from_slice(&buf[..n]);
        }
        assert!(reader.is_complete());
        drop(reader);
        assert_eq!(received, pattern(1 << 20));
        // Pieces are bounded by the read size (the read buffer size, grown
        // to at most 64 KiB while reads fill it), not by the message.
        assert!(largest <= 64 * 1024, "a piece of {largest} bytes");
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("next")
        );
        end(client, sender.join().unwrap());
    });
}

#[test]
fn small_reads_from_a_stream() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        server
            .send(Message::text("streamed text, read three bytes at a time"))
            .unwrap();
        let mut reader = client.recv_stream().unwrap().expect("a message");
        assert_eq!(reader.kind(), DataKind::Text);
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"streamed text, read three bytes at a time");
        // Reading past the end keeps returning 0.
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
        drop(reader);
        end(client, server);
    });
}

#[test]
fn send_stream_emits_fragments() {
    bounded(30, || {
        let (mut client, mut server) = pair_with(|b| b.fragment_size(Some(4096)), Acceptor::new());
        let text = "0123456789abcdé€𝄞".repeat(30_000);
        let expected = text.clone();
        let writer = std::thread::spawn(move || {
            let mut w = client.send_stream(DataKind::Text).unwrap();
            // Odd-sized writes split code points between fragments.
            for piece in text.as_bytes().chunks(777) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
            client.send("after").unwrap();
            client
        });
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text(expected.clone())
        );
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("after")
        );
        let frames = server.stats().frames_received;
        assert_eq!(frames, expected.len().div_ceil(4096) as u64 + 1);
        end(writer.join().unwrap(), server);
    });
}

#[test]
fn one_big_write_makes_exact_fragments() {
    bounded(20, || {
        let (mut client, mut server) = pair_with(|b| b.fragment_size(Some(1000)), Acceptor::new());
        let mut w = client.send_stream(DataKind::Binary).unwrap();
        w.write_all(&pattern(10_000)).unwrap();
        w.finish().unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::binary(pattern(10_000))
        );
        assert_eq!(server.stats().frames_received, 10);
        end(client, server);
    });
}

// A writer dropped before any write sends nothing; one dropped after a
// write and before `finish` closes with 1011 (as in wsock-tokio), so the
// peer never takes half a message for a whole one.
#[test]
fn dropping_the_writer_before_finish() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        drop(client.send_stream(DataKind::Text).unwrap());
        client.send(Message::text("next")).unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("next")
        );
        {
            let mut w = client.send_stream(DataKind::Binary).unwrap();
            w.write_all(b"abc").unwrap();
            w.flush().unwrap();
            w.write_all(b"def").unwrap();
        }
        match server.recv().unwrap() {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::INTERNAL_ERROR);
            }
            other => panic!("expected a close, got {other:?}"),
        }
    });
}

#[test]
fn invalid_text_is_refused() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        let mut w = client.send_stream(DataKind::Text).unwrap();
        w.write_all("é".as_bytes()).unwrap();
        // Not UTF-8: refused by the write that brings it, though it would
        // only be gathered, and nothing of it is taken.
        let err = w.write(&[b'x', 0xff]).unwrap_err();
        assert_eq!(err.kind(), IoKind::InvalidInput, "{err}");
        // The message goes on without it and ends validly.
        w.write_all(b"!").unwrap();
        w.finish().unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("é!")
        );
        end(client, server);
    });
}

#[test]
fn text_ending_inside_a_code_point_cannot_be_finished() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        let mut w = client.send_stream(DataKind::Text).unwrap();
        w.write_all(&"é".as_bytes()[..1]).unwrap();
        assert_eq!(w.finish().unwrap_err().kind(), ErrorKind::InvalidInput);
        match server.recv().unwrap().expect("a message") {
            Message::Close(Some(frame)) => assert_eq!(frame.code.as_u16(), 1011),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            client.send("x").unwrap_err().kind(),
            ErrorKind::AlreadyClosed
        );
        end(client, server);
    });
}

#[test]
fn split_code_points_are_fine() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        let mut w = client.send_stream(DataKind::Text).unwrap();
        for byte in "é€𝄞".as_bytes() {
            w.write_all(&[*byte]).unwrap();
            w.flush().unwrap();
        }
        w.finish().unwrap();
        assert_eq!(
            server.recv().unwrap().expect("a message"),
            Message::text("é€𝄞")
        );
        end(client, server);
    });
}

#[test]
fn dropping_a_reader_skips_the_rest_of_its_message() {
    bounded(20, || {
        let (mut client, mut server) = pair_with(|b| b.read_buffer_size(512), Acceptor::new());
        server.write(pattern(100_000)).unwrap();
        server.write(Message::ping(b"p".to_vec())).unwrap();
        server.send("second").unwrap();
        {
            let mut reader = client.recv_stream().unwrap().expect("a message");
            let mut buf = [0u8; 10];
            reader.read_exact(&mut buf).unwrap();
            assert_eq!(buf.to_vec(), pattern(10));
        }
        // The rest of the first message is gone; the ping and the next
        // message are not.
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::ping(b"p".to_vec())
        );
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::text("second")
        );
        // Again with read_stream after the drop.
        server.send(pattern(50_000)).unwrap();
        server.send(b"third".to_vec()).unwrap();
        {
            let mut reader = client.recv_stream().unwrap().expect("a message");
            let mut buf = [0u8; 100];
            reader.read_exact(&mut buf).unwrap();
        }
        let mut reader = client.recv_stream().unwrap().expect("a message");
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"third");
        drop(reader);
        end(client, server);
    });
}

#[test]
fn pings_between_fragments_are_answered_while_streaming() {
    bounded(20, || {
        let (listener, url) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            stream.write_all(&frame(0x02, b"first,", None)).unwrap();
            stream.write_all(&frame(0x89, b"ping!", None)).unwrap();
            rx.recv().unwrap();
            // The pong came before the message ended.
            let (b0, payload) = read_frame(&mut stream);
            assert_eq!((b0, payload.as_slice()), (0x8a, &b"ping!"[..]));
            stream.write_all(&frame(0x80, b"last", None)).unwrap();
            stream
        });
        let mut client = wsock_blocking::connect(&url).unwrap();
        // Skip pings before the message starts.
        let mut reader = client.recv_stream().unwrap().expect("a message");
        let mut buf = [0u8; 6];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"first,");
        // Reading on processes the ping (and sends the pong) while waiting.
        tx.send(()).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"last");
        drop(reader);
        drop(peer.join().unwrap());
        assert_eq!(client.stats().pongs_sent, 1);
    });
}

#[test]
fn a_close_in_the_middle_of_a_streamed_message() {
    bounded(20, || {
        let (listener, url) = listener();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            stream.write_all(&frame(0x02, b"partial", None)).unwrap();
            stream.write_all(&frame(0x88, &[0x03, 0xe9], None)).unwrap();
            let (b0, payload) = read_frame(&mut stream);
            assert_eq!((b0, close_code(&payload)), (0x88, 1001));
            // The server ends the transport.
        });
        let mut client = wsock_blocking::connect(&url).unwrap();
        let mut reader = client.recv_stream().unwrap().expect("a message");
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), IoKind::UnexpectedEof, "{err}");
        assert_eq!(out, b"partial");
        drop(reader);
        // The close comes from the next `recv`, as in wsock-tokio.
        assert_eq!(
            client.recv().unwrap(),
            Some(Message::Close(Some(CloseFrame::new(1001, ""))))
        );
        peer.join().unwrap();
        assert_eq!(client.recv().unwrap(), None);
    });
}

#[test]
fn read_stream_reports_the_peers_close() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        let server = std::thread::spawn(move || {
            server.send(Message::pong(b"skipped".to_vec())).unwrap();
            server.send(Message::close(4000, "done")).unwrap();
            assert!(matches!(
                server.recv().unwrap().expect("a message"),
                Message::Close(_)
            ));
            assert_eq!(server.recv().unwrap(), None);
        });
        // Finishes the closing handshake (the server ends the transport).
        assert!(client.recv_stream().unwrap().is_none());
        assert_eq!(client.state(), wsock_blocking::State::Closed);
        assert!(client.recv_stream().unwrap().is_none());
        server.join().unwrap();
    });
}

#[test]
fn a_stream_read_times_out_and_resumes() {
    bounded(20, || {
        let (listener, url) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            stream.write_all(&frame(0x01, b"hello ", None)).unwrap();
            rx.recv().unwrap();
            stream.write_all(&frame(0x80, b"world", None)).unwrap();
            stream
        });
        let mut client = wsock_blocking::ClientBuilder::new(&url)
            .read_timeout(Some(Duration::from_millis(150)))
            .connect()
            .unwrap();
        let mut reader = client.recv_stream().unwrap().expect("a message");
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).unwrap(), 6);
        let err = reader.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), IoKind::TimedOut, "{err}");
        tx.send(()).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"world");
        drop(reader);
        drop(peer.join().unwrap());
    });
}

#[test]
fn a_whole_message_read_after_a_stream_read_timed_out() {
    bounded(20, || {
        let (listener, url) = listener();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut stream = raw_server(&listener);
            // Only the header of a 10-byte message: streaming starts inside
            // the connection, with nothing to hand out yet.
            let full = frame(0x82, b"0123456789", None);
            stream.write_all(&full[..2]).unwrap();
            rx.recv().unwrap();
            stream.write_all(&full[2..]).unwrap();
            stream
        });
        let mut client = wsock_blocking::ClientBuilder::new(&url)
            .read_timeout(Some(Duration::from_millis(150)))
            .connect()
            .unwrap();
        assert!(matches!(
            client.recv_stream().unwrap_err().kind(),
            ErrorKind::Timeout(_)
        ));
        tx.send(()).unwrap();
        // The message is not lost: a whole-message read gathers it.
        assert_eq!(
            client.recv().unwrap().expect("a message"),
            Message::binary(b"0123456789".to_vec())
        );
        drop(peer.join().unwrap());
    });
}

// A close that arrives before any message: `recv_stream` has no message
// (`None`) and the next `recv` returns the close, as in wsock-tokio.
#[test]
fn a_close_met_by_recv_stream_is_returned_by_the_next_recv() {
    bounded(20, || {
        let (mut client, mut server) = pair();
        server.send(Message::close(4000, "bye")).unwrap();
        assert!(client.recv_stream().unwrap().is_none());
        assert_eq!(
            client.recv().unwrap(),
            Some(Message::Close(Some(CloseFrame::new(4000, "bye"))))
        );
        assert_eq!(client.recv().unwrap(), None);
        assert_eq!(
            server.recv().unwrap(),
            Some(Message::Close(Some(CloseFrame::new(4000, ""))))
        );
        assert_eq!(server.recv().unwrap(), None);
    });
}
