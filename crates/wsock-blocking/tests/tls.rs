//! `wss://` over loopback with certificates generated in the test: echo with
//! the CA trusted, each bad certificate rejected with its own kind (a
//! revoked one through a CRL among them), the development escape hatch,
//! mutual TLS, the server's TLS handshake timeout, a CONNECT proxy for
//! `ws://` and `wss://` (explicit, and from the real environment in a child
//! process), its refusals, and interop with tungstenite over rustls.
#![cfg(feature = "tls")]

#[path = "../../wsock-tls/tests/common/child.rs"]
#[allow(dead_code, unreachable_pub)]
mod child;
mod common;
#[path = "../../wsock-tls/tests/common/pki.rs"]
mod pki;
#[path = "../../wsock-tls/tests/common/test_proxy.rs"]
mod test_proxy;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::bounded;
use pki::{Identity, PKI, ca_pem, crl_pem, trusting_client};
use test_proxy::{LoggingProxy, Mode, spawn_proxy};
use wsock_blocking::tls::proxy::{ProxyConfig, ProxyCredentials, ProxyError};
use wsock_blocking::tls::{CertificateErrorKind, ClientTlsConfig, Pem, TlsAcceptor, TlsConnector};
use wsock_blocking::{ClientBuilder, ErrorKind, Message, Server, ServerTlsStream, WebSocket};

/// Echoes data messages; first tells the client what it saw of TLS: the
/// ALPN protocol and whether the client presented a certificate.
fn echo(mut ws: WebSocket<ServerTlsStream>) {
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
    if ws.send(hello).is_err() {
        return;
    }
    while let Ok(Some(message)) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            return;
        }
    }
}

fn tls_server(acceptor: TlsAcceptor) -> Server {
    Server::builder()
        .bind_tls("127.0.0.1:0", acceptor, echo)
        .unwrap()
}

/// Serves `ws://` on a loopback port: says "plain", then echoes data
/// messages.
fn plain_server() -> Server {
    Server::bind("127.0.0.1:0", |mut ws| {
        if ws.send("plain").is_err() {
            return;
        }
        while let Ok(Some(message)) = ws.recv() {
            if message.is_data() && ws.send(message).is_err() {
                return;
            }
        }
    })
    .unwrap()
}

fn connector(config: ClientTlsConfig) -> TlsConnector {
    config.build().unwrap()
}

#[test]
fn wss_echo_with_the_ca_trusted() {
    bounded(20, || {
        let server = tls_server(PKI.server.acceptor());
        let port = server.local_addr().port();
        // By host name (SNI) and by IP literal (no SNI, IP SAN).
        for host in ["localhost", "127.0.0.1"] {
            let mut ws = ClientBuilder::new(format!("wss://{host}:{port}/echo"))
                .tls_connector(connector(trusting_client()))
                .connect()
                .unwrap();
            assert!(ws.get_ref().is_tls());
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                Message::text("alpn=http/1.1 client-cert=false")
            );
            let info = ws.tls_info().unwrap();
            assert!(info.protocol_version.is_some());
            assert!(info.cipher_suite_name().is_some());
            assert_eq!(info.alpn_str(), Some("http/1.1"));
            assert_eq!(
                info.peer_certificate().unwrap().as_ref(),
                PKI.server.der.as_ref()
            );
            ws.send("over TLS").unwrap();
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                Message::text("over TLS")
            );
            let big = vec![7u8; 300_000];
            ws.send(big.clone()).unwrap();
            assert_eq!(ws.recv().unwrap().expect("a message"), Message::binary(big));
            ws.send(Message::close(1000, "done")).unwrap();
            assert!(matches!(
                ws.recv().unwrap().expect("a message"),
                Message::Close(_)
            ));
            assert_eq!(ws.recv().unwrap(), None);
        }
        assert_eq!(server.shutdown(Duration::from_secs(2)).forced, 0);
    });
}

#[test]
fn plain_ws_has_no_tls_info() {
    let server = Server::bind("127.0.0.1:0", |mut ws| {
        let _ = ws.recv();
    })
    .unwrap();
    let ws = wsock_blocking::connect(format!("ws://{}/", server.local_addr())).unwrap();
    assert!(ws.tls_info().is_none());
    assert!(!ws.get_ref().is_tls());
}

fn rejected_with(identity: &Identity, client: ClientTlsConfig) -> wsock_blocking::Error {
    let server = tls_server(identity.acceptor());
    let url = format!("wss://localhost:{}/", server.local_addr().port());
    ClientBuilder::new(&url)
        .tls_connector(connector(client))
        .connect()
        .unwrap_err()
}

