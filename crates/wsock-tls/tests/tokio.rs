//! Tokio TLS over loopback: echo, certificate failures (revocation through
//! a CRL among them), escape hatch, verification callback, mutual TLS,
//! handshake timeouts, TlsInfo, connectors and acceptors from rustls
//! configurations built by hand, and (feature `native-roots`) the platform
//! store pointed at the test CA with `SSL_CERT_FILE` in a child process.
#![cfg(feature = "tokio")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LIMIT, PKI, ca_pem, crl_pem, spawn_async_server, trusting_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use wsock_tls::rustls::ProtocolVersion;
use wsock_tls::rustls::pki_types::PrivateKeyDer;
use wsock_tls::rustls::pki_types::pem::PemObject;
use wsock_tls::tokio_rustls::client::TlsStream;
use wsock_tls::{
    CertificateDecision, CertificateErrorKind, ClientTlsConfig, DEFAULT_HANDSHAKE_TIMEOUT, Pem,
    TlsAcceptor, TlsConnectionInfo, TlsConnector, TlsError, TlsErrorKind, rustls,
};

async fn connect(
    connector: &TlsConnector,
    host: &str,
    addr: SocketAddr,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connector.connect_async(host, tcp).await
}

async fn echo(tls: &mut TlsStream<TcpStream>, message: &[u8]) {
    tls.write_all(message).await.unwrap();
    tls.flush().await.unwrap();
    let mut back = vec![0u8; message.len()];
    tls.read_exact(&mut back).await.unwrap();
    assert_eq!(back, message);
}

async fn close(mut tls: TlsStream<TcpStream>) {
    let _ = tls.shutdown().await;
}

fn expect_cert_error(result: Result<TlsStream<TcpStream>, TlsError>, kind: CertificateErrorKind) {
    let Err(err) = result else {
        panic!("the handshake should fail")
    };
    assert_eq!(err.kind(), TlsErrorKind::Certificate(kind), "{err}");
}

#[tokio::test]
async fn echo_with_trusted_ca_and_tls_info() {
    let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
    let connector = trusting_client().build().unwrap();
    let mut tls = connect(&connector, "localhost", addr).await.unwrap();
    echo(&mut tls, b"hello over async TLS").await;
    let info = tls.tls_info();
    assert_eq!(info.protocol_version, Some(ProtocolVersion::TLSv1_3));
    assert!(info.cipher_suite.is_some());
    assert_eq!(info.alpn_str(), Some("http/1.1"));
    assert_eq!(info.peer_certificate(), Some(&PKI.server.der));
    close(tls).await;
    let server_info = server.await.unwrap().unwrap();
    assert!(server_info.is_tls13());
    assert_eq!(server_info.alpn_str(), Some("http/1.1"));
    assert_eq!(server_info.server_name.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn ipv6_literal_with_brackets() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        return; // no IPv6 loopback here
    };
    drop(listener);
    let listener = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = PKI.server.acceptor();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept_async(tcp).await.unwrap();
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.unwrap();
        tls.write_all(&buf).await.unwrap();
        tls.flush().await.unwrap();
        tls.tls_info()
    });
    let mut tls = connect(&trusting_client().build().unwrap(), "[::1]", addr)
        .await
        .unwrap();
    echo(&mut tls, b"six!").await;
    assert_eq!(server.await.unwrap().server_name, None);
}

#[tokio::test]
async fn unknown_issuer_without_the_ca() {
    let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
    expect_cert_error(
        connect(&TlsConnector::new(), "localhost", addr).await,
        CertificateErrorKind::UnknownIssuer,
    );
    let server_err = server.await.unwrap().unwrap_err();
    assert_eq!(server_err.kind(), TlsErrorKind::Protocol, "{server_err}");
}

#[tokio::test]
async fn expired_certificate() {
    let (addr, server) = spawn_async_server(PKI.expired.acceptor()).await;
    expect_cert_error(
        connect(&trusting_client().build().unwrap(), "localhost", addr).await,
        CertificateErrorKind::Expired,
    );
    let _ = server.await;
}

#[tokio::test]
async fn wrong_host_name() {
    let (addr, server) = spawn_async_server(PKI.wrong_host.acceptor()).await;
    expect_cert_error(
        connect(&trusting_client().build().unwrap(), "localhost", addr).await,
        CertificateErrorKind::WrongHostName,
    );
    let _ = server.await;
}

