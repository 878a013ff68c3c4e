//! Blocking TLS over loopback: echo, certificate failures (revocation
//! through a CRL among them), escape hatch, verification callback, mutual
//! TLS, handshake timeouts, TlsInfo, connectors and acceptors from rustls
//! configurations built by hand, and (feature `native-roots`) the platform
//! store pointed at the test CA with `SSL_CERT_FILE` in a child process.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PKI, bounded, ca_pem, crl_pem, spawn_blocking_server, trusting_client};
use wsock_tls::rustls::pki_types::PrivateKeyDer;
use wsock_tls::rustls::pki_types::pem::PemObject;
use wsock_tls::rustls::{CipherSuite, ProtocolVersion};
use wsock_tls::{
    CertificateDecision, CertificateErrorKind, ClientTlsConfig, ClientTlsStream,
    DEFAULT_HANDSHAKE_TIMEOUT, Pem, TlsAcceptor, TlsConnectionInfo, TlsConnector, TlsError,
    TlsErrorKind, rustls,
};

fn connect(
    connector: &TlsConnector,
    host: &str,
    addr: std::net::SocketAddr,
) -> Result<ClientTlsStream<TcpStream>, TlsError> {
    let tcp = TcpStream::connect(addr).unwrap();
    connector.connect_blocking_timeout(host, tcp)
}

fn echo(tls: &mut ClientTlsStream<TcpStream>, message: &[u8]) {
    tls.write_all(message).unwrap();
    tls.flush().unwrap();
    let mut back = vec![0u8; message.len()];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
}

fn close(mut tls: ClientTlsStream<TcpStream>) {
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn expect_cert_error(
    result: Result<ClientTlsStream<TcpStream>, TlsError>,
    kind: CertificateErrorKind,
) {
    let Err(err) = result else {
        panic!("the handshake should fail")
    };
    assert_eq!(
        err.kind(),
        TlsErrorKind::Certificate(kind),
        "unexpected error: {err}"
    );
    assert_eq!(err.certificate_error(), Some(kind));
}

#[test]
fn echo_with_trusted_ca_and_tls_info() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let connector = trusting_client().build().unwrap();
    let mut tls = connect(&connector, "localhost", addr).unwrap();
    echo(&mut tls, b"hello over TLS");

    let info = tls.tls_info();
    assert_eq!(info.protocol_version, Some(ProtocolVersion::TLSv1_3));
    assert!(info.is_tls13());
    let suite = info.cipher_suite.expect("a cipher suite");
    assert!(
        [
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        ]
        .contains(&suite),
        "{suite:?}"
    );
    assert!(info.cipher_suite_name().unwrap().starts_with("TLS13_"));
    assert_eq!(info.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(info.alpn_str(), Some("http/1.1"));
    assert_eq!(info.peer_certificate(), Some(&PKI.server.der));
    assert_eq!(info.server_name, None);
    // The handshake deadline is lifted again.
    assert_eq!(tls.sock.read_timeout().unwrap(), None);
    assert_eq!(tls.sock.write_timeout().unwrap(), None);
    close(tls);

    let server_info = server.join().unwrap().unwrap();
    assert!(server_info.is_tls13());
    assert_eq!(server_info.alpn_str(), Some("http/1.1"));
    assert_eq!(server_info.server_name.as_deref(), Some("localhost"));
    assert!(server_info.peer_certificates.is_empty());
}

#[test]
fn ip_literal_uses_ip_san_and_sends_no_sni() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let connector = trusting_client().build().unwrap();
    let mut tls = connect(&connector, "127.0.0.1", addr).unwrap();
    echo(&mut tls, b"by address");
    close(tls);
    let server_info = server.join().unwrap().unwrap();
    assert_eq!(server_info.server_name, None, "no SNI for IP literals");
}

#[test]
fn untimed_connect_over_any_stream() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let connector = trusting_client().build().unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    // Box<dyn Read + Write> stands in for an adapter's generic stream.
    let stream: Box<dyn ReadWrite> = Box::new(tcp);
    let mut tls = connector.connect_blocking("localhost", stream).unwrap();
    tls.write_all(b"ping").unwrap();
    let mut back = [0u8; 4];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping");
    tls.conn.send_close_notify();
    let _ = tls.flush();
    drop(tls);
    server.join().unwrap().unwrap();
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

