//! Arbitrary bytes from a peer, fed to a server and a client `Connection`
//! in arbitrary chunkings.
//!
//! Input: `[flags][n][n chunk lengths][stream…]` (flags below; see
//! `wsock_fuzz::take_lens` for the lengths).
//!
//! Checks: no panic; chunking never changes the events or the error
//! (compared with one whole feed); every error has a close code and — unless
//! it is the transport's end (1006) — a close frame with that code ends the
//! output; a received close is answered with the same code; the output is
//! only pongs (echoing received pings) and at most one close, nothing after
//! it, and decodes cleanly in a peer.
#![no_main]

use bytes::BufMut;
use libfuzzer_sys::fuzz_target;
use wsock_core::__internals::OpCode;
use wsock_core::{CloseFrame, Config, Connection, Error, ReceiveMode, Role, State};
use wsock_fuzz::{Ev, EventChecker, chunks, drain, mask_keys, parse_wire, peer_reads, take_lens};

const STREAM: u8 = 1 << 0;
const INPUT_BUFFER: u8 = 1 << 1;
const TOGGLE_MODE: u8 = 1 << 2;
const NO_AUTO_PONG: u8 = 1 << 3;
const NO_WRITES: u8 = 1 << 4;
const BIG_CHUNKS: u8 = 1 << 5;
const SMALL_READ_BUFFER: u8 = 1 << 6;
const EOF: u8 = 1 << 7;

fn config(flags: u8) -> Config {
    let mut config = Config::default();
    config.max_frame_size = 1024;
    config.max_message_size = 4096;
    config.write_buffer_size = 300;
    config.auto_pong = flags & NO_AUTO_PONG == 0;
    config.read_buffer_size = if flags & SMALL_READ_BUFFER != 0 {
        16
    } else {
        4096
    };
    config
}

struct Run {
    events: Vec<Ev>,
    error: Option<Error>,
    wire: Vec<u8>,
    close_received: Option<Option<CloseFrame>>,
}

fn run(role: Role, flags: u8, pieces: &[&[u8]]) -> Run {
    let mut conn = Connection::with_mask_source(role, config(flags), mask_keys(flags));
    let mut mode = if flags & STREAM != 0 {
        ReceiveMode::Stream
    } else {
        ReceiveMode::Message
    };
    conn.set_receive_mode(mode);
    let mut checker = EventChecker::default();
    let mut events = Vec::new();
    let mut error = None;
    let mut wire = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if flags & INPUT_BUFFER != 0 && i % 2 == 1 {
            // Every other piece through `read_space`, which reads a
            // gathered binary frame's payload into the message buffer.
            let mut rest = *piece;
            while !rest.is_empty() {
                let mut space = conn.read_space();
                let n = space.remaining_mut().min(rest.len());
                assert!(n > 0, "read_space offers no room");
                space.put_slice(&rest[..n]);
                rest = &rest[n..];
            }
        } else if flags & INPUT_BUFFER != 0 {
            let mut rest = *piece;
            loop {
                let buf = conn.read_buffer();
                assert!(!buf.is_empty(), "read_buffer offers no room");
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                conn.commit_read(n);
                rest = &rest[n..];
                if rest.is_empty() {
                    break;
                }
            }
        } else {
            conn.feed(piece);
        }
        let (evs, err) = drain(&mut conn, &mut checker);
        events.extend(evs);
        if flags & NO_WRITES == 0 {
            wsock_core::__internals::transmit_all(&mut conn, &mut wire);
        }
        if err.is_some() {
            error = err;
            break;
        }
        if flags & TOGGLE_MODE != 0 {
            mode = match mode {
                ReceiveMode::Message => ReceiveMode::Stream,
                ReceiveMode::Stream => ReceiveMode::Message,
            };
            conn.set_receive_mode(mode);
        }
    }
    let close_received = events.iter().find_map(|e| match e {
        Ev::Close(c) => Some(c.clone()),
        _ => None,
    });
    if error.is_none() && flags & EOF != 0 {
        conn.handle_eof();
        let (evs, err) = drain(&mut conn, &mut checker);
        assert!(
            evs.is_empty(),
            "events appeared only at end of stream: {evs:?}"
        );
        match (&close_received, &err) {
            (Some(_), None) => {}
            (None, Some(Error::AbnormalClose)) => {}
            other => panic!("end of stream gave {other:?}"),
        }
        error = err;
    }
    wsock_core::__internals::transmit_all(&mut conn, &mut wire);
    let fed: usize = pieces.iter().map(|p| p.len()).sum();
    if error.is_none() {
        assert_eq!(conn.stats().bytes_received, fed as u64);
    }
    assert_eq!(conn.stats().bytes_sent, wire.len() as u64);
    if error.is_some() || close_received.is_some() {
        assert_eq!(conn.state(), State::Closed);
    }
    Run {
        events,
        error,
        wire,
        close_received,
    }
}

