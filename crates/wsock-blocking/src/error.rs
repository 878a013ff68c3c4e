//! The adapter's error type: one [`Error`] with a [`kind`](Error::kind) an
//! application can match on, and the underlying cause as its
//! [`source`](std::error::Error::source).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use wsock_core::{CloseCode, CloseFrame, HandshakeError};

/// What went wrong, coarsely enough to decide how to react.
///
/// More kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL is not a usable `ws://` or `wss://` URL.
    InvalidUrl,
    /// The host name could not be resolved, or resolved to no address.
    Dns,
    /// Every address refused the TCP connection (nothing listens there).
    /// [`Error::connect_attempts`] lists them.
    ConnectionRefused,
    /// The network or host could not be reached.
    /// [`Error::connect_attempts`] lists the addresses tried.
    Unreachable,
    /// A connect, handshake, read or write timeout passed. After a read or
    /// write timeout the connection is still usable (see
    /// [`WebSocket::read`](crate::WebSocket::read) and
    /// [`WebSocket::flush`](crate::WebSocket::flush)).
    TimedOut,
    /// TLS failed (see `Error::tls_error` and `Error::certificate_error`,
    /// with the `tls` feature), or is not available (`wss://` without the
    /// `tls` feature).
    Tls,
    /// The HTTP proxy refused or failed to open a `CONNECT` tunnel (407,
    /// 403, 502, …); see `Error::proxy_error` (with the `tls` feature).
    Proxy,
    /// The opening handshake failed: the server rejected the request or
    /// sent an invalid response (client), or the request was invalid or
    /// rejected (server). See [`Error::handshake_error`] and
    /// [`Error::http_status`].
    Handshake,
    /// The peer broke the protocol; a close frame with
    /// [`Error::close_code`] was sent and the connection is closed.
    Protocol,
    /// The peer exceeded a configured size limit; a close frame with 1009
    /// (message too big) was sent and the connection is closed.
    Capacity,
    /// The transport ended, or failed, without a closing handshake (close
    /// code 1006): the peer vanished.
    AbnormalClose,
    /// Keepalive pings went unanswered for the keepalive timeout; the
    /// connection is closed.
    KeepaliveTimeout,
    /// The peer did not answer our close frame within the close timeout;
    /// the connection is closed.
    CloseTimeout,
    /// Nothing arrived from the peer within the idle timeout; a close frame
    /// with 1001 (going away) was sent and the connection is closed.
    IdleTimeout,
    /// The closing handshake finished and the transport is closed. Reported
    /// once by a read; later calls give [`AlreadyClosed`](Self::AlreadyClosed).
    ConnectionClosed,
    /// The connection is closed or closing, so this call cannot proceed.
    AlreadyClosed,
    /// The call itself was invalid: a control payload over 125 bytes, a
    /// close code not allowed on the wire, a header the handshake owns,
    /// text that is not UTF-8, …
    InvalidInput,
    /// Any other I/O failure of the transport.
    Io,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidUrl => "invalid URL",
            Self::Dns => "DNS resolution failed",
            Self::ConnectionRefused => "connection refused",
            Self::Unreachable => "network unreachable",
            Self::TimedOut => "timed out",
            Self::Tls => "TLS error",
            Self::Proxy => "proxy error",
            Self::Handshake => "opening handshake failed",
            Self::Protocol => "protocol violation",
            Self::Capacity => "size limit exceeded",
            Self::AbnormalClose => "connection closed abnormally",
            Self::KeepaliveTimeout => "keepalive timeout",
            Self::CloseTimeout => "close handshake timed out",
            Self::IdleTimeout => "idle timeout",
            Self::ConnectionClosed => "connection closed",
            Self::AlreadyClosed => "connection already closed",
            Self::InvalidInput => "invalid input",
            Self::Io => "I/O error",
        })
    }
}

/// One failed TCP connection attempt: the address and why it failed.
#[derive(Debug)]
pub struct ConnectAttempt {
    addr: SocketAddr,
    error: io::Error,
}

impl ConnectAttempt {
    pub(crate) fn new(addr: SocketAddr, error: io::Error) -> Self {
        Self { addr, error }
    }

    /// The address tried.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why it failed.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The error kind this failure alone would have.
    pub fn kind(&self) -> ErrorKind {
        connect_kind(&self.error)
    }
}

