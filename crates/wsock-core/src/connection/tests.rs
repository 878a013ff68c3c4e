//! Connection tests; each names the RFC 6455 section it checks.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::close::CloseFrame;
use crate::error::{CapacityError, Limit, ProtocolError};
use crate::frame::FrameHeader;
use crate::mask::apply_mask;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Chunk(DataKind, Vec<u8>, bool, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseFrame>),
    Err(Error),
}

fn own(event: Event<'_>) -> Ev {
    match event {
        Event::Text(t) => Ev::Text(t.to_string()),
        Event::Binary(b) => Ev::Binary(b.to_vec()),
        Event::Chunk {
            kind,
            data,
            first,
            last,
        } => Ev::Chunk(kind, data.to_vec(), first, last),
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong(p) => Ev::Pong(p.to_vec()),
        Event::Close(c) => Ev::Close(c),
    }
}

/// Every event available now; an error ends the list. Each whole data
/// message is also taken owned, which must give the same message.
fn drain(conn: &mut Connection) -> Vec<Ev> {
    let mut events = vec![];
    loop {
        match conn.poll_event() {
            Ok(Some(e)) => {
                let event = own(e);
                let taken = conn.take_message().map(|m| match m {
                    crate::Message::Text(t) => Ev::Text(t),
                    crate::Message::Binary(b) => Ev::Binary(b),
                    other => panic!("took {other:?}"),
                });
                match &event {
                    Ev::Text(_) | Ev::Binary(_) => assert_eq!(taken.as_ref(), Some(&event)),
                    _ => assert_eq!(taken, None),
                }
                assert_eq!(conn.take_message(), None, "taken twice");
                events.push(event);
            }
            Ok(None) => return events,
            Err(e) => {
                events.push(Ev::Err(e));
                return events;
            }
        }
    }
}

fn keys() -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(37);
        [n, n ^ 0x5a, n.wrapping_mul(3), 0xa5]
    }
}

fn client() -> Connection {
    Connection::with_mask_source(Role::Client, Config::default(), keys())
}

fn server() -> Connection {
    Connection::with_mask_source(Role::Server, Config::default(), keys())
}

fn server_with(config: Config) -> Connection {
    Connection::with_mask_source(Role::Server, config, keys())
}

fn take_output(conn: &mut Connection) -> Vec<u8> {
    let mut out = vec![];
    conn.poll_transmit(&mut out);
    out
}

/// A raw frame as a client would send it (masked with a fixed key).
fn raw(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw_masked(b0, payload, Some([1, 2, 3, 4]))
}

fn raw_masked(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        opcode: OpCode::from_u8(b0 & 0xf).unwrap_or(OpCode::Binary),
        mask,
        payload_len: payload.len() as u64,
    };
    let mut out = vec![];
    header.encode(&mut out);
    out[0] = b0;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The close frame written to `output`, parsed: `Some(None)` for an
/// empty close body.
#[allow(clippy::option_option)]
fn sent_close(output: &[u8]) -> Option<Option<CloseFrame>> {
    let mut reader = client();
    reader.feed(output);
    drain(&mut reader).into_iter().find_map(|e| match e {
        Ev::Close(c) => Some(c),
        _ => None,
    })
}

fn fails_with(bytes: &[u8], code: CloseCode) {
    let mut s = server();
    s.feed(bytes);
    let events = drain(&mut s);
    let Some(Ev::Err(err)) = events.last() else {
        panic!("no error in {events:?}")
    };
    assert_eq!(err.close_code(), Some(code), "{err}");
    assert_eq!(s.state(), State::Closed);
    let out = take_output(&mut s);
    assert_eq!(sent_close(&out).flatten().map(|f| f.code), Some(code));
    assert!(s.should_close_transport());
}

#[test]
fn text_and_binary_roundtrip_both_ways() {
    let mut c = client();
    let mut s = server();
    c.send_text("hello").unwrap();
    c.send_binary(&[0, 1, 2, 255]).unwrap();
    s.feed(&take_output(&mut c));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Text("hello".into()), Ev::Binary(vec![0, 1, 2, 255])]
    );

    s.send_text("world").unwrap();
    let out = take_output(&mut s);
    assert_eq!(
        out,
        [0x81, 5, b'w', b'o', b'r', b'l', b'd'],
        "§5.7: server frames are unmasked"
    );
    c.feed(&out);
    assert_eq!(drain(&mut c), vec![Ev::Text("world".into())]);
    assert_eq!(s.stats().messages_received, 2);
    assert_eq!(c.stats().messages_sent, 2);
}