fn check(role: Role, flags: u8, run: &Run) {
    let (frames, partial) = parse_wire(&run.wire, role);
    assert_eq!(partial, 0, "output ends inside a frame");
    peer_reads(&run.wire, role);
    let pings: Vec<&Vec<u8>> = run
        .events
        .iter()
        .filter_map(|e| if let Ev::Ping(p) = e { Some(p) } else { None })
        .collect();
    for frame in &frames {
        match frame.opcode {
            OpCode::Pong => {
                assert!(flags & NO_AUTO_PONG == 0, "pong sent with auto_pong off");
                assert!(
                    pings.contains(&&frame.payload),
                    "pong echoes no received ping"
                );
            }
            OpCode::Close => {}
            other => panic!("decoder sent a {other:?} frame"),
        }
    }
    // The newest ping is answered last (older ones may be coalesced away
    // while output is backed up), unless a close ended the exchange.
    if flags & NO_AUTO_PONG == 0 && run.error.is_none() && run.close_received.is_none() {
        let last_pong = frames.iter().rev().find(|f| f.opcode == OpCode::Pong);
        assert_eq!(
            last_pong.map(|f| &f.payload),
            pings.last().copied(),
            "newest ping not answered"
        );
    }
    let close = frames.iter().find(|f| f.opcode == OpCode::Close);
    match (&run.error, &run.close_received) {
        (Some(Error::AbnormalClose), _) => {
            assert!(
                close.is_none(),
                "close frame sent after the transport ended"
            );
        }
        (Some(err), None) => {
            let code = err
                .close_code()
                .unwrap_or_else(|| panic!("error without close code: {err:?}"));
            let close = close.unwrap_or_else(|| panic!("no close frame after error {err:?}"));
            let sent = CloseFrame::parse(&close.payload)
                .unwrap()
                .expect("close without code");
            assert_eq!(
                sent.code, code,
                "close code differs from the error's ({err:?})"
            );
        }
        (None, Some(received)) => {
            let close = close.expect("peer's close not answered");
            let sent = CloseFrame::parse(&close.payload).unwrap();
            assert_eq!(sent.map(|f| f.code), received.as_ref().map(|f| f.code));
        }
        (None, None) => assert!(close.is_none(), "close frame without a reason"),
        (Some(err), Some(_)) => panic!("error {err:?} after the peer's close"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (lens, stream) = take_lens(rest);
    let scale = if flags & BIG_CHUNKS != 0 { 16 } else { 1 };
    let pieces = chunks(stream, lens, scale);
    for role in [Role::Server, Role::Client] {
        let chunked = run(role, flags, &pieces);
        check(role, flags, &chunked);
        if flags & TOGGLE_MODE == 0 {
            // Chunking and the read path must not change what comes out.
            let whole = run(role, flags & !INPUT_BUFFER, &[stream]);
            assert_eq!(chunked.events, whole.events, "events depend on chunking");
            assert_eq!(chunked.error, whole.error, "error depends on chunking");
        }
    }
});
