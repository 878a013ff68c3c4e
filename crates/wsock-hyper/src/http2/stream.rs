//! [`H2Stream`]: one HTTP/2 stream as a tokio byte stream.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsock_core::Bytes;

/// The transport of a WebSocket over HTTP/2 (RFC 8441): one stream of an
/// HTTP/2 connection, its DATA frames read and written as bytes.
///
/// What a WebSocket needs from a transport, carried over to a stream:
///
/// * **Backpressure.** Received bytes count against the stream's HTTP/2
///   flow-control window until they are read out of this stream; only then
///   is the window given back. A reader that stops reading stops the
///   sender (the server's writes wait, as on TCP), and the connection's
///   other streams are not held up. Writes wait for window from the peer.
/// * **The end.** Shutting the write side down (the WebSocket does it
///   after the closing handshake) waits for the peer to end its side,
///   then ends ours with `END_STREAM`; a peer that has not ended its side
///   within 250 ms gets `RST_STREAM` with `NO_ERROR` instead (see
///   `poll_shutdown`). A stream the peer ended reads as the end of the
///   stream.
/// * **Aborts.** Dropping the stream before its write side was shut down
///   resets it (`RST_STREAM` with `CANCEL`), which the server sees as an
///   abnormal close (1006). A stream the peer resets, or a connection that
///   fails under it (`GOAWAY` with an error, a dropped TCP connection),
///   reads and writes as `ConnectionReset`, so the WebSocket fails with
///   [`ErrorKind::AbnormalClose`](wsock_tokio::ErrorKind::AbnormalClose).
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received bytes not read yet, whose window is not given back yet.
    pending: Bytes,
    /// `END_STREAM` was sent (or the stream was reset).
    send_ended: bool,
    /// While shutting down: when to stop waiting for the peer's end.
    end_wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long shutting down waits for the peer to end its side of the
/// stream before resetting it (see `H2Stream::poll_shutdown`).
const END_WAIT: Duration = Duration::from_millis(250);

impl H2Stream {
    /// The stream of an accepted extended CONNECT: `recv` the response's
    /// body, `send` what `SendRequest::send_request` returned.
    pub fn new(recv: RecvStream, send: SendStream<Bytes>) -> Self {
        Self {
            send,
            recv,
            pending: Bytes::new(),
            send_ended: false,
            end_wait: None,
        }
    }

    /// Resets the stream with `reason` at once (`RST_STREAM`), dropping
    /// whatever is queued: an abort, where shutting down is the clean end.
    pub fn reset(&mut self, reason: Reason) {
        self.send_ended = true;
        self.send.send_reset(reason);
    }

    /// The stream's identifier on its connection.
    pub fn stream_id(&self) -> h2::StreamId {
        self.send.stream_id()
    }

    /// The stream and its connection gone: why, as an I/O error.
    fn reset_error(&mut self, cx: &mut Context<'_>, e: Option<h2::Error>) -> io::Error {
        if let Some(e) = e {
            return to_io(e);
        }
        match self.send.poll_reset(cx) {
            Poll::Ready(Ok(reason)) => {
                io::Error::new(io::ErrorKind::ConnectionReset, h2::Error::from(reason))
            }
            Poll::Ready(Err(e)) => to_io(e),
            Poll::Pending => io::ErrorKind::BrokenPipe.into(),
        }
    }
}

/// An h2 error as an I/O error: a reset stream or a connection closed
/// with an error is `ConnectionReset` (an abnormal close); the I/O error
/// of the connection's transport is itself.
pub(super) fn to_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| io::ErrorKind::ConnectionReset.into());
    }
    io::Error::new(io::ErrorKind::ConnectionReset, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => self.pending = data,
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        let data = self.pending.split_to(n);
        buf.put_slice(&data);
        // The bytes are the reader's now: the peer may send as many more.
        // (An error means the stream is gone, which the next read reports.)
        let _ = self.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    /// Copies as much of `bufs` as the peer's window allows into one DATA
    /// frame's worth of bytes (h2 splits it into frames of the peer's
    /// maximum size).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.send_ended {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.send.reserve_capacity(len);
        // Window already assigned is used at once: `poll_capacity` only
        // reports increases.
        let granted = loop {
            let available = self.send.capacity();
            if available > 0 {
                break available.min(len);
            }
            match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(self.reset_error(cx, Some(e)))),
                None => return Poll::Ready(Err(self.reset_error(cx, None))),
            }
        };
        let mut data = Vec::with_capacity(granted);
        for b in bufs {
            let take = (granted - data.len()).min(b.len());
            data.extend_from_slice(&b[..take]);
            if data.len() == granted {
                break;
            }
        }
        if let Err(e) = self.send.send_data(Bytes::from(data), false) {
            return Poll::Ready(Err(self.reset_error(cx, Some(e))));
        }
        Poll::Ready(Ok(granted))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// h2 writes what was given to it as the connection task runs; there
    /// is nothing to push here.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends our side of the stream once the peer has ended its own: with
    /// `END_STREAM` (an empty DATA frame), the graceful ending. Meanwhile
    /// what arrives is discarded (the WebSocket shuts down after its
    /// closing handshake, when nothing more counts).
    ///
    /// A peer that has not ended its side within `END_WAIT` (250 ms) gets
    /// `RST_STREAM` with `NO_ERROR` instead. Some servers never end a
    /// WebSocket's stream and forget it once they have its close frames;
    /// DATA for a forgotten stream, even an empty `END_STREAM`, then fails
    /// their whole connection with every other WebSocket on it (hypercorn
    /// 0.17 does), while a reset is no error to them. The wait is what
    /// makes the reset safe: h2 drops a reset stream's unwritten DATA, and
    /// by then our close frame is long written.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.send_ended {
            return Poll::Ready(Ok(()));
        }
        let this = &mut *self;
        if !this.pending.is_empty() {
            let n = this.pending.len();
            this.pending = Bytes::new();
            let _ = this.recv.flow_control().release_capacity(n);
        }
        let peer_ended = loop {
            match this.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                }
                // Ended, or reset (then there is nothing left to end).
                Poll::Ready(None) => break true,
                Poll::Ready(Some(Err(_))) => {
                    this.send_ended = true;
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => break false,
            }
        };
        if peer_ended {
            this.send_ended = true;
            return match this.send.send_data(Bytes::new(), true) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(e) => Poll::Ready(Err(this.reset_error(cx, Some(e)))),
            };
        }
        let wait = this
            .end_wait
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(END_WAIT)));
        ready!(wait.as_mut().poll(cx));
        this.send_ended = true;
        this.send.send_reset(Reason::NO_ERROR);
        Poll::Ready(Ok(()))
    }
}

/// An abort resets the stream; after a shutdown there is nothing to do.
impl Drop for H2Stream {
    fn drop(&mut self) {
        if !self.send_ended {
            self.send.send_reset(Reason::CANCEL);
        }
    }
}

impl std::fmt::Debug for H2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Stream")
            .field("stream_id", &self.send.stream_id())
            .field("pending", &self.pending.len())
            .field("send_ended", &self.send_ended)
            .finish_non_exhaustive()
    }
}
