//! Helpers for the hardening tests: servers to attack (the `wsock serve`
//! binary, the tokio and blocking `Server` helpers in process), a raw
//! client that speaks bytes, and frame reading.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest any single read in these tests waits.
pub const READ_LIMIT: Duration = Duration::from_secs(5);

/// The limits every attacked server runs with (the CLI's flags and the
/// in-process servers' settings agree).
pub const MAX_FRAME: usize = 64 * 1024;
pub const MAX_HANDSHAKES: usize = 64;
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(1500);
pub const IDLE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Timers may fire this much early (clock granularity) in the checks.
pub const SLACK: Duration = Duration::from_millis(100);

/// Runs `f` on a thread and fails the test if it takes longer than `secs`.
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test took longer than {secs} s"),
    }
}

// ------------------------------------------------------------ servers

/// The `wsock` binary, built alongside this test in the same target
/// directory (`cargo test --workspace` builds it).
pub fn wsock_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test>-<hash>
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join(format!("wsock{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build the CLI first (cargo build -p wsock-cli) or run \
         the workspace's tests (cargo test --workspace)",
        bin.display()
    );
    bin
}

/// A server under attack.
pub enum Target {
    /// `wsock serve` in a child process (killed on drop).
    Cli(Child),
    /// `wsock_tokio::Server` on a runtime of its own.
    Tokio(tokio::runtime::Runtime, Option<wsock_tokio::Server>),
    /// `wsock_blocking::Server`.
    Blocking(Option<wsock_blocking::Server>),
}

pub struct Attacked {
    pub target: Target,
    pub addr: SocketAddr,
    pub name: &'static str,
}

impl Drop for Attacked {
    fn drop(&mut self) {
        match &mut self.target {
            Target::Cli(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Target::Tokio(rt, server) => {
                if let Some(server) = server.take() {
                    rt.block_on(server.shutdown(Duration::from_millis(200)));
                }
            }
            Target::Blocking(server) => {
                if let Some(server) = server.take() {
                    server.shutdown(Duration::from_millis(200));
                }
            }
        }
    }
}

pub fn cli_server(runtime: &str) -> Attacked {
    let mut child = Command::new(wsock_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--runtime", runtime])
        .args(["--max-frame-size", &MAX_FRAME.to_string()])
        .args(["--max-handshakes", &MAX_HANDSHAKES.to_string()])
        .args([
            "--handshake-timeout",
            &HANDSHAKE_TIMEOUT.as_secs_f64().to_string(),
        ])
        .args(["--idle-timeout", &IDLE_TIMEOUT.as_secs_f64().to_string()])
        .args(["--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsock serve");
    let addr = announced_addr(&mut child);
    Attacked {
        target: Target::Cli(child),
        addr,
        name: "wsock serve",
    }
}

/// The address `wsock serve` announces on stderr (`listening on ws://…`);
/// stderr is drained from then on, so the pipe never fills.
pub fn announced_addr(child: &mut Child) -> SocketAddr {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        // Keep draining so the pipe never fills.
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let (Some(addr), Some(tx)) = (line.strip_prefix("listening on ws://"), tx.take()) {
                let _ = tx.send(addr.trim().parse::<SocketAddr>().unwrap());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("wsock serve announces its address")
}

pub fn tokio_acceptor() -> wsock_tokio::Acceptor {
    wsock_tokio::Acceptor::new()
        .max_frame_size(MAX_FRAME)
        .handshake_timeout(Some(HANDSHAKE_TIMEOUT))
        .idle_timeout(Some(IDLE_TIMEOUT))
}

pub fn tokio_server() -> Attacked {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        wsock_tokio::Server::builder()
            .acceptor(tokio_acceptor())
            .max_handshakes(MAX_HANDSHAKES)
            .bind("127.0.0.1:0", tokio_echo)
            .await
            .unwrap()
    });
    Attacked {
        addr: server.local_addr(),
        target: Target::Tokio(rt, Some(server)),
        name: "wsock_tokio::Server",
    }
}

pub async fn tokio_echo(mut ws: wsock_tokio::WebSocket<tokio::net::TcpStream>) {
    while let Ok(Some(message)) = ws.recv().await {
        if message.is_data() && ws.send(message).await.is_err() {
            break;
        }
    }
}

pub fn blocking_acceptor() -> wsock_blocking::Acceptor {
    wsock_blocking::Acceptor::new()
        .max_frame_size(MAX_FRAME)
        .handshake_timeout(Some(HANDSHAKE_TIMEOUT))
        .idle_timeout(Some(IDLE_TIMEOUT))
}

pub fn blocking_server() -> Attacked {
    let server = wsock_blocking::Server::builder()
        .acceptor(blocking_acceptor())
        .max_handshakes(MAX_HANDSHAKES)
        .bind("127.0.0.1:0", blocking_echo)
        .unwrap();
    Attacked {
        addr: server.local_addr(),
        target: Target::Blocking(Some(server)),
        name: "wsock_blocking::Server",
    }
}

pub fn blocking_echo(mut ws: wsock_blocking::WebSocket<TcpStream>) {
    while let Ok(Some(message)) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            break;
        }
    }
}

