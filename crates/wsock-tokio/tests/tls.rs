//! `wss://` over loopback with certificates generated in the test: echo with
//! the CA trusted, each bad certificate rejected with its own kind (a
//! revoked one through a CRL among them), the development escape hatch,
//! mutual TLS, the TLS handshake timeout on the accept path, a CONNECT proxy
//! for `ws://` and `wss://` (explicit, and from the real environment in a
//! child process), its refusals, and interop with tokio-tungstenite over its
//! own rustls (ring) setup in both directions.
#![cfg(feature = "tls")]

#[path = "../../wsock-tls/tests/common/child.rs"]
#[allow(dead_code, unreachable_pub)]
mod child;
mod common;
#[path = "../../wsock-tls/tests/common/pki.rs"]
mod pki;
#[path = "../../wsock-tls/tests/common/test_proxy.rs"]
mod test_proxy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::LIMIT;
use futures_util::{SinkExt, StreamExt};
use pki::{Identity, PKI, ca_pem, crl_pem, trusting_client};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use test_proxy::{LoggingProxy, Mode, spawn_proxy};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsock_tokio::tls::proxy::{ProxyConfig, ProxyCredentials, ProxyError};
use wsock_tokio::tls::{
    CertificateDecision, CertificateErrorKind, ClientTlsConfig, Pem, TlsAcceptor, TlsConnector,
    TlsErrorKind,
};
use wsock_tokio::{Acceptor, ClientBuilder, ErrorKind, Message, ServerTlsStream, WebSocket};

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

/// Serves `ws://` on a loopback port: says "plain", then echoes data
/// messages; every connection on its own task.
async fn plain_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut ws) = wsock_tokio::accept(tcp).await else {
                    return;
                };
                if ws.send("plain").await.is_err() {
                    return;
                }
                while let Ok(Some(message)) = ws.recv().await {
                    if message.is_data() && ws.send(message).await.is_err() {
                        return;
                    }
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
            assert_eq!(ws.recv().await.unwrap(), Some(Message::binary(big)));
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
            (
                &PKI.revoked,
                trusting_client().add_crls(crl_pem()),
                CertificateErrorKind::Revoked,
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
        // Without the CRL, nothing says the revoked certificate is revoked.
        let port = tls_server(PKI.revoked.acceptor()).await;
        let mut ws = connect_with(&format!("wss://localhost:{port}/"), trusting_client())
            .await
            .unwrap();
        assert!(matches!(ws.recv().await.unwrap(), Some(Message::Text(_))));
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
                match Acceptor::new().accept_tls(&acceptor, tcp).await {
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

// The `Server` helper serves `wss://` as the blocking one does: TLS at
// the listener, the handler gets the TLS connection, and a shutdown closes
// it with 1001.
#[tokio::test]
async fn the_server_helper_serves_wss() {
    timeout(LIMIT, async {
        let server = wsock_tokio::Server::builder()
            .bind_tls("127.0.0.1:0", PKI.server.acceptor(), |ws| {
                assert_eq!(ws.request().unwrap().path(), "/tls");
                echo(ws)
            })
            .await
            .unwrap();
        let port = server.local_addr().port();
        let mut ws = connect_with(&format!("wss://localhost:{port}/tls"), trusting_client())
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("alpn=http/1.1 client-cert=false"))
        );
        ws.send("through the Server").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("through the Server"))
        );
        assert_eq!(server.connections(), 1);
        // The client keeps reading, so it answers the server's close.
        let client = tokio::spawn(async move { ws.recv().await });
        let report = server.shutdown(Duration::from_secs(5)).await;
        assert_eq!((report.open, report.forced), (1, 0), "{report:?}");
        let Ok(Some(Message::Close(Some(frame)))) = client.await.unwrap() else {
            panic!("no close frame");
        };
        assert_eq!(frame.code, wsock_tokio::CloseCode::GOING_AWAY);
    })
    .await
    .unwrap();
}

