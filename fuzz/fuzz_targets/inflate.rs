//! permessage-deflate (RFC 7692): arbitrary bytes as the compressed payload
//! of a peer's messages, and a round trip between two deflate connections.
//!
//! Input: `[flags][params][n][n chunk lengths][rest…]` (flags below).
//! `params` are the agreed `DeflateParams`, the same at both ends: bits
//! 0–2 the server's window bits − 8, bits 3–5 the client's, bit 6
//! `server_no_context_takeover`, bit 7 `client_no_context_takeover`.
//!
//! Hostile peer (no `ROUND_TRIP`): `rest` is `[k][k frame plans][payload…]`
//! (`k` modulo 32). The payload (with `BOMB`, the decompression bomb that
//! `[size][literals…]` describes, see `bomb`) is cut into frames by the
//! plans, cycled: bits 0–5 the payload length (× 32 with `BIG_FRAMES`; all
//! zero: one frame), bit 6 FIN (forced on the last frame), bit 7 text (on
//! a message's first frame; else binary) or a ping sent first (on a
//! continuation). RSV1 is set on each message's first frame (on
//! continuations too with `RSV1_CONTINUATIONS`), frames are masked when a
//! client sends them, and the stream reaches a receiver with small limits
//! (`max_message_size` and `max_frame_size` 4096, or 40,000 with
//! `BIG_LIMIT`, past the 16 KiB stream-mode chunk) in arbitrary chunks and
//! in one piece, in message and stream mode. Checks: no panic; neither
//! chunking nor the receive mode changes the events (streamed messages
//! joined) or the error (but below 15 window bits, a distance past the
//! agreed window may be caught (1007) or not depending on the reads: see
//! `hostile`); the inflated size handed out for one message
//! never exceeds `max_message_size` (Text/Binary length, or the sum of its
//! chunks: `EventChecker`); every error is one the input can cause, with
//! its close code (too big 1009, invalid UTF-8 1007, invalid compressed
//! data 1007, RSV1 on a continuation 1002), and a close frame with that
//! code ends the output; `deflate_memory()` never exceeds the inflater's
//! 42 KiB + 2^max(w, 9) for the sender's window bits `w`, and is 0
//! after every message when the sender has no context takeover; no
//! `poll_event` call allocates more than 4 × `max_message_size` +
//! 2 × 2^w + 106 KiB, so a bomb costs the limit, not what it promises.
//!
//! Round trip (`ROUND_TRIP`): `rest` is `[fragment size][level][messages…]`.
//! Text, binary, application fragments (pings between) and long
//! compressible messages, sent with threshold 0 (all compressed) at zlib
//! `level` (modulo 10), split by `fragment_size` with `FRAGMENT_SIZE`, and
//! received in arbitrary chunks in both receive modes, come out identical
//! and in order. RSV1 marks the first frame of every data message exactly
//! when the sender's window allows compressing (w ≥ 9); both ends'
//! `deflate_memory()` stay within zlib's figures, and are 0 after each
//! message when that direction has no context takeover.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use wsock_core::__internals::{FrameHeader, OpCode, RSV1, apply_mask};
use wsock_core::Extensions;
use wsock_core::deflate::DeflateParams;
use wsock_core::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Error, Limit, ProtocolError, ReceiveMode,
    Role, State,
};
use wsock_fuzz::{
    Ev, EventChecker, chunks, drain, mask_keys, parse_wire, parse_wire_ext, take_lens,
};

const ROUND_TRIP: u8 = 1 << 0;
const CLIENT_SENDS: u8 = 1 << 1;
const INPUT_BUFFER: u8 = 1 << 2;
const BIG_CHUNKS: u8 = 1 << 3;
const BIG_LIMIT: u8 = 1 << 4;
// Hostile peer only.
const BOMB: u8 = 1 << 5;
const BIG_FRAMES: u8 = 1 << 6;
const RSV1_CONTINUATIONS: u8 = 1 << 7;
// Round trip only.
const FRAGMENT_SIZE: u8 = 1 << 5;

