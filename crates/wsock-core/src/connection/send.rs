//! The send path: data messages (whole, fragmented, owned, compressed),
//! control frames, and their encoding and masking into the output queue.

#[cfg(feature = "deflate")]
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::{Core, State};
use crate::config::Role;
use crate::error::Error;
use crate::event::DataKind;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, RSV1};
use crate::mask::{apply_mask, mask_into};
use crate::prepared::{Frame, PreparedMessage};

/// The smallest payload [`send`](super::Connection::send) queues in its own
/// buffer: below it, copying beside the header is
/// cheaper than one more slice to write.
#[cfg(not(test))]
const HOLD_MIN: usize = 2048;
#[cfg(test)]
const HOLD_MIN: usize = 50;

impl Core {
    /// See [`Connection::send_fragment`](super::Connection::send_fragment).
    pub(super) fn send_fragment(
        &mut self,
        kind: DataKind,
        data: &[u8],
        last: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        if last && self.sending.is_none() {
            // A whole message from a borrowed buffer.
            if kind == DataKind::Text && crate::utf8::validate(data).is_err() {
                return Err(Error::InvalidState("text is not valid UTF-8"));
            }
            return self.send_message(kind, data);
        }
        let first = match self.sending {
            None => {
                self.send_utf8.reset();
                true
            }
            Some(k) if k == kind => false,
            Some(_) => {
                return Err(Error::InvalidState(
                    "fragment kind differs from the message's",
                ));
            }
        };
        if kind == DataKind::Text {
            let mut check = self.send_utf8;
            check
                .feed(data)
                .map_err(|_| Error::InvalidState("text is not valid UTF-8"))?;
            if last {
                check
                    .finish()
                    .map_err(|_| Error::InvalidState("text ends inside a code point"))?;
            }
            self.send_utf8 = check;
        }
        self.send_piece(kind, data, first, last)?;
        if last {
            self.sending = None;
            self.stats.messages_sent += 1;
        } else {
            self.sending = Some(kind);
        }
        Ok(())
    }