#[test]
fn each_bad_certificate_has_its_own_kind() {
    bounded(20, || {
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
            let err = rejected_with(identity, client);
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert_eq!(err.certificate_error(), Some(kind), "{err}");
            // Also reachable as the error's source.
            let source = std::error::Error::source(&err).unwrap();
            let tls = source
                .downcast_ref::<wsock_blocking::tls::TlsError>()
                .unwrap();
            assert_eq!(tls.certificate_error(), Some(kind));
        }
        // Without the CRL, nothing says the revoked certificate is revoked.
        let server = tls_server(PKI.revoked.acceptor());
        let mut ws = ClientBuilder::new(format!("wss://localhost:{}/", server.local_addr().port()))
            .tls_connector(connector(trusting_client()))
            .connect()
            .unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Text(_)
        ));
    });
}

#[test]
fn the_default_connector_rejects_a_private_ca() {
    bounded(20, || {
        let server = tls_server(PKI.server.acceptor());
        let err =
            wsock_blocking::connect(format!("wss://localhost:{}/", server.local_addr().port()))
                .unwrap_err();
        assert_eq!(
            err.certificate_error(),
            Some(CertificateErrorKind::UnknownIssuer),
            "{err}"
        );
    });
}

#[test]
fn the_escape_hatch_accepts_what_is_otherwise_refused() {
    bounded(20, || {
        for identity in [&PKI.expired, &PKI.wrong_host] {
            // Off by default...
            let err = rejected_with(identity, trusting_client());
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            // ...and on when asked for, loudly.
            let server = tls_server(identity.acceptor());
            let url = format!("wss://localhost:{}/", server.local_addr().port());
            let mut ws = ClientBuilder::new(&url)
                .tls_connector(connector(
                    ClientTlsConfig::new().danger_accept_invalid_certs(true),
                ))
                .connect()
                .unwrap();
            assert!(matches!(
                ws.recv().unwrap().expect("a message"),
                Message::Text(_)
            ));
            ws.send("anyway").unwrap();
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                Message::text("anyway")
            );
        }
    });
}

#[test]
fn a_verification_callback_decides() {
    bounded(20, || {
        let server = tls_server(PKI.wrong_host.acceptor());
        let url = format!("wss://localhost:{}/", server.local_addr().port());
        let pinned = PKI.wrong_host.der.clone();
        let pin = ClientTlsConfig::new().verify_certificate_with(move |check| {
            if check.end_entity().as_ref() == pinned.as_ref() {
                wsock_blocking::tls::CertificateDecision::Accept
            } else {
                wsock_blocking::tls::CertificateDecision::Reject
            }
        });
        let mut ws = ClientBuilder::new(&url)
            .tls_connector(connector(pin))
            .connect()
            .unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Text(_)
        ));

        let server = tls_server(PKI.server.acceptor());
        let url = format!("wss://localhost:{}/", server.local_addr().port());
        let refuse = trusting_client()
            .verify_certificate_with(|_| wsock_blocking::tls::CertificateDecision::Reject);
        let err = ClientBuilder::new(&url)
            .tls_connector(connector(refuse))
            .connect()
            .unwrap_err();
        assert_eq!(
            err.certificate_error(),
            Some(CertificateErrorKind::RejectedByApplication),
            "{err}"
        );
    });
}

#[test]
fn mutual_tls_accepted_and_refused() {
    bounded(20, || {
        let acceptor = PKI
            .server
            .server_config()
            .require_client_certificate(ca_pem())
            .build()
            .unwrap();
        let server = tls_server(acceptor);
        let url = format!("wss://localhost:{}/", server.local_addr().port());

        let with_cert = trusting_client().client_certificate(
            Pem::bytes(PKI.client.cert_pem.clone()),
            Pem::bytes(PKI.client.key_pem.clone()),
        );
        let mut ws = ClientBuilder::new(&url)
            .tls_connector(connector(with_cert))
            .connect()
            .unwrap();
        // The server saw our certificate.
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("alpn=http/1.1 client-cert=true")
        );
        drop(ws);

        // No certificate, or one from another CA: the server refuses. With
        // TLS 1.3 the client learns it from the server's alert, during the
        // WebSocket handshake.
        let foreign = trusting_client().client_certificate(
            Pem::bytes(PKI.foreign_client.cert_pem.clone()),
            Pem::bytes(PKI.foreign_client.key_pem.clone()),
        );
        for client in [trusting_client(), foreign] {
            let err = ClientBuilder::new(&url)
                .tls_connector(connector(client))
                .connect()
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(err.tls_error().is_some(), "{err}");
        }
    });
}