/// Counts the bytes allocated, to bound what one `poll_event` call takes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn params(byte: u8) -> DeflateParams {
    let mut p = DeflateParams::default();
    p.server_max_window_bits = 8 + (byte & 7);
    p.client_max_window_bits = 8 + ((byte >> 3) & 7);
    p.server_no_context_takeover = byte & 0x40 != 0;
    p.client_no_context_takeover = byte & 0x80 != 0;
    p
}

/// The sender's window bits and whether it resets its context after every
/// message.
fn sender_side(p: &DeflateParams, sender: Role) -> (u8, bool) {
    match sender {
        Role::Server => (p.server_max_window_bits, p.server_no_context_takeover),
        Role::Client => (p.client_max_window_bits, p.client_no_context_takeover),
    }
}

/// Deflate state of a receiver for the sender's `bits` (`Codec::memory`):
/// zlib-rs's inflate state (42 KiB whatever the window) while a message
/// inflates, and the window kept for context takeover (zlib cannot
/// inflate raw deflate with fewer than 9 bits).
fn inflate_memory(bits: u8) -> usize {
    42 * 1024 + (1 << bits.max(9))
}

/// Deflate state of a sender for `bits`: zlib-rs's compressor (memLevel
/// 8) while a message compresses, and the window kept.
fn deflate_memory(bits: u8) -> usize {
    (1 << (bits + 2)) + 246 * 1024 + (1 << bits)
}

fn deflate_conn(role: Role, config: Config, p: DeflateParams, seed: u8) -> Connection {
    Connection::with_mask_source(role, config, mask_keys(seed))
        .with_extensions(Extensions::none().with_deflate(p))
}

fn feed(conn: &mut Connection, piece: &[u8], read_buffer: bool) {
    if !read_buffer {
        conn.feed(piece);
        return;
    }
    let mut rest = piece;
    while !rest.is_empty() {
        let buf = conn.read_buffer();
        assert!(!buf.is_empty(), "read_buffer offers no room");
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        conn.commit_read(n);
        rest = &rest[n..];
    }
}

// ---------------------------------------------------------- hostile peer