#[test]
fn unknown_issuer_without_the_ca() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    // Default trust: webpki roots only, which do not include the test CA.
    let result = connect(&TlsConnector::new(), "localhost", addr);
    expect_cert_error(result, CertificateErrorKind::UnknownIssuer);
    // The server fails too: with the client's alert, or with a reset when
    // the client's socket closed with unread handshake bytes in it (TCP
    // then sends RST, which can overtake the alert).
    let server_err = server.join().unwrap().unwrap_err();
    assert!(
        matches!(server_err.kind(), TlsErrorKind::Protocol | TlsErrorKind::Io),
        "{server_err}"
    );
}

#[test]
fn expired_certificate() {
    let (addr, server) = spawn_blocking_server(PKI.expired.acceptor());
    let result = connect(&trusting_client().build().unwrap(), "localhost", addr);
    expect_cert_error(result, CertificateErrorKind::Expired);
    let _ = server.join();
}

#[test]
fn wrong_host_name() {
    let (addr, server) = spawn_blocking_server(PKI.wrong_host.acceptor());
    let result = connect(&trusting_client().build().unwrap(), "localhost", addr);
    expect_cert_error(result, CertificateErrorKind::WrongHostName);
    let _ = server.join();
}

#[test]
fn revoked_certificate_with_the_crl() {
    bounded(|| {
        let (addr, server) = spawn_blocking_server(PKI.revoked.acceptor());
        let connector = trusting_client().add_crls(crl_pem()).build().unwrap();
        let result = connect(&connector, "localhost", addr);
        let Err(err) = &result else {
            panic!("a revoked certificate must be refused")
        };
        assert!(err.to_string().contains("revoked"), "{err}");
        assert!(
            matches!(
                err.rustls_error(),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked
                ))
            ),
            "{err}"
        );
        expect_cert_error(result, CertificateErrorKind::Revoked);
        let _ = server.join();
    });
}

#[test]
fn revoked_certificate_passes_without_the_crl() {
    bounded(|| {
        // No CRL, no revocation check: the same certificate is fine.
        let (addr, server) = spawn_blocking_server(PKI.revoked.acceptor());
        let mut tls = connect(&trusting_client().build().unwrap(), "localhost", addr).unwrap();
        echo(&mut tls, b"nobody told me");
        close(tls);
        server.join().unwrap().unwrap();
    });
}

#[test]
fn the_crl_spares_certificates_it_does_not_list() {
    bounded(|| {
        let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
        let connector = trusting_client().add_crls(crl_pem()).build().unwrap();
        let mut tls = connect(&connector, "localhost", addr).unwrap();
        echo(&mut tls, b"not revoked");
        close(tls);
        server.join().unwrap().unwrap();
    });
}

