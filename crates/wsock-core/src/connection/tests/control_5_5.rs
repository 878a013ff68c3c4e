//! Control frames (RFC 6455 §5.5): pings and the pongs they are owed.

use super::*;

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

#[test]
fn auto_pong_off() {
    let mut config = Config::default();
    config.auto_pong = false;
    let mut s = server_with(config);
    s.feed(&raw(0x89, b"x"));
    assert_eq!(drain(&mut s), vec![Ev::Ping(b"x".to_vec())]);
    assert!(!s.wants_write());
    s.send(Message::Pong(Bytes::copy_from_slice(b"x"))).unwrap();
    assert!(s.wants_write());
}
