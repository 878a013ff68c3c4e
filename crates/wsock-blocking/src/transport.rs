//! The byte streams a WebSocket runs over.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// A blocking byte stream a WebSocket can run over: [`Read`] + [`Write`],
/// plus hooks for the things a socket can do and other streams cannot.
///
/// Every hook has a default, so any stream can opt in with an empty
/// `impl Transport for MyStream {}` (or be wrapped in [`AnyStream`]). The
/// defaults report [`io::ErrorKind::Unsupported`] (shutdown does nothing),
/// and the adapter does without:
///
/// * without [`set_read_timeout`](Self::set_read_timeout), reads cannot be
///   bounded: read timeouts, keepalive pings and the close timeout only take
///   effect when data arrives, and closing does not wait for the peer;
/// * without [`set_write_timeout`](Self::set_write_timeout), the write
///   timeout does not apply;
/// * without [`shutdown`](Self::shutdown), the peer sees the end of the
///   stream only when the transport is dropped;
/// * without [`try_clone`](Self::try_clone), the connection cannot be
///   [split](crate::WebSocket::split).
///
/// Implemented for [`TcpStream`], `UnixStream` (Unix), [`MaybeTlsStream`](crate::MaybeTlsStream),
/// `Box<T>` and `&mut T`. A TLS stream implements it by forwarding the
/// timeouts and addresses to its socket.
pub trait Transport: Read + Write {
    /// Bounds how long one `read` may block (`None`: forever). The adapter
    /// sets it before each read from its own deadlines; it never passes
    /// `Some(Duration::ZERO)`. A read that times out must fail with
    /// [`io::ErrorKind::WouldBlock`] or [`io::ErrorKind::TimedOut`].
    /// Default: `Unsupported`.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(unsupported("read timeouts"))
    }

    /// Bounds how long one `write` may block, like
    /// [`set_read_timeout`](Self::set_read_timeout). Default: `Unsupported`.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let _ = timeout;
        Err(unsupported("write timeouts"))
    }

    /// Shuts down the reading or writing half, or both: `Write` sends end of
    /// stream (a TCP FIN) after everything written so far. Used for the
    /// lingering close. Default: nothing.
    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        let _ = how;
        Ok(())
    }

    /// A second handle to the same stream, usable from another thread at the
    /// same time (one reads while the other writes), as
    /// [`TcpStream::try_clone`] gives. Needed by
    /// [`WebSocket::split`](crate::WebSocket::split). Default: `Unsupported`.
    fn try_clone(&self) -> io::Result<Self>
    where
        Self: Sized,
    {
        Err(unsupported("cloning"))
    }

    /// The local address. Default: `Unsupported`.
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported("socket addresses"))
    }

    /// The peer's address. Default: `Unsupported`.
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported("socket addresses"))
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this transport has no {what}"),
    )
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        TcpStream::shutdown(self, how)
    }

    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }

    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        (**self).shutdown(how)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        (**self).local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        (**self).peer_addr()
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        (**self).set_write_timeout(timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        (**self).shutdown(how)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        (**self).local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        (**self).peer_addr()
    }
}

/// Adapts any [`Read`] + [`Write`] stream (an in-memory pipe, a stream
/// type from another crate) to [`Transport`] with the default hooks: no
/// timeouts, no shutdown, no split, no addresses.
///
/// ```
/// # use std::io::{Read, Write};
/// use wsock_blocking::AnyStream;
/// # struct Pipe;
/// # impl Read for Pipe { fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> { Ok(0) } }
/// # impl Write for Pipe { fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { Ok(b.len()) } fn flush(&mut self) -> std::io::Result<()> { Ok(()) } }
/// let result = wsock_blocking::client(AnyStream(Pipe), "ws://example.com/");
/// // The pipe ends at once, so the handshake fails.
/// assert_eq!(result.unwrap_err().kind(), wsock_blocking::ErrorKind::Handshake);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AnyStream<S>(pub S);

impl<S: Read> Read for AnyStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for AnyStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for AnyStream<S> {}

/// The stream [`connect`](crate::connect) and
/// [`ClientBuilder::connect`](crate::ClientBuilder::connect) return: plain
/// TCP today; a TLS variant joins when TLS support lands (match with a
/// wildcard arm).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// A plain TCP stream (`ws://`).
    Plain(TcpStream),
}

impl MaybeTlsStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
        }
    }
}

impl Transport for MaybeTlsStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        self.tcp().shutdown(how)
    }

    fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Plain(s) => s.try_clone().map(Self::Plain),
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }
}
