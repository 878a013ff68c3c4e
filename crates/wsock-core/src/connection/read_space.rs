//! Reading into uninitialized memory: the read buffer's spare capacity as a
//! [`BufMut`], so a transport that fills uninitialized memory (tokio's
//! `poll_read_buf`, `AsyncReadExt::read_buf`) reads straight into it, and
//! the room is not zeroed first. [`Connection::read_buffer`] zeroes its
//! room, which costs a pass over every received byte. While a large
//! data frame (binary or text) arrives, the room is the message buffer's
//! instead, so its payload lands where the message is gathered, and is
//! unmasked (and text validated) there.

use bytes::BufMut;
use bytes::buf::UninitSlice;

use super::Connection;

/// Room at the end of the connection's read buffer, from
/// [`Connection::read_space`]. Fill it through [`BufMut`] (for example
/// with `tokio_util::io::poll_read_buf`); what was put in counts as
/// received when it is dropped. It offers what
/// [`read_buffer`](Connection::read_buffer) would, without zeroing it,
/// except while a large data frame arrives with nothing else buffered:
/// then it is the room behind the message being gathered, up to the
/// frame's end (see [`Connection::read_space`]).
pub struct ReadSpace<'a> {
    conn: &'a mut Connection,
    /// What may still be put in.
    left: usize,
    /// The room is the message buffer's, not the read buffer's: a large
    /// data frame's payload is arriving with nothing buffered in front
    /// of it, so it is read where the message is gathered (see
    /// `Connection::direct_rest`), and the copy out of the read buffer is
    /// saved. `left` never goes past the frame's end.
    into_message: bool,
    /// What was put in so far.
    filled: usize,
}

impl core::fmt::Debug for ReadSpace<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadSpace")
            .field("left", &self.left)
            .field("into_message", &self.into_message)
            .finish_non_exhaustive()
    }
}

impl<'a> ReadSpace<'a> {
    pub(super) fn new(conn: &'a mut Connection) -> Self {
        let size = conn.core.config.read_buffer_size;
        if let Some(rest) = conn.direct_rest() {
            let left = conn.input.offer_message(rest, size);
            return Self {
                conn,
                left,
                into_message: true,
                filled: 0,
            };
        }
        let left = if let Some(rest) = conn.in_place_rest() {
            conn.input.offer_rest_uninit(rest, size)
        } else {
            let wanted = conn.bytes_wanted();
            conn.input.offer_uninit(wanted, size)
        };
        Self {
            conn,
            left,
            into_message: false,
            filled: 0,
        }
    }
}

impl Drop for ReadSpace<'_> {
    fn drop(&mut self) {
        if self.into_message {
            self.conn.commit_direct(self.filled);
            return;
        }
        let size = self.conn.core.config.read_buffer_size;
        let n = self.conn.input.commit_appended(size);
        self.conn.note_received(n);
    }
}

