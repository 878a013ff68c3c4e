//! `wss://` over loopback with certificates generated in the test: echo with
//! the CA trusted, each bad certificate rejected with its own kind, the
//! development escape hatch, mutual TLS, the TLS handshake timeout on the
//! accept path, a CONNECT proxy, and interop with tokio-tungstenite over
//! rustls (ring) in both directions.
#![cfg(feature = "tls")]

mod common;
#[path = "../../wsock-tls/tests/common/pki.rs"]
mod pki;
#[path = "../../wsock-tls/tests/common/test_proxy.rs"]
mod test_proxy;

use std::time::{Duration, Instant};

use common::LIMIT;
use futures_util::{SinkExt, StreamExt};
use pki::{Identity, PKI, ca_pem, trusting_client};
use test_proxy::{Mode, spawn_proxy};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsock_tokio::tls::proxy::{ProxyConfig, ProxyCredentials, ProxyError};
use wsock_tokio::tls::{
    CertificateDecision, CertificateErrorKind, ClientTlsConfig, Pem, TlsAcceptor, TlsConnector,
    TlsErrorKind,
};
use wsock_tokio::{ClientBuilder, ErrorKind, Message, ServerBuilder, ServerTlsStream, WebSocket};

/// Tells the client what the server saw of TLS (ALPN, whether the client
/// presented the test client certificate), then echoes data messages.
async fn echo(mut ws: WebSocket<ServerTlsStream>) {
    let info = ws
        .tls_info()
        .expect("a TLS connection has TLS info")
        .clone();
    let hello = format!(
        "alpn={} client-cert={}",
        info.alpn_str().unwrap_or("-"),
        info.peer_certificate()
            .is_some_and(|c| c.as_ref() == PKI.client.der.as_ref())
    );
    if ws.send(hello).await.is_err() {
        return;
    }
    while let Ok(Some(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// Serves `wss://` on a loopback port: every connection on its own task.
async fn tls_server(acceptor: TlsAcceptor) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(ws) = wsock_tokio::accept_tls(&acceptor, tcp).await {
                    echo(ws).await;
                }
            });
        }
    });
    port
}

fn connector(config: ClientTlsConfig) -> TlsConnector {
    config.build().unwrap()
}

async fn connect_with(
    url: &str,
    config: ClientTlsConfig,
) -> Result<WebSocket<wsock_tokio::MaybeTlsStream>, wsock_tokio::Error> {
    ClientBuilder::new(url)
        .tls_connector(connector(config))
        .connect()
        .await
        .map(|(ws, _)| ws)
}

#[tokio::test]
async fn wss_echo_with_the_ca_trusted() {
    timeout(LIMIT, async {
        let port = tls_server(PKI.server.acceptor()).await;
        // By host name (SNI) and by IP literal (no SNI, IP SAN).
        for host in ["localhost", "127.0.0.1"] {
            let mut ws = connect_with(&format!("wss://{host}:{port}/echo"), trusting_client())
                .await
                .unwrap();
            assert_eq!(
                ws.recv().await.unwrap(),
                Some(Message::text("alpn=http/1.1 client-cert=false"))
            );
            let info = ws.tls_info().unwrap();
            assert!(info.protocol_version.is_some());
            assert!(info.cipher_suite_name().is_some());
            assert_eq!(info.alpn_str(), Some("http/1.1"));
            assert_eq!(
                info.peer_certificate().unwrap().as_ref(),
                PKI.server.der.as_ref()
            );
            ws.send("over TLS").await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::text("over TLS")));
            let big = vec![7u8; 300_000];
            ws.send(big.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::Binary(big)));
            // Split halves keep the TLS information.
            let (mut rx, mut tx) = ws.split();
            assert!(rx.tls_info().is_some() && tx.tls_info().is_some());
            tx.send("halves").await.unwrap();
            assert_eq!(rx.recv().await.unwrap(), Some(Message::text("halves")));
            let mut ws = rx.reunite(tx).unwrap();
            ws.close(None).await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn plain_ws_has_no_tls_info() {
    timeout(LIMIT, async {
        let (listener, url) = common::listener().await;
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            let _ = ws.recv().await;
        });
        let ws = wsock_tokio::connect(&format!("{url}/")).await.unwrap();
        assert!(ws.tls_info().is_none());
    })
    .await
    .unwrap();
}

