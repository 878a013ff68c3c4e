//! Diagnostics, the same from both adapters: a `tracing` span per
//! connection (id, role, peer) and events for the handshake's outcome, the
//! close and which side sent it, and a failure with its close code. A small
//! subscriber of the test's own, installed for the whole process (servers
//! run connections on threads and tasks of their own), records every event
//! with the fields of its span.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wsock_blocking::{CloseFrame, Message};

type Lines = Arc<Mutex<Vec<String>>>;

/// Every event as one line: its message and fields, then its span's
/// fields in brackets.
#[derive(Default)]
struct Capture {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, String>>,
    lines: Lines,
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

/// Waits until an event with every one of `parts` was recorded.
fn wait_for(lines: &Lines, parts: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| parts.iter().all(|p| line.contains(p)));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no event with {parts:?} in {:#?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a clean connection, one that breaks a limit and a malformed
/// request must have reported, whichever adapter served them.
fn expect_the_same_events(lines: &Lines) {
    let server = "role=\"server\"";
    let client = "role=\"client\"";
    for parts in [
        &["handshake done", "deflate=true", server, "peer=127.0.0.1:"][..],
        &["handshake done", client, "peer=127.0.0.1:"],
        &[
            "close frame sent",
            "side=\"local\"",
            "code=1000",
            "reason=\"bye\"",
            client,
        ],
        &["close frame received", "side=\"peer\"", "code=1000", server],
        &["connection ended", "clean=true", server],
        &[
            "connection failed",
            "kind=Capacity",
            "close_code=1009",
            server,
        ],
        &["connection ended", "clean=false", server],
        &["handshake failed", "status=4", server],
    ] {
        wait_for(lines, parts);
    }
}

/// A request the server must refuse with a 4xx.
fn send_a_malformed_request(addr: std::net::SocketAddr) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply);
    assert!(reply.starts_with(b"HTTP/1.1 4"), "{reply:?}");
}

fn blocking(lines: &Lines) {
    let server = wsock_blocking::Server::builder()
        .acceptor(wsock_blocking::Acceptor::new().max_message_size(8))
        .bind("127.0.0.1:0", |mut ws| {
            while let Ok(Some(message)) = ws.recv() {
                if message.is_data() && ws.send(message).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let mut ws = wsock_blocking::connect(&url).unwrap();
    ws.send("hi").unwrap();
    assert_eq!(ws.recv().unwrap(), Some(Message::text("hi")));
    ws.close(Some(CloseFrame::new(1000u16, "bye"))).unwrap();
    let mut ws = wsock_blocking::connect(&url).unwrap();
    ws.send("far more than eight bytes").unwrap();
    while let Ok(Some(_)) = ws.recv() {}
    send_a_malformed_request(server.local_addr());
    expect_the_same_events(lines);
    server.shutdown(Duration::from_secs(2));
}

fn tokio(lines: &Lines) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = wsock_tokio::Server::builder()
            .acceptor(wsock_tokio::Acceptor::new().max_message_size(8))
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
        ws.close(Some(CloseFrame::new(1000u16, "bye")))
            .await
            .unwrap();
        let mut ws = wsock_tokio::connect(&url).await.unwrap();
        ws.send("far more than eight bytes").await.unwrap();
        while let Ok(Some(_)) = ws.recv().await {}
        let addr = server.local_addr();
        tokio::task::spawn_blocking(move || send_a_malformed_request(addr))
            .await
            .unwrap();
        let lines = Arc::clone(lines);
        let expected = Arc::clone(&lines);
        tokio::task::spawn_blocking(move || expect_the_same_events(&expected))
            .await
            .unwrap();
        // A transport handed in: its handshake does not know the addresses,
        // and `with_addrs` puts the peer into the span (as wsock-hyper's
        // HTTP/1.1 fallback does).
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let addrs = (tcp.local_addr().unwrap(), tcp.peer_addr().unwrap());
        let mut ws = wsock_tokio::client(tcp, &url)
            .await
            .unwrap()
            .with_addrs(Some(addrs));
        ws.close(Some(CloseFrame::new(1000u16, "handed in")))
            .await
            .unwrap();
        let peer = format!("peer={}", addrs.1);
        tokio::task::spawn_blocking(move || {
            wait_for(
                &lines,
                &[
                    "close frame sent",
                    "reason=\"handed in\"",
                    "role=\"client\"",
                    &peer,
                ],
            );
        })
        .await
        .unwrap();
        server.shutdown(Duration::from_secs(2)).await;
    });
}

// One test: the subscriber is the process's. Each adapter runs the same
// connections and must report the same events.
#[test]
fn both_adapters_report_handshakes_closes_and_failures() {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    tracing::subscriber::set_global_default(capture).unwrap();
    blocking(&lines);
    lines.lock().unwrap().clear();
    tokio(&lines);
}