// A client that never starts its TLS handshake holds a handshake slot only
// until another connection needs it: with one slot, the next client is
// still served.
#[tokio::test]
async fn a_silent_tls_client_gives_its_slot_back() {
    timeout(LIMIT, async {
        // No TLS handshake timeout: only eviction can free the slot.
        let acceptor = PKI.server.acceptor().with_handshake_timeout(None);
        let server = wsock_tokio::Server::builder()
            .max_handshakes(1)
            .evict_after(Duration::from_millis(200))
            .bind_tls("127.0.0.1:0", acceptor, echo)
            .await
            .unwrap();
        let port = server.local_addr().port();
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
        drop(silent);
        server.shutdown(Duration::from_secs(2)).await;
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
        let mut ws = ClientBuilder::new(format!("wss://localhost:{port}/"))
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
async fn ws_through_a_connect_proxy() {
    timeout(LIMIT, async {
        let port = plain_server().await;
        let (proxy_addr, proxy) =
            spawn_proxy(Mode::RequireAuth, Some(([127, 0, 0, 1], port).into()));
        let mut ws = ClientBuilder::new(format!("ws://127.0.0.1:{port}/"))
            .proxy(
                ProxyConfig::new("127.0.0.1", proxy_addr.port())
                    .with_credentials(ProxyCredentials::new("alice", "s3cret")),
            )
            .connect()
            .await
            .unwrap();
        assert!(ws.tls_info().is_none());
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("plain")));
        ws.send("plain, tunnelled").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("plain, tunnelled"))
        );
        ws.close(None).await.unwrap();
        drop(ws);
        let head = tokio::task::spawn_blocking(move || proxy.join().unwrap())
            .await
            .unwrap();
        assert!(
            head.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
            "{head}"
        );
        assert!(
            head.contains(&format!(
                "\r\nProxy-Authorization: {}\r\n",
                test_proxy::CREDENTIALS
            )),
            "{head}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn proxy_refusals_403_and_502_have_their_own_errors() {
    timeout(LIMIT, async {
        for (mode, url) in [
            (Mode::Forbid, "wss://localhost:1/"),
            (Mode::BadGateway, "ws://127.0.0.1:1/"),
        ] {
            let (proxy_addr, proxy) = spawn_proxy(mode, None);
            let err = ClientBuilder::new(url)
                .proxy(ProxyConfig::new("127.0.0.1", proxy_addr.port()))
                .connect()
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
            let proxy_error = err.proxy_error().expect("a proxy error");
            match mode {
                Mode::Forbid => assert!(
                    matches!(proxy_error, ProxyError::Forbidden { status: 403, reason } if reason == "Forbidden"),
                    "{proxy_error}"
                ),
                _ => assert!(
                    matches!(proxy_error, ProxyError::BadGateway { status: 502, reason } if reason == "Bad Gateway"),
                    "{proxy_error}"
                ),
            }
            // Reachable as the source too.
            let source = std::error::Error::source(&err).unwrap();
            assert!(source.downcast_ref::<ProxyError>().is_some(), "{source}");
            let head = tokio::task::spawn_blocking(move || proxy.join().unwrap())
                .await
                .unwrap();
            let target = url.trim_start_matches("wss://").trim_start_matches("ws://");
            let target = target.trim_end_matches('/');
            assert!(
                head.starts_with(&format!("CONNECT {target} HTTP/1.1")),
                "{head}"
            );
        }
    })
    .await
    .unwrap();
}

/// `proxy_from_env` with the real process environment. Setting variables
/// in this process would race the other tests (and `set_var` is unsafe), so
/// each case re-runs this test binary as a child, with the variables set,
/// to run [`child`] alone: it connects to the URLs it is given and checks
/// the echo; the parent owns the servers and the proxies and checks what
/// the proxies saw.
mod proxy_from_env {
    use std::ffi::OsString;
    use std::net::SocketAddr;

    use super::*;
    use child::run_child_test;

    /// Set for the child: the space-separated URLs to connect to.
    const URLS: &str = "WSOCK_TEST_ENV_PROXY_URLS";
    /// Set for the child: whether to call `proxy_from_env` (`1`) or not.
    const OPT_IN: &str = "WSOCK_TEST_ENV_PROXY_OPT_IN";
    /// Set for the child: an address to connect to instead of resolving.
    const ADDRESS: &str = "WSOCK_TEST_ENV_PROXY_ADDRESS";
    /// Set for the child: the parent's test CA (its PKI is generated per
    /// process).
    const CA: &str = "WSOCK_TEST_ENV_PROXY_CA";
    /// Printed by the child once every URL echoed.
    const DONE: &str = "env-proxy child: all echoed";
    /// The child's own bound on its work; the parent kills it at [`LIMIT`]
    /// and gives up on a case at [`CASE_LIMIT`].
    const CHILD_LIMIT: Duration = Duration::from_secs(15);
    const CASE_LIMIT: Duration = Duration::from_secs(30);

    /// Removed from the child's environment, then set per case, so the
    /// machine's own proxy settings cannot leak in.
    const PROXY_VARS: [&str; 8] = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ];

    /// The child's side; does nothing in an ordinary test run.
    #[tokio::test]
    async fn child() {
        let Ok(urls) = std::env::var(URLS) else {
            return;
        };
        let ca = std::env::var(CA).unwrap();
        let opt_in = std::env::var(OPT_IN).unwrap() == "1";
        let address: Option<SocketAddr> = std::env::var(ADDRESS).ok().map(|a| a.parse().unwrap());
        timeout(CHILD_LIMIT, async {
            for url in urls.split(' ') {
                let trust = ClientTlsConfig::new()
                    .webpki_roots(false)
                    .add_root_certificates(Pem::bytes(ca.clone()));
                let mut builder = ClientBuilder::new(url)
                    .tls_connector(connector(trust))
                    .connect_timeout(Some(Duration::from_secs(10)));
                if opt_in {
                    builder = builder.proxy_from_env();
                }
                if let Some(address) = address {
                    builder = builder.addresses([address]);
                }
                let mut ws = builder.connect().await.unwrap();
                assert_eq!(ws.tls_info().is_some(), url.starts_with("wss:"), "{url}");
                // The servers greet first.
                assert!(matches!(ws.recv().await.unwrap(), Some(Message::Text(_))));
                ws.send(format!("hello from {url}")).await.unwrap();
                assert_eq!(
                    ws.recv().await.unwrap(),
                    Some(Message::text(format!("hello from {url}")))
                );
                ws.close(None).await.unwrap();
            }
        })
        .await
        .unwrap();
        println!("{DONE}");
    }

    /// Runs [`child`] in a child process with `vars` set (every other proxy
    /// variable removed); fails unless it connected to every URL and echoed.
    /// The child is killed if it takes longer than [`child::CHILD_LIMIT`].
    async fn run_child(urls: &[String], opt_in: bool, vars: &[(&str, String)]) {
        let mut set = vec![
            (URLS.to_owned(), OsString::from(urls.join(" "))),
            (
                OPT_IN.to_owned(),
                OsString::from(if opt_in { "1" } else { "0" }),
            ),
            (CA.to_owned(), OsString::from(&PKI.ca_pem)),
        ];
        set.extend(
            vars.iter()
                .map(|(name, value)| ((*name).to_owned(), OsString::from(value))),
        );
        tokio::task::spawn_blocking(move || {
            let mut remove = PROXY_VARS.to_vec();
            remove.push(ADDRESS);
            let set: Vec<(&str, OsString)> =
                set.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            run_child_test("proxy_from_env::child", &remove, &set, DONE);
        })
        .await
        .unwrap();
    }

    fn connect_line(target: &str) -> String {
        format!("CONNECT {target} HTTP/1.1")
    }

    #[tokio::test]
    async fn http_proxy_carries_ws() {
        timeout(CASE_LIMIT, async {
            let port = plain_server().await;
            let proxy = LoggingProxy::spawn(Mode::RequireAuth, Some(([127, 0, 0, 1], port).into()));
            let decoy = LoggingProxy::spawn(Mode::Forbid, None);
            // Credentials from the URL; HTTPS_PROXY is for wss:// only.
            let url = format!("http://alice:s3cret@{}", proxy.addr());
            run_child(
                &[format!("ws://127.0.0.1:{port}/")],
                true,
                &[("HTTP_PROXY", url), ("HTTPS_PROXY", decoy.url())],
            )
            .await;
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("127.0.0.1:{port}"))]
            );
            assert!(
                proxy.heads()[0]
                    .contains(&format!("Proxy-Authorization: {}", test_proxy::CREDENTIALS)),
                "{:?}",
                proxy.heads()
            );
            assert_eq!(decoy.accepted(), 0);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn all_proxy_is_the_fallback() {
        timeout(CASE_LIMIT, async {
            let port = plain_server().await;
            let proxy = LoggingProxy::spawn(Mode::Open, Some(([127, 0, 0, 1], port).into()));
            run_child(
                &[format!("ws://127.0.0.1:{port}/")],
                true,
                &[("ALL_PROXY", proxy.url())],
            )
            .await;
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("127.0.0.1:{port}"))]
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn https_proxy_carries_wss() {
        timeout(CASE_LIMIT, async {
            let port = tls_server(PKI.server.acceptor()).await;
            let proxy = LoggingProxy::spawn(Mode::Open, Some(([127, 0, 0, 1], port).into()));
            let decoy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[format!("wss://localhost:{port}/")],
                true,
                &[
                    ("HTTPS_PROXY", proxy.url()),
                    ("HTTP_PROXY", decoy.url()),
                    ("ALL_PROXY", decoy.url()),
                ],
            )
            .await;
            // The tunnel is to the URL's host; TLS runs through it end to end.
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("localhost:{port}"))]
            );
            assert_eq!(decoy.accepted(), 0);
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn no_proxy_with_the_address_goes_direct() {
        timeout(CASE_LIMIT, async {
            let plain = plain_server().await;
            let tls = tls_server(PKI.server.acceptor()).await;
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[
                    format!("ws://127.0.0.1:{plain}/"),
                    format!("wss://127.0.0.1:{tls}/"),
                ],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("HTTPS_PROXY", proxy.url()),
                    ("ALL_PROXY", proxy.url()),
                    ("NO_PROXY", "example.com, 127.0.0.1".to_owned()),
                ],
            )
            .await;
            // The proxy would have refused (403): the echo went direct.
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn no_proxy_with_a_domain_suffix_goes_direct() {
        timeout(CASE_LIMIT, async {
            let port = plain_server().await;
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            // echo.wsock.test is never resolved: `addresses` says where it is.
            run_child(
                &[format!("ws://echo.wsock.test:{port}/")],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("NO_PROXY", ".wsock.test".to_owned()),
                    (ADDRESS, format!("127.0.0.1:{port}")),
                ],
            )
            .await;
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());

            // Control: a suffix that does not match leaves the proxy in use.
            let proxy = LoggingProxy::spawn(Mode::Open, Some(([127, 0, 0, 1], port).into()));
            run_child(
                &[format!("ws://echo.wsock.test:{port}/")],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("NO_PROXY", ".other.test,wsock.test.example".to_owned()),
                    (ADDRESS, format!("127.0.0.1:{port}")),
                ],
            )
            .await;
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("echo.wsock.test:{port}"))]
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn without_the_opt_in_the_environment_is_ignored() {
        timeout(CASE_LIMIT, async {
            let plain = plain_server().await;
            let tls = tls_server(PKI.server.acceptor()).await;
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[
                    format!("ws://127.0.0.1:{plain}/"),
                    format!("wss://localhost:{tls}/"),
                ],
                false,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("HTTPS_PROXY", proxy.url()),
                    ("ALL_PROXY", proxy.url()),
                    ("http_proxy", proxy.url()),
                    ("https_proxy", proxy.url()),
                ],
            )
            .await;
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());
        })
        .await
        .unwrap();
    }
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test]
async fn interop_our_wss_client_and_tokio_tungstenite_server() {
    timeout(LIMIT, async {
        // The server's TLS is plain tokio-rustls over a rustls ServerConfig
        // built here: no wsock-tls on that side.
        let key = PrivateKeyDer::from_pem_slice(PKI.server.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![PKI.server.der.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let sni = tls.get_ref().1.server_name().map(str::to_owned);
            let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
            sni
        });
        let mut ws = connect_with(&format!("wss://localhost:{port}/"), trusting_client())
            .await
            .unwrap();
        let info = ws.tls_info().unwrap();
        assert!(info.protocol_version.is_some());
        // The server offers no ALPN: none was agreed.
        assert_eq!(info.alpn_protocol, None);
        assert_eq!(
            info.peer_certificate().unwrap().as_ref(),
            PKI.server.der.as_ref()
        );
        ws.send("hello tungstenite").await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::text("hello tungstenite"))
        );
        ws.send(vec![1u8; 70_000]).await.unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::binary(vec![1u8; 70_000]))
        );
        ws.close(None).await.unwrap();
        assert_eq!(server.await.unwrap().as_deref(), Some("localhost"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn interop_tokio_tungstenite_client_and_our_wss_server() {
    timeout(LIMIT, async {
        let port = tls_server(PKI.server.acceptor()).await;
        // tokio-tungstenite's own TLS: a rustls ClientConfig built here, with
        // the test CA as the only root and no ALPN.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(PKI.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_tungstenite::Connector::Rustls(Arc::new(config));
        let (mut ws, response) = tokio_tungstenite::connect_async_tls_with_config(
            format!("wss://localhost:{port}/"),
            None,
            true,
            Some(connector.clone()),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 101);
        assert!(matches!(
            ws.get_ref(),
            tokio_tungstenite::MaybeTlsStream::Rustls(_)
        ));
        // What our server saw of TLS: no ALPN offered, no client certificate.
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello.to_text().unwrap(), "alpn=- client-cert=false");
        ws.send(tokio_tungstenite::tungstenite::Message::text("hello wsock"))
            .await
            .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.to_text().unwrap(), "hello wsock");
        ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![
            2u8;
            70_000
        ]))
        .await
        .unwrap();
        let echoed = ws.next().await.unwrap().unwrap();
        assert_eq!(echoed.into_data().as_ref(), vec![2u8; 70_000].as_slice());
        ws.close(None).await.unwrap();
        // The server answers the close; the stream then ends.
        while let Some(message) = ws.next().await {
            if message.is_err() {
                break;
            }
        }

        // The same connector refuses a certificate its roots do not cover.
        let port = tls_server(PKI.wrong_host.acceptor()).await;
        let err = tokio_tungstenite::connect_async_tls_with_config(
            format!("wss://localhost:{port}/"),
            None,
            true,
            Some(connector),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("certificate"),
            "{err}"
        );
    })
    .await
    .unwrap();
}
