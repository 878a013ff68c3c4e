//! Descriptor exhaustion, against the four servers (`wsock serve` on both
//! runtimes, `wsock_tokio::Server`, `wsock_blocking::Server`): each runs
//! in a child process with a soft limit of [`DESCRIPTOR_LIMIT`] open files,
//! and honest clients connect until one is left waiting because `accept`
//! fails (EMFILE). A server must then back off rather than spin or exit,
//! keep serving the connections it has, and accept the waiting client
//! (without it reconnecting) as soon as a connection ends. Connections then
//! end one at a time, as they do under load, and a fresh client is served.
//! The CLI must log the shortage once, as one episode: one warning, then
//! one line when accepting works again, not a pair per connection that
//! ends while the server is at its limit.
//!
//! A descriptor limit is process-wide, so the library servers run in a
//! child: this test binary again, with [`CHILD_SERVER_VAR`] set, which
//! makes [`descriptor_limited_server`] lower its own limit and serve.

mod common;

use std::io::{BufRead as _, BufReader, ErrorKind, Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use common::{READ_LIMIT, REQUEST, blocking_echo, bounded, connect, frame, read_frame, tokio_echo};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft limit on open files every server runs with.
const DESCRIPTOR_LIMIT: u64 = 64;
/// A client not upgraded within this long is waiting in the backlog.
const SERVE_WAIT: Duration = Duration::from_secs(1);
/// Fewest clients a server must have served before it runs out.
const MIN_SERVED: usize = 20;
/// Clients to try before concluding the limit never bites.
const MAX_CLIENTS: usize = 200;
/// How long the test keeps a server out of descriptors.
const EXHAUSTED_FOR: Duration = Duration::from_secs(2);
/// Most CPU time a server may burn over [`EXHAUSTED_FOR`] (a spinning
/// accept loop burns all of it).
const MAX_CPU_WHILE_EXHAUSTED: Duration = Duration::from_millis(300);
/// Served connections the test ends (one, then the rest) to free
/// descriptors.
const CLOSED: usize = 10;
/// How soon after the first of them ends the waiting client must be
/// served (and how soon the rest must have released theirs).
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);
/// Each test's bound, in seconds.
const TEST_LIMIT: u64 = 30;
/// The clock ticks `/proc/PID/stat` counts CPU time in (`USER_HZ`, 100
/// per second on Linux whatever the kernel's own tick).
const TICKS_PER_SECOND: u64 = 100;

/// Set in a child process: which library server (`tokio` or `blocking`)
/// [`descriptor_limited_server`] runs.
const CHILD_SERVER_VAR: &str = "WSOCK_TEST_DESCRIPTOR_LIMITED_SERVER";
/// How the child announces its address on stdout.
const CHILD_ADDR_PREFIX: &str = "descriptor-limited server on ";
/// How `wsock serve` announces its address on stderr.
const CLI_ADDR_PREFIX: &str = "listening on ws://";

// ------------------------------------------------------------ tests

#[test]
fn cli_tokio_runtime_backs_off_and_recovers() {
    let server = LimitedServer::cli("tokio");
    let probe = server.probe();
    bounded(TEST_LIMIT, move || {
        exhaust_and_recover(&probe);
        assert_episode_logged_once(&probe, &TOKIO_CLI_LINES);
    });
}

#[test]
fn cli_blocking_runtime_backs_off_and_recovers() {
    let server = LimitedServer::cli("blocking");
    let probe = server.probe();
    bounded(TEST_LIMIT, move || {
        exhaust_and_recover(&probe);
        assert_episode_logged_once(&probe, &BLOCKING_CLI_LINES);
    });
}

#[test]
fn tokio_server_backs_off_and_recovers() {
    let server = LimitedServer::library("tokio");
    let probe = server.probe();
    bounded(TEST_LIMIT, move || exhaust_and_recover(&probe));
}

#[test]
fn blocking_server_backs_off_and_recovers() {
    let server = LimitedServer::library("blocking");
    let probe = server.probe();
    bounded(TEST_LIMIT, move || exhaust_and_recover(&probe));
}

/// Not a test of its own: the library server in a child process when
/// [`CHILD_SERVER_VAR`] is set; returns at once otherwise.
#[test]
fn descriptor_limited_server() {
    let Ok(kind) = std::env::var(CHILD_SERVER_VAR) else {
        return;
    };
    lower_descriptor_limit(DESCRIPTOR_LIMIT);
    match kind.as_str() {
        "tokio" => serve_tokio_until_stdin_closes(),
        "blocking" => serve_blocking_until_stdin_closes(),
        other => panic!("{CHILD_SERVER_VAR}={other}: expected tokio or blocking"),
    }
}

// ------------------------------------------------------------ the scenario

