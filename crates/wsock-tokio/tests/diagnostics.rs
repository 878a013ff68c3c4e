//! Diagnostics: a `tracing` span per connection (id, role, peer) and an
//! event for the handshake outcome, the close and which side sent it, and
//! a failure with its close code. A small subscriber of the test's own
//! records every event with the fields of the span it belongs to.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wsock_tokio::{Acceptor, Message, Server};

/// Every event as one line: its message and fields, then its span's
/// fields in brackets.
#[derive(Default)]
struct Capture {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, String>>,
    lines: Arc<Mutex<Vec<String>>>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?} ");
        } else {
            let _ = write!(self.0, "{}={value:?} ", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = String::new();
        attrs.record(&mut Fields(&mut fields));
        self.spans.lock().unwrap().insert(id, fields);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(fields) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = String::new();
        event.record(&mut Fields(&mut line));
        if let Some(parent) = event.parent() {
            let spans = self.spans.lock().unwrap();
            let _ = write!(
                line,
                "[{}]",
                spans.get(&parent.into_u64()).map_or("", |s| s)
            );
        }
        self.lines.lock().unwrap().push(line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Runs `body` with a fresh capture as the thread's subscriber (the
/// tests run on a current-thread runtime, so every task reports to it).
async fn captured<F: std::future::Future<Output = ()>>(body: F) -> Vec<String> {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    let _guard = tracing::subscriber::set_default(capture);
    timeout(LIMIT, body).await.unwrap();
    // Let the server's tasks report the end of their connections.
    tokio::time::sleep(Duration::from_millis(100)).await;
    lines.lock().unwrap().clone()
}

fn find<'a>(lines: &'a [String], parts: &[&str]) -> &'a str {
    lines
        .iter()
        .find(|line| parts.iter().all(|p| line.contains(p)))
        .unwrap_or_else(|| panic!("no event with {parts:?} in {lines:#?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn a_clean_connection_reports_its_handshake_and_close() {
    let lines = captured(async {
        let server = Server::builder()
            .bind("127.0.0.1:0", |mut ws| async move {
                while let Ok(Some(message)) = ws.recv().await {
                    if message.is_data() && ws.send(message).await.is_err() {
                        break;
                    }
                }
            })
            .await
            .unwrap();
        let url = format!("ws://{}/", server.local_addr());
        let mut ws = wsock_tokio::connect(&url).await.unwrap();
        ws.send("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("hi")));
        ws.close(Some(wsock_tokio::CloseFrame::new(1000u16, "bye")))
            .await
            .unwrap();
        while ws.recv().await.unwrap().is_some() {}
        server.shutdown(Duration::from_secs(2)).await;
    })
    .await;
    find(
        &lines,
        &[
            "handshake done",
            "deflate=true",
            "role=\"server\"",
            "peer=127.0.0.1:",
        ],
    );
    find(
        &lines,
        &["handshake done", "role=\"client\"", "peer=127.0.0.1:"],
    );
    find(
        &lines,
        &[
            "close frame sent",
            "side=\"local\"",
            "code=1000",
            "reason=\"bye\"",
            "role=\"client\"",
        ],
    );
    find(
        &lines,
        &[
            "close frame received",
            "side=\"peer\"",
            "code=1000",
            "role=\"server\"",
        ],
    );
    find(
        &lines,
        &["connection ended", "clean=true", "role=\"server\""],
    );
}

#[tokio::test(flavor = "current_thread")]
async fn failures_report_their_close_code_and_status() {
    let lines = captured(async {
        let mut builder = Acceptor::new();
        builder = builder.max_message_size(8);
        let server = Server::builder()
            .acceptor(builder)
            .bind("127.0.0.1:0", |mut ws| async move {
                while let Ok(Some(_)) = ws.recv().await {}
            })
            .await
            .unwrap();
        let addr = server.local_addr();
        // A message over the limit: 1009.
        let mut ws = wsock_tokio::connect(&format!("ws://{addr}/"))
            .await
            .unwrap();
        ws.send("far more than eight bytes").await.unwrap();
        while let Ok(Some(_)) = ws.recv().await {}
        // A malformed request: 400.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = tcp.read_to_end(&mut reply).await;
        assert!(reply.starts_with(b"HTTP/1.1 4"), "{reply:?}");
        drop(tcp);
        // The refusal is reported once the server is done with the socket.
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.shutdown(Duration::from_secs(2)).await;
    })
    .await;
    find(
        &lines,
        &[
            "connection failed",
            "kind=Capacity",
            "close_code=1009",
            "role=\"server\"",
        ],
    );
    find(&lines, &["handshake failed", "status=4", "role=\"server\""]);
}
