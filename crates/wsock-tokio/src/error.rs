//! The one error type of the adapter, with a coarse [`ErrorKind`] to match on
//! and accessors for the details.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use wsock_core::{CloseCode, HandshakeError};

/// What kind of failure an [`Error`] is. New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL is not a usable `ws://` or `wss://` URL.
    Url,
    /// The host name could not be resolved (or resolved to no address).
    Dns,
    /// No TCP connection could be made: every address was refused or
    /// unreachable. [`Error::connect_attempts`] lists them.
    Connect,
    /// A connect, handshake, read, keepalive, idle or close timeout passed.
    Timeout,
    /// TLS failed (see `Error::tls_error` and `Error::certificate_error`,
    /// with the `tls` feature), or is not available (`wss://` without the
    /// `tls` feature).
    Tls,
    /// The HTTP proxy refused or failed to open a `CONNECT` tunnel (407,
    /// 403, 502, …); see `Error::proxy_error` (with the `tls` feature).
    Proxy,
    /// The opening handshake failed: a rejected or malformed request or
    /// response. [`Error::handshake_error`] and [`Error::http_status`] say more.
    Handshake,
    /// The peer broke the protocol; a close frame with
    /// [`Error::close_code`] was sent.
    Protocol,
    /// The peer exceeded a configured size limit; a close frame with 1009
    /// (message too big) was sent.
    Capacity,
    /// The transport failed (reset, broken pipe, …).
    Io,
    /// The transport ended without a closing handshake (close code 1006).
    ConnectionClosed,
    /// The connection is closed or closing, so this call cannot proceed.
    AlreadyClosed,
    /// The call itself was invalid (for example a ping payload over 125
    /// bytes, a close code not allowed on the wire, or a header the
    /// handshake owns).
    InvalidInput,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Url => "invalid URL",
            Self::Dns => "DNS resolution failed",
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Tls => "TLS error",
            Self::Proxy => "proxy error",
            Self::Handshake => "handshake failed",
            Self::Protocol => "protocol error",
            Self::Capacity => "size limit exceeded",
            Self::Io => "I/O error",
            Self::ConnectionClosed => "connection closed abnormally",
            Self::AlreadyClosed => "connection already closed",
            Self::InvalidInput => "invalid input",
        })
    }
}

/// An error from connecting, accepting, sending or receiving.
///
/// Match on [`kind`](Self::kind); the accessors give the details that
/// kind carries. Cloning is cheap (the error is reference-counted), which
/// lets both halves of a split connection report the same failure.
#[derive(Clone)]
pub struct Error {
    repr: Arc<Repr>,
}

struct Repr {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Source,
}