/// What every test does: exhaust the server, hold it there, free
/// descriptors, and see it recover.
fn exhaust_and_recover(probe: &Probe) {
    let mut exhausted = serve_until_exhausted(probe);
    hold_exhausted(probe, &mut exhausted);
    free_descriptors_and_recover(probe, exhausted);
}

/// Clients served and kept open, and the one left waiting after them.
struct Exhausted {
    served: Vec<TcpStream>,
    waiting: TcpStream,
}

/// Opens honest clients one after another, each upgraded and echoed,
/// until one is not answered within [`SERVE_WAIT`].
fn serve_until_exhausted(probe: &Probe) -> Exhausted {
    let mut served = Vec::new();
    while served.len() < MAX_CLIENTS {
        let mut tcp = request_upgrade(probe.addr);
        if !switched_protocols(&mut tcp, SERVE_WAIT) {
            assert!(
                served.len() >= MIN_SERVED,
                "{}: only {} clients served before one waited",
                probe.name,
                served.len()
            );
            return Exhausted {
                served,
                waiting: tcp,
            };
        }
        assert_echoes(&mut tcp, format!("client {}", served.len()).as_bytes());
        served.push(tcp);
    }
    panic!(
        "{}: {MAX_CLIENTS} clients served; the descriptor limit never bit",
        probe.name
    );
}

/// Keeps the server out of descriptors for [`EXHAUSTED_FOR`]: it stays
/// alive, out of descriptors (so the waiting client gets nothing), serves
/// an early connection, and hardly uses the CPU.
fn hold_exhausted(probe: &Probe, exhausted: &mut Exhausted) {
    let free = free_descriptors(probe.pid);
    assert!(
        free.is_empty(),
        "{}: a client waits, yet descriptors {free:?} are free (below the limit of \
         {DESCRIPTOR_LIMIT}): something other than descriptors holds it back",
        probe.name
    );
    let cpu_before = cpu_time(probe.pid);
    std::thread::sleep(EXHAUSTED_FOR / 2);
    assert_alive(probe);
    assert_echoes(
        &mut exhausted.served[0],
        b"still served while out of descriptors",
    );
    std::thread::sleep(EXHAUSTED_FOR / 2);
    assert_alive(probe);
    let used = cpu_time(probe.pid).saturating_sub(cpu_before);
    assert!(
        used < MAX_CPU_WHILE_EXHAUSTED,
        "{}: {used:?} of CPU time in {EXHAUSTED_FOR:?} out of descriptors: the accept \
         loop spins",
        probe.name
    );
    assert_nothing_received(probe, &exhausted.waiting);
}

/// Ends served connections one at a time, as they end under load. The
/// first alone must let the waiting client in: upgraded and echoed within
/// [`RECOVERY_LIMIT`], on the connection it opened. Once [`CLOSED`] have
/// ended and their descriptors are free, a fresh client is served, and the
/// first connection still echoes.
fn free_descriptors_and_recover(probe: &Probe, exhausted: Exhausted) {
    let Exhausted {
        mut served,
        mut waiting,
    } = exhausted;
    let started = Instant::now();
    drop(served.pop());
    assert!(
        switched_protocols(&mut waiting, RECOVERY_LIMIT),
        "{}: the waiting client was not served within {RECOVERY_LIMIT:?} of a \
         connection ending",
        probe.name
    );
    assert_echoes(&mut waiting, b"served once a descriptor freed up");
    let took = started.elapsed();
    assert!(
        took < RECOVERY_LIMIT,
        "{}: the waiting client took {took:?} to be served and echoed",
        probe.name
    );
    served.truncate(served.len() - (CLOSED - 1));
    assert_descriptors_released(probe);
    let mut fresh = request_upgrade(probe.addr);
    assert!(
        switched_protocols(&mut fresh, SERVE_WAIT),
        "{}: a fresh client was not served once descriptors were free",
        probe.name
    );
    assert_echoes(&mut fresh, b"fresh after recovery");
    assert_echoes(&mut served[0], b"still served after recovery");
}

