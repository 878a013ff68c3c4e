//! Base framing (RFC 6455 §5.1–§5.3), with the example frames of §5.7.

use super::*;

#[test]
fn text_and_binary_roundtrip_both_ways() {
    let mut c = client();
    let mut s = server();
    c.send("hello").unwrap();
    c.send(&[0, 1, 2, 255]).unwrap();
    s.feed(&take_output(&mut c));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Text("hello".into()), Ev::Binary(vec![0, 1, 2, 255])]
    );

    s.send("world").unwrap();
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
