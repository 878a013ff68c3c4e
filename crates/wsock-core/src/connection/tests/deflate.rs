//! permessage-deflate on a connection (RFC 7692 §6, §7.2): the RFC's
//! example frames, both directions, streaming, bombs, and chunking.

use alloc::format;

use crate::config::DeflateConfig;
use crate::deflate::DeflateParams;

use super::chunking::{feed_in_chunks, join_chunks};
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
        tx.send(*m).unwrap();
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
    s.send("Hello").unwrap();
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
    s.send("Hello").unwrap();
    s.send("Hello").unwrap();
    assert_eq!(
        take_output(&mut s)[9..],
        [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    // Without context takeover, both are compressed alone.
    let mut s = with_deflate(Role::Server, deflate_config(0), no_takeover());
    s.send("Hello").unwrap();
    s.send("Hello").unwrap();
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
        c.send(&big).unwrap();
        c.send("tiny").unwrap();
        c.ping(b"p").unwrap();
        c.send(&big).unwrap();
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
    s.send("short").unwrap();
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
    s.send("Hello").unwrap();
    assert_eq!(take_output(&mut s), b"\x81\x05Hello");
    // It still inflates what it receives.
    let mut c = with_deflate(Role::Client, deflate_config(0), params);
    c.send("Hello Hello").unwrap();
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
    c.send(&zeros).unwrap();
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
    c.send(&text).unwrap();
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
    s.send("the next message, on the same window").unwrap();
    // Wholly empty, streamed, compressed.
    s.send_fragment(DataKind::Binary, b"", false).unwrap();
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    // Empty, whole, compressed (threshold 0).
    s.send(b"").unwrap();
    s.send("and one more").unwrap();
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
                c.send(&t).unwrap();
                expected.push((DataKind::Text, t.into_bytes()));
            } else {
                c.send(&data).unwrap();
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

// ---------------------------------------------------------------------
// Limits measure inflated bytes: what a frame or message costs once
// received, not its size on the wire.

/// Incompressible bytes: a seeded xorshift generator's output.
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

/// Deflate on, compressing everything, with both limits set.
fn limits(max_frame_size: usize, max_message_size: usize) -> Config {
    let mut config = deflate_config(0);
    config.max_frame_size = max_frame_size;
    config.max_message_size = max_message_size;
    config
}

/// The payload length in the header of the first frame in `wire`.
fn first_payload_len(wire: &[u8]) -> u64 {
    FrameHeader::decode(wire).unwrap().unwrap().0.payload_len
}

fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// Feeds `wire` to a fresh `role` endpoint with `config` in `mode`, `cut`
/// bytes at a time, and returns its events with chunks joined into
/// messages (an unfinished message's chunks are dropped).
fn receive(role: Role, config: &Config, mode: ReceiveMode, wire: &[u8], cut: usize) -> Vec<Ev> {
    let mut rx = with_deflate(role, config.clone(), DeflateParams::default());
    rx.set_receive_mode(mode);
    let mut events = Vec::new();
    for piece in wire.chunks(cut) {
        rx.feed(piece);
        events.extend(drain(&mut rx));
        if matches!(events.last(), Some(Ev::Err(_))) {
            break;
        }
    }
    let events = join_chunks(events);
    if let Some(Ev::Err(err)) = events.last() {
        let mut reader = Connection::with_mask_source(peer(role), Config::default(), keys());
        reader.feed(&take_output(&mut rx));
        let close = drain(&mut reader).into_iter().find_map(|e| match e {
            Ev::Close(c) => c,
            _ => None,
        });
        assert_eq!(
            close.map(|f| f.code),
            err.close_code(),
            "the close frame sent carries the error's code"
        );
    }
    events
}

/// Read sizes: tiny, typical, and the whole input at once. (Tiny reads
/// are slow in unoptimized builds: each inflating step readies 16 KiB.)
const CUTS: [usize; 3] = [5, 1000, usize::MAX];
const MODES: [ReceiveMode; 2] = [ReceiveMode::Message, ReceiveMode::Stream];

// Incompressible data grows a little under deflate: a message exactly at
// `max_frame_size == max_message_size` has a larger frame on the wire, and
// is still delivered, in both roles and receive modes, however it arrives.
#[test]
fn incompressible_frame_at_the_limits_arrives() {
    const N: usize = 20_000;
    let data = noise(N, 1);
    let config = limits(N, N);
    for role in [Role::Client, Role::Server] {
        let mut tx = with_deflate(peer(role), deflate_config(0), DeflateParams::default());
        let out = wire(&mut tx, &[&data]);
        assert_eq!(out[0], 0xc2, "one compressed binary frame");
        assert!(first_payload_len(&out) > N as u64, "{}", out.len());
        for mode in MODES {
            for cut in CUTS {
                assert_eq!(
                    receive(role, &config, mode, &out, cut),
                    vec![Ev::Binary(data.clone())],
                    "{role:?} {mode:?} {cut}"
                );
            }
        }
    }
}

// One inflated byte over: 1009, reported as the frame limit (checked first,
// as in a header), with exactly one byte past it inflated; with a larger
// frame limit, as the message limit.
#[test]
fn one_inflated_byte_over_the_limits_fails_with_1009() {
    const N: usize = 20_000;
    let data = noise(N + 1, 2);
    let over = |limit, max: usize| {
        vec![Ev::Err(Error::Capacity(CapacityError {
            limit,
            size: max as u64 + 1,
            max: max as u64,
        }))]
    };
    for role in [Role::Client, Role::Server] {
        let mut tx = with_deflate(peer(role), deflate_config(0), DeflateParams::default());
        let out = wire(&mut tx, &[&data]);
        for mode in MODES {
            for cut in CUTS {
                let at = format!("{role:?} {mode:?} {cut}");
                let events = receive(role, &limits(N, N), mode, &out, cut);
                assert_eq!(events, over(Limit::FrameSize, N), "{at}");
            }
            let at = format!("{role:?} {mode:?}");
            let events = receive(role, &limits(N, 4 * N), mode, &out, 1000);
            assert_eq!(events, over(Limit::FrameSize, N), "{at}");
            let events = receive(role, &limits(4 * N, N), mode, &out, 1000);
            assert_eq!(events, over(Limit::MessageSize, N), "{at}");
            // One byte more room and it arrives.
            let events = receive(role, &limits(N + 1, N + 1), mode, &out, 1000);
            assert_eq!(events, vec![Ev::Binary(data.clone())], "{at}");
        }
    }
}

// A frame a few hundred bytes long on the wire that inflates past
// `max_frame_size` fails with 1009 once it does, with no more inflated
// than the limit and a byte. An uncompressed frame is still refused from
// its header alone.
#[test]
fn small_compressed_frame_inflating_past_the_frame_limit_fails_with_1009() {
    const LIMIT: usize = 64 * 1024;
    let zeros = vec![0u8; 1 << 20];
    let mut c = deflate_client();
    let out = wire(&mut c, &[&zeros]);
    assert!(out.len() < 4096, "{}", out.len());
    for mode in MODES {
        for cut in [1, 100, usize::MAX] {
            let mut s = with_deflate(
                Role::Server,
                limits(LIMIT, 64 << 20),
                DeflateParams::default(),
            );
            s.set_receive_mode(mode);
            let mut inflated = 0;
            let mut result = Ok(());
            'feed: for piece in out.chunks(cut) {
                s.feed(piece);
                loop {
                    match s.poll_event() {
                        Ok(Some(Event::Chunk { data, .. })) => inflated += data.len(),
                        Ok(None) => break,
                        Ok(Some(other)) => panic!("{:?}", own(other)),
                        Err(err) => {
                            result = Err(err);
                            break 'feed;
                        }
                    }
                }
            }
            assert_eq!(
                result,
                Err(Error::Capacity(CapacityError {
                    limit: Limit::FrameSize,
                    size: LIMIT as u64 + 1,
                    max: LIMIT as u64,
                })),
                "{mode:?} {cut}"
            );
            assert!(inflated <= LIMIT);
            assert!(s.input.message.len() <= LIMIT + 1);
            assert_eq!(
                sent_close(&take_output(&mut s)).flatten().map(|f| f.code),
                Some(CloseCode::MESSAGE_TOO_BIG)
            );
        }
    }
    let mut s = with_deflate(Role::Server, limits(100, 1000), DeflateParams::default());
    s.feed(&raw(0x82, &[0; 101])[..20]);
    assert_eq!(
        drain(&mut s),
        vec![Ev::Err(Error::Capacity(CapacityError {
            limit: Limit::FrameSize,
            size: 101,
            max: 100,
        }))]
    );
}

// A fragmented compressed message is checked frame by frame: each frame
// inflating to the frame limit passes, even when the message's wire size
// is over the message limit; one byte more in any frame fails.
#[test]
fn fragmented_compressed_message_within_the_frame_limit_arrives() {
    const F: usize = 4_000;
    for (seed, compressible) in [(3, false), (4, true)] {
        let data = if compressible {
            sample(5 * F, seed)
        } else {
            noise(5 * F, u64::from(seed))
        };
        for role in [Role::Client, Role::Server] {
            let mut tx = with_deflate(peer(role), deflate_config(0), DeflateParams::default());
            let pieces: Vec<&[u8]> = data.chunks(F).collect();
            for (i, piece) in pieces.iter().enumerate() {
                tx.send_fragment(DataKind::Binary, piece, i + 1 == pieces.len())
                    .unwrap();
            }
            let out = take_output(&mut tx);
            assert_eq!(out[0], 0x42, "compressed, fragmented");
            if !compressible {
                assert!(out.len() > 5 * F, "{}", out.len());
            }
            // One piece a byte longer: that frame inflates past the limit.
            let mut tx = with_deflate(peer(role), deflate_config(0), DeflateParams::default());
            tx.send_fragment(DataKind::Binary, &data[..F], false)
                .unwrap();
            tx.send_fragment(DataKind::Binary, &data[F..=2 * F], false)
                .unwrap();
            tx.send_fragment(DataKind::Binary, &data[2 * F + 1..3 * F], true)
                .unwrap();
            let bad = take_output(&mut tx);
            for mode in MODES {
                for cut in CUTS {
                    let at = format!("{compressible} {role:?} {mode:?} {cut}");
                    let events = receive(role, &limits(F, 5 * F), mode, &out, cut);
                    assert_eq!(events, vec![Ev::Binary(data.clone())], "{at}");
                    let events = receive(role, &limits(F, 5 * F), mode, &bad, cut);
                    assert_eq!(
                        events,
                        vec![Ev::Err(Error::Capacity(CapacityError {
                            limit: Limit::FrameSize,
                            size: F as u64 + 1,
                            max: F as u64,
                        }))],
                        "{at}"
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    // With a frame limit near the frames' inflated sizes, any chunking and
    // either receive mode give the same messages and the same error as the
    // whole input in message mode.
    #[test]
    fn frame_limit_any_chunking_same_outcome(
        messages in prop::collection::vec((0usize..6000, any::<u32>(), any::<bool>()), 1..5),
        fragment in 200usize..3000,
        max_frame_size in 500usize..6000,
        cuts in prop::collection::vec(1usize..900, 1..20),
        stream in any::<bool>(),
    ) {
        let mut config = deflate_config(0);
        config.fragment_size = Some(fragment);
        let mut c = with_deflate(Role::Client, config, DeflateParams::default());
        for (len, seed, random) in &messages {
            let data = if *random { noise(*len, u64::from(*seed)) } else { sample(*len, *seed) };
            c.send(&data).unwrap();
        }
        let out = take_output(&mut c);
        let config = limits(max_frame_size, 64 << 20);
        let whole = receive(Role::Server, &config, ReceiveMode::Message, &out, usize::MAX);
        let mode = if stream { ReceiveMode::Stream } else { ReceiveMode::Message };
        let mut s = with_deflate(Role::Server, config, DeflateParams::default());
        s.set_receive_mode(mode);
        let events = join_chunks(feed_in_chunks(&mut s, &out, &cuts));
        prop_assert_eq!(events, whole);
    }
}

/// The default answer to a browser's offer (14-bit server window, 11-bit
/// client window): after an echo in both directions, in message and
/// stream mode, the connection holds only the two windows, and the echo
/// decodes on a client that never releases anything.
#[test]
fn idle_connection_holds_only_the_windows() {
    let params = DeflateParams {
        server_max_window_bits: 14,
        client_max_window_bits: 11,
        ..DeflateParams::default()
    };
    let mut kept = deflate_config(0);
    kept.deflate.release_after_message = false;
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        let mut client = with_deflate(Role::Client, kept.clone(), params);
        let mut server = with_deflate(Role::Server, deflate_config(0), params);
        server.set_receive_mode(mode);
        for round in 0..20u32 {
            let text = sample(3000 + round as usize * 100, round);
            client.send(&text[..]).unwrap();
            server.feed(&take_output(&mut client));
            let got: Vec<u8> = drain(&mut server)
                .into_iter()
                .flat_map(|ev| match ev {
                    Ev::Binary(data) | Ev::Chunk(_, data, _, _) => data,
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(got, text);
            server.send(&got[..]).unwrap();
            client.feed(&take_output(&mut server));
            assert_eq!(drain(&mut client), vec![Ev::Binary(text)]);
            assert!(
                server.deflate_memory() <= (1 << 14) + (1 << 11),
                "{}",
                server.deflate_memory()
            );
        }
        assert_eq!(server.deflate_memory(), (1 << 14) + (1 << 11));
        // Kept streams hold zlib's state.
        assert!(client.deflate_memory() > 128 * 1024);
    }
}

/// With streams kept between messages, `release_deflate` frees them at any
/// point between messages (an adapter going idle), except a direction in
/// the middle of a message; the peer, which never releases, decodes on.
#[test]
fn release_deflate_between_messages() {
    let params = DeflateParams::default();
    let mut kept = deflate_config(0);
    kept.deflate.release_after_message = false;
    let mut client = with_deflate(Role::Client, kept.clone(), params);
    let mut server = with_deflate(Role::Server, kept, params);
    for round in 0..6u32 {
        let text = sample(2000 + round as usize * 700, round);
        client.send(&text[..]).unwrap();
        server.feed(&take_output(&mut client));
        assert_eq!(drain(&mut server), vec![Ev::Binary(text.clone())]);
        assert!(server.deflate_memory() > 32 * 1024);
        // Half a fragmented message out: the compressor stays.
        server
            .send_fragment(DataKind::Binary, &text[..1000], false)
            .unwrap();
        server.release_deflate();
        assert!(server.deflate_memory() > 128 * 1024);
        server
            .send_fragment(DataKind::Binary, &text[1000..], true)
            .unwrap();
        server.send(&text[..]).unwrap();
        server.release_deflate();
        assert!(
            server.deflate_memory() <= 2 << 15,
            "{}",
            server.deflate_memory()
        );
        client.feed(&take_output(&mut server));
        assert_eq!(
            drain(&mut client),
            vec![Ev::Binary(text.clone()), Ev::Binary(text)]
        );
    }
    // Nothing to free without deflate.
    let mut plain = Connection::with_mask_source(Role::Server, Config::default(), keys());
    plain.release_deflate();
    assert_eq!(plain.deflate_memory(), 0);
}
