//! Core benchmarks: `cargo bench -p wsock-core` (a few minutes on 2 cores;
//! `cargo bench -p wsock-core -- decode/` and so on run one group).
//!
//! Throughput is in payload bytes (the application's data, not the frame
//! headers on the wire).
//!
//! - `decode/<mode>/<kind>/<size>`: a server `Connection` receives a long
//!   stream of masked client frames of one payload size — copied in by
//!   `feed` 64 KiB at a time, as reads from a socket would arrive, with
//!   `poll_event` drained after each read — so each byte is copied in,
//!   unmasked, and (for text) validated as UTF-8. Kinds: `binary`,
//!   `text-ascii`, `text-multilingual`; modes: `message` (whole messages)
//!   and `stream` (chunks). The connection is reused across iterations, so
//!   this is the steady state.
//! - `encode/<role>/<size>`: `send_fragment` (a whole message from a borrowed buffer) + `poll_transmit` + `consume_output`
//!   of one message; `server` copies the payload, `client` copies and masks
//!   it (with a fresh random key per frame).
//! - `mask/<size>`: `mask::apply_mask` alone, beside `copy_from_slice` of
//!   the same size (memcpy), the floor for any pass over the bytes.
//! - `utf8/<input>/<size>`: `Utf8Validator` (one piece, then `finish`)
//!   beside `std::str::from_utf8` and `simdutf8::basic::from_utf8`.
//! - `text/multilingual/64KiB/<how>`: 64 KiB multilingual text messages
//!   received as in `decode/` (each spans two reads, so it is validated as
//!   it arrives) as owned messages, sent whole (`whole`) or in 4 KiB
//!   fragments (`fragmented`: code points split across frames).
//! - `fanout/<agreement>/<size>/<how>`: one message to 100 server
//!   connections, written out: `send` (each connection frames it, and
//!   compresses it with its own context) or `prepared`
//!   (`PreparedMessage::new` once, then `send_prepared` on each, which
//!   compresses once without history). Agreements: `deflate` (context
//!   takeover, 15 bits, the default `release_after_message`) and `plain`
//!   (no extension). Throughput is in connections served.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsock_core::__internals::{FrameHeader, OpCode, Utf8Validator, apply_mask};
use wsock_core::deflate::DeflateParams;
use wsock_core::{
    Config, Connection, DataKind, Event, Extensions, Message, PreparedMessage, ReceiveMode, Role,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const SIZES: [usize; 5] = [16, 125, KIB, 64 * KIB, MIB];
/// Payload bytes per decode iteration (rounded up to whole frames).
const STREAM_BYTES: usize = 4 * MIB;
/// Bytes handed to `feed` at a time.
const READ: usize = 64 * KIB;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Exactly `len` bytes of ASCII text.
fn ascii(len: usize) -> Vec<u8> {
    b"The quick brown fox jumps over the lazy dog. 0123456789\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

/// Exactly `len` bytes of UTF-8 text, mostly 2-, 3- and 4-byte code points
/// (Greek, CJK, emoji), padded with ASCII to the exact length.
fn multilingual(len: usize) -> Vec<u8> {
    let sample = "κόσμε 世界 こんにちは 🌍🚀 Привет мир ";
    let mut text = String::with_capacity(len + 4);
    for c in sample.chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text.into_bytes()
}

/// A masked client frame carrying `payload`.
fn client_frame(opcode: OpCode, payload: &[u8], out: &mut Vec<u8>) {
    client_fragment(opcode, true, payload, out);
}

/// A masked client frame carrying `payload`, final or not.
fn client_fragment(opcode: OpCode, fin: bool, payload: &[u8], out: &mut Vec<u8>) {
    let header = FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: Some(KEY),
        payload_len: payload.len() as u64,
    };
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
}

#[derive(Clone, Copy)]
enum Kind {
    Binary,
    Ascii,
    Multilingual,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::Ascii => "text-ascii",
            Self::Multilingual => "text-multilingual",
        }
    }

    fn payload(self, len: usize) -> Vec<u8> {
        match self {
            Self::Binary => (0..len).map(|i| (i * 31 % 251) as u8).collect(),
            Self::Ascii => ascii(len),
            Self::Multilingual => multilingual(len),
        }
    }

    fn opcode(self) -> OpCode {
        match self {
            Self::Binary => OpCode::Binary,
            Self::Ascii | Self::Multilingual => OpCode::Text,
        }
    }
}

