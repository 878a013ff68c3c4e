//! A response fed in pieces: the same response and unread frames for any split of the input.

use proptest::prelude::*;

use super::*;

#[test]
fn rfc6455_5_frames_after_the_response_are_not_consumed() {
    let head = crlf(RFC_RESPONSE);
    let input = [&head[..], b"\x81\x05hello\x89\x00"].concat();
    let mut hs = handshake("ws://h/");
    let (whole, n) = hs.read_response(&input).unwrap().unwrap();
    assert_eq!(&input[n..], b"\x81\x05hello\x89\x00");
    let mut hs = handshake("ws://h/");
    let mut found = None;
    for (i, byte) in input.iter().enumerate() {
        if let Some((response, n)) = hs.read_response(&[*byte]).unwrap() {
            found = Some((response, i, n));
            break;
        }
    }
    assert_eq!(found, Some((whole, head.len() - 1, 1)));
}

proptest! {
    #[test]
    fn any_split_gives_the_same_response(cuts in proptest::collection::vec(any::<usize>(), 0..16), tail in proptest::collection::vec(any::<u8>(), 0..16)) {
        let head = reply("Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: superchat|Sec-WebSocket-Extensions: permessage-deflate");
        let input = [&head[..], &tail].concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut hs = handshake("ws://h/");
        let (mut start, mut got) = (0, None);
        for cut in cuts.into_iter().chain([input.len()]) {
            if let Some((response, n)) = hs.read_response(&input[start..cut]).unwrap() {
                got = Some((response, start + n));
                break;
            }
            start = cut;
        }
        let (response, consumed) = got.unwrap();
        prop_assert_eq!(consumed, head.len());
        prop_assert_eq!(response, feed(&head).unwrap());
    }
}
