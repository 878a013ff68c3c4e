//! [`Upgraded`]: hyper's upgraded connection or stream as a tokio transport.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The transport of a WebSocket served through hyper: the connection
/// hyper hands over after a `101` (HTTP/1.1), or the stream of an HTTP/2
/// extended CONNECT.
///
/// A type of its own rather than hyper-util's `TokioIo<Upgraded>`, for two
/// reasons: the public API does not name hyper-util (a 0.x crate), and a
/// stream the client resets with an error code (`RST_STREAM`, or the whole
/// connection's `GOAWAY`), which hyper reports as an opaque I/O error, is
/// reported as `ConnectionReset`, so that the WebSocket fails with
/// [`ErrorKind::AbnormalClose`](wsock_tokio::ErrorKind::AbnormalClose) (1006) as
/// after a TCP reset. (A reset with `CANCEL` or `NO_ERROR` already reads as
/// an end of stream without a close frame: 1006 too.)
#[derive(Debug)]
pub struct Upgraded {
    inner: TokioIo<hyper::upgrade::Upgraded>,
}

impl Upgraded {
    pub(super) fn new(upgraded: hyper::upgrade::Upgraded) -> Self {
        Self {
            inner: TokioIo::new(upgraded),
        }
    }

    /// hyper's upgraded connection, for `Upgraded::downcast` to the
    /// original transport (HTTP/1.1 only) or for another protocol.
    pub fn into_inner(self) -> hyper::upgrade::Upgraded {
        self.inner.into_inner()
    }
}

/// A reset of the stream or the connection by the peer, as
/// `ConnectionReset`; other errors as they are.
fn reset_as_reset(e: io::Error) -> io::Error {
    let reset = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<h2::Error>())
        .is_some_and(|h2| h2.is_reset() || h2.is_go_away());
    if reset {
        io::Error::new(io::ErrorKind::ConnectionReset, e)
    } else {
        e
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_read(cx, buf)
            .map_err(reset_as_reset)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner)
            .poll_write(cx, buf)
            .map_err(reset_as_reset)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner)
            .poll_write_vectored(cx, bufs)
            .map_err(reset_as_reset)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(reset_as_reset)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_shutdown(cx)
            .map_err(reset_as_reset)
    }
}
