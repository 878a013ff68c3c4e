//! The permessage-deflate receive glue (RFC 7692 §7.2.2): a compressed
//! message's frames are unmasked, inflated in bounded steps and validated
//! as text, with the inflated size checked as it grows. Also where a
//! connection going idle frees its zlib streams.

use super::super::input::Input;
use super::{InFrame, InMessage, Step, check_limit};
use crate::connection::Connection;
use crate::error::{Error, Limit, ProtocolError};
use crate::event::{DataKind, Event};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

impl Connection {
    /// Frees the permessage-deflate zlib streams (100+ KiB for a
    /// compressor), keeping only the windows that context takeover needs
    /// (2^w bytes per direction); the next message rebuilds each stream
    /// from its window, which the peer cannot tell apart. For a connection
    /// about to sit idle when
    /// [`release_after_message`](crate::DeflateConfig::release_after_message)
    /// is off (with it on, nothing is held between messages anyway);
    /// [`shrink_buffers`](Self::shrink_buffers) calls it. A
    /// direction in the middle of a message keeps its stream. Does nothing
    /// without deflate.
    pub fn release_deflate(&mut self) {
        let sending = self.core.sending.is_some() && self.core.sending_compressed;
        let receiving = self.core.message.is_some();
        if let Some(codec) = self.core.codec.as_mut() {
            codec.release(sending, receiving);
        }
    }

    /// A frame of a compressed message (RFC 7692 §7.2.2): unmask what
    /// arrived, inflate it in bounded steps into the message buffer, and
    /// restore the `00 00 ff ff` tail after the final frame. The inflated
    /// sizes of the frame and the message are checked against
    /// `max_frame_size` and `max_message_size` after every step, and
    /// memory grows only with output actually produced.
    pub(super) fn compressed_frame(
        &mut self,
        mut frame: InFrame,
        mut message: InMessage,
    ) -> Result<Step, Error> {
        /// Most inflated bytes per [`Event::Chunk`](crate::Event::Chunk) in stream mode.
        const STREAM_CHUNK: u64 = 16 * 1024;
        /// Most bytes inflated per step for a text gathered whole: each
        /// step's output is validated where it lands in the message
        /// buffer before more is inflated, so invalid text fails early.
        const TEXT_STEP: u64 = 64 * 1024;
        let Some(codec) = self.core.codec.as_mut() else {
            return Err(Error::InvalidState("compressed message without deflate"));
        };
        let len = frame.header.payload_len;
        let n = (self.input.available() as u64).min(len - frame.done) as usize;
        if n > frame.unmasked {
            if let Some(key) = frame.header.mask {
                let offset = frame.done as usize + frame.unmasked;
                apply_mask(
                    self.input.bytes_mut(frame.unmasked, n - frame.unmasked),
                    key,
                    offset,
                );
            }
            frame.unmasked = n;
        }
        let max = self.core.config.max_message_size as u64;
        let max_frame = self.core.config.max_frame_size as u64;
        let text = message.kind == DataKind::Text;
        let gathered_text = text && !message.streaming;
        let cap = if message.streaming {
            STREAM_CHUNK
        } else if gathered_text {
            TEXT_STEP
        } else {
            u64::MAX
        };
        // One byte past either limit, so passing it is seen.
        let room = max
            .saturating_add(1)
            .saturating_sub(message.inflated)
            .min(max_frame.saturating_add(1).saturating_sub(frame.inflated))
            .min(cap)
            .min(usize::MAX as u64) as usize;
        let (input, out) = self.input.front_and_message(n);
        let before = out.len();
        // Every inflated byte is validated before any other error is
        // reported, so the error does not depend on how the input was
        // split into reads (the same bytes may come out in one step or
        // over several).
        let (used, mut full) = match codec.inflater.inflate(input, out, room) {
            Ok(r) => r,
            Err(err) => {
                let input = &self.input;
                return Err(step_failed(input, &mut self.core.utf8, before, text, err));
            }
        };
        frame.done += used as u64;
        frame.unmasked -= used;
        let payload_done = frame.done == len;
        if payload_done && frame.header.fin && !full {
            let room = room - (out.len() - before);
            let tail = &crate::deflate::codec::TAIL[frame.tail as usize..];
            let (used, tail_full) = match codec.inflater.inflate(tail, out, room) {
                Ok(r) => r,
                Err(err) => {
                    let input = &self.input;
                    return Err(step_failed(input, &mut self.core.utf8, before, text, err));
                }
            };
            frame.tail += used as u8;
            full = tail_full;
        }
        let produced = out.len() - before;
        if text {
            check_inflated_text(&self.input, &mut self.core.utf8, before)?;
        }
        self.input.consume(used, self.core.config.read_buffer_size);
        frame.inflated += produced as u64;
        check_limit(
            Limit::FrameSize,
            frame.inflated,
            self.core.config.max_frame_size,
        )?;
        message.inflated += produced as u64;
        check_limit(
            Limit::MessageSize,
            message.inflated,
            self.core.config.max_message_size,
        )?;
        let complete = payload_done && frame.header.fin && frame.tail == 4 && !full;
        if complete {
            codec.inflater.end_message();
            if message.kind == DataKind::Text {
                self.core
                    .utf8
                    .finish()
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        let first = !message.started;
        message.started |= message.streaming && produced > 0;
        self.core.message = Some(message);
        // A frame that filled the room may have output pending: it stays
        // current until that is out, so what a frame inflates to (and the
        // frame limit) does not depend on where steps ended.
        if complete || (payload_done && !frame.header.fin && !full) {
            self.core.finish_frame(frame);
        } else {
            self.core.frame = Some(frame);
        }
        // Output left when the room ran out is inflated at the next step.
        let more = if payload_done || full {
            Step::Again
        } else {
            Step::NeedMore
        };
        if message.skipping {
            self.input.message.clear();
            return Ok(more);
        }
        if message.streaming {
            if produced == 0 && !complete {
                return Ok(more);
            }
            // Only this step's output is in the buffer: each is handed out.
            debug_assert_eq!(before, 0);
            let data = self.input.take_message();
            return Ok(Step::Emit(Event::Chunk {
                kind: message.kind,
                data,
                first,
                last: complete,
            }));
        }
        if !complete {
            return Ok(more);
        }
        Ok(Step::Emit(Event::Message(
            self.input.take_gathered(message.kind),
        )))
    }
}

/// The error of an inflate step that failed: invalid UTF-8 in the text it
/// produced first, if any, so the error does not depend on read sizes.
fn step_failed(
    input: &Input,
    utf8: &mut Utf8Validator,
    from: usize,
    text: bool,
    err: Error,
) -> Error {
    if text && let Err(invalid) = check_inflated_text(input, utf8, from) {
        return invalid;
    }
    err
}

/// Validates the text inflated into the message buffer from `from` on,
/// where it is: part of the text being gathered, or a stream-mode chunk.
fn check_inflated_text(input: &Input, utf8: &mut Utf8Validator, from: usize) -> Result<(), Error> {
    utf8.feed(&input.message[from..])
        .map_err(|_| ProtocolError::InvalidUtf8.into())
}
