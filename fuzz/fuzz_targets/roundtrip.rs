//! Arbitrary messages sent by one role and received by the other in
//! arbitrary chunkings come out identical: whole, fragmented by the
//! application (text split anywhere, even inside a code point), fragmented
//! by `fragment_size`, with pings and pongs between them, ending with a
//! close; in message and stream receive modes, through `feed`, through
//! `read_buffer`/`commit_read` and through `read_space` (which reads a
//! gathered binary frame's payload straight into the message buffer).
//!
//! Input: `[flags][fragment size][n][n chunk lengths][messages…]`.
#![no_main]

use arbitrary::Unstructured;
use bytes::BufMut;
use libfuzzer_sys::fuzz_target;
use wsock_core::__internals::OpCode;
use wsock_core::{
    Bytes, CloseCode, CloseFrame, Config, Connection, DataKind, Message, ReceiveMode, Role,
};
use wsock_fuzz::{Ev, EventChecker, chunks, drain, mask_keys, parse_wire, take_lens};

const CLIENT_SENDS: u8 = 1 << 0;
const STREAM: u8 = 1 << 1;
const FRAGMENT_SIZE: u8 = 1 << 2;
const INPUT_BUFFER: u8 = 1 << 3;
const BIG_CHUNKS: u8 = 1 << 4;
const NO_CLOSE: u8 = 1 << 5;
const READ_SPACE: u8 = 1 << 6;

fn bytes(u: &mut Unstructured<'_>) -> Vec<u8> {
    let len: u8 = u.arbitrary().unwrap_or(0);
    u.bytes((len as usize).min(u.len())).unwrap_or(&[]).to_vec()
}

