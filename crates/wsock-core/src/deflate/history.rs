//! The sliding window of one direction, kept outside zlib so its state can
//! be freed between messages.
//!
//! With context takeover a message may refer back to the last 2^w bytes of
//! the earlier messages' uncompressed data, and nothing else of the zlib
//! state is needed to go on: a fresh raw deflate or inflate stream given
//! those bytes as a preset dictionary (`set_dictionary`) continues the
//! same LZ77 stream: what carries over between messages under RFC 7692
//! §7.2.1 is the sliding window alone (each message ends on a sync flush,
//! so no block is open). zlib-rs's compressor state is 250+ KiB; the
//! window at 14 bits is 16 KiB.

use alloc::vec::Vec;

/// The last `size` bytes of a direction's uncompressed data, in a ring
/// that grows to at most `size` bytes as it fills and is then never
/// reallocated as messages pass, so recording costs a copy and nothing
/// else.
pub(crate) struct History {
    /// Oldest byte at `start` once full; in order from 0 until then.
    buf: Vec<u8>,
    start: usize,
    size: usize,
}

impl History {
    /// A window of 2^`bits` bytes, empty (the start of a stream).
    pub(crate) fn new(bits: u8) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            size: 1 << bits,
        }
    }

    /// Records `data`, just compressed or inflated.
    pub(crate) fn push(&mut self, data: &[u8]) {
        let mut data = &data[data.len().saturating_sub(self.size)..];
        let fill = (self.size - self.buf.len()).min(data.len());
        if fill > 0 {
            self.grow(fill);
            self.buf.extend_from_slice(&data[..fill]);
            data = &data[fill..];
        }
        while !data.is_empty() {
            let n = (self.size - self.start).min(data.len());
            self.buf[self.start..self.start + n].copy_from_slice(&data[..n]);
            self.start = (self.start + n) % self.size;
            data = &data[n..];
        }
    }

    /// The window in order, its buffer no larger than it, for a preset
    /// dictionary or a connection about to hold nothing else.
    pub(crate) fn window(&mut self) -> &[u8] {
        self.buf.rotate_left(self.start);
        self.start = 0;
        self.buf.shrink_to_fit();
        &self.buf
    }

    /// A new stream starts: nothing before it may be referred to.
    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Bytes allocated.
    pub(crate) fn memory(&self) -> usize {
        self.buf.capacity()
    }

    /// Room for exactly `extra` more bytes while filling up (never past
    /// `size`). Not doubling: the window is put back to its exact size
    /// between messages ([`window`](Self::window)), so slack would be
    /// allocated for every message and shrunk away again, two
    /// reallocations where one does, and freed blocks of every size left
    /// in the heap (resident memory an idle connection pays for).
    fn grow(&mut self, extra: usize) {
        self.buf.reserve_exact(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_window_of_bytes() {
        let mut h = History::new(8);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut all = Vec::new();
        for piece in data
            .chunks(37)
            .chain([&data[..300], &data[..3], &[][..], &data[..256]])
        {
            h.push(piece);
            all.extend_from_slice(piece);
            assert!(h.memory() <= 256, "never more than the window");
            if all.len() % 5 == 0 {
                let from = all.len().saturating_sub(256);
                assert_eq!(h.window(), &all[from..]);
            }
        }
        assert_eq!(h.window(), &all[all.len() - 256..]);
        assert_eq!(h.memory(), 256);
        let mut short = History::new(10);
        short.push(b"abc");
        short.push(b"de");
        assert_eq!(short.window(), b"abcde");
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.memory(), 0);
    }
}
