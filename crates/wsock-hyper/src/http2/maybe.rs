//! [`MaybeHttp2Stream`]: what [`Http2Client::connect`](super::Http2Client::connect)
//! runs over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wsock_tokio::MaybeTlsStream;

use super::H2Stream;

/// The transport of a WebSocket from
/// [`Http2Client::connect`](super::Http2Client::connect): a stream of an
/// HTTP/2 connection, or the HTTP/1.1 connection the mode allowed (or fell
/// back to). One type for both, so that the caller handles either. More
/// variants may be added: match with a wildcard arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeHttp2Stream {
    /// An HTTP/1.1 connection, plain or TLS, as wsock-tokio's `connect`
    /// makes.
    Http1(MaybeTlsStream),
    /// A stream of an HTTP/2 connection (RFC 8441), over TCP or TLS.
    Http2(Box<H2Stream>),
}

impl MaybeHttp2Stream {
    /// The TCP socket underneath; `None` for an HTTP/2 stream, whose
    /// connection's socket is shared by its streams and owned by the
    /// connection's task.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Http1(s) => s.tcp(),
            Self::Http2(_) => None,
        }
    }

    /// Whether this is a TLS stream (not an HTTP/2 stream, even over TLS:
    /// see `WebSocket::tls_info`).
    pub fn is_tls(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_tls(),
            Self::Http2(_) => false,
        }
    }

    /// Whether this is a stream of an HTTP/2 connection.
    pub fn is_http2(&self) -> bool {
        matches!(self, Self::Http2(_))
    }
}

/// Forwards to the variant's stream.
macro_rules! forward {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            MaybeHttp2Stream::Http1($s) => {
                let $s = Pin::new($s);
                $call
            }
            MaybeHttp2Stream::Http2($s) => {
                let $s = Pin::new(&mut **$s);
                $call
            }
        }
    };
}

impl AsyncRead for MaybeHttp2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeHttp2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        forward!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        forward!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        forward!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_write_vectored(),
            Self::Http2(s) => s.is_write_vectored(),
        }
    }
}
