//! Server-certificate verification hooks: the verification callback and the
//! development escape hatch.

use std::fmt;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, Error as RustlsError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::{CertificateErrorKind, TlsError};

/// The application's decision about a server certificate chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateDecision {
    /// Trust the chain and continue the handshake.
    Accept,
    /// Refuse the chain: the handshake fails with a certificate error (the
    /// default verification's error if it failed, else
    /// [`CertificateErrorKind::RejectedByApplication`]).
    Reject,
}

/// What the verification callback
/// ([`ClientTlsConfig::verify_certificate_with`](crate::ClientTlsConfig::verify_certificate_with))
/// gets to look at: the chain the server presented, the name it was checked
/// against, and the outcome of the default (webpki) verification.
pub struct ServerCertificateCheck<'a> {
    end_entity: &'a CertificateDer<'a>,
    intermediates: &'a [CertificateDer<'a>],
    server_name: &'a ServerName<'a>,
    default_result: Result<(), RustlsError>,
}

impl<'a> ServerCertificateCheck<'a> {
    /// The server's own certificate (DER).
    pub fn end_entity(&self) -> &'a CertificateDer<'a> {
        self.end_entity
    }

    /// The intermediate certificates the server sent, in the order sent (DER).
    pub fn intermediates(&self) -> &'a [CertificateDer<'a>] {
        self.intermediates
    }

    /// The name (or IP address) the certificate was checked against.
    pub fn server_name(&self) -> &'a ServerName<'a> {
        self.server_name
    }

    /// The outcome of the default verification (chain to a trusted root,
    /// validity period, host name).
    pub fn default_result(&self) -> Result<(), &RustlsError> {
        self.default_result.as_ref().map(|&()| ())
    }

    /// Why the default verification failed, if it did.
    pub fn default_error(&self) -> Option<CertificateErrorKind> {
        match &self.default_result {
            Ok(()) => None,
            Err(e) => Some(
                TlsError::from(e.clone())
                    .certificate_error()
                    .unwrap_or(CertificateErrorKind::Other),
            ),
        }
    }

    /// Whether the default verification accepted the chain.
    pub fn is_trusted(&self) -> bool {
        self.default_result.is_ok()
    }
}

impl fmt::Debug for ServerCertificateCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificateCheck")
            .field("server_name", self.server_name)
            .field("intermediates", &self.intermediates.len())
            .field("default_result", &self.default_result)
            .finish_non_exhaustive()
    }
}

/// The verification callback's type.
pub type VerifyCallback =
    Arc<dyn Fn(&ServerCertificateCheck<'_>) -> CertificateDecision + Send + Sync>;

/// Wraps the default verifier; lets the callback or the escape hatch override
/// its verdict. Handshake signatures are always checked.
pub(crate) struct OverridingVerifier {
    /// `None` when there are no trust roots at all.
    pub(crate) inner: Option<Arc<WebPkiServerVerifier>>,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) callback: Option<VerifyCallback>,
    pub(crate) accept_invalid: bool,
}

impl fmt::Debug for OverridingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverridingVerifier")
            .field("has_roots", &self.inner.is_some())
            .field("callback", &self.callback.is_some())
            .field("accept_invalid", &self.accept_invalid)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for OverridingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        let default_result = match &self.inner {
            Some(inner) => inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(RustlsError::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        if let Some(callback) = &self.callback {
            let check = ServerCertificateCheck {
                end_entity,
                intermediates,
                server_name,
                default_result,
            };
            return match callback(&check) {
                CertificateDecision::Accept => Ok(ServerCertVerified::assertion()),
                CertificateDecision::Reject => {
                    Err(check
                        .default_result
                        .err()
                        .unwrap_or(RustlsError::InvalidCertificate(
                            CertificateError::ApplicationVerificationFailure,
                        )))
                }
            };
        }
        if self.accept_invalid {
            return Ok(ServerCertVerified::assertion());
        }
        default_result.map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
