//! Eager blocking handshakes, optionally bounded by a deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::DerefMut;
use std::time::{Duration, Instant};

use rustls::ConnectionCommon;

use crate::error::{HandshakeTimedOut, TlsError};

/// A blocking stream whose read and write timeouts can be changed, so a
/// handshake can be bounded by a deadline
/// ([`TlsConnector::connect_blocking_timeout`](crate::TlsConnector::connect_blocking_timeout),
/// [`TlsAcceptor::accept_blocking_timeout`](crate::TlsAcceptor::accept_blocking_timeout)).
///
/// Implemented for [`TcpStream`] and (on Unix) `UnixStream`, and through
/// `&T`, `&mut T` and `Box<T>`. Implement it for your own socket wrappers by
/// forwarding to the socket.
pub trait SocketTimeouts {
    /// The current read timeout (`None`: reads block indefinitely).
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    /// Sets the read timeout. `Some(Duration::ZERO)` is never passed.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// The current write timeout (`None`: writes block indefinitely).
    fn write_timeout(&self) -> io::Result<Option<Duration>>;
    /// Sets the write timeout. `Some(Duration::ZERO)` is never passed.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

macro_rules! forward_socket_timeouts {
    ($ty:ty) => {
        impl SocketTimeouts for $ty {
            fn read_timeout(&self) -> io::Result<Option<Duration>> {
                <$ty>::read_timeout(self)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, timeout)
            }
            fn write_timeout(&self) -> io::Result<Option<Duration>> {
                <$ty>::write_timeout(self)
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, timeout)
            }
        }
    };
}

forward_socket_timeouts!(TcpStream);
#[cfg(unix)]
forward_socket_timeouts!(std::os::unix::net::UnixStream);

macro_rules! forward_socket_timeouts_deref {
    ($($ty:ty),*) => {$(
        impl<T: SocketTimeouts + ?Sized> SocketTimeouts for $ty {
            fn read_timeout(&self) -> io::Result<Option<Duration>> {
                (**self).read_timeout()
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                (**self).set_read_timeout(timeout)
            }
            fn write_timeout(&self) -> io::Result<Option<Duration>> {
                (**self).write_timeout()
            }
            fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                (**self).set_write_timeout(timeout)
            }
        }
    )*};
}

forward_socket_timeouts_deref!(&T, &mut T, Box<T>);

/// Runs the handshake to completion over a blocking stream, flushing the
/// final flight. A `WouldBlock`/`TimedOut` from the stream (its own timeout
/// firing) becomes [`TlsError::HandshakeTimeout`].
pub(crate) fn complete<C, D, S>(conn: &mut C, sock: &mut S) -> Result<(), TlsError>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    S: Read + Write,
{
    drive(conn, sock).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut if e.get_ref().is_none() => {
            TlsError::HandshakeTimeout
        }
        _ => TlsError::from_io(e),
    })
}

/// [`complete`] within `timeout`: before every read and write the stream's
/// timeout is set to the time remaining, so a peer trickling bytes cannot
/// stretch the handshake. The stream's previous timeouts are restored on
/// success.
pub(crate) fn complete_within<C, D, S>(
    conn: &mut C,
    sock: &mut S,
    timeout: Option<Duration>,
) -> Result<(), TlsError>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    S: Read + Write + SocketTimeouts,
{
    let Some(timeout) = timeout else {
        return complete(conn, sock);
    };
    let saved_read = sock.read_timeout()?;
    let saved_write = sock.write_timeout()?;
    let mut io = Deadline {
        sock: &mut *sock,
        deadline: Instant::now() + timeout,
    };
    match drive(conn, &mut io) {
        Ok(()) => {}
        Err(e) if is_timeout(&e) => return Err(TlsError::HandshakeTimeout),
        Err(e) => return Err(TlsError::from_io(e)),
    }
    sock.set_read_timeout(saved_read)?;
    sock.set_write_timeout(saved_write)?;
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn drive<C, D, S>(conn: &mut C, io: &mut S) -> io::Result<()>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
    S: Read + Write,
{
    loop {
        while conn.wants_write() {
            if conn.write_tls(io)? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        io.flush()?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        match conn.read_tls(io) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the TLS handshake",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if let Err(error) = conn.process_new_packets() {
            // Tell the peer why (the alert is queued); best effort.
            let _ = conn.write_tls(io);
            let _ = io.flush();
            return Err(io::Error::new(io::ErrorKind::InvalidData, error));
        }
    }
}

/// Sets the stream's timeouts to the time left before every operation.
struct Deadline<'a, S: SocketTimeouts> {
    sock: &'a mut S,
    deadline: Instant,
}

impl<S: SocketTimeouts> Deadline<'_, S> {
    fn remaining(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, HandshakeTimedOut))
        } else {
            Ok(left)
        }
    }
}

impl<S: Read + SocketTimeouts> Read for Deadline<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.sock.set_read_timeout(Some(left))?;
        self.sock.read(buf)
    }
}

impl<S: Write + SocketTimeouts> Write for Deadline<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.remaining()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let left = self.remaining()?;
        self.sock.set_write_timeout(Some(left))?;
        self.sock.flush()
    }
}
