//! Owned messages: what a connection receives whole and what it sends.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::event::DataKind;
use crate::utf8_bytes::Utf8Bytes;

/// A whole message, owned: what [`Event::Message`](crate::Event::Message)
/// carries, what [`Connection::send`](crate::Connection::send) takes, and
/// what the adapters' `recv` and `send` use.
///
/// Payloads are [`Bytes`] and [`Utf8Bytes`]: cloning a message shares its
/// payload, so one message can go to many connections without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes).
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame (received, or to send with a code and reason).
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// A ping.
    pub fn ping(payload: impl Into<Bytes>) -> Self {
        Self::Ping(payload.into())
    }

    /// A pong.
    pub fn pong(payload: impl Into<Bytes>) -> Self {
        Self::Pong(payload.into())
    }

    /// A close frame with `code` and `reason` (at most
    /// [`CloseFrame::MAX_REASON_LEN`] bytes): sending it starts the closing
    /// handshake, and the connection still receives until the peer's close.
    pub fn close(code: impl Into<crate::CloseCode>, reason: impl Into<Utf8Bytes>) -> Self {
        Self::Close(Some(CloseFrame::new(code, reason)))
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Self::Text(_) | Self::Binary(_))
    }

    /// The data kind of a text or binary message.
    pub fn kind(&self) -> Option<DataKind> {
        match self {
            Self::Text(_) => Some(DataKind::Text),
            Self::Binary(_) => Some(DataKind::Binary),
            _ => None,
        }
    }

    /// The payload bytes (for a close, the reason).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) | Self::Ping(b) | Self::Pong(b) => b,
            Self::Close(c) => c.as_ref().map_or(&[], |c| c.reason.as_bytes()),
        }
    }

    /// The payload's length in bytes (for a close, the reason's).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Self::Text(text)
    }
}

impl From<String> for Message {
    /// Text, taking the string's buffer.
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<&str> for Message {
    /// Text, copied.
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<&String> for Message {
    /// Text, copied.
    fn from(text: &String) -> Self {
        Self::Text(text.as_str().into())
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    /// Binary, taking the vector's buffer.
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data.into())
    }
}

impl From<&[u8]> for Message {
    /// Binary, copied.
    fn from(data: &[u8]) -> Self {
        Self::Binary(Bytes::copy_from_slice(data))
    }
}

impl From<&Vec<u8>> for Message {
    /// Binary, copied.
    fn from(data: &Vec<u8>) -> Self {
        Self::Binary(Bytes::copy_from_slice(data))
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    /// Binary, copied.
    fn from(data: &[u8; N]) -> Self {
        Self::Binary(Bytes::copy_from_slice(data))
    }
}