// §5.7: the RFC's example frames, received by a client.
#[test]
fn rfc_example_frames() {
    let mut c = client();
    c.feed(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    c.feed(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    c.feed(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        drain(&mut c),
        vec![
            Ev::Text("Hello".into()),
            Ev::Text("Hello".into()),
            Ev::Ping(b"Hello".to_vec())
        ]
    );
    // The automatic pong is masked and carries the same payload (§5.5.3).
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(drain(&mut s), vec![Ev::Pong(b"Hello".to_vec())]);
    // And the masked example decodes on a server.
    let mut s = server();
    s.feed(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    assert_eq!(drain(&mut s), vec![Ev::Text("Hello".into())]);
}

// §5.4: control frames may be injected in the middle of a fragmented message.
#[test]
fn fragments_with_interleaved_ping() {
    let mut s = server();
    s.feed(&raw(0x01, b"Hel"));
    s.feed(&raw(0x89, b"p"));
    s.feed(&raw(0x00, b"l"));
    s.feed(&raw(0x80, b"o"));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Ping(b"p".to_vec()), Ev::Text("Hello".into())]
    );
    assert_eq!(take_output(&mut s), [0x8a, 1, b'p']);
}

// §5.4: continuation without a start, and a new message inside one.
#[test]
fn fragmentation_violations() {
    fails_with(&raw(0x80, b"x"), CloseCode::PROTOCOL_ERROR);
    let mut bytes = raw(0x01, b"a");
    bytes.extend(raw(0x81, b"b"));
    fails_with(&bytes, CloseCode::PROTOCOL_ERROR);
}

// §5.2: RSV bits without an extension, reserved opcodes; §5.5 control rules.
#[test]
fn header_violations() {
    fails_with(&raw(0xc1, b"x"), CloseCode::PROTOCOL_ERROR);
    fails_with(&raw(0x83, b""), CloseCode::PROTOCOL_ERROR);
    fails_with(&raw(0x8b, b""), CloseCode::PROTOCOL_ERROR);
    fails_with(&raw(0x09, b""), CloseCode::PROTOCOL_ERROR);
    fails_with(&raw(0x89, &[0; 126]), CloseCode::PROTOCOL_ERROR);
}

// §5.1: a server closes on an unmasked frame, a client on a masked one.
#[test]
fn masking_rules() {
    fails_with(&raw_masked(0x81, b"x", None), CloseCode::PROTOCOL_ERROR);
    let mut c = client();
    c.feed(&raw(0x81, b"x"));
    assert_eq!(
        drain(&mut c),
        vec![Ev::Err(ProtocolError::MaskedFrame.into())]
    );
}

// §8.1: invalid UTF-8 closes with 1007, whole or fragmented.
#[test]
fn invalid_utf8() {
    fails_with(&raw(0x81, &[0xce, 0xba, 0xff]), CloseCode::INVALID_PAYLOAD);
    let mut bytes = raw(0x01, &[0xce]);
    bytes.extend(raw(0x80, &[0x41]));
    fails_with(&bytes, CloseCode::INVALID_PAYLOAD);
    // Incomplete at the end of the message.
    fails_with(&raw(0x81, &[b'a', 0xe2, 0x82]), CloseCode::INVALID_PAYLOAD);
}

// §8.1 fail fast: the error comes when the bad bytes arrive, before the
// frame (or the message) is complete.
#[test]
fn invalid_utf8_fails_fast() {
    let frame = raw(0x81, &[b'a', b'b', 0xf4, 0x90, 0x80, 0x80, b'c', b'd']);
    let mut s = server();
    s.feed(&frame[..6 + 2]);
    assert_eq!(drain(&mut s), vec![]);
    s.feed(&frame[8..10]);
    assert_eq!(
        drain(&mut s),
        vec![Ev::Err(ProtocolError::InvalidUtf8.into())]
    );

    let mut s = server();
    s.feed(&raw(0x01, b"ok"));
    s.feed(&raw(0x00, &[0xed, 0xa0, 0x80]));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Err(ProtocolError::InvalidUtf8.into())]
    );
}

// §7.4.1: invalid close codes and payloads.
#[test]
fn invalid_close_frames() {
    fails_with(&raw(0x88, &[3]), CloseCode::PROTOCOL_ERROR);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        fails_with(&raw(0x88, &code.to_be_bytes()), CloseCode::PROTOCOL_ERROR);
    }
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.push(0xff);
    fails_with(&raw(0x88, &payload), CloseCode::INVALID_PAYLOAD);
}

