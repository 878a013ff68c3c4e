//! Regression tests for core bugs found by fuzzing (`fuzz/`) and review.
//! Each test describes the bug it pins; all are fixed in the core now.

use core::time::Duration;

use wsock_core::{CloseCode, Config, Connection, DataKind, Error, Event, ReceiveMode, Role};

/// A masked client frame with `b0` as its first byte.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 0x7e);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 0x7f);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// Switching to stream mode after a whole frame's header (message mode, so
/// the frame is kept in place) but before any of its payload is processed:
/// the one chunk of the message must say `first: true`.
#[test]
fn stream_switch_before_payload_marks_first_chunk() {
    let frame = client_frame(0x82, b"0123456789");
    let mut server = Connection::new(Role::Server, Config::default());
    server.feed(&frame[..6]); // header only
    assert_eq!(server.poll_event().unwrap(), None);
    server.set_receive_mode(ReceiveMode::Stream);
    server.feed(&frame[6..]);
    let event = server.poll_event().unwrap();
    assert_eq!(
        event,
        Some(Event::Chunk {
            kind: DataKind::Binary,
            data: b"0123456789",
            first: true,
            last: true
        })
    );
}

/// Switching to stream mode after the first fragment of a fragmented
/// message arrived empty (nothing gathered yet): the next chunk is still
/// the message's first.
#[test]
fn stream_switch_after_empty_first_fragment_marks_first_chunk() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.feed(&client_frame(0x01, b"")); // text, FIN = 0, empty
    assert_eq!(server.poll_event().unwrap(), None);
    server.set_receive_mode(ReceiveMode::Stream);
    server.feed(&client_frame(0x80, b"hi"));
    assert_eq!(
        server.poll_event().unwrap(),
        Some(Event::Chunk {
            kind: DataKind::Text,
            data: b"hi",
            first: true,
            last: true
        })
    );
}

/// A server whose close timed out: `poll_event` reported
/// `Error::CloseTimeout`, so the connection is over. Found by the
/// `connection_events` fuzz target: a late frame from the peer is still
/// decoded and handed out as an event after that error.
#[test]
fn no_events_after_close_timeout_error() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.close(CloseCode::NORMAL, "").unwrap();
    server.handle_timeout(Duration::ZERO);
    server.handle_timeout(Duration::from_secs(6));
    assert_eq!(server.poll_event(), Err(Error::CloseTimeout));
    server.feed(&client_frame(0x81, b"late"));
    assert_eq!(server.poll_event(), Ok(None));
}

/// Same cause: after `Error::CloseTimeout`, the transport's end is
/// reported as a second error (`AbnormalClose`), which also discards the
/// output.
#[test]
fn no_second_error_after_close_timeout() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.close(CloseCode::NORMAL, "").unwrap();
    server.handle_timeout(Duration::ZERO);
    server.handle_timeout(Duration::from_secs(6));
    assert_eq!(server.poll_event(), Err(Error::CloseTimeout));
    server.receive_eof();
    assert_eq!(server.poll_event(), Ok(None));
}

/// Found by `frame_decoder` in CI: with the output over
/// `write_buffer_size`, the pong owed to the newest ping is held back, and
/// `poll_transmit` (documented to move all pending output) moved only the
/// backlog, leaving an older pong as the last one sent.
#[test]
fn poll_transmit_includes_the_held_back_pong() {
    let mut config = Config::default();
    config.write_buffer_size = 16;
    let mut server = Connection::new(Role::Server, config);
    server.send_binary(&[0; 64]).unwrap();
    server.feed(&client_frame(0x89, b"old"));
    server.feed(&client_frame(0x89, b"new"));
    while let Ok(Some(_)) = server.poll_event() {}
    let mut wire = Vec::new();
    server.poll_transmit(&mut wire);
    assert!(wire.ends_with(&[0x8a, 3, b'n', b'e', b'w']), "{wire:?}");
    assert!(!server.wants_write());
}
