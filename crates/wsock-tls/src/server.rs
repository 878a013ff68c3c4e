//! The server side: [`ServerTlsConfig`] builds a [`TlsAcceptor`], which
//! turns an accepted connection into a TLS stream.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};

use crate::error::TlsError;
use crate::pem::Pem;
use crate::{DEFAULT_HANDSHAKE_TIMEOUT, SocketTimeouts, handshake, provider};

/// A blocking server TLS stream: `Read + Write` plaintext over the socket
/// `S`. `stream.sock` is the socket, `stream.conn` the rustls connection.
pub type ServerTlsStream<S> = StreamOwned<ServerConnection, S>;

#[derive(Clone, Debug)]
enum ClientAuth {
    None,
    Optional(Pem),
    Required(Pem),
}

/// Builder for a [`TlsAcceptor`] from a PEM certificate chain and key.
///
/// Defaults: no client certificates requested; ALPN `http/1.1`; a 10 s
/// handshake timeout; TLS 1.3 and 1.2 with the ring provider's safe
/// defaults.
///
/// ```no_run
/// use wsock_tls::{Pem, ServerTlsConfig};
/// let acceptor = ServerTlsConfig::new(Pem::file("cert.pem"), Pem::file("key.pem"))
///     .require_client_certificate(Pem::file("clients-ca.pem"))
///     .build()?;
/// # Ok::<(), wsock_tls::TlsError>(())
/// ```
///
/// For anything else (SNI-based certificate selection, session storage,
/// …) build a [`rustls::ServerConfig`] and use [`TlsAcceptor::from_config`].
#[derive(Clone, Debug)]
pub struct ServerTlsConfig {
    cert_chain: Pem,
    key: Pem,
    client_auth: ClientAuth,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Option<Duration>,
}

impl ServerTlsConfig {
    /// The server's certificate chain (end-entity first, then
    /// intermediates) and private key (PKCS#8, PKCS#1 or SEC1).
    pub fn new(cert_chain: Pem, key: Pem) -> Self {
        Self {
            cert_chain,
            key,
            client_auth: ClientAuth::None,
            alpn: vec![b"http/1.1".to_vec()],
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }

    /// Mutual TLS: clients must present a certificate issued by one of the
    /// CAs in `ca`, or the handshake fails.
    pub fn require_client_certificate(mut self, ca: Pem) -> Self {
        self.client_auth = ClientAuth::Required(ca);
        self
    }

    /// Optional mutual TLS: clients may present a certificate issued by one
    /// of the CAs in `ca` (an invalid one still fails the handshake); see
    /// [`TlsInfo::peer_certificates`](crate::TlsInfo::peer_certificates).
    pub fn request_client_certificate(mut self, ca: Pem) -> Self {
        self.client_auth = ClientAuth::Optional(ca);
        self
    }

    /// The ALPN protocols accepted, most preferred first (default:
    /// `http/1.1`). A client offering ALPN without any of them is refused;
    /// a client offering none is accepted. Empty: ALPN ignored.
    pub fn alpn_protocols(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// How long a client may take to complete the handshake (default 10 s)
    /// — so a silent client cannot hold a connection slot. `None`: no limit.
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Builds the acceptor: reads and checks the certificates and key.
    pub fn build(self) -> Result<TlsAcceptor, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(ca) | ClientAuth::Required(ca) => {
                let mut roots = RootCertStore::empty();
                ca.add_to(&mut roots)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if matches!(self.client_auth, ClientAuth::Optional(_)) {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.cert_chain.certificates()?, self.key.private_key()?)
            .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;
        config.alpn_protocols = self.alpn;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// Accepts server TLS connections; cheap to clone (an `Arc` inside). Built
/// by [`ServerTlsConfig::build`] or [`TlsAcceptor::from_config`].
///
/// Every `accept_*` method completes the handshake before returning.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use wsock_tls::{ClientTlsConfig, Pem, ServerTlsConfig};
///
/// # use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
/// # let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
/// # ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
/// # let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
/// # let key = KeyPair::generate().unwrap();
/// # let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
/// # let (ca_pem, cert_pem, key_pem) = (ca.pem(), leaf.pem(), key.serialize_pem());
/// // Usually Pem::file("cert.pem") and Pem::file("key.pem").
/// let acceptor = ServerTlsConfig::new(Pem::bytes(cert_pem), Pem::bytes(key_pem)).build()?;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// # let client = std::thread::spawn(move || {
/// #     let connector = ClientTlsConfig::new().webpki_roots(false)
/// #         .add_root_certificates(Pem::bytes(ca_pem)).build().unwrap();
/// #     let tcp = TcpStream::connect(addr).unwrap();
/// #     let mut tls = connector.connect_blocking_timeout("localhost", tcp).unwrap();
/// #     tls.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
/// #     tls.flush().unwrap();
/// #     std::thread::sleep(std::time::Duration::from_millis(100));
/// # });
/// let (tcp, _) = listener.accept()?;
/// // Within the handshake timeout (10 s by default), or an error.
/// let mut tls = acceptor.accept_blocking_timeout(tcp)?;
/// let mut request_line = [0; 14];
/// tls.read_exact(&mut request_line)?; // hand `tls` to the WebSocket handshake
/// assert_eq!(&request_line, b"GET / HTTP/1.1");
/// # client.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self::from_config(config)
    }
}

impl TlsAcceptor {
    /// Uses a rustls configuration as is, with the default 10 s handshake
    /// timeout.
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
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

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A fresh rustls server connection (for callers that drive rustls
    /// themselves).
    pub fn new_connection(&self) -> Result<ServerConnection, TlsError> {
        Ok(ServerConnection::new(Arc::clone(&self.config))?)
    }

    /// Runs the server handshake over an accepted socket, bounded by the
    /// [handshake timeout](Self::handshake_timeout): the socket's read and
    /// write timeouts are set to the time remaining before each operation
    /// and restored afterwards. Use this on `TcpStream`s.
    pub fn accept_blocking_timeout<S: Read + Write + SocketTimeouts>(
        &self,
        mut stream: S,
    ) -> Result<ServerTlsStream<S>, TlsError> {
        let mut conn = self.new_connection()?;
        handshake::complete_within(&mut conn, &mut stream, self.handshake_timeout)?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// Runs the server handshake over any blocking stream. No deadline of
    /// its own: the stream's own timeouts apply (a `WouldBlock`/`TimedOut`
    /// becomes [`TlsError::HandshakeTimeout`]) — without one, a silent
    /// client blocks this call forever. Prefer
    /// [`accept_blocking_timeout`](Self::accept_blocking_timeout).
    pub fn accept_blocking<S: Read + Write>(
        &self,
        mut stream: S,
    ) -> Result<ServerTlsStream<S>, TlsError> {
        let mut conn = self.new_connection()?;
        handshake::complete(&mut conn, &mut stream)?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// Runs the server handshake over an accepted stream, bounded by the
    /// [handshake timeout](Self::handshake_timeout) (which needs a tokio
    /// runtime with the time driver enabled; with `None` it does not).
    #[cfg(feature = "tokio")]
    pub async fn accept_async<S>(
        &self,
        stream: S,
    ) -> Result<tokio_rustls::server::TlsStream<S>, TlsError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let accept = tokio_rustls::TlsAcceptor::from(Arc::clone(&self.config)).accept(stream);
        crate::with_timeout(self.handshake_timeout, accept).await
    }
}
