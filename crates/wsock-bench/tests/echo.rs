//! Every echo server of the benchmark, over loopback, driven by the load
//! generator itself: each completes the opening handshake with it, echoes
//! binary as binary and text as text, byte for byte (the generator checks),
//! with several messages in flight and in both styles. A peer whose
//! handshake or framing did not fit the generator would fail here, not
//! halfway through a benchmark.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wsock_bench::Kind;
use wsock_bench::echo::{self, Frames, Load, Server, Style, Tally};

/// Echoes the load generator needs before a run counts: fewer of the
/// large messages, which a debug build is slow to mask and validate.
fn echoes(size: usize) -> u64 {
    if size > 4096 { 8 } else { 64 }
}

/// Drives `connections` connections against `addr` until together they
/// have had [`echoes`] verified echoes, then stops them; every connection
/// must end cleanly.
async fn round(addr: SocketAddr, connections: usize, kind: Kind, size: usize, window: usize) {
    let load = Arc::new(Load {
        addr,
        connections,
        kind,
        size,
        window,
        deflate: false,
    });
    let frames = Arc::new(Frames::new(kind, size, window));
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (load, frames, tally) = (load.clone(), frames.clone(), tally.clone());
            tokio::spawn(async move { echo::drive(&load, &frames, &tally).await })
        })
        .collect();
    let mut tasks = tasks;
    while tally.echoed.load(Ordering::Relaxed) < echoes(size) {
        if let Some(done) = tasks.iter().position(tokio::task::JoinHandle::is_finished) {
            let outcome = tasks.swap_remove(done).await;
            panic!("a connection ended early: {outcome:?}");
        }
        tokio::task::yield_now().await;
    }
    // Each connection stops at its next echo.
    tally.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("no panic").expect("clean run");
    }
    assert_eq!(
        tally.ready.load(Ordering::Relaxed),
        connections as u64,
        "every handshake completed"
    );
}

/// The cases: small and large (64-bit length) messages of every kind.
const CASES: [(Kind, usize, usize); 4] = [
    (Kind::Binary, 16, 4),
    (Kind::Ascii, 1024, 4),
    (Kind::Multilingual, 70_000, 2),
    (Kind::Binary, 1 << 20, 2),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tokio_server_echoes_what_the_load_generator_sends() {
    for server in Server::ALL {
        for style in [Style::Loop, Style::Forward] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let serving = tokio::spawn(echo::serve(server, style, listener));
            for (kind, size, window) in CASES {
                eprintln!("{} {} {} {size}", server.name(), style.name(), kind.name());
                round(addr, 3, kind, size, window).await;
            }
            serving.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockudo_ws_echoes_a_short_round() {
    // The peer alone, as `wsock-bench serve sockudo-ws` runs it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(echo::serve(Server::SockudoWs, Style::Loop, listener));
    round(addr, 16, Kind::Ascii, 1024, 16).await;
    serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_threaded_server_echoes_what_the_load_generator_sends() {
    for server in Server::THREADED {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts until the test process ends.
        std::thread::spawn(move || echo::serve_threaded(server, &listener));
        for (kind, size, window) in CASES {
            eprintln!("{} {} {size}", server.name(), kind.name());
            round(addr, 3, kind, size, window).await;
        }
    }
}
