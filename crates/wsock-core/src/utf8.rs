//! Incremental UTF-8 validation that fails fast (RFC 6455 §8.1).
//!
//! Text arrives in frames and frames arrive in pieces. The validator keeps
//! at most three bytes of an unfinished code point between pieces and
//! reports an invalid sequence as soon as its bytes are seen — not at the
//! end of the message — so a peer cannot make us buffer garbage.
//!
//! Each piece is split where its last code point is cut off, and the part
//! before is checked in one SIMD pass (simdutf8): no slower on non-ASCII
//! text than on ASCII. The caller keeps the bytes where they are (a
//! message gathered from pieces is handed out without checking it again);
//! the validator only keeps the few bytes of a code point cut between
//! pieces.

/// Validates a byte stream piece by piece.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

/// The bytes seen so far are not the start of any valid UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl core::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl core::error::Error for InvalidUtf8 {}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Self {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Checks the next piece. Fails as soon as the bytes so far cannot
    /// begin valid UTF-8, including a code point split across pieces.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            bytes = self.complete_partial(bytes)?;
            if self.partial_len > 0 {
                // `bytes` ran out inside the carried code point.
                return Ok(());
            }
        }
        let (whole, tail) = bytes.split_at(whole_len(bytes));
        validate(whole)?;
        check_unfinished(tail)?;
        self.partial[..tail.len()].copy_from_slice(tail);
        self.partial_len = tail.len() as u8;
        Ok(())
    }

    /// Finishes the code point carried over from the last piece; returns the
    /// rest of `bytes`.
    fn complete_partial<'a>(&mut self, bytes: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = self.partial_len as usize;
        let need = utf8_len(self.partial[0]).saturating_sub(have);
        let take = need.min(bytes.len());
        self.partial[have..have + take].copy_from_slice(&bytes[..take]);
        let len = have + take;
        match core::str::from_utf8(&self.partial[..len]) {
            Ok(_) => {
                self.partial_len = 0;
                Ok(&bytes[take..])
            }
            Err(e) if e.error_len().is_none() => {
                self.partial_len = len as u8;
                Ok(&bytes[take..])
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the text: an unfinished code point at the end is invalid.
    /// Resets the validator for the next text.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.reset();
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }

    /// Forgets any carried bytes.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Whether the text so far ends on a code point boundary.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }
}

/// `bytes` as text, or [`InvalidUtf8`]: `core::str::from_utf8` with SIMD
/// (simdutf8; about ten times faster on non-ASCII text). Text handed out
/// whole is checked with this.
#[inline]
pub fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

/// The length of `bytes` without an unfinished code point at its end: a
/// lead byte among the last three followed by fewer continuation bytes
/// than it announces. Whatever else is wrong is left for [`validate`].
fn whole_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if byte & 0xc0 != 0x80 {
            return if utf8_len(byte) > back {
                len - back
            } else {
                len
            };
        }
    }
    len
}

/// Fails if `tail`, an unfinished code point, can already not become a
/// valid one (for example `F4 90`, above U+10FFFF).
fn check_unfinished(tail: &[u8]) -> Result<(), InvalidUtf8> {
    match core::str::from_utf8(tail) {
        Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
        _ => Ok(()),
    }
}

/// The length of the sequence a lead byte starts (1 for invalid leads, so
/// that validation of the lone byte reports the error).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn chunked(data: &[u8], cuts: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, data.len());
            v.feed(&data[start..cut])?;
            start = cut;
        }
        v.feed(&data[start..])?;
        v.finish()
    }

    #[test]
    fn fails_fast_inside_a_code_point() {
        // §8.1: F4 90 can never start valid UTF-8 (above U+10FFFF).
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xf4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(InvalidUtf8));
        // An overlong lead fails on its own byte.
        assert_eq!(Utf8Validator::new().feed(&[0xc0]), Err(InvalidUtf8));
        // Surrogates (ED A0..) fail at the second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[b'a', 0xed]), Ok(()));
        assert_eq!(v.feed(&[0xa0]), Err(InvalidUtf8));
    }

    #[test]
    fn incomplete_at_end_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xe2, 0x82]).unwrap();
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
        assert!(v.is_complete());
    }

    #[test]
    fn byte_by_byte_multilingual() {
        let text = "κόσμε 世界 🌍 Hello-µ@ßöäüàá-UTF-8!!";
        let mut v = Utf8Validator::new();
        for b in text.as_bytes() {
            v.feed(core::slice::from_ref(b)).unwrap();
        }
        v.finish().unwrap();
    }

    fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<alloc::string::String>().prop_map(alloc::string::String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..40),
            (any::<alloc::string::String>(), any::<u8>(), 0usize..64).prop_map(|(s, b, at)| {
                let mut v = s.into_bytes();
                let at = at.min(v.len());
                v.insert(at, b);
                v
            }),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_std(data in utf8ish(), cuts in proptest::collection::vec(0usize..80, 0..8)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let expected = core::str::from_utf8(&data).is_ok();
            prop_assert_eq!(chunked(&data, &cuts).is_ok(), expected);
        }

        #[test]
        fn validate_agrees_with_std(data in utf8ish()) {
            prop_assert_eq!(validate(&data).ok(), core::str::from_utf8(&data).ok());
        }

        // Fails fast: the error is reported at the piece holding the first
        // byte that std says makes the prefix invalid, never later.
        #[test]
        fn fails_at_first_bad_byte(data in utf8ish()) {
            let mut v = Utf8Validator::new();
            let mut failed_at = None;
            for (i, b) in data.iter().enumerate() {
                if v.feed(core::slice::from_ref(b)).is_err() {
                    failed_at = Some(i);
                    break;
                }
            }
            let expected = match core::str::from_utf8(&data) {
                Err(e) => e.error_len().map(|len| (e.valid_up_to(), e.valid_up_to() + len)),
                Ok(_) => None,
            };
            // std names the bad sequence; the byte that reveals it is inside
            // it or the one right after it.
            match (failed_at, expected) {
                (Some(at), Some((first, last))) => prop_assert!(at >= first && at <= last),
                (None, None) => {}
                (a, b) => prop_assert!(false, "fast={a:?} std={b:?}"),
            }
        }
    }
}
