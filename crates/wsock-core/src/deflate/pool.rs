//! Spare compressors, shared by the connections of a process.
//!
//! A connection frees its compressor after every message
//! (`release_after_message`) and keeps only its window. Freeing and
//! allocating zlib-rs's 250+ KiB for every message fragments the heap:
//! small long-lived allocations land in the freed holes, the next
//! compressor no longer fits there, and resident memory grows by tens of
//! KiB per connection although each holds a few KiB (measured with 500
//! idle Python clients: 33–47 KiB per connection, 19 KiB when the
//! compressors were kept out of the heap). So a released compressor is
//! reset and kept here for the next message, of any connection with the
//! same window and level; at most [`SPARES`] are kept, so the process
//! holds a fixed few MiB however many connections it has. A reset stream
//! with the window as preset dictionary compresses exactly as a new one.

use alloc::vec::Vec;
use std::sync::Mutex;

use flate2::{Compress, Compression};

/// Most spare compressors kept: about as many as can be compressing at
/// once on a large machine (one per busy thread), 2 MiB at 15 bits.
const SPARES: usize = 8;

/// The spares, each with the window bits and level it was made with.
static POOL: Mutex<Vec<(u8, u32, Compress)>> = Mutex::new(Vec::new());

/// A raw-deflate compressor for `bits` and `level`, fresh or as good as.
pub(crate) fn take(bits: u8, level: u32) -> Compress {
    let spare = POOL.lock().ok().and_then(|mut pool| {
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
    if let Ok(mut pool) = POOL.lock()
        && pool.len() < SPARES
    {
        z.reset();
        pool.push((bits, level, z));
    }
}