/// Raw deflate bits, least significant first (RFC 1951 §3.1.1).
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, n: u32) {
        self.acc |= value << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: most significant bit first.
    fn code(&mut self, code: u32, n: u32) {
        for i in (0..n).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    fn literal(&mut self, b: u8) {
        match b {
            0..=143 => self.code(0x30 + u32::from(b), 8),
            _ => self.code(0x190 + u32::from(b - 144), 9),
        }
    }
}

/// A decompression bomb as one message's payload, `[size][literals…]`:
/// one fixed-Huffman block (§3.2.6) of the literals (a zero byte if none),
/// then (size + 1) × 8 copies of length 258 at distance 1 (13 bits for
/// 258 bytes: up to 528 KiB from 3.3 KiB), then the empty stored block of
/// a sync flush without its `00 00 ff ff` (RFC 7692 §7.2.1).
fn bomb(spec: &[u8]) -> Vec<u8> {
    let (&size, literals) = spec.split_first().unwrap_or((&0, &[]));
    let literals = if literals.is_empty() {
        &[0][..]
    } else {
        literals
    };
    let mut bits = Bits::default();
    bits.put(0, 1); // BFINAL
    bits.put(1, 2); // fixed Huffman codes
    for &b in literals {
        bits.literal(b);
    }
    for _ in 0..(size as usize + 1) * 8 {
        bits.code(0xc5, 8); // length code 285: 258 bytes
        bits.code(0, 5); // distance code 0: 1 byte back
    }
    bits.code(0, 7); // end of block
    bits.put(0, 3); // not final, stored: LEN and NLEN are the tail
    bits.put(0, (8 - bits.n % 8) % 8);
    bits.out
}

/// Frames `payload` per `plans` as `sender` would. Returns the stream,
/// whether it holds a text message, and whether a continuation.
fn frames(payload: &[u8], plans: &[u8], flags: u8, sender: Role) -> (Vec<u8>, bool, bool) {
    let scale = if flags & BIG_FRAMES != 0 { 32 } else { 1 };
    // No usable lengths: the whole payload in one frame.
    let whole = plans.iter().all(|&b| b & 0x3f == 0);
    let plans: &[u8] = if plans.is_empty() { &[0] } else { plans };
    let mut keys = mask_keys(flags);
    let mut out = Vec::new();
    let mut any_text = false;
    let mut any_continuation = false;
    let mut first = true;
    let mut rest = payload;
    let mut frame = |out: &mut Vec<u8>, fin, rsv, opcode, data: &[u8]| {
        let mask = (sender == Role::Client).then(&mut keys);
        FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: data.len() as u64,
        }
        .encode(out);
        let start = out.len();
        out.extend_from_slice(data);
        if let Some(key) = mask {
            apply_mask(&mut out[start..], key, 0);
        }
    };
    for &plan in plans.iter().cycle() {
        let len = if whole {
            rest.len()
        } else {
            (plan & 0x3f) as usize * scale
        };
        let (piece, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let fin = plan & 0x40 != 0 || rest.is_empty();
        let opcode = if first {
            if plan & 0x80 != 0 {
                any_text = true;
                OpCode::Text
            } else {
                OpCode::Binary
            }
        } else {
            any_continuation = true;
            if plan & 0x80 != 0 {
                frame(&mut out, true, 0, OpCode::Ping, b"p");
            }
            OpCode::Continuation
        };
        let rsv = if first || flags & RSV1_CONTINUATIONS != 0 {
            RSV1
        } else {
            0
        };
        frame(&mut out, fin, rsv, opcode, piece);
        first = fin;
        if rest.is_empty() {
            break;
        }
    }
    (out, any_text, any_continuation)
}

struct Run {
    events: Vec<Ev>,
    error: Option<Error>,
    wire: Vec<u8>,
}

/// Feeds `pieces` to a fresh receiver in `mode`, checking memory after
/// every event.
fn receive(
    receiver: Role,
    p: DeflateParams,
    flags: u8,
    mode: ReceiveMode,
    pieces: &[&[u8]],
) -> Run {
    let max = if flags & BIG_LIMIT != 0 { 40_000 } else { 4096 };
    let mut config = Config::default();
    config.max_message_size = max;
    config.max_frame_size = max;
    let mut conn = deflate_conn(receiver, config.clone(), p, flags);
    conn.set_receive_mode(mode);
    let (bits, resets) = sender_side(&p, other(receiver));
    // The whole message buffer (at most the limit, plus the byte that
    // trips it) twice over for Vec growth, zlib-rs's inflate state (42
    // KiB), the kept window (2^w, and its copy when shrunk to fit after
    // the message), and slack for the event's copy.
    let alloc_bound = 4 * (max + 1) + 2 * (1 << bits.max(9)) + 42 * 1024 + 64 * 1024;
    let mut checker = EventChecker::default();
    let mut events = Vec::new();
    let mut error = None;
    'feed: for piece in pieces {
        feed(&mut conn, piece, flags & INPUT_BUFFER != 0);
        loop {
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let result = conn.poll_event().map(|e| e.as_ref().map(Ev::own));
            let grown = PEAK.load(Ordering::Relaxed) - base;
            assert!(
                grown <= alloc_bound,
                "poll_event allocated {grown} bytes (bound {alloc_bound})"
            );
            let memory = conn.deflate_memory();
            assert!(
                memory <= inflate_memory(bits),
                "deflate_memory {memory} over {} for {bits} window bits",
                inflate_memory(bits)
            );
            match result {
                Ok(Some(ev)) => {
                    let ends_message = matches!(
                        ev,
                        Ev::Text(_) | Ev::Binary(_) | Ev::Chunk { last: true, .. }
                    );
                    if ends_message && resets {
                        assert_eq!(memory, 0, "inflater kept after a no-takeover message");
                    }
                    events.extend(checker.check(ev, &config));
                }
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(conn.state(), State::Closed, "{err:?} left it open");
                    assert!(
                        matches!(conn.poll_event(), Ok(None)),
                        "events after {err:?}"
                    );
                    error = Some(err);
                    break 'feed;
                }
            }
        }
    }
    let mut wire = Vec::new();
    wsock_core::__internals::transmit_all(&mut conn, &mut wire);
    Run {
        events,
        error,
        wire,
    }
}

