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
/// `Box<T>` and `&mut T`, and (with the `tls` feature) for rustls'
/// `StreamOwned` over any transport, which forwards the timeouts and
/// addresses to its socket. (`wsock_tls::SocketTimeouts`, which bounds a TLS
/// handshake, is the same pair of timeout setters plus getters; TLS
/// handshakes here run over `TcpStream`, which has both.)
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

    /// What a TLS transport negotiated (peer certificates, protocol
    /// version, cipher suite, ALPN); `None` for a transport without TLS.
    /// Read once, after the opening handshake, for
    /// [`WebSocket::tls_info`](crate::WebSocket::tls_info). Default: `None`.
    #[cfg(feature = "tls")]
    fn tls_info(&self) -> Option<wsock_tls::TlsInfo> {
        None
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this transport has no {what}"),
    )
}

/// A socket type whose own methods are the hooks, as `TcpStream`'s are.
macro_rules! socket_transport {
    ($sock:ty $(, $addr:ident)*) => {
        impl Transport for $sock {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$sock>::set_read_timeout(self, timeout)
            }

            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$sock>::set_write_timeout(self, timeout)
            }

            fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
                <$sock>::shutdown(self, how)
            }

            fn try_clone(&self) -> io::Result<Self> {
                <$sock>::try_clone(self)
            }

            $(fn $addr(&self) -> io::Result<SocketAddr> {
                <$sock>::$addr(self)
            })*
        }
    };
}

socket_transport!(TcpStream, local_addr, peer_addr);
#[cfg(unix)]
socket_transport!(std::os::unix::net::UnixStream);

/// A pointer to a transport forwards every hook but cloning.
macro_rules! forward_transport {
    ($($ptr:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ptr {
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

            #[cfg(feature = "tls")]
            fn tls_info(&self) -> Option<wsock_tls::TlsInfo> {
                (**self).tls_info()
            }
        }
    )*};
}

forward_transport!(Box<T>, &mut T);

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
/// TCP for `ws://`, TLS over TCP for `wss://` (with the `tls` feature, on by
/// default). More variants may be added: match with a wildcard arm.
///
/// A TLS stream cannot be [split](crate::WebSocket::split): the TLS session
/// is one state machine that a reader and a writer on two threads cannot
/// share without a lock held across blocking reads.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// A plain TCP stream (`ws://`).
    Plain(TcpStream),
    /// A TLS stream over TCP (`wss://`), its handshake complete.
    #[cfg(feature = "tls")]
    Tls(Box<wsock_tls::ClientTlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "tls")]
            Self::Tls(s) => &s.sock,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }

    /// The stream that reads and writes: the TCP socket, or the TLS layer.
    fn stream(&mut self) -> &mut dyn Transport {
        match self {
            Self::Plain(s) => s,
            #[cfg(feature = "tls")]
            Self::Tls(s) => &mut **s,
        }
    }
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream().read(buf)
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream().flush()
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
        self.stream().shutdown(how)
    }

    fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Plain(s) => s.try_clone().map(Self::Plain),
            #[cfg(feature = "tls")]
            Self::Tls(_) => Err(unsupported("cloning (a TLS session cannot be shared)")),
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    #[cfg(feature = "tls")]
    fn tls_info(&self) -> Option<wsock_tls::TlsInfo> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(s) => s.tls_info(),
        }
    }
}

/// A TLS stream over any transport is a transport: timeouts and addresses
/// are the socket's; shutting down the writing side first sends the TLS
/// `close_notify` alert; it cannot be cloned.
#[cfg(feature = "tls")]
macro_rules! tls_transport {
    ($conn:ty, $info:path) => {
        impl<S: Transport> Transport for rustls::StreamOwned<$conn, S> {
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                self.sock.set_read_timeout(timeout)
            }

            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                self.sock.set_write_timeout(timeout)
            }

            fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
                if how != Shutdown::Read {
                    self.conn.send_close_notify();
                    // Best effort: the socket may already be gone.
                    while self.conn.wants_write() {
                        match self.conn.write_tls(&mut self.sock) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    let _ = self.sock.flush();
                }
                self.sock.shutdown(how)
            }

            fn local_addr(&self) -> io::Result<SocketAddr> {
                self.sock.local_addr()
            }

            fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.sock.peer_addr()
            }

            fn tls_info(&self) -> Option<wsock_tls::TlsInfo> {
                Some($info(&self.conn))
            }
        }
    };
}

#[cfg(feature = "tls")]
use wsock_tls::rustls;
#[cfg(feature = "tls")]
tls_transport!(rustls::ClientConnection, wsock_tls::TlsInfo::new);
#[cfg(feature = "tls")]
tls_transport!(rustls::ServerConnection, wsock_tls::TlsInfo::from_server);
