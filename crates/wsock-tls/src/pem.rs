//! [`Pem`]: where PEM-encoded certificates or keys come from.

use std::fmt;
use std::path::PathBuf;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::error::TlsError;

/// PEM data: in memory or in a file (read when the configuration is built).
///
/// ```
/// use wsock_tls::Pem;
/// let from_disk = Pem::file("/etc/wsock/ca.pem");
/// let in_memory = Pem::bytes(b"-----BEGIN CERTIFICATE-----\n...".to_vec());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pem(Source);

#[derive(Clone, PartialEq, Eq)]
enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pem {
    /// PEM text held in memory.
    pub fn bytes(pem: impl Into<Vec<u8>>) -> Self {
        Self(Source::Bytes(pem.into()))
    }

    /// A PEM file, read when the configuration is built.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self(Source::File(path.into()))
    }

    fn describe(&self) -> String {
        match &self.0 {
            Source::Bytes(_) => "PEM data".to_owned(),
            Source::File(path) => format!("PEM file {}", path.display()),
        }
    }

    /// Every `CERTIFICATE` section, in order; an error if there is none.
    pub(crate) fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let parsed: Result<Vec<_>, _> = match &self.0 {
            Source::Bytes(bytes) => CertificateDer::pem_slice_iter(bytes).collect(),
            Source::File(path) => CertificateDer::pem_file_iter(path)
                .map_err(|e| config_error(self, "certificates", &e))?
                .collect(),
        };
        let certs = parsed.map_err(|e| config_error(self, "certificates", &e))?;
        if certs.is_empty() {
            return Err(TlsError::Config(format!(
                "no certificates found in {}",
                self.describe()
            )));
        }
        Ok(certs)
    }

    /// Every `X509 CRL` section, in order; an error if there is none.
    pub(crate) fn crls(&self) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
        let what = "certificate revocation lists";
        let parsed: Result<Vec<_>, _> = match &self.0 {
            Source::Bytes(bytes) => CertificateRevocationListDer::pem_slice_iter(bytes).collect(),
            Source::File(path) => CertificateRevocationListDer::pem_file_iter(path)
                .map_err(|e| config_error(self, what, &e))?
                .collect(),
        };
        let crls = parsed.map_err(|e| config_error(self, what, &e))?;
        if crls.is_empty() {
            return Err(TlsError::Config(format!(
                "no certificate revocation lists (X509 CRL) found in {}",
                self.describe()
            )));
        }
        Ok(crls)
    }

    /// The first private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsError> {
        match &self.0 {
            Source::Bytes(bytes) => PrivateKeyDer::from_pem_slice(bytes),
            Source::File(path) => PrivateKeyDer::from_pem_file(path),
        }
        .map_err(|e| config_error(self, "a private key", &e))
    }

    /// Adds every certificate to `store` as a trust anchor.
    pub(crate) fn add_to(&self, store: &mut RootCertStore) -> Result<(), TlsError> {
        for cert in self.certificates()? {
            store.add(cert).map_err(|e| {
                TlsError::Config(format!(
                    "invalid root certificate in {}: {e}",
                    self.describe()
                ))
            })?;
        }
        Ok(())
    }
}

fn config_error(pem: &Pem, what: &str, error: &dyn fmt::Display) -> TlsError {
    TlsError::Config(format!("reading {what} from {}: {error}", pem.describe()))
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the contents: they may be a private key.
        match &self.0 {
            Source::Bytes(bytes) => write!(f, "Pem::bytes(<{} bytes>)", bytes.len()),
            Source::File(path) => write!(f, "Pem::file({})", path.display()),
        }
    }
}
