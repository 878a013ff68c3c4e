//! `Utf8Validator` against `std::str::from_utf8` over arbitrary chunkings.
//!
//! Input: `[n][n chunk lengths][text bytes…]`.
//!
//! Checks: the validator accepts exactly what std accepts; it fails fast —
//! at the piece holding the first byte after which the text can no longer
//! be valid UTF-8, never earlier, never later; `is_complete` after each
//! accepted piece says whether the text so far ends on a code point
//! boundary; `finish` resets it for reuse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsock_core::__internals::Utf8Validator;
use wsock_fuzz::{chunks, take_lens};

/// The index of the first byte whose arrival makes `data` invalid, if any.
fn first_bad_byte(data: &[u8]) -> Option<usize> {
    let err = std::str::from_utf8(data).err()?;
    let start = err.valid_up_to();
    match err.error_len() {
        // Only an unfinished code point at the end: not invalid yet.
        None => None,
        // The bad sequence is `len` bytes; the byte revealing it is inside
        // it or right after it. Find it by checking prefixes.
        Some(len) => (start..=(start + len).min(data.len() - 1)).find(|&i| {
            std::str::from_utf8(&data[..=i])
                .err()
                .is_some_and(|e| e.error_len().is_some())
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let (lens, text) = take_lens(data);
    let pieces = chunks(text, lens, 1);
    let valid = std::str::from_utf8(text).is_ok();
    let bad = first_bad_byte(text);
    assert_eq!(valid, bad.is_none() && std::str::from_utf8(text).is_ok());

    let mut v = Utf8Validator::new();
    let mut offset = 0;
    let mut failed = false;
    for piece in &pieces {
        let end = offset + piece.len();
        match v.feed(piece) {
            Ok(()) => {
                if let Some(b) = bad {
                    assert!(
                        b >= end,
                        "byte {b} is invalid, but piece {offset}..{end} was accepted"
                    );
                }
                let prefix_ok = std::str::from_utf8(&text[..end]).is_ok();
                assert_eq!(
                    v.is_complete(),
                    prefix_ok,
                    "is_complete wrong after {end} bytes"
                );
            }
            Err(_) => {
                let b = bad.expect("valid text rejected");
                assert!(
                    b >= offset && b < end,
                    "byte {b} is invalid; reported at piece {offset}..{end}"
                );
                failed = true;
                break;
            }
        }
        offset = end;
    }
    if !failed {
        assert!(bad.is_none());
        assert_eq!(v.finish().is_ok(), valid);
        // `finish` resets the validator.
        assert!(v.is_complete());
        assert!(v.feed("é".as_bytes()).is_ok() && v.finish().is_ok());
    }
});