// §5.5.1, §7.1.1: peer-initiated close is echoed once; the server then
// closes the transport first.
#[test]
fn peer_initiated_close() {
    let mut s = server();
    let mut frame = 4000u16.to_be_bytes().to_vec();
    frame.extend_from_slice(b"bye");
    s.feed(&raw(0x88, &frame));
    s.feed(&raw(0x81, b"ignored after close"));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Close(Some(CloseFrame::new(4000, "bye")))]
    );
    assert_eq!(s.state(), State::Closed);
    assert!(!s.should_close_transport(), "the reply is not written yet");
    let out = take_output(&mut s);
    assert_eq!(sent_close(&out), Some(Some(CloseFrame::new(4000, ""))));
    assert!(s.should_close_transport());
    assert_eq!(s.send_text("late"), Err(Error::AlreadyClosed));
    assert_eq!(s.close(CloseCode::NORMAL, ""), Err(Error::AlreadyClosed));

    // An empty close is answered with an empty close.
    let mut s = server();
    s.feed(&raw(0x88, &[]));
    assert_eq!(drain(&mut s), vec![Ev::Close(None)]);
    assert_eq!(take_output(&mut s), [0x88, 0]);
}

// §7.1.1: a client that completed the handshake waits for the server to
// end the transport, up to the close timeout.
#[test]
fn client_waits_for_server_eof() {
    let mut c = client();
    c.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(c.state(), State::CloseSent);
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Close(Some(CloseFrame::new(1000, "done")))]
    );
    c.feed(&take_output(&mut s));
    assert!(s.should_close_transport());
    assert_eq!(
        drain(&mut c),
        vec![Ev::Close(Some(CloseFrame::new(1000, "")))]
    );
    assert_eq!(c.state(), State::Closed);
    assert!(!c.should_close_transport());
    assert!(c.wants_read());
    c.receive_eof();
    assert!(c.should_close_transport());
    assert_eq!(drain(&mut c), vec![]);

    // Without the server's end of stream, the close timeout ends it.
    let mut c = client();
    c.feed(&[0x88, 0]);
    drain(&mut c);
    take_output(&mut c);
    assert_eq!(
        c.poll_timeout(),
        Some(Duration::ZERO),
        "timer needs anchoring"
    );
    c.handle_timeout(Duration::from_secs(1));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(6)));
    c.handle_timeout(Duration::from_secs(6));
    assert!(c.should_close_transport());
}

// "Nothing is lost": messages queued before close precede the close frame.
#[test]
fn close_after_queued_messages() {
    let mut c = client();
    for i in 0..100 {
        c.send_text(&i.to_string()).unwrap();
    }
    c.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.send_text("after"), Err(Error::AlreadyClosed));
    let mut s = server();
    s.feed(&take_output(&mut c));
    let events = drain(&mut s);
    assert_eq!(events.len(), 101);
    for (i, e) in events.iter().take(100).enumerate() {
        assert_eq!(e, &Ev::Text(i.to_string()));
    }
    assert_eq!(events[100], Ev::Close(Some(CloseFrame::new(1000, ""))));
}

// Messages that arrive after we sent close are still delivered (§5.5.1).
#[test]
fn messages_after_our_close_still_arrive() {
    let mut s = server();
    s.close(CloseCode::GOING_AWAY, "restart").unwrap();
    s.feed(&raw(0x81, b"in flight"));
    s.feed(&raw(0x88, &1001u16.to_be_bytes()));
    assert_eq!(
        drain(&mut s),
        vec![
            Ev::Text("in flight".into()),
            Ev::Close(Some(CloseFrame::new(1001, "")))
        ]
    );
    let out = take_output(&mut s);
    assert_eq!(
        sent_close(&out),
        Some(Some(CloseFrame::new(1001, "restart")))
    );
    assert!(s.should_close_transport());
}

#[test]
fn close_timeout_reports_error() {
    let mut s = server();
    s.handle_timeout(Duration::from_secs(10));
    s.close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut s);
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(10)));
    s.handle_timeout(Duration::from_secs(11));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(16)));
    assert_eq!(s.pending_error(), None);
    s.handle_timeout(Duration::from_secs(16));
    assert_eq!(s.pending_error(), Some(&Error::CloseTimeout));
    assert_eq!(drain(&mut s), vec![Ev::Err(Error::CloseTimeout)]);
    assert!(s.should_close_transport());
}

