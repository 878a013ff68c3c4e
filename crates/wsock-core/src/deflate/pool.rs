//! Spare zlib streams, shared by the connections of a process.
//!
//! A connection frees its streams after every message
//! (`release_after_message`) and keeps only its windows. Freeing and
//! allocating zlib-rs's state for every message fragments the heap:
//! small long-lived allocations land in the freed holes, the next stream
//! no longer fits there, and resident memory grows by KiB per connection
//! although each holds only its windows. Compressors (250+ KiB) did that
//! most (measured with 500 idle Python clients: 33–47 KiB per connection,
//! 19 KiB when the compressors were kept out of the heap); decompressors
//! (42 KiB) still cost 4–5 KiB per connection with full windows. So a
//! released stream is reset and kept here for the next message, of any
//! connection with the same settings; at most [`SPARES`] of each kind are
//! kept, so the process holds a fixed few MiB however many connections it
//! has. A reset stream with the window as preset dictionary compresses
//! (or inflates) exactly as a new one.

use alloc::vec::Vec;
use std::sync::Mutex;

use flate2::{Compress, Compression, Decompress};

/// Most spare streams kept of each kind: about as many as can be working
/// at once on a large machine (one per busy thread), 2 MiB of compressors
/// at 15 bits, a third of a MiB of decompressors.
const SPARES: usize = 8;

/// The spare compressors, each with the window bits and level it was made
/// with.
static DEFLATERS: Mutex<Vec<(u8, u32, Compress)>> = Mutex::new(Vec::new());

/// The spare decompressors, all raw and with zlib's largest window
/// ([`INFLATE_BITS`]).
static INFLATERS: Mutex<Vec<Decompress>> = Mutex::new(Vec::new());

/// The window bits of every pooled decompressor. A stream compressed with
/// a smaller window inflates the same with a larger one, and zlib-rs
/// allocates a 32 KiB window whatever the bits, so this costs nothing,
/// while a reset keeps its allocation only at 15 bits (at other sizes
/// flate2 makes the state anew).
const INFLATE_BITS: u8 = 15;

/// A raw-deflate compressor for `bits` and `level`, fresh or as good as.
pub(crate) fn take(bits: u8, level: u32) -> Compress {
    let spare = DEFLATERS.lock().ok().and_then(|mut pool| {
        let at = pool
            .iter()
            .position(|(b, l, _)| *b == bits && *l == level)?;
        Some(pool.swap_remove(at).2)
    });
    spare.unwrap_or_else(|| Compress::new_with_window_bits(Compression::new(level), false, bits))
}

/// Gives a compressor back for the next message; dropped if enough are
/// kept already.
pub(crate) fn give_back(bits: u8, level: u32, mut z: Compress) {
    if let Ok(mut pool) = DEFLATERS.lock()
        && pool.len() < SPARES
    {
        z.reset();
        pool.push((bits, level, z));
    }
}

/// A raw-inflate stream (15-bit window), fresh or as good as.
pub(crate) fn take_inflater() -> Decompress {
    let spare = INFLATERS.lock().ok().and_then(|mut pool| pool.pop());
    spare.unwrap_or_else(|| Decompress::new_with_window_bits(false, INFLATE_BITS))
}

/// Gives a decompressor from [`take_inflater`] back; dropped if enough
/// are kept already.
pub(crate) fn give_back_inflater(mut z: Decompress) {
    if let Ok(mut pool) = INFLATERS.lock()
        && pool.len() < SPARES
    {
        z.reset(false);
        pool.push(z);
    }
}