fn hostile(flags: u8, p: DeflateParams, lens: &[u8], rest: &[u8]) {
    let sender = if flags & CLIENT_SENDS != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let receiver = other(sender);
    let (plans, payload) = take_lens(rest);
    let payload = if flags & BOMB != 0 {
        bomb(payload)
    } else {
        payload.to_vec()
    };
    let (stream, any_text, any_continuation) = frames(&payload, plans, flags, sender);
    let scale = if flags & BIG_CHUNKS != 0 { 16 } else { 1 };
    let pieces = chunks(&stream, lens, scale);

    // Below 15 bits, zlib checks a distance against its window plus what
    // the current call has produced, so a peer reaching back past the
    // agreed window is caught or not depending on how its bytes were read
    // (1007 or accepted). That one difference is allowed: the run that
    // failed saw a prefix of the other's events. At 15 bits (the format's
    // largest distance) the check is against everything inflated so far.
    let (bits, _) = sender_side(&p, sender);
    let exact = bits == 15;
    let caught_early = |a: &Run, b: &Run| {
        matches!(a.error, Some(Error::Protocol(ProtocolError::Extension(_))))
            && b.events.starts_with(&a.events)
    };
    let mut first: Option<Run> = None;
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        for whole in [false, true] {
            let run = if whole {
                receive(receiver, p, flags & !INPUT_BUFFER, mode, &[&stream])
            } else {
                receive(receiver, p, flags, mode, &pieces)
            };
            check(&run, receiver, flags, any_text, any_continuation);
            match &first {
                None => first = Some(run),
                Some(f) if !exact && (caught_early(&run, f) || caught_early(f, &run)) => {}
                Some(f) => {
                    assert_eq!(
                        run.events, f.events,
                        "events depend on chunking or mode ({mode:?}, whole {whole})"
                    );
                    assert_eq!(
                        run.error, f.error,
                        "error depends on chunking or mode ({mode:?}, whole {whole})"
                    );
                }
            }
        }
    }
}

/// The error is one the input can cause, with its close code, and a close
/// frame with that code ends the receiver's output.
fn check(run: &Run, receiver: Role, flags: u8, any_text: bool, any_continuation: bool) {
    let (frames, partial) = parse_wire(&run.wire, receiver);
    assert_eq!(partial, 0, "output ends inside a frame");
    let close = frames.iter().find(|f| f.opcode == OpCode::Close);
    let Some(err) = &run.error else {
        assert!(close.is_none(), "close frame without an error");
        return;
    };
    let code = match err {
        Error::Capacity(c) => {
            // Frame size only for a frame over the limit: the single-frame
            // fallback.
            assert!(
                matches!(c.limit, Limit::MessageSize | Limit::FrameSize),
                "{err:?}"
            );
            CloseCode::MESSAGE_TOO_BIG
        }
        Error::Protocol(ProtocolError::InvalidUtf8) => {
            assert!(any_text, "invalid UTF-8 without a text message");
            CloseCode::INVALID_PAYLOAD
        }
        Error::Protocol(ProtocolError::Extension(_)) => CloseCode::INVALID_PAYLOAD,
        Error::Protocol(ProtocolError::ReservedBits(rsv)) => {
            assert!(
                flags & RSV1_CONTINUATIONS != 0 && any_continuation && *rsv == RSV1,
                "{err:?}"
            );
            CloseCode::PROTOCOL_ERROR
        }
        other => panic!("unexpected error {other:?}"),
    };
    assert_eq!(err.close_code(), Some(code), "{err:?}");
    let close = close.unwrap_or_else(|| panic!("no close frame after {err:?}"));
    assert!(
        frames.last().is_some_and(|f| f.opcode == OpCode::Close),
        "output goes on after the close"
    );
    let sent = CloseFrame::parse(&close.payload)
        .unwrap()
        .expect("close without code");
    assert_eq!(
        sent.code, code,
        "close code differs from the error's ({err:?})"
    );
}

// ------------------------------------------------------------ round trip

fn bytes(u: &mut Unstructured<'_>) -> Vec<u8> {
    let len: u8 = u.arbitrary().unwrap_or(0);
    u.bytes((len as usize).min(u.len())).unwrap_or(&[]).to_vec()
}

