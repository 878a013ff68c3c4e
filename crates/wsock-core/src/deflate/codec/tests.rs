//! Releasing the zlib streams between messages: what the peer sees and
//! what the connection keeps, against streams never released.

use alloc::string::String;
use alloc::vec::Vec;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use proptest::prelude::*;

use super::{Deflater, Inflater, TAIL};

/// A chat/event feed as JSON, the usual WebSocket traffic: fixed keys,
/// a few recurring users, channels and words, fresh ids, times and
/// numbers. Deterministic.
pub(crate) fn json_corpus(n: usize) -> Vec<Vec<u8>> {
    const USERS: [&str; 12] = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        "mallory", "oscar",
    ];
    const WORDS: [&str; 40] = [
        "the",
        "a",
        "is",
        "to",
        "and",
        "of",
        "in",
        "it",
        "you",
        "that",
        "deploy",
        "build",
        "failed",
        "passed",
        "merge",
        "review",
        "please",
        "thanks",
        "looks",
        "good",
        "branch",
        "release",
        "tomorrow",
        "today",
        "meeting",
        "ticket",
        "fixed",
        "bug",
        "test",
        "ok",
        "lunch",
        "coffee",
        "server",
        "latency",
        "memory",
        "graph",
        "dashboard",
        "alert",
        "incident",
        "resolved",
    ];
    const KINDS: [&str; 4] = [
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "TYPING_START",
        "PRESENCE_UPDATE",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    (0..n)
        .map(|i| {
            let user = next(USERS.len() as u64) as usize;
            let mut text = String::new();
            for w in 0..3 + next(25) {
                if w > 0 {
                    text.push(' ');
                }
                text.push_str(WORDS[next(WORDS.len() as u64) as usize]);
            }
            alloc::format!(
                "{{\"op\":0,\"s\":{seq},\"t\":\"{kind}\",\"d\":{{\"id\":\"{id}\",\
                 \"channel_id\":\"81234567890{chan}\",\"guild_id\":\"41234567890123456\",\
                 \"author\":{{\"id\":\"{uid}\",\"username\":\"{name}\",\
                 \"avatar\":\"{avatar:016x}\",\"bot\":false}},\"content\":\"{text}\",\
                 \"timestamp\":\"2026-12-07T03:{min:02}:{sec:02}.{ms:03}000+00:00\",\
                 \"edited_timestamp\":null,\"tts\":false,\"mention_everyone\":false,\
                 \"mentions\":[],\"attachments\":[],\"embeds\":[],\"pinned\":false,\
                 \"type\":0,\"flags\":0,\"nonce\":\"{nonce}\"}}}}",
                seq = 1000 + i,
                kind = KINDS[next(4) as usize],
                id = 1_180_000_000_000_000_000 + next(1 << 40),
                chan = next(5),
                uid = 900_000_000_000_000 + user as u64 * 7919,
                name = USERS[user],
                avatar = (user as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
                min = (i / 60) % 60,
                sec = i % 60,
                ms = next(1000),
                nonce = next(1 << 50),
            )
            .into_bytes()
        })
        .collect()
}

/// Each message through `deflater`, as a connection sends it.
fn deflate_all(deflater: &mut Deflater, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    messages
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            deflater.compress(m, &mut out, true).unwrap();
            deflater.end_message();
            out
        })
        .collect()
}

/// Each compressed message through `inflater`, `step` input bytes and at
/// most `room` output bytes at a time, tail restored, as a connection
/// receives it.
fn inflate_all(
    inflater: &mut Inflater,
    wire: &[Vec<u8>],
    step: usize,
    room: usize,
) -> Vec<Vec<u8>> {
    wire.iter()
        .map(|c| {
            let input: Vec<u8> = [c.as_slice(), &TAIL].concat();
            let mut out = bytes::BytesMut::new();
            let mut at = 0;
            loop {
                let end = (at + step).min(input.len());
                let (used, full) = inflater.inflate(&input[at..end], &mut out, room).unwrap();
                at += used;
                if at == input.len() && !full {
                    break;
                }
            }
            inflater.end_message();
            out.to_vec()
        })
        .collect()
}

