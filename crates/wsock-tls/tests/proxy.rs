//! HTTP CONNECT proxying over loopback with a small proxy written in the
//! tests (`common/test_proxy.rs`):
//! `wss://` through an authenticating proxy (blocking and tokio), 407 without
//! credentials, 403, 502, and no over-read of tunnelled bytes.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::test_proxy::{Mode, spawn_proxy};
use common::{PKI, spawn_blocking_server, trusting_client};
use wsock_tls::proxy::{ProxyConfig, ProxyCredentials, ProxyError, connect_via_proxy_blocking};

fn check_connect_head(head: &str, port: u16) {
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some(format!("CONNECT localhost:{port} HTTP/1.1").as_str())
    );
    assert!(
        head.lines().any(|l| l == format!("Host: localhost:{port}")),
        "{head}"
    );
}

fn credentials() -> ProxyCredentials {
    ProxyCredentials::new("alice", "s3cret")
}

#[test]
fn wss_through_an_authenticating_proxy_from_the_environment() {
    let (server_addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, Some(server_addr));
    let proxy_url = format!("http://alice:s3cret@{proxy_addr}");
    let config = ProxyConfig::from_lookup(
        |name| (name == "HTTPS_PROXY").then(|| proxy_url.clone()),
        "localhost",
        true,
    )
    .unwrap()
    .expect("a proxy for wss://");
    assert_eq!(config.credentials(), Some(&credentials()));

    let mut tcp = TcpStream::connect((config.host(), config.port())).unwrap();
    connect_via_proxy_blocking(
        &mut tcp,
        "localhost",
        server_addr.port(),
        config.credentials(),
    )
    .unwrap();
    let connector = trusting_client().build().unwrap();
    let mut tls = connector
        .connect_blocking_timeout("localhost", tcp)
        .unwrap();
    tls.write_all(b"through the proxy").unwrap();
    let mut back = [0u8; 17];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"through the proxy");
    tls.conn.send_close_notify();
    let _ = tls.flush();
    drop(tls);

    server.join().unwrap().unwrap();
    check_connect_head(&proxy.join().unwrap(), server_addr.port());
}

#[test]
fn proxy_demands_credentials() {
    for creds in [None, Some(ProxyCredentials::new("alice", "wrong"))] {
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, None);
        let mut tcp = TcpStream::connect(proxy_addr).unwrap();
        let err =
            connect_via_proxy_blocking(&mut tcp, "localhost", 443, creds.as_ref()).unwrap_err();
        match &err {
            ProxyError::AuthenticationRequired { status, challenge } => {
                assert_eq!(*status, 407);
                assert_eq!(challenge.as_deref(), Some("Basic realm=\"wsock\""));
            }
            other => panic!("expected 407, got {other}"),
        }
        assert_eq!(err.status(), Some(407));
        let head = proxy.join().unwrap();
        check_connect_head(&head, 443);
        assert_eq!(
            head.contains("Proxy-Authorization: Basic YWxpY2U6d3Jvbmc="),
            creds.is_some()
        );
    }
}

#[test]
fn proxy_forbids_the_target() {
    let (proxy_addr, proxy) = spawn_proxy(Mode::Forbid, None);
    let mut tcp = TcpStream::connect(proxy_addr).unwrap();
    let err = connect_via_proxy_blocking(&mut tcp, "localhost", 443, None).unwrap_err();
    assert!(
        matches!(&err, ProxyError::Forbidden { status: 403, reason } if reason == "Forbidden"),
        "{err}"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::PermissionDenied);
    proxy.join().unwrap();
}

