//! Prepared messages: a message framed once (and compressed once, where a
//! connection's deflate agreement allows it) and then sent to many
//! connections without encoding or copying it again for each.
//!
//! A server's frames are not masked, so the bytes of a frame (header and
//! payload) are the same for every connection it goes to: a
//! [`PreparedMessage`] holds them as one [`Bytes`], and
//! [`Connection::send_prepared`](crate::Connection::send_prepared) queues
//! that buffer itself (a reference count, no copy) when it is large, or
//! copies it beside the other small frames when that is cheaper than one
//! more slice to write.
//!
//! # Compressing once
//!
//! With permessage-deflate, a message is normally compressed by each
//! connection's own compressor, which refers back to that connection's
//! earlier messages (context takeover), so the compressed bytes differ per
//! connection. A prepared message is instead compressed *without history*:
//! a fresh raw-deflate stream, sync-flushed, with the window bits the
//! connection compresses with. Such a stretch of deflate refers to nothing
//! before itself, so any receiver whose window is at least as large decodes
//! it, whatever it received before: under `server_no_context_takeover` that
//! is what every message is anyway, and with context takeover the receiver
//! simply appends the message to its window. The sending connection does
//! the same to its own window (the plaintext is recorded as if it had
//! compressed it), so its later messages may refer back to it exactly as
//! the receiver expects. The compressed frame is made on first use and
//! kept per window size and level, so a room of connections that agreed
//! on the same parameters compresses each message once.
//!
//! The trade-off: a message compressed without history cannot refer to
//! the connection's earlier messages, so with context takeover it
//! compresses less well than the connection's own compressor would do it
//! (a few percent on independent messages; much more on a stream of
//! near-identical small messages such as ticks of a feed, which may
//! compress to a fraction with history). In exchange, compression costs
//! one run per message instead of one per connection, and no connection's
//! compressor is rebuilt for it. Where bandwidth matters more than CPU,
//! send the [`Message`] itself.

use alloc::sync::Arc;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::event::DataKind;
use crate::frame::{FrameHeader, OpCode};
use crate::message::Message;

/// A message encoded once as a server's frame, for sending to many
/// connections with [`Connection::send_prepared`](crate::Connection::send_prepared).
///
/// Cloning is a reference count. Control messages (ping, pong, close) are
/// kept as they are and sent the ordinary way.
///
/// ```
/// use wsock_core::{Config, Connection, Message, PreparedMessage, Role};
///
/// let news = PreparedMessage::new(Message::text("the same for everyone"));
/// let mut rooms: Vec<Connection> =
///     (0..3).map(|_| Connection::new(Role::Server, Config::default())).collect();
/// for conn in &mut rooms {
///     conn.send_prepared(&news)?;
///     let mut slices = [&[][..]; 4];
///     let n = conn.poll_transmit(&mut slices);
///     assert_eq!(slices[..n].concat(), b"\x81\x15the same for everyone");
/// }
/// # Ok::<(), wsock_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

struct Inner {
    message: Message,
    /// The uncompressed frame, for data messages.
    plain: Option<Frame>,
    /// Compressed frames made so far, one per (window bits, level).
    #[cfg(feature = "deflate")]
    compressed: std::sync::Mutex<Vec<Compressed>>,
}

/// One encoded, unmasked, unfragmented frame.
#[derive(Clone)]
pub(crate) struct Frame {
    /// Header and payload, contiguous.
    pub(crate) bytes: Bytes,
    /// Where the payload starts in `bytes`.
    pub(crate) header_len: usize,
}

impl Frame {
    fn new(kind: DataKind, rsv: u8, payload: &[u8]) -> Self {
        let header = FrameHeader {
            fin: true,
            rsv,
            opcode: match kind {
                DataKind::Text => OpCode::Text,
                DataKind::Binary => OpCode::Binary,
            },
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut bytes = Vec::with_capacity(header.encoded_len() + payload.len());
        header.encode(&mut bytes);
        let header_len = bytes.len();
        bytes.extend_from_slice(payload);
        Self {
            bytes: bytes.into(),
            header_len,
        }
    }

    /// The payload alone.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }
}

#[cfg(feature = "deflate")]
struct Compressed {
    bits: u8,
    level: u32,
    frame: Frame,
}

/// At most this many compressed forms are kept per message: one per
/// window size a server may use (9 to 15) at one or two levels.
#[cfg(feature = "deflate")]
const MAX_FORMS: usize = 14;

impl PreparedMessage {
    /// Frames `message` once. Its payload is copied once, beside the frame
    /// header, so that each connection writes one contiguous buffer.
    pub fn new(message: impl Into<Message>) -> Self {
        let message = message.into();
        let plain = match &message {
            Message::Text(text) => Some(Frame::new(DataKind::Text, 0, text.as_bytes())),
            Message::Binary(data) => Some(Frame::new(DataKind::Binary, 0, data)),
            _ => None,
        };
        Self {
            inner: Arc::new(Inner {
                message,
                plain,
                #[cfg(feature = "deflate")]
                compressed: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// The message, as given (its payload shared, not copied).
    pub fn message(&self) -> &Message {
        &self.inner.message
    }

    /// Text or binary, or `None` for a control message.
    pub fn kind(&self) -> Option<DataKind> {
        match self.inner.message {
            Message::Text(_) => Some(DataKind::Text),
            Message::Binary(_) => Some(DataKind::Binary),
            _ => None,
        }
    }

    /// The payload's length, uncompressed.
    pub fn len(&self) -> usize {
        self.inner.plain.as_ref().map_or(0, |f| f.payload().len())
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many compressed forms were made so far (one per window size and
    /// level the connections it was sent to compress with).
    pub fn compressed_forms(&self) -> usize {
        #[cfg(feature = "deflate")]
        {
            self.inner.compressed.lock().map_or(0, |forms| forms.len())
        }
        #[cfg(not(feature = "deflate"))]
        0
    }

    /// The uncompressed frame, for data messages.
    pub(crate) fn plain(&self) -> Option<&Frame> {
        self.inner.plain.as_ref()
    }

    /// The frame compressed without history at `bits` and `level`, made on
    /// first use and kept. Made under the lock, so concurrent senders wait
    /// for the one compression rather than each doing it.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressed(&self, bits: u8, level: u32) -> Result<Frame, crate::Error> {
        let plain = self.inner.plain.as_ref().ok_or(crate::Error::InvalidState(
            "a control message is not compressed",
        ))?;
        let mut forms = self
            .inner
            .compressed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(form) = forms.iter().find(|f| f.bits == bits && f.level == level) {
            return Ok(form.frame.clone());
        }
        let kind = self.kind().unwrap_or(DataKind::Binary);
        let deflated = crate::deflate::codec::compress_alone(plain.payload(), bits, level)?;
        let frame = Frame::new(kind, crate::frame::RSV1, &deflated);
        if forms.len() < MAX_FORMS {
            forms.push(Compressed {
                bits,
                level,
                frame: frame.clone(),
            });
        }
        Ok(frame)
    }
}

impl core::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("kind", &self.kind())
            .field("len", &self.len())
            .field("compressed_forms", &self.compressed_forms())
            .finish_non_exhaustive()
    }
}

impl From<Message> for PreparedMessage {
    fn from(message: Message) -> Self {
        Self::new(message)
    }
}
