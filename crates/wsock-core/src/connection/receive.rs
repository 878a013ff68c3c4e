//! The receive path: frame headers checked and started, payloads unmasked
//! in place, messages reassembled (or streamed), and UTF-8 validation of
//! text as it arrives. Compressed messages take the detour through
//! `inflate.rs`.

use bytes::Bytes;

use super::{Connection, Core, ReceiveMode, State};
use crate::close::CloseFrame;
use crate::config::Role;
use crate::error::{CapacityError, Error, Limit, ProtocolError};
use crate::event::{DataKind, Event};
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, RSV1};
use crate::mask::{apply_mask, mask_into};
use crate::message::Message;
use crate::utf8_bytes::Utf8Bytes;

#[cfg(feature = "deflate")]
mod inflate;

/// The largest single-frame message held whole in the read buffer and
/// split off it when complete, with no copy: the read offer grows to a
/// 64 KiB burst anyway, so such a frame fits the reads of a busy
/// connection. Larger ones are gathered into the message buffer as they
/// arrive, and moved out whole: holding them would mean growing the read
/// buffer past the burst and moving their partial bytes as it grows.
#[cfg(not(test))]
const IN_PLACE_MAX: u64 = 64 * 1024;
/// Small in unit tests, so short payloads take both paths.
#[cfg(test)]
const IN_PLACE_MAX: u64 = 100;

/// In-place frames over this payload size are read exactly to their end
/// ([`Connection::in_place_rest`]). Reading past a frame's end brings bytes
/// of the next one, which are moved to the read buffer's front once the
/// frame is handed out: for such frames, up to a whole frame per message,
/// more than the extra read costs. Smaller frames keep reading whole
/// chunks: several of them arrive in one read, and what is moved is less
/// than one of them.
const EXACT_READ_MIN: u64 = IN_PLACE_MAX / 2;

/// The frame being received.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFrame {
    header: FrameHeader,
    /// Payload bytes already unmasked and validated.
    done: u64,
    /// A single-frame message in message mode: the payload stays in the
    /// read buffer and is handed out from there, with no copy.
    in_place: bool,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    /// Compressed frames: bytes at the front of the input already unmasked
    /// but not yet inflated.
    unmasked: usize,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    /// Compressed final frames: bytes of the restored `00 00 ff ff` tail
    /// inflated so far.
    tail: u8,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    /// Compressed frames: bytes this frame has inflated to so far, checked
    /// against `max_frame_size`.
    inflated: u64,
}

/// The data message being received.
#[derive(Debug, Clone, Copy)]
pub(super) struct InMessage {
    kind: DataKind,
    streaming: bool,
    /// The rest of the message is discarded (text still validated):
    /// [`Connection::skip_message`]. Implies `streaming`.
    skipping: bool,
    size: u64,
    started: bool,
    /// RSV1 was set on the first frame: the payload is deflated.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    compressed: bool,
    /// Bytes inflated so far.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    inflated: u64,
}

/// What one decoding step came to.
pub(super) enum Step {
    /// The buffered bytes are used up.
    NeedMore,
    /// Progress without an event (a frame ended): step again.
    Again,
    Emit(Event),
}