#[test]
fn proxy_cannot_reach_the_target() {
    let (proxy_addr, proxy) = spawn_proxy(Mode::BadGateway, None);
    let mut tcp = TcpStream::connect(proxy_addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let err = connect_via_proxy_blocking(&mut tcp, "localhost", 443, None).unwrap_err();
    assert!(
        matches!(&err, ProxyError::BadGateway { status: 502, reason } if reason == "Bad Gateway"),
        "{err}"
    );
    assert_eq!(err.status(), Some(502));
    assert!(
        err.to_string().contains("could not reach the target"),
        "{err}"
    );
    assert_eq!(
        io::Error::from(err).kind(),
        io::ErrorKind::ConnectionRefused
    );
    check_connect_head(&proxy.join().unwrap(), 443);
}

#[test]
fn tunnel_blocking_connects_and_tunnels() {
    let (server_addr, server) = spawn_blocking_server(PKI.server.acceptor());
    let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, Some(server_addr));
    let config = ProxyConfig::new(proxy_addr.ip().to_string(), proxy_addr.port())
        .with_credentials(credentials());
    let tcp = config
        .tunnel_blocking(
            "localhost",
            server_addr.port(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(tcp.read_timeout().unwrap(), None);
    let connector = trusting_client().build().unwrap();
    let mut tls = connector
        .connect_blocking_timeout("localhost", tcp)
        .unwrap();
    tls.write_all(b"tunnel").unwrap();
    let mut back = [0u8; 6];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"tunnel");
    tls.conn.send_close_notify();
    let _ = tls.flush();
    drop(tls);
    server.join().unwrap().unwrap();
    proxy.join().unwrap();
}

#[test]
fn silent_proxy_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ProxyConfig::new("127.0.0.1", addr.port());
    let err = config
        .tunnel_blocking("localhost", 443, Some(Duration::from_millis(200)))
        .unwrap_err();
    assert!(matches!(err, ProxyError::Timeout), "{err}");
    drop(listener);
}

#[test]
fn tunnelled_bytes_are_not_consumed() {
    let (proxy_addr, proxy) = spawn_proxy(Mode::EagerGreeting, None);
    let mut tcp = TcpStream::connect(proxy_addr).unwrap();
    connect_via_proxy_blocking(&mut tcp, "localhost", 80, None).unwrap();
    let mut greeting = [0u8; 17];
    tcp.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"HELLO FROM TARGET");
    drop(tcp);
    proxy.join().unwrap();
}

#[cfg(feature = "tokio")]
mod tokio_twin {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsock_tls::proxy::connect_via_proxy_async;

    #[tokio::test]
    async fn wss_through_an_authenticating_proxy() {
        let (server_addr, server) = common::spawn_async_server(PKI.server.acceptor()).await;
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, Some(server_addr));
        let mut tcp = tokio::net::TcpStream::connect(proxy_addr).await.unwrap();
        connect_via_proxy_async(
            &mut tcp,
            "localhost",
            server_addr.port(),
            Some(&credentials()),
        )
        .await
        .unwrap();
        let connector = trusting_client().build().unwrap();
        let mut tls = connector.connect_async("localhost", tcp).await.unwrap();
        tls.write_all(b"async via proxy").await.unwrap();
        tls.flush().await.unwrap();
        let mut back = [0u8; 15];
        tls.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"async via proxy");
        let _ = tls.shutdown().await;
        drop(tls);
        server.await.unwrap().unwrap();
        check_connect_head(&proxy.join().unwrap(), server_addr.port());
    }

    #[tokio::test]
    async fn proxy_errors() {
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, None);
        let mut tcp = tokio::net::TcpStream::connect(proxy_addr).await.unwrap();
        let err = connect_via_proxy_async(&mut tcp, "localhost", 443, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProxyError::AuthenticationRequired { status: 407, .. }),
            "{err}"
        );
        proxy.join().unwrap();

        let (proxy_addr, proxy) = spawn_proxy(Mode::Forbid, None);
        let mut tcp = tokio::net::TcpStream::connect(proxy_addr).await.unwrap();
        let err = connect_via_proxy_async(&mut tcp, "localhost", 443, None)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(403), "{err}");
        assert!(matches!(err, ProxyError::Forbidden { .. }), "{err}");
        proxy.join().unwrap();

        let (proxy_addr, proxy) = spawn_proxy(Mode::BadGateway, None);
        let mut tcp = tokio::net::TcpStream::connect(proxy_addr).await.unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(10),
            connect_via_proxy_async(&mut tcp, "localhost", 443, None),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(
            matches!(err, ProxyError::BadGateway { status: 502, .. }),
            "{err}"
        );
        proxy.join().unwrap();
    }

    #[tokio::test]
    async fn tunnelled_bytes_are_not_consumed() {
        let (proxy_addr, proxy) = spawn_proxy(Mode::EagerGreeting, None);
        let mut tcp = tokio::net::TcpStream::connect(proxy_addr).await.unwrap();
        connect_via_proxy_async(&mut tcp, "localhost", 80, None)
            .await
            .unwrap();
        let mut greeting = [0u8; 17];
        tcp.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"HELLO FROM TARGET");
        drop(tcp);
        proxy.join().unwrap();
    }
}
