//! Event lending: an [`Event`] borrows the bytes it names from the read or
//! message buffer, so what it lent is released only at the next `&mut`
//! call, and a whole data message can then still be taken owned.

use super::Connection;
use crate::close::CloseFrame;
use crate::error::{Error, ProtocolError};
use crate::event::{DataKind, Event};

/// What to discard at the next `&mut` call: the bytes the last event lent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Release {
    Nothing,
    /// The first `n` unconsumed bytes of the read buffer.
    Input(usize),
    /// The gathered message.
    Message,
}

/// What a step produced, as positions in the read buffer (from its first
/// unconsumed byte) or in the message buffer; [`Connection::emit`] turns it
/// into a borrowed [`Event`].
pub(super) enum Emit {
    Text {
        len: usize,
    },
    Binary {
        len: usize,
    },
    /// The text gathered in `Input::text`.
    MessageText,
    /// The message gathered in `Input::message`.
    MessageBinary,
    Chunk {
        kind: DataKind,
        offset: usize,
        len: usize,
        from_message: bool,
        first: bool,
        last: bool,
    },
    Ping {
        len: usize,
    },
    Pong {
        len: usize,
    },
    Close(Option<CloseFrame>),
}

impl Connection {
    /// See [`Connection::take_message`].
    pub(super) fn take_whole_message(&mut self) -> Option<crate::Message> {
        use crate::Message;
        let kind = self.core.whole.take()?;
        Some(match (self.core.release, kind) {
            (Release::Message, DataKind::Text) => {
                Message::Text(core::mem::take(&mut self.input.text).into())
            }
            (Release::Message, DataKind::Binary) => {
                Message::Binary(core::mem::take(&mut self.input.message).into())
            }
            // A message held in place is copied, and text checked again:
            // a `&str` of the read buffer cannot be kept from `emit`.
            (Release::Input(len), DataKind::Text) => {
                let text = self.input.bytes(0, len);
                crate::utf8::validate(text).ok()?;
                Message::Text(crate::Utf8Bytes::from_validated(
                    bytes::Bytes::copy_from_slice(text),
                ))
            }
            (Release::Input(len), DataKind::Binary) => {
                Message::Binary(bytes::Bytes::copy_from_slice(self.input.bytes(0, len)))
            }
            (Release::Nothing, _) => return None,
        })
    }

    /// Releases what the last event lent; every `&mut` entry point calls
    /// this first.
    pub(super) fn apply_release(&mut self) {
        self.core.whole = None;
        match core::mem::replace(&mut self.core.release, Release::Nothing) {
            Release::Nothing => {}
            Release::Input(n) => self.input.consume(n, self.read_chunk()),
            Release::Message => self.input.clear_message(self.core.config.read_buffer_size),
        }
    }

    /// Turns a step's positions into a borrowed event. Text held in place
    /// is validated here (once, if it arrived in one read); gathered text
    /// was validated as it was gathered.
    pub(super) fn emit(&mut self, emit: Emit) -> Result<Option<Event<'_>>, Error> {
        self.core.whole = match emit {
            Emit::Text { .. } | Emit::MessageText => Some(DataKind::Text),
            Emit::Binary { .. } | Emit::MessageBinary => Some(DataKind::Binary),
            _ => None,
        };
        let input = &self.input;
        let event = match emit {
            Emit::Text { len } => match crate::utf8::validate(input.bytes(0, len)) {
                Ok(text) => Event::Text(text),
                Err(_) => return Err(self.core.fail(ProtocolError::InvalidUtf8.into())),
            },
            // Validated piece by piece as it was gathered.
            Emit::MessageText => Event::Text(&input.text),
            Emit::Binary { len } => Event::Binary(input.bytes(0, len)),
            Emit::MessageBinary => Event::Binary(&input.message),
            Emit::Chunk {
                kind,
                offset,
                len,
                from_message,
                first,
                last,
            } => {
                let data = if from_message {
                    &input.message[offset..offset + len]
                } else {
                    input.bytes(offset, len)
                };
                Event::Chunk {
                    kind,
                    data,
                    first,
                    last,
                }
            }
            Emit::Ping { len } => Event::Ping(input.bytes(0, len)),
            Emit::Pong { len } => Event::Pong(input.bytes(0, len)),
            Emit::Close(frame) => Event::Close(frame),
        };
        Ok(Some(event))
    }
}