#[test]
fn the_crl_from_a_file_and_the_callback_sees_the_revocation() {
    bounded(|| {
        let dir = std::env::temp_dir().join(format!("wsock-tls-crl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let crl = dir.join("ca.crl.pem");
        std::fs::write(&crl, &PKI.crl_pem).unwrap();

        let seen = Arc::new(Mutex::new(None));
        let seen_in_callback = Arc::clone(&seen);
        let (addr, server) = spawn_blocking_server(PKI.revoked.acceptor());
        let connector = trusting_client()
            .add_crls(Pem::file(&crl))
            .verify_certificate_with(move |check| {
                *seen_in_callback.lock().unwrap() = Some(check.default_error());
                CertificateDecision::Reject
            })
            .build()
            .unwrap();
        let result = connect(&connector, "localhost", addr);
        // Rejected with the default verification's reason.
        expect_cert_error(result, CertificateErrorKind::Revoked);
        assert_eq!(
            seen.lock().unwrap().take(),
            Some(Some(CertificateErrorKind::Revoked))
        );
        let _ = server.join();
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// The test CA as a rustls root store, built without wsock-tls.
fn test_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(PKI.ca_der.clone()).unwrap();
    roots
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[test]
fn connector_from_a_rustls_client_config() {
    bounded(|| {
        // TLS 1.2 only and no ALPN: the connector must use the configuration as is.
        let config = rustls::ClientConfig::builder_with_provider(ring())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(test_roots())
            .with_no_client_auth();
        let connector = TlsConnector::from_config(Arc::new(config));
        assert_eq!(
            connector.handshake_timeout(),
            Some(DEFAULT_HANDSHAKE_TIMEOUT)
        );
        assert!(connector.config().alpn_protocols.is_empty());

        let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
        let mut tls = connect(&connector, "localhost", addr).unwrap();
        echo(&mut tls, b"from a rustls config");
        let info = tls.tls_info();
        assert_eq!(info.protocol_version, Some(ProtocolVersion::TLSv1_2));
        assert_eq!(info.alpn_protocol, None);
        assert_eq!(info.peer_certificate(), Some(&PKI.server.der));
        close(tls);
        let server_info = server.join().unwrap().unwrap();
        assert_eq!(server_info.protocol_version, Some(ProtocolVersion::TLSv1_2));
        assert_eq!(server_info.alpn_protocol, None);

        // Its verification is rustls' own: the wrong host is still refused.
        let (addr, server) = spawn_blocking_server(PKI.wrong_host.acceptor());
        let connector = TlsConnector::from(Arc::clone(connector.config()));
        expect_cert_error(
            connect(&connector, "localhost", addr),
            CertificateErrorKind::WrongHostName,
        );
        let _ = server.join();
    });
}

#[test]
fn acceptor_from_a_rustls_server_config() {
    bounded(|| {
        let chain = vec![PKI.server.der.clone()];
        let key = PrivateKeyDer::from_pem_slice(PKI.server.key_pem.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(ring())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"wsock-test".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from_config(Arc::new(config));
        assert_eq!(
            acceptor.handshake_timeout(),
            Some(DEFAULT_HANDSHAKE_TIMEOUT)
        );

        // A client offering the server's first choice gets it.
        let (addr, server) = spawn_blocking_server(acceptor.clone());
        let connector = trusting_client()
            .alpn_protocols(vec![b"http/1.1".to_vec(), b"wsock-test".to_vec()])
            .build()
            .unwrap();
        let mut tls = connect(&connector, "localhost", addr).unwrap();
        echo(&mut tls, b"to a rustls config");
        assert_eq!(tls.tls_info().alpn_str(), Some("wsock-test"));
        assert!(tls.tls_info().is_tls13());
        close(tls);
        let server_info = server.join().unwrap().unwrap();
        assert_eq!(server_info.alpn_str(), Some("wsock-test"));
        assert_eq!(server_info.server_name.as_deref(), Some("localhost"));

        // A TLS 1.2-only client is refused: the configuration is used as is.
        let (addr, server) =
            spawn_blocking_server(TlsAcceptor::from(Arc::clone(acceptor.config())));
        let tls12_only = rustls::ClientConfig::builder_with_provider(ring())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(test_roots())
            .with_no_client_auth();
        let err = connect(
            &TlsConnector::from_config(Arc::new(tls12_only)),
            "localhost",
            addr,
        )
        .unwrap_err();
        assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}");
        let server_err = server.join().unwrap().unwrap_err();
        assert_eq!(server_err.kind(), TlsErrorKind::Protocol, "{server_err}");
    });
}

#[test]
fn error_messages_say_what_failed() {
    let (addr, server) = spawn_blocking_server(PKI.expired.acceptor());
    let err = connect(&trusting_client().build().unwrap(), "localhost", addr).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let _ = server.join();
}

#[test]
fn danger_accept_invalid_certs() {
    for identity in [&PKI.expired, &PKI.wrong_host] {
        // Off by default.
        let (addr, server) = spawn_blocking_server(identity.acceptor());
        assert!(connect(&trusting_client().build().unwrap(), "localhost", addr).is_err());
        let _ = server.join();

        // On: untrusted (no CA at all), expired and wrong-host certificates pass.
        let (addr, server) = spawn_blocking_server(identity.acceptor());
        let connector = ClientTlsConfig::new()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let mut tls = connect(&connector, "localhost", addr).unwrap();
        echo(&mut tls, b"insecure but encrypted");
        close(tls);
        server.join().unwrap().unwrap();
    }
}

#[test]
fn callback_accepts_what_the_default_rejects() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let seen = Arc::new(Mutex::new(None));
    let seen_in_callback = Arc::clone(&seen);
    let pinned = PKI.server.der.clone();
    // No CA: the default verification fails with UnknownIssuer; pin the leaf.
    let connector = ClientTlsConfig::new()
        .verify_certificate_with(move |check| {
            *seen_in_callback.lock().unwrap() = Some((
                check.default_error(),
                format!("{:?}", check.server_name()),
                check.intermediates().len(),
                check.is_trusted(),
            ));
            if check.end_entity() == &pinned {
                CertificateDecision::Accept
            } else {
                CertificateDecision::Reject
            }
        })
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).unwrap();
    echo(&mut tls, b"pinned");
    close(tls);
    server.join().unwrap().unwrap();

    let (default_error, name, intermediates, trusted) = seen.lock().unwrap().take().unwrap();
    assert_eq!(default_error, Some(CertificateErrorKind::UnknownIssuer));
    assert!(name.contains("localhost"), "{name}");
    assert_eq!(intermediates, 0);
    assert!(!trusted);
}

#[test]
fn callback_sees_expiry_and_can_accept_it() {
    let (addr, server) = spawn_blocking_server(PKI.expired.acceptor());
    let connector = trusting_client()
        .verify_certificate_with(|check| match check.default_error() {
            Some(CertificateErrorKind::Expired) => CertificateDecision::Accept,
            _ => CertificateDecision::Reject,
        })
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).unwrap();
    echo(&mut tls, b"expired but accepted");
    close(tls);
    server.join().unwrap().unwrap();
}

#[test]
fn callback_rejects_a_valid_certificate() {
    let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let connector = trusting_client()
        .verify_certificate_with(|check| {
            assert!(check.is_trusted());
            assert!(check.default_result().is_ok());
            CertificateDecision::Reject
        })
        .build()
        .unwrap();
    let result = connect(&connector, "localhost", addr);
    expect_cert_error(result, CertificateErrorKind::RejectedByApplication);
    let _ = server.join();
}

#[test]
fn callback_rejection_keeps_the_default_reason() {
    let (addr, server) = spawn_blocking_server(PKI.wrong_host.acceptor());
    let connector = trusting_client()
        .verify_certificate_with(|_| CertificateDecision::Reject)
        .build()
        .unwrap();
    let result = connect(&connector, "localhost", addr);
    expect_cert_error(result, CertificateErrorKind::WrongHostName);
    let _ = server.join();
}

fn mtls_acceptor() -> wsock_tls::TlsAcceptor {
    PKI.server
        .server_config()
        .require_client_certificate(ca_pem())
        .build()
        .unwrap()
}

fn client_with_cert(identity: &common::Identity) -> TlsConnector {
    trusting_client()
        .client_certificate(
            Pem::bytes(identity.cert_pem.clone()),
            Pem::bytes(identity.key_pem.clone()),
        )
        .build()
        .unwrap()
}

#[test]
fn mutual_tls_accepted_with_client_certificate() {
    let (addr, server) = spawn_blocking_server(mtls_acceptor());
    let mut tls = connect(&client_with_cert(&PKI.client), "localhost", addr).unwrap();
    echo(&mut tls, b"mutual");
    close(tls);
    let server_info = server.join().unwrap().unwrap();
    assert_eq!(server_info.peer_certificate(), Some(&PKI.client.der));
}

/// With TLS 1.3 the client finishes its side of the handshake before the
/// server has checked the client certificate: the refusal arrives as an
/// alert on the client's first read.
fn assert_refused(result: Result<ClientTlsStream<TcpStream>, TlsError>) {
    match result {
        Err(err) => assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}"),
        Ok(mut tls) => {
            let _ = tls.write_all(b"let me in");
            let _ = tls.flush();
            let mut buf = [0u8; 16];
            let err = tls.read(&mut buf).expect_err("the server must refuse");
            let err = TlsError::from(err);
            assert_eq!(err.kind(), TlsErrorKind::Protocol, "{err}");
        }
    }
}

#[test]
fn mutual_tls_refused_without_client_certificate() {
    let (addr, server) = spawn_blocking_server(mtls_acceptor());
    assert_refused(connect(
        &trusting_client().build().unwrap(),
        "localhost",
        addr,
    ));
    let server_err = server.join().unwrap().unwrap_err();
    assert_eq!(
        server_err.kind(),
        TlsErrorKind::Certificate(CertificateErrorKind::NotPresented),
        "{server_err}"
    );
}

#[test]
fn mutual_tls_refuses_a_certificate_from_another_ca() {
    let (addr, server) = spawn_blocking_server(mtls_acceptor());
    assert_refused(connect(
        &client_with_cert(&PKI.foreign_client),
        "localhost",
        addr,
    ));
    let server_err = server.join().unwrap().unwrap_err();
    assert_eq!(
        server_err.kind(),
        TlsErrorKind::Certificate(CertificateErrorKind::UnknownIssuer),
        "{server_err}"
    );
}

#[test]
fn optional_client_certificate() {
    let acceptor = || {
        PKI.server
            .server_config()
            .request_client_certificate(ca_pem())
            .build()
            .unwrap()
    };
    let (addr, server) = spawn_blocking_server(acceptor());
    let mut tls = connect(&trusting_client().build().unwrap(), "localhost", addr).unwrap();
    echo(&mut tls, b"anonymous");
    close(tls);
    assert!(server.join().unwrap().unwrap().peer_certificates.is_empty());

    let (addr, server) = spawn_blocking_server(acceptor());
    let mut tls = connect(&client_with_cert(&PKI.client), "localhost", addr).unwrap();
    echo(&mut tls, b"identified");
    close(tls);
    assert_eq!(
        server.join().unwrap().unwrap().peer_certificate(),
        Some(&PKI.client.der)
    );
}

#[test]
fn server_handshake_timeout_frees_a_silent_client() {
    let timeout = Duration::from_millis(300);
    let acceptor = PKI.server.acceptor().with_handshake_timeout(Some(timeout));
    let (addr, server) = spawn_blocking_server(acceptor);
    let silent = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    let err = server.join().unwrap().unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");
    drop(silent);
}

#[test]
fn server_handshake_timeout_is_a_deadline_not_an_idle_timer() {
    // A client that trickles a byte every 50 ms never lets a single read time
    // out; the deadline must still fire.
    let timeout = Duration::from_millis(400);
    let acceptor = PKI.server.acceptor().with_handshake_timeout(Some(timeout));
    let (addr, server) = spawn_blocking_server(acceptor);
    let mut trickler = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_trickling = Arc::clone(&stop);
    let trickle = std::thread::spawn(move || {
        // A handshake record header announcing 512 bytes, then zeros.
        let _ = trickler.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]);
        while !stop_trickling.load(std::sync::atomic::Ordering::Relaxed) {
            if trickler.write_all(&[0]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let err = server.join().unwrap().unwrap_err();
    let elapsed = start.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn untimed_accept_uses_the_stream_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = TcpStream::connect(addr).unwrap();
    let (tcp, _) = listener.accept().unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = PKI.server.acceptor().accept_blocking(tcp).unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    drop(silent);
}

#[test]
fn client_handshake_timeout_against_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connector = trusting_client()
        .handshake_timeout(Some(Duration::from_millis(300)))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = connect(&connector, "localhost", addr).unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(listener);
}

#[test]
fn server_closing_mid_handshake_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = std::thread::spawn(move || drop(listener.accept().unwrap()));
    let err = connect(&trusting_client().build().unwrap(), "localhost", addr).unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Io, "{err}");
    closer.join().unwrap();
}