enum Source {
    None,
    Core(wsock_core::Error),
    Io(io::Error),
    Attempts(Vec<(SocketAddr, io::Error)>),
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>, source: Source) -> Self {
        Self {
            repr: Arc::new(Repr {
                kind,
                message: message.into(),
                source,
            }),
        }
    }

    /// A [`ErrorKind::Tls`] error wrapping `source`, for TLS layers that
    /// hand their stream to [`ClientBuilder::handshake`](crate::ClientBuilder::handshake).
    pub fn tls(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(ErrorKind::Tls, "TLS failed", Source::Other(source.into()))
    }

    #[cfg(not(feature = "tls"))]
    pub(crate) fn tls_not_enabled() -> Self {
        Self::new(
            ErrorKind::Tls,
            "TLS support not enabled: wss:// URLs need the `tls` feature, or a TLS layer \
             whose stream goes to ClientBuilder::handshake",
            Source::None,
        )
    }

    #[cfg(feature = "tls")]
    pub(crate) fn from_tls(err: wsock_tls::TlsError) -> Self {
        Self::new(
            ErrorKind::Tls,
            "TLS handshake failed",
            Source::Other(Box::new(err)),
        )
    }

    #[cfg(feature = "tls")]
    pub(crate) fn proxy(err: wsock_tls::proxy::ProxyError) -> Self {
        let kind = match err {
            wsock_tls::proxy::ProxyError::Timeout => ErrorKind::Timeout,
            _ => ErrorKind::Proxy,
        };
        Self::new(kind, "proxy tunnel failed", Source::Other(Box::new(err)))
    }

    /// The TLS error behind an [`ErrorKind::Tls`] error (certificate
    /// rejected, handshake timeout, alert from the peer, …).
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&wsock_tls::TlsError> {
        match &self.repr.source {
            Source::Other(e) => e.downcast_ref(),
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
        match &self.repr.source {
            Source::Other(e) => e.downcast_ref(),
            _ => None,
        }
    }

    pub(crate) fn dns(host: &str, source: io::Error) -> Self {
        Self::new(
            ErrorKind::Dns,
            format!("could not resolve {host:?}"),
            Source::Io(source),
        )
    }

    pub(crate) fn no_addresses(host: &str) -> Self {
        Self::new(
            ErrorKind::Dns,
            format!("{host:?} resolved to no addresses"),
            Source::None,
        )
    }

    pub(crate) fn connect(target: &str, attempts: Vec<(SocketAddr, io::Error)>) -> Self {
        Self::new(
            ErrorKind::Connect,
            format!("could not connect to {target}"),
            Source::Attempts(attempts),
        )
    }

    pub(crate) fn timeout(what: &'static str) -> Self {
        Self::new(ErrorKind::Timeout, what, Source::None)
    }

    pub(crate) fn handshake(err: HandshakeError) -> Self {
        let kind = match err {
            HandshakeError::InvalidUrl(_) | HandshakeError::UnsupportedScheme(_) => ErrorKind::Url,
            _ => ErrorKind::Handshake,
        };
        let message = if kind == ErrorKind::Url {
            ""
        } else {
            "WebSocket handshake failed"
        };
        Self::new(
            kind,
            message,
            Source::Core(wsock_core::Error::Handshake(err)),
        )
    }

    /// A request option (subprotocol, header, origin) the handshake refuses.
    pub(crate) fn invalid_request(err: HandshakeError) -> Self {
        Self::new(
            ErrorKind::InvalidInput,
            "invalid handshake option",
            Source::Core(wsock_core::Error::Handshake(err)),
        )
    }

    pub(crate) fn io(err: io::Error) -> Self {
        // A TLS stream reports TLS failures (an alert from the peer, a bad
        // record) as I/O errors wrapping the rustls error.
        #[cfg(feature = "tls")]
        if matches!(err.get_ref(), Some(inner) if inner.is::<wsock_tls::rustls::Error>()) {
            return Self::from_tls(wsock_tls::TlsError::from_io(err));
        }
        if err.kind() == io::ErrorKind::TimedOut {
            return Self::new(ErrorKind::Timeout, "I/O timed out", Source::Io(err));
        }
        Self::new(ErrorKind::Io, "I/O error", Source::Io(err))
    }

    pub(crate) fn closed_during_handshake() -> Self {
        Self::handshake(HandshakeError::UnexpectedEof)
    }

    pub(crate) fn already_closed() -> Self {
        Self::from_core(wsock_core::Error::AlreadyClosed)
    }

    pub(crate) fn from_core(err: wsock_core::Error) -> Self {
        use wsock_core::Error as E;
        let kind = match &err {
            E::Protocol(_) => ErrorKind::Protocol,
            E::Capacity(_) => ErrorKind::Capacity,
            E::Handshake(e) => return Self::handshake(e.clone()),
            E::AbnormalClose => ErrorKind::ConnectionClosed,
            E::KeepaliveTimeout | E::CloseTimeout | E::IdleTimeout => ErrorKind::Timeout,
            E::AlreadyClosed => ErrorKind::AlreadyClosed,
            _ => ErrorKind::InvalidInput,
        };
        Self::new(kind, "", Source::Core(err))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.repr.kind
    }

    /// The close code this failure put on the wire (1002, 1007, 1009, …),
    /// or 1006 for a connection that ended without a closing handshake.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.core_error()?.close_code()
    }

    /// The HTTP status of a failed handshake: what the server answered (on
    /// a client), or what the request was rejected with (on a server).
    pub fn http_status(&self) -> Option<u16> {
        match self.handshake_error()? {
            HandshakeError::Rejected { status, .. } | HandshakeError::Redirect { status, .. } => {
                Some(*status)
            }
            other => other.http_status(),
        }
    }

    /// The handshake failure, for [`ErrorKind::Handshake`] and [`ErrorKind::Url`].
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        match self.core_error()? {
            wsock_core::Error::Handshake(e) => Some(e),
            _ => None,
        }
    }

    /// The protocol engine's error, when the failure came from it.
    pub fn core_error(&self) -> Option<&wsock_core::Error> {
        match &self.repr.source {
            Source::Core(e) => Some(e),
            _ => None,
        }
    }

    /// The transport error, for [`ErrorKind::Io`], [`ErrorKind::Dns`] and
    /// I/O timeouts.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.repr.source {
            Source::Io(e) => Some(e),
            _ => None,
        }
    }

    /// Every address a failed connect tried, with why it failed, in the
    /// order tried ([`ErrorKind::Connect`]).
    pub fn connect_attempts(&self) -> &[(SocketAddr, io::Error)] {
        match &self.repr.source {
            Source::Attempts(a) => a,
            _ => &[],
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.repr.kind)
            .field("message", &self.repr.message);
        match &self.repr.source {
            Source::None => {}
            Source::Core(e) => {
                d.field("source", e);
            }
            Source::Io(e) => {
                d.field("source", e);
            }
            Source::Attempts(a) => {
                d.field("attempts", a);
            }
            Source::Other(e) => {
                d.field("source", e);
            }
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.repr;
        match &r.source {
            Source::None if r.kind == ErrorKind::Timeout => write!(f, "{} timed out", r.message),
            Source::None => f.write_str(&r.message),
            Source::Core(wsock_core::Error::Handshake(e)) if r.message.is_empty() => {
                write!(f, "{e}")
            }
            Source::Core(wsock_core::Error::Handshake(e)) => write!(f, "{}: {e}", r.message),
            Source::Core(e) if r.message.is_empty() => write!(f, "{e}"),
            Source::Core(e) => write!(f, "{}: {e}", r.message),
            Source::Io(e) => write!(f, "{}: {e}", r.message),
            Source::Other(e) => write!(f, "{}: {e}", r.message),
            Source::Attempts(attempts) => {
                write!(f, "{}: ", r.message)?;
                for (i, (addr, e)) in attempts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{addr}: {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr.source {
            Source::Core(e) => Some(e),
            Source::Io(e) => Some(e),
            Source::Other(e) => Some(&**e),
            Source::None | Source::Attempts(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Self::io(err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match err.kind() {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Protocol | ErrorKind::Capacity => io::ErrorKind::InvalidData,
            ErrorKind::ConnectionClosed => io::ErrorKind::UnexpectedEof,
            ErrorKind::AlreadyClosed => io::ErrorKind::NotConnected,
            ErrorKind::InvalidInput | ErrorKind::Url => io::ErrorKind::InvalidInput,
            ErrorKind::Connect => io::ErrorKind::ConnectionRefused,
            ErrorKind::Io => err.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_details() {
        let e = Error::from_core(wsock_core::Error::Protocol(
            wsock_core::ProtocolError::InvalidUtf8,
        ));
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert_eq!(e.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        let e = Error::handshake(HandshakeError::Rejected {
            status: 403,
            headers: vec![],
            body_prefix: vec![],
        });
        assert_eq!(
            (e.kind(), e.http_status()),
            (ErrorKind::Handshake, Some(403))
        );
        let e = Error::handshake(HandshakeError::UnsupportedScheme("http".into()));
        assert_eq!(e.kind(), ErrorKind::Url);
        let e = Error::from_core(wsock_core::Error::KeepaliveTimeout);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("keepalive"), "{e}");
        let e = Error::timeout("connect");
        assert_eq!(e.to_string(), "connect timed out");
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = Error::connect(
            "h:1",
            vec![
                ("127.0.0.1:1".parse().unwrap(), refused()),
                ("[::1]:1".parse().unwrap(), refused()),
            ],
        );
        assert_eq!(e.connect_attempts().len(), 2);
        assert!(
            e.to_string().contains("127.0.0.1:1") && e.to_string().contains("[::1]:1"),
            "{e}"
        );
        let e = Error::dns("nowhere.invalid", io::Error::other("no such host"));
        assert_eq!(e.kind(), ErrorKind::Dns);
        assert!(
            e.io_error().is_some() && e.to_string().contains("nowhere.invalid"),
            "{e}"
        );
        assert_eq!(Error::no_addresses("h").kind(), ErrorKind::Dns);
        let io: io::Error = Error::already_closed().into();
        assert_eq!(io.kind(), io::ErrorKind::NotConnected);
    }
}
