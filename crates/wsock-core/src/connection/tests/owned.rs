//! Owned payloads (`send`): queued without a copy, written out from the
//! caller's own buffer, and the same on the wire as copied ones.

use super::*;

/// Writes everything out through `poll_transmit`, `max` slices at a time.
fn take_output_vectored(conn: &mut Connection, max: usize) -> Vec<u8> {
    let mut out = vec![];
    while conn.wants_write() {
        let mut slices = vec![&[][..]; max];
        let n = conn.poll_transmit(&mut slices);
        let mut written = 0;
        for s in &slices[..n] {
            out.extend_from_slice(s);
            written += s.len();
        }
        conn.consume_output(written);
    }
    out
}

/// Queues data around a payload, copied or owned.
fn send_around(conn: &mut Connection, payload: &[u8], owned: bool) {
    conn.send("a").unwrap();
    for _ in 0..2 {
        if owned {
            conn.send(crate::Message::binary(payload.to_vec())).unwrap();
        } else {
            conn.send(payload).unwrap();
        }
        conn.ping(b"p").unwrap();
    }
    conn.close(CloseCode::NORMAL, "bye").unwrap();
}

// An owned payload goes out as the same bytes as a copied one, in order
// with what is queued around it, in both roles, however it is written.
#[test]
fn owned_payloads_match_copied_ones() {
    for role in [Role::Client, Role::Server] {
        for fragment in [None, Some(1000)] {
            for len in [0usize, 49, 50, 51, 4000] {
                let mut config = Config::default();
                config.fragment_size = fragment;
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let conn = || Connection::with_mask_source(role, config.clone(), keys());
                let mut copied = conn();
                send_around(&mut copied, &payload, false);
                let want = take_output(&mut copied);
                for max in [1, 2, 16] {
                    let mut owned = conn();
                    send_around(&mut owned, &payload, true);
                    assert_eq!(owned.buffered_output(), want.len());
                    assert_eq!(
                        take_output_vectored(&mut owned, max),
                        want,
                        "{role:?} {len} {max}"
                    );
                    assert_eq!(owned.stats(), copied.stats());
                }
                let mut owned = conn();
                send_around(&mut owned, &payload, true);
                assert_eq!(take_output(&mut owned), want);
            }
        }
    }
}

// Owned sends follow the same rules as copied ones.
#[test]
fn owned_sends_check_state() {
    let mut c = client();
    c.send_fragment(DataKind::Binary, b"x", false).unwrap();
    let big = crate::Message::binary(vec![0; 100]);
    assert!(matches!(c.send(big.clone()), Err(Error::InvalidState(_))));
    c.send_fragment(DataKind::Binary, b"y", true).unwrap();
    c.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.send(big), Err(Error::AlreadyClosed));
}

// A held payload is written from the caller's own buffer: the slice handed
// to the writer is that buffer, not a copy of it.
#[test]
fn owned_payloads_are_not_copied() {
    for role in [Role::Client, Role::Server] {
        let mut conn = Connection::with_mask_source(role, Config::default(), keys());
        let data = vec![7u8; 4000];
        let at = data.as_ptr();
        conn.send(crate::Message::binary(data)).unwrap();
        let mut slices = [&[][..]; 4];
        assert_eq!(conn.poll_transmit(&mut slices), 2);
        assert_eq!(slices[1].as_ptr(), at);
        assert_eq!(slices[1].len(), 4000);
    }
}