#[test]
fn pem_files_and_config_errors() {
    let dir = std::env::temp_dir().join(format!("wsock-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let ca = dir.join("ca.pem");
    std::fs::write(&cert, &PKI.server.cert_pem).unwrap();
    std::fs::write(&key, &PKI.server.key_pem).unwrap();
    std::fs::write(&ca, &PKI.ca_pem).unwrap();

    let acceptor = wsock_tls::ServerTlsConfig::new(Pem::file(&cert), Pem::file(&key))
        .build()
        .unwrap();
    let (addr, server) = spawn_blocking_server(acceptor);
    let connector = ClientTlsConfig::new()
        .add_root_certificates(Pem::file(&ca))
        .build()
        .unwrap();
    let mut tls = connect(&connector, "localhost", addr).unwrap();
    echo(&mut tls, b"from files");
    close(tls);
    server.join().unwrap().unwrap();

    // A key that does not match the certificate.
    let err =
        wsock_tls::ServerTlsConfig::new(Pem::file(&cert), Pem::bytes(PKI.client.key_pem.clone()))
            .build()
            .unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Config, "{err}");
    // A missing key file.
    let err = wsock_tls::ServerTlsConfig::new(Pem::file(&cert), Pem::file(dir.join("nope.pem")))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Config, "{err}");
    // A certificate where the key should be.
    let err = ClientTlsConfig::new()
        .client_certificate(Pem::file(&cert), Pem::file(&cert))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), TlsErrorKind::Config, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The platform store through `rustls-native-certs`, pointed at files of