/// The server soon has descriptors free again, at least one for every
/// other connection that ended: it released theirs. (The fresh client
/// waits for this, so that it does not race their release.)
fn assert_descriptors_released(probe: &Probe) {
    let wanted = CLOSED / 2;
    let deadline = Instant::now() + RECOVERY_LIMIT;
    loop {
        let free = free_descriptors(probe.pid).len();
        if free >= wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{}: {free} descriptors free {RECOVERY_LIMIT:?} after {CLOSED} connections \
             ended; expected at least {wanted}",
            probe.name
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------ CLI log

/// How one CLI runtime logs an episode of failing `accept`s.
struct EpisodeLines {
    /// In the warning that an episode began.
    warning: &'static str,
    /// In the line that it ended.
    recovery: &'static str,
    /// Precedes the count of failed attempts in the recovery line.
    count_marker: &'static str,
}

/// `crates/wsock-cli/src/serve.rs`.
const TOKIO_CLI_LINES: EpisodeLines = EpisodeLines {
    warning: "accept failed: ",
    recovery: "accepting again after ",
    count_marker: "accepting again after ",
};

/// `wsock_blocking::listener`, through the CLI's `tracing` subscriber.
const BLOCKING_CLI_LINES: EpisodeLines = EpisodeLines {
    warning: "accept failing; retrying until resources free up",
    recovery: "accepting connections again",
    count_marker: "failures=",
};

/// The log has exactly one warning, and after it (with none before) a
/// recovery line counting at least one failed attempt.
fn assert_episode_logged_once(probe: &Probe, lines: &EpisodeLines) {
    let log = wait_for_line(probe, lines.recovery, READ_LIMIT);
    let warnings = positions(&log, lines.warning);
    let recoveries = positions(&log, lines.recovery);
    let shown = log.join("\n");
    assert_eq!(
        warnings.len(),
        1,
        "{}: one warning for one shortage expected; log:\n{shown}",
        probe.name
    );
    let recovery = recoveries.first().copied();
    assert!(
        recovery.is_some_and(|at| at > warnings[0]),
        "{}: no recovery line after the warning (or one before it); log:\n{shown}",
        probe.name
    );
    let count = recovery.and_then(|at| number_after(&log[at], lines.count_marker));
    assert!(
        count.is_some_and(|n| n >= 1),
        "{}: the recovery line counts no failed attempt; log:\n{shown}",
        probe.name
    );
}

/// Indexes of the lines containing `text`.
fn positions(log: &[String], text: &str) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, line)| line.contains(text))
        .map(|(i, _)| i)
        .collect()
}

/// The decimal number right after `marker` in `line`.
fn number_after(line: &str, marker: &str) -> Option<u64> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The log once a line containing `text` is in it, or after `limit`.
fn wait_for_line(probe: &Probe, text: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let log = probe.log_lines();
        if Instant::now() >= deadline || log.iter().any(|line| line.contains(text)) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------ raw client

/// A connection that has sent its upgrade request.
fn request_upgrade(addr: SocketAddr) -> TcpStream {
    let mut tcp = connect(addr);
    tcp.write_all(REQUEST.as_bytes()).unwrap();
    tcp
}

/// Waits up to `limit` for the response head: `true` for a 101, `false`
/// if none started to arrive. Anything else fails the test.
fn switched_protocols(tcp: &mut TcpStream, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && head.is_empty() {
            return false;
        }
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match tcp.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            Err(e) if is_timeout(&e) && head.is_empty() => return false,
            other => panic!(
                "response ended early ({other:?}) after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    tcp.set_read_timeout(Some(READ_LIMIT)).unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "not an upgrade: {:?}",
        String::from_utf8_lossy(&head)
    );
    true
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Sends `text` as a masked text frame and reads it back unmasked.
fn assert_echoes(tcp: &mut TcpStream, text: &[u8]) {
    tcp.write_all(&frame(0x81, text, true)).unwrap();
    let echo = read_frame(tcp).expect("an echo");
    assert_eq!((echo.0, echo.1.as_slice()), (0x81, text));
}

/// Nothing has arrived on `tcp` (the server has not accepted it).
fn assert_nothing_received(probe: &Probe, tcp: &TcpStream) {
    tcp.set_nonblocking(true).unwrap();
    let peeked = tcp.peek(&mut [0u8; 1]);
    tcp.set_nonblocking(false).unwrap();
    assert!(
        matches!(&peeked, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "{}: the waiting client got an answer ({peeked:?}) while the server was out \
         of descriptors",
        probe.name
    );
}

// ------------------------------------------------------------ the server process

/// A server in a child process with a low descriptor limit; killed when
/// dropped. Its stdout and stderr are collected line by line.
struct LimitedServer {
    child: Child,
    /// Held open so that a library child serves; closing it stops one.
    stdin: Option<ChildStdin>,
    probe: Probe,
}

/// What a test needs to reach and watch a [`LimitedServer`] from the
/// thread that [`bounded`] runs it on.
#[derive(Clone)]
struct Probe {
    name: &'static str,
    addr: SocketAddr,
    pid: u32,
    log: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn log_lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl LimitedServer {
    /// `wsock serve --runtime RUNTIME`, with the limit set by the shell
    /// that then becomes it; without `--quiet`, so that the recovery line
    /// shows, and without an idle timeout, so that only the test closes
    /// connections.
    fn cli(runtime: &str) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "ulimit -S -n {DESCRIPTOR_LIMIT} && exec \"$0\" \"$@\""
            ))
            .arg(common::wsock_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--runtime", runtime])
            .args(["--idle-timeout", "0"]);
        let name = match runtime {
            "tokio" => "wsock serve --runtime tokio",
            _ => "wsock serve --runtime blocking",
        };
        Self::spawn(command, name, CLI_ADDR_PREFIX)
    }

    /// This test binary again, running [`descriptor_limited_server`].
    fn library(kind: &str) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["descriptor_limited_server", "--exact", "--nocapture"])
            .args(["--test-threads=1"])
            .env(CHILD_SERVER_VAR, kind);
        let name = match kind {
            "tokio" => "wsock_tokio::Server",
            _ => "wsock_blocking::Server",
        };
        Self::spawn(command, name, CHILD_ADDR_PREFIX)
    }

    /// Starts `command` and waits for it to announce its address after
    /// `prefix`, on stdout or stderr.
    fn spawn(mut command: Command, name: &'static str, prefix: &'static str) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = mpsc::channel();
        collect_lines(child.stdout.take().unwrap(), &log, prefix, addr_tx.clone());
        collect_lines(child.stderr.take().unwrap(), &log, prefix, addr_tx);
        let stdin = child.stdin.take();
        let pid = child.id();
        // The guard first, so that the child is killed if it never
        // announces itself; the address is filled in then.
        let mut server = Self {
            child,
            stdin,
            probe: Probe {
                name,
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                pid,
                log,
            },
        };
        server.probe.addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!(
                    "{name} announced no address; output:\n{}",
                    server.probe.log_lines().join("\n")
                )
            });
        server
    }

    fn probe(&self) -> Probe {
        self.probe.clone()
    }
}

