//! What the connection reports: plain data borrowed from its buffers.

use crate::close::CloseFrame;

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Arbitrary bytes (opcode 0x2).
    Binary,
}

/// One thing that happened on the connection, from
/// [`Connection::poll_event`](crate::Connection::poll_event).
///
/// Payloads borrow the connection's buffers and stay valid until the next
/// call that takes `&mut` on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A whole text message (message mode), validated as UTF-8.
    Text(&'a str),
    /// A whole binary message (message mode).
    Binary(&'a [u8]),
    /// A piece of a message (stream mode). Text pieces may end inside a
    /// code point; the whole message is validated as it streams.
    Chunk {
        /// Text or binary.
        kind: DataKind,
        /// The bytes, in order.
        data: &'a [u8],
        /// The first piece of its message.
        first: bool,
        /// The last piece of its message.
        last: bool,
    },
    /// A ping. With `auto_pong` a pong is already queued.
    Ping(&'a [u8]),
    /// A pong (solicited or not; unsolicited pongs are allowed, §5.5.3).
    Pong(&'a [u8]),
    /// The peer's close frame: its code and reason, or `None` when it had
    /// no body. A reply, if one was due, is already queued.
    Close(Option<CloseFrame>),
}
