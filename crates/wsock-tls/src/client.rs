//! The client side: [`ClientTlsConfig`] builds a [`TlsConnector`], which
//! turns a connected stream into a verified TLS stream.

use std::fmt;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::ServerName;

use crate::error::TlsError;
use crate::pem::Pem;
use crate::verify::{
    CertificateDecision, OverridingVerifier, ServerCertificateCheck, VerifyCallback,
};
use crate::{DEFAULT_HANDSHAKE_TIMEOUT, handshake, provider};

/// A blocking client TLS stream: `Read + Write` plaintext over the socket
/// `S`. `stream.sock` is the socket, `stream.conn` the rustls connection.
pub type ClientTlsStream<S> = StreamOwned<ClientConnection, S>;

/// The TLS server name for a host: a DNS name, or an IP address for IP
/// literals (`127.0.0.1`, `::1`, `[::1]` — brackets are stripped).
///
/// rustls sends no SNI for IP addresses and checks them against the
/// certificate's IP-address SANs.
pub fn server_name_for(host: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::InvalidHostName(host.to_owned()))
}

/// Builder for a [`TlsConnector`].
///
/// Defaults: trust the Mozilla roots bundled in `webpki-roots`; full
/// verification (chain, validity period, host name; revocation only against
/// the CRLs given to [`add_crls`](Self::add_crls)); no client certificate;
/// ALPN `http/1.1`; a 10 s handshake timeout; TLS 1.3 and 1.2 with the ring
/// provider's safe defaults.
///
/// ```no_run
/// use wsock_tls::{ClientTlsConfig, Pem};
/// let connector = ClientTlsConfig::new()
///     .add_root_certificates(Pem::file("corp-ca.pem"))
///     .build()?;
/// # Ok::<(), wsock_tls::TlsError>(())
/// ```
///
/// For anything not covered here, build a [`rustls::ClientConfig`] yourself
/// and use [`TlsConnector::from_config`].
#[derive(Clone)]
pub struct ClientTlsConfig {
    webpki_roots: bool,
    #[cfg(feature = "native-roots")]
    native_roots: bool,
    extra_roots: Vec<Pem>,
    crls: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
    alpn: Vec<Vec<u8>>,
    accept_invalid_certs: bool,
    callback: Option<VerifyCallback>,
    handshake_timeout: Option<Duration>,
}