async fn rejected_with(identity: &Identity, client: ClientTlsConfig) -> wsock_tokio::Error {
    let port = tls_server(identity.acceptor()).await;
    connect_with(&format!("wss://localhost:{port}/"), client)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn each_bad_certificate_has_its_own_kind() {
    timeout(LIMIT, async {
        let cases = [
            // The default roots (webpki) do not include the test CA.
            (
                &PKI.server,
                ClientTlsConfig::new(),
                CertificateErrorKind::UnknownIssuer,
            ),
            (
                &PKI.expired,
                trusting_client(),
                CertificateErrorKind::Expired,
            ),
            (
                &PKI.wrong_host,
                trusting_client(),
                CertificateErrorKind::WrongHostName,
            ),
        ];
        for (identity, client, kind) in cases {
            let err = rejected_with(identity, client).await;
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert_eq!(err.certificate_error(), Some(kind), "{err}");
            let source = std::error::Error::source(&err).unwrap();
            let tls = source.downcast_ref::<wsock_tokio::tls::TlsError>().unwrap();
            assert_eq!(tls.kind(), TlsErrorKind::Certificate(kind));
        }
        // The default connector of connect() too.
        let port = tls_server(PKI.server.acceptor()).await;
        let err = wsock_tokio::connect(&format!("wss://localhost:{port}/"))
            .await
            .unwrap_err();
        assert_eq!(
            err.certificate_error(),
            Some(CertificateErrorKind::UnknownIssuer),
            "{err}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_escape_hatch_is_off_by_default_and_works() {
    timeout(LIMIT, async {
        for identity in [&PKI.expired, &PKI.wrong_host] {
            let err = rejected_with(identity, trusting_client()).await;
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");

            let port = tls_server(identity.acceptor()).await;
            let mut ws = connect_with(
                &format!("wss://localhost:{port}/"),
                ClientTlsConfig::new().danger_accept_invalid_certs(true),
            )
            .await
            .unwrap();
            assert!(matches!(ws.recv().await.unwrap(), Some(Message::Text(_))));
            ws.send("anyway").await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::text("anyway")));
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_verification_callback_decides() {
    timeout(LIMIT, async {
        let port = tls_server(PKI.wrong_host.acceptor()).await;
        let pinned = PKI.wrong_host.der.clone();
        let pin = ClientTlsConfig::new().verify_certificate_with(move |check| {
            if check.end_entity().as_ref() == pinned.as_ref() {
                CertificateDecision::Accept
            } else {
                CertificateDecision::Reject
            }
        });
        connect_with(&format!("wss://localhost:{port}/"), pin)
            .await
            .unwrap();

        let port = tls_server(PKI.server.acceptor()).await;
        let refuse = trusting_client().verify_certificate_with(|_| CertificateDecision::Reject);
        let err = connect_with(&format!("wss://localhost:{port}/"), refuse)
            .await
            .unwrap_err();
        assert_eq!(
            err.certificate_error(),
            Some(CertificateErrorKind::RejectedByApplication),
            "{err}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn mutual_tls_accepted_and_refused() {
    timeout(LIMIT, async {
        let acceptor = PKI
            .server
            .server_config()
            .require_client_certificate(ca_pem())
            .build()
            .unwrap();
        let port = tls_server(acceptor).await;
        let url = format!("wss://localhost:{port}/");

        let with_cert = trusting_client().client_certificate(
            Pem::bytes(PKI.client.cert_pem.clone()),
            Pem::bytes(PKI.client.key_pem.clone()),
        );
        let mut ws = connect_with(&url, with_cert).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("alpn=http/1.1 client-cert=true"))
        );

        // No certificate, or one from another CA: refused by the server's
        // alert (seen during the WebSocket handshake with TLS 1.3).
        let foreign = trusting_client().client_certificate(
            Pem::bytes(PKI.foreign_client.cert_pem.clone()),
            Pem::bytes(PKI.foreign_client.key_pem.clone()),
        );
        for client in [trusting_client(), foreign] {
            let err = connect_with(&url, client).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(err.tls_error().is_some(), "{err}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_tls_handshake_timeout_frees_the_accept_loop() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = PKI
            .server
            .acceptor()
            .with_handshake_timeout(Some(Duration::from_millis(300)));
        // One connection at a time: a client that never speaks would stop
        // everyone else if the TLS handshake had no deadline.
        let server = tokio::spawn(async move {
            let mut errors = Vec::new();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                match ServerBuilder::new().accept_tls(&acceptor, tcp).await {
                    Ok(ws) => {
                        echo(ws).await;
                        return errors;
                    }
                    Err(e) => errors.push(e),
                }
            }
        });
        let silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = Instant::now();
        let mut ws = connect_with(&format!("wss://localhost:{port}/"), trusting_client())
            .await
            .unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Some(Message::Text(_))));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        ws.close(None).await.unwrap();
        let errors = server.await.unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].kind(), ErrorKind::Tls);
        assert_eq!(
            errors[0].tls_error().map(wsock_tokio::tls::TlsError::kind),
            Some(TlsErrorKind::HandshakeTimeout)
        );
        drop(silent);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn wss_through_a_connect_proxy() {
    timeout(LIMIT, async {
        let port = tls_server(PKI.server.acceptor()).await;
        let (proxy_addr, proxy) =
            spawn_proxy(Mode::RequireAuth, Some(([127, 0, 0, 1], port).into()));
        let (mut ws, _) = ClientBuilder::new(format!("wss://localhost:{port}/"))
            .tls_connector(connector(trusting_client()))
            .proxy(
                ProxyConfig::new("127.0.0.1", proxy_addr.port())
                    .with_credentials(ProxyCredentials::new("alice", "s3cret")),
            )
            .connect()
            .await
            .unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Some(Message::Text(_))));
        ws.send("tunnelled").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("tunnelled")));
        ws.close(None).await.unwrap();
        let head = tokio::task::spawn_blocking(move || proxy.join().unwrap())
            .await
            .unwrap();
        assert!(
            head.starts_with(&format!("CONNECT localhost:{port} HTTP/1.1")),
            "{head}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_proxy_without_credentials_says_407() {
    timeout(LIMIT, async {
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, None);
        let err = ClientBuilder::new("wss://localhost:1/")
            .proxy(ProxyConfig::new("127.0.0.1", proxy_addr.port()))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
        assert_eq!(err.proxy_error().and_then(ProxyError::status), Some(407));
        tokio::task::spawn_blocking(move || proxy.join().unwrap())
            .await
            .unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn interop_our_wss_client_and_tokio_tungstenite_server() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = PKI.server.acceptor();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // tokio-tungstenite over tokio-rustls with the ring provider.
            let tls = acceptor.accept_async(tcp).await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
        let mut ws = connect_with(&format!("wss://localhost:{port}/"), trusting_client())
            .await
            .unwrap();
        ws.send("hello tungstenite").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("hello tungstenite"))
        );
        ws.send(vec![1u8; 70_000]).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Binary(vec![1u8; 70_000]))
        );
        ws.close(None).await.unwrap();
        server.await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn interop_tokio_tungstenite_client_and_our_wss_server() {
    timeout(LIMIT, async {
        let port = tls_server(PKI.server.acceptor()).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let tls = connector(trusting_client())
            .connect_async("localhost", tcp)
            .await
            .unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{port}/"), tls)
            .await
            .unwrap();
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello.to_text().unwrap(), "alpn=http/1.1 client-cert=false");
        ws.send(tokio_tungstenite::tungstenite::Message::text("hello wsock"))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.to_text().unwrap(), "hello wsock");
        ws.close(None).await.unwrap();
        // The server answers the close; the stream then ends.
        while let Some(message) = ws.next().await {
            if message.is_err() {
                break;
            }
        }
    })
    .await
    .unwrap();
}