fn round_trip(flags: u8, p: DeflateParams, lens: &[u8], rest: &[u8]) {
    let (sender_role, receiver_role) = if flags & CLIENT_SENDS != 0 {
        (Role::Client, Role::Server)
    } else {
        (Role::Server, Role::Client)
    };
    let mut u = Unstructured::new(rest);
    let fragment: u8 = u.arbitrary().unwrap_or(0);
    let level: u8 = u.arbitrary().unwrap_or(0);
    let mut config = Config::default();
    config.deflate.threshold = 0;
    config.deflate.level = u32::from(level % 10);
    if flags & FRAGMENT_SIZE != 0 {
        config.fragment_size = Some(fragment as usize);
    }
    let mut sender = deflate_conn(sender_role, config, p, fragment);
    let (bits, resets) = sender_side(&p, sender_role);
    let compresses = bits >= 9;

    let mut expected = Vec::new();
    let mut messages = 0;
    let mut long_messages = 0;
    while !u.is_empty() && messages < 50 {
        messages += 1;
        let op: u8 = u.arbitrary().unwrap_or(0);
        match op % 4 {
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
                // Application fragments, each compressed and sync-flushed.
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
                        sender.ping(b"between").unwrap();
                        expected.push(Ev::Ping(b"between".to_vec()));
                    }
                }
                sender.send_fragment(kind, &whole[start..], true).unwrap();
                expected.push(if text {
                    Ev::Text(String::from_utf8(whole).unwrap())
                } else {
                    Ev::Binary(whole)
                });
            }
            _ if long_messages < 2 => {
                // Long and compressible: a short pattern repeated, with
                // matches reaching back across the window.
                long_messages += 1;
                let n: u16 = u.arbitrary().unwrap_or(0);
                let pattern = bytes(&mut u);
                let pattern = if pattern.is_empty() {
                    vec![b'a']
                } else {
                    pattern
                };
                let len = n as usize % 20_000;
                let data: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
                sender.send(&data).unwrap();
                expected.push(Ev::Binary(data));
            }
            _ => {}
        }
        let memory = sender.deflate_memory();
        if resets {
            assert_eq!(memory, 0, "compressor kept after a no-takeover message");
        } else {
            assert!(memory <= deflate_memory(bits), "deflate_memory {memory}");
        }
    }
    let mut wire = Vec::new();
    wsock_core::__internals::transmit_all(&mut sender, &mut wire);
    let (frames, partial) = parse_wire_ext(&wire, sender_role, RSV1);
    assert_eq!(partial, 0);
    for f in &frames {
        if matches!(f.opcode, OpCode::Text | OpCode::Binary) {
            let want = if compresses { RSV1 } else { 0 };
            assert_eq!(f.rsv, want, "RSV1 wrong for {bits} window bits");
        }
    }

    let mut scale = if flags & BIG_CHUNKS != 0 { 64 } else { 1 };
    // At most ~4,000 pieces, so long inputs fed byte by byte stay fast.
    let average = lens.iter().map(|&l| l as usize).sum::<usize>().max(1) / lens.len().max(1);
    scale = scale.max(wire.len() / (4_000 * average.max(1)) + 1);
    for mode in [ReceiveMode::Message, ReceiveMode::Stream] {
        let mut receiver = deflate_conn(receiver_role, Config::default(), p, 0);
        receiver.set_receive_mode(mode);
        let mut checker = EventChecker::default();
        let mut got = Vec::new();
        for piece in chunks(&wire, lens, scale) {
            feed(&mut receiver, piece, flags & INPUT_BUFFER != 0);
            let (events, err) = drain(&mut receiver, &mut checker);
            assert!(err.is_none(), "receiver failed: {err:?}");
            got.extend(events);
            let memory = receiver.deflate_memory();
            assert!(memory <= inflate_memory(bits), "deflate_memory {memory}");
        }
        assert_eq!(got, expected, "{mode:?}");
        if resets || !compresses {
            assert_eq!(receiver.deflate_memory(), 0, "inflater kept");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, params_byte, rest @ ..] = data else {
        return;
    };
    let (lens, rest) = take_lens(rest);
    let p = params(*params_byte);
    if flags & ROUND_TRIP != 0 {
        round_trip(*flags, p, lens, rest);
    } else {
        hostile(*flags, p, lens, rest);
    }
});