impl Default for ClientTlsConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ClientTlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ClientTlsConfig");
        s.field("webpki_roots", &self.webpki_roots);
        #[cfg(feature = "native-roots")]
        s.field("native_roots", &self.native_roots);
        s.field("extra_roots", &self.extra_roots)
            .field("crls", &self.crls)
            .field(
                "client_certificate",
                &self.identity.as_ref().map(|(c, _)| c),
            )
            .field("alpn", &self.alpn)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("verify_callback", &self.callback.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl ClientTlsConfig {
    /// The defaults (see the type documentation).
    pub fn new() -> Self {
        Self {
            webpki_roots: true,
            #[cfg(feature = "native-roots")]
            native_roots: false,
            extra_roots: Vec::new(),
            crls: Vec::new(),
            identity: None,
            alpn: vec![b"http/1.1".to_vec()],
            accept_invalid_certs: false,
            callback: None,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Whether to trust the Mozilla root bundle from `webpki-roots`
    /// (default: yes). Turn it off to trust only your own roots.
    pub fn webpki_roots(mut self, enable: bool) -> Self {
        self.webpki_roots = enable;
        self
    }

    /// Whether to trust the platform's certificate store (default: no).
    /// Combine with [`webpki_roots(false)`](Self::webpki_roots) to use it
    /// *instead of* the bundled roots. Loaded when [`build`](Self::build)
    /// runs; `build` fails if none could be loaded.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self, enable: bool) -> Self {
        self.native_roots = enable;
        self
    }

    /// Also trusts every certificate in `pem` as a root CA (for private CAs
    /// and self-signed servers). May be called repeatedly.
    pub fn add_root_certificates(mut self, pem: Pem) -> Self {
        self.extra_roots.push(pem);
        self
    }

    /// Checks server certificates against the certificate revocation lists
    /// (CRLs) in `pem` (`-----BEGIN X509 CRL-----` sections): a certificate
    /// a CRL lists is refused with [`CertificateErrorKind::Revoked`]. May be
    /// called repeatedly.
    ///
    /// Every certificate of the chain (but the root) whose issuer has a CRL
    /// here is checked; one whose issuer has none passes, its status being
    /// unknown rather than revoked. A CRL past its `nextUpdate` is still
    /// used. The CRLs are read when [`build`](Self::build) runs, which
    /// fails if `pem` holds none or one is malformed. A
    /// [verification callback](Self::verify_certificate_with) sees a
    /// revocation as [`ServerCertificateCheck::default_error`].
    ///
    /// ```no_run
    /// use wsock_tls::{ClientTlsConfig, Pem};
    /// let connector = ClientTlsConfig::new()
    ///     .webpki_roots(false)
    ///     .add_root_certificates(Pem::file("corp-ca.pem"))
    ///     .add_crls(Pem::file("corp-ca.crl.pem"))
    ///     .build()?;
    /// # Ok::<(), wsock_tls::TlsError>(())
    /// ```
    ///
    /// [`CertificateErrorKind::Revoked`]: crate::CertificateErrorKind::Revoked
    pub fn add_crls(mut self, pem: Pem) -> Self {
        self.crls.push(pem);
        self
    }

    /// Presents a client certificate (mutual TLS): `cert_chain` holds the
    /// end-entity certificate first, then any intermediates; `key` the
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn client_certificate(mut self, cert_chain: Pem, key: Pem) -> Self {
        self.identity = Some((cert_chain, key));
        self
    }

    /// The ALPN protocols to offer, most preferred first (default:
    /// `http/1.1`, which is what a WebSocket handshake runs over). Empty:
    /// no ALPN extension.
    pub fn alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// How long a handshake may take (default 10 s); `None` for no limit.
    /// Applies to `TlsConnector::connect_async` and
    /// [`TlsConnector::connect_blocking_timeout`].
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// **DANGER — development only.** Accepts *any* server certificate:
    /// untrusted, expired, or issued for another host. The connection is
    /// still encrypted, but anyone on the path can impersonate the server.
    ///
    /// The equivalent of Windows' `IgnorableServerCertificateErrors` with
    /// every error ignored. Off by default. The server must still prove it
    /// holds the key of the certificate it sent. A
    /// [verification callback](Self::verify_certificate_with), if set, takes
    /// precedence.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// Lets the application decide about every server certificate chain
    /// (the equivalent of Windows' `ServerCustomValidationRequested`).
    ///
    /// The default verification still runs; the callback sees its outcome
    /// ([`ServerCertificateCheck::default_result`]) along with the
    /// end-entity certificate, the intermediates and the server name, and
    /// returns [`CertificateDecision::Accept`] (even if the default
    /// verification failed — for example to pin a self-signed certificate)
    /// or [`CertificateDecision::Reject`] (even if it succeeded). The
    /// server's handshake signature is checked regardless.
    ///
    /// ```
    /// use wsock_tls::{CertificateDecision, ClientTlsConfig};
    /// let pinned: Vec<u8> = vec![/* DER of the expected certificate */];
    /// let config = ClientTlsConfig::new().verify_certificate_with(move |check| {
    ///     if check.is_trusted() || check.end_entity().as_ref() == pinned.as_slice() {
    ///         CertificateDecision::Accept
    ///     } else {
    ///         CertificateDecision::Reject
    ///     }
    /// });
    /// ```
    pub fn verify_certificate_with<F>(mut self, callback: F) -> Self
    where
        F: Fn(&ServerCertificateCheck<'_>) -> CertificateDecision + Send + Sync + 'static,
    {
        self.callback = Some(Arc::new(callback));
        self
    }

    /// Builds the connector: loads root and client certificates, checks the
    /// client key.
    pub fn build(self) -> Result<TlsConnector, TlsError> {
        let provider = provider();
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        #[cfg(feature = "native-roots")]
        if self.native_roots {
            let loaded = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
            if added == 0 {
                let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
                return Err(TlsError::Config(format!(
                    "no usable certificates in the platform store{}{}",
                    if errors.is_empty() { "" } else { ": " },
                    errors.join("; ")
                )));
            }
        }
        for pem in &self.extra_roots {
            pem.add_to(&mut roots)?;
        }
        let mut crls = Vec::new();
        for pem in &self.crls {
            crls.extend(pem.crls()?);
        }
        let webpki_verifier = |roots: RootCertStore| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .with_crls(crls)
                // CRLs revoke what they list; they do not make every other
                // issuer's certificates unverifiable.
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))
        };

        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if self.accept_invalid_certs || self.callback.is_some() {
            let inner = if roots.is_empty() {
                None
            } else {
                Some(webpki_verifier(roots)?)
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(OverridingVerifier {
                    inner,
                    provider,
                    callback: self.callback,
                    accept_invalid: self.accept_invalid_certs,
                }))
        } else {
            if roots.is_empty() {
                return Err(TlsError::Config(
                    "no trusted root certificates: enable webpki or native roots, or add a root CA"
                        .to_owned(),
                ));
            }
            builder.with_webpki_verifier(webpki_verifier(roots)?)
        };
        let mut config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.certificates()?, key.private_key()?)
                .map_err(|e| TlsError::Config(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(TlsConnector {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// Makes client TLS connections; cheap to clone (an `Arc` inside). Built by
/// [`ClientTlsConfig::build`], [`TlsConnector::new`] (defaults) or
/// [`TlsConnector::from_config`].
///
/// Every `connect_*` method completes the handshake before returning, so
/// certificate errors surface at connect time, not at the first write.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use wsock_tls::{ClientTlsConfig, Pem, ServerTlsConfig, TlsConnectionInfo};
///
/// // A private CA and a certificate for "localhost" (PEM text or files).
/// # use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
/// # let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
/// # ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
/// # let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
/// # let key = KeyPair::generate().unwrap();
/// # let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
/// # let (ca_pem, cert_pem, key_pem) = (ca.pem(), leaf.pem(), key.serialize_pem());
/// # let acceptor = ServerTlsConfig::new(Pem::bytes(cert_pem), Pem::bytes(key_pem)).build()?;
/// # let listener = TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// # let server = std::thread::spawn(move || {
/// #     let (tcp, _) = listener.accept().unwrap();
/// #     let mut tls = acceptor.accept_blocking_timeout(tcp).unwrap();
/// #     let mut buf = [0; 5];
/// #     tls.read_exact(&mut buf).unwrap();
/// #     tls.write_all(&buf).unwrap();
/// #     let (tcp, _) = listener.accept().unwrap();
/// #     let _ = acceptor.accept_blocking_timeout(tcp); // the client refuses this one
/// # });
/// let connector = ClientTlsConfig::new()
///     .webpki_roots(false) // trust only our CA
///     .add_root_certificates(Pem::bytes(ca_pem))
///     .build()?;
///
/// let tcp = TcpStream::connect(addr)?;
/// // The host name of the URL: checked against the certificate, sent as SNI.
/// let mut tls = connector.connect_blocking_timeout("localhost", tcp)?;
/// assert!(tls.tls_info().is_tls13());
/// tls.write_all(b"hello")?; // the WebSocket handshake and frames go here
/// let mut echo = [0; 5];
/// tls.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"hello");
///
/// // The same connector refuses a name the certificate does not cover.
/// let tcp = TcpStream::connect(addr)?;
/// let err = connector.connect_blocking_timeout("example.com", tcp).unwrap_err();
/// assert_eq!(err.certificate_error(), Some(wsock_tls::CertificateErrorKind::WrongHostName));
/// # server.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Option<Duration>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for TlsConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> Self {
        Self::from_config(config)
    }
}

impl TlsConnector {
    /// The defaults: webpki roots, full verification, ALPN `http/1.1`,
    /// 10 s handshake timeout.
    pub fn new() -> Self {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::from_config(Arc::new(config))
    }

    /// Uses a rustls configuration as is (its roots, verifier, ALPN, client
    /// certificate, …), with the default 10 s handshake timeout.
    pub fn from_config(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Replaces the handshake timeout (`None`: no limit).
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The same connector (roots, verifier, client certificate, timeout)
    /// offering `protocols` in ALPN instead, in order of preference: the
    /// HTTP/2 WebSocket client offers `h2` (and `http/1.1` when it may
    /// fall back). The rustls configuration is copied once per call.
    pub fn with_alpn_protocols(&self, protocols: Vec<Vec<u8>>) -> Self {
        let mut config = ClientConfig::clone(&self.config);
        config.alpn_protocols = protocols;
        Self {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        }
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A fresh rustls connection to `host` (for callers that drive rustls
    /// themselves).
    pub fn new_connection(&self, host: &str) -> Result<ClientConnection, TlsError> {
        Ok(ClientConnection::new(
            Arc::clone(&self.config),
            server_name_for(host)?,
        )?)
    }

    /// Runs the TLS handshake with `host` over `stream` (already connected,
    /// to the server or through a proxy tunnel) and returns the encrypted
    /// stream.
    ///
    /// `host` is the host of the URL (`example.com`, `127.0.0.1`, `[::1]`)
    /// and is both the SNI name and the name the certificate must match.
    ///
    /// No deadline of its own: the stream's own timeouts apply (a
    /// `WouldBlock`/`TimedOut` becomes [`TlsError::HandshakeTimeout`]). Use
    /// [`connect_blocking_timeout`](Self::connect_blocking_timeout) on sockets.
    pub fn connect_blocking<S: Read + Write>(
        &self,
        host: &str,
        mut stream: S,
    ) -> Result<ClientTlsStream<S>, TlsError> {
        let mut conn = self.new_connection(host)?;
        handshake::complete(&mut conn, &mut stream)?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// [`connect_blocking`](Self::connect_blocking) bounded by the
    /// [handshake timeout](Self::handshake_timeout): the stream's read and
    /// write timeouts are set to the time remaining before each operation,
    /// and restored afterwards.
    pub fn connect_blocking_timeout<S: Read + Write + crate::SocketTimeouts>(
        &self,
        host: &str,
        mut stream: S,
    ) -> Result<ClientTlsStream<S>, TlsError> {
        let mut conn = self.new_connection(host)?;
        handshake::complete_within(&mut conn, &mut stream, self.handshake_timeout)?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// Runs the TLS handshake with `host` over `stream`, bounded by the
    /// [handshake timeout](Self::handshake_timeout) (which needs a tokio
    /// runtime with the time driver enabled; with `None` it does not).
    #[cfg(feature = "tokio")]
    pub async fn connect_async<S>(
        &self,
        host: &str,
        stream: S,
    ) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let name = server_name_for(host)?;
        let connect =
            tokio_rustls::TlsConnector::from(Arc::clone(&self.config)).connect(name, stream);
        crate::with_timeout(self.handshake_timeout, connect).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name_for("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name_for("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name_for("::1").unwrap(),
            ServerName::IpAddress(_)
        ));
        let name = server_name_for("example.com").unwrap();
        assert!(matches!(&name, ServerName::DnsName(d) if d.as_ref() == "example.com"));
        assert!(matches!(
            server_name_for("bad host").unwrap_err(),
            TlsError::InvalidHostName(_)
        ));
        assert!(server_name_for("").is_err());
    }

    #[test]
    fn default_connector_offers_http11() {
        let connector = TlsConnector::new();
        assert_eq!(
            connector.config().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
        assert_eq!(
            connector.handshake_timeout(),
            Some(DEFAULT_HANDSHAKE_TIMEOUT)
        );
    }

    #[test]
    fn alpn_is_replaced_on_a_copy() {
        let connector = TlsConnector::new().with_handshake_timeout(None);
        let h2 = connector.with_alpn_protocols(vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(
            h2.config().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(h2.handshake_timeout(), None);
        assert_eq!(
            connector.config().alpn_protocols,
            vec![b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn no_roots_is_a_config_error() {
        let err = ClientTlsConfig::new()
            .webpki_roots(false)
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::Config(_)), "{err}");
        // ...unless the application decides itself.
        ClientTlsConfig::new()
            .webpki_roots(false)
            .verify_certificate_with(|_| CertificateDecision::Reject)
            .build()
            .unwrap();
    }

    #[cfg(feature = "native-roots")]
    #[test]
    fn native_roots_load_or_explain() {
        // Depends on the machine: either the platform store has roots, or
        // the error says so. (tests/blocking.rs and tests/tokio.rs pin the
        // store down with SSL_CERT_FILE / SSL_CERT_DIR in child processes.)
        match ClientTlsConfig::new()
            .webpki_roots(false)
            .native_roots(true)
            .build()
        {
            Ok(_) => {}
            Err(err) => {
                assert!(matches!(err, TlsError::Config(_)), "{err}");
                assert!(
                    err.to_string()
                        .contains("no usable certificates in the platform store"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn bad_pem_is_a_config_error() {
        let err = ClientTlsConfig::new()
            .add_root_certificates(Pem::bytes("not pem"))
            .build()
            .unwrap_err();
        assert!(matches!(err, TlsError::Config(_)), "{err}");
        let err = ClientTlsConfig::new()
            .add_root_certificates(Pem::file("/nonexistent/ca.pem"))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn bad_crl_pem_is_a_config_error() {
        for (pem, says) in [
            (Pem::bytes("not pem"), "no certificate revocation lists"),
            (Pem::file("/nonexistent/ca.crl"), "/nonexistent/ca.crl"),
            (
                Pem::bytes("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"),
                "",
            ),
        ] {
            let err = ClientTlsConfig::new().add_crls(pem).build().unwrap_err();
            assert!(matches!(err, TlsError::Config(_)), "{err}");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