    /// A ping or a pong the caller sends (see
    /// [`Connection::ping`](super::Connection::ping)).
    pub(super) fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        check_control_payload(payload)?;
        self.write_frame(opcode, true, payload);
        if opcode == OpCode::Ping {
            self.stats.pings_sent += 1;
        } else {
            self.stats.pongs_sent += 1;
        }
        Ok(())
    }

    /// A whole message: deflated when the extension is in force and it is
    /// over the threshold, split by `fragment_size` when set.
    pub(super) fn send_message(&mut self, kind: DataKind, data: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(Error::InvalidState("a fragmented message is being sent"));
        }
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.codec.as_mut()
            && data.len() >= codec.threshold
            && let Some(deflater) = codec.deflater.as_mut()
        {
            let mut deflated = core::mem::take(&mut self.deflated);
            deflated.clear();
            let result = deflater.compress(data, &mut deflated, true);
            deflater.end_message();
            if result.is_ok() {
                self.write_data(kind, &deflated, true, true, true);
                self.stats.messages_sent += 1;
            }
            self.keep_deflated(deflated);
            return result;
        }
        self.write_data(kind, data, true, true, false);
        self.stats.messages_sent += 1;
        Ok(())
    }

    /// A whole message whose payload the caller gives up: large enough,
    /// it is masked in place (clients) and queued as it is, not copied.
    /// Compressed or fragmented messages take the copying path.
    pub(super) fn send_owned(&mut self, kind: DataKind, data: Bytes) -> Result<(), Error> {
        let fragmented = self
            .config
            .fragment_size
            .is_some_and(|n| n > 0 && n < data.len());
        #[cfg(feature = "deflate")]
        let compressed = self
            .codec
            .as_ref()
            .is_some_and(|c| c.deflater.is_some() && data.len() >= c.threshold);
        #[cfg(not(feature = "deflate"))]
        let compressed = false;
        if data.len() < HOLD_MIN || fragmented || compressed {
            return self.send_message(kind, &data);
        }
        self.check_open()?;
        if self.sending.is_some() {
            return Err(Error::InvalidState("a fragmented message is being sent"));
        }
        let data = match self.write_header(data_opcode(kind), true, 0, data.len()) {
            // A client masks its own copy of a shared payload, and a
            // payload it owns alone in place.
            Some(key) => {
                let mut data = data
                    .try_into_mut()
                    .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                apply_mask(&mut data, key, 0);
                data.freeze()
            }
            None => data,
        };
        self.out.hold(data);
        self.stats.messages_sent += 1;
        Ok(())
    }

    /// See [`Connection::send_prepared`](super::Connection::send_prepared);
    /// `message` is a data message.
    pub(super) fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(Error::InvalidState("a fragmented message is being sent"));
        }
        let Some(plain) = message.plain() else {
            return Err(Error::InvalidState("a control message is not prepared"));
        };
        #[cfg(feature = "deflate")]
        if let Some(codec) = self.codec.as_mut()
            && message.len() >= codec.threshold
            && let Some(deflater) = codec.deflater.as_mut()
        {
            let (bits, level) = deflater.settings();
            let frame = message.compressed(bits, level)?;
            deflater.take_over(plain.payload());
            self.queue_prepared(message, &frame, true);
            return Ok(());
        }
        self.queue_prepared(message, plain, false);
        Ok(())
    }

    /// Queues a prepared frame as it is where the frame can be shared (a
    /// server, unfragmented); otherwise frames its payload here.
    fn queue_prepared(&mut self, message: &PreparedMessage, frame: &Frame, compressed: bool) {
        let kind = message.kind().unwrap_or(DataKind::Binary);
        let fragmented = self
            .config
            .fragment_size
            .is_some_and(|n| n > 0 && n < frame.payload().len());
        if self.role == Role::Client || fragmented {
            self.write_data(kind, frame.payload(), true, true, compressed);
        } else if frame.bytes.len() < HOLD_MIN {
            self.out.append().extend_from_slice(&frame.bytes);
            self.stats.frames_sent += 1;
        } else {
            self.out.hold(frame.bytes.clone());
            self.stats.frames_sent += 1;
        }
        self.stats.messages_sent += 1;
    }

    /// Keeps the compression buffer for the next message unless it grew
    /// past the write-buffer bound.
    #[cfg(feature = "deflate")]
    fn keep_deflated(&mut self, mut deflated: Vec<u8>) {
        deflated.clear();
        if deflated.capacity() <= self.config.write_buffer_size.saturating_mul(2) {
            self.deflated = deflated;
        }
    }

    /// Sends one piece of a fragmented message, compressed if the message
    /// is (each piece is sync-flushed so it goes out now).
    #[cfg_attr(not(feature = "deflate"), allow(clippy::unnecessary_wraps))]
    fn send_piece(
        &mut self,
        kind: DataKind,
        data: &[u8],
        first: bool,
        last: bool,
    ) -> Result<(), Error> {
        #[cfg(feature = "deflate")]
        {
            if first {
                let small = last
                    && self
                        .codec
                        .as_ref()
                        .is_some_and(|c| data.len() < c.threshold);
                self.sending_compressed =
                    !small && self.codec.as_ref().is_some_and(|c| c.deflater.is_some());
            }
            if self.sending_compressed
                && let Some(deflater) = self.codec.as_mut().and_then(|c| c.deflater.as_mut())
            {
                let mut deflated = core::mem::take(&mut self.deflated);
                deflated.clear();
                let result = deflater.compress(data, &mut deflated, last);
                if last {
                    deflater.end_message();
                }
                if result.is_ok() {
                    self.write_data(kind, &deflated, first, last, first);
                }
                self.keep_deflated(deflated);
                return result;
            }
        }
        self.write_data(kind, data, first, last, false);
        Ok(())
    }

    /// Encodes data frames, split by `fragment_size` when set. `compressed`
    /// sets RSV1 on the first frame written.
    fn write_data(
        &mut self,
        kind: DataKind,
        data: &[u8],
        first: bool,
        last: bool,
        compressed: bool,
    ) {
        let start_op = data_opcode(kind);
        let size = self
            .config
            .fragment_size
            .filter(|&n| n > 0)
            .unwrap_or(usize::MAX);
        let mut opcode = if first {
            start_op
        } else {
            OpCode::Continuation
        };
        let mut rest = data;
        let mut rsv = if compressed { RSV1 } else { 0 };
        loop {
            let (piece, tail) = rest.split_at(rest.len().min(size));
            let fin = last && tail.is_empty();
            self.write_frame_rsv(opcode, fin, rsv, piece);
            rsv = 0;
            if tail.is_empty() {
                break;
            }
            opcode = OpCode::Continuation;
            rest = tail;
        }
    }

    pub(super) fn check_open(&self) -> Result<(), Error> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(Error::AlreadyClosed)
        }
    }

    /// Moves an owed pong into the output unless the output is already
    /// over `write_buffer_size`; then it waits, and newer pings replace it.
    pub(super) fn flush_pong(&mut self) {
        if self.out.len() > self.config.write_buffer_size {
            return;
        }
        if let Some((payload, len)) = self.pending_pong.take() {
            self.write_frame(OpCode::Pong, true, &payload[..len as usize]);
            self.stats.pongs_sent += 1;
        }
    }

    pub(super) fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.write_frame_rsv(opcode, fin, 0, payload);
    }

    fn write_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = self.write_header(opcode, fin, rsv, payload.len());
        let out = self.out.append();
        mask_into(out, payload, mask.map(|key| (key, 0)));
    }

    /// A fresh mask key for a frame we send, if we are a client.
    #[inline]
    fn next_mask(&mut self) -> Option<[u8; 4]> {
        match (self.role, self.mask_source.as_mut()) {
            (Role::Client, Some(source)) => Some(source()),
            _ => None,
        }
    }

    /// Appends a frame header for a payload of `len` bytes that must follow
    /// at once; returns the mask key the payload needs (clients).
    fn write_header(&mut self, opcode: OpCode, fin: bool, rsv: u8, len: usize) -> Option<[u8; 4]> {
        let mask = self.next_mask();
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: len as u64,
        };
        header.encode(self.out.append());
        self.stats.frames_sent += 1;
        mask
    }

    pub(super) fn buffered_output(&self) -> usize {
        self.out.len()
    }
}

/// The opcode that starts a data message of `kind`.
fn data_opcode(kind: DataKind) -> OpCode {
    match kind {
        DataKind::Text => OpCode::Text,
        DataKind::Binary => OpCode::Binary,
    }
}

fn check_control_payload(payload: &[u8]) -> Result<(), Error> {
    if payload.len() > MAX_CONTROL_PAYLOAD {
        return Err(Error::InvalidState("control frame payload over 125 bytes"));
    }
    Ok(())
}