// §7.1.5: the transport ending without a close frame is 1006.
#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server();
    s.feed(&raw(0x81, b"last"));
    let partial = raw(0x82, b"cut short");
    s.feed(&partial[..8]);
    s.receive_eof();
    assert_eq!(
        drain(&mut s),
        vec![Ev::Text("last".into()), Ev::Err(Error::AbnormalClose)]
    );
    assert_eq!(Error::AbnormalClose.close_code(), Some(CloseCode::ABNORMAL));
    assert!(s.should_close_transport());
    assert!(
        take_output(&mut s).is_empty(),
        "no close frame on a dead transport"
    );
}

// Limits are checked from the header, before any payload is buffered.
#[test]
fn limits_close_with_1009() {
    let mut config = Config::default();
    config.max_frame_size = 100;
    config.max_message_size = 150;
    let mut s = server_with(config.clone());
    // Only the header of a 1 MiB frame arrives: rejected already.
    s.feed(&[0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
    let events = drain(&mut s);
    assert!(
        matches!(
            &events[..],
            [Ev::Err(Error::Capacity(CapacityError {
                limit: Limit::FrameSize,
                size: 0x10_0000,
                max: 100
            }))]
        ),
        "{events:?}"
    );
    assert_eq!(
        sent_close(&take_output(&mut s)).flatten().map(|f| f.code),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    let mut s = server_with(config);
    s.feed(&raw(0x02, &[0; 100]));
    s.feed(&raw(0x80, &[0; 51]));
    let events = drain(&mut s);
    assert!(
        matches!(
            &events[..],
            [Ev::Err(Error::Capacity(CapacityError {
                limit: Limit::MessageSize,
                ..
            }))]
        ),
        "{events:?}"
    );
}

// Stream mode hands out pieces as they arrive, never buffering a message.
#[test]
fn stream_mode_chunks() {
    let mut s = server();
    s.set_receive_mode(ReceiveMode::Stream);
    let frame = raw(0x02, &[7; 10]);
    s.feed(&frame[..6 + 4]);
    assert_eq!(
        drain(&mut s),
        vec![Ev::Chunk(DataKind::Binary, vec![7; 4], true, false)]
    );
    s.feed(&frame[10..]);
    s.feed(&raw(0x80, &[8; 3]));
    assert_eq!(
        drain(&mut s),
        vec![
            Ev::Chunk(DataKind::Binary, vec![7; 6], false, false),
            Ev::Chunk(DataKind::Binary, vec![8; 3], false, true),
        ]
    );
    // An empty message is one empty, first-and-last chunk.
    s.feed(&raw(0x81, b""));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Chunk(DataKind::Text, vec![], true, true)]
    );
}

// Switching to stream mode mid-message hands out what was gathered first.
#[test]
fn switch_to_stream_mid_message() {
    let mut s = server();
    s.feed(&raw(0x01, b"ab"));
    assert_eq!(drain(&mut s), vec![]);
    s.set_receive_mode(ReceiveMode::Stream);
    s.feed(&raw(0x80, b"cd"));
    assert_eq!(
        drain(&mut s),
        vec![
            Ev::Chunk(DataKind::Text, b"ab".to_vec(), true, false),
            Ev::Chunk(DataKind::Text, b"cd".to_vec(), false, true)
        ]
    );
    // A single frame half-received in place.
    let mut s = server();
    let frame = raw(0x82, b"0123456789");
    s.feed(&frame[..10]);
    assert_eq!(drain(&mut s), vec![]);
    s.set_receive_mode(ReceiveMode::Stream);
    s.feed(&frame[10..]);
    assert_eq!(
        drain(&mut s),
        vec![
            Ev::Chunk(DataKind::Binary, b"0123".to_vec(), true, false),
            Ev::Chunk(DataKind::Binary, b"456789".to_vec(), false, true)
        ]
    );
}

#[test]
fn fragmented_sending() {
    let mut c = client();
    c.send_fragment(DataKind::Text, "κό".as_bytes(), false)
        .unwrap();
    c.ping(b"mid").unwrap();
    assert_eq!(
        c.send_text("x"),
        Err(Error::InvalidState("a fragmented message is being sent"))
    );
    assert!(c.send_fragment(DataKind::Binary, b"x", false).is_err());
    // A code point split across pieces is fine.
    let bytes = "σμε".as_bytes();
    c.send_fragment(DataKind::Text, &bytes[..3], false).unwrap();
    c.send_fragment(DataKind::Text, &bytes[3..], true).unwrap();
    assert!(c.send_fragment(DataKind::Text, &[0xff], true).is_err());
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Ping(b"mid".to_vec()), Ev::Text("κόσμε".into())]
    );
}

