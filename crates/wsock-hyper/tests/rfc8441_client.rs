//! wsock's WebSocket client over HTTP/2 (RFC 8441, `wsock_hyper::http2`)
//! against wsock's own hyper server (`wsock_hyper::upgrade` under
//! hyper-util's `auto` server with `enable_connect_protocol`): h2c with
//! prior knowledge and TLS with ALPN `h2`, messages both ways and the
//! closing handshake, subprotocol and permessage-deflate, several
//! WebSockets on one connection at once, a server without extended
//! CONNECT, a stream the server resets, the server's stream limit, and
//! `Http2::Prefer` falling back to HTTP/1.1. (tests/hyper.rs has the
//! server's side of the same exchanges.)
#![cfg(feature = "tls")]

mod common;
#[path = "../../wsock-tls/tests/common/pki.rs"]
mod pki;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::LIMIT;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use pki::{PKI, trusting_client};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::timeout;
use wsock_core::handshake::server::UpgradeKind;
use wsock_core::http::Version;
use wsock_hyper::http2::{H2Stream, Http2, Http2Client, MaybeHttp2Stream};
use wsock_hyper::upgrade::{AcceptorExt, Body, Upgraded};
use wsock_tokio::{
    Accept, Acceptor, ClientBuilder, CloseCode, CloseFrame, ErrorKind, HandshakeError, Message,
    Timeout, WebSocket,
};

type ServerSocket = WebSocket<Upgraded>;

