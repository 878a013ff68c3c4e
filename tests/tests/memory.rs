//! Resident memory per idle open connection, for the tokio and blocking
//! `Server` helpers, measured from /proc/self/status. Alone in its own test
//! binary (one test), so the process's resident set measures this only.
//! The clients are raw sockets in this process: they hold kernel memory,
//! not resident user memory, so the growth is the servers'.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{bounded, crowd, rss_kib, rss_per_connection, upgraded, wait_for};

/// Connections measured: as many as the descriptor limit allows, up to
/// this many.
const CONNECTIONS: usize = 1000;

/// Opens `n` upgraded raw connections to `addr`.
fn open(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| upgraded(addr)).collect()
}

#[test]
fn resident_memory_per_idle_connection() {
    // The warm-up's 100 connections may still be closing meanwhile.
    let connections = crowd(CONNECTIONS + 100) - 100;
    bounded(120, move || {
        // tokio: a task per connection, waiting in `recv`.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(async {
            wsock_tokio::Server::builder()
                .max_handshakes(connections)
                .bind(
                    "127.0.0.1:0",
                    |mut ws: wsock_tokio::WebSocket<tokio::net::TcpStream>| async move {
                        while let Ok(Some(_)) = ws.recv().await {}
                    },
                )
                .await
                .unwrap()
        });
        let addr = server.local_addr();
        // Warm up the runtime, the allocator and the listener.
        drop(open(addr, 100));
        wait_for(|| server.connections() == 0);
        let before = rss_kib();
        let conns = open(addr, connections);
        wait_for(|| server.connections() == connections && server.handshakes() == 0);
        let tokio_kib = rss_per_connection(before, connections);
        drop(conns);
        rt.block_on(server.shutdown(Duration::from_secs(5)));
        drop(rt);

        // blocking: a thread per connection, waiting in `read`.
        let server = wsock_blocking::Server::builder()
            .max_handshakes(connections)
            .bind("127.0.0.1:0", |mut ws| while let Ok(Some(_)) = ws.recv() {})
            .unwrap();
        let addr = server.local_addr();
        drop(open(addr, 100));
        wait_for(|| server.connections() == 0);
        let before = rss_kib();
        let conns = open(addr, connections);
        wait_for(|| server.connections() == connections);
        let blocking_kib = rss_per_connection(before, connections);
        drop(conns);
        server.shutdown(Duration::from_secs(5));

        eprintln!(
            "resident memory per idle connection: tokio {tokio_kib:.1} KiB, \
             blocking {blocking_kib:.1} KiB ({connections} connections, VmRSS)"
        );
        // Generous bounds: the figures themselves are in docs/limits.md.
        assert!(tokio_kib < 32.0, "tokio: {tokio_kib:.1} KiB per connection");
        assert!(
            blocking_kib < 256.0,
            "blocking: {blocking_kib:.1} KiB per connection"
        );
    });
}