/// The kind of a failed TCP connect.
pub(crate) fn connect_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::TimedOut,
        io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkDown
        | io::ErrorKind::AddrNotAvailable => ErrorKind::Unreachable,
        _ => ErrorKind::Io,
    }
}

/// Every error this crate reports.
///
/// ```
/// use wsock_blocking::ErrorKind;
///
/// let err = wsock_blocking::connect("http://example.com/").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidUrl);
/// ```
pub struct Error {
    kind: ErrorKind,
    repr: Box<Repr>,
}

enum Repr {
    /// A core (protocol/state) error.
    Core(wsock_core::Error, Option<io::Error>),
    /// An opening-handshake error.
    Handshake(HandshakeError),
    /// A transport error.
    Io(io::Error),
    /// Every TCP connect attempt failed.
    Connect {
        target: String,
        attempts: Vec<ConnectAttempt>,
        untried: usize,
    },
    /// The closing handshake finished (with the peer's close frame, if known).
    Closed(Option<CloseFrame>),
    /// A message of our own.
    Message(&'static str),
    /// An error from another layer (such as TLS).
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// An error of `kind` caused by `source`: for layers built on this crate
    /// (a TLS transport, for example).
    pub fn new(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::with(kind, Repr::Other(source.into()))
    }

    fn with(kind: ErrorKind, repr: Repr) -> Self {
        Self {
            kind,
            repr: Box::new(repr),
        }
    }

    pub(crate) fn msg(kind: ErrorKind, message: &'static str) -> Self {
        Self::with(kind, Repr::Message(message))
    }

    pub(crate) fn timed_out(what: &'static str) -> Self {
        Self::msg(ErrorKind::TimedOut, what)
    }

    pub(crate) fn already_closed() -> Self {
        Self::core(wsock_core::Error::AlreadyClosed)
    }

    pub(crate) fn closed(frame: Option<CloseFrame>) -> Self {
        Self::with(ErrorKind::ConnectionClosed, Repr::Closed(frame))
    }

    /// A transport error; resets and unexpected ends become
    /// [`ErrorKind::AbnormalClose`].
    pub(crate) fn io(e: io::Error) -> Self {
        // A TLS stream reports TLS failures (an alert from the peer, a bad
        // record) as I/O errors wrapping the rustls error.
        #[cfg(feature = "tls")]
        if matches!(e.get_ref(), Some(inner) if inner.is::<wsock_tls::rustls::Error>()) {
            return Self::tls(wsock_tls::TlsError::from_io(e));
        }
        let kind = match e.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WriteZero
            | io::ErrorKind::NotConnected => ErrorKind::AbnormalClose,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::TimedOut,
            _ => ErrorKind::Io,
        };
        Self::with(kind, Repr::Io(e))
    }

    pub(crate) fn core(e: wsock_core::Error) -> Self {
        Self::core_with_io(e, None)
    }

    /// A core error, with the transport error that led to it (a reset
    /// behind an abnormal closure).
    pub(crate) fn core_with_io(e: wsock_core::Error, io: Option<io::Error>) -> Self {
        use wsock_core::Error as E;
        let kind = match &e {
            E::Protocol(_) => ErrorKind::Protocol,
            E::Capacity(_) => ErrorKind::Capacity,
            E::Handshake(h) => return Self::handshake(h.clone()),
            E::AbnormalClose => ErrorKind::AbnormalClose,
            E::KeepaliveTimeout => ErrorKind::KeepaliveTimeout,
            E::CloseTimeout => ErrorKind::CloseTimeout,
            E::IdleTimeout => ErrorKind::IdleTimeout,
            E::AlreadyClosed => ErrorKind::AlreadyClosed,
            _ => ErrorKind::InvalidInput,
        };
        Self::with(kind, Repr::Core(e, io))
    }

    pub(crate) fn handshake(e: HandshakeError) -> Self {
        let kind = match e {
            HandshakeError::InvalidUrl(_) | HandshakeError::UnsupportedScheme(_) => {
                ErrorKind::InvalidUrl
            }
            _ => ErrorKind::Handshake,
        };
        Self::with(kind, Repr::Handshake(e))
    }