/// the test's making with `SSL_CERT_FILE` / `SSL_CERT_DIR`. Those are read
/// process-wide, so each case runs [`child`](native_roots::child) in a
/// child process with its own environment; the server runs here.
#[cfg(feature = "native-roots")]
mod native_roots {
    use std::ffi::OsString;
    use std::net::SocketAddr;

    use super::common::child::{ScratchDir, run_child_test};
    use super::common::{PKI, spawn_blocking_server};
    use super::{close, connect, echo, expect_cert_error};
    use wsock_tls::{CertificateErrorKind, ClientTlsConfig, TlsErrorKind};

    /// Set for the child, and what makes it do anything: what should
    /// happen, [`TRUSTED`], [`UNKNOWN_ISSUER`] or [`NO_CERTIFICATES`].
    const EXPECT: &str = "WSOCK_TLS_TEST_NATIVE_ROOTS_EXPECT";
    /// Set for the child: the server's address.
    const ADDRESS: &str = "WSOCK_TLS_TEST_NATIVE_ROOTS_ADDRESS";
    /// Set for the child: `webpki_roots(..)` beside `native_roots(true)`,
    /// `1` or `0`.
    const WEBPKI: &str = "WSOCK_TLS_TEST_NATIVE_ROOTS_WEBPKI";
    /// Set for the child with [`NO_CERTIFICATES`]: what the error must say.
    const SAYS: &str = "WSOCK_TLS_TEST_NATIVE_ROOTS_SAYS";
    /// The handshake succeeds and data echoes.
    const TRUSTED: &str = "trusted";
    /// The handshake fails: the server's issuer is not trusted.
    const UNKNOWN_ISSUER: &str = "unknown-issuer";
    /// `build` fails: no certificate could be loaded.
    const NO_CERTIFICATES: &str = "no-certificates";
    /// Printed by the child once it saw what it expected.
    const DONE: &str = "native-roots child: as expected";
    /// Where rustls-native-certs looks instead of the platform store:
    /// removed from the child's environment, then set per case.
    const CERT_VARS: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

