//! What the connection reports: owned messages and stream-mode chunks.

use bytes::Bytes;

use crate::message::Message;

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
/// Events own their payloads: a message that arrived in one read is a
/// slice of the connection's read buffer (shared, not copied), one gathered
/// from several frames or reads is moved out of the buffer it was gathered
/// in. Either way it is never copied a second time, and text was validated
/// exactly once, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A whole data message (in [`ReceiveMode::Message`]), or a control
    /// frame: a ping (with `auto_pong`, its pong is already queued), a pong
    /// (solicited or not, §5.5.3), or the peer's close (a reply, if one was
    /// due, is already queued; no event follows it).
    ///
    /// [`ReceiveMode::Message`]: crate::ReceiveMode::Message
    Message(Message),
    /// A piece of a data message (in [`ReceiveMode::Stream`]). Text pieces
    /// may end inside a code point: the message is validated as it streams
    /// (fail-fast, §8.1), and a piece is handed out only once the bytes in
    /// it are known to be a valid prefix.
    ///
    /// [`ReceiveMode::Stream`]: crate::ReceiveMode::Stream
    Chunk {
        /// Text or binary.
        kind: DataKind,
        /// The bytes, in order.
        data: Bytes,
        /// The first piece of its message.
        first: bool,
        /// The last piece of its message.
        last: bool,
    },
}