/// A peer's decompressor that is never released.
fn peer_inflate(bits: u8, wire: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut z = Decompress::new_with_window_bits(false, bits);
    wire.iter()
        .map(|c| {
            let mut out = Vec::with_capacity(64 * 1024);
            let input: Vec<u8> = [c.as_slice(), &TAIL].concat();
            z.decompress_vec(&input, &mut out, FlushDecompress::Sync)
                .unwrap();
            out
        })
        .collect()
}

#[allow(clippy::cast_precision_loss)] // sizes far below 2^52
fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b as f64
}

fn total(wire: &[Vec<u8>]) -> usize {
    wire.iter().map(Vec::len).sum()
}

/// zlib's defaults with context takeover: one 15-bit stream, level 6,
/// memLevel 8, a sync flush per message (what a peer like Python's
/// `websockets` with its compression settings at zlib's defaults sends).
fn zlib_default_size(messages: &[Vec<u8>]) -> usize {
    let mut z = Compress::new_with_window_bits(Compression::default(), false, 15);
    messages
        .iter()
        .map(|m| {
            let mut out = Vec::with_capacity(m.len() + 64);
            z.compress_vec(m, &mut out, FlushCompress::Sync).unwrap();
            out.len() - TAIL.len()
        })
        .sum()
}

#[test]
fn released_streams_send_what_the_peer_decodes() {
    let messages = json_corpus(600);
    for bits in [9, 12, 15] {
        let kept = deflate_all(&mut Deflater::new(bits, 6, false, false), &messages);
        let mut deflater = Deflater::new(bits, 6, false, true);
        let released = deflate_all(&mut deflater, &messages);
        assert!(deflater.z.is_none(), "no stream held between messages");
        assert_eq!(peer_inflate(bits, &kept), messages);
        assert_eq!(peer_inflate(bits, &released), messages, "{bits} bits");
        // A fresh stream primed with the window hashes every position of
        // it, where a running one skips some inside long matches, so the
        // bytes may differ; the size must not grow.
        let (kept, released) = (total(&kept), total(&released));
        assert!(released <= kept + kept / 50, "{bits}: {released} vs {kept}");
    }
}

/// Released every message, a deflater sends exactly what a brand-new
/// compressor primed with the window sends: reusing a spare from the
/// pool (reset) changes nothing, nor does the ring the window is kept in.
#[test]
fn released_streams_send_what_a_fresh_primed_stream_sends() {
    let messages = json_corpus(400);
    for bits in [9, 12, 14, 15] {
        let released = deflate_all(&mut Deflater::new(bits, 6, false, true), &messages);
        let mut sent: Vec<u8> = Vec::new();
        for (message, got) in messages.iter().zip(&released) {
            let mut z = Compress::new_with_window_bits(Compression::new(6), false, bits);
            let window = &sent[sent.len().saturating_sub(1 << bits)..];
            if !window.is_empty() {
                z.set_dictionary(window).unwrap();
            }
            // The same framing loop, around the fresh stream.
            let mut fresh = Deflater::new(bits, 6, true, false);
            fresh.z = Some(z);
            let mut out = Vec::new();
            fresh.compress(message, &mut out, true).unwrap();
            assert_eq!(&out, got, "{bits} bits");
            sent.extend_from_slice(message);
        }
    }
}

#[test]
fn released_streams_receive_byte_identical_messages() {
    let messages = json_corpus(300);
    for bits in [9, 12, 15] {
        let wire = deflate_all(&mut Deflater::new(bits, 6, false, false), &messages);
        for (step, room) in [(usize::MAX, usize::MAX), (7, 100), (1, 1)] {
            let mut kept = Inflater::new(bits, false, false);
            let mut released = Inflater::new(bits, false, true);
            assert_eq!(inflate_all(&mut kept, &wire, step, room), messages);
            assert_eq!(inflate_all(&mut released, &wire, step, room), messages);
            assert!(released.z.is_none() && kept.z.is_some());
        }
    }
}