/// Feeds the whole stream and drains the events; returns payload bytes seen.
fn receive(server: &mut Connection, stream: &[u8]) -> usize {
    let mut seen = 0;
    for read in stream.chunks(READ) {
        server.feed(read);
        while let Some(event) = server.poll_event().expect("valid stream") {
            seen += match event {
                Event::Message(Message::Text(t)) => t.len(),
                Event::Message(Message::Binary(b)) => b.len(),
                Event::Chunk { data, .. } => data.len(),
                other => panic!("unexpected {other:?}"),
            };
        }
    }
    seen
}

fn decode(c: &mut Criterion) {
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        let mode_name = match mode {
            ReceiveMode::Message => "message",
            ReceiveMode::Stream => "stream",
        };
        for kind in [Kind::Binary, Kind::Ascii, Kind::Multilingual] {
            let mut group = c.benchmark_group(format!("decode/{mode_name}/{}", kind.name()));
            for size in SIZES {
                let payload = kind.payload(size);
                let frames = STREAM_BYTES.div_ceil(size);
                let mut stream = Vec::with_capacity(frames * (size + 14));
                for _ in 0..frames {
                    client_frame(kind.opcode(), &payload, &mut stream);
                }
                let total = frames * size;
                let mut server = Connection::new(Role::Server, Config::default());
                server.set_receive_mode(mode);
                assert_eq!(receive(&mut server, &stream), total);
                group.throughput(Throughput::Bytes(total as u64));
                group.bench_function(BenchmarkId::from_parameter(size_name(size)), |b| {
                    b.iter(|| receive(&mut server, black_box(&stream)));
                });
            }
            group.finish();
        }
    }
}

fn encode(c: &mut Criterion) {
    for role in [Role::Server, Role::Client] {
        let role_name = match role {
            Role::Server => "server",
            Role::Client => "client",
        };
        let mut group = c.benchmark_group(format!("encode/{role_name}"));
        for size in SIZES {
            let payload = Kind::Binary.payload(size);
            let mut conn = Connection::new(role, Config::default());
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::from_parameter(size_name(size)), |b| {
                b.iter(|| {
                    conn.send_fragment(DataKind::Binary, black_box(&payload), true)
                        .unwrap();
                    let mut slices = [&[][..]; 2];
                    let count = conn.poll_transmit(&mut slices);
                    let n: usize = black_box(&slices[..count]).iter().map(|s| s.len()).sum();
                    conn.consume_output(n);
                });
            });
        }
        group.finish();
    }
}

fn mask(c: &mut Criterion) {
    for size in [KIB, 64 * KIB, MIB] {
        let mut group = c.benchmark_group(format!("mask/{}", size_name(size)));
        group.throughput(Throughput::Bytes(size as u64));
        let src = Kind::Binary.payload(size);
        let mut buf = src.clone();
        group.bench_function("apply_mask", |b| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), 0));
        });
        group.bench_function("memcpy", |b| {
            b.iter(|| black_box(&mut buf[..]).copy_from_slice(black_box(&src)));
        });
        group.finish();
    }
}

fn utf8(c: &mut Criterion) {
    for (input, make) in [
        ("ascii", ascii as fn(usize) -> Vec<u8>),
        ("multilingual", multilingual),
    ] {
        for size in [KIB, 64 * KIB] {
            let text = make(size);
            assert!(std::str::from_utf8(&text).is_ok());
            let mut group = c.benchmark_group(format!("utf8/{input}/{}", size_name(size)));
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("Utf8Validator", |b| {
                b.iter(|| {
                    let mut v = Utf8Validator::new();
                    v.feed(black_box(&text)).is_ok() && v.finish().is_ok()
                });
            });
            group.bench_function("std", |b| {
                b.iter(|| std::str::from_utf8(black_box(&text)).is_ok());
            });
            group.bench_function("simdutf8", |b| {
                b.iter(|| simdutf8::basic::from_utf8(black_box(&text)).is_ok());
            });
            group.finish();
        }
    }
}

