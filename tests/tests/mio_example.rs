//! The core's `mio_echo` example (quoted whole in docs/guide-core.md),
//! run against real clients: echo, keepalive, the closing handshake,
//! handshake rejection and timeout. Also checks the guide quotes it
//! verbatim.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use wsock_blocking::{ClientBuilder, ErrorKind, Message};
use wsock_core::Config;

#[allow(dead_code, unreachable_pub)]
#[path = "../../crates/wsock-core/examples/mio_echo.rs"]
mod mio_echo;

/// Starts the example's server on a free port, on a background thread.
fn start(config: Config) -> SocketAddr {
    let listener = mio::net::TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || mio_echo::serve(listener, &config));
    addr
}

#[test]
fn echoes_and_closes_cleanly() {
    let addr = start(Config::default());
    let mut ws = ClientBuilder::new(format!("ws://{addr}/chat"))
        .read_timeout(Some(Duration::from_secs(10)))
        .connect()
        .unwrap();
    ws.send("hello").unwrap();
    assert_eq!(
        ws.recv().unwrap().expect("a message"),
        Message::text("hello")
    );
    // Larger than any single read or write: many wake-ups on both sides.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(big.clone()).unwrap();
    assert_eq!(ws.recv().unwrap().expect("a message"), Message::binary(big));
    ws.send(Message::ping(b"p".to_vec())).unwrap();
    assert_eq!(
        ws.recv().unwrap().expect("a message"),
        Message::pong(b"p".to_vec())
    );

    ws.send(Message::close(1000, "bye")).unwrap();
    match ws.recv().unwrap().expect("a message") {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert_eq!(ws.recv().unwrap(), None);
}

#[test]
fn many_clients_at_once() {
    let addr = start(Config::default());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut ws = wsock_blocking::connect(format!("ws://{addr}/")).unwrap();
                for j in 0..50 {
                    let text = format!("{i}-{j}");
                    ws.send(text.as_str()).unwrap();
                    assert_eq!(ws.recv().unwrap().expect("a message"), Message::text(text));
                }
                ws.send(Message::close(1000, "")).unwrap();
                while !matches!(ws.recv().unwrap().expect("a message"), Message::Close(_)) {}
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn keepalive_pings_and_drops_a_silent_peer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_millis(100));
    config.keepalive_timeout = Duration::from_millis(300);
    let addr = start(config);

    // A reading client answers the pings and stays connected.
    let mut ws = ClientBuilder::new(format!("ws://{addr}/"))
        .read_timeout(Some(Duration::from_secs(10)))
        .connect()
        .unwrap();
    assert!(matches!(
        ws.recv().unwrap().expect("a message"),
        Message::Ping(_)
    ));
    assert!(matches!(
        ws.recv().unwrap().expect("a message"),
        Message::Ping(_)
    ));
    ws.send("still here").unwrap();
    assert_eq!(
        ws.recv().unwrap().expect("a message"),
        Message::text("still here")
    );

    // A client that stops reading (so never answers) is dropped.
    let mut silent = ClientBuilder::new(format!("ws://{addr}/"))
        .read_timeout(Some(Duration::from_secs(10)))
        .connect()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let started = Instant::now();
    let err = loop {
        match silent.recv() {
            Ok(Some(Message::Ping(_))) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::AbnormalClose, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn rejects_a_request_that_is_not_an_upgrade() {
    let addr = start(Config::default());
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

#[test]
fn closes_a_handshake_that_never_finishes() {
    let mut config = Config::default();
    config.handshake.timeout = Some(Duration::from_millis(200));
    let addr = start(config);
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    tcp.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_guide_quotes_the_example_verbatim() {
    let guide = include_str!("../../docs/guide-core.md");
    let example = include_str!("../../crates/wsock-core/examples/mio_echo.rs");
    let start = guide
        .find("```rust,no_run\n//! A WebSocket echo server")
        .expect("docs/guide-core.md quotes examples/mio_echo.rs in a rust,no_run block");
    let body = &guide[start + "```rust,no_run\n".len()..];
    let end = body.find("\n```\n").expect("the code block ends");
    assert!(
        body[..=end] == *example,
        "docs/guide-core.md's copy of crates/wsock-core/examples/mio_echo.rs differs from the file: \
         paste the file into the guide again"
    );
}