fuzz_target!(|data: &[u8]| {
    let [flags, fragment, rest @ ..] = data else {
        return;
    };
    let flags = *flags;
    let (lens, rest) = take_lens(rest);
    let mut u = Unstructured::new(rest);
    let (sender_role, receiver_role) = if flags & CLIENT_SENDS != 0 {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let mut config = Config::default();
    if flags & FRAGMENT_SIZE != 0 {
        config.fragment_size = Some(*fragment as usize);
    }
    let mut sender = Connection::with_mask_source(sender_role, config, mask_keys(*fragment));

    let mut expected = Vec::new();
    let mut messages = 0;
    let mut long_messages = 0;
    while !u.is_empty() && messages < 200 {
        messages += 1;
        let op: u8 = u.arbitrary().unwrap_or(0);
        match op % 6 {
            0 => {
                let text = String::from_utf8_lossy(&bytes(&mut u)).into_owned();
                sender.send(&text).unwrap();
                expected.push(Ev::Text(text));
            }
            1 => {
                let data = bytes(&mut u);
                sender.send(&data).unwrap();
                expected.push(Ev::Binary(data));
            }
            2 => {
                // Application fragments, split at arbitrary byte offsets.
                let text = op & 0x80 != 0;
                let whole = bytes(&mut u);
                let whole = if text {
                    String::from_utf8_lossy(&whole).into_owned().into_bytes()
                } else {
                    whole
                };
                let cuts = bytes(&mut u);
                let kind = if text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let mut start = 0;
                for &cut in &cuts {
                    let end = (start + cut as usize % 64).min(whole.len());
                    sender
                        .send_fragment(kind, &whole[start..end], false)
                        .unwrap();
                    start = end;
                    if op & 0x40 != 0 {
                        // A control frame between fragments.
                        sender.ping(&whole[..start.min(125)]).unwrap();
                        expected.push(Ev::Ping(whole[..start.min(125)].to_vec()));
                    }
                }
                sender.send_fragment(kind, &whole[start..], true).unwrap();
                let ev = if text {
                    Ev::Text(String::from_utf8(whole).unwrap())
                } else {
                    Ev::Binary(whole)
                };
                // Pings sent between fragments arrive before the message.
                expected.push(ev);
            }
            3 => {
                let mut p = bytes(&mut u);
                p.truncate(125);
                sender.ping(&p).unwrap();
                expected.push(Ev::Ping(p));
            }
            4 => {
                let mut p = bytes(&mut u);
                p.truncate(125);
                sender
                    .send(Message::Pong(Bytes::copy_from_slice(&p)))
                    .unwrap();
                expected.push(Ev::Pong(p));
            }
            _ if long_messages < 2 => {
                // A long message: 16- and 64-bit lengths (at most two per
                // input, so an execution stays fast).
                long_messages += 1;
                let n: u16 = u.arbitrary().unwrap_or(0);
                let len = if n & 3 != 3 {
                    126 + (n as usize >> 2) % 2048
                } else {
                    65_536 + (n as usize >> 2) % 1024
                };
                let seed: u8 = u.arbitrary().unwrap_or(0);
                let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
                sender.send(&data).unwrap();
                expected.push(Ev::Binary(data));
            }
            _ => {}
        }
    }
    if flags & NO_CLOSE == 0 {
        sender.close(CloseCode::NORMAL, "bye").unwrap();
        expected.push(Ev::Close(Some(CloseFrame::new(1000, "bye"))));
    }
    let mut wire = Vec::new();
    wsock_core::__internals::transmit_all(&mut sender, &mut wire);
    let (frames, partial) = parse_wire(&wire, sender_role);
    assert_eq!(partial, 0);
    if let Some(size) = config_fragment(flags, *fragment) {
        for f in frames.iter().filter(|f| !f.opcode.is_control()) {
            assert!(
                f.payload.len() <= size.max(1) || size == 0,
                "frame over fragment_size"
            );
        }
    }

    let mut receiver = Connection::with_mask_source(receiver_role, Config::default(), mask_keys(0));
    if flags & STREAM != 0 {
        receiver.set_receive_mode(ReceiveMode::Stream);
    }
    let mut scale = if flags & BIG_CHUNKS != 0 { 64 } else { 1 };
    // At most ~4,000 pieces, so long inputs fed byte by byte stay fast.
    let average = lens.iter().map(|&l| l as usize).sum::<usize>().max(1) / lens.len().max(1);
    scale = scale.max(wire.len() / (4_000 * average.max(1)) + 1);
    let mut checker = EventChecker::default();
    let mut got = Vec::new();
    for piece in chunks(&wire, lens, scale) {
        if flags & READ_SPACE != 0 {
            let mut rest = piece;
            while !rest.is_empty() {
                let mut space = receiver.read_space();
                let n = space.remaining_mut().min(rest.len());
                assert!(n > 0, "a read space offers room");
                space.put_slice(&rest[..n]);
                rest = &rest[n..];
            }
        } else if flags & INPUT_BUFFER != 0 {
            let mut rest = piece;
            while !rest.is_empty() {
                let buf = receiver.read_buffer();
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                receiver.commit_read(n);
                rest = &rest[n..];
            }
        } else {
            receiver.feed(piece);
        }
        let (events, err) = drain(&mut receiver, &mut checker);
        assert!(err.is_none(), "receiver failed: {err:?}");
        got.extend(events);
    }
    assert_eq!(got, expected);
    assert_eq!(receiver.stats().bytes_received, wire.len() as u64);

    // The receiver answers each ping (coalescing is allowed) and the close.
    let mut reply = Vec::new();
    wsock_core::__internals::transmit_all(&mut receiver, &mut reply);
    let (frames, partial) = parse_wire(&reply, receiver_role);
    assert_eq!(partial, 0);
    let pings = expected.iter().filter(|e| matches!(e, Ev::Ping(_))).count();
    let pongs = frames.iter().filter(|f| f.opcode == OpCode::Pong).count();
    assert!(
        pongs <= pings && (pings == 0) == (pongs == 0),
        "{pings} pings, {pongs} pongs"
    );
    if flags & NO_CLOSE == 0 {
        let last = frames.last().expect("no close reply");
        assert_eq!(last.opcode, OpCode::Close);
        assert_eq!(
            CloseFrame::parse(&last.payload).unwrap().map(|f| f.code),
            Some(CloseCode::NORMAL)
        );
    }
});

fn config_fragment(flags: u8, fragment: u8) -> Option<usize> {
    (flags & FRAGMENT_SIZE != 0).then_some(fragment as usize)
}
