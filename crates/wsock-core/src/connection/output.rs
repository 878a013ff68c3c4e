//! The bytes queued for the transport: a write buffer for frame headers and
//! small payloads, plus large payloads held as the caller's own buffers
//! (moved in, never copied) and written out between them.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::Bytes;

/// Unwritten output, in order.
#[derive(Debug, Default)]
pub(super) struct Output {
    /// Headers and copied payloads; `buf[start..]` is unwritten.
    buf: Vec<u8>,
    start: usize,
    /// Payloads kept whole, oldest first, each written after `buf[..at]`.
    held: VecDeque<Held>,
    /// Unwritten bytes in `held`.
    held_bytes: usize,
}

#[derive(Debug)]
struct Held {
    /// Where in `buf` the payload goes: after `buf[..at]`, before `buf[at..]`.
    at: usize,
    /// Shared with the caller's other sends (one message to many
    /// connections is not copied for each).
    data: Bytes,
    /// Bytes of `data` already written.
    written: usize,
}

impl Output {
    /// Unwritten bytes.
    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.start + self.held_bytes
    }

    /// The write buffer, for appending a frame (header and copied
    /// payload). Written bytes are dropped from the front first when they
    /// are at least half of it, so it does not grow while output flows.
    #[inline]
    pub(super) fn append(&mut self) -> &mut Vec<u8> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.compact();
        }
        &mut self.buf
    }

    /// Drops the written bytes from the front of the write buffer.
    #[cold]
    fn compact(&mut self) {
        self.buf.drain(..self.start);
        for held in &mut self.held {
            held.at -= self.start;
        }
        self.start = 0;
    }

    /// Queues `data` after everything appended so far, without copying it.
    pub(super) fn hold(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.held_bytes += data.len();
        self.held.push_back(Held {
            at: self.buf.len(),
            data,
            written: 0,
        });
    }

    /// The oldest unwritten bytes that are contiguous in memory.
    #[cfg(test)]
    fn front(&self) -> &[u8] {
        match self.held.front() {
            Some(held) if held.at == self.start => &held.data[held.written..],
            Some(held) => &self.buf[self.start..held.at],
            None => &self.buf[self.start..],
        }
    }

    /// Fills `dst` with the unwritten bytes in order, one slice per
    /// contiguous piece, as many as fit; returns how many it filled.
    pub(super) fn slices<'a>(&'a self, dst: &mut [&'a [u8]]) -> usize {
        if self.held.is_empty() {
            // The common case: everything is in the write buffer.
            let rest = &self.buf[self.start..];
            if rest.is_empty() || dst.is_empty() {
                return 0;
            }
            dst[0] = rest;
            return 1;
        }
        let mut filled = 0;
        let mut pos = self.start;
        for held in &self.held {
            for piece in [&self.buf[pos..held.at], &held.data[held.written..]] {
                if piece.is_empty() {
                    continue;
                }
                if filled == dst.len() {
                    return filled;
                }
                dst[filled] = piece;
                filled += 1;
            }
            pos = held.at;
        }
        let tail = &self.buf[pos..];
        if !tail.is_empty() && filled < dst.len() {
            dst[filled] = tail;
            filled += 1;
        }
        filled
    }

    /// Marks the first `n` unwritten bytes as written (at most all of them);
    /// returns how many that was. Emptied, the write buffer is freed if it
    /// grew past `keep` bytes.
    #[inline]
    pub(super) fn consume(&mut self, n: usize, keep: usize) -> usize {
        let n = n.min(self.len());
        if self.held.is_empty() {
            self.start += n;
        } else {
            self.consume_held(n);
        }
        if self.len() == 0 {
            self.clear();
            if self.buf.capacity() > keep {
                self.buf = Vec::new();
            }
        }
        n
    }

    /// `consume` across held payloads: piece by piece, in order.
    fn consume_held(&mut self, mut left: usize) {
        while left > 0 {
            match self.held.front_mut() {
                Some(held) if held.at == self.start => {
                    let step = left.min(held.data.len() - held.written);
                    held.written += step;
                    self.held_bytes -= step;
                    left -= step;
                    if held.written == held.data.len() {
                        self.held.pop_front();
                    }
                }
                next => {
                    let end = next.map_or(self.buf.len(), |held| held.at);
                    let step = left.min(end - self.start);
                    self.start += step;
                    left -= step;
                }
            }
        }
    }

    /// Drops everything unwritten.
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        if !self.held.is_empty() {
            self.held.clear();
            self.held_bytes = 0;
        }
    }

    /// Frees the buffers if nothing is queued.
    pub(super) fn free_if_empty(&mut self) {
        if self.len() == 0 {
            *self = Self::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn drain_by(out: &mut Output, step: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while out.len() > 0 {
            let front = out.front();
            let n = step.min(front.len());
            got.extend_from_slice(&front[..n]);
            out.consume(n, 1024);
        }
        got
    }

    #[test]
    fn held_payloads_come_out_in_place() {
        let mut out = Output::default();
        out.append().extend_from_slice(b"ab");
        out.hold(Bytes::from_static(b"CDE"));
        out.hold(Bytes::from_static(b"FG"));
        out.append().extend_from_slice(b"h");
        out.hold(Bytes::from_static(b"IJ"));
        assert_eq!(out.len(), 10);
        let mut slices = [&[][..]; 8];
        let n = out.slices(&mut slices);
        assert_eq!(&slices[..n], &[&b"ab"[..], b"CDE", b"FG", b"h", b"IJ"][..]);
        let n = out.slices(&mut slices[..2]);
        assert_eq!(n, 2);
        assert_eq!(drain_by(&mut out, 3), b"abCDEFGhIJ");
        assert_eq!(out.len(), 0);
    }

    proptest! {
        /// Any mix of appended and held pieces, drained in any step size,
        /// with appends between the writes, comes out in order.
        #[test]
        fn order_is_kept(
            pieces in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..20),
            step in 1usize..50,
        ) {
            let mut out = Output::default();
            let mut want = Vec::new();
            let mut got = Vec::new();
            for (held, data) in pieces {
                want.extend_from_slice(&data);
                if held {
                    out.hold(data.into());
                } else {
                    out.append().extend_from_slice(&data);
                }
                // Write a little between queueing, as a transport would.
                let mut slices = [&[][..]; 3];
                let n = out.slices(&mut slices);
                let mut take = step;
                let mut written = 0;
                for s in &slices[..n] {
                    let k = take.min(s.len());
                    got.extend_from_slice(&s[..k]);
                    written += k;
                    take -= k;
                }
                prop_assert_eq!(out.consume(written, 64), written);
            }
            got.extend(drain_by(&mut out, step));
            prop_assert_eq!(got, want);
            prop_assert_eq!(out.len(), 0);
        }
    }

    #[test]
    fn clear_drops_everything() {
        let mut out = Output::default();
        out.append().extend_from_slice(&[1, 2]);
        out.hold(vec![3; 10].into());
        out.clear();
        assert_eq!(out.len(), 0);
        assert!(out.front().is_empty());
    }
}
