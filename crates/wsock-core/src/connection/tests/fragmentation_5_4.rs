//! Fragmentation (RFC 6455 §5.4), received and sent, and stream mode, which
//! hands out the pieces of a message as they arrive.

use super::*;

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

#[test]
fn fragmented_sending() {
    let mut c = client();
    c.send_fragment(DataKind::Text, "κό".as_bytes(), false)
        .unwrap();
    c.ping(b"mid").unwrap();
    assert_eq!(
        c.send("x"),
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
    c.send(&[9; 10]).unwrap();
    assert_eq!(c.stats().frames_sent, 3);
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(drain(&mut s), vec![Ev::Binary(vec![9; 10])]);
    assert_eq!(s.stats().frames_received, 3);
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
