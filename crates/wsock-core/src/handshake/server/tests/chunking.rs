//! A request fed in pieces: the same request and leftover bytes for any split of the input.

use proptest::prelude::*;

use super::*;

#[test]
fn rfc6455_4_2_1_byte_by_byte_matches_one_chunk() {
    let mut input = CHROME.to_vec();
    input.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
    let whole = feed_chunks(&[&input]).unwrap().unwrap();
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let dribbled = feed_chunks(&bytes).unwrap().unwrap();
    assert_eq!(whole, dribbled);
    assert_eq!(whole.1, CHROME.len());
}

#[test]
fn feed_after_completion_is_an_error() {
    let mut hs = ServerHandshake::new(&plain());
    assert!(hs.feed(RFC_REQUEST).unwrap().is_some());
    assert!(hs.feed(b"x").is_err());
}

fn split(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    let mut chunks = vec![];
    for cut in cuts.into_iter().chain([input.len()]) {
        chunks.push(input[start..cut].to_vec());
        start = cut;
    }
    chunks
}

proptest! {
    #[test]
    fn any_split_gives_the_same_request(cuts in proptest::collection::vec(any::<usize>(), 0..24), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let input = [FIREFOX, &tail].concat();
        let chunks = split(&input, &cuts);
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let got = feed_chunks(&refs).unwrap().unwrap();
        prop_assert_eq!(got.1, FIREFOX.len());
        prop_assert_eq!(got.0, parse(FIREFOX).unwrap());
    }
}
