//! Diagnostics: a `tracing` span per connection (id, role, peer) and an
//! event for the handshake outcome, the close and which side sent it, and
//! a failure with its close code. A small subscriber of the test's own,
//! installed for the whole process (the server runs connections on threads
//! of their own), records every event with the fields of its span.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use wsock_blocking::{Acceptor, CloseCode, Message, Server};

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

/// Waits until an event with every one of `parts` was recorded.
fn wait_for(lines: &Mutex<Vec<String>>, parts: &[&str]) {
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

// One test: the subscriber is the process's.
#[test]
fn connections_report_handshakes_closes_and_failures() {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    tracing::subscriber::set_global_default(capture).unwrap();

    let server = Server::builder()
        .acceptor(Acceptor::new().max_message_size(8))
        .bind("127.0.0.1:0", |mut ws| {
            while let Ok(Some(message)) = ws.recv() {
                if message.is_data() && ws.send(message).is_err() {
                    break;
                }
            }
        })
        .unwrap();
    let addr = server.local_addr();

    // A clean connection.
    let mut ws = wsock_blocking::connect(format!("ws://{addr}/")).unwrap();
    ws.send("hi").unwrap();
    assert_eq!(ws.recv().unwrap().expect("a message"), Message::text("hi"));
    ws.send(Message::close(CloseCode::NORMAL, "bye")).unwrap();
    while let Ok(Some(_)) = ws.recv() {}
    wait_for(
        &lines,
        &["handshake done", "role=\"server\"", "peer=127.0.0.1:"],
    );
    wait_for(
        &lines,
        &["handshake done", "role=\"client\"", "peer=127.0.0.1:"],
    );
    wait_for(
        &lines,
        &[
            "close frame sent",
            "side=\"local\"",
            "code=1000",
            "reason=\"bye\"",
            "role=\"client\"",
        ],
    );
    wait_for(
        &lines,
        &[
            "close frame received",
            "side=\"peer\"",
            "code=1000",
            "role=\"server\"",
        ],
    );
    wait_for(
        &lines,
        &["connection ended", "clean=true", "role=\"server\""],
    );

    // A message over the limit: 1009.
    let mut ws = wsock_blocking::connect(format!("ws://{addr}/")).unwrap();
    ws.send("far more than eight bytes").unwrap();
    while let Ok(Some(_)) = ws.recv() {}
    wait_for(
        &lines,
        &[
            "connection failed",
            "kind=Capacity",
            "close_code=1009",
            "role=\"server\"",
        ],
    );
    wait_for(
        &lines,
        &["connection ended", "clean=false", "role=\"server\""],
    );

    // A malformed request: a 4xx.
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply);
    assert!(reply.starts_with(b"HTTP/1.1 4"), "{reply:?}");
    drop(tcp);
    wait_for(&lines, &["handshake failed", "status=4", "role=\"server\""]);

    server.shutdown(Duration::from_secs(2));
}
