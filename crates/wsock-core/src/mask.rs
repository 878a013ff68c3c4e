//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key.
//!
//! Written so the compiler vectorises it: the bulk is XORed 64 bytes at a
//! time against a key widened to match, with no `unsafe`.

use bytes::BufMut;

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

/// Appends `src` to `dst`, XORed with the key of `mask` as if `src`
/// started at its offset into the masked payload (as [`apply_mask`] would
/// leave it), or as it is without a mask: masks
/// a payload as it is copied into the output, or unmasks a received one as
/// it is copied into its message, so each payload is copied once. From
/// 4 KiB, one pass over the bytes where a copy followed by `apply_mask` on
/// the copy makes two: each 4 KiB block is XORed into a buffer on the
/// stack, which stays in the L1 cache, and appended from there. What is
/// left (a small payload) is copied and XORed where it landed.
pub fn mask_into<B: BufMut + AsMut<[u8]>>(dst: &mut B, src: &[u8], mask: Option<([u8; 4], usize)>) {
    /// A multiple of 64 (the XOR's block), so every block starts at the
    /// same key position.
    const BLOCK: usize = 4096;
    let Some((key, offset)) = mask else {
        dst.put_slice(src);
        return;
    };
    let key = rotate(key, offset);
    let mut blocks = src.chunks_exact(BLOCK);
    if blocks.len() > 0 {
        // Zeroed once per call: worth it only for a block or more.
        let mut block = [0u8; BLOCK];
        for piece in &mut blocks {
            xor_into(&mut block, piece, key);
            dst.put_slice(&block);
        }
    }
    let rest = blocks.remainder();
    let start = dst.as_mut().len();
    dst.put_slice(rest);
    apply_mask(&mut dst.as_mut()[start..], key, 0);
}

/// `dst[i] = src[i] ^ key[i % 4]`, for slices of the same length, a
/// multiple of 64; 64 bytes at a time, as in [`apply_mask`].
#[inline]
fn xor_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    debug_assert!(dst.len() == src.len() && src.len().is_multiple_of(64));
    let narrow = u32::from_ne_bytes(key);
    let wide = u64::from(narrow) | (u64::from(narrow) << 32);
    for (out, input) in dst.chunks_exact_mut(64).zip(src.chunks_exact(64)) {
        for (o, i) in out.chunks_exact_mut(8).zip(input.chunks_exact(8)) {
            let w = u64::from_ne_bytes(i.try_into().unwrap_or([0; 8])) ^ wide;
            o.copy_from_slice(&w.to_ne_bytes());
        }
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
        fn mask_into_bytes_mut_matches(data in proptest::collection::vec(any::<u8>(), 0..9000), key: [u8; 4], offset in 0usize..8, prefix in 0usize..3) {
            let mut out = bytes::BytesMut::from(&[7u8; 3][..prefix]);
            mask_into(&mut out, &data, Some((key, offset)));
            let mut expected = data.clone();
            naive(&mut expected, key, offset);
            prop_assert_eq!(&out[..prefix], &[7u8; 3][..prefix]);
            prop_assert_eq!(&out[prefix..], &expected[..]);
        }

        #[test]
        fn mask_into_matches(data in proptest::collection::vec(any::<u8>(), 0..100), key: [u8; 4]) {
            let mut out = Vec::new();
            mask_into(&mut out, &data, Some((key, 0)));
            let mut expected = data.clone();
            naive(&mut expected, key, 0);
            prop_assert_eq!(out, expected);
        }
    }
}
