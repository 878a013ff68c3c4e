//! [`Utf8Bytes`]: text that is known to be UTF-8, held in [`Bytes`].
//!
//! A text message is a slice of the buffer it arrived in, or the buffer it
//! was gathered in, and it is shared, not copied, when it is cloned or sent
//! to many connections. Its bytes are checked once, where they come from
//! (the receive path's incremental validator, a `String`, a `&str`, or
//! [`TryFrom`] with SIMD), and never again when it is read as `&str`.

use alloc::string::String;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::ops::{Bound, Deref, RangeBounds};

use bytes::Bytes;

use crate::utf8::{InvalidUtf8, validate};

/// UTF-8 text over [`Bytes`]: cheap to clone (a reference count), reads as
/// `&str` without checking again.
///
/// ```
/// use wsock_core::Utf8Bytes;
///
/// let greeting = Utf8Bytes::from_static("hello, wörld");
/// assert_eq!(greeting, "hello, wörld");
/// assert_eq!(greeting.len(), 13); // Deref<Target = str>
/// let shared = greeting.clone(); // no copy
/// assert_eq!(shared.slice(7..), "wörld");
/// assert!(Utf8Bytes::try_from(vec![0xff]).is_err());
/// ```
#[derive(Clone, Default)]
pub struct Utf8Bytes(
    // Invariant: always valid UTF-8. Every constructor either takes bytes
    // that are UTF-8 by type (`&str`, `String`), checks them, or is the
    // crate-internal `from_validated` whose callers checked them; `slice`
    // cuts only at char boundaries. Nothing else can reach the field.
    Bytes,
);

impl Utf8Bytes {
    /// Text borrowed from a static string, without a copy.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Bytes the receive path has already validated (incrementally, as they
    /// arrived). Checked again in debug builds only.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(validate(&bytes).is_ok(), "from_validated: not UTF-8");
        Self(bytes)
    }

    /// The text.
    #[inline]
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: `self.0` is valid UTF-8: that is the type's invariant, kept
        // by every constructor (see the field's comment) — `&str`/`String`
        // are UTF-8 by type, `TryFrom` validates, `from_validated` is only
        // called on bytes the incremental validator accepted, and `slice`
        // checks that both ends fall on char boundaries. `Bytes` never
        // changes the bytes it shares.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The text's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying [`Bytes`], without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// A part of the text sharing the same buffer (no copy).
    ///
    /// Panics, as `&text[range]` does, if the range is out of bounds or
    /// does not start and end on char boundaries.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        let start = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.0.len(),
        };
        let text = self.as_str();
        assert!(
            start <= end && text.is_char_boundary(start) && text.is_char_boundary(end),
            "Utf8Bytes::slice: {start}..{end} is not a char range of {} bytes",
            text.len()
        );
        Self(self.0.slice(start..end))
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

// Equality, order and hash are those of `str`, as `Borrow<str>` requires
// (`Bytes` hashes like `[u8]`, which differs from `str`).
impl PartialEq for Utf8Bytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Utf8Bytes {}