#[tokio::test]
async fn revoked_certificate_with_the_crl() {
    timeout(LIMIT, async {
        let (addr, server) = spawn_async_server(PKI.revoked.acceptor()).await;
        let connector = trusting_client().add_crls(crl_pem()).build().unwrap();
        expect_cert_error(
            connect(&connector, "localhost", addr).await,
            CertificateErrorKind::Revoked,
        );
        let _ = server.await;

        // The same CRL lets the unrevoked certificate through.
        let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
        let mut tls = connect(&connector, "localhost", addr).await.unwrap();
        echo(&mut tls, b"not revoked").await;
        close(tls).await;
        server.await.unwrap().unwrap();
    })
    .await
    .unwrap();
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test]
async fn connector_from_a_rustls_client_config() {
    timeout(LIMIT, async {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(PKI.ca_der.clone()).unwrap();
        // TLS 1.2 only, ALPN of its own: the connector uses the config as is.
        let mut config = rustls::ClientConfig::builder_with_provider(ring())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = TlsConnector::from_config(Arc::new(config));
        assert_eq!(
            connector.handshake_timeout(),
            Some(DEFAULT_HANDSHAKE_TIMEOUT)
        );

        let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
        let mut tls = connect(&connector, "localhost", addr).await.unwrap();
        echo(&mut tls, b"from a rustls config").await;
        let info = tls.tls_info();
        assert_eq!(info.protocol_version, Some(ProtocolVersion::TLSv1_2));
        assert_eq!(info.alpn_str(), Some("http/1.1"));
        close(tls).await;
        let server_info = server.await.unwrap().unwrap();
        assert_eq!(server_info.protocol_version, Some(ProtocolVersion::TLSv1_2));

        // rustls' own verification: the test CA is the only root.
        let (addr, server) = spawn_async_server(PKI.expired.acceptor()).await;
        expect_cert_error(
            connect(&connector, "localhost", addr).await,
            CertificateErrorKind::Expired,
        );
        let _ = server.await;
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn acceptor_from_a_rustls_server_config() {
    timeout(LIMIT, async {
        let key = PrivateKeyDer::from_pem_slice(PKI.server.key_pem.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![PKI.server.der.clone()], key)
            .unwrap();
        // No ALPN on the server: the client's offer goes unanswered.
        config.alpn_protocols = Vec::new();
        let acceptor = TlsAcceptor::from(Arc::new(config))
            .with_handshake_timeout(Some(Duration::from_secs(5)));
        assert_eq!(acceptor.handshake_timeout(), Some(Duration::from_secs(5)));

        let (addr, server) = spawn_async_server(acceptor).await;
        let mut tls = connect(&trusting_client().build().unwrap(), "localhost", addr)
            .await
            .unwrap();
        echo(&mut tls, b"to a rustls config").await;
        assert!(tls.tls_info().is_tls13());
        assert_eq!(tls.tls_info().alpn_protocol, None);
        assert_eq!(tls.tls_info().peer_certificate(), Some(&PKI.server.der));
        close(tls).await;
        let server_info = server.await.unwrap().unwrap();
        assert_eq!(server_info.alpn_protocol, None);
        assert_eq!(server_info.server_name.as_deref(), Some("localhost"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn danger_accept_invalid_certs() {
    let (addr, server) = spawn_async_server(PKI.wrong_host.acceptor()).await;
    assert!(
        connect(&ClientTlsConfig::new().build().unwrap(), "localhost", addr)
            .await
            .is_err(),
        "off by default"
    );
    let _ = server.await;

    let (addr, server) = spawn_async_server(PKI.wrong_host.acceptor()).await;
    let connector = ClientTlsConfig::new()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).await.unwrap();
    echo(&mut tls, b"insecure").await;
    close(tls).await;
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn callback_accepts_and_rejects() {
    // Accept a chain the default verification rejects (untrusted issuer).
    let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
    let connector = ClientTlsConfig::new()
        .webpki_roots(false)
        .verify_certificate_with(|check| {
            assert_eq!(
                check.default_error(),
                Some(CertificateErrorKind::UnknownIssuer)
            );
            CertificateDecision::Accept
        })
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).await.unwrap();
    echo(&mut tls, b"accepted by callback").await;
    close(tls).await;
    server.await.unwrap().unwrap();

    // Reject a valid one.
    let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
    let connector = trusting_client()
        .verify_certificate_with(|_| CertificateDecision::Reject)
        .build()
        .unwrap();
    expect_cert_error(
        connect(&connector, "localhost", addr).await,
        CertificateErrorKind::RejectedByApplication,
    );
    let _ = server.await;
}

fn mtls_acceptor() -> wsock_tls::TlsAcceptor {
    PKI.server
        .server_config()
        .require_client_certificate(ca_pem())
        .build()
        .unwrap()
}

#[tokio::test]
async fn mutual_tls_accepted_with_client_certificate() {
    let (addr, server) = spawn_async_server(mtls_acceptor()).await;
    let connector = trusting_client()
        .client_certificate(
            Pem::bytes(PKI.client.cert_pem.clone()),
            Pem::bytes(PKI.client.key_pem.clone()),
        )
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).await.unwrap();
    echo(&mut tls, b"mutual").await;
    close(tls).await;
    let server_info = server.await.unwrap().unwrap();
    assert_eq!(server_info.peer_certificate(), Some(&PKI.client.der));
}

#[tokio::test]
async fn mutual_tls_refused_without_client_certificate() {
    let (addr, server) = spawn_async_server(mtls_acceptor()).await;
    match connect(&trusting_client().build().unwrap(), "localhost", addr).await {
        Err(err) => assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}"),
        Ok(mut tls) => {
            // TLS 1.3: the refusal arrives as an alert on the first read.
            let _ = tls.write_all(b"let me in").await;
            let _ = tls.flush().await;
            let mut buf = [0u8; 16];
            let err = TlsError::from(tls.read(&mut buf).await.expect_err("refused"));
            assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}");
        }
    }
    let server_err = server.await.unwrap().unwrap_err();
    assert_eq!(
        server_err.kind(),
        TlsErrorKind::Certificate(CertificateErrorKind::NotPresented),
        "{server_err}"
    );
}

#[tokio::test]
async fn mutual_tls_refuses_a_certificate_from_another_ca() {
    timeout(LIMIT, async {
        let (addr, server) = spawn_async_server(mtls_acceptor()).await;
        let connector = trusting_client()
            .client_certificate(
                Pem::bytes(PKI.foreign_client.cert_pem.clone()),
                Pem::bytes(PKI.foreign_client.key_pem.clone()),
            )
            .build()
            .unwrap();
        match connect(&connector, "localhost", addr).await {
            Err(err) => assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}"),
            Ok(mut tls) => {
                // TLS 1.3: the refusal arrives as an alert on the first read.
                let _ = tls.write_all(b"let me in").await;
                let _ = tls.flush().await;
                let mut buf = [0u8; 16];
                let err = TlsError::from(tls.read(&mut buf).await.expect_err("refused"));
                assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}");
            }
        }
        let server_err = server.await.unwrap().unwrap_err();
        assert_eq!(
            server_err.kind(),
            TlsErrorKind::Certificate(CertificateErrorKind::UnknownIssuer),
            "{server_err}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn server_handshake_timeout_frees_a_silent_client() {
    let timeout = Duration::from_millis(300);
    let acceptor = PKI.server.acceptor().with_handshake_timeout(Some(timeout));
    let (addr, server) = spawn_async_server(acceptor).await;
    let silent = TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    let err = server.await.unwrap().unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");
    drop(silent);
}

#[tokio::test]
async fn client_handshake_timeout_against_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = trusting_client()
        .build()
        .unwrap()
        .with_handshake_timeout(Some(Duration::from_millis(300)));
    let start = Instant::now();
    let err = connect(&connector, "localhost", addr).await.unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn no_timeout_needs_no_time_driver() {
    // A runtime without the time driver: handshakes with `None` timeouts
    // must not touch tokio::time (which would panic).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let acceptor = PKI.server.acceptor().with_handshake_timeout(None);
        let (addr, server) = spawn_async_server(acceptor).await;
        let connector = trusting_client().handshake_timeout(None).build().unwrap();
        let mut tls = connect(&connector, "localhost", addr).await.unwrap();
        echo(&mut tls, b"timeless").await;
        close(tls).await;
        server.await.unwrap().unwrap();
    });
}

#[test]
fn futures_and_types_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TlsConnector>();
    assert_send_sync::<wsock_tls::TlsAcceptor>();
    assert_send_sync::<TlsError>();
    assert_send_sync::<wsock_tls::proxy::ProxyError>();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connector = TlsConnector::new();
        let acceptor = PKI.server.acceptor();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let connect = connector.connect_async("localhost", tcp);
        assert_send(&connect);
        let accept = acceptor.accept_async(accepted);
        assert_send(&accept);
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let proxied = wsock_tls::proxy::connect_via_proxy_async(&mut tcp, "example.com", 443, None);
        assert_send(&proxied);
    });
}

