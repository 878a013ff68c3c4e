//! Shared fixtures: an rcgen-generated PKI and loopback echo servers.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::LazyLock;
use std::thread::JoinHandle;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};
use wsock_tls::rustls::pki_types::CertificateDer;
use wsock_tls::{
    ClientTlsConfig, Pem, ServerTlsConfig, TlsAcceptor, TlsConnectionInfo, TlsError, TlsInfo,
};

/// A certificate chain (leaf only) and its key, PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Identity {
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new(
            Pem::bytes(self.cert_pem.clone()),
            Pem::bytes(self.key_pem.clone()),
        )
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.server_config().build().expect("server config")
    }
}

pub struct Pki {
    pub ca_pem: String,
    /// localhost + 127.0.0.1 + ::1, signed by the CA.
    pub server: Identity,
    /// localhost, signed by the CA, expired in 2021.
    pub expired: Identity,
    /// example.com only, signed by the CA.
    pub wrong_host: Identity,
    /// A client certificate (clientAuth), signed by the CA.
    pub client: Identity,
    /// A client certificate from another CA.
    pub foreign_client: Identity,
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    expired: bool,
) -> Identity {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![purpose];
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

pub static PKI: LazyLock<Pki> = LazyLock::new(|| {
    let ca = new_ca("wsock test CA");
    let other_ca = new_ca("someone else's CA");
    let server_names = ["localhost", "127.0.0.1", "::1"];
    Pki {
        ca_pem: ca.pem(),
        server: leaf(
            &ca,
            &server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        ),
        expired: leaf(
            &ca,
            &server_names,
            ExtendedKeyUsagePurpose::ServerAuth,
            true,
        ),
        wrong_host: leaf(
            &ca,
            &["example.com"],
            ExtendedKeyUsagePurpose::ServerAuth,
            false,
        ),
        client: leaf(
            &ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        ),
        foreign_client: leaf(
            &other_ca,
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
            false,
        ),
    }
});

pub fn ca_pem() -> Pem {
    Pem::bytes(PKI.ca_pem.clone())
}

/// A client that trusts only the test CA.
pub fn trusting_client() -> ClientTlsConfig {
    ClientTlsConfig::new()
        .webpki_roots(false)
        .add_root_certificates(ca_pem())
}

/// Accepts one connection on a thread, completes the TLS handshake, echoes
/// until the client goes away, and reports the handshake outcome.
pub fn spawn_blocking_server(
    acceptor: TlsAcceptor,
) -> (SocketAddr, JoinHandle<Result<TlsInfo, TlsError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = acceptor.accept_blocking_timeout(tcp)?;
        let info = tls.tls_info();
        let mut buf = [0u8; 1024];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                        break;
                    }
                }
            }
        }
        Ok(info)
    });
    (addr, handle)
}

/// The async twin of [`spawn_blocking_server`].
#[cfg(feature = "tokio")]
pub async fn spawn_async_server(
    acceptor: TlsAcceptor,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<TlsInfo, TlsError>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept_async(tcp).await?;
        let info = tls.tls_info();
        let mut buf = [0u8; 1024];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        Ok(info)
    });
    (addr, handle)
}
