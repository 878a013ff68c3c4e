//! Owned messages: what the adapters' whole-message APIs send and receive.

use alloc::string::String;
use alloc::vec::Vec;

use crate::close::CloseFrame;
use crate::event::{DataKind, Event};

/// A whole message, owned. Adapters return these from `read`/`recv` and
/// take them in `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (at most 125 bytes).
    Ping(Vec<u8>),
    /// A pong (at most 125 bytes).
    Pong(Vec<u8>),
    /// A close frame (received, or to send with a code and reason).
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Vec<u8>>) -> Self {
        Self::Binary(data.into())
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

    /// Copies a borrowed event into an owned message. Stream-mode chunks
    /// have no whole-message form and give `None`.
    pub fn from_event(event: &Event<'_>) -> Option<Self> {
        Some(match event {
            Event::Text(t) => Self::Text((*t).into()),
            Event::Binary(b) => Self::Binary(b.to_vec()),
            Event::Ping(p) => Self::Ping(p.to_vec()),
            Event::Pong(p) => Self::Pong(p.to_vec()),
            Event::Close(c) => Self::Close(c.clone()),
            Event::Chunk { .. } => return None,
        })
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data)
    }
}

impl From<&[u8]> for Message {
    fn from(data: &[u8]) -> Self {
        Self::Binary(data.to_vec())
    }
}