/// The platform store through `rustls-native-certs`, pointed at a file of
/// the test's making with `SSL_CERT_FILE`, read process-wide: each case
/// runs [`child`](native_roots::child) in a child process with its own
/// environment; the server runs here. (`blocking.rs` covers the rest:
/// `SSL_CERT_DIR`, and a store without certificates.)
#[cfg(feature = "native-roots")]
mod native_roots {
    use std::ffi::OsString;
    use std::net::SocketAddr;

    use super::common::child::{ScratchDir, run_child_test};
    use super::common::{PKI, spawn_async_server};
    use super::{close, connect, echo, expect_cert_error};
    use wsock_tls::{CertificateErrorKind, ClientTlsConfig, TlsErrorKind};

    /// Set for the child, and what makes it do anything: whether the
    /// handshake should succeed (`trusted`) or fail (`unknown-issuer`).
    const EXPECT: &str = "WSOCK_TLS_TEST_ASYNC_NATIVE_ROOTS_EXPECT";
    /// Set for the child: the server's address.
    const ADDRESS: &str = "WSOCK_TLS_TEST_ASYNC_NATIVE_ROOTS_ADDRESS";
    /// Set for the child: `webpki_roots(..)` beside `native_roots(true)`,
    /// `1` or `0`.
    const WEBPKI: &str = "WSOCK_TLS_TEST_ASYNC_NATIVE_ROOTS_WEBPKI";
    const TRUSTED: &str = "trusted";
    const UNKNOWN_ISSUER: &str = "unknown-issuer";
    /// Printed by the child once it saw what it expected.
    const DONE: &str = "async native-roots child: as expected";
    /// Where rustls-native-certs looks instead of the platform store:
    /// removed from the child's environment, then set per case.
    const CERT_VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

