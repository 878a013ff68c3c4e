//! [`MaybeTlsStream`]: what [`connect`](crate::connect) runs over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The transport [`connect`](crate::connect) and
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect) return: plain
/// TCP for `ws://`, TLS over TCP for `wss://` (with the `tls` feature, on by
/// default). More variants may be added: match with a wildcard arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// A plain TCP stream (`ws://`).
    Plain(TcpStream),
    /// A TLS stream over TCP (`wss://`), its handshake complete.
    #[cfg(feature = "tls")]
    Tls(Box<wsock_tls::tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath. (An `Option` for transports without a
    /// socket of their own, such as the HTTP/2 stream of wsock-hyper,
    /// whose connection's socket its streams share.)
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Some(s.get_ref().0),
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return matches!(self, Self::Tls(_));
        #[cfg(not(feature = "tls"))]
        false
    }
}

/// Any of the transports a [`MaybeTlsStream`] holds.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

impl MaybeTlsStream {
    /// The transport inside, so each I/O method is written once rather
    /// than once per variant.
    fn io(&self) -> &dyn Transport {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "tls")]
            Self::Tls(s) => &**s,
        }
    }

    fn io_pin(self: Pin<&mut Self>) -> Pin<&mut dyn Transport> {
        Pin::new(match self.get_mut() {
            Self::Plain(s) => s,
            #[cfg(feature = "tls")]
            Self::Tls(s) => &mut **s,
        })
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io_pin().poll_read(cx, buf)
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io_pin().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io_pin().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io_pin().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io_pin().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io().is_write_vectored()
    }
}