#[test]
fn a_silent_client_does_not_hold_the_handshake_slot() {
    bounded(20, || {
        let acceptor = PKI
            .server
            .acceptor()
            .with_handshake_timeout(Some(Duration::from_millis(300)));
        let server = Server::builder()
            .max_handshakes(1)
            .bind_tls("127.0.0.1:0", acceptor, echo)
            .unwrap();
        let addr = server.local_addr();
        // Connects and says nothing: it takes the only handshake slot.
        let mut silent = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(50));

        let started = Instant::now();
        let mut ws = ClientBuilder::new(format!("wss://localhost:{}/", addr.port()))
            .tls_connector(connector(trusting_client()))
            .connect()
            .unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Text(_)
        ));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        // The silent client was dropped by the server.
        silent
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(matches!(silent.read(&mut buf), Ok(0) | Err(_)));
    });
}

#[test]
fn wss_through_a_connect_proxy() {
    bounded(20, || {
        let server = tls_server(PKI.server.acceptor());
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, Some(server.local_addr()));
        let url = format!("wss://localhost:{}/", server.local_addr().port());
        let mut ws = ClientBuilder::new(&url)
            .tls_connector(connector(trusting_client()))
            .proxy(
                ProxyConfig::new("127.0.0.1", proxy_addr.port())
                    .with_credentials(ProxyCredentials::new("alice", "s3cret")),
            )
            .connect()
            .unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Text(_)
        ));
        ws.send("tunnelled").unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("tunnelled")
        );
        drop(ws);
        let head = proxy.join().unwrap();
        assert!(
            head.starts_with(&format!(
                "CONNECT localhost:{} HTTP/1.1",
                server.local_addr().port()
            )),
            "{head}"
        );
    });
}

#[test]
fn a_proxy_without_credentials_says_407() {
    bounded(20, || {
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, None);
        let err = ClientBuilder::new("wss://localhost:1/")
            .proxy(ProxyConfig::new("127.0.0.1", proxy_addr.port()))
            .connect()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
        assert_eq!(err.proxy_error().and_then(ProxyError::status), Some(407));
        proxy.join().unwrap();
    });
}

#[test]
fn ws_through_a_connect_proxy() {
    bounded(20, || {
        let server = plain_server();
        let port = server.local_addr().port();
        let (proxy_addr, proxy) = spawn_proxy(Mode::RequireAuth, Some(server.local_addr()));
        let mut ws = ClientBuilder::new(format!("ws://127.0.0.1:{port}/"))
            .proxy(
                ProxyConfig::new("127.0.0.1", proxy_addr.port())
                    .with_credentials(ProxyCredentials::new("alice", "s3cret")),
            )
            .connect()
            .unwrap();
        assert!(!ws.get_ref().is_tls());
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("plain")
        );
        ws.send("plain, tunnelled").unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("plain, tunnelled")
        );
        ws.send(Message::close(1000, "done")).unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        drop(ws);
        let head = proxy.join().unwrap();
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
    });
}