// SAFETY: every method forwards to the read buffer's or the message
// buffer's own `BufMut` (a `BytesMut`, whose implementation upholds the
// trait's contract; `into_message` picks which, the same one throughout),
// limited to `left` bytes: `chunk_mut` hands out a prefix of that buffer's
// spare capacity (which `new` reserved, so it is at least `left` long), and
// `advance_mut` passes on the caller's promise that the first `cnt` bytes
// of that chunk were initialized, after checking that `cnt` is within it.
#[allow(unsafe_code)]
unsafe impl BufMut for ReadSpace<'_> {
    fn remaining_mut(&self) -> usize {
        self.left
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        assert!(cnt <= self.left, "advance_mut past the read space");
        // SAFETY: the caller initialized `cnt` bytes of `chunk_mut`, which
        // is the start of that buffer's spare capacity; `cnt` is within it.
        if self.into_message {
            unsafe { self.conn.input.message.advance_mut(cnt) };
        } else {
            unsafe { self.conn.input.buf.advance_mut(cnt) };
        }
        self.left -= cnt;
        self.filled += cnt;
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        let left = self.left;
        let chunk = if self.into_message {
            self.conn.input.message.spare_capacity_mut()
        } else {
            self.conn.input.buf.spare_capacity_mut()
        };
        let len = left.min(chunk.len());
        UninitSlice::uninit(&mut chunk[..len])
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use bytes::BufMut;

    use crate::{Config, Connection, Event, Message, Role};

    /// A masked binary frame from a client: a 7-bit length, or 0x7e and a
    /// 16-bit one from 126 bytes up.
    fn frame(payload: &[u8]) -> Vec<u8> {
        frame_with(0x82, payload)
    }

    /// A masked final frame from a client with the opcode in `b0`.
    fn frame_with(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = match u8::try_from(payload.len()) {
            Ok(len) if len < 0x7e => vec![b0, 0x80 | len],
            _ => {
                let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
                vec![b0, 0x80 | 0x7e, len[0], len[1]]
            }
        };
        out.extend([1, 2, 3, 4]);
        out.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
        );
        out
    }

    fn server() -> Connection {
        Connection::with_mask_source(Role::Server, Config::default(), || [0; 4])
    }

    #[test]
    fn read_space_bytes_become_events() {
        let mut conn = server();
        let wire = [frame(b"one"), frame(b"two")].concat();
        // Two reads, the frame boundary inside the second.
        for piece in [&wire[..4], &wire[4..]] {
            let mut space = conn.read_space();
            assert!(space.remaining_mut() >= piece.len());
            space.put_slice(piece);
        }
        assert_eq!(conn.stats().bytes_received, wire.len() as u64);
        let mut got = vec![];
        while let Some(Event::Message(Message::Binary(data))) = conn.poll_event().unwrap() {
            got.push(data);
        }
        assert_eq!(got, [&b"one"[..], b"two"]);
    }

    #[test]
    fn read_space_after_a_zeroed_offer() {
        let mut conn = server();
        let wire = frame(b"mixed");
        // Part through the zeroed buffer, the rest through the space.
        let buf = conn.read_buffer();
        buf[..3].copy_from_slice(&wire[..3]);
        conn.commit_read(3);
        conn.read_space().put_slice(&wire[3..]);
        assert_eq!(
            conn.poll_event().unwrap(),
            Some(Event::Message(Message::binary(&b"mixed"[..])))
        );
    }

    #[test]
    fn a_large_frame_is_read_into_the_message_buffer() {
        // Over the in-place size (100 bytes in unit tests): gathered.
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let wire = [frame(&payload), frame(b"next")].concat();
        let mut conn = server();
        // The header and 5 payload bytes land in the read buffer.
        conn.read_space().put_slice(&wire[..13]);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert_eq!(conn.buffered_input(), 0);
        let mut at = 13;
        let mut first = None;
        while at < 8 + 1000 {
            let mut space = conn.read_space();
            assert!(space.into_message, "the payload goes to the message");
            // Never past the frame: the next header stays for the read
            // buffer.
            assert!(space.remaining_mut() <= 8 + 1000 - at);
            let n = space.remaining_mut().min(7);
            space.put_slice(&wire[at..at + n]);
            drop(space);
            at += n;
            if let Some(event) = conn.poll_event().unwrap() {
                first = Some(event);
            }
        }
        let Some(Event::Message(Message::Binary(data))) = first else {
            panic!("no message: {first:?}");
        };
        assert_eq!(data, payload);
        assert_eq!(conn.stats().bytes_received, at as u64);
        // The rest goes through the read buffer.
        let mut space = conn.read_space();
        assert!(!space.into_message);
        space.put_slice(&wire[at..]);
        drop(space);
        assert_eq!(
            conn.poll_event().unwrap(),
            Some(Event::Message(Message::binary(&b"next"[..])))
        );
        assert_eq!(conn.stats().bytes_received, wire.len() as u64);

        // Once the application dropped it, the next large message reuses
        // its allocation.
        let address = data.as_ptr();
        drop(data);
        let wire = frame(&payload);
        let mut at = 0;
        let mut second = None;
        while at < wire.len() {
            let mut space = conn.read_space();
            let n = space.remaining_mut().min(wire.len() - at);
            space.put_slice(&wire[at..at + n]);
            drop(space);
            at += n;
            second = conn.poll_event().unwrap().or(second);
        }
        let Some(Event::Message(Message::Binary(again))) = second else {
            panic!("no message: {second:?}");
        };
        assert_eq!(again, payload);
        assert_eq!(again.as_ptr(), address);
    }

    #[test]
    fn fed_bytes_of_a_large_frame_go_straight_to_the_message() {
        // `feed` puts bytes where a read into the space would: the payload
        // of a gathered frame skips the read buffer (no copy out of it).
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let next = frame(b"next");
        let wire = [frame(&payload), next.clone()].concat();
        let mut conn = server();
        conn.feed(&wire[..13]);
        assert_eq!(conn.poll_event().unwrap(), None);
        // The rest of the frame and all of the next, in one call.
        conn.feed(&wire[13..]);
        assert_eq!(
            conn.buffered_input(),
            next.len(),
            "only the next frame is in the read buffer"
        );
        assert_eq!(conn.stats().bytes_received, wire.len() as u64);
        assert_eq!(
            conn.poll_event().unwrap(),
            Some(Event::Message(Message::binary(payload)))
        );
        assert_eq!(
            conn.poll_event().unwrap(),
            Some(Event::Message(Message::binary(&b"next"[..])))
        );
    }

    /// Reads `wire` through read spaces of at most `step` bytes, polling
    /// after each; returns the events (errors as `Err`) and how many bytes
    /// had been read when each arrived.
    fn read_by(
        conn: &mut Connection,
        wire: &[u8],
        step: usize,
    ) -> Vec<(usize, Result<Event, crate::Error>)> {
        let mut at = 0;
        let mut events = vec![];
        while at < wire.len() {
            let mut space = conn.read_space();
            let n = space.remaining_mut().min(step).min(wire.len() - at);
            space.put_slice(&wire[at..at + n]);
            drop(space);
            at += n;
            loop {
                match conn.poll_event() {
                    Ok(Some(event)) => events.push((at, Ok(event))),
                    Ok(None) => break,
                    Err(err) => {
                        events.push((at, Err(err)));
                        return events;
                    }
                }
            }
        }
        events
    }

    #[test]
    fn a_large_text_frame_is_read_into_the_message_buffer_and_validated() {
        // Multi-byte code points cut by reads of 7 bytes.
        let text = "κόσμε 世界 🌍 ".repeat(40);
        let wire = [frame_with(0x81, text.as_bytes()), frame_with(0x81, b"next")].concat();
        let mut conn = server();
        conn.read_space().put_slice(&wire[..13]);
        assert_eq!(conn.poll_event().unwrap(), None);
        let space = conn.read_space();
        assert!(space.into_message, "text is read into the message too");
        drop(space);
        let events = read_by(&mut conn, &wire[13..], 7);
        let got: Vec<_> = events.into_iter().map(|(_, e)| e.unwrap()).collect();
        assert_eq!(
            got,
            [
                Event::Message(Message::text(text.as_str())),
                Event::Message(Message::text("next")),
            ]
        );
        assert_eq!(conn.stats().bytes_received, wire.len() as u64);
    }

    #[test]
    fn invalid_text_read_into_the_message_fails_with_the_read_that_brought_it() {
        let mut text = "κόσμε ".repeat(60).into_bytes();
        // A surrogate: ED A0 fails at its second byte.
        text[500] = 0xed;
        text[501] = 0xa0;
        let wire = frame_with(0x81, &text);
        let mut conn = server();
        let events = read_by(&mut conn, &wire, 7);
        let [(at, Err(err))] = &events[..] else {
            panic!("not one error: {events:?}");
        };
        assert_eq!(
            err,
            &crate::Error::Protocol(crate::error::ProtocolError::InvalidUtf8)
        );
        // The header is 4 bytes: payload byte 501 is wire byte 505, in the
        // read of bytes 504..511.
        assert_eq!(*at, 511);
        assert_eq!(conn.state(), crate::State::Closed);
        // The close frame (1007) is queued: 0x88, length 2 + reason.
        let mut out = vec![];
        crate::connection::transmit_all(&mut conn, &mut out);
        assert_eq!(out[0], 0x88);
        assert_eq!(&out[2..4], &1007u16.to_be_bytes());
        // Nothing more is read into the message, and no event follows.
        assert!(!conn.read_space().into_message);
        assert_eq!(conn.poll_event().unwrap(), None);
    }

    #[test]
    fn a_large_in_place_frame_is_read_to_its_end_and_no_further() {
        // Over half the in-place size (100 bytes in unit tests), within it:
        // held whole in the read buffer, and read exactly to its end.
        let first: Vec<u8> = (0..90u8).collect();
        let second: Vec<u8> = (0..80u8).rev().collect();
        let wire = [frame(&first), frame(&second), frame(b"small")].concat();
        let mut conn = server();
        // The header (6 bytes) and 12 payload bytes arrive first.
        conn.read_space().put_slice(&wire[..18]);
        assert_eq!(conn.poll_event().unwrap(), None);
        // The rest of the frame is offered, not a read chunk: the next
        // frame's bytes would be moved to the buffer's front afterwards.
        let mut space = conn.read_space();
        assert!(!space.into_message);
        assert_eq!(space.remaining_mut(), 78);
        space.put_slice(&wire[18..96]);
        drop(space);
        let Some(Event::Message(Message::Binary(one))) = conn.poll_event().unwrap() else {
            panic!("no first message");
        };
        assert_eq!(one, first);
        assert_eq!(conn.buffered_input(), 0);
        // The zeroed offer stops at the end too.
        let at = 96 + 6 + 30;
        let buf = conn.read_buffer();
        buf[..36].copy_from_slice(&wire[96..at]);
        conn.commit_read(36);
        assert_eq!(conn.poll_event().unwrap(), None);
        assert_eq!(conn.read_buffer().len(), 50);
        // Small frames are offered a whole read chunk.
        let events = read_by(&mut conn, &wire[at..], usize::MAX);
        let got: Vec<_> = events.into_iter().map(|(_, e)| e.unwrap()).collect();
        assert_eq!(
            got,
            [
                Event::Message(Message::binary(second)),
                Event::Message(Message::binary(&b"small"[..])),
            ]
        );
        assert_eq!(conn.stats().bytes_received, wire.len() as u64);
    }

    #[test]
    fn an_empty_read_buffer_starts_again_at_its_front() {
        let mut conn = server();
        // A read buffer grown past the read offer earlier (by a burst, or
        // a large frame), so there is room left behind each message.
        conn.input.buf.reserve(16 * 1024);
        let wire = frame(&[7; 60]);
        let mut addresses = vec![];
        for _ in 0..3 {
            let events = read_by(&mut conn, &wire, usize::MAX);
            let [(_, Ok(Event::Message(Message::Binary(data))))] = &events[..] else {
                panic!("not one message: {events:?}");
            };
            assert_eq!(data, &[7; 60][..]);
            addresses.push(data.as_ptr());
        }
        // Each message was dropped before the next read, so each landed
        // where the one before did, at the front of the same memory.
        assert_eq!(addresses[1], addresses[0]);
        assert_eq!(addresses[2], addresses[0]);
    }

    #[test]
    fn read_space_is_bounded() {
        let mut conn = server();
        let mut space = conn.read_space();
        let left = space.remaining_mut();
        assert!(left >= Config::default().read_buffer_size);
        assert!(space.chunk_mut().len() <= left);
        space.put_bytes(0x82, 1);
        assert_eq!(space.remaining_mut(), left - 1);
    }

    #[test]
    #[should_panic = "advance_mut past the read space"]
    fn read_space_refuses_to_advance_past_its_end() {
        let mut conn = server();
        let mut space = conn.read_space();
        let left = space.remaining_mut();
        // SAFETY: never reached: the call panics before it advances.
        #[allow(unsafe_code)]
        unsafe {
            space.advance_mut(left + 1);
        }
    }
}
