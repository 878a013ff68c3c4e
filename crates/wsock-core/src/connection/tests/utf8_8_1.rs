//! Text must be valid UTF-8 (RFC 6455 §8.1), checked as it arrives.

use super::*;

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
