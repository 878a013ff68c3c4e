//! One error type for both adapters: [`Error`], with an [`ErrorKind`] an
//! application matches on and accessors for what each kind carries.
//!
//! The kinds are chosen so that the reaction differs between them: retry
//! later (DNS, connect, timeouts), fix the configuration (URL, TLS, proxy,
//! handshake status), blame the peer (protocol, capacity, abnormal close),
//! or stop calling (closed). A clean closing handshake and a peer that
//! vanished are never the same kind.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use wsock_core::{CapacityError, CloseCode, CloseFrame, HandshakeError};

/// What went wrong, coarsely enough to decide how to react. The same in
/// `wsock-blocking` and `wsock-tokio`.
///
/// More kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL is not a usable `ws://` or `wss://` URL.
    InvalidUrl,
    /// The host name could not be resolved, or resolved to no address.
    Dns,
    /// No TCP connection could be made: every address was refused or
    /// unreachable. [`Error::connect_attempts`] lists them, each with why.
    Connect,
    /// A deadline passed; [`Timeout`] says which. After a
    /// [`Read`](Timeout::Read) or [`Write`](Timeout::Write) timeout the
    /// connection is still usable; after the others it is over.
    Timeout(Timeout),
    /// TLS failed (see `Error::tls_error` and `Error::certificate_error`,
    /// with the `tls` feature), or is not available (`wss://` without it).
    Tls,
    /// The HTTP proxy refused or failed to open a `CONNECT` tunnel (407,
    /// 403, 502, …); see `Error::proxy_error` (with the `tls` feature).
    Proxy,
    /// The opening handshake failed: the server refused or answered
    /// wrongly (client), or the request was invalid or refused (server).
    /// [`Error::handshake_error`] and [`Error::http_status`] say more.
    Handshake,
    /// The peer broke the protocol; a close frame with
    /// [`Error::close_code`] (1002, 1007, …) was sent and the connection is
    /// over.
    Protocol,
    /// The peer exceeded a size limit; a close frame with 1009 (message too
    /// big) was sent and the connection is over. [`Error::capacity_error`]
    /// names the limit.
    Capacity,
    /// The transport ended, or failed, without a closing handshake (close
    /// code 1006): the peer vanished or reset the connection.
    AbnormalClose,
    /// The closing handshake is complete and the transport closed: a clean
    /// end, reported to a call that needed the connection open (reading a
    /// streamed message's rest, for example). [`Error::close_frame`] is the
    /// peer's close frame.
    ConnectionClosed,
    /// The connection is closed or closing, so this call cannot proceed.
    AlreadyClosed,
    /// The call itself was invalid: a control payload over 125 bytes, a
    /// close code not allowed on the wire, a header the handshake owns, …
    InvalidInput,
    /// Any other I/O failure of the transport ([`Error::io_error`]).
    Io,
}

/// Which deadline passed, for [`ErrorKind::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Timeout {
    /// Connecting TCP (every address tried within the connect timeout).
    Connect,
    /// The opening handshake (TLS and proxy included) did not finish in time.
    Handshake,
    /// Nothing arrived within the read timeout. The connection is still
    /// usable: read again.
    Read,
    /// The transport took no bytes within the write timeout. The
    /// connection is still usable: what was queued stays queued.
    Write,
    /// Keepalive pings went unanswered; the connection is over (1006).
    Keepalive,
    /// The peer did not answer our close frame in time; the connection is
    /// over.
    Close,
    /// Nothing arrived from the peer within the idle timeout; a close
    /// frame with 1001 (going away) was sent and the connection is over.
    Idle,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect timeout",
            Self::Handshake => "handshake timeout",
            Self::Read => "read timeout",
            Self::Write => "write timeout",
            Self::Keepalive => "keepalive timeout",
            Self::Close => "close timeout",
            Self::Idle => "idle timeout",
        })
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidUrl => "invalid URL",
            Self::Dns => "DNS resolution failed",
            Self::Connect => "connection failed",
            Self::Timeout(t) => return write!(f, "{t} passed"),
            Self::Tls => "TLS error",
            Self::Proxy => "proxy error",
            Self::Handshake => "opening handshake failed",
            Self::Protocol => "protocol violation",
            Self::Capacity => "size limit exceeded",
            Self::AbnormalClose => "connection closed abnormally",
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
    /// An attempt on `addr` that failed with `error`.
    pub fn new(addr: SocketAddr, error: io::Error) -> Self {
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
}