#[test]
fn between_messages_only_the_windows_are_held() {
    let messages = json_corpus(50);
    let mut deflater = Deflater::new(12, 6, false, true);
    let wire = deflate_all(&mut deflater, &messages);
    let mut inflater = Inflater::new(12, false, true);
    inflate_all(&mut inflater, &wire, usize::MAX, usize::MAX);
    assert_eq!(deflater.memory(), 4096);
    assert_eq!(inflater.history.as_ref().unwrap().memory(), 4096);
    assert!(inflater.z.is_none());
    assert!(inflater.z.is_none());
    // No context takeover: nothing at all.
    let mut deflater = Deflater::new(12, 6, true, true);
    deflate_all(&mut deflater, &messages);
    assert_eq!(deflater.memory(), 0);
    // Kept streams (`release_after_message` off): zlib's state stays.
    let mut deflater = Deflater::new(12, 6, false, false);
    deflate_all(&mut deflater, &messages);
    assert!(deflater.memory() > 128 * 1024);
}

/// The compression ratio the default server answer leads to for the
/// server's messages (14-bit window, released streams) on JSON-like messages, against zlib's
/// defaults with context takeover. Prints the figures (`-- --nocapture`).
#[test]
fn json_ratio_within_ten_percent_of_zlib_defaults() {
    let messages = json_corpus(2000);
    let raw: usize = messages.iter().map(Vec::len).sum();
    let zlib = zlib_default_size(&messages);
    std::println!(
        "corpus: {} messages, {raw} bytes; zlib defaults: {zlib} bytes ({:.3})",
        messages.len(),
        ratio(zlib, raw)
    );
    for bits in [15, 14, 13, 12, 11, 10] {
        let timed = |release| {
            let start = std::time::Instant::now();
            let wire = deflate_all(&mut Deflater::new(bits, 6, false, release), &messages);
            (total(&wire), start.elapsed() / messages.len() as u32)
        };
        let (kept, kept_time) = timed(false);
        let (size, time) = timed(true);
        std::println!(
            "{bits} bits: released {size} bytes ({:.3}, {:+.1}% vs zlib), {time:?}/message; \
             kept {kept} bytes ({:+.1}%), {kept_time:?}/message",
            ratio(size, raw),
            (ratio(size, zlib) - 1.0) * 100.0,
            (ratio(kept, zlib) - 1.0) * 100.0,
        );
        if bits == crate::config::DeflateConfig::default().answer_server_window_bits {
            assert!(size * 10 <= zlib * 11, "{bits} bits: {size} vs {zlib}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any messages, any window, any input and output steps: released
    /// and kept streams decode the same bytes, and what a released
    /// deflater sends decodes for a peer that never releases.
    #[test]
    fn release_round_trip(
        bits in 9u8..=15,
        seeds in proptest::collection::vec((0usize..3000, any::<u32>()), 1..12),
        step in 1usize..5000,
        room in 1usize..5000,
    ) {
        let corpus = json_corpus(8);
        let messages: Vec<Vec<u8>> = seeds
            .iter()
            .map(|&(len, seed)| {
                let base = &corpus[seed as usize % corpus.len()];
                (0..len).map(|i| base[(i + seed as usize) % base.len()] ^ u8::from(i % 97 == 0)).collect()
            })
            .collect();
        let released = deflate_all(&mut Deflater::new(bits, 6, false, true), &messages);
        prop_assert_eq!(&peer_inflate(bits, &released), &messages);
        let kept = deflate_all(&mut Deflater::new(bits, 6, false, false), &messages);
        let mut inflater = Inflater::new(bits, false, true);
        prop_assert_eq!(&inflate_all(&mut inflater, &kept, step, room), &messages);
    }
}