impl Connection {
    /// See [`Connection::poll_event`].
    pub(super) fn next_event(&mut self) -> Result<Option<Event>, Error> {
        if let Some(err) = self.core.pending_error.take() {
            return Err(err);
        }
        loop {
            if self.core.close_received || self.core.failed {
                return Ok(None);
            }
            match self.step() {
                Ok(Step::Again) => {}
                Ok(Step::NeedMore) if self.core.eof => {
                    self.core.out.clear();
                    return Err(self.core.fail(Error::AbnormalClose));
                }
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Emit(event)) => return Ok(Some(event)),
                Err(err) => return Err(self.core.fail(err)),
            }
        }
    }

    /// The size a read is offered: `read_buffer_size`, more while busy.
    pub(super) fn read_chunk(&self) -> usize {
        self.input.read_chunk(self.core.config.read_buffer_size)
    }

    /// Counts `n` received bytes (already in the read buffer) as traffic.
    pub(super) fn note_received(&mut self, n: usize) {
        self.core.stats.bytes_received += n as u64;
        if n > 0 {
            self.core.traffic.keepalive = true;
            self.core.traffic.idle = true;
        }
    }

    /// How many more bytes the current unit (a header, a control frame, or
    /// an in-place message) needs before it can be handed out.
    pub(super) fn bytes_wanted(&self) -> usize {
        let have = self.input.available();
        match self.core.frame {
            Some(f) if f.in_place || f.header.opcode.is_control() => {
                (f.header.payload_len as usize).saturating_sub(have)
            }
            _ => 0,
        }
    }

    /// The payload bytes still to come of a large frame held whole in the
    /// read buffer (an in-place data frame over [`EXACT_READ_MIN`]): the
    /// next read is offered that much and no more, so it stops at the
    /// frame's end (see `Input::offer_rest`). `None` for anything else.
    pub(super) fn in_place_rest(&self) -> Option<usize> {
        let frame = self.core.frame?;
        if !frame.in_place || frame.header.payload_len <= EXACT_READ_MIN {
            return None;
        }
        let rest = (frame.header.payload_len as usize).saturating_sub(self.input.available());
        (rest > 0).then_some(rest)
    }

    /// The payload bytes still to come of a frame whose next bytes may be
    /// read straight into the message buffer: a data frame gathered in
    /// message mode (larger than [`IN_PLACE_MAX`], or a fragment), text or
    /// binary, uncompressed, with nothing buffered in front of it. Such
    /// bytes skip the read buffer and the copy out of it; see
    /// [`ReadSpace`]. Everything else takes the read buffer.
    ///
    /// [`ReadSpace`]: super::ReadSpace
    pub(super) fn direct_rest(&self) -> Option<u64> {
        if self.input.available() != 0
            || self.core.mode != ReceiveMode::Message
            || self.core.failed
            || self.core.close_received
        {
            return None;
        }
        let (frame, message) = (self.core.frame?, self.core.message?);
        let gathered = !frame.in_place
            && !frame.header.opcode.is_control()
            && !message.streaming
            && !message.compressed;
        let rest = frame.header.payload_len - frame.done;
        (gathered && rest > 0).then_some(rest)
    }

    /// Counts the last `n` bytes of the message buffer, read straight into
    /// it (see [`direct_rest`](Self::direct_rest)), as received: unmasks
    /// them there, then [`landed`](Self::landed).
    pub(super) fn commit_direct(&mut self, n: usize) {
        let Some(frame) = self.core.frame else {
            return;
        };
        if n == 0 {
            return;
        }
        if let Some(key) = frame.header.mask {
            let start = self.input.message.len() - n;
            apply_mask(&mut self.input.message[start..], key, frame.done as usize);
        }
        self.landed(n);
    }

    /// Appends the start of `data` to the message buffer, unmasked as it is
    /// copied, for a frame that may be read straight into it with `rest`
    /// bytes still to come (see [`direct_rest`](Self::direct_rest)); at
    /// most the room the buffer offers, never past the frame's end. Returns
    /// how many bytes it took. `Connection::feed`'s way around the read
    /// buffer: the bytes are copied once and read once.
    pub(super) fn feed_direct(&mut self, data: &[u8], rest: u64) -> usize {
        let Some(frame) = self.core.frame else {
            return 0;
        };
        let room = self
            .input
            .offer_message(rest, self.core.config.read_buffer_size);
        let n = data.len().min(room);
        if n == 0 {
            return 0;
        }
        let mask = frame.header.mask.map(|key| (key, frame.done as usize));
        mask_into(&mut self.input.message, &data[..n], mask);
        self.landed(n);
        n
    }

    /// Counts the last `n` bytes of the message buffer, unmasked, as
    /// received: for text, validates them while they are still in cache, in
    /// the one check they get (the validator carries a code point cut by
    /// the read's end over to the next read). The next
    /// [`step`](Self::step) finds the frame (or message) complete, or waits
    /// for more.
    ///
    /// Invalid text fails the connection here, as soon as its bytes landed
    /// (§8.1), and the error waits for the next
    /// [`poll_event`](super::Connection::poll_event): it cannot be
    /// returned from the read (a `Drop`), and it is the same error, close
    /// frame and point (the read bringing the offending byte) as on the
    /// read buffer's path.
    fn landed(&mut self, n: usize) {
        let Some(mut frame) = self.core.frame else {
            return;
        };
        let start = self.input.message.len() - n;
        let text = self.core.message.is_some_and(|m| m.kind == DataKind::Text);
        let valid = !text || self.core.utf8.feed(&self.input.message[start..]).is_ok();
        frame.done += n as u64;
        self.core.frame = Some(frame);
        self.note_received(n);
        if !valid {
            let err = self.core.fail(ProtocolError::InvalidUtf8.into());
            self.core.pending_error = Some(err);
        }
    }

    /// Decodes as far as the buffered bytes allow, up to one event.
    fn step(&mut self) -> Result<Step, Error> {
        let frame = match self.core.frame {
            Some(frame) => frame,
            None => match FrameHeader::decode(self.input.bytes(0, self.input.available()))? {
                None => return Ok(Step::NeedMore),
                Some((header, len)) => {
                    if let Some(step) = self.whole_frame(&header, len) {
                        return step;
                    }
                    self.input.consume(len, self.read_chunk());
                    self.core.stats.frames_received += 1;
                    self.core.start_frame(header)?
                }
            },
        };
        if frame.header.opcode.is_control() {
            self.control_frame(frame.header)
        } else {
            self.data_frame(frame)
        }
    }

    /// The common case, taken in one go: a whole single-frame data message
    /// already in the buffer, in message mode, uncompressed and small
    /// enough to be handed out in place. It is checked, unmasked, validated
    /// and split off without the per-frame state the general path keeps.
    /// `None` (nothing consumed) for anything else, which the general path
    /// then takes, with the same checks and errors.
    fn whole_frame(
        &mut self,
        header: &FrameHeader,
        header_len: usize,
    ) -> Option<Result<Step, Error>> {
        let len = header.payload_len;
        let config = &self.core.config;
        let kind = match header.opcode {
            OpCode::Text => DataKind::Text,
            OpCode::Binary => DataKind::Binary,
            _ => return None,
        };
        let ready = header.fin
            && header.rsv == 0
            && self.core.message.is_none()
            && self.core.mode == ReceiveMode::Message
            && len <= IN_PLACE_MAX
            && len <= config.max_frame_size as u64
            && len <= config.max_message_size as u64
            && header.mask.is_some() == (self.core.role == Role::Server)
            && self.input.available() as u64 >= header_len as u64 + len;
        if !ready {
            return None;
        }
        let len = len as usize;
        self.input.consume(header_len, self.read_chunk());
        self.core.stats.frames_received += 1;
        let payload = self.input.bytes_mut(0, len);
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        if kind == DataKind::Text && crate::utf8::validate(payload).is_err() {
            return Some(Err(ProtocolError::InvalidUtf8.into()));
        }
        self.core.stats.messages_received += 1;
        let data = self.input.split_front(len);
        Some(Ok(Step::Emit(Event::Message(match kind {
            DataKind::Text => Message::Text(Utf8Bytes::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        }))))
    }

    /// A ping, pong or close, handed out once whole. A ping owes a pong
    /// (`auto_pong`); a close is answered while open and ends the
    /// handshake.
    fn control_frame(&mut self, header: FrameHeader) -> Result<Step, Error> {
        let len = header.payload_len as usize;
        if self.input.available() < len {
            return Ok(Step::NeedMore);
        }
        if let Some(key) = header.mask {
            apply_mask(self.input.bytes_mut(0, len), key, 0);
        }
        self.core.frame = None;
        let message = match header.opcode {
            OpCode::Ping => {
                self.core.stats.pings_received += 1;
                if self.core.config.auto_pong && self.core.state == State::Open {
                    let mut payload = [0; MAX_CONTROL_PAYLOAD];
                    payload[..len].copy_from_slice(self.input.bytes(0, len));
                    self.core.pending_pong = Some((payload, len as u8));
                    self.core.flush_pong();
                }
                Message::Ping(self.input.split_front(len))
            }
            OpCode::Pong => {
                self.core.stats.pongs_received += 1;
                Message::Pong(self.input.split_front(len))
            }
            _ => {
                let frame = CloseFrame::parse(self.input.bytes(0, len))?;
                self.input.consume(len, self.read_chunk());
                self.core.close_received = true;
                if self.core.state == State::Open {
                    let code = frame.as_ref().map(|f| f.code);
                    self.core.queue_close(code, "");
                }
                self.core.enter_closed();
                Message::Close(frame)
            }
        };
        Ok(Step::Emit(Event::Message(message)))
    }

    /// Unmasks and validates what arrived of a data frame, then hands it
    /// out in place, gathers it into the message buffer, or streams it.
    fn data_frame(&mut self, mut frame: InFrame) -> Result<Step, Error> {
        let Some(mut message) = self.core.message else {
            return Err(Error::InvalidState("data frame without message"));
        };
        if self.core.mode == ReceiveMode::Stream
            && !message.streaming
            && let Some(step) = self.switch_to_stream(&mut frame, &mut message)
        {
            return Ok(step);
        }
        if self.core.mode == ReceiveMode::Message
            && message.streaming
            && !message.started
            && !message.skipping
        {
            // Nothing of it was handed out yet: it is gathered after all.
            message.streaming = false;
            self.core.message = Some(message);
        }
        #[cfg(feature = "deflate")]
        if message.compressed {
            return self.compressed_frame(frame, message);
        }
        if frame.in_place {
            self.in_place_frame(frame, message.kind)
        } else {
            self.streamed_or_gathered_frame(frame, message)
        }
    }

    /// Stream mode was chosen mid-message: the rest is streamed, and what
    /// was gathered or processed in place so far is handed out first.
    fn switch_to_stream(&mut self, frame: &mut InFrame, message: &mut InMessage) -> Option<Step> {
        let data = self.stream_what_arrived(frame, message);
        message.started = !data.is_empty();
        self.core.message = Some(*message);
        self.core.frame = Some(*frame);
        (!data.is_empty()).then(|| {
            Step::Emit(Event::Chunk {
                kind: message.kind,
                data,
                first: true,
                last: false,
            })
        })
    }

    /// Turns the message in progress into a streamed one, and returns what
    /// arrived of it so far (gathered, or processed in place).
    fn stream_what_arrived(&mut self, frame: &mut InFrame, message: &mut InMessage) -> Bytes {
        message.streaming = true;
        if frame.in_place {
            frame.in_place = false;
            // The processed prefix leaves the read buffer; `done` stays, so
            // unmasking continues at the right key offset.
            return self.input.split_front(frame.done as usize);
        }
        // Text gathered so far goes out as bytes, like a binary message's,
        // including the bytes of a code point cut at its end: the validator
        // remembers them to check the rest as it streams.
        self.input.take_message()
    }

    /// See [`Connection::skip_message`].
    pub(super) fn skip_rest_of_message(&mut self) {
        let (Some(mut message), Some(mut frame)) = (self.core.message, self.core.frame) else {
            if let Some(message) = self.core.message.as_mut() {
                // Between two frames of the message.
                self.input.message.clear();
                message.streaming = true;
                message.skipping = true;
                // Latched: message mode must not turn it back into a
                // gathered message (`data_frame`).
                message.started = true;
            }
            return;
        };
        if !message.streaming {
            drop(self.stream_what_arrived(&mut frame, &mut message));
        }
        message.skipping = true;
        message.started = true;
        self.core.message = Some(message);
        self.core.frame = Some(frame);
    }

    /// A single-frame message held in the read buffer: unmasked (and text
    /// validated) as it arrives, handed out in place once whole.
    fn in_place_frame(&mut self, mut frame: InFrame, kind: DataKind) -> Result<Step, Error> {
        let len = frame.header.payload_len as usize;
        let ready = self.input.available().min(len);
        let done = frame.done as usize;
        if ready > done {
            let piece = self.input.bytes_mut(done, ready - done);
            if let Some(key) = frame.header.mask {
                apply_mask(piece, key, done);
            }
            if kind == DataKind::Text {
                // Once: whole if it arrived in one read, else piece by piece.
                let checked = if done == 0 && ready == len {
                    crate::utf8::validate(piece).map(drop)
                } else {
                    self.core.utf8.feed(piece)
                };
                checked.map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.done = ready as u64;
            self.core.frame = Some(frame);
        }
        if ready < len {
            return Ok(Step::NeedMore);
        }
        if kind == DataKind::Text {
            self.core
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        self.core.finish_frame(frame);
        let data = self.input.split_front(len);
        Ok(Step::Emit(Event::Message(match kind {
            DataKind::Text => Message::Text(Utf8Bytes::from_validated(data)),
            DataKind::Binary => Message::Binary(data),
        })))
    }

    /// A frame of a message that is streamed (each piece handed out as it
    /// arrives) or gathered into the message buffer (handed out whole
    /// after its final frame).
    fn streamed_or_gathered_frame(
        &mut self,
        mut frame: InFrame,
        message: InMessage,
    ) -> Result<Step, Error> {
        let len = frame.header.payload_len;
        let available = self.input.available() as u64;
        let n = available.min(len - frame.done) as usize;
        // A gathered piece is unmasked as it is copied into the message;
        // a streamed (or skipped) one where it is, in the read buffer.
        let mask = frame.header.mask.map(|key| (key, frame.done as usize));
        if n > 0 {
            if let (Some((key, offset)), true) = (mask, message.streaming) {
                apply_mask(self.input.bytes_mut(0, n), key, offset);
            }
            frame.done += n as u64;
            self.core.frame = Some(frame);
        }
        let text = message.kind == DataKind::Text;
        let keep = self.read_chunk();
        if text && !message.streaming {
            // Validated once, as it is gathered into the text.
            self.input
                .gather_text(n, len - frame.done, keep, mask, &mut self.core.utf8)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        } else if text && n > 0 {
            self.core
                .utf8
                .feed(self.input.bytes(0, n))
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let frame_complete = frame.done == len;
        let last = frame_complete && frame.header.fin;
        if last && message.kind == DataKind::Text {
            self.core
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if frame_complete {
            self.core.finish_frame(frame);
        }

        let more = if frame_complete {
            Step::Again
        } else {
            Step::NeedMore
        };
        if message.skipping {
            self.input.consume(n, keep);
            return Ok(more);
        }
        if message.streaming {
            if n == 0 && !last {
                return Ok(more);
            }
            let first = !message.started;
            if let Some(m) = self.core.message.as_mut() {
                m.started = true;
            }
            return Ok(Step::Emit(Event::Chunk {
                kind: message.kind,
                data: self.input.split_front(n),
                first,
                last,
            }));
        }

        if !text {
            self.input.gather(n, len - frame.done, keep, mask);
        }
        if !last {
            return Ok(more);
        }
        Ok(Step::Emit(Event::Message(
            self.input.take_gathered(message.kind),
        )))
    }
}

impl Core {
    /// Checks a new frame's header against the role, extensions, limits and
    /// fragmentation state (§5.1–§5.4), and starts it.
    fn start_frame(&mut self, header: FrameHeader) -> Result<InFrame, Error> {
        // RSV1 marks a compressed message: only on its first frame (RFC
        // 7692 §6.1), and only when an extension owns the bit.
        let compressed = header.rsv & RSV1 != 0;
        let first_data = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv & !self.extensions.reserved_bits() != 0 || (compressed && !first_data) {
            return Err(ProtocolError::ReservedBits(header.rsv).into());
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        let len = header.payload_len;
        // The limits bound what a message costs once received. A frame of
        // a compressed message is checked as it inflates, in
        // `compressed_frame`, not here: its wire bytes are consumed as they
        // are inflated, never buffered whole, so memory stays bounded by
        // the inflated limits, and deflate may make incompressible data
        // larger on the wire than the limits it is within.
        let inflates = compressed
            || (header.opcode == OpCode::Continuation
                && self.message.is_some_and(|m| m.compressed));
        if !inflates {
            check_limit(Limit::FrameSize, len, self.config.max_frame_size)?;
        }
        let mut in_place = false;
        match (header.opcode, self.message.as_mut()) {
            (OpCode::Continuation, None) => {
                return Err(ProtocolError::UnexpectedContinuation.into());
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation.into());
            }
            (OpCode::Continuation, Some(message)) => {
                message.size = message.size.saturating_add(len);
                if !inflates {
                    check_limit(
                        Limit::MessageSize,
                        message.size,
                        self.config.max_message_size,
                    )?;
                }
            }
            (OpCode::Text | OpCode::Binary, None) => {
                if !inflates {
                    check_limit(Limit::MessageSize, len, self.config.max_message_size)?;
                }
                let kind = if header.opcode == OpCode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let streaming = self.mode == ReceiveMode::Stream;
                in_place = header.fin && !streaming && !compressed && len <= IN_PLACE_MAX;
                self.message = Some(InMessage {
                    kind,
                    streaming,
                    skipping: false,
                    size: len,
                    started: false,
                    compressed,
                    inflated: 0,
                });
                self.utf8.reset();
            }
            _ => {}
        }
        let frame = InFrame {
            header,
            done: 0,
            in_place,
            unmasked: 0,
            tail: 0,
            inflated: 0,
        };
        self.frame = Some(frame);
        Ok(frame)
    }

    /// The current frame is fully processed; a final frame ends its message.
    fn finish_frame(&mut self, frame: InFrame) {
        self.frame = None;
        if frame.header.fin {
            self.message = None;
            self.stats.messages_received += 1;
        }
    }
}

fn check_limit(limit: Limit, size: u64, max: usize) -> Result<(), Error> {
    if size > max as u64 {
        return Err(CapacityError {
            limit,
            size,
            max: max as u64,
        }
        .into());
    }
    Ok(())
}