    /// The child's side; does nothing in an ordinary test run.
    #[test]
    fn child() {
        let Ok(expect) = std::env::var(EXPECT) else {
            return;
        };
        let webpki = std::env::var(WEBPKI).unwrap() == "1";
        let config = ClientTlsConfig::new()
            .webpki_roots(webpki)
            .native_roots(true);
        if expect == NO_CERTIFICATES {
            let err = config.build().unwrap_err();
            assert_eq!(err.kind(), TlsErrorKind::Config, "{err}");
            let says = std::env::var(SAYS).unwrap();
            assert!(err.to_string().contains(&says), "{err}");
        } else {
            let connector = config.build().unwrap();
            let addr: SocketAddr = std::env::var(ADDRESS).unwrap().parse().unwrap();
            let result = connect(&connector, "localhost", addr);
            match expect.as_str() {
                TRUSTED => {
                    let mut tls = result.unwrap();
                    echo(&mut tls, b"trusted through the platform store");
                    close(tls);
                }
                UNKNOWN_ISSUER => expect_cert_error(result, CertificateErrorKind::UnknownIssuer),
                other => panic!("unknown expectation {other:?}"),
            }
        }
        println!("{DONE}");
    }

    /// Runs [`child`] expecting `expect`, with `webpki_roots(webpki)` and
    /// `vars` (every other certificate variable removed).
    fn run_child(expect: &str, webpki: bool, addr: Option<SocketAddr>, vars: &[(&str, OsString)]) {
        let mut set = vec![
            (EXPECT, OsString::from(expect)),
            (WEBPKI, OsString::from(if webpki { "1" } else { "0" })),
        ];
        if let Some(addr) = addr {
            set.push((ADDRESS, addr.to_string().into()));
        }
        set.extend(vars.iter().cloned());
        let remove: Vec<&str> = CERT_VARS.into_iter().chain([ADDRESS, SAYS]).collect();
        run_child_test("native_roots::child", &remove, &set, DONE);
    }

