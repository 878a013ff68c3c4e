//! Admission under load: every honest client is served, whatever the crowd.
//!
//! Each test runs against all four servers with their default admission
//! settings (at most 256 handshakes at once, stalled after 2 s, listen
//! backlog 1024): `wsock serve` with both runtimes, and the tokio and
//! blocking `Server` helpers in process. Clients are raw sockets on a
//! tokio runtime of the test's own, all started at once:
//!
//! * a burst of 2,000 clients, all held open together, is echoed in full;
//! * the same burst while 300 slowloris connections trickle their headers:
//!   every honest client is served, every slow one is closed by its
//!   deadline (the handshake timeout, counted from when it was admitted);
//! * a reconnect storm: 1,000 connections dropped without a close frame,
//!   then 1,000 new ones at once, all echoed;
//! * afterwards the server's descriptors and memory are back near where
//!   they started.
//!
//! The burst needs two descriptors per client in process (one for the
//! server): the tests raise their soft descriptor limit as far as the hard
//! limit allows and scale the crowd down to fit (printing a notice), so
//! they pass on a laptop's `ulimit -n 1024` too.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Attacked, Target, bounded, crowd, tokio_echo, wsock_bin};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The crowd the issue asks for; scaled down when descriptors are short.
const BURST: usize = 2000;
const SLOWLORIS: usize = 300;
const STORM: usize = 1000;

/// The default handshake timeout, which honest clients in a burst must
/// never come near, even on a loaded machine.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowloris test's handshake timeout: shorter, to keep it quick.
const SLOWLORIS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// The default `evict_after`.
const EVICT_AFTER: Duration = Duration::from_secs(2);

/// One crowd at a time: the tests share the process's descriptors, and
/// their timings mean something only when they do not share the cores.
static ONE_CROWD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How long one honest client may take, burst and backlog included.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);

const REQUEST: &[u8] = b"GET /admission HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

// ------------------------------------------------------------ descriptors

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// ------------------------------------------------------------ servers

/// A server with the default admission settings, and the process that
/// holds its descriptors (this one, for the in-process helpers).
struct Served {
    attacked: Attacked,
    pid: u32,
}

impl Served {
    fn connections(&self) -> Option<usize> {
        match &self.attacked.target {
            Target::Tokio(_, Some(server)) => Some(server.connections()),
            Target::Blocking(Some(server)) => Some(server.connections()),
            _ => None,
        }
    }
}

fn servers(handshake_timeout: Duration) -> Vec<Served> {
    vec![
        cli("tokio", handshake_timeout),
        cli("blocking", handshake_timeout),
        tokio_server(handshake_timeout),
        blocking_server(handshake_timeout),
    ]
}

fn cli(runtime: &str, handshake_timeout: Duration) -> Served {
    let mut child = Command::new(wsock_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--runtime", runtime])
        .args([
            "--handshake-timeout",
            &handshake_timeout.as_secs().to_string(),
        ])
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsock serve");
    let addr = common::announced_addr(&mut child);
    let pid = child.id();
    Served {
        attacked: Attacked {
            target: Target::Cli(child),
            addr,
            name: if runtime == "tokio" {
                "wsock serve --runtime tokio"
            } else {
                "wsock serve --runtime blocking"
            },
        },
        pid,
    }
}

fn tokio_server(handshake_timeout: Duration) -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        wsock_tokio::Server::builder()
            .acceptor(wsock_tokio::Acceptor::new().handshake_timeout(Some(handshake_timeout)))
            .bind("127.0.0.1:0", tokio_echo)
            .await
            .unwrap()
    });
    Served {
        attacked: Attacked {
            addr: server.local_addr(),
            target: Target::Tokio(rt, Some(server)),
            name: "wsock_tokio::Server",
        },
        pid: std::process::id(),
    }
}

fn blocking_server(handshake_timeout: Duration) -> Served {
    let server = wsock_blocking::Server::builder()
        .acceptor(wsock_blocking::Acceptor::new().handshake_timeout(Some(handshake_timeout)))
        .bind("127.0.0.1:0", common::blocking_echo)
        .unwrap();
    Served {
        attacked: Attacked {
            addr: server.local_addr(),
            target: Target::Blocking(Some(server)),
            name: "wsock_blocking::Server",
        },
        pid: std::process::id(),
    }
}

// ------------------------------------------------------------ clients

/// An honest client: opening handshake, one echoed message. Returns the
/// connection, still open.
async fn honest(addr: SocketAddr, n: usize) -> Result<TcpStream, String> {
    let mut tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    tcp.write_all(REQUEST)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = read_head(&mut tcp).await?;
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("status line {status:?}"));
    }
    let text = format!("hello from client {n}");
    tcp.write_all(&common::frame(0x81, text.as_bytes(), true))
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head)
        .await
        .map_err(|e| format!("echo: {e}"))?;
    let mut payload = vec![0u8; (head[1] & 0x7f) as usize];
    tcp.read_exact(&mut payload)
        .await
        .map_err(|e| format!("echo: {e}"))?;
    if head[0] != 0x81 || payload != text.as_bytes() {
        return Err(format!("echo was {head:?} {payload:?}"));
    }
    Ok(tcp)
}