#[test]
fn automatic_fragmentation() {
    let mut config = Config::default();
    config.fragment_size = Some(4);
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    c.send_binary(&[9; 10]).unwrap();
    assert_eq!(c.stats().frames_sent, 3);
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(drain(&mut s), vec![Ev::Binary(vec![9; 10])]);
    assert_eq!(s.stats().frames_received, 3);
}

#[test]
fn outgoing_close_validation() {
    let mut c = client();
    assert!(c.close(CloseCode::ABNORMAL, "").is_err());
    assert!(c.close(CloseCode::NORMAL, &"x".repeat(124)).is_err());
    assert!(c.ping(&[0; 126]).is_err());
    c.close(CloseCode(3001), "app").unwrap();
}

// §5.5.3 allows answering only the most recent ping: a peer that floods
// pings and never reads cannot grow our output past the write buffer.
#[test]
fn ping_flood_is_coalesced() {
    let mut config = Config::default();
    config.write_buffer_size = 1024;
    let mut s = server_with(config);
    for i in 0..100_000u32 {
        s.feed(&raw(0x89, &i.to_be_bytes()));
        while let Ok(Some(_)) = s.poll_event() {}
    }
    assert!(
        s.buffered_output() <= 1024 + 2 + 125,
        "{}",
        s.buffered_output()
    );
    assert_eq!(s.stats().pings_received, 100_000);
    // Writing out everything ends with the answer to the latest ping.
    let out = take_output(&mut s);
    assert!(out.ends_with(&[0x8a, 4, 0, 1, 0x86, 0x9f]));
    assert!(take_output(&mut s).is_empty());
}

// Keepalive: a ping after an idle interval, failure when nothing answers.
#[test]
fn keepalive() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    assert_eq!(c.poll_timeout(), Some(Duration::ZERO));
    c.handle_timeout(Duration::from_secs(100));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(110)));
    // Traffic in the interval postpones the ping.
    c.feed(&[0x8a, 0]);
    drain(&mut c);
    c.handle_timeout(Duration::from_secs(110));
    assert!(!c.wants_write());
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(120)));
    // Idle: a ping goes out; the pong keeps the connection.
    c.handle_timeout(Duration::from_secs(120));
    assert_eq!(c.stats().pings_sent, 1);
    take_output(&mut c);
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(125)));
    c.feed(&[0x8a, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Pong(vec![])]);
    c.handle_timeout(Duration::from_secs(125));
    assert_eq!(c.state(), State::Open);
    // Idle again, and this time nothing answers.
    c.handle_timeout(Duration::from_secs(135));
    assert_eq!(c.stats().pings_sent, 2);
    c.handle_timeout(Duration::from_secs(140));
    assert_eq!(c.pending_error(), Some(&Error::KeepaliveTimeout));
    assert_eq!(drain(&mut c), vec![Ev::Err(Error::KeepaliveTimeout)]);
    assert_eq!(c.pending_error(), None);
    assert!(c.should_close_transport());
}

// Keepalive: once the peer answers, the next ping follows an interval
// after the answer, however long the pong timeout is.
#[test]
fn keepalive_cadence_follows_the_answer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(30);
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    c.handle_timeout(Duration::ZERO);
    c.handle_timeout(Duration::from_secs(10));
    assert_eq!(c.stats().pings_sent, 1);
    take_output(&mut c);
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(40)));
    // The pong arrives a second later.
    c.feed(&[0x8a, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Pong(vec![])]);
    c.handle_timeout(Duration::from_secs(11));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(21)));
    c.handle_timeout(Duration::from_secs(21));
    assert_eq!(c.stats().pings_sent, 2);
    // Silence after the second ping still fails at its pong deadline.
    c.handle_timeout(Duration::from_secs(50));
    assert_eq!(c.state(), State::Open);
    c.handle_timeout(Duration::from_secs(51));
    assert_eq!(drain(&mut c), vec![Ev::Err(Error::KeepaliveTimeout)]);
}

#[test]
fn auto_pong_off() {
    let mut config = Config::default();
    config.auto_pong = false;
    let mut s = server_with(config);
    s.feed(&raw(0x89, b"x"));
    assert_eq!(drain(&mut s), vec![Ev::Ping(b"x".to_vec())]);
    assert!(!s.wants_write());
    s.pong(b"x").unwrap();
    assert!(s.wants_write());
}