    /// The child's side; does nothing in an ordinary test run.
    #[tokio::test]
    async fn child() {
        let Ok(expect) = std::env::var(EXPECT) else {
            return;
        };
        let webpki = std::env::var(WEBPKI).unwrap() == "1";
        let connector = ClientTlsConfig::new()
            .webpki_roots(webpki)
            .native_roots(true)
            .build()
            .unwrap();
        let addr: SocketAddr = std::env::var(ADDRESS).unwrap().parse().unwrap();
        let result = connect(&connector, "localhost", addr).await;
        match expect.as_str() {
            TRUSTED => {
                let mut tls = result.unwrap();
                echo(&mut tls, b"trusted through the platform store").await;
                close(tls).await;
            }
            UNKNOWN_ISSUER => expect_cert_error(result, CertificateErrorKind::UnknownIssuer),
            other => panic!("unknown expectation {other:?}"),
        }
        println!("{DONE}");
    }

    /// Runs [`child`] against the test server with `webpki_roots(webpki)`
    /// and `SSL_CERT_FILE` holding `ca_pem`; the handshake either succeeds
    /// ([`TRUSTED`]) or fails with [`UNKNOWN_ISSUER`], and the server sees
    /// the same.
    async fn handshake(label: &str, expect: &'static str, webpki: bool, ca_pem: &str) {
        let dir = ScratchDir::new(label);
        let ca = dir.write("ca.pem", ca_pem);
        let (addr, server) = spawn_async_server(PKI.server.acceptor()).await;
        let set = vec![
            (EXPECT, OsString::from(expect)),
            (WEBPKI, OsString::from(if webpki { "1" } else { "0" })),
            (ADDRESS, addr.to_string().into()),
            ("SSL_CERT_FILE", ca.into()),
        ];
        let child = tokio::task::spawn_blocking(move || {
            run_child_test("native_roots::child", &CERT_VARS, &set, DONE);
        });
        if let Err(err) = child.await {
            std::panic::resume_unwind(err.into_panic());
        }
        let outcome = server.await.unwrap();
        if expect == TRUSTED {
            let info = outcome.unwrap();
            assert_eq!(info.server_name.as_deref(), Some("localhost"));
        } else {
            // The client's alert, or a reset overtaking it.
            let err = outcome.unwrap_err();
            assert!(
                matches!(err.kind(), TlsErrorKind::Protocol | TlsErrorKind::Io),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn ssl_cert_file_instead_of_webpki_roots() {
        handshake("async-native-roots-file", TRUSTED, false, &PKI.ca_pem).await;
    }

    #[tokio::test]
    async fn ssl_cert_file_with_another_ca_is_an_unknown_issuer() {
        handshake(
            "async-native-roots-other-ca",
            UNKNOWN_ISSUER,
            false,
            &PKI.other_ca_pem,
        )
        .await;
    }

    #[tokio::test]
    async fn native_roots_add_to_webpki_roots() {
        handshake(
            "async-native-roots-beside-webpki",
            TRUSTED,
            true,
            &PKI.ca_pem,
        )
        .await;
    }
}
