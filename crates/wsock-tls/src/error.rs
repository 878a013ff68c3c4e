//! [`TlsError`]: what went wrong while configuring TLS or completing a handshake.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use rustls::{CertificateError, Error as RustlsError};

/// Why a peer certificate was rejected.
///
/// Derived from [`rustls::CertificateError`] (and
/// [`rustls::Error::NoCertificatesPresented`]); the rustls error itself stays
/// available in [`TlsError::Certificate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateErrorKind {
    /// The chain does not lead to a trusted root: self-signed, signed by a
    /// private CA that is not trusted, or missing intermediates.
    UnknownIssuer,
    /// The certificate (or one in its chain) has expired.
    Expired,
    /// The certificate (or one in its chain) is not valid yet.
    NotYetValid,
    /// The certificate is valid, but not for the host name (or IP address)
    /// that was connected to.
    WrongHostName,
    /// The certificate has been revoked.
    Revoked,
    /// A signature in the chain does not verify.
    BadSignature,
    /// The chain uses a signature algorithm that is not supported.
    UnsupportedSignature,
    /// The certificate could not be parsed.
    BadEncoding,
    /// The certificate is not valid for this purpose (for example a client
    /// certificate presented by a server).
    InvalidPurpose,
    /// The peer presented no certificate although one is required (mutual
    /// TLS, seen by the server).
    NotPresented,
    /// The application's verification callback rejected a certificate that
    /// the default verification accepted.
    RejectedByApplication,
    /// Any other certificate problem (critical extensions, revocation status
    /// unknown, …); see the rustls error for details.
    Other,
}

impl CertificateErrorKind {
    /// Classifies a rustls certificate error.
    pub fn from_rustls(error: &CertificateError) -> Self {
        match error {
            CertificateError::UnknownIssuer => Self::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Self::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Self::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Self::WrongHostName
            }
            CertificateError::Revoked => Self::Revoked,
            CertificateError::BadSignature => Self::BadSignature,
            #[allow(deprecated)]
            CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                Self::UnsupportedSignature
            }
            CertificateError::BadEncoding => Self::BadEncoding,
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                Self::InvalidPurpose
            }
            CertificateError::ApplicationVerificationFailure => Self::RejectedByApplication,
            _ => Self::Other,
        }
    }

    /// A short human-readable description.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownIssuer => "issuer is not trusted (unknown certificate authority)",
            Self::Expired => "certificate has expired",
            Self::NotYetValid => "certificate is not valid yet",
            Self::WrongHostName => "certificate is not valid for this host name",
            Self::Revoked => "certificate has been revoked",
            Self::BadSignature => "certificate signature is invalid",
            Self::UnsupportedSignature => "certificate uses an unsupported signature algorithm",
            Self::BadEncoding => "certificate is malformed",
            Self::InvalidPurpose => "certificate is not valid for this purpose",
            Self::NotPresented => "peer presented no certificate",
            Self::RejectedByApplication => "certificate rejected by the application",
            Self::Other => "certificate is invalid",
        }
    }
}

impl fmt::Display for CertificateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The category of a [`TlsError`], for matching without the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The peer's certificate was rejected, for this reason.
    Certificate(CertificateErrorKind),
    /// The handshake did not complete in time.
    HandshakeTimeout,
    /// The transport failed (connection reset, closed during the handshake, …).
    Io,
    /// A TLS protocol failure: an alert from the peer (which includes the peer
    /// rejecting *our* certificate), no common protocol version or cipher
    /// suite, a misbehaving peer, …
    Protocol,
    /// The host name is neither a valid DNS name nor an IP address.
    InvalidHostName,
    /// The configuration could not be built (unreadable or invalid PEM, key
    /// not matching the certificate, no trust roots, …).
    Config,
}

/// Error returned by TLS configuration and handshakes.
///
/// Certificate failures are classified ([`CertificateErrorKind`]) so an
/// application can tell an untrusted issuer from an expired certificate or a
/// host-name mismatch; [`kind`](Self::kind) gives a payload-free summary.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// The peer's certificate chain was rejected during *local* verification.
    Certificate {
        /// Why.
        kind: CertificateErrorKind,
        /// The underlying rustls error (usually
        /// [`rustls::Error::InvalidCertificate`]).
        error: RustlsError,
    },
    /// The handshake did not complete within the configured timeout (or the
    /// stream's own read/write timeout fired during the handshake).
    HandshakeTimeout,
    /// An I/O error of the underlying transport.
    Io(io::Error),
    /// Any other TLS failure (see [`TlsErrorKind::Protocol`]).
    Protocol(RustlsError),
    /// The host name is neither a valid DNS name nor an IP address.
    InvalidHostName(String),
    /// The TLS configuration could not be built.
    Config(String),
}

impl TlsError {
    /// The category of this error.
    pub fn kind(&self) -> TlsErrorKind {
        match self {
            Self::Certificate { kind, .. } => TlsErrorKind::Certificate(*kind),
            Self::HandshakeTimeout => TlsErrorKind::HandshakeTimeout,
            Self::Io(_) => TlsErrorKind::Io,
            Self::Protocol(_) => TlsErrorKind::Protocol,
            Self::InvalidHostName(_) => TlsErrorKind::InvalidHostName,
            Self::Config(_) => TlsErrorKind::Config,
        }
    }