    /// Against the test server, trusting what `vars` point at: the
    /// handshake either succeeds ([`TRUSTED`]) or fails with
    /// [`UNKNOWN_ISSUER`], and the server sees the same.
    fn handshake(expect: &str, webpki: bool, vars: &[(&str, OsString)]) {
        let (addr, server) = spawn_blocking_server(PKI.server.acceptor());
        run_child(expect, webpki, Some(addr), vars);
        let outcome = server.join().unwrap();
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

    #[test]
    fn ssl_cert_file_instead_of_webpki_roots() {
        let dir = ScratchDir::new("native-roots-file");
        let ca = dir.write("ca.pem", &PKI.ca_pem);
        handshake(TRUSTED, false, &[("SSL_CERT_FILE", ca.into())]);
    }

    #[test]
    fn ssl_cert_file_with_another_ca_is_an_unknown_issuer() {
        let dir = ScratchDir::new("native-roots-other-ca");
        let ca = dir.write("other-ca.pem", &PKI.other_ca_pem);
        handshake(UNKNOWN_ISSUER, false, &[("SSL_CERT_FILE", ca.into())]);
    }

    #[test]
    fn native_roots_add_to_webpki_roots() {
        // webpki roots alone refuse the test server (see
        // `unknown_issuer_without_the_ca`); the platform store adds the CA.
        let dir = ScratchDir::new("native-roots-beside-webpki");
        let ca = dir.write("ca.pem", &PKI.ca_pem);
        handshake(TRUSTED, true, &[("SSL_CERT_FILE", ca.into())]);
    }

    #[test]
    fn ssl_cert_dir_is_read_too() {
        let dir = ScratchDir::new("native-roots-dir");
        dir.write("ca.pem", &PKI.ca_pem);
        handshake(
            TRUSTED,
            false,
            &[("SSL_CERT_DIR", dir.path().as_os_str().to_owned())],
        );
    }

    #[test]
    fn a_store_without_certificates_is_a_config_error() {
        let dir = ScratchDir::new("native-roots-empty");
        let empty = dir.write("empty.pem", "no certificates in here\n");
        run_child(
            NO_CERTIFICATES,
            false,
            None,
            &[
                ("SSL_CERT_FILE", empty.into()),
                (SAYS, "no usable certificates in the platform store".into()),
            ],
        );
        // A file that is not there: the error names it.
        let missing = dir.path().join("missing.pem");
        run_child(
            NO_CERTIFICATES,
            false,
            None,
            &[
                ("SSL_CERT_FILE", missing.clone().into()),
                (SAYS, missing.to_string_lossy().into_owned().into()),
            ],
        );
    }
}