/// Reads the response head and returns its first line.
async fn read_head(tcp: &mut TcpStream) -> Result<String, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tcp.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            Ok(_) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&head))),
            Err(e) => return Err(format!("response: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&head);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// `n` honest clients started at once, each bounded by [`CLIENT_LIMIT`];
/// all must succeed. They stay open until every one has been echoed, so
/// the server holds all of them at the same time, and are returned open.
async fn burst(addr: SocketAddr, n: usize, name: &str) -> Vec<TcpStream> {
    let all_echoed = Arc::new(tokio::sync::Barrier::new(n));
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let all_echoed = Arc::clone(&all_echoed);
            tokio::spawn(async move {
                let result = tokio::time::timeout(CLIENT_LIMIT, honest(addr, i)).await;
                let result = result.unwrap_or_else(|_| Err("timed out".into()));
                // Wait for the others even after a failure, so none waits
                // forever; the failure is reported below.
                all_echoed.wait().await;
                result
            })
        })
        .collect();
    let mut open = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(tcp) => open.push(tcp),
            Err(e) => failures.push(format!("client {i}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {n} clients not served, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    eprintln!(
        "{name}: {n} clients served and held open together in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    open
}

/// A slowloris connection: the request line, then one header byte every
/// 250 ms, never finishing. Returns how long after connecting the server
/// closed it (`None`: the server answered 101, which must not happen).
async fn slowloris(addr: SocketAddr) -> Result<Duration, String> {
    let started = Instant::now();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        if writer
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            return;
        }
        for b in b"X-Slow: yes\r\n".iter().cycle() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if writer.write_all(&[*b]).await.is_err() {
                return;
            }
        }
    });
    // Anything the server says before closing must not be a 101.
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 256];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    trickle.abort();
    closed.map_err(|_| "still open after 30 s".to_owned())?;
    if answer.starts_with(b"HTTP/1.1 101") {
        return Err("a slowloris connection was upgraded".into());
    }
    Ok(started.elapsed())
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until the server holds no connection (in process) and its
/// process's descriptors are back within `slack` of `baseline`.
fn assert_back_to_baseline(served: &Served, fds_before: usize, rss_before: u64) {
    let name = served.attacked.name;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let idle = served.connections().is_none_or(|n| n == 0);
        let fds = open_descriptors(served.pid);
        if idle && fds <= fds_before + 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {} connections and {fds} descriptors (before: {fds_before}) 15 s after the clients left",
            served.connections().unwrap_or(0)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss = rss_kib(served.pid);
    eprintln!(
        "{name}: back to {} descriptors (before: {fds_before}); resident {rss} KiB (before: {rss_before} KiB)",
        open_descriptors(served.pid)
    );
    // Freed memory the allocator keeps for reuse is fine; connection state
    // held on is not (2,000 connections of a few KiB each would show).
    // A thread-per-connection server also keeps the stacks of ended
    // threads for reuse: glibc caches up to 40 MiB of them.
    let threads = if name.contains("blocking") {
        40 * 1024
    } else {
        0
    };
    assert!(
        rss < rss_before + 64 * 1024 + threads,
        "{name}: resident memory grew from {rss_before} KiB to {rss} KiB"
    );
}

/// Runs `scenario` (on the clients' runtime, with the server's address and
/// name) against every server in turn, then checks that each is back to
/// its baseline.
fn against_every_server<F, Fut>(handshake_timeout: Duration, scenario: F)
where
    F: Fn(SocketAddr, &'static str) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let _one = ONE_CROWD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    bounded(300, move || {
        let clients = client_runtime();
        for served in servers(handshake_timeout) {
            let (fds, rss) = (open_descriptors(served.pid), rss_kib(served.pid));
            clients.block_on(scenario(served.attacked.addr, served.attacked.name));
            assert_back_to_baseline(&served, fds, rss);
        }
    });
}

// ------------------------------------------------------------ tests

#[test]
fn a_burst_of_clients_is_served_completely() {
    let n = crowd(BURST);
    against_every_server(DEFAULT_HANDSHAKE_TIMEOUT, move |addr, name| async move {
        drop(burst(addr, n, name).await);
    });
}

#[test]
fn slowloris_does_not_keep_honest_clients_out() {
    // With descriptors to spare, more slowloris connections than handshake
    // slots (256), so that stalled ones must make room; with few, as many
    // as fit beside 200 honest clients.
    let total = crowd(BURST + SLOWLORIS);
    let slow_count = SLOWLORIS.min(total - 200);
    let n = (total - slow_count).min(BURST);
    against_every_server(SLOWLORIS_HANDSHAKE_TIMEOUT, move |addr, name| async move {
        let slow: Vec<_> = (0..slow_count)
            .map(|_| tokio::spawn(slowloris(addr)))
            .collect();
        // Let them take every handshake slot first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(burst(addr, n, name).await);
        // A slow connection is admitted at most `EVICT_AFTER` (and a round
        // of others) after it connects, and then closed by eviction or at
        // its handshake deadline.
        let bound = SLOWLORIS_HANDSHAKE_TIMEOUT + EVICT_AFTER + Duration::from_secs(2);
        let mut longest = Duration::ZERO;
        for task in slow {
            let took = task
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            longest = longest.max(took);
        }
        eprintln!(
            "{name}: {slow_count} slowloris connections closed, the last after {:.2} s",
            longest.as_secs_f64()
        );
        assert!(
            longest <= bound,
            "{name}: a slowloris connection stayed {longest:?} (bound {bound:?})"
        );
    });
}

#[test]
fn a_reconnect_storm_is_served_completely() {
    // The aborted connections may linger on the server side while the new
    // ones arrive: room for both crowds at the worst moment.
    let n = crowd(2 * STORM) / 2;
    against_every_server(DEFAULT_HANDSHAKE_TIMEOUT, move |addr, name| async move {
        let first = burst(addr, n, name).await;
        // Gone without a close frame: reset, as a dropped network or a
        // killed process leaves them.
        for tcp in first {
            let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            drop(tcp);
        }
        drop(burst(addr, n, name).await);
    });
}