    /// The certificate failure, if this is one.
    pub fn certificate_error(&self) -> Option<CertificateErrorKind> {
        match self {
            Self::Certificate { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The underlying rustls error, if there is one.
    pub fn rustls_error(&self) -> Option<&RustlsError> {
        match self {
            Self::Certificate { error, .. } | Self::Protocol(error) => Some(error),
            _ => None,
        }
    }

    /// Classifies an I/O error from a TLS stream.
    ///
    /// `rustls::StreamOwned` and `tokio-rustls` report TLS failures as an
    /// [`io::Error`] (kind `InvalidData`) wrapping a [`rustls::Error`]; this
    /// unwraps it so certificate failures keep their kind. Other I/O errors
    /// become [`TlsError::Io`]. Also available as `From<io::Error>`.
    pub fn from_io(error: io::Error) -> Self {
        let wraps_tls = error
            .get_ref()
            .is_some_and(|inner| inner.is::<RustlsError>() || inner.is::<HandshakeTimedOut>());
        if !wraps_tls {
            return Self::Io(error);
        }
        match error.into_inner() {
            Some(inner) => match inner.downcast::<RustlsError>() {
                Ok(rustls_error) => Self::from(*rustls_error),
                Err(_) => Self::HandshakeTimeout,
            },
            None => Self::Io(io::Error::other("TLS error")),
        }
    }

    /// Converts this error into an [`io::Error`] (for adapters whose error
    /// type is `io::Error`); [`from_io`](Self::from_io) recovers it.
    pub fn into_io(self) -> io::Error {
        match self {
            Self::Io(e) => e,
            Self::Certificate { error, .. } | Self::Protocol(error) => {
                io::Error::new(io::ErrorKind::InvalidData, error)
            }
            Self::HandshakeTimeout => io::Error::new(io::ErrorKind::TimedOut, HandshakeTimedOut),
            Self::InvalidHostName(_) => io::Error::new(io::ErrorKind::InvalidInput, self),
            Self::Config(_) => io::Error::other(self),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate { kind, error } => {
                write!(f, "TLS certificate rejected: {kind} ({error})")
            }
            Self::HandshakeTimeout => f.write_str("TLS handshake timed out"),
            Self::Io(e) => write!(f, "I/O error during TLS: {e}"),
            Self::Protocol(e) => write!(f, "TLS error: {e}"),
            Self::InvalidHostName(host) => {
                write!(
                    f,
                    "invalid TLS server name {host:?}: not a DNS name or IP address"
                )
            }
            Self::Config(message) => write!(f, "TLS configuration error: {message}"),
        }
    }
}

impl StdError for TlsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RustlsError> for TlsError {
    fn from(error: RustlsError) -> Self {
        let kind = match &error {
            RustlsError::InvalidCertificate(cert_error) => {
                CertificateErrorKind::from_rustls(cert_error)
            }
            RustlsError::NoCertificatesPresented => CertificateErrorKind::NotPresented,
            _ => return Self::Protocol(error),
        };
        Self::Certificate { kind, error }
    }
}

impl From<io::Error> for TlsError {
    fn from(error: io::Error) -> Self {
        Self::from_io(error)
    }
}

impl From<TlsError> for io::Error {
    fn from(error: TlsError) -> Self {
        error.into_io()
    }
}

/// Marker carried inside an [`io::Error`] for a handshake deadline.
#[derive(Debug)]
pub(crate) struct HandshakeTimedOut;

impl fmt::Display for HandshakeTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS handshake timed out")
    }
}

impl StdError for HandshakeTimedOut {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_wrapped_certificate_error_keeps_its_kind() {
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            RustlsError::InvalidCertificate(CertificateError::Expired),
        );
        let err = TlsError::from(io);
        assert_eq!(
            err.kind(),
            TlsErrorKind::Certificate(CertificateErrorKind::Expired)
        );
    }

    #[test]
    fn plain_io_error_stays_io() {
        let err = TlsError::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert_eq!(err.kind(), TlsErrorKind::Io);
    }

    #[test]
    fn round_trips_through_io_error() {
        for err in [
            TlsError::HandshakeTimeout,
            TlsError::from(RustlsError::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
            TlsError::from(RustlsError::NoCertificatesPresented),
            TlsError::Protocol(RustlsError::DecryptError),
        ] {
            let kind = err.kind();
            assert_eq!(TlsError::from_io(err.into_io()).kind(), kind);
        }
    }

    #[test]
    fn certificate_kinds() {
        let cases = [
            (
                CertificateError::UnknownIssuer,
                CertificateErrorKind::UnknownIssuer,
            ),
            (
                CertificateError::NotValidYet,
                CertificateErrorKind::NotYetValid,
            ),
            (CertificateError::Revoked, CertificateErrorKind::Revoked),
            (
                CertificateError::BadEncoding,
                CertificateErrorKind::BadEncoding,
            ),
            (
                CertificateError::BadSignature,
                CertificateErrorKind::BadSignature,
            ),
            (
                CertificateError::ApplicationVerificationFailure,
                CertificateErrorKind::RejectedByApplication,
            ),
            (
                CertificateError::UnhandledCriticalExtension,
                CertificateErrorKind::Other,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(CertificateErrorKind::from_rustls(&error), kind);
        }
    }
}