// Reading straight into the connection's buffer; the buffer offers room
// for a whole in-place frame.
#[test]
fn input_buffer_reads() {
    let mut s = server();
    let frame = raw(0x82, &vec![5; 100_000]);
    let mut fed = 0;
    while fed < frame.len() {
        let buf = s.input_buffer();
        let n = buf.len().min(frame.len() - fed);
        buf[..n].copy_from_slice(&frame[fed..fed + n]);
        s.commit_input(n);
        fed += n;
        if fed < frame.len() {
            assert_eq!(drain(&mut s), vec![]);
        }
    }
    assert_eq!(drain(&mut s), vec![Ev::Binary(vec![5; 100_000])]);
    assert_eq!(s.stats().bytes_received, frame.len() as u64);
}

// Reads that fill the offered buffer make the next offer larger (up to
// 64 KiB); short reads bring it back; idle shrinking frees the memory.
#[test]
fn read_offer_follows_the_load() {
    let mut s = server();
    let base = s.config().read_buffer_size;
    let small = raw(0x82, &[7; 10]);
    let stream: Vec<u8> = small
        .iter()
        .copied()
        .cycle()
        .take(small.len() * 40_000)
        .collect();
    let mut fed = 0;
    let mut offers = Vec::new();
    for _ in 0..8 {
        let buf = s.input_buffer();
        offers.push(buf.len());
        let n = buf.len();
        buf.copy_from_slice(&stream[fed..fed + n]);
        fed += n;
        s.commit_input(n);
        drain(&mut s);
    }
    assert_eq!(offers[0], base);
    assert!(offers[1] >= 2 * base, "{offers:?}");
    assert!(offers.iter().all(|&o| o <= 64 * 1024 + base), "{offers:?}");
    assert!(offers[7] >= 64 * 1024, "{offers:?}");
    // Short reads: the offer falls back.
    for _ in 0..8 {
        let buf = s.input_buffer();
        buf[..12].copy_from_slice(&stream[fed..fed + 12]);
        fed += 12;
        s.commit_input(12);
        assert!(drain(&mut s).iter().all(|e| matches!(e, Ev::Binary(_))));
    }
    assert!(s.input_buffer().len() < 64 * 1024);
    s.shrink_buffers();
    assert_eq!(s.input.buf.capacity(), 0);
}

#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Fragmented(bool, Vec<Vec<u8>>),
    Ping(Vec<u8>),
    /// Sent with `send_owned`.
    Owned(crate::Message),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<String>().prop_map(Op::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Binary),
        (
            any::<bool>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5)
        )
            .prop_map(|(t, parts)| Op::Fragmented(t, parts)),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Op::Ping),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| Op::Owned(crate::Message::Binary(b))),
        any::<String>().prop_map(|t| Op::Owned(crate::Message::Text(t))),
    ]
}

/// Sends `ops` from `from`; returns the bytes and the events a receiver
/// must see.
fn encode(from: &mut Connection, ops: &[Op]) -> (Vec<u8>, Vec<Ev>) {
    let mut expected = vec![];
    for op in ops {
        match op {
            Op::Text(t) => {
                from.send_text(t).unwrap();
                expected.push(Ev::Text(t.clone()));
            }
            Op::Binary(b) => {
                from.send_binary(b).unwrap();
                expected.push(Ev::Binary(b.clone()));
            }
            Op::Fragmented(text, parts) => {
                let kind = if *text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let parts: Vec<Vec<u8>> = if *text {
                    parts
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned().into_bytes())
                        .collect()
                } else {
                    parts.clone()
                };
                for (i, p) in parts.iter().enumerate() {
                    from.send_fragment(kind, p, i + 1 == parts.len()).unwrap();
                }
                let all = parts.concat();
                expected.push(if *text {
                    Ev::Text(String::from_utf8(all).unwrap())
                } else {
                    Ev::Binary(all)
                });
            }
            Op::Ping(p) => {
                from.ping(p).unwrap();
                expected.push(Ev::Ping(p.clone()));
            }
            Op::Owned(message) => {
                expected.push(match message {
                    crate::Message::Text(t) => Ev::Text(t.clone()),
                    crate::Message::Binary(b) => Ev::Binary(b.clone()),
                    _ => unreachable!(),
                });
                from.send_owned(message.clone()).unwrap();
            }
        }
    }
    (take_output(from), expected)
}