impl Drop for LimitedServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends each line of `pipe` to `log` on a thread of its own (so the
/// pipe never fills); sends the address that follows `prefix` in a line.
fn collect_lines(
    pipe: impl Read + Send + 'static,
    log: &Arc<Mutex<Vec<String>>>,
    prefix: &'static str,
    addr_tx: mpsc::Sender<SocketAddr>,
) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            // The test harness's `test NAME ... ` may come first.
            if let Some((_, addr)) = line.split_once(prefix)
                && let Ok(addr) = addr.trim().parse()
            {
                let _ = addr_tx.send(addr);
            }
            log.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    });
}

/// `utime + stime` of process `pid`.
fn cpu_time(pid: u32) -> Duration {
    let fields = stat_fields(pid);
    // Fields 14 and 15 of the file; the list starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// The fields of `/proc/PID/stat` after the command name, from the state
/// (field 3) on.
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("process {pid} is gone: {e}"));
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name.split_whitespace().map(str::to_owned).collect()
}

/// The server process is running (not exited, not a zombie).
fn assert_alive(probe: &Probe) {
    let state = stat_fields(probe.pid).swap_remove(0);
    assert!(
        !matches!(state.as_str(), "Z" | "X"),
        "{}: the server exited while out of descriptors; output:\n{}",
        probe.name,
        probe.log_lines().join("\n")
    );
}

/// The descriptor numbers below [`DESCRIPTOR_LIMIT`] that process `pid`
/// has free (the only ones it may open: `accept` fails with EMFILE when
/// there are none, however many inherited ones above the limit it has).
fn free_descriptors(pid: u32) -> Vec<u64> {
    let open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..DESCRIPTOR_LIMIT)
        .filter(|fd| !open.contains(fd))
        .collect()
}

// ------------------------------------------------------------ in the child

/// Lowers this process's soft limit on open files to `limit`.
fn lower_descriptor_limit(limit: u64) {
    let old = getrlimit(Resource::Nofile);
    let current = old.current.map_or(limit, |current| current.min(limit));
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(current),
            maximum: old.maximum,
        },
    )
    .expect("lower the descriptor limit");
}

fn serve_tokio_until_stdin_closes() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(wsock_tokio::Server::bind("127.0.0.1:0", tokio_echo))
        .unwrap();
    announce_and_wait_for_stdin_to_close(server.local_addr());
    runtime.block_on(server.shutdown(Duration::from_millis(200)));
}

fn serve_blocking_until_stdin_closes() {
    let server = wsock_blocking::Server::bind("127.0.0.1:0", blocking_echo).unwrap();
    announce_and_wait_for_stdin_to_close(server.local_addr());
    server.shutdown(Duration::from_millis(200));
}

/// Tells the parent where to connect, then serves until it closes our
/// stdin (or ends).
fn announce_and_wait_for_stdin_to_close(addr: SocketAddr) {
    println!("{CHILD_ADDR_PREFIX}{addr}");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
