//! The per-message transform: raw DEFLATE with the RFC 7692 framing
//! (§7.2): a message is one sync-flushed stretch of a deflate stream whose
//! trailing `00 00 ff ff` is not sent.
//!
//! With [`DeflateConfig::release_after_message`] each half frees its zlib
//! stream after every message and keeps only its window (a
//! [`History`]); the next message starts a fresh stream with that window
//! as preset dictionary, which continues the same LZ77 stream.

use alloc::vec::Vec;

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::history::History;
use super::pool;
use super::{DeflateParams, MIN_WINDOW_BITS};
use crate::config::{DeflateConfig, Role};
use crate::error::{Error, ProtocolError};

/// The end of a sync flush, stripped by senders, restored by receivers.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Most bytes inflated or deflated per zlib call: bounds the work done
/// between limit checks.
const STEP: usize = 16 * 1024;

/// Least output room an inflate step starts with.
const MIN_STEP: usize = 1024;

/// zlib's smallest raw-deflate window; a limit of 8 means "do not compress".
const ZLIB_MIN_BITS: u8 = 9;

/// Both directions of one connection.
pub(crate) struct Codec {
    pub(crate) inflater: Inflater,
    /// `None` when the peer limited our window to 8 bits.
    pub(crate) deflater: Option<Deflater>,
    pub(crate) threshold: usize,
}

impl Codec {
    pub(crate) fn new(params: DeflateParams, role: Role, config: &DeflateConfig) -> Self {
        let (ours, theirs, our_reset, their_reset, our_pref) = match role {
            Role::Server => (
                params.server_max_window_bits,
                params.client_max_window_bits,
                params.server_no_context_takeover,
                params.client_no_context_takeover,
                config.server_max_window_bits,
            ),
            Role::Client => (
                params.client_max_window_bits,
                params.server_max_window_bits,
                params.client_no_context_takeover,
                params.server_no_context_takeover,
                config.client_max_window_bits,
            ),
        };
        let bits = ours.min(our_pref.max(MIN_WINDOW_BITS));
        let release = config.release_after_message;
        Self {
            inflater: Inflater::new(theirs, their_reset, release),
            deflater: (bits >= ZLIB_MIN_BITS)
                .then(|| Deflater::new(bits, config.level.min(9), our_reset, release)),
            threshold: config.threshold,
        }
    }

    /// Frees both zlib streams, keeping only the windows context takeover
    /// needs. Only between messages: `sending` or `receiving` says that
    /// direction is in the middle of one, whose stream is still needed.
    pub(crate) fn release(&mut self, sending: bool, receiving: bool) {
        if !receiving {
            self.inflater.release();
        }
        if !sending && let Some(deflater) = self.deflater.as_mut() {
            deflater.release();
        }
    }

    /// Deflate state held now, in bytes: zlib-rs's allocations (from its
    /// layout) for live streams, plus the windows kept between messages.
    pub(crate) fn memory(&self) -> usize {
        let inflate = self.inflater.z.as_ref().map_or(0, |_| INFLATE_STATE);
        let deflate = self.deflater.as_ref().map_or(0, Deflater::memory);
        inflate + deflate + self.inflater.history.as_ref().map_or(0, History::memory)
    }
}

/// zlib-rs's inflate allocation: a 32 KiB window whatever the window bits,
/// plus its state and code tables.
const INFLATE_STATE: usize = 32 * 1024 + 10 * 1024;

/// zlib-rs's deflate allocation at memLevel 8 for `bits`: window and chain
/// table (2^(bits+2)), a hash table of 64 Ki entries (128 KiB, fixed), and
/// 112 KiB of symbol and pending buffers, plus its state.
fn deflate_state(bits: u8) -> usize {
    (1usize << (bits + 2)) + 128 * 1024 + 112 * 1024 + 6 * 1024
}

/// `data` compressed as a message of its own, from a fresh stream with
/// `bits` of window: sync-flushed, without the trailing `00 00 ff ff`.
/// It refers to nothing before it, so any receiver whose window is at
/// least 2^`bits` inflates it whatever it received before.
pub(crate) fn compress_alone(data: &[u8], bits: u8, level: u32) -> Result<Vec<u8>, Error> {
    let mut deflater = Deflater::new(bits, level, true, true);
    let mut out = Vec::new();
    let result = deflater.compress(data, &mut out, true);
    deflater.end_message();
    result.map(|()| out)
}

