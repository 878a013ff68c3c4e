//! permessage-deflate on a connection (RFC 7692 §6, §7.2): the RFC's
//! example frames, both directions, streaming, bombs, and chunking.

use crate::config::DeflateConfig;
use crate::deflate::DeflateParams;

use super::*;

fn deflate_config(threshold: usize) -> Config {
    let mut config = Config::default();
    config.deflate = DeflateConfig {
        threshold,
        ..DeflateConfig::default()
    };
    config
}

fn with_deflate(role: Role, config: Config, params: DeflateParams) -> Connection {
    Connection::with_mask_source(role, config, keys())
        .with_extensions(Extensions::none().with_deflate(params))
}

fn deflate_client() -> Connection {
    with_deflate(Role::Client, deflate_config(0), DeflateParams::default())
}

fn deflate_server() -> Connection {
    with_deflate(Role::Server, deflate_config(0), DeflateParams::default())
}

fn no_takeover() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateParams::default()
    }
}

/// Sends `messages` from `tx` and returns the wire bytes.
fn wire(tx: &mut Connection, messages: &[&[u8]]) -> Vec<u8> {
    for m in messages {
        tx.send_binary(m).unwrap();
    }
    take_output(tx)
}

/// Deterministic, compressible-but-not-trivial bytes.
fn sample(len: usize, seed: u32) -> Vec<u8> {
    let words: [&[u8]; 6] = [
        b"alpha ",
        b"beta ",
        b"gamma ",
        b"delta\n",
        b"{\"k\":1} ",
        b"zz",
    ];
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(words[(x % 6) as usize]);
        if x.is_multiple_of(7) {
            out.push((x >> 8) as u8);
        }
    }
    out.truncate(len);
    out
}