impl PartialOrd for Utf8Bytes {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utf8Bytes {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Utf8Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Utf8Bytes> for str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for &str {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Utf8Bytes> for String {
    fn eq(&self, other: &Utf8Bytes) -> bool {
        self == other.as_str()
    }
}

impl From<String> for Utf8Bytes {
    /// Takes the string's buffer (no copy).
    fn from(text: String) -> Self {
        Self(Bytes::from(text.into_bytes()))
    }
}

impl From<&String> for Utf8Bytes {
    /// Copies the text.
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<&str> for Utf8Bytes {
    /// Copies the text.
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;

    /// Checks the bytes (SIMD) and keeps them, without a copy.
    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        validate(&bytes)?;
        Ok(Self(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = InvalidUtf8;

    /// Checks the bytes (SIMD) and keeps the vector's buffer.
    fn try_from(bytes: Vec<u8>) -> Result<Self, InvalidUtf8> {
        validate(&bytes)?;
        Ok(Self(Bytes::from(bytes)))
    }
}

// Runs under Miri: `cargo +nightly miri test -p wsock-core --lib utf8_bytes`.
#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn constructors_read_back_as_text() {
        const STATIC: Utf8Bytes = Utf8Bytes::from_static("grüß");
        assert_eq!(STATIC.as_str(), "grüß");
        assert_eq!(Utf8Bytes::from("abc€".to_string()), "abc€");
        assert_eq!(Utf8Bytes::from("abc€"), "abc€");
        let bytes = Bytes::from_static("ok ✓".as_bytes());
        assert_eq!(Utf8Bytes::try_from(bytes).unwrap(), "ok ✓");
        assert_eq!(
            Utf8Bytes::try_from(vec![0xf0, 0x9f, 0x98, 0x80]).unwrap(),
            "😀"
        );
        assert_eq!(Utf8Bytes::default(), "");
        assert_eq!(Utf8Bytes::from_validated(Bytes::from_static(b"v")), "v");
    }

    #[test]
    fn invalid_bytes_are_refused() {
        assert_eq!(Utf8Bytes::try_from(vec![0xff]), Err(InvalidUtf8));
        // A code point cut off at the end.
        assert_eq!(
            Utf8Bytes::try_from(Bytes::from_static(&[b'a', 0xe2, 0x82])),
            Err(InvalidUtf8)
        );
        // A surrogate.
        assert_eq!(
            Utf8Bytes::try_from(vec![0xed, 0xa0, 0x80]),
            Err(InvalidUtf8)
        );
    }

    #[test]
    fn from_string_keeps_its_buffer() {
        let text = "no copy".to_string();
        let ptr = text.as_ptr();
        let bytes = Utf8Bytes::from(text);
        assert_eq!(bytes.as_ptr(), ptr);
        assert_eq!(bytes.into_bytes().as_ptr(), ptr);
    }

    #[test]
    fn slicing_shares_and_checks_boundaries() {
        let text = Utf8Bytes::from("añb€c".to_string());
        let middle = text.slice(1..7);
        assert_eq!(middle, "ñb€");
        assert_eq!(middle.as_ptr(), text[1..].as_ptr());
        assert_eq!(text.slice(..), text);
        assert_eq!(text.slice(7..=7), "c");
        assert_eq!(text.slice(8..), "");
    }

    #[test]
    #[should_panic(expected = "not a char range")]
    fn slicing_inside_a_code_point_panics() {
        let _ = Utf8Bytes::from_static("ñ").slice(1..);
    }

    #[test]
    fn clones_share_and_outlive_the_original() {
        let original = Utf8Bytes::from("shared text".to_string());
        let clone = original.clone();
        assert_eq!(clone.as_ptr(), original.as_ptr());
        let part = original.slice(7..);
        drop(original);
        assert_eq!(clone, "shared text");
        drop(clone);
        assert_eq!(part, "text");
    }

    #[test]
    fn behaves_like_str() {
        use core::hash::BuildHasher;
        let text = Utf8Bytes::from_static("key");
        assert_eq!(format!("{text}"), "key");
        assert_eq!(format!("{text:?}"), "\"key\"");
        assert_eq!(text, "key");
        assert_eq!("key", text);
        assert_eq!(text, *"key");
        assert_eq!(*"key", text);
        let owned = String::from("key");
        assert_eq!(text, owned);
        assert_eq!(owned, text);
        assert!(Utf8Bytes::from_static("a") < Utf8Bytes::from_static("b"));
        assert_eq!(AsRef::<[u8]>::as_ref(&text), b"key");
        // Hash agrees with `str`, as `Borrow<str>` requires.
        let state = std::hash::RandomState::new();
        assert_eq!(state.hash_one(&text), state.hash_one("key"));
        let mut set = std::collections::HashSet::new();
        set.insert(text);
        assert!(set.contains("key"));
    }

    #[test]
    fn a_text_message_received_whole() {
        use crate::{Config, Connection, Event, Message, Role};
        let mut client = Connection::new(Role::Client, Config::default());
        let mut server = Connection::new(Role::Server, Config::default());
        client.send("héllo").unwrap();
        let mut wire = Vec::new();
        crate::connection::transmit_all(&mut client, &mut wire);
        server.feed(&wire);
        let Some(Event::Message(Message::Text(text))) = server.poll_event().unwrap() else {
            panic!("not text")
        };
        assert_eq!(text, "héllo");
        drop(server);
        assert_eq!(text.slice(1..3), "é");
    }
}
