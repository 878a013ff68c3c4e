//! The per-message transform: raw DEFLATE with the RFC 7692 framing
//! (§7.2): a message is one sync-flushed stretch of a deflate stream whose
//! trailing `00 00 ff ff` is not sent.

use alloc::vec::Vec;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{DeflateParams, MIN_WINDOW_BITS};
use crate::config::{DeflateConfig, Role};
use crate::error::{Error, ProtocolError};

/// The end of a sync flush, stripped by senders, restored by receivers.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Most bytes inflated or deflated per zlib call: bounds the work done
/// between limit checks.
const STEP: usize = 16 * 1024;

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
        Self {
            inflater: Inflater::new(theirs, their_reset),
            deflater: (bits >= ZLIB_MIN_BITS).then(|| Deflater {
                z: None,
                bits,
                level: config.level.min(9),
                reset_each_message: our_reset,
            }),
            threshold: config.threshold,
        }
    }

    /// zlib state held now, in bytes (estimated from zlib's formulas).
    pub(crate) fn memory(&self) -> usize {
        let inflate = self.inflater.z.as_ref().map_or(0, |_| {
            (1usize << self.inflater.bits.max(ZLIB_MIN_BITS)) + 7 * 1024
        });
        let deflate = self
            .deflater
            .as_ref()
            .filter(|d| d.z.is_some())
            .map_or(0, |d| (1usize << (d.bits + 2)) + 128 * 1024 + 6 * 1024);
        inflate + deflate
    }
}

/// The receiving half.
pub(crate) struct Inflater {
    z: Option<Decompress>,
    bits: u8,
    reset_each_message: bool,
    /// The stream's final block (BFINAL) arrived in this message; what
    /// follows it in the message is ignored.
    ended: bool,
}

impl Inflater {
    fn new(bits: u8, reset_each_message: bool) -> Self {
        Self {
            z: None,
            bits,
            reset_each_message,
            ended: false,
        }
    }

    /// Inflates `input` onto `out`, adding at most `room` bytes. Returns
    /// the input bytes consumed and whether `room` ran out (more output may
    /// be pending). Memory follows the output actually produced.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        room: usize,
    ) -> Result<(usize, bool), Error> {
        if self.ended {
            return Ok((input.len(), false));
        }
        // A larger window than the sender's always decodes its stream.
        let bits = self.bits.max(ZLIB_MIN_BITS);
        let z = self
            .z
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let (mut used, mut written) = (0, 0);
        loop {
            let space = (room - written).min(STEP);
            if space == 0 {
                return Ok((used, true));
            }
            let (in_before, out_before) = (z.total_in(), z.total_out());
            let len = out.len();
            out.resize(len + space, 0);
            let status = z.decompress(&input[used..], &mut out[len..], FlushDecompress::None);
            let produced = (z.total_out() - out_before) as usize;
            let consumed = (z.total_in() - in_before) as usize;
            out.truncate(len + produced);
            used += consumed;
            written += produced;
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
    /// free the state until the next compressed message).
    pub(crate) fn end_message(&mut self) {
        if self.reset_each_message || self.ended {
            self.z = None;
        }
        self.ended = false;
    }
}

/// The sending half.
pub(crate) struct Deflater {
    z: Option<Compress>,
    bits: u8,
    level: u32,
    reset_each_message: bool,
}

impl Deflater {
    /// Appends `data` compressed and sync-flushed to `out`; with `last`,
    /// without the trailing `00 00 ff ff` (§7.2.1).
    pub(crate) fn compress(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), Error> {
        let (bits, level) = (self.bits, self.level);
        let z = self.z.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
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

    /// The message ended: with no context takeover, drop the state (it is
    /// rebuilt for the next message, so an idle connection holds none).
    pub(crate) fn end_message(&mut self) {
        if self.reset_each_message {
            self.z = None;
        }
    }
}