// RFC 7692 §7.2.3.1: "Hello" compressed, whole and fragmented.
#[test]
fn rfc7692_7_2_3_1_hello() {
    let mut c = deflate_client();
    c.feed(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(drain(&mut c), vec![Ev::Text("Hello".into())]);

    let mut c = deflate_client();
    c.feed(&[0x41, 0x03, 0xf2, 0x48, 0xcd]);
    c.feed(&[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(drain(&mut c), vec![Ev::Text("Hello".into())]);

    // Our server sends exactly the RFC's bytes.
    let mut s = deflate_server();
    s.send_text("Hello").unwrap();
    assert_eq!(
        take_output(&mut s),
        [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
    );
}

// §7.2.3.2: the second "Hello" refers back into the shared window.
#[test]
fn rfc7692_7_2_3_2_sharing_the_window() {
    let mut c = deflate_client();
    c.feed(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    c.feed(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        drain(&mut c),
        vec![Ev::Text("Hello".into()), Ev::Text("Hello".into())]
    );
    let mut s = deflate_server();
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    assert_eq!(
        take_output(&mut s)[9..],
        [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    // Without context takeover, both are compressed alone.
    let mut s = with_deflate(Role::Server, deflate_config(0), no_takeover());
    s.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    let hello = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(take_output(&mut s), [hello, hello].concat());
    assert_eq!(s.deflate_memory(), 0, "state freed between messages");
}

// §7.2.3.3 (a stored block) and §7.2.3.4 (BFINAL set).
#[test]
fn rfc7692_7_2_3_3_and_4_other_blocks() {
    let mut c = deflate_client();
    c.feed(&[
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ]);
    c.feed(&[0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]);
    // After a final block the next message starts a new stream.
    c.feed(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(
        drain(&mut c),
        vec![
            Ev::Text("Hello".into()),
            Ev::Text("Hello".into()),
            Ev::Text("Hello".into())
        ]
    );
}

// The brief's variant of §7.2.3.3 with a malformed stored-block length is
// corrupt data: 1007, not a panic.
#[test]
fn corrupt_data_fails_with_1007() {
    let mut c = deflate_client();
    c.feed(&[
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ]);
    let events = drain(&mut c);
    let Some(Ev::Err(err)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(err.close_code(), Some(CloseCode::INVALID_PAYLOAD));
}

#[test]
fn both_directions_with_fragments_and_controls() {
    for (snct, cnct) in [(false, false), (true, false), (false, true), (true, true)] {
        let params = DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            ..DeflateParams::default()
        };
        let mut config = deflate_config(16);
        config.fragment_size = Some(100);
        let mut c = with_deflate(Role::Client, config.clone(), params);
        let mut s = with_deflate(Role::Server, config, params);
        let big = sample(5000, 1);
        c.send_binary(&big).unwrap();
        c.send_text("tiny").unwrap();
        c.ping(b"p").unwrap();
        c.send_binary(&big).unwrap();
        let out = take_output(&mut c);
        // Compressed: RSV1 on the first frame of a message only.
        assert_eq!(out[0], 0x42, "first fragment: RSV1, binary, no FIN");
        s.feed(&out);
        assert_eq!(
            drain(&mut s),
            vec![
                Ev::Binary(big.clone()),
                Ev::Text("tiny".into()),
                Ev::Ping(b"p".to_vec()),
                Ev::Binary(big.clone())
            ]
        );
        // And back, after the automatic pong (never compressed).
        let reply = wire(&mut s, &[&big, b"", &big[..70]]);
        assert_eq!(reply[..3], [0x8a, 0x01, b'p']);
        c.feed(&reply);
        assert_eq!(
            drain(&mut c),
            vec![
                Ev::Pong(b"p".to_vec()),
                Ev::Binary(big.clone()),
                Ev::Binary(vec![]),
                Ev::Binary(big[..70].to_vec())
            ]
        );
    }
}

#[test]
fn small_messages_go_uncompressed() {
    let mut s = with_deflate(Role::Server, deflate_config(64), DeflateParams::default());
    s.send_text("short").unwrap();
    assert_eq!(take_output(&mut s), b"\x81\x05short");
    s.ping(b"ping").unwrap();
    assert_eq!(take_output(&mut s), b"\x89\x04ping");
}

// A peer that limits our window to 8 bits gets uncompressed messages.
#[test]
fn window_8_sends_uncompressed() {
    let params = DeflateParams {
        server_max_window_bits: 8,
        ..DeflateParams::default()
    };
    let mut s = with_deflate(Role::Server, deflate_config(0), params);
    s.send_text("Hello").unwrap();
    assert_eq!(take_output(&mut s), b"\x81\x05Hello");
    // It still inflates what it receives.
    let mut c = with_deflate(Role::Client, deflate_config(0), params);
    c.send_text("Hello Hello").unwrap();
    s.feed(&take_output(&mut c));
    assert_eq!(drain(&mut s), vec![Ev::Text("Hello Hello".into())]);
}

#[test]
fn rsv_rules() {
    // RSV1 without the extension: 1002.
    fails_with(&raw(0xc1, b"x"), CloseCode::PROTOCOL_ERROR);
    let check = |bytes: &[u8]| {
        let mut s = deflate_server();
        s.feed(bytes);
        let events = drain(&mut s);
        let Some(Ev::Err(err)) = events.last() else {
            panic!("{events:?}")
        };
        assert_eq!(err.close_code(), Some(CloseCode::PROTOCOL_ERROR));
    };
    // RSV1 on a continuation, on a control frame; RSV2 and RSV3.
    check(&[raw(0x41, &[0xf2]), raw(0xc0, &[0x48])].concat());
    check(&raw(0xc9, b""));
    check(&raw(0xa1, b"x"));
    check(&raw(0x91, b"x"));
}

#[test]
fn invalid_utf8_inside_compressed_text() {
    let mut c = with_deflate(Role::Client, deflate_config(0), DeflateParams::default());
    c.send_fragment(DataKind::Binary, &[b'a', 0xff, b'b'], true)
        .unwrap();
    let mut out = take_output(&mut c);
    out[0] = (out[0] & 0xf0) | 0x1; // Turn it into text.
    let mut s = deflate_server();
    s.feed(&out);
    let events = drain(&mut s);
    let Some(Ev::Err(err)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(err.close_code(), Some(CloseCode::INVALID_PAYLOAD));
}

// A few KiB that inflate to 64 MiB: 1009 once past the limit, with memory
// bounded by the limit, not the promise.
#[test]
fn bombs_fail_with_1009_early() {
    let mut config = deflate_config(0);
    config.max_message_size = 1 << 20;
    let zeros = vec![0u8; 64 << 20];
    let mut c = deflate_client();
    c.send_binary(&zeros).unwrap();
    let bomb = take_output(&mut c);
    assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        let mut s = with_deflate(Role::Server, config.clone(), DeflateParams::default());
        s.set_receive_mode(mode);
        s.feed(&bomb);
        let mut inflated = 0;
        let err = loop {
            match s.poll_event() {
                Ok(Some(Event::Chunk { data, .. })) => inflated += data.len(),
                Ok(other) => panic!("{:?}", other.map(own)),
                Err(e) => break e,
            }
        };
        assert_eq!(err.close_code(), Some(CloseCode::MESSAGE_TOO_BIG), "{err}");
        assert!(inflated <= 1 << 20);
        assert!(s.input.message.capacity() <= (1 << 21) + 64 * 1024);
        let out = take_output(&mut s);
        assert_eq!(
            sent_close(&out).flatten().map(|f| f.code),
            Some(CloseCode::MESSAGE_TOO_BIG)
        );
    }
}

#[test]
fn stream_mode_inflates_piece_by_piece() {
    let text =
        String::from_utf8(sample(100_000, 7).into_iter().map(|b| b & 0x7f).collect()).unwrap();
    let mut c = deflate_client();
    c.send_text(&text).unwrap();
    let out = take_output(&mut c);
    let mut s = deflate_server();
    s.set_receive_mode(ReceiveMode::Stream);
    let mut got = Vec::new();
    let mut flags = Vec::new();
    for piece in out.chunks(1000) {
        s.feed(piece);
        for ev in drain(&mut s) {
            let Ev::Chunk(DataKind::Text, data, first, last) = ev else {
                panic!("{ev:?}")
            };
            assert!(data.len() <= 16 * 1024);
            got.extend_from_slice(&data);
            flags.push((first, last));
        }
    }
    assert_eq!(got, text.as_bytes());
    assert_eq!(flags.first(), Some(&(true, false)));
    assert_eq!(flags.last().map(|f| f.1), Some(true));
    assert_eq!(flags.iter().filter(|f| f.0).count(), 1);
}

#[test]
fn send_fragment_compresses_the_whole_message() {
    let mut c = deflate_client();
    let text = "κόσμε ".repeat(50);
    let bytes = text.as_bytes();
    c.send_fragment(DataKind::Text, &bytes[..101], false)
        .unwrap();
    c.send_fragment(DataKind::Text, &bytes[101..], true)
        .unwrap();
    c.send_fragment(DataKind::Binary, b"", false).unwrap();
    c.send_fragment(DataKind::Binary, b"tail", true).unwrap();
    let out = take_output(&mut c);
    assert_eq!(out[0], 0x41, "RSV1 and text on the first frame");
    let mut s = deflate_server();
    s.feed(&out);
    assert_eq!(
        drain(&mut s),
        vec![Ev::Text(text.clone()), Ev::Binary(b"tail".to_vec())]
    );
}

/// Splits unmasked server frames into messages: (opcode, RSV1 of the
/// first frame, the payloads joined). Control frames are skipped.
fn server_messages(mut wire: &[u8]) -> Vec<(u8, bool, Vec<u8>)> {
    let mut messages = Vec::new();
    let mut current: Option<(u8, bool, Vec<u8>)> = None;
    while !wire.is_empty() {
        let (b0, b1) = (wire[0], wire[1]);
        assert_eq!(b1 & 0x80, 0, "server frames are unmasked");
        let (len, head) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = &wire[head..head + len];
        wire = &wire[head + len..];
        let opcode = b0 & 0x0f;
        if opcode >= 8 {
            continue;
        }
        let message = current.get_or_insert_with(|| (opcode, b0 & 0x40 != 0, Vec::new()));
        message.2.extend_from_slice(payload);
        if b0 & 0x80 != 0 {
            messages.push(current.take().unwrap());
        }
    }
    messages
}

// RFC 7692 §7.2.2 as zlib-based peers (Python's websockets, browsers) do
// it: one inflater for the connection, each message's payload with
// 00 00 ff ff appended (our own inflater is more forgiving). A streamed
// message whose last piece is empty once ended with an empty frame, the
// flush marker of the piece before unstripped: the appended marker left
// such an inflater inside a stored block's header, and the next message
// failed to inflate (websockets closed with 1002 "decompression failed").
#[test]
fn rfc7692_7_2_1_empty_last_piece_still_ends_the_message() {
    let mut s = deflate_server();
    let text = "streamed piece; ".repeat(20);
    s.send_fragment(DataKind::Text, text.as_bytes(), false)
        .unwrap();
    s.send_fragment(DataKind::Text, text.as_bytes(), false)
        .unwrap();
    s.send_fragment(DataKind::Text, b"", true).unwrap();
    s.send_text("the next message, on the same window").unwrap();
    // Wholly empty, streamed, compressed.
    s.send_fragment(DataKind::Binary, b"", false).unwrap();
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    // Empty, whole, compressed (threshold 0).
    s.send_binary(b"").unwrap();
    s.send_text("and one more").unwrap();
    let messages = server_messages(&take_output(&mut s));
    let twice = text.repeat(2);
    let expected: [&[u8]; 5] = [
        twice.as_bytes(),
        b"the next message, on the same window",
        b"",
        b"",
        b"and one more",
    ];
    assert_eq!(messages.len(), expected.len());
    let mut z = flate2::Decompress::new(false);
    for ((opcode, rsv1, payload), want) in messages.iter().zip(expected) {
        assert!(rsv1, "compressed: {opcode} {payload:02x?}");
        let mut input = payload.clone();
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::with_capacity(want.len() + 64);
        let before = z.total_in();
        z.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap_or_else(|e| panic!("{e} inflating {payload:02x?}"));
        assert_eq!(z.total_in() - before, input.len() as u64);
        assert_eq!(out, want, "{payload:02x?}");
    }
    // No context takeover: each message on a fresh inflater.
    let mut s = with_deflate(Role::Server, deflate_config(0), no_takeover());
    s.send_fragment(DataKind::Binary, b"", false).unwrap();
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    s.send_fragment(DataKind::Text, b"abc", false).unwrap();
    s.send_fragment(DataKind::Text, b"", true).unwrap();
    for ((_, _, payload), want) in server_messages(&take_output(&mut s))
        .iter()
        .zip([&b""[..], b"abc"])
    {
        let mut z = flate2::Decompress::new(false);
        let mut input = payload.clone();
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::with_capacity(64);
        z.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        assert_eq!(z.total_in(), input.len() as u64, "{payload:02x?}");
        assert_eq!(out, want);
    }
}

proptest! {
    // Any chunking of compressed input yields the same events.
    #[test]
    fn any_chunking_same_events(
        messages in prop::collection::vec((any::<bool>(), 0usize..3000, any::<u32>()), 1..6),
        cuts in prop::collection::vec(1usize..700, 1..40),
        takeover in any::<bool>(),
        stream in any::<bool>(),
    ) {
        let params = if takeover { DeflateParams::default() } else { no_takeover() };
        let mut config = deflate_config(8);
        config.fragment_size = Some(997);
        let mut c = with_deflate(Role::Client, config.clone(), params);
        let mut expected = Vec::new();
        for (text, len, seed) in &messages {
            let data = sample(*len, *seed);
            if *text {
                let t: String = data.iter().map(|&b| char::from(b & 0x7f)).collect();
                c.send_text(&t).unwrap();
                expected.push((DataKind::Text, t.into_bytes()));
            } else {
                c.send_binary(&data).unwrap();
                expected.push((DataKind::Binary, data));
            }
        }
        let out = take_output(&mut c);
        let mut s = with_deflate(Role::Server, config, params);
        if stream {
            s.set_receive_mode(ReceiveMode::Stream);
        }
        let mut events = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < out.len() {
            let n = cuts[i % cuts.len()].min(out.len() - at);
            s.feed(&out[at..at + n]);
            at += n;
            i += 1;
            events.extend(drain(&mut s));
        }
        // Reassemble chunks into messages.
        let mut got = Vec::new();
        let mut current = Vec::new();
        for ev in events {
            match ev {
                Ev::Text(t) => got.push((DataKind::Text, t.into_bytes())),
                Ev::Binary(b) => got.push((DataKind::Binary, b)),
                Ev::Chunk(kind, data, _, last) => {
                    current.extend_from_slice(&data);
                    if last {
                        got.push((kind, core::mem::take(&mut current)));
                    }
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        prop_assert_eq!(got, expected);
    }
}