#[test]
fn proxy_refusals_403_and_502_have_their_own_errors() {
    bounded(20, || {
        for (mode, url) in [
            (Mode::Forbid, "wss://localhost:1/"),
            (Mode::BadGateway, "ws://127.0.0.1:1/"),
        ] {
            let (proxy_addr, proxy) = spawn_proxy(mode, None);
            let err = ClientBuilder::new(url)
                .proxy(ProxyConfig::new("127.0.0.1", proxy_addr.port()))
                .connect()
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
            let source = std::error::Error::source(&err).unwrap();
            assert!(source.downcast_ref::<ProxyError>().is_some(), "{source}");
            let head = proxy.join().unwrap();
            let target = url
                .trim_start_matches("wss://")
                .trim_start_matches("ws://")
                .trim_end_matches('/');
            assert!(
                head.starts_with(&format!("CONNECT {target} HTTP/1.1")),
                "{head}"
            );
        }
    });
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
    #[test]
    fn child() {
        let Ok(urls) = std::env::var(URLS) else {
            return;
        };
        let ca = std::env::var(CA).unwrap();
        let opt_in = std::env::var(OPT_IN).unwrap() == "1";
        let address: Option<SocketAddr> = std::env::var(ADDRESS).ok().map(|a| a.parse().unwrap());
        bounded(15, move || {
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
                let mut ws = builder.connect().unwrap();
                assert_eq!(ws.get_ref().is_tls(), url.starts_with("wss:"), "{url}");
                // The servers greet first.
                assert!(matches!(
                    ws.recv().unwrap().expect("a message"),
                    Message::Text(_)
                ));
                ws.send(format!("hello from {url}")).unwrap();
                assert_eq!(
                    ws.recv().unwrap().expect("a message"),
                    Message::text(format!("hello from {url}"))
                );
                ws.send(Message::close(1000, "done")).unwrap();
                assert!(matches!(
                    ws.recv().unwrap().expect("a message"),
                    Message::Close(_)
                ));
            }
        });
        println!("{DONE}");
    }

    /// Runs [`child`] in a child process with `vars` set (every other proxy
    /// variable removed); fails unless it connected to every URL and echoed.
    /// The child is killed if it takes longer than [`child::CHILD_LIMIT`].
    fn run_child(urls: &[String], opt_in: bool, vars: &[(&str, String)]) {
        let mut remove = PROXY_VARS.to_vec();
        remove.push(ADDRESS);
        let mut set = vec![
            (URLS, OsString::from(urls.join(" "))),
            (OPT_IN, OsString::from(if opt_in { "1" } else { "0" })),
            (CA, OsString::from(&PKI.ca_pem)),
        ];
        set.extend(
            vars.iter()
                .map(|(name, value)| (*name, OsString::from(value))),
        );
        run_child_test("proxy_from_env::child", &remove, &set, DONE);
    }

    fn connect_line(target: &str) -> String {
        format!("CONNECT {target} HTTP/1.1")
    }

    #[test]
    fn http_proxy_carries_ws() {
        bounded(30, || {
            let server = plain_server();
            let port = server.local_addr().port();
            let proxy = LoggingProxy::spawn(Mode::RequireAuth, Some(server.local_addr()));
            let decoy = LoggingProxy::spawn(Mode::Forbid, None);
            // Credentials from the URL; HTTPS_PROXY is for wss:// only.
            let url = format!("http://alice:s3cret@{}", proxy.addr());
            run_child(
                &[format!("ws://127.0.0.1:{port}/")],
                true,
                &[("HTTP_PROXY", url), ("HTTPS_PROXY", decoy.url())],
            );
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
        });
    }

    #[test]
    fn all_proxy_is_the_fallback() {
        bounded(30, || {
            let server = plain_server();
            let port = server.local_addr().port();
            let proxy = LoggingProxy::spawn(Mode::Open, Some(server.local_addr()));
            run_child(
                &[format!("ws://127.0.0.1:{port}/")],
                true,
                &[("ALL_PROXY", proxy.url())],
            );
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("127.0.0.1:{port}"))]
            );
        });
    }

    #[test]
    fn https_proxy_carries_wss() {
        bounded(30, || {
            let server = tls_server(PKI.server.acceptor());
            let port = server.local_addr().port();
            let proxy = LoggingProxy::spawn(Mode::Open, Some(server.local_addr()));
            let decoy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[format!("wss://localhost:{port}/")],
                true,
                &[
                    ("HTTPS_PROXY", proxy.url()),
                    ("HTTP_PROXY", decoy.url()),
                    ("ALL_PROXY", decoy.url()),
                ],
            );
            // The tunnel is to the URL's host; TLS runs through it end to end.
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("localhost:{port}"))]
            );
            assert_eq!(decoy.accepted(), 0);
        });
    }

    #[test]
    fn no_proxy_with_the_address_goes_direct() {
        bounded(30, || {
            let plain = plain_server();
            let tls = tls_server(PKI.server.acceptor());
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[
                    format!("ws://127.0.0.1:{}/", plain.local_addr().port()),
                    format!("wss://127.0.0.1:{}/", tls.local_addr().port()),
                ],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("HTTPS_PROXY", proxy.url()),
                    ("ALL_PROXY", proxy.url()),
                    ("NO_PROXY", "example.com, 127.0.0.1".to_owned()),
                ],
            );
            // The proxy would have refused (403): the echo went direct.
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());
        });
    }

    #[test]
    fn no_proxy_with_a_domain_suffix_goes_direct() {
        bounded(30, || {
            let server = plain_server();
            let port = server.local_addr().port();
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            // echo.wsock.test is never resolved: `addresses` says where it is.
            run_child(
                &[format!("ws://echo.wsock.test:{port}/")],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("NO_PROXY", ".wsock.test".to_owned()),
                    (ADDRESS, server.local_addr().to_string()),
                ],
            );
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());

            // Control: a suffix that does not match leaves the proxy in use.
            let proxy = LoggingProxy::spawn(Mode::Open, Some(server.local_addr()));
            run_child(
                &[format!("ws://echo.wsock.test:{port}/")],
                true,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("NO_PROXY", ".other.test,wsock.test.example".to_owned()),
                    (ADDRESS, server.local_addr().to_string()),
                ],
            );
            assert_eq!(
                proxy.request_lines(),
                [connect_line(&format!("echo.wsock.test:{port}"))]
            );
        });
    }

    #[test]
    fn without_the_opt_in_the_environment_is_ignored() {
        bounded(30, || {
            let plain = plain_server();
            let tls = tls_server(PKI.server.acceptor());
            let proxy = LoggingProxy::spawn(Mode::Forbid, None);
            run_child(
                &[
                    format!("ws://127.0.0.1:{}/", plain.local_addr().port()),
                    format!("wss://localhost:{}/", tls.local_addr().port()),
                ],
                false,
                &[
                    ("HTTP_PROXY", proxy.url()),
                    ("HTTPS_PROXY", proxy.url()),
                    ("ALL_PROXY", proxy.url()),
                    ("http_proxy", proxy.url()),
                    ("https_proxy", proxy.url()),
                ],
            );
            assert_eq!(proxy.accepted(), 0, "{:?}", proxy.heads());
        });
    }
}