/// The receiving half.
pub(crate) struct Inflater {
    /// From the pool of spares (`pool::take_inflater`), with zlib's
    /// largest window: a larger window than the sender's always decodes
    /// its stream.
    z: Option<Decompress>,
    reset_each_message: bool,
    /// The stream's final block (BFINAL) arrived in this message; what
    /// follows it in the message is ignored.
    ended: bool,
    /// The peer's window, recorded with context takeover so the stream
    /// can be freed between messages.
    history: Option<History>,
    /// Free the stream after every message.
    release_after_message: bool,
}

impl Inflater {
    fn new(bits: u8, reset_each_message: bool, release_after_message: bool) -> Self {
        // What the peer refers to is at most its window back, and no
        // less than zlib's smallest.
        let bits = bits.max(ZLIB_MIN_BITS);
        Self {
            z: None,
            reset_each_message,
            ended: false,
            history: (!reset_each_message).then(|| History::new(bits)),
            release_after_message,
        }
    }

    /// The stream, made on first use with the window kept since the last
    /// message as its preset dictionary.
    fn stream(&mut self) -> Result<&mut Decompress, Error> {
        if self.z.is_none() {
            let mut z = pool::take_inflater();
            if let Some(history) = self.history.as_mut().filter(|h| !h.is_empty()) {
                z.set_dictionary(history.window())
                    .map_err(|_| Error::InvalidState("restoring the inflate window failed"))?;
            }
            self.z = Some(z);
        }
        Ok(self.z.as_mut().expect("made above"))
    }

    /// Inflates `input` onto `out`, adding at most `room` bytes. Returns
    /// the input bytes consumed and whether `room` ran out (more output may
    /// be pending). Memory follows the output actually produced.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut bytes::BytesMut,
        room: usize,
    ) -> Result<(usize, bool), Error> {
        if self.ended {
            return Ok((input.len(), false));
        }
        let (mut used, mut written) = (0, 0);
        // Output room per step: from what this input likely inflates to
        // (JSON inflates 5–8×), doubling while it fills, up to STEP. A
        // full STEP for a 100-byte message would allocate 16 KiB for every
        // message, held as long as the message (and fragmenting the heap).
        let mut step = input.len().saturating_mul(8).clamp(MIN_STEP, STEP);
        loop {
            let space = (room - written).min(step);
            if space == 0 {
                return Ok((used, true));
            }
            let len = out.len();
            out.resize(len + space, 0);
            let z = self.stream()?;
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let status = z.decompress(&input[used..], &mut out[len..], FlushDecompress::None);
            let produced = (z.total_out() - out_before) as usize;
            let consumed = (z.total_in() - in_before) as usize;
            out.truncate(len + produced);
            if let Some(history) = self.history.as_mut() {
                history.push(&out[len..]);
            }
            used += consumed;
            written += produced;
            if produced == space {
                step = (step * 2).min(STEP);
            }
            match status {
                Ok(Status::StreamEnd) => {
                    self.ended = true;
                    return Ok((input.len(), false));
                }
                Ok(_) => {}
                Err(_) => return Err(ProtocolError::Extension("invalid compressed data").into()),
            }
            if produced < space {
                if used == input.len() {
                    return Ok((used, false));
                }
                // Output space left, input left, and no progress: zlib
                // cannot go on, and looping would never end.
                if produced == 0 && consumed == 0 {
                    return Err(ProtocolError::Extension("invalid compressed data").into());
                }
            }
        }
    }

    /// The message ended: forget the context if the peer resets it (and
    /// free the state until the next compressed message), or keep only
    /// the window when releasing after every message.
    pub(crate) fn end_message(&mut self) {
        if self.ended {
            // The peer ended its stream (BFINAL): the next message starts
            // a new one, which cannot refer to this one.
            if let Some(history) = self.history.as_mut() {
                history.clear();
            }
            self.give_back();
        } else if self.reset_each_message || self.release_after_message {
            self.release();
        }
        self.ended = false;
    }

    /// Frees the stream between messages (to the pool of spares); its
    /// window stays in `history`.
    pub(crate) fn release(&mut self) {
        self.give_back();
        if let Some(history) = self.history.as_mut() {
            history.window();
        }
    }
}

