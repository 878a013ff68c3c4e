//! wsock's HTTP/2 WebSocket client (RFC 8441) against an independent
//! implementation: Python's hypercorn serving an ASGI echo app
//! (`tests/python/hypercorn_echo.py`), over h2c with prior knowledge and
//! over TLS with ALPN `h2`: messages both ways, the subprotocol and
//! permessage-deflate (hypercorn's, from wsproto) negotiated, the closing
//! handshake, and several WebSockets on one connection at once.
//!
//! The interpreter: `$WSOCK_PYTHON` if set, else `python3`; it must import
//! `hypercorn`. Without it, the tests fail when `$CI` is set (and not
//! `false`/`0`), and print a skip notice and pass otherwise.
#![cfg(feature = "tls")]

mod common;
#[path = "../../wsock-tls/tests/common/pki.rs"]
mod pki;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;

use common::LIMIT;
use pki::{PKI, trusting_client};
use tokio::time::timeout;
use wsock_core::http::Version;
use wsock_hyper::http2::{Http2, Http2Client};
use wsock_tokio::{ClientBuilder, CloseFrame, Message, WebSocket};

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The Python that imports hypercorn, or `None` (after saying why) when
/// the test is skipped. Fails the test under CI.
fn python() -> Option<PathBuf> {
    static FOUND: Once = Once::new();
    static NOTICE: Once = Once::new();
    let path = std::env::var_os("WSOCK_PYTHON")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let probe = Command::new(&path)
        .args([
            "-c",
            "import importlib.metadata, hypercorn.asyncio; \
             print(importlib.metadata.version('hypercorn'))",
        ])
        .stdin(Stdio::null())
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => {
            FOUND.call_once(|| {
                let version = String::from_utf8_lossy(&out.stdout);
                let _ = writeln!(
                    std::io::stderr(),
                    "rfc8441_hypercorn: {} with hypercorn {}",
                    path.display(),
                    version.trim()
                );
            });
            return Some(path);
        }
        Ok(out) => format!(
            "{} cannot import hypercorn ({})",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("{} cannot be run ({e})", path.display()),
    };
    assert!(
        !on_ci(),
        "rfc8441_hypercorn: {why}. CI must provide Python with hypercorn: \
         python3 -m venv V && V/bin/pip install hypercorn, and export WSOCK_PYTHON=V/bin/python"
    );
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED rfc8441_hypercorn (all cases): {why}. To run them: python3 -m venv \
             target/interop-venv && target/interop-venv/bin/pip install hypercorn, then \
             WSOCK_PYTHON=$PWD/target/interop-venv/bin/python cargo test -p wsock-tokio \
             --test rfc8441_hypercorn (with CI set, this is a failure)"
        );
    });
    None
}

/// A hypercorn process on a loopback port, killed on drop, with the
/// certificate files it was given.
struct Hypercorn {
    child: Child,
    port: u16,
    dir: Option<PathBuf>,
}

impl Hypercorn {
    /// Starts the echo app, with TLS (the test PKI's `localhost`
    /// certificate) when `tls`; waits for its port.
    fn start(python: &Path, tls: bool) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/hypercorn_echo.py");
        let mut command = Command::new(python);
        command
            .arg(script)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its log of connections the tests drop (a TLS connection
            // ended without close_notify) is noise in a passing run.
            .stderr(Stdio::null());
        let dir = tls.then(|| {
            let dir = std::env::temp_dir().join(format!(
                "wsock-hypercorn-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("cert.pem"), &PKI.server.cert_pem).unwrap();
            std::fs::write(dir.join("key.pem"), &PKI.server.key_pem).unwrap();
            command.arg(dir.join("cert.pem")).arg(dir.join("key.pem"));
            dir
        });
        let mut child = command.spawn().expect("start hypercorn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("hypercorn_echo.py said {line:?}"));
        Self { child, port, dir }
    }
}

impl Drop for Hypercorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The app's greeting, then text, a large binary message, a ping and the
/// closing handshake.
async fn exchange<S>(ws: &mut WebSocket<S>, path: &str, protocol: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assert_eq!(ws.response().unwrap().http().version(), Version::HTTP_2);
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(Message::text(format!("http/2 {path} {protocol}")))
    );
    ws.send("héllo").await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("héllo")));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::binary(big)));
    ws.send(Message::ping(&b"p"[..])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::pong(&b"p"[..])));
    ws.close(Some(CloseFrame::new(4000, "done"))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8441_h2c_prior_knowledge_against_hypercorn() {
    let Some(python) = python() else { return };
    let server = Hypercorn::start(&python, false);
    timeout(LIMIT, async {
        let mut ws = Http2Client::new(
            ClientBuilder::new(format!("ws://127.0.0.1:{}/echo", server.port)).protocol("chat"),
        )
        .mode(Http2::PriorKnowledge)
        .connect()
        .await
        .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        assert!(ws.extensions().deflate().is_some(), "deflate negotiated");
        exchange(&mut ws, "/echo", "chat").await;
        assert!(ws.stats().messages_received > 0);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8441_tls_alpn_h2_against_hypercorn() {
    let Some(python) = python() else { return };
    let server = Hypercorn::start(&python, true);
    timeout(LIMIT, async {
        let connector = trusting_client().build().unwrap();
        for mode in [Http2::Require, Http2::Prefer] {
            let mut ws = Http2Client::new(
                ClientBuilder::new(format!("wss://localhost:{}/tls", server.port))
                    .tls_connector(connector.clone()),
            )
            .mode(mode)
            .connect()
            .await
            .unwrap();
            assert_eq!(ws.tls_info().unwrap().alpn_str(), Some("h2"), "{mode:?}");
            assert_eq!(ws.protocol(), None);
            assert!(ws.extensions().deflate().is_some());
            exchange(&mut ws, "/tls", "-").await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8441_websockets_share_a_connection_to_hypercorn() {
    let Some(python) = python() else { return };
    let server = Hypercorn::start(&python, true);
    timeout(LIMIT, async {
        let connection = Http2Client::new(
            ClientBuilder::new(format!("wss://localhost:{}/", server.port))
                .tls_connector(trusting_client().build().unwrap()),
        )
        .connection()
        .await
        .unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let connection = connection.clone();
                let url = format!("wss://localhost:{}/{i}", server.port);
                tokio::spawn(async move {
                    let mut ws = connection
                        .websocket_with(&ClientBuilder::new(url).protocol("chat"))
                        .await
                        .unwrap();
                    exchange(&mut ws, &format!("/{i}"), "chat").await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .unwrap();
}