fn feed_in_chunks(to: &mut Connection, bytes: &[u8], cuts: &[usize]) -> Vec<Ev> {
    let mut events = vec![];
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for cut in cuts {
        to.feed(&bytes[start..cut.max(start)]);
        start = cut.max(start);
        events.extend(drain(to));
    }
    events
}

/// Joins stream-mode chunks back into messages.
fn join_chunks(events: Vec<Ev>) -> Vec<Ev> {
    let mut out = vec![];
    let mut gathered = vec![];
    for e in events {
        match e {
            Ev::Chunk(kind, data, _, last) => {
                gathered.extend(data);
                if last {
                    let bytes = core::mem::take(&mut gathered);
                    out.push(match kind {
                        DataKind::Text => Ev::Text(String::from_utf8(bytes).unwrap()),
                        DataKind::Binary => Ev::Binary(bytes),
                    });
                }
            }
            other => out.push(other),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    // Any chunking of the input yields the same events, in both roles and
    // both receive modes.
    #[test]
    fn any_chunking_same_events(
        ops in proptest::collection::vec(op(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        fragment in proptest::option::of(1usize..64),
        client_sends in any::<bool>(),
        stream in any::<bool>(),
    ) {
        let mut config = Config::default();
        config.fragment_size = fragment;
        let (mut from, mut to) = if client_sends {
            (Connection::with_mask_source(Role::Client, config, keys()), server())
        } else {
            (Connection::with_mask_source(Role::Server, config, keys()), client())
        };
        if stream {
            to.set_receive_mode(ReceiveMode::Stream);
        }
        let (bytes, expected) = encode(&mut from, &ops);
        let events = feed_in_chunks(&mut to, &bytes, &cuts);
        prop_assert_eq!(join_chunks(events), expected.clone());
        // Byte by byte, too.
        let mut to = if client_sends { server() } else { client() };
        let mut events = vec![];
        for b in &bytes {
            to.feed(core::slice::from_ref(b));
            events.extend(drain(&mut to));
        }
        prop_assert_eq!(events, expected);
    }

    // Arbitrary bytes never panic, and any error puts a close code on the wire.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(any::<usize>(), 0..8), client_role in any::<bool>()) {
        let mut conn = if client_role { client() } else { server() };
        let events = feed_in_chunks(&mut conn, &bytes, &cuts);
        if let Some(Ev::Err(err)) = events.last() {
            prop_assert!(err.close_code().is_some());
            prop_assert_eq!(conn.state(), State::Closed);
        }
    }
}

// A header announcing a large frame does not make the buffer grow ahead of
// the bytes that actually arrive.
#[test]
fn buffer_grows_with_data_not_promises() {
    let mut s = server();
    s.feed(&[0x82, 0xff, 0, 0, 0, 0, 0, 0xf0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(drain(&mut s), vec![]);
    assert!(s.input_buffer().len() <= 2 * s.config().read_buffer_size);
    // Feeding 1 MiB in reads keeps the buffer within twice what arrived.
    for _ in 0..256 {
        let buf = s.input_buffer();
        let n = buf.len().min(4096);
        s.commit_input(n);
        assert_eq!(drain(&mut s), vec![]);
        let buffered = s.input.available();
        assert!(
            s.input.buf.len() <= 2 * buffered + 2 * 4096,
            "{} for {buffered}",
            s.input.buf.len()
        );
    }
}

// Idle timeout: any received byte restarts it; silence for the whole
// timeout closes with 1001 and reports the error once.
#[test]
fn idle_timeout_closes_with_1001() {
    let mut config = Config::default();
    config.idle_timeout = Some(Duration::from_secs(30));
    let mut s = server_with(config);
    // The timer needs the time to start.
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    s.handle_timeout(Duration::from_secs(100));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(130)));
    // A ping at 120 s restarts the count from the next look at the clock.
    s.feed(&raw(0x89, b""));
    assert_eq!(drain(&mut s), vec![Ev::Ping(vec![])]);
    s.handle_timeout(Duration::from_secs(120));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(150)));
    take_output(&mut s);
    s.handle_timeout(Duration::from_secs(149));
    assert_eq!(s.state(), State::Open);
    s.handle_timeout(Duration::from_secs(150));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.pending_error(), Some(&Error::IdleTimeout));
    assert_eq!(drain(&mut s), vec![Ev::Err(Error::IdleTimeout)]);
    assert_eq!(Error::IdleTimeout.close_code(), Some(CloseCode::GOING_AWAY));
    // The close frame tells the peer why: 1001 and a reason.
    let out = take_output(&mut s);
    assert_eq!(&out[..4], &[0x88, out[1], 0x03, 0xe9]);
    assert!(
        core::str::from_utf8(&out[4..])
            .unwrap()
            .starts_with("idle timeout")
    );
    assert!(s.should_close_transport());
    // No idle timer by default.
    let mut s = server_with(Config::default());
    s.handle_timeout(Duration::from_secs(1));
    assert_eq!(s.poll_timeout(), None);
}