    /// A request-building error (a bad header or subprotocol): the caller's
    /// input, not the peer's.
    pub(crate) fn request(e: HandshakeError) -> Self {
        match e {
            HandshakeError::InvalidUrl(_) | HandshakeError::UnsupportedScheme(_) => {
                Self::handshake(e)
            }
            other => Self::with(ErrorKind::InvalidInput, Repr::Handshake(other)),
        }
    }

    pub(crate) fn connect(target: String, attempts: Vec<ConnectAttempt>, untried: usize) -> Self {
        let kind = match attempts.first() {
            // Out of time before every address was tried.
            _ if untried > 0 => ErrorKind::TimedOut,
            Some(first) => first.kind(),
            None => ErrorKind::Dns,
        };
        Self::with(
            kind,
            Repr::Connect {
                target,
                attempts,
                untried,
            },
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The close code this error put on the wire (1002, 1007, 1009, …) or,
    /// for abnormal closures and timeouts, 1006. For
    /// [`ErrorKind::ConnectionClosed`], the peer's code.
    pub fn close_code(&self) -> Option<CloseCode> {
        match &*self.repr {
            Repr::Core(e, _) => e.close_code(),
            Repr::Io(_) if self.kind == ErrorKind::AbnormalClose => Some(CloseCode::ABNORMAL),
            Repr::Closed(frame) => Some(frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code)),
            _ => None,
        }
    }

    /// The peer's close frame, for [`ErrorKind::ConnectionClosed`] errors
    /// that know it.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        match &*self.repr {
            Repr::Closed(frame) => frame.as_ref(),
            _ => None,
        }
    }

    /// The opening-handshake error behind an [`ErrorKind::Handshake`] (or
    /// [`ErrorKind::InvalidUrl`]) error.
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        match &*self.repr {
            Repr::Handshake(e) | Repr::Core(wsock_core::Error::Handshake(e), _) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of a failed handshake: what the server answered (a
    /// client's view: 403, 404, a redirect, …) or what this server answered
    /// the request with (400, 405, 426, 431, or the application's status).
    pub fn http_status(&self) -> Option<u16> {
        match self.handshake_error()? {
            HandshakeError::Rejected { status, .. } | HandshakeError::Redirect { status, .. } => {
                Some(*status)
            }
            other => other.http_status(),
        }
    }

    /// Every failed TCP connection attempt, in order, for connect errors
    /// (empty otherwise).
    pub fn connect_attempts(&self) -> &[ConnectAttempt] {
        match &*self.repr {
            Repr::Connect { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// A TLS failure ([`ErrorKind::Tls`]); the [`wsock_tls::TlsError`] stays
    /// reachable through [`tls_error`](Self::tls_error) and `source()`.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(e: wsock_tls::TlsError) -> Self {
        Self::new(ErrorKind::Tls, e)
    }

    /// A proxy failure ([`ErrorKind::Proxy`], or [`ErrorKind::TimedOut`]
    /// when the proxy did not answer in time).
    #[cfg(feature = "tls")]
    pub(crate) fn proxy(e: wsock_tls::proxy::ProxyError) -> Self {
        let kind = match e {
            wsock_tls::proxy::ProxyError::Timeout => ErrorKind::TimedOut,
            _ => ErrorKind::Proxy,
        };
        Self::new(kind, e)
    }

    /// The TLS error behind an [`ErrorKind::Tls`] error (certificate
    /// rejected, handshake timeout, alert from the peer, …).
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&wsock_tls::TlsError> {
        match &*self.repr {
            Repr::Other(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// Why the peer's certificate was rejected, for certificate errors:
    /// unknown issuer, expired, wrong host name, …
    #[cfg(feature = "tls")]
    pub fn certificate_error(&self) -> Option<wsock_tls::CertificateErrorKind> {
        self.tls_error()?.certificate_error()
    }

    /// The proxy error behind an [`ErrorKind::Proxy`] error (its
    /// [`status`](wsock_tls::proxy::ProxyError::status) is the proxy's answer).
    #[cfg(feature = "tls")]
    pub fn proxy_error(&self) -> Option<&wsock_tls::proxy::ProxyError> {
        match &*self.repr {
            Repr::Other(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// The transport error behind this error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &*self.repr {
            Repr::Io(e) | Repr::Core(_, Some(e)) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.repr {
            Repr::Core(e, None) => write!(f, "{e}"),
            Repr::Core(e, Some(io)) => write!(f, "{e}: {io}"),
            Repr::Handshake(e) => write!(f, "{}: {e}", self.kind),
            Repr::Io(e) => write!(f, "{}: {e}", self.kind),
            Repr::Connect {
                target,
                attempts,
                untried,
            } => {
                write!(f, "could not connect to {target}")?;
                if attempts.is_empty() && *untried == 0 {
                    return f.write_str(": no address to try");
                }
                for (i, a) in attempts.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{}: {}", a.addr, a.error)?;
                }
                if *untried > 0 {
                    let sep = if attempts.is_empty() { ": " } else { "; " };
                    write!(
                        f,
                        "{sep}connect timeout passed with {untried} address(es) not tried"
                    )?;
                }
                Ok(())
            }
            Repr::Closed(None) => f.write_str("connection closed"),
            Repr::Closed(Some(frame)) if frame.reason.is_empty() => {
                write!(f, "connection closed (code {})", frame.code)
            }
            Repr::Closed(Some(frame)) => {
                write!(
                    f,
                    "connection closed (code {}: {:?})",
                    frame.code, frame.reason
                )
            }
            Repr::Message(m) => write!(f, "{}: {m}", self.kind),
            Repr::Other(e) => write!(f, "{}: {e}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.repr {
            Repr::Core(_, Some(e)) | Repr::Io(e) => Some(e),
            Repr::Core(e, None) => Some(e),
            Repr::Handshake(e) => Some(e),
            Repr::Connect { attempts, .. } => attempts.first().map(|a| &a.error as _),
            Repr::Other(e) => Some(&**e),
            Repr::Closed(_) | Repr::Message(_) => None,
        }
    }
}

impl From<Error> for io::Error {
    /// Wraps the error (recover it with [`io::Error::get_ref`] and
    /// `downcast_ref::<wsock_blocking::Error>()`), with a matching
    /// [`io::ErrorKind`].
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            ErrorKind::AbnormalClose => io::ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionClosed | ErrorKind::AlreadyClosed => {
                io::ErrorKind::ConnectionAborted
            }
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::Protocol | ErrorKind::Capacity => io::ErrorKind::InvalidData,
            ErrorKind::Io => match e.io_error() {
                Some(io) => io.kind(),
                None => io::ErrorKind::Other,
            },
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_send_sync_and_small() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert!(size_of::<Error>() <= 2 * size_of::<usize>());
    }

    #[test]
    fn connect_error_lists_attempts() {
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = Error::connect(
            "localhost:9".into(),
            vec![
                ConnectAttempt::new("[::1]:9".parse().unwrap(), refused()),
                ConnectAttempt::new("127.0.0.1:9".parse().unwrap(), refused()),
            ],
            0,
        );
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let text = err.to_string();
        assert!(
            text.contains("[::1]:9") && text.contains("127.0.0.1:9"),
            "{text}"
        );
        assert_eq!(err.connect_attempts().len(), 2);
        let timed_out = Error::connect("h:1".into(), vec![], 2);
        assert_eq!(timed_out.kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn io_kinds() {
        assert_eq!(
            Error::io(io::ErrorKind::ConnectionReset.into()).kind(),
            ErrorKind::AbnormalClose
        );
        assert_eq!(
            Error::io(io::ErrorKind::WouldBlock.into()).kind(),
            ErrorKind::TimedOut
        );
        assert_eq!(
            Error::io(io::ErrorKind::PermissionDenied.into()).kind(),
            ErrorKind::Io
        );
        let closed: io::Error = Error::closed(None).into();
        assert_eq!(closed.kind(), io::ErrorKind::ConnectionAborted);
        let inner = closed.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.kind(), ErrorKind::ConnectionClosed);
    }

    #[test]
    fn statuses() {
        let rejected = Error::handshake(HandshakeError::Rejected {
            status: 403,
            headers: vec![],
            body_prefix: vec![],
        });
        assert_eq!(
            (rejected.kind(), rejected.http_status()),
            (ErrorKind::Handshake, Some(403))
        );
        let bad = Error::handshake(HandshakeError::MethodNotAllowed("POST".into()));
        assert_eq!(bad.http_status(), Some(405));
        let url = Error::handshake(HandshakeError::UnsupportedScheme("http".into()));
        assert_eq!(url.kind(), ErrorKind::InvalidUrl);
    }
}