// ------------------------------------------------------------ raw client

pub const REQUEST: &str = "GET /attack HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

pub fn connect(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(READ_LIMIT)).unwrap();
    tcp.set_write_timeout(Some(READ_LIMIT)).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp
}

/// Reads an HTTP response head (byte by byte, so nothing after it is
/// consumed) and returns its status.
pub fn read_status(tcp: &mut TcpStream) -> u16 {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "response ended early ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
        assert!(head.len() < 16 * 1024, "response head too long");
    }
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A raw connection after a successful opening handshake.
pub fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut tcp = connect(addr);
    tcp.write_all(REQUEST.as_bytes()).unwrap();
    assert_eq!(read_status(&mut tcp), 101);
    tcp
}

/// A frame as a client sends it: masked with a fixed key unless `masked`
/// is false.
pub fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let m = if masked { 0x80 } else { 0 };
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n < 65536 => {
            out.push(m | 0x7e);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 0x7f);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads one (unmasked) server frame: `(first byte, payload)`, or `None`
/// at end of stream (or a reset) before a frame starts.
pub fn read_frame(tcp: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).ok()?;
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    tcp.read_exact(&mut payload).unwrap();
    Some((head[0], payload))
}

/// Reads frames until a close frame; returns its code (`None` for an
/// empty close). Panics at end of stream first.
pub fn read_close_code(tcp: &mut impl Read) -> Option<u16> {
    loop {
        let (b0, payload) = read_frame(tcp).expect("a close frame before end of stream");
        if b0 & 0x0f == 0x8 {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
}

/// Whether the server ended the connection: end of stream or a reset
/// within the read limit (not a timeout).
pub fn ended(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A new client completes the handshake and an echo within one second.
pub fn assert_fresh_client_served(target: &Attacked, after: &str) {
    assert_fresh_client_served_within(target, after, Duration::from_secs(1));
}

/// A new client completes the handshake and an echo within `limit` (at
/// most [`READ_LIMIT`]).
pub fn assert_fresh_client_served_within(target: &Attacked, after: &str, limit: Duration) {
    let started = Instant::now();
    let mut tcp = upgraded(target.addr);
    tcp.write_all(&frame(0x81, b"fresh", true)).unwrap();
    let (b0, payload) = read_frame(&mut tcp).expect("an echo");
    let took = started.elapsed();
    assert_eq!((b0, payload.as_slice()), (0x81, &b"fresh"[..]));
    assert!(
        took < limit,
        "{}: a fresh client after {after} took {took:?}",
        target.name
    );
    let _ = tcp.write_all(&frame(0x88, &1000u16.to_be_bytes(), true));
}

// ------------------------------------------------------------ descriptors

/// Descriptors kept free for everything but a crowd of connections (the
/// runtime, the test harness, a child's pipes).
const MARGIN: usize = 128;
/// Descriptors one connection takes in this process at the worst: the
/// client's socket, the in-process server's, and the blocking `Server`'s
/// second handle to it (for shutdown).
const PER_CONNECTION: usize = 3;

/// Raises the soft descriptor limit towards `want` (as far as the hard
/// limit allows) and returns the limit in force.
pub fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= want {
        return current;
    }
    let target = limit.maximum.map_or(want, |max| max.min(want));
    limit.current = Some(target);
    if setrlimit(Resource::Nofile, limit).is_ok() {
        target
    } else {
        current
    }
}

/// How many of `want` connections fit, each needing [`PER_CONNECTION`]
/// descriptors, with a margin for everything else; prints a notice when it
/// is fewer than `want`.
pub fn crowd(want: usize) -> usize {
    let limit = raise_nofile((want * PER_CONNECTION + MARGIN) as u64) as usize;
    let n = want.min(limit.saturating_sub(MARGIN) / PER_CONNECTION);
    if n < want {
        eprintln!(
            "notice: descriptor limit {limit}: {n} connections instead of {want} \
             (raise `ulimit -n` to run the full crowd)"
        );
    }
    assert!(
        n >= 200,
        "descriptor limit {limit} is too low for this test"
    );
    n
}

/// VmRSS of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Waits until `done` holds, up to ten seconds (servers settling).
pub fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "servers did not settle");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Resident KiB per connection: the growth from `before` (a [`rss_kib`]
/// reading) spread over `connections`, once the server has settled.
pub fn rss_per_connection(before: u64, connections: usize) -> f64 {
    std::thread::sleep(Duration::from_millis(300));
    let grown = u32::try_from(rss_kib().saturating_sub(before)).unwrap();
    f64::from(grown) / f64::from(u32::try_from(connections).unwrap())
}
