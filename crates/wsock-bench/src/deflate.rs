//! The load generators' side of permessage-deflate (RFC 7692), shared by
//! the echo and fan-out benchmarks: the offer a browser makes, reading the
//! server's answer, compressing what a client sends and inflating what it
//! receives, with context takeover unless the answer forbids it, and the
//! JSON-like messages that make compression worth measuring.

use std::io;

/// The extension offer as Chromium and Firefox send it.
pub const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// The four bytes a sync flush ends with, which RFC 7692 §7.2.1 leaves
/// off the wire and §7.2.2 puts back before inflating.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// What the server agreed to, from its `Sec-WebSocket-Extensions` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// The window the client may compress with (8..=15).
    pub client_window_bits: u8,
    /// The client must reset its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server resets its compressor after every message, so the
    /// client's inflater may too.
    pub server_no_context_takeover: bool,
}

impl Agreed {
    /// The agreement in a server's `Sec-WebSocket-Extensions` value, or
    /// `None` when it did not accept permessage-deflate.
    pub fn parse(answer: Option<&str>) -> Option<Self> {
        let answer = answer?;
        let mut params = answer.split(';').map(str::trim);
        if params.next()? != "permessage-deflate" {
            return None;
        }
        let mut agreed = Self {
            client_window_bits: 15,
            client_no_context_takeover: false,
            server_no_context_takeover: false,
        };
        for param in params {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            match name.trim() {
                "client_no_context_takeover" => agreed.client_no_context_takeover = true,
                "server_no_context_takeover" => agreed.server_no_context_takeover = true,
                "client_max_window_bits" => {
                    if let Ok(bits) = value.trim().trim_matches('"').parse::<u8>() {
                        agreed.client_window_bits = bits.clamp(9, 15);
                    }
                }
                _ => {}
            }
        }
        Some(agreed)
    }
}

/// Compresses one message after another, as a client that agreed to
/// `agreed` must.
#[derive(Debug)]
pub struct Deflater {
    compress: flate2::Compress,
    reset: bool,
}

impl Deflater {
    /// A compressor at zlib's default level within the agreed window.
    /// (zlib cannot make a 256-byte window: 9 bits stands in for 8.)
    pub fn new(agreed: Agreed) -> Self {
        Self {
            compress: flate2::Compress::new_with_window_bits(
                flate2::Compression::default(),
                false,
                agreed.client_window_bits.max(9),
            ),
            reset: agreed.client_no_context_takeover,
        }
    }

    /// Appends `message` compressed (without the sync-flush tail) to `out`.
    pub fn deflate(&mut self, message: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let start = out.len();
        let mut input = message;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = self.compress.total_in();
            self.compress
                .compress_vec(input, out, flate2::FlushCompress::Sync)
                .map_err(io::Error::other)?;
            input = &input[(self.compress.total_in() - before) as usize..];
            // Done when all input is taken and the flush did not fill the
            // spare room (zlib stops short of it only when finished).
            if input.is_empty() && out.len() < out.capacity() && out[start..].ends_with(&TAIL) {
                break;
            }
        }
        out.truncate(out.len() - TAIL.len());
        if self.reset {
            self.compress.reset();
        }
        Ok(())
    }
}

/// Inflates one message after another, at most `limit` bytes each.
#[derive(Debug)]
pub struct Inflater {
    decompress: flate2::Decompress,
    reset: bool,
    limit: usize,
}

impl Inflater {
    /// An inflater for messages of at most `limit` bytes from a server
    /// that agreed to `agreed` (with context takeover when `None`).
    pub fn new(agreed: Option<Agreed>, limit: usize) -> Self {
        Self {
            decompress: flate2::Decompress::new(false),
            reset: agreed.is_some_and(|a| a.server_no_context_takeover),
            limit,
        }
    }

    /// Inflates one compressed message (the payload and the four bytes the
    /// sender left out) into `out`, replacing what it held.
    pub fn inflate(&mut self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        out.reserve(self.limit);
        for input in [payload, &TAIL[..]] {
            let mut input = input;
            while !input.is_empty() {
                if out.len() >= self.limit {
                    return Err(io::Error::other("inflated message too large"));
                }
                if out.len() == out.capacity() {
                    out.reserve(self.limit - out.len());
                }
                let before = self.decompress.total_in();
                self.decompress
                    .decompress_vec(input, out, flate2::FlushDecompress::Sync)
                    .map_err(io::Error::other)?;
                input = &input[(self.decompress.total_in() - before) as usize..];
            }
        }
        if self.reset {
            self.decompress.reset(false);
        }
        Ok(())
    }
}

/// Message number `seq` of a JSON-like stream (chat events: ids, names,
/// text, counters that change from message to message), exactly `len`
/// bytes of ASCII: records are added while they fit, then spaces pad.
pub fn json_message(seq: u64, len: usize) -> Vec<u8> {
    const NAMES: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
    const WORDS: [&str; 8] = [
        "deploy passed",
        "merge the release branch",
        "please review",
        "tests are green",
        "rollback done",
        "on call tonight",
        "see the dashboard",
        "latency is back to normal",
    ];
    let mut out = String::with_capacity(len + 256);
    out.push('[');
    let mut i = 0u64;
    loop {
        // A cheap mix so that numbers differ per message and per record.
        let x = (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            .rotate_left(17);
        let record = format!(
            "{}{{\"op\":0,\"s\":{seq},\"t\":\"MESSAGE_CREATE\",\"d\":{{\"id\":\"{}\",\"channel_id\":\"8123456789{:02}\",\"author\":{{\"username\":\"{}\",\"bot\":{}}},\"content\":\"{}, {}\",\"score\":{}}}}}",
            if i == 0 { "" } else { "," },
            1_180_000_000_000_000_000u64.wrapping_add(x % 1_000_000_000_000),
            x % 7,
            NAMES[(x % 5) as usize],
            x.is_multiple_of(3),
            WORDS[(x % 8) as usize],
            WORDS[((x >> 8) % 8) as usize],
            x % 100_000,
        );
        if out.len() + record.len() + 1 > len {
            break;
        }
        out.push_str(&record);
        i += 1;
    }
    out.push(']');
    let mut out = out.into_bytes();
    out.truncate(len);
    out.resize(len, b' ');
    out
}

#[cfg(test)]
mod tests {
    use super::{Agreed, Deflater, Inflater, json_message};

    #[test]
    fn deflated_messages_inflate_back_with_context_takeover() {
        let agreed = Agreed::parse(Some("permessage-deflate; client_max_window_bits=12")).unwrap();
        assert_eq!(agreed.client_window_bits, 12);
        let mut deflater = Deflater::new(agreed);
        let mut inflater = Inflater::new(None, 4096);
        let (mut wire, mut back) = (Vec::new(), Vec::new());
        for seq in 0..20 {
            let message = json_message(seq, 1024);
            assert_eq!(message.len(), 1024);
            wire.clear();
            deflater.deflate(&message, &mut wire).unwrap();
            assert!(wire.len() < 1024);
            inflater.inflate(&wire, &mut back).unwrap();
            assert_eq!(back, message);
        }
        assert_eq!(Agreed::parse(None), None);
        assert_eq!(Agreed::parse(Some("x-webkit-deflate-frame")), None);
    }
}
