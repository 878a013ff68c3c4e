//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key.
//!
//! Written so the compiler vectorises it: the bulk is XORed 64 bytes at a
//! time against a key widened to match, with no `unsafe`.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the
/// masked payload. Applying it twice restores the input, so it both masks
/// and unmasks, and payloads can be processed piece by piece.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let narrow = u32::from_ne_bytes(key);
    let wide = u64::from(narrow) | (u64::from(narrow) << 32);
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        for word in block.chunks_exact_mut(8) {
            let w = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])) ^ wide;
            word.copy_from_slice(&w.to_ne_bytes());
        }
    }
    let rest = blocks.into_remainder();
    let mut words = rest.chunks_exact_mut(8);
    for word in &mut words {
        let w = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])) ^ wide;
        word.copy_from_slice(&w.to_ne_bytes());
    }
    let mut tail = words.into_remainder();
    if tail.len() >= 4 {
        let (word, rest) = tail.split_at_mut(4);
        let w = u32::from_ne_bytes(word.try_into().unwrap_or([0; 4])) ^ narrow;
        word.copy_from_slice(&w.to_ne_bytes());
        tail = rest;
    }
    for (b, k) in tail.iter_mut().zip(key) {
        *b ^= k;
    }
}

/// Appends `src` to `dst` XORed with `key`, as if `src` started `offset`
/// bytes into the masked payload: unmasks a received payload while it is
/// copied into the message it belongs to. One pass over the bytes, where a
/// copy followed by [`apply_mask`] on the copy makes two: each 4 KiB block
/// is unmasked into a buffer on the stack, which stays in the L1 cache,
/// and appended from there; what is left (a small piece) is copied and
/// unmasked where it landed.
pub(crate) fn extend_unmasked(dst: &mut bytes::BytesMut, src: &[u8], key: [u8; 4], offset: usize) {
    /// A multiple of 64 (the unmasking's block), so every block after the
    /// first starts at the same key position.
    const BLOCK: usize = 4096;
    let key = rotate(key, offset);
    let mut blocks = src.chunks_exact(BLOCK);
    if blocks.len() > 0 {
        // Zeroed once per call: worth it only for a block or more.
        let mut block = [0u8; BLOCK];
        for piece in &mut blocks {
            xor_into(&mut block, piece, key);
            dst.extend_from_slice(&block);
        }
    }
    // Less than a block (or a small piece): copied, then unmasked where it
    // landed, still in L1.
    let rest = blocks.remainder();
    let start = dst.len();
    dst.extend_from_slice(rest);
    apply_mask(&mut dst[start..], key, 0);
}

/// `dst[i] = src[i] ^ key[i % 4]`, for slices of the same length; the bulk
/// 64 bytes at a time, as in [`apply_mask`].
#[inline]
fn xor_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let narrow = u32::from_ne_bytes(key);
    let wide = u64::from(narrow) | (u64::from(narrow) << 32);
    let mut out_blocks = dst.chunks_exact_mut(64);
    let mut in_blocks = src.chunks_exact(64);
    for (out, input) in (&mut out_blocks).zip(&mut in_blocks) {
        for (o, i) in out.chunks_exact_mut(8).zip(input.chunks_exact(8)) {
            let w = u64::from_ne_bytes(i.try_into().unwrap_or([0; 8])) ^ wide;
            o.copy_from_slice(&w.to_ne_bytes());
        }
    }
    // The rest starts at a multiple of 64: at the key's first byte.
    let rest = out_blocks.into_remainder().iter_mut();
    for (k, (o, i)) in rest.zip(in_blocks.remainder()).enumerate() {
        *o = i ^ key[k % 4];
    }
}

/// The key as seen from `offset` bytes into the payload.
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Byte i of the result is byte i + offset of the key: on the
    // little-endian reading that is a right rotation.
    u32::from_le_bytes(key)
        .rotate_right(8 * (offset & 3) as u32)
        .to_le_bytes()
}

/// Copies `src` into `dst` masked, as [`apply_mask`] would leave it. Used on
/// the send path so each payload is copied exactly once.
#[inline]
pub fn mask_into(dst: &mut alloc::vec::Vec<u8>, src: &[u8], key: [u8; 4]) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    #[test]
    fn rfc_example() {
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    proptest! {
        #[test]
        fn matches_naive(data in proptest::collection::vec(any::<u8>(), 0..300), key: [u8; 4], offset in 0usize..8) {
            let mut a = data.clone();
            let mut b = data.clone();
            apply_mask(&mut a, key, offset);
            naive(&mut b, key, offset);
            prop_assert_eq!(a, b);
        }

        #[test]
        fn twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..300), key: [u8; 4]) {
            let mut a = data.clone();
            apply_mask(&mut a, key, 0);
            apply_mask(&mut a, key, 0);
            prop_assert_eq!(a, data);
        }

        #[test]
        fn piecewise_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..300), key: [u8; 4], split in 0usize..300) {
            let split = split.min(data.len());
            let mut whole = data.clone();
            apply_mask(&mut whole, key, 0);
            let mut parts = data.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            prop_assert_eq!(parts, whole);
        }

        #[test]
        fn extend_unmasked_matches(data in proptest::collection::vec(any::<u8>(), 0..9000), key: [u8; 4], offset in 0usize..8, prefix in 0usize..3) {
            let mut out = bytes::BytesMut::from(&[7u8; 3][..prefix]);
            extend_unmasked(&mut out, &data, key, offset);
            let mut expected = data.clone();
            naive(&mut expected, key, offset);
            prop_assert_eq!(&out[..prefix], &[7u8; 3][..prefix]);
            prop_assert_eq!(&out[prefix..], &expected[..]);
        }

        #[test]
        fn mask_into_matches(data in proptest::collection::vec(any::<u8>(), 0..100), key: [u8; 4]) {
            let mut out = Vec::new();
            mask_into(&mut out, &data, key);
            let mut expected = data.clone();
            naive(&mut expected, key, 0);
            prop_assert_eq!(out, expected);
        }
    }
}