/// How the test server runs.
#[derive(Clone, Copy)]
struct Options {
    /// TLS, offering these ALPN protocols (else h2c and HTTP/1.1 in
    /// cleartext).
    alpn: Option<&'static [&'static [u8]]>,
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`.
    connect_protocol: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, if not hyper's default.
    max_streams: Option<u32>,
}

const H2C: Options = Options {
    alpn: None,
    connect_protocol: true,
    max_streams: None,
};
const TLS_H2: Options = Options {
    alpn: Some(&[b"h2", b"http/1.1"]),
    ..H2C
};

/// hyper-util's auto server on a loopback port: the accepted WebSockets
/// (`chat` chosen when offered) come out of the receiver.
async fn server(options: Options) -> (SocketAddr, mpsc::UnboundedReceiver<ServerSocket>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let tls = options.alpn.map(|alpn| {
        let acceptor = PKI
            .server
            .server_config()
            .alpn_protocols(alpn.iter().map(|p| p.to_vec()).collect())
            .build()
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::clone(acceptor.config()))
    });
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                let service = service_fn(move |mut request| {
                    let tx = tx.clone();
                    let response = match Acceptor::new().upgrade_with(&mut request, |request| {
                        Ok(if request.protocols().iter().any(|p| p == "chat") {
                            Accept::new().protocol("chat")
                        } else {
                            Accept::new()
                        })
                    }) {
                        Ok((response, upgrade)) => {
                            tokio::spawn(async move {
                                if let Ok(ws) = upgrade.await {
                                    let _ = tx.send(ws);
                                }
                            });
                            response
                        }
                        Err(refusal) => refusal,
                    };
                    std::future::ready(Ok::<hyper::Response<Body>, Infallible>(response))
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                if options.connect_protocol {
                    builder.http2().enable_connect_protocol();
                }
                if let Some(max) = options.max_streams {
                    builder.http2().max_concurrent_streams(max);
                }
                let _ = match tls {
                    Some(tls) => {
                        let Ok(tls) = tls.accept(tcp).await else {
                            return;
                        };
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(tls), service)
                            .await
                    }
                    None => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                            .await
                    }
                };
            });
        }
    });
    (addr, rx)
}

/// Echoes data messages until the end.
async fn echo(mut ws: ServerSocket) {
    while let Ok(Some(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            return;
        }
    }
}

/// Echoes every WebSocket the server accepts.
fn echo_all(mut accepted: mpsc::UnboundedReceiver<ServerSocket>) {
    tokio::spawn(async move {
        while let Some(ws) = accepted.recv().await {
            tokio::spawn(echo(ws));
        }
    });
}

fn tls_client(url: String) -> ClientBuilder {
    ClientBuilder::new(url).tls_connector(trusting_client().build().unwrap())
}

/// Text, binary (large, so flow control turns), a ping, then the closing
/// handshake from the client, against a server that checks it was HTTP/2.
async fn exchange(mut ws: WebSocket<MaybeHttp2Stream>, server: ServerSocket) {
    assert_eq!(ws.response().unwrap().http().version(), Version::HTTP_2);
    assert_eq!(
        server.request().unwrap().upgrade_kind(),
        UpgradeKind::ExtendedConnect
    );
    assert_eq!(ws.response().unwrap().status(), 200);
    assert_eq!(
        (ws.protocol(), server.protocol()),
        (Some("chat"), Some("chat"))
    );
    assert!(ws.extensions().deflate().is_some());
    assert!(server.extensions().deflate().is_some());
    let server = tokio::spawn(echo(server));
    ws.send("héllo").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("héllo")));
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::binary(big)));
    ws.send(Message::ping(&b"p"[..])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::pong(&b"p"[..])));
    ws.close(Some(CloseFrame::new(4000, "done"))).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn rfc8441_h2c_prior_knowledge_messages_subprotocol_deflate_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(H2C).await;
        let ws = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/chat")).protocol("chat"))
            .mode(Http2::PriorKnowledge)
            .connect()
            .await
            .unwrap();
        let server = accepted.recv().await.unwrap();
        assert_eq!(server.request().unwrap().path(), "/chat");
        exchange(ws, server).await;
    })
    .await
    .unwrap();
}

/// The default mode is `Prefer`; `Off` is HTTP/1.1 on the same transport
/// type, against a server that would speak HTTP/2.
#[tokio::test]
async fn default_mode_is_prefer_and_off_is_http11() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(TLS_H2).await;
        let client = Http2Client::new(
            tls_client(format!("wss://localhost:{}/", addr.port())).addresses([addr]),
        );
        let ws = client.connect().await.unwrap();
        assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("h2"));
        let peer = accepted.recv().await.unwrap();
        assert_eq!(
            peer.request().unwrap().upgrade_kind(),
            UpgradeKind::ExtendedConnect
        );
        assert!(ws.into_inner().is_http2());

        let mut ws = client.mode(Http2::Off).connect().await.unwrap();
        assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("http/1.1"));
        assert_eq!(ws.peer_addr().unwrap(), addr);
        let peer = accepted.recv().await.unwrap();
        assert_eq!(peer.request().unwrap().upgrade_kind(), UpgradeKind::Http11);
        let server = tokio::spawn(echo(peer));
        ws.send("over 1.1").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("over 1.1")));
        ws.close(None).await.unwrap();
        server.await.unwrap();
        let transport = ws.into_inner();
        assert!(!transport.is_http2() && transport.is_tls() && transport.tcp().is_some());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rfc8441_tls_alpn_h2_messages_subprotocol_deflate_close() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(TLS_H2).await;
        for mode in [Http2::Require, Http2::Prefer, Http2::PriorKnowledge] {
            let ws = Http2Client::new(
                tls_client(format!("wss://localhost:{}/chat", addr.port()))
                    .addresses([addr])
                    .protocol("chat"),
            )
            .mode(mode)
            .connect()
            .await
            .unwrap();
            assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("h2"), "{mode:?}");
            assert_eq!(ws.peer_addr().unwrap(), addr);
            exchange(ws, accepted.recv().await.unwrap()).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rfc8441_several_websockets_share_one_connection_concurrently() {
    timeout(LIMIT, async {
        let (addr, accepted) = server(TLS_H2).await;
        echo_all(accepted);
        let connection = Http2Client::new(
            tls_client(format!("wss://localhost:{}/", addr.port())).addresses([addr]),
        )
        .connection()
        .await
        .unwrap();
        assert_eq!(connection.tls_info().unwrap().alpn_str(), Some("h2"));
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let connection = connection.clone();
                tokio::spawn(async move {
                    let url = format!("wss://localhost:{}/{i}", addr.port());
                    let mut ws = connection.websocket(url).await.unwrap();
                    assert_eq!(ws.local_addr().unwrap(), connection.local_addr().unwrap());
                    for round in 0..20u32 {
                        let payload = vec![i; 1000 + round as usize * 997];
                        ws.send(payload.clone()).await.unwrap();
                        assert_eq!(ws.recv().await.unwrap(), Some(Message::binary(payload)));
                    }
                    ws.close(None).await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // The connection serves more after they ended, and refuses
        // another origin.
        let mut ws = connection
            .websocket(format!("wss://localhost:{}/again", addr.port()))
            .await
            .unwrap();
        ws.send("again").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("again")));
        let err = connection
            .websocket("wss://example.com/")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rfc8441_3_server_without_extended_connect_is_a_typed_error() {
    timeout(LIMIT, async {
        let no_connect = Options {
            connect_protocol: false,
            ..H2C
        };
        let (addr, _accepted) = server(no_connect).await;
        let err = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .mode(Http2::PriorKnowledge)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert_eq!(
            err.handshake_error(),
            Some(&HandshakeError::ExtendedConnectDisabled)
        );
        let err = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .connection()
            .await
            .unwrap_err();
        assert_eq!(
            err.handshake_error(),
            Some(&HandshakeError::ExtendedConnectDisabled)
        );
        // Over TLS too, where `Require` fails and `Prefer` falls back.
        let no_connect = Options {
            connect_protocol: false,
            ..TLS_H2
        };
        let (addr, mut accepted) = server(no_connect).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let err = Http2Client::new(tls_client(url.clone()).addresses([addr]))
            .mode(Http2::Require)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(
            err.handshake_error(),
            Some(&HandshakeError::ExtendedConnectDisabled)
        );
        let mut ws = Http2Client::new(tls_client(url).addresses([addr]))
            .mode(Http2::Prefer)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.response().unwrap().status(), 101);
        assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("http/1.1"));
        let server = accepted.recv().await.unwrap();
        assert_eq!(
            server.request().unwrap().upgrade_kind(),
            UpgradeKind::Http11
        );
        tokio::spawn(echo(server));
        ws.send("over 1.1").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("over 1.1")));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn prefer_falls_back_to_http11_when_the_server_picks_it_in_alpn() {
    timeout(LIMIT, async {
        let http11 = Options {
            alpn: Some(&[b"http/1.1"]),
            ..H2C
        };
        let (addr, mut accepted) = server(http11).await;
        let url = format!("wss://localhost:{}/", addr.port());
        let mut ws = Http2Client::new(tls_client(url.clone()).addresses([addr]))
            .mode(Http2::Prefer)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.response().unwrap().status(), 101);
        assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("http/1.1"));
        let peer = accepted.recv().await.unwrap();
        assert_eq!(peer.request().unwrap().upgrade_kind(), UpgradeKind::Http11);
        tokio::spawn(echo(peer));
        ws.send("fell back").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("fell back")));
        // `Require` does not fall back: a server that knows ALPN refuses
        // the offer of `h2` alone, and one that ignores ALPN is found out.
        let err = Http2Client::new(tls_client(url).addresses([addr]))
            .mode(Http2::Require)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        let no_alpn = Options {
            alpn: Some(&[]),
            ..H2C
        };
        let (addr, _accepted) = server(no_alpn).await;
        let err = Http2Client::new(
            tls_client(format!("wss://localhost:{}/", addr.port())).addresses([addr]),
        )
        .mode(Http2::Require)
        .connect()
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Handshake, "{err}");
        assert_eq!(
            err.handshake_error(),
            Some(&HandshakeError::Http2NotNegotiated(None))
        );
        // `Prefer` over ws:// is HTTP/1.1; `Require` needs prior knowledge.
        let (addr, mut accepted) = server(H2C).await;
        let ws = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .mode(Http2::Prefer)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.response().unwrap().status(), 101);
        assert!(ws.tls_info().is_none());
        let peer = accepted.recv().await.unwrap();
        assert_eq!(peer.request().unwrap().upgrade_kind(), UpgradeKind::Http11);
        let err = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .mode(Http2::Require)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn rfc8441_refusal_and_server_close_and_reset() {
    timeout(LIMIT, async {
        let (addr, mut accepted) = server(H2C).await;
        let connection = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .connection()
            .await
            .unwrap();
        // The server closes: the client sees its close frame, then the
        // stream's end.
        let mut ws = connection.websocket(format!("ws://{addr}/")).await.unwrap();
        let mut server = accepted.recv().await.unwrap();
        let closing = tokio::spawn(async move {
            server
                .close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "bye")))
                .await
        });
        match ws.recv().await.unwrap() {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("{other:?}"),
        }
        assert_eq!(ws.recv().await.unwrap(), None);
        closing.await.unwrap().unwrap();

        // The server's side of the stream dropped without a close (hyper
        // resets it): an abnormal close for the client.
        let mut ws = connection.websocket(format!("ws://{addr}/")).await.unwrap();
        let server = accepted.recv().await.unwrap();
        let stream = server.into_inner();
        drop(stream);
        let err = ws.recv().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{err}");
        assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
        assert_eq!(ws.recv().await.unwrap(), None);

        // The client aborts its stream: an abnormal close for the server.
        let ws = connection.websocket(format!("ws://{addr}/")).await.unwrap();
        let mut server = accepted.recv().await.unwrap();
        let stream: H2Stream = ws.into_inner();
        drop(stream);
        let err = server.recv().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_servers_stream_limit_makes_a_new_websocket_wait() {
    timeout(LIMIT, async {
        let one = Options {
            max_streams: Some(1),
            ..H2C
        };
        let (addr, accepted) = server(one).await;
        echo_all(accepted);
        let url = format!("ws://{addr}/");
        let connection = Http2Client::new(ClientBuilder::new(&url))
            .connection()
            .await
            .unwrap();
        let mut first = connection.websocket(&url).await.unwrap();
        first.send("one").await.unwrap();
        assert_eq!(first.recv().await.unwrap(), Some(Message::text("one")));
        // No stream is free while `first` is open: the handshake timeout
        // is what ends the wait.
        let err = connection
            .websocket_with(
                &ClientBuilder::new(&url).handshake_timeout(Some(Duration::from_millis(300))),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Handshake), "{err}");
        // One waiting while `first` closes gets its stream.
        let second = tokio::spawn({
            let (connection, url) = (connection.clone(), url.clone());
            async move { connection.websocket(url).await }
        });
        first.close(None).await.unwrap();
        drop(first);
        let mut second = second.await.unwrap().unwrap();
        second.send("two").await.unwrap();
        assert_eq!(second.recv().await.unwrap(), Some(Message::text("two")));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn prior_knowledge_to_an_http11_only_server_says_so() {
    timeout(LIMIT, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // The preface is not an HTTP/1.1 request: refused, closed.
            let _ = wsock_tokio::accept(tcp).await;
        });
        let err = Http2Client::new(ClientBuilder::new(format!("ws://{addr}/")))
            .mode(Http2::PriorKnowledge)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{err}");
        assert!(
            err.to_string().contains("HTTP/2 connection preface"),
            "{err}"
        );
    })
    .await
    .unwrap();
}