/// Every error the adapters report: small (one pointer), cheap to clone
/// (both halves of a split connection can report the same failure).
///
/// Match on [`kind`](Self::kind); the accessors give the details each kind
/// carries, and [`source`](std::error::Error::source) the underlying cause.
#[derive(Clone)]
pub struct Error {
    repr: Arc<Repr>,
}

struct Repr {
    kind: ErrorKind,
    /// What was being done, when the source alone does not say it.
    context: Cow<'static, str>,
    source: Source,
}

enum Source {
    None,
    /// The protocol engine's error, with the transport error behind it (a
    /// reset behind an abnormal close).
    Core(wsock_core::Error, Option<io::Error>),
    Io(io::Error),
    Connect {
        target: String,
        attempts: Vec<ConnectAttempt>,
        /// Addresses not tried before the connect timeout passed.
        untried: usize,
    },
    /// The closing handshake finished, with the peer's close frame.
    Closed(Option<CloseFrame>),
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Constructors, for the adapters and for layers built on them (a TLS
/// transport, a framework integration).
impl Error {
    fn with(kind: ErrorKind, context: impl Into<Cow<'static, str>>, source: Source) -> Self {
        Self {
            repr: Arc::new(Repr {
                kind,
                context: context.into(),
                source,
            }),
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn new(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::with(kind, "", Source::Other(source.into()))
    }

    /// An error of `kind` with only a message: what was being done.
    pub fn message(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self::with(kind, message, Source::None)
    }

    /// A `wss://` URL for an adapter's `connect` built without its `tls`
    /// feature: the way out is the feature, or a TLS stream of one's own.
    pub fn tls_disabled() -> Self {
        Self::message(
            ErrorKind::Tls,
            "TLS support not enabled: wss:// needs the `tls` feature, or a TLS stream of \
             your own (connect with `ClientBuilder::connect_tcp`, wrap the stream in TLS, \
             then call `ClientBuilder::handshake`)",
        )
    }

    /// `which` deadline passed while doing `what`.
    pub fn timeout(which: Timeout, what: impl Into<Cow<'static, str>>) -> Self {
        Self::message(ErrorKind::Timeout(which), what)
    }

    /// The protocol engine's error.
    pub fn core(e: wsock_core::Error) -> Self {
        Self::core_with_io(e, None)
    }

    /// The protocol engine's error, with the transport error that led to it.
    pub fn core_with_io(e: wsock_core::Error, io: Option<io::Error>) -> Self {
        use wsock_core::Error as E;
        let kind = match &e {
            E::Protocol(_) => ErrorKind::Protocol,
            E::Capacity(_) => ErrorKind::Capacity,
            E::Handshake(h) if io.is_none() => return Self::handshake(h.clone()),
            E::Handshake(_) => ErrorKind::Handshake,
            E::AbnormalClose => ErrorKind::AbnormalClose,
            E::KeepaliveTimeout => ErrorKind::Timeout(Timeout::Keepalive),
            E::CloseTimeout => ErrorKind::Timeout(Timeout::Close),
            E::IdleTimeout => ErrorKind::Timeout(Timeout::Idle),
            E::AlreadyClosed => ErrorKind::AlreadyClosed,
            _ => ErrorKind::InvalidInput,
        };
        Self::with(kind, "", Source::Core(e, io))
    }

    /// The connection is closed or closing.
    pub fn already_closed() -> Self {
        Self::core(wsock_core::Error::AlreadyClosed)
    }

    /// The closing handshake finished, with the peer's close frame.
    pub fn closed(frame: Option<CloseFrame>) -> Self {
        Self::with(ErrorKind::ConnectionClosed, "", Source::Closed(frame))
    }

    /// An opening-handshake failure (a bad URL is [`ErrorKind::InvalidUrl`]).
    pub fn handshake(e: HandshakeError) -> Self {
        let kind = match e {
            HandshakeError::InvalidUrl(_) | HandshakeError::UnsupportedScheme(_) => {
                ErrorKind::InvalidUrl
            }
            _ => ErrorKind::Handshake,
        };
        Self::with(
            kind,
            "",
            Source::Core(wsock_core::Error::Handshake(e), None),
        )
    }

    /// A request the application built that the handshake refuses (a
    /// header it owns, a bad subprotocol): the caller's input, not the
    /// peer's. A bad URL stays [`ErrorKind::InvalidUrl`].
    pub fn invalid_request(e: HandshakeError) -> Self {
        match e {
            HandshakeError::InvalidUrl(_) | HandshakeError::UnsupportedScheme(_) => {
                Self::handshake(e)
            }
            other => Self::with(
                ErrorKind::InvalidInput,
                "invalid handshake option",
                Source::Core(wsock_core::Error::Handshake(other), None),
            ),
        }
    }

    /// A transport error. Resets and unexpected ends are
    /// [`ErrorKind::AbnormalClose`]; a timed-out read or write is
    /// [`Timeout::Read`] (use [`io_write`](Self::io_write) on the write
    /// side); a TLS failure surfacing as an I/O error is [`ErrorKind::Tls`].
    pub fn io(e: io::Error) -> Self {
        Self::io_timing_out(e, Timeout::Read)
    }

    /// A transport error while writing: as [`io`](Self::io), with a
    /// timeout being [`Timeout::Write`].
    pub fn io_write(e: io::Error) -> Self {
        Self::io_timing_out(e, Timeout::Write)
    }

    fn io_timing_out(e: io::Error, timeout: Timeout) -> Self {
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
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout(timeout),
            _ => ErrorKind::Io,
        };
        Self::with(kind, "", Source::Io(e))
    }

    /// `host` could not be resolved.
    pub fn dns(host: &str, e: io::Error) -> Self {
        Self::with(
            ErrorKind::Dns,
            format!("could not resolve {host:?}"),
            Source::Io(e),
        )
    }

    /// Every TCP connect to `target` failed (`attempts`, in order), or the
    /// connect timeout passed with `untried` addresses left. No attempt and
    /// nothing untried means the name resolved to no address.
    pub fn connect(target: &str, attempts: Vec<ConnectAttempt>, untried: usize) -> Self {
        let kind = if untried > 0 || attempts.iter().all(|a| is_timeout(&a.error)) {
            ErrorKind::Timeout(Timeout::Connect)
        } else {
            ErrorKind::Connect
        };
        let kind = if attempts.is_empty() && untried == 0 {
            ErrorKind::Dns
        } else {
            kind
        };
        Self::with(
            kind,
            "",
            Source::Connect {
                target: target.to_owned(),
                attempts,
                untried,
            },
        )
    }

    /// A TLS failure ([`ErrorKind::Tls`]).
    #[cfg(feature = "tls")]
    pub fn tls(e: wsock_tls::TlsError) -> Self {
        Self::new(ErrorKind::Tls, e)
    }

    /// A proxy failure ([`ErrorKind::Proxy`], or a handshake timeout when
    /// the proxy did not answer in time).
    #[cfg(feature = "tls")]
    pub fn proxy(e: wsock_tls::proxy::ProxyError) -> Self {
        let kind = match e {
            wsock_tls::proxy::ProxyError::Timeout => ErrorKind::Timeout(Timeout::Handshake),
            _ => ErrorKind::Proxy,
        };
        Self::new(kind, e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// Accessors.
impl Error {
    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.repr.kind
    }

    /// The close code this failure put on the wire (1002, 1007, 1009, …)
    /// or, for a connection that ended without a closing handshake, 1006.
    /// For [`ErrorKind::ConnectionClosed`], the peer's code.
    pub fn close_code(&self) -> Option<CloseCode> {
        match &self.repr.source {
            Source::Core(e, _) => e.close_code(),
            Source::Io(_) if self.kind() == ErrorKind::AbnormalClose => Some(CloseCode::ABNORMAL),
            Source::Closed(frame) => Some(frame.as_ref().map_or(CloseCode::NO_STATUS, |f| f.code)),
            _ => None,
        }
    }

    /// The peer's close frame, for [`ErrorKind::ConnectionClosed`].
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        match &self.repr.source {
            Source::Closed(frame) => frame.as_ref(),
            _ => None,
        }
    }

    /// The limit a [`ErrorKind::Capacity`] error tripped, with the size
    /// seen and the maximum.
    pub fn capacity_error(&self) -> Option<&CapacityError> {
        match self.core_error()? {
            wsock_core::Error::Capacity(e) => Some(e),
            _ => None,
        }
    }

    /// The handshake failure, for [`ErrorKind::Handshake`],
    /// [`ErrorKind::InvalidUrl`] and refused request options.
    pub fn handshake_error(&self) -> Option<&HandshakeError> {
        match self.core_error()? {
            wsock_core::Error::Handshake(e) => Some(e),
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

    /// The protocol engine's error, when the failure came from it.
    pub fn core_error(&self) -> Option<&wsock_core::Error> {
        match &self.repr.source {
            Source::Core(e, _) => Some(e),
            _ => None,
        }
    }

    /// The transport error behind this error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.repr.source {
            Source::Io(e) | Source::Core(_, Some(e)) => Some(e),
            _ => None,
        }
    }

    /// Every failed TCP connection attempt, in order, for connect errors
    /// (empty otherwise).
    pub fn connect_attempts(&self) -> &[ConnectAttempt] {
        match &self.repr.source {
            Source::Connect { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// The TLS error behind an [`ErrorKind::Tls`] error (certificate
    /// rejected, alert from the peer, …).
    #[cfg(feature = "tls")]
    pub fn tls_error(&self) -> Option<&wsock_tls::TlsError> {
        self.other()?.downcast_ref()
    }

    /// Why the peer's certificate was rejected, for certificate errors:
    /// unknown issuer, expired, wrong host name, …
    #[cfg(feature = "tls")]
    pub fn certificate_error(&self) -> Option<wsock_tls::CertificateErrorKind> {
        self.tls_error()?.certificate_error()
    }

    /// The proxy error behind an [`ErrorKind::Proxy`] error (its
    /// [`status`](wsock_tls::proxy::ProxyError::status) is the proxy's
    /// answer).
    #[cfg(feature = "tls")]
    pub fn proxy_error(&self) -> Option<&wsock_tls::proxy::ProxyError> {
        self.other()?.downcast_ref()
    }

    #[cfg(feature = "tls")]
    fn other(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match &self.repr.source {
            Source::Other(e) => Some(&**e),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &self.to_string())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.repr;
        let context = &r.context;
        match &r.source {
            Source::None if context.is_empty() => write!(f, "{}", r.kind),
            Source::None => write!(f, "{}: {context}", r.kind),
            Source::Core(e, io) => {
                if !context.is_empty() {
                    write!(f, "{context}: ")?;
                } else if matches!(e, wsock_core::Error::Handshake(_))
                    && r.kind == ErrorKind::Handshake
                {
                    f.write_str("WebSocket handshake failed: ")?;
                }
                write!(f, "{e}")?;
                match io {
                    Some(io) => write!(f, ": {io}"),
                    None => Ok(()),
                }
            }
            Source::Io(e) if context.is_empty() => write!(f, "{}: {e}", r.kind),
            Source::Io(e) => write!(f, "{context}: {e}"),
            Source::Connect {
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
            Source::Closed(None) => f.write_str("connection closed"),
            Source::Closed(Some(frame)) if frame.reason.is_empty() => {
                write!(f, "connection closed (code {})", frame.code)
            }
            Source::Closed(Some(frame)) => write!(
                f,
                "connection closed (code {}: {:?})",
                frame.code, frame.reason
            ),
            Source::Other(e) if context.is_empty() => write!(f, "{}: {e}", r.kind),
            Source::Other(e) => write!(f, "{context}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr.source {
            Source::Core(_, Some(e)) | Source::Io(e) => Some(e),
            Source::Core(e, None) => Some(e),
            Source::Connect { attempts, .. } => attempts.first().map(|a| &a.error as _),
            Source::Other(e) => Some(&**e),
            Source::Closed(_) | Source::None => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Self::io(e)
    }
}

impl From<Error> for io::Error {
    /// Wraps the error (recover it with [`io::Error::get_ref`] and
    /// `downcast_ref::<Error>()`), with a matching [`io::ErrorKind`].
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::Timeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::Connect => io::ErrorKind::ConnectionRefused,
            ErrorKind::AbnormalClose => io::ErrorKind::UnexpectedEof,
            ErrorKind::ConnectionClosed => io::ErrorKind::ConnectionAborted,
            ErrorKind::AlreadyClosed => io::ErrorKind::NotConnected,
            ErrorKind::InvalidInput | ErrorKind::InvalidUrl => io::ErrorKind::InvalidInput,
            ErrorKind::Protocol | ErrorKind::Capacity => io::ErrorKind::InvalidData,
            ErrorKind::Io => e.io_error().map_or(io::ErrorKind::Other, io::Error::kind),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_disabled_says_what_to_do() {
        let err = Error::tls_disabled();
        assert_eq!(err.kind(), ErrorKind::Tls);
        let text = err.to_string();
        assert!(text.contains("TLS support not enabled"), "{text}");
        assert!(text.contains("ClientBuilder::handshake"), "{text}");
    }

    #[test]
    fn is_small_clone_send_sync() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Error>();
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }

    #[test]
    fn connect_errors_list_every_attempt() {
        let refused = || io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = Error::connect(
            "localhost:9",
            vec![
                ConnectAttempt::new("[::1]:9".parse().unwrap(), refused()),
                ConnectAttempt::new("127.0.0.1:9".parse().unwrap(), refused()),
            ],
            0,
        );
        assert_eq!(err.kind(), ErrorKind::Connect);
        let text = err.to_string();
        assert!(
            text.contains("[::1]:9") && text.contains("127.0.0.1:9"),
            "{text}"
        );
        assert_eq!(err.connect_attempts().len(), 2);
        let out_of_time = Error::connect("h:1", vec![], 2);
        assert_eq!(out_of_time.kind(), ErrorKind::Timeout(Timeout::Connect));
        assert_eq!(Error::connect("h:1", vec![], 0).kind(), ErrorKind::Dns);
    }

    #[test]
    fn a_clean_close_and_an_abnormal_one_differ() {
        let reset = Error::io(io::ErrorKind::ConnectionReset.into());
        assert_eq!(reset.kind(), ErrorKind::AbnormalClose);
        assert_eq!(reset.close_code(), Some(CloseCode::ABNORMAL));
        let core = Error::core(wsock_core::Error::AbnormalClose);
        assert_eq!(core.kind(), ErrorKind::AbnormalClose);
        let clean = Error::closed(Some(CloseFrame::new(1000, "bye")));
        assert_eq!(clean.kind(), ErrorKind::ConnectionClosed);
        assert_eq!(clean.close_code(), Some(CloseCode::NORMAL));
        assert_eq!(clean.close_frame().unwrap().reason, "bye");
    }

    #[test]
    fn timeouts_say_which() {
        let cases = [
            (
                Error::core(wsock_core::Error::KeepaliveTimeout),
                Timeout::Keepalive,
            ),
            (Error::core(wsock_core::Error::CloseTimeout), Timeout::Close),
            (Error::core(wsock_core::Error::IdleTimeout), Timeout::Idle),
            (Error::io(io::ErrorKind::WouldBlock.into()), Timeout::Read),
            (
                Error::io_write(io::ErrorKind::TimedOut.into()),
                Timeout::Write,
            ),
            (
                Error::timeout(Timeout::Handshake, "handshake"),
                Timeout::Handshake,
            ),
        ];
        for (err, which) in cases {
            assert_eq!(err.kind(), ErrorKind::Timeout(which), "{err}");
        }
        assert_eq!(
            Error::timeout(Timeout::Connect, "connecting to h:1").to_string(),
            "connect timeout passed: connecting to h:1"
        );
    }

    #[test]
    fn protocol_and_capacity_carry_their_close_code_and_limit() {
        let e = Error::core(wsock_core::ProtocolError::InvalidUtf8.into());
        assert_eq!(
            (e.kind(), e.close_code()),
            (ErrorKind::Protocol, Some(CloseCode::INVALID_PAYLOAD))
        );
        let limit = CapacityError {
            limit: wsock_core::Limit::MessageSize,
            size: 10,
            max: 5,
        };
        let e = Error::core(limit.into());
        assert_eq!(e.kind(), ErrorKind::Capacity);
        assert_eq!(e.capacity_error(), Some(&limit));
        assert_eq!(e.close_code(), Some(CloseCode::MESSAGE_TOO_BIG));
    }

    #[test]
    fn handshake_statuses() {
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
        let option =
            Error::invalid_request(HandshakeError::MissingHeader("Sec-WebSocket-Protocol"));
        assert_eq!(option.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn into_io_error_keeps_the_error() {
        let io: io::Error = Error::closed(None).into();
        assert_eq!(io.kind(), io::ErrorKind::ConnectionAborted);
        let inner = io.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.kind(), ErrorKind::ConnectionClosed);
        let io: io::Error = Error::already_closed().into();
        assert_eq!(io.kind(), io::ErrorKind::NotConnected);
    }
}