#[cfg(feature = "deflate")]
mod deflate;

/// Writes everything out through `output_slices`, `max` slices at a time.
fn take_output_vectored(conn: &mut Connection, max: usize) -> Vec<u8> {
    let mut out = vec![];
    while conn.wants_write() {
        let mut slices = vec![&[][..]; max];
        let n = conn.output_slices(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            out.extend_from_slice(s);
            written += s.len();
        }
        conn.consume_output(written);
    }
    out
}

/// Queues data around a payload, copied or owned.
fn send_around(conn: &mut Connection, payload: &[u8], owned: bool) {
    conn.send_text("a").unwrap();
    for _ in 0..2 {
        if owned {
            conn.send_owned(crate::Message::Binary(payload.to_vec()))
                .unwrap();
        } else {
            conn.send_binary(payload).unwrap();
        }
        conn.ping(b"p").unwrap();
    }
    conn.close(CloseCode::NORMAL, "bye").unwrap();
}

// An owned payload goes out as the same bytes as a copied one, in order
// with what is queued around it, in both roles, however it is written.
#[test]
fn owned_payloads_match_copied_ones() {
    for role in [Role::Client, Role::Server] {
        for fragment in [None, Some(1000)] {
            for len in [0usize, 49, 50, 51, 4000] {
                let mut config = Config::default();
                config.fragment_size = fragment;
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let conn = || Connection::with_mask_source(role, config.clone(), keys());
                let mut copied = conn();
                send_around(&mut copied, &payload, false);
                let want = take_output(&mut copied);
                for max in [1, 2, 16] {
                    let mut owned = conn();
                    send_around(&mut owned, &payload, true);
                    assert_eq!(owned.buffered_output(), want.len());
                    assert_eq!(
                        take_output_vectored(&mut owned, max),
                        want,
                        "{role:?} {len} {max}"
                    );
                    assert_eq!(owned.stats(), copied.stats());
                }
                let mut owned = conn();
                send_around(&mut owned, &payload, true);
                assert_eq!(take_output(&mut owned), want);
            }
        }
    }
}

// Owned sends follow the same rules as copied ones.
#[test]
fn owned_sends_check_state() {
    let mut c = client();
    c.send_fragment(DataKind::Binary, b"x", false).unwrap();
    let big = crate::Message::Binary(vec![0; 100]);
    assert!(matches!(
        c.send_owned(big.clone()),
        Err(Error::InvalidState(_))
    ));
    c.send_fragment(DataKind::Binary, b"y", true).unwrap();
    c.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.send_owned(big), Err(Error::AlreadyClosed));
}

// A large message gathered from many reads is moved out whole; the next
// one starts in a fresh buffer.
#[test]
fn large_messages_are_taken_without_a_copy() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = server();
    let bytes = raw_masked(0x82, &payload, Some([9, 8, 7, 6]));
    for piece in bytes.chunks(999) {
        s.feed(piece);
        if let Some(event) = s.poll_event().unwrap() {
            assert!(matches!(event, Event::Binary(b) if b.len() == payload.len()));
            let Some(crate::Message::Binary(data)) = s.take_message() else {
                panic!("nothing to take");
            };
            assert_eq!(data, payload);
            // Grown in few steps, never far past the message.
            assert!(data.capacity() < 2 * payload.len());
        }
    }
    assert_eq!(s.input.message.capacity(), 0);
    assert_eq!(s.stats().messages_received, 1);
}

// A held payload is written from the caller's own buffer: the slice handed
// to the writer is that buffer, not a copy of it.
#[test]
fn owned_payloads_are_not_copied() {
    for role in [Role::Client, Role::Server] {
        let mut conn = Connection::with_mask_source(role, Config::default(), keys());
        let data = vec![7u8; 4000];
        let at = data.as_ptr();
        conn.send_owned(crate::Message::Binary(data)).unwrap();
        let mut slices = [&[][..]; 4];
        assert_eq!(conn.output_slices(&mut slices), 2);
        assert_eq!(slices[1].as_ptr(), at);
        assert_eq!(slices[1].len(), 4000);
    }
}
