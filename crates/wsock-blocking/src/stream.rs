//! One message as a byte stream: [`MessageReader`] and [`MessageWriter`].

use std::io;

use wsock_core::{CloseCode, DataKind, Fragmenter, ReceiveMode, State, StreamStep};

use crate::engine::{ReadState, Shared};
use crate::transport::Transport;
use crate::{Error, ErrorKind};

/// One incoming message as an [`io::Read`], from
/// [`WebSocket::recv_stream`](crate::WebSocket::recv_stream).
///
/// Yields the payload piece by piece as it arrives; `read` returns 0 at the
/// end of the message. Text arrives as UTF-8 bytes (validated as they
/// stream; a piece may end inside a code point). Memory stays bounded by
/// the read size (the read buffer size, grown to at most 64 KiB while
/// reads fill it) however large the message is.
///
/// Errors are [`io::Error`]s wrapping a [`crate::Error`] (get it with
/// `get_ref()` and `downcast_ref`); a read timeout leaves the reader usable.
/// Dropping the reader before the end discards the rest of the message.
pub struct MessageReader<'a, S: Transport> {
    read: &'a mut ReadState,
    io: &'a mut S,
    kind: DataKind,
}

impl<S: Transport> std::fmt::Debug for MessageReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("kind", &self.kind)
            .field("done", &self.is_complete())
            .finish_non_exhaustive()
    }
}

impl<'a, S: Transport> MessageReader<'a, S> {
    /// Waits for the first piece of the next data message.
    pub(crate) fn start(read: &'a mut ReadState, io: &'a mut S) -> Result<Self, Error> {
        read.stream.abandon();
        if read.stream.has_close() {
            // The peer closed first: no message (`None`); the next `recv`
            // returns the close, as in wsock-tokio.
            return Err(Error::closed(None));
        }
        let step = read.next(io, ReceiveMode::Stream, None, |event, stream| {
            stream.handle(event)
        })?;
        match step {
            StreamStep::Started(kind) => Ok(Self { read, io, kind }),
            _ => Err(Error::closed(None)),
        }
    }

    /// Whether the message is text or binary.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// Whether the whole message has been received (what is left to read
    /// is already buffered).
    pub fn is_complete(&self) -> bool {
        self.read.stream.is_complete()
    }
}

impl<S: Transport> io::Read for MessageReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.read.stream.read(buf) {
                return Ok(n);
            }
            let step = self
                .read
                .next(self.io, ReceiveMode::Stream, None, |event, stream| {
                    stream.handle(event)
                })?;
            if step == StreamStep::Closed {
                // The peer closed in the middle of the message; the next
                // `recv` returns its close, as in wsock-tokio.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed inside the message",
                ));
            }
        }
    }
}

impl<S: Transport> Drop for MessageReader<'_, S> {
    fn drop(&mut self) {
        self.read.stream.abandon();
    }
}

/// One outgoing message as an [`io::Write`], from
/// [`WebSocket::send_stream`](crate::WebSocket::send_stream).
///
/// Bytes are gathered into fragments of the configured fragment size
/// (default: the write buffer size); each full fragment is sent as a frame.
/// [`flush`](io::Write::flush) sends what is gathered as a fragment and
/// writes everything out. [`finish`](Self::finish) ends the message. Text
/// is checked as it is written: a write whose bytes cannot continue valid
/// UTF-8 fails with `InvalidInput` and takes none of them (a code point
/// may still be split between writes).
///
/// **Drop rule** (as in wsock-tokio): dropping the writer after a write
/// and before `finish` closes the connection with 1011
/// (internal error): what was sent cannot be taken back, and the peer must
/// never take a truncated message (an early return with `?`, a panic) for
/// a whole one. Dropping it before any write sends nothing.
pub struct MessageWriter<'a, S: Transport> {
    shared: &'a Shared,
    io: &'a mut S,
    /// The fragment size and what is gathered: the core's decision.
    message: Fragmenter,
}

impl<S: Transport> std::fmt::Debug for MessageWriter<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl<'a, S: Transport> MessageWriter<'a, S> {
    pub(crate) fn start(shared: &'a Shared, io: &'a mut S, kind: DataKind) -> Result<Self, Error> {
        let conn = shared.conn();
        if conn.state() != State::Open {
            return Err(Error::already_closed());
        }
        let message = Fragmenter::new(&conn, kind);
        drop(conn);
        Ok(Self {
            shared,
            io,
            message,
        })
    }

    /// Whether this is a text or binary message.
    pub fn kind(&self) -> DataKind {
        self.message.kind()
    }

    /// Ends the message: sends the last fragment and writes everything out.
    pub fn finish(mut self) -> Result<(), Error> {
        self.end()
    }

    fn end(&mut self) -> Result<(), Error> {
        let result = self.shared.queue(self.io, true, |c| self.message.finish(c));
        if let Err(e) = &result
            && e.kind() == ErrorKind::InvalidInput
        {
            // The message cannot end validly (text ending inside a code
            // point), and no other message can follow an unfinished one.
            self.abort("message could not be completed");
        }
        result
    }

    /// Closes the connection with 1011: the message cannot be completed.
    fn abort(&mut self, reason: &str) {
        self.shared
            .start_close(self.io, CloseCode::INTERNAL_ERROR, reason);
    }
}

impl<S: Transport> io::Write for MessageWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.message.is_finished() {
            return Err(Error::already_closed().into());
        }
        if data.is_empty() {
            return Ok(0);
        }
        let mut taken = 0;
        self.shared.queue(self.io, false, |c| {
            taken = self.message.write(c, data)?;
            Ok(())
        })?;
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.message.is_finished() {
            return Ok(());
        }
        self.shared
            .queue(self.io, false, |c| self.message.flush(c))?;
        self.shared.flush(self.io, None, None)?;
        Ok(())
    }
}

impl<S: Transport> Drop for MessageWriter<'_, S> {
    fn drop(&mut self) {
        if self.message.is_started() && !self.message.is_finished() {
            self.abort("message aborted");
        }
    }
}