impl Inflater {
    fn give_back(&mut self) {
        if let Some(z) = self.z.take() {
            pool::give_back_inflater(z);
        }
    }
}

/// The sending half.
pub(crate) struct Deflater {
    z: Option<Compress>,
    bits: u8,
    level: u32,
    reset_each_message: bool,
    /// Our window, recorded with context takeover so the stream can be
    /// freed between messages.
    history: Option<History>,
    /// Free the stream after every message.
    release_after_message: bool,
}

impl Deflater {
    fn new(bits: u8, level: u32, reset_each_message: bool, release_after_message: bool) -> Self {
        Self {
            z: None,
            bits,
            level,
            reset_each_message,
            history: (!reset_each_message).then(|| History::new(bits)),
            release_after_message,
        }
    }

    /// The stream, made on first use with the window kept since the last
    /// message as its preset dictionary.
    fn stream(&mut self) -> Result<&mut Compress, Error> {
        if self.z.is_none() {
            let mut z = pool::take(self.bits, self.level);
            if let Some(history) = self.history.as_mut().filter(|h| !h.is_empty()) {
                z.set_dictionary(history.window())
                    .map_err(|_| Error::InvalidState("restoring the deflate window failed"))?;
            }
            self.z = Some(z);
        }
        Ok(self.z.as_mut().expect("made above"))
    }

    fn memory(&self) -> usize {
        let stream = self.z.as_ref().map_or(0, |_| deflate_state(self.bits));
        stream + self.history.as_ref().map_or(0, History::memory)
    }

    /// Appends `data` compressed and sync-flushed to `out`; with `last`,
    /// without the trailing `00 00 ff ff` (§7.2.1).
    pub(crate) fn compress(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), Error> {
        let z = self.stream()?;
        let mut used = 0;
        loop {
            out.reserve((data.len() - used) / 2 + 64);
            let before = z.total_in();
            z.compress_vec(&data[used..], out, FlushCompress::Sync)
                .map_err(|_| Error::InvalidState("compression failed"))?;
            used += (z.total_in() - before) as usize;
            if used == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if let Some(history) = self.history.as_mut() {
            history.push(data);
        }
        if last && out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else if last && out.is_empty() {
            // zlib writes nothing for a sync flush right after another
            // (no input in between), but the message must still end with
            // an empty stored block: `00` once the tail is removed
            // (§7.2.3.6). Sent empty, the receiver's restored tail would
            // start a broken block and garble every later message.
            out.push(0x00);
        }
        Ok(())
    }

    /// The window bits and level this compressor uses.
    pub(crate) fn settings(&self) -> (u8, u32) {
        (self.bits, self.level)
    }

    /// A message compressed elsewhere without history (a prepared one) was
    /// sent instead of one compressed here: record its plaintext in the
    /// window, as the receiver does, and drop the live stream, whose window
    /// no longer matches; the next message's stream starts from the
    /// recorded window (a preset dictionary). Without context takeover
    /// there is nothing to keep.
    pub(crate) fn take_over(&mut self, plaintext: &[u8]) {
        if let Some(history) = self.history.as_mut() {
            history.push(plaintext);
        }
        // Not `release`: the window is put in order when a stream needs it.
        if let Some(z) = self.z.take() {
            pool::give_back(self.bits, self.level, z);
        }
    }

    /// The message ended: with no context takeover, drop the state (it is
    /// rebuilt for the next message, so an idle connection holds none);
    /// when releasing after every message, keep only the window.
    pub(crate) fn end_message(&mut self) {
        if self.reset_each_message || self.release_after_message {
            self.release();
        }
    }

    /// Frees the stream between messages (to the pool of spares); its
    /// window stays in `history`.
    pub(crate) fn release(&mut self) {
        if let Some(z) = self.z.take() {
            pool::give_back(self.bits, self.level, z);
        }
        if let Some(history) = self.history.as_mut() {
            history.window();
        }
    }
}

#[cfg(test)]
mod tests;
