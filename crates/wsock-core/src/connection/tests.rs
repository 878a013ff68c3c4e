//! Connection tests: the helpers they share are here, the tests in files
//! named after the RFC 6455 section they check where there is one.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::close::CloseFrame;
use crate::error::{CapacityError, Limit, ProtocolError};
use crate::frame::FrameHeader;
use crate::mask::apply_mask;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Chunk(DataKind, Vec<u8>, bool, bool),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseFrame>),
    Err(Error),
}

fn own(event: Event) -> Ev {
    match event {
        Event::Message(Message::Text(t)) => Ev::Text(t.to_string()),
        Event::Message(Message::Binary(b)) => Ev::Binary(b.to_vec()),
        Event::Chunk {
            kind,
            data,
            first,
            last,
        } => Ev::Chunk(kind, data.to_vec(), first, last),
        Event::Message(Message::Ping(p)) => Ev::Ping(p.to_vec()),
        Event::Message(Message::Pong(p)) => Ev::Pong(p.to_vec()),
        Event::Message(Message::Close(c)) => Ev::Close(c),
    }
}

/// Every event available now; an error ends the list.
fn drain(conn: &mut Connection) -> Vec<Ev> {
    let mut events = vec![];
    loop {
        match conn.poll_event() {
            Ok(Some(e)) => events.push(own(e)),
            Ok(None) => return events,
            Err(e) => {
                events.push(Ev::Err(e));
                return events;
            }
        }
    }
}

fn keys() -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(37);
        [n, n ^ 0x5a, n.wrapping_mul(3), 0xa5]
    }
}

fn client() -> Connection {
    Connection::with_mask_source(Role::Client, Config::default(), keys())
}

fn server() -> Connection {
    Connection::with_mask_source(Role::Server, Config::default(), keys())
}

fn server_with(config: Config) -> Connection {
    Connection::with_mask_source(Role::Server, config, keys())
}

fn take_output(conn: &mut Connection) -> Vec<u8> {
    let mut out = vec![];
    transmit_all(conn, &mut out);
    out
}

/// A raw frame as a client would send it (masked with a fixed key).
fn raw(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw_masked(b0, payload, Some([1, 2, 3, 4]))
}

fn raw_masked(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 7,
        opcode: OpCode::from_u8(b0 & 0xf).unwrap_or(OpCode::Binary),
        mask,
        payload_len: payload.len() as u64,
    };
    let mut out = vec![];
    header.encode(&mut out);
    out[0] = b0;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The close frame written to `output`, parsed: `Some(None)` for an
/// empty close body.
#[allow(clippy::option_option)]
fn sent_close(output: &[u8]) -> Option<Option<CloseFrame>> {
    let mut reader = client();
    reader.feed(output);
    drain(&mut reader).into_iter().find_map(|e| match e {
        Ev::Close(c) => Some(c),
        _ => None,
    })
}

fn fails_with(bytes: &[u8], code: CloseCode) {
    let mut s = server();
    s.feed(bytes);
    let events = drain(&mut s);
    let Some(Ev::Err(err)) = events.last() else {
        panic!("no error in {events:?}")
    };
    assert_eq!(err.close_code(), Some(code), "{err}");
    assert_eq!(s.state(), State::Closed);
    let out = take_output(&mut s);
    assert_eq!(sent_close(&out).flatten().map(|f| f.code), Some(code));
    assert!(s.should_close_transport());
}

mod buffers;
mod chunking;
mod closing_7;
mod control_5_5;
#[cfg(feature = "deflate")]
mod deflate;
mod fragmentation_5_4;
mod framing_5_2;
mod limits_10_4;
mod owned;
mod prepared;
mod receive_modes;
mod timers;
mod utf8_8_1;