#[test]
fn interop_our_wss_client_and_tungstenite_server() {
    bounded(20, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = PKI.server.acceptor();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let tls = acceptor.accept_blocking_timeout(tcp).unwrap();
            let mut ws = tungstenite::accept(tls).unwrap();
            loop {
                match ws.read() {
                    Ok(m @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_))) => {
                        ws.send(m).unwrap();
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        let mut ws = ClientBuilder::new(format!("wss://localhost:{port}/"))
            .tls_connector(connector(trusting_client()))
            .connect()
            .unwrap();
        ws.send("hello tungstenite").unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("hello tungstenite")
        );
        ws.send(vec![1u8; 70_000]).unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::binary(vec![1u8; 70_000])
        );
        ws.send(Message::close(1000, "bye")).unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        server.join().unwrap();
    });
}

#[test]
fn interop_tungstenite_client_and_our_wss_server() {
    bounded(20, || {
        let server = tls_server(PKI.server.acceptor());
        let port = server.local_addr().port();
        let tcp = TcpStream::connect(server.local_addr()).unwrap();
        let tls = connector(trusting_client())
            .connect_blocking_timeout("localhost", tcp)
            .unwrap();
        let (mut ws, _) =
            tungstenite::client::client(format!("wss://localhost:{port}/"), tls).unwrap();
        let hello = ws.read().unwrap();
        assert_eq!(hello.to_text().unwrap(), "alpn=http/1.1 client-cert=false");
        ws.send(tungstenite::Message::text("hello wsock")).unwrap();
        assert_eq!(ws.read().unwrap().to_text().unwrap(), "hello wsock");
        ws.close(None).unwrap();
        loop {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let _ = ws.get_mut().flush();
        drop(ws);
        assert_eq!(server.shutdown(Duration::from_secs(2)).forced, 0);
    });
}

#[test]
fn shutting_down_a_tls_server_says_going_away() {
    bounded(20, || {
        let server = tls_server(PKI.server.acceptor());
        let url = format!("wss://localhost:{}/", server.local_addr().port());
        let mut ws = ClientBuilder::new(&url)
            .tls_connector(connector(trusting_client()))
            .connect()
            .unwrap();
        // The handler is now blocked reading.
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Text(_)
        ));
        let stopping = std::thread::spawn(move || server.shutdown(Duration::from_secs(5)));
        // The close frame is queued for the connection's thread, which
        // writes it when it wakes: here, for our next message.
        std::thread::sleep(Duration::from_millis(200));
        ws.send("still there?").unwrap();
        loop {
            match ws.recv().unwrap().expect("a message") {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code.as_u16(), 1001);
                    break;
                }
                Message::Text(_) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
        assert_eq!(ws.recv().unwrap(), None);
        assert_eq!(stopping.join().unwrap().forced, 0);
    });
}