fn text(c: &mut Criterion) {
    const SIZE: usize = 64 * KIB;
    const FRAGMENT: usize = 4 * KIB;
    let payload = multilingual(SIZE);
    let messages = STREAM_BYTES / SIZE;
    let total = messages * SIZE;
    let mut whole = Vec::new();
    let mut fragmented = Vec::new();
    for _ in 0..messages {
        client_frame(OpCode::Text, &payload, &mut whole);
        for (i, piece) in payload.chunks(FRAGMENT).enumerate() {
            let opcode = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            let fin = (i + 1) * FRAGMENT >= SIZE;
            client_fragment(opcode, fin, piece, &mut fragmented);
        }
    }
    let mut group = c.benchmark_group("text/multilingual/64KiB");
    group.throughput(Throughput::Bytes(total as u64));
    let mut server = Connection::new(Role::Server, Config::default());
    assert_eq!(receive(&mut server, &whole), total);
    group.bench_function("whole", |b| {
        b.iter(|| receive(&mut server, black_box(&whole)));
    });
    let mut server = Connection::new(Role::Server, Config::default());
    assert_eq!(receive(&mut server, &fragmented), total);
    group.bench_function("fragmented", |b| {
        b.iter(|| receive(&mut server, black_box(&fragmented)));
    });
    group.finish();
}

/// JSON-like text of `len` bytes, different in every message (`seq`).
fn json(len: usize, seq: u64) -> String {
    let mut out = String::with_capacity(len + 80);
    let mut i = seq;
    while out.len() < len {
        let _ = write!(
            out,
            "{{\"symbol\":\"WS{}\",\"bid\":{},\"ask\":{},\"seq\":{i}}},",
            i % 13,
            1000 + i % 7,
            1001 + i % 5
        );
        i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) >> 3;
    }
    out.truncate(len);
    out
}

fn fanout(c: &mut Criterion) {
    const CONNECTIONS: usize = 100;
    for deflate in [true, false] {
        let mut group = c.benchmark_group(if deflate {
            "fanout/deflate"
        } else {
            "fanout/plain"
        });
        group.throughput(Throughput::Elements(CONNECTIONS as u64));
        for size in [512, 16 * KIB] {
            for prepared in [false, true] {
                let mut conns: Vec<Connection> = (0..CONNECTIONS)
                    .map(|_| {
                        let conn = Connection::new(Role::Server, Config::default());
                        if deflate {
                            conn.with_extensions(
                                Extensions::none().with_deflate(DeflateParams::default()),
                            )
                        } else {
                            conn
                        }
                    })
                    .collect();
                let mut seq = 0;
                let how = if prepared { "prepared" } else { "send" };
                let id = format!("{}/{how}", size_name(size));
                group.bench_function(id, |b| {
                    b.iter(|| {
                        seq += 1;
                        let message = Message::text(json(size, seq));
                        let prepared = prepared.then(|| PreparedMessage::new(message.clone()));
                        for conn in &mut conns {
                            match &prepared {
                                Some(p) => conn.send_prepared(p).unwrap(),
                                None => conn.send(message.clone()).unwrap(),
                            }
                            let mut slices = [&[][..]; 2];
                            let count = conn.poll_transmit(&mut slices);
                            let n: usize =
                                black_box(&slices[..count]).iter().map(|s| s.len()).sum();
                            conn.consume_output(n);
                        }
                    });
                });
            }
        }
        group.finish();
    }
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= MIB && s % MIB == 0 => format!("{}MiB", s / MIB),
        s if s >= KIB && s % KIB == 0 => format!("{}KiB", s / KIB),
        s => format!("{s}B"),
    }
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decode, encode, mask, utf8, text, fanout
}
criterion_main!(benches);
