//! Properties: any split of the input into reads gives the same events, and
//! arbitrary bytes never panic.

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    Fragmented(bool, Vec<Vec<u8>>),
    Ping(Vec<u8>),
    /// Sent with `send_owned`.
    Owned(crate::Message),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<String>().prop_map(Op::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Op::Binary),
        (
            any::<bool>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5)
        )
            .prop_map(|(t, parts)| Op::Fragmented(t, parts)),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(Op::Ping),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| Op::Owned(crate::Message::binary(b))),
        any::<String>().prop_map(|t| Op::Owned(crate::Message::text(t))),
    ]
}

/// Text that is mostly valid UTF-8, some of it multi-byte, and often
/// not: a string with an arbitrary byte inserted somewhere, or arbitrary
/// bytes. Long enough to be gathered (and read straight into the message
/// buffer) rather than held in place.
fn text_bytes() -> impl Strategy<Value = Vec<u8>> {
    let multilingual = "[a-zκόσμε世界🌍ßöä ]{0,400}";
    prop_oneof![
        multilingual.prop_map(String::into_bytes),
        (multilingual, any::<u8>(), any::<usize>()).prop_map(|(s, b, at)| {
            let mut v = s.into_bytes();
            let at = at % (v.len() + 1);
            v.insert(at, b);
            v
        }),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

/// `text` as masked client frames: one text frame, or fragments cut at
/// `cuts` (wherever they fall, inside code points too).
fn text_frames(text: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (text.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(text.len());
    let mut out = vec![];
    let mut start = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        // Text first, continuations after.
        let opcode = match i {
            0 => 0x1,
            _ => 0x0,
        };
        let fin = if i + 1 == cuts.len() { 0x80 } else { 0 };
        out.extend(raw(fin | opcode, &text[start..cut.max(start)]));
        start = cut.max(start);
    }
    out
}

/// Sends `ops` from `from`; returns the bytes and the events a receiver
/// must see.
fn encode(from: &mut Connection, ops: &[Op]) -> (Vec<u8>, Vec<Ev>) {
    let mut expected = vec![];
    for op in ops {
        match op {
            Op::Text(t) => {
                from.send(t).unwrap();
                expected.push(Ev::Text(t.clone()));
            }
            Op::Binary(b) => {
                from.send(b).unwrap();
                expected.push(Ev::Binary(b.clone()));
            }
            Op::Fragmented(text, parts) => {
                let kind = if *text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let parts: Vec<Vec<u8>> = if *text {
                    parts
                        .iter()
                        .map(|p| String::from_utf8_lossy(p).into_owned().into_bytes())
                        .collect()
                } else {
                    parts.clone()
                };
                for (i, p) in parts.iter().enumerate() {
                    from.send_fragment(kind, p, i + 1 == parts.len()).unwrap();
                }
                let all = parts.concat();
                expected.push(if *text {
                    Ev::Text(String::from_utf8(all).unwrap())
                } else {
                    Ev::Binary(all)
                });
            }
            Op::Ping(p) => {
                from.ping(p).unwrap();
                expected.push(Ev::Ping(p.clone()));
            }
            Op::Owned(message) => {
                expected.push(match message {
                    crate::Message::Text(t) => Ev::Text(t.to_string()),
                    crate::Message::Binary(b) => Ev::Binary(b.to_vec()),
                    _ => unreachable!(),
                });
                from.send(message.clone()).unwrap();
            }
        }
    }
    (take_output(from), expected)
}

pub(super) fn feed_in_chunks(to: &mut Connection, bytes: &[u8], cuts: &[usize]) -> Vec<Ev> {
    let mut events = vec![];
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for cut in cuts {
        to.feed(&bytes[start..cut.max(start)]);
        start = cut.max(start);
        events.extend(drain(to));
    }
    events
}

/// Like [`feed_in_chunks`], but each piece is read through
/// [`Connection::read_space`] as an adapter over a socket reads (as much
/// of it as each space offers), so large binary frames take the direct
/// read into the message buffer. With `switch`, the receive mode turns to
/// stream mode after that many pieces, whatever is in flight.
pub(super) fn read_in_chunks(
    to: &mut Connection,
    bytes: &[u8],
    cuts: &[usize],
    switch: Option<usize>,
) -> Vec<Ev> {
    use bytes::BufMut;
    let mut events = vec![];
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for (i, cut) in cuts.into_iter().enumerate() {
        if switch == Some(i) {
            to.set_receive_mode(ReceiveMode::Stream);
        }
        let mut piece = &bytes[start..cut.max(start)];
        start = cut.max(start);
        // Several reads in a row without polling in between, as a reader
        // that reads until the socket would block.
        while !piece.is_empty() {
            let mut space = to.read_space();
            let n = space.remaining_mut().min(piece.len());
            assert!(n > 0, "a read space offers room");
            space.put_slice(&piece[..n]);
            piece = &piece[n..];
        }
        events.extend(drain(to));
    }
    events
}

/// Joins stream-mode chunks back into messages.
pub(super) fn join_chunks(events: Vec<Ev>) -> Vec<Ev> {
    let mut out = vec![];
    let mut gathered = vec![];
    for e in events {
        match e {
            Ev::Chunk(kind, data, _, last) => {
                gathered.extend(data);
                if last {
                    let bytes = core::mem::take(&mut gathered);
                    out.push(match kind {
                        DataKind::Text => Ev::Text(String::from_utf8(bytes).unwrap()),
                        DataKind::Binary => Ev::Binary(bytes),
                    });
                }
            }
            other => out.push(other),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    // Any chunking of the input yields the same events, in both roles and
    // both receive modes.
    #[test]
    fn any_chunking_same_events(
        ops in proptest::collection::vec(op(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        fragment in proptest::option::of(1usize..64),
        client_sends in any::<bool>(),
        stream in any::<bool>(),
    ) {
        let mut config = Config::default();
        config.fragment_size = fragment;
        let (mut from, mut to) = if client_sends {
            (Connection::with_mask_source(Role::Client, config, keys()), server())
        } else {
            (Connection::with_mask_source(Role::Server, config, keys()), client())
        };
        if stream {
            to.set_receive_mode(ReceiveMode::Stream);
        }
        let (bytes, expected) = encode(&mut from, &ops);
        let events = feed_in_chunks(&mut to, &bytes, &cuts);
        prop_assert_eq!(join_chunks(events), expected.clone());
        // Byte by byte, too.
        let mut to = if client_sends { server() } else { client() };
        let mut events = vec![];
        for b in &bytes {
            to.feed(core::slice::from_ref(b));
            events.extend(drain(&mut to));
        }
        prop_assert_eq!(events, expected);
    }

    // The same through `read_space`, where large binary frames are read
    // straight into the message buffer, with the receive mode turned to
    // stream mode at any point. (Not named after `read_space`: CI runs
    // the tests so named under Miri, where proptest cannot run.)
    #[test]
    fn any_chunking_same_events_uninit_reads(
        ops in proptest::collection::vec(op(), 0..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        fragment in proptest::option::of(1usize..64),
        client_sends in any::<bool>(),
        switch in proptest::option::of(0usize..22),
        read_buffer_size in 1usize..64,
    ) {
        let mut config = Config::default();
        config.fragment_size = fragment;
        let (from, to) = if client_sends {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let mut from = Connection::with_mask_source(from, config, keys());
        // Small reads, so offers and frames straddle each other.
        let mut config = Config::default();
        config.read_buffer_size = read_buffer_size;
        let mut to = Connection::new(to, config);
        let (bytes, expected) = encode(&mut from, &ops);
        let events = read_in_chunks(&mut to, &bytes, &cuts, switch);
        prop_assert_eq!(join_chunks(events), expected);
    }

    // Text on every path (in place, gathered from the read buffer, read
    // straight into the message buffer, streamed after a switch at any
    // point), valid or not, read in any chunking: the same messages, and
    // invalid UTF-8 fails with 1007 in the read that brought the byte that
    // fails it fed one byte at a time through the read buffer (§8.1: fail
    // fast), never later, with the same close frame.
    #[test]
    fn text_in_any_chunking_fails_at_the_same_byte(
        before in text_bytes(),
        text in text_bytes(),
        fragments in proptest::collection::vec(any::<usize>(), 0..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        switch in proptest::option::of(0usize..22),
        read_buffer_size in 1usize..64,
    ) {
        // A valid message first (the invalid one's first byte, if any,
        // replaced), so the failing one may start mid-read.
        let before = String::from_utf8_lossy(&before).into_owned();
        let wire = [text_frames(before.as_bytes(), &[]), text_frames(&text, &fragments)].concat();
        // Where the read buffer's path fails, one byte at a time.
        let mut reference = server();
        let mut expected = vec![];
        let mut fails_at = None;
        for (i, b) in wire.iter().enumerate() {
            reference.feed(core::slice::from_ref(b));
            let events = drain(&mut reference);
            let failed = matches!(events.last(), Some(Ev::Err(_)));
            expected.extend(events);
            if failed {
                fails_at = Some(i);
                break;
            }
        }
        prop_assert_eq!(fails_at.is_some(), core::str::from_utf8(&text).is_err());
        let expected_close = sent_close(&take_output(&mut reference));

        let mut config = Config::default();
        config.read_buffer_size = read_buffer_size;
        let mut to = Connection::with_mask_source(Role::Server, config, keys());
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut events = vec![];
        let mut start = 0;
        for (i, cut) in cuts.iter().copied().chain([wire.len()]).enumerate() {
            if switch == Some(i) {
                to.set_receive_mode(ReceiveMode::Stream);
            }
            events.extend(read_in_chunks(&mut to, &wire[start..cut], &[], None));
            if let Some(Ev::Err(_)) = events.last() {
                let at = fails_at.expect("failed where the reference did not");
                prop_assert!(start <= at && at < cut, "failed in {start}..{cut}, not at {at}");
                break;
            }
            if let Some(at) = fails_at {
                prop_assert!(cut <= at, "not failed in {start}..{cut}, at {at}");
            }
            start = cut;
        }
        let events = join_chunks(events);
        prop_assert_eq!(&events, &expected);
        if let Some(Ev::Err(err)) = events.last() {
            prop_assert_eq!(err.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        }
        prop_assert_eq!(sent_close(&take_output(&mut to)), expected_close);
    }

    // Arbitrary bytes never panic, and any error puts a close code on the wire.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(any::<usize>(), 0..8), client_role in any::<bool>()) {
        let mut conn = if client_role { client() } else { server() };
        let events = feed_in_chunks(&mut conn, &bytes, &cuts);
        if let Some(Ev::Err(err)) = events.last() {
            prop_assert!(err.close_code().is_some());
            prop_assert_eq!(conn.state(), State::Closed);
        }
    }
}
