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
