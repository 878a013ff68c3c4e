//! Interoperability with Python's `websockets` (a second, independent
//! implementation of permessage-deflate, RFC 7692) over loopback, both
//! directions, both adapters, with deflate negotiated:
//!
//! 1. our clients against its echo server (`tests/python/echo_server.py`);
//! 2. its client (`tests/python/client.py`) against our echo servers;
//! 3. both again with non-default parameters (no context takeover either
//!    way, small windows), some asked for by the client and some imposed by
//!    the server;
//! 4. its client against our tokio echo server sending every other echo
//!    as a `PreparedMessage` (compressed once without history), with and
//!    without context takeover.
//!
//! Every message is checked byte for byte; both sides report what they
//! negotiated, how many compressed frames they received and the close
//! they saw.
//!
//! The interpreter: `$WSOCK_PYTHON` if set (it must import `websockets` >= 13,
//! else the tests fail), otherwise `python3` if it imports `websockets` >= 13.
//! With neither, the tests fail when `$CI` is set (and not `false`/`0`),
//! and print a skip notice and pass otherwise.

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use common::bounded;
use wsock_core::deflate::DeflateParams;
use wsock_core::{CloseFrame, Config, DataKind, Message, Stats};

/// The bound on each test, and on every wait for the Python peer.
const LIMIT: Duration = Duration::from_secs(60);
/// The bound on one read of the peer's report, or one `recv`.
const STEP: Duration = Duration::from_secs(20);
/// Small messages sent back to back.
const SMALL: usize = 1000;
/// What the Python client sends (see tests/python/client.py): 7 messages,
/// 1000 small ones, 2 fragmented ones.
const PYTHON_CLIENT_MESSAGES: u64 = 7 + 1000 + 2;

// ------------------------------------------------------------ the interpreter

/// The Python interpreter to run the peers with, or `None` (after printing
/// why) when the test should be skipped. Fails the test under CI.
fn python() -> Option<&'static Path> {
    static FOUND: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    let found = FOUND.get_or_init(discover);
    match found {
        Ok((path, _)) => Some(path),
        Err(why) if on_ci() => panic!(
            "interop_python: {why}. CI must provide Python with websockets >= 13: \
             create a venv (python3 -m venv V && V/bin/pip install websockets) and \
             export WSOCK_PYTHON=V/bin/python"
        ),
        Err(why) => {
            // Once, and past the test harness's capture (straight to the
            // process's stderr), so a passing run still shows it.
            static NOTICE: Once = Once::new();
            NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED interop_python (all cases): {why}. To run them: python3 -m venv \
                     target/interop-venv && target/interop-venv/bin/pip install websockets, then \
                     WSOCK_PYTHON=$PWD/target/interop-venv/bin/python cargo test -p wsock-tests \
                     --test interop_python (with CI set, this is a failure)"
                );
            });
            None
        }
    }
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `$WSOCK_PYTHON` (which must work when set), else `python3`.
fn discover() -> Result<(PathBuf, String), String> {
    if let Some(path) = std::env::var_os("WSOCK_PYTHON").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return match probe(&path) {
            Ok(version) => Ok((path, version)),
            // Asked for explicitly: a broken one is an error, never a skip.
            Err(why) => panic!("interop_python: WSOCK_PYTHON={}: {why}", path.display()),
        };
    }
    let path = PathBuf::from("python3");
    probe(&path)
        .map(|version| (path, version))
        .map_err(|why| format!("WSOCK_PYTHON is not set and python3 {why}"))
}

/// The `websockets` version `python` imports, if it is 13 or later (the
/// `websockets.asyncio` API the peers use).
fn probe(python: &Path) -> Result<String, String> {
    let script = "import websockets, websockets.asyncio.server, websockets.asyncio.client; \
                  print(websockets.__version__)";
    let child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot be run ({e})"))?;
    let mut peer = Peer::new(child);
    let status = peer.wait(Duration::from_secs(20));
    let out = peer.output();
    match status {
        Some(status) if status.success() => {
            let version = out.lines().next().unwrap_or("").trim().to_string();
            let major: u32 = version
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major >= 13 {
                let _ = writeln!(
                    std::io::stderr(),
                    "interop_python: {} with websockets {version}",
                    python.display()
                );
                Ok(version)
            } else {
                Err(format!(
                    "has websockets {version:?}, older than 13 (no websockets.asyncio)"
                ))
            }
        }
        Some(_) => Err(format!(
            "cannot import websockets.asyncio ({})",
            out.lines().last().unwrap_or("").trim()
        )),
        None => Err("did not answer within 20 s".into()),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

// ------------------------------------------------------------ the peer process

/// A Python peer: its stdout lines arrive on a channel, stdout and stderr
/// are kept for failure messages, and the process is killed on drop.
struct Peer {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<String>>,
}

impl Peer {
    fn new(mut child: Child) -> Self {
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                    let _ = tx.send(line);
                }
            });
        }
        if let Some(mut stderr) = child.stderr.take() {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                let mut log = log.lock().unwrap();
                log.push_str("--- stderr ---\n");
                log.push_str(&text);
            });
        }
        Self { child, lines, log }
    }

    /// Runs `tests/python/<name>` with `args`.
    fn spawn(python: &Path, name: &str, args: &[String]) -> Self {
        let child = Command::new(python)
            .arg(script(name))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self::new(child)
    }

    /// What the peer printed so far.
    fn output(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The next stdout line starting with `prefix` (what follows it);
    /// panics with the peer's output if none comes within `limit`.
    fn expect(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim_start().to_string();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {prefix:?} line within {limit:?}; peer said:\n{}",
                        self.output()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Give the stderr reader a moment, for the message.
                    std::thread::sleep(Duration::from_millis(200));
                    panic!(
                        "peer ended before a {prefix:?} line; it said:\n{}",
                        self.output()
                    )
                }
            }
        }
    }

    /// Waits for the peer to exit, at most `limit`.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The readers see end of file now; give them a moment.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for a successful exit; panics with the output otherwise.
    fn finish(&mut self) {
        match self.wait(LIMIT) {
            Some(status) if status.success() => {}
            Some(status) => panic!("peer failed ({status}); it said:\n{}", self.output()),
            None => panic!(
                "peer did not exit within {LIMIT:?}; it said:\n{}",
                self.output()
            ),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs `checks`; if one fails, prints what `peer` said first (and, with
/// `WSOCK_PEER_VERBOSE=1`, its frame log) so the failure can be read.
fn explained<T>(peer: &mut Peer, checks: impl FnOnce(&mut Peer) -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checks(&mut *peer))) {
        Ok(value) => value,
        Err(panic) => {
            let _ = peer.wait(Duration::from_secs(2));
            eprintln!("the websockets peer said:\n{}", peer.output());
            std::panic::resume_unwind(panic)
        }
    }
}

/// `key=value` fields of a report line (the last field, `reason=`, may
/// hold spaces: it runs to the end of the line).
fn fields(line: &str) -> HashMap<String, String> {
    let (head, reason) = match line.split_once("reason=") {
        Some((head, reason)) => (head, Some(reason)),
        None => (line, None),
    };
    let mut map: HashMap<String, String> = head
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(reason) = reason {
        map.insert("reason".into(), reason.to_string());
    }
    map
}

fn number(map: &HashMap<String, String>, key: &str) -> u64 {
    map.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {map:?}"))
}

/// The parameters a `NEGOTIATED` line reports.
fn reported_params(line: &str) -> DeflateParams {
    let map = fields(line);
    assert_eq!(
        map.get("deflate").map(String::as_str),
        Some("1"),
        "websockets did not negotiate permessage-deflate: {line}"
    );
    params(
        number(&map, "server_no_context_takeover") == 1,
        number(&map, "client_no_context_takeover") == 1,
        number(&map, "server_max_window_bits") as u8,
        number(&map, "client_max_window_bits") as u8,
    )
}

fn params(snct: bool, cnct: bool, smwb: u8, cmwb: u8) -> DeflateParams {
    let mut p = DeflateParams::default();
    p.server_no_context_takeover = snct;
    p.client_no_context_takeover = cnct;
    p.server_max_window_bits = smwb;
    p.client_max_window_bits = cmwb;
    p
}

/// Deflate settings of the non-default cases, as wsock `Config` and as the
/// peers' command-line options.
#[derive(Clone, Copy, Default)]
struct Knobs {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
}

impl Knobs {
    fn args(self) -> Vec<String> {
        let mut args = Vec::new();
        if self.server_no_context_takeover {
            args.push("--server-no-context-takeover".into());
        }
        if self.client_no_context_takeover {
            args.push("--client-no-context-takeover".into());
        }
        if let Some(bits) = self.server_max_window_bits {
            args.extend(["--server-max-window-bits".into(), bits.to_string()]);
        }
        if let Some(bits) = self.client_max_window_bits {
            args.extend(["--client-max-window-bits".into(), bits.to_string()]);
        }
        args
    }

    fn config(self) -> Config {
        let mut config = Config::default();
        config.deflate.server_no_context_takeover = self.server_no_context_takeover;
        config.deflate.client_no_context_takeover = self.client_no_context_takeover;
        config.deflate.server_max_window_bits = self.server_max_window_bits.unwrap_or(15);
        config.deflate.client_max_window_bits = self.client_max_window_bits.unwrap_or(15);
        config
    }
}

// ------------------------------------------------------------ what our clients send

/// xorshift64*: incompressible bytes, reproducibly.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn compressible_text(len: usize) -> String {
    let line = "The quick brown fox jumps over the lazy dog; Größe, 速い, ¡ñ! ";
    let mut text = String::with_capacity(len + line.len());
    let mut i = 0u32;
    while text.len() < len {
        text.push_str(line);
        text.push_str(&i.to_string());
        text.push('\n');
        i += 1;
    }
    text
}

/// The whole messages our clients send, one at a time, each awaiting its
/// echo.
fn messages() -> Vec<Message> {
    vec![
        Message::text("hello from wsock"),
        Message::text("héllo wörld, привет мир, こんにちは世界, مرحبا, 🦀🐍 — ¿qué tal?"),
        Message::text(compressible_text(1 << 20)),
        Message::binary(noise(256 << 10)),
        // A period zlib finds even with a 9-bit window (its longest match
        // distance is then 2^9 - 262 = 250 bytes).
        Message::Binary((0..1u32 << 20).map(|i| (i % 199) as u8).collect()),
        Message::text(""),
        Message::binary(Vec::new()),
    ]
}

/// Sent back to back, then the echoes read: half are below the
/// compression threshold, half above.
fn smalls() -> Vec<Message> {
    (0..SMALL)
        .map(|i| {
            if i % 2 == 0 {
                Message::text(format!("small {i}"))
            } else {
                Message::Binary(format!("small binary message {i}: {}", "abc".repeat(30)).into())
            }
        })
        .collect()
}

/// The pieces of the streamed text message.
fn stream_pieces() -> Vec<String> {
    (0..100)
        .map(|i| format!("streamed piece {i:03} — ünïcödé; ").repeat(40))
        .collect()
}

fn payload_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

fn describe(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("text of {} bytes", t.len()),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

/// What our client saw.
struct ClientRun {
    negotiated: Option<DeflateParams>,
    greeting: String,
    close: Option<CloseFrame>,
    stats: Stats,
    /// Payload bytes of every echo received.
    payload: usize,
    /// Messages sent.
    sent: u64,
}

const CLIENT_REASON: &str = "bye from wsock";

fn tokio_client(url: &str, config: Config) -> ClientRun {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(LIMIT, tokio_client_session(url, config))
            .await
            .expect("the tokio client's session took too long")
    })
}

async fn tokio_client_session(url: &str, config: Config) -> ClientRun {
    use tokio::io::AsyncWriteExt as _;

    let mut ws = wsock_tokio::ClientBuilder::new(url)
        .config(config)
        .read_timeout(Some(STEP))
        .connect()
        .await
        .expect("connect to the websockets server");
    let negotiated = ws.extensions().deflate().copied();
    let greeting = match next(&mut ws).await {
        Message::Text(t) => t,
        other => panic!("expected the server's report, got {other:?}"),
    };
    let (mut payload, mut sent) = (0, 0);
    for message in messages() {
        ws.send(message.clone()).await.unwrap();
        sent += 1;
        let echo = next(&mut ws).await;
        assert!(
            echo == message,
            "echo of {} differs: {}",
            describe(&message),
            describe(&echo)
        );
        payload += payload_len(&echo);
    }
    let smalls = smalls();
    for message in &smalls {
        ws.send(message.clone()).await.unwrap();
        sent += 1;
    }
    for (i, message) in smalls.iter().enumerate() {
        let echo = next(&mut ws).await;
        assert!(echo == *message, "echo of small message {i}: {echo:?}");
        payload += payload_len(&echo);
    }
    // Streamed: one message in many writes (and frames).
    let pieces = stream_pieces();
    let mut writer = ws.send_stream(DataKind::Text).unwrap();
    for piece in &pieces {
        writer.write_all(piece.as_bytes()).await.unwrap();
    }
    writer.finish().await.unwrap();
    sent += 1;
    let echo = next(&mut ws).await;
    assert!(
        echo == Message::text(pieces.concat()),
        "echo of the streamed text: {}",
        describe(&echo)
    );
    payload += payload_len(&echo);
    let mut writer = ws.send_stream(DataKind::Binary).unwrap();
    for i in 0..50u8 {
        writer.write_all(&[i; 3001]).await.unwrap();
    }
    writer.finish().await.unwrap();
    sent += 1;
    let want: Vec<u8> = (0..50u8).flat_map(|i| [i; 3001]).collect();
    let echo = next(&mut ws).await;
    assert!(
        echo == Message::binary(want),
        "echo of the streamed binary: {}",
        describe(&echo)
    );
    payload += payload_len(&echo);

    // Close, and see the server's reply and the end of the connection.
    ws.send(Message::Close(Some(CloseFrame::new(1000, CLIENT_REASON))))
        .await
        .unwrap();
    let mut close = None;
    while let Some(message) = ws.recv().await.expect("recv until the end") {
        match message {
            Message::Close(frame) => close = frame,
            other => panic!("after our close: {other:?}"),
        }
    }
    ClientRun {
        negotiated,
        greeting: greeting.to_string(),
        close,
        stats: ws.stats(),
        payload,
        sent,
    }
}

async fn next(ws: &mut wsock_tokio::WebSocket<wsock_tokio::MaybeTlsStream>) -> Message {
    ws.recv()
        .await
        .expect("recv")
        .expect("a message, not the end")
}

fn blocking_client(url: &str, config: Config) -> ClientRun {
    let url = url.to_string();
    bounded(LIMIT.as_secs(), move || {
        blocking_client_session(&url, config)
    })
}

fn blocking_client_session(url: &str, config: Config) -> ClientRun {
    let mut ws = wsock_blocking::ClientBuilder::new(url)
        .config(config)
        .read_timeout(Some(STEP))
        .connect()
        .expect("connect to the websockets server");
    let negotiated = ws.extensions().deflate().copied();
    let greeting = match ws.recv().unwrap().expect("a message") {
        Message::Text(t) => t,
        other => panic!("expected the server's report, got {other:?}"),
    };
    let (mut payload, mut sent) = (0, 0);
    for message in messages() {
        ws.send(message.clone()).unwrap();
        sent += 1;
        let echo = ws.recv().unwrap().expect("a message");
        assert!(
            echo == message,
            "echo of {} differs: {}",
            describe(&message),
            describe(&echo)
        );
        payload += payload_len(&echo);
    }
    let smalls = smalls();
    for message in &smalls {
        ws.send(message.clone()).unwrap();
        sent += 1;
    }
    for (i, message) in smalls.iter().enumerate() {
        let echo = ws.recv().unwrap().expect("a message");
        assert!(echo == *message, "echo of small message {i}: {echo:?}");
        payload += payload_len(&echo);
    }
    let pieces = stream_pieces();
    let mut writer = ws.send_stream(DataKind::Text).unwrap();
    for piece in &pieces {
        writer.write_all(piece.as_bytes()).unwrap();
    }
    writer.finish().unwrap();
    sent += 1;
    let echo = ws.recv().unwrap().expect("a message");
    assert!(
        echo == Message::text(pieces.concat()),
        "echo of the streamed text: {}",
        describe(&echo)
    );
    payload += payload_len(&echo);
    let mut writer = ws.send_stream(DataKind::Binary).unwrap();
    for i in 0..50u8 {
        writer.write_all(&[i; 3001]).unwrap();
    }
    writer.finish().unwrap();
    sent += 1;
    let want: Vec<u8> = (0..50u8).flat_map(|i| [i; 3001]).collect();
    let echo = ws.recv().unwrap().expect("a message");
    assert!(
        echo == Message::binary(want),
        "echo of the streamed binary: {}",
        describe(&echo)
    );
    payload += payload_len(&echo);

    ws.send(Message::close(1000, CLIENT_REASON)).unwrap();
    let close = match ws.recv() {
        Ok(Some(Message::Close(frame))) => frame,
        Ok(other) => panic!("after our close: {other:?}"),
        Err(e) => panic!("no close reply: {e}"),
    };
    assert_eq!(ws.recv().unwrap(), None);
    ClientRun {
        negotiated,
        greeting: greeting.to_string(),
        close,
        stats: ws.stats(),
        payload,
        sent,
    }
}

/// Case 1 and 3a: `client` against websockets' echo server started with
/// `server_knobs`, our client configured with `config`. Both must agree on
/// the parameters: on `expected` if given, else on what websockets chose.
fn against_python_server(
    client: fn(&str, Config) -> ClientRun,
    server_knobs: Knobs,
    config: Config,
    expected: Option<DeflateParams>,
) {
    let Some(python) = python() else { return };
    let mut server = Peer::spawn(python, "echo_server.py", &server_knobs.args());
    let port = server.expect("PORT", STEP);
    let url = format!("ws://127.0.0.1:{port}/interop");

    explained(&mut server, |server| {
        let run = client(&url, config);
        check_python_server(server, &run, expected);
    });
}

fn check_python_server(server: &mut Peer, run: &ClientRun, expected: Option<DeflateParams>) {
    let negotiated = server.expect("NEGOTIATED", STEP);
    let expected = expected.unwrap_or_else(|| reported_params(&negotiated));
    let stats = fields(&server.expect("STATS", STEP));
    let closed = fields(&server.expect("CLOSED", STEP));
    server.expect("RESULT ok", STEP);
    server.finish();

    // Both sides agree, on the parameters expected.
    assert_eq!(
        run.negotiated,
        Some(expected),
        "wsock's view of the negotiation; websockets said: {negotiated}"
    );
    assert_eq!(reported_params(&negotiated), expected, "{negotiated}");
    assert_eq!(
        run.greeting,
        format!("NEGOTIATED {negotiated}"),
        "the server's first message repeats its report"
    );
    // websockets saw every message, most of them compressed by us.
    assert_eq!(number(&stats, "messages"), run.sent, "{stats:?}");
    assert!(
        number(&stats, "compressed_in") >= (SMALL / 2) as u64 + 4,
        "too few compressed frames reached websockets: {stats:?}"
    );
    // We received (and inflated) far fewer bytes than the echoes' payload.
    assert!(
        (run.stats.bytes_received as usize) < run.payload / 2,
        "{} bytes on the wire for {} bytes of echoes: not compressed?",
        run.stats.bytes_received,
        run.payload
    );
    assert!(
        (run.stats.bytes_sent as usize) < run.payload / 2,
        "{} bytes sent for {} bytes of messages: not compressed?",
        run.stats.bytes_sent,
        run.payload
    );
    assert_eq!(
        run.stats.messages_received,
        run.sent + 1,
        "the greeting too"
    );
    // The closing handshake, seen from both ends.
    assert_eq!(
        (number(&closed, "code"), closed["reason"].as_str()),
        (1000, CLIENT_REASON),
        "websockets' view of our close"
    );
    assert_eq!(run.close, Some(CloseFrame::new(1000, CLIENT_REASON)));
}

// ------------------------------------------------------------ our servers

/// Waits for our echo server's session to end.
type Join = Box<dyn FnOnce() -> ServerRun>;

/// What our echo server saw.
struct ServerRun {
    negotiated: Option<DeflateParams>,
    close: Option<CloseFrame>,
    stats: Stats,
    payload: usize,
}

fn tokio_server(config: Config) -> (String, Join) {
    tokio_server_echoing(config, false)
}

/// Echoes half the messages as a `PreparedMessage` (compressed without
/// history, the connection's window updated) and the rest with `send`,
/// so websockets' inflater checks that both kinds interleave correctly.
fn tokio_prepared_server(config: Config) -> (String, Join) {
    tokio_server_echoing(config, true)
}

fn tokio_server_echoing(config: Config, prepared: bool) -> (String, Join) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("ws://{}/interop", listener.local_addr().unwrap());
    let task = rt.spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = wsock_tokio::Acceptor::new()
            .config(config)
            .read_timeout(Some(STEP))
            .accept(tcp)
            .await
            .expect("accept the websockets client");
        let negotiated = ws.extensions().deflate().copied();
        let (mut close, mut payload, mut echoed) = (None, 0, 0u64);
        while let Some(message) = ws.recv().await.expect("recv") {
            match message {
                Message::Close(frame) => close = frame,
                m if m.is_data() => {
                    payload += payload_len(&m);
                    echoed += 1;
                    // Runs of two of each kind, so that among the small
                    // binary messages (every other one) both kinds alternate.
                    if prepared && echoed % 4 < 2 {
                        let m = wsock_core::PreparedMessage::new(m);
                        ws.send_prepared(&m).await.expect("echo prepared");
                    } else {
                        ws.send(m).await.expect("echo");
                    }
                }
                _ => {}
            }
        }
        ServerRun {
            negotiated,
            close,
            stats: ws.stats(),
            payload,
        }
    });
    let join = move || {
        rt.block_on(async {
            tokio::time::timeout(LIMIT, task)
                .await
                .expect("the tokio server's session took too long")
                .expect("the tokio server failed")
        })
    };
    (url, Box::new(join))
}

fn blocking_server(config: Config) -> (String, Join) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/interop", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = wsock_blocking::Acceptor::new()
            .config(config)
            .read_timeout(Some(STEP))
            .accept(stream)
            .expect("accept the websockets client");
        let negotiated = ws.extensions().deflate().copied();
        let mut payload = 0;
        let close = loop {
            match ws.recv().expect("read").expect("a message") {
                Message::Close(frame) => break frame,
                m if m.is_data() => {
                    payload += payload_len(&m);
                    ws.send(m).expect("echo");
                }
                _ => {}
            }
        };
        assert_eq!(ws.recv().unwrap(), None);
        let _ = tx.send(ServerRun {
            negotiated,
            close,
            stats: ws.stats(),
            payload,
        });
    });
    let join = move || {
        rx.recv_timeout(LIMIT)
            .expect("the blocking server failed or took too long")
    };
    (url, Box::new(join))
}

/// Case 2 and 3b: websockets' client, started with `client_knobs`, against
/// our echo server. Both must agree on the parameters: on `expected` if
/// given, else on what websockets reports.
fn python_client_against(
    server: fn(Config) -> (String, Join),
    client_knobs: Knobs,
    config: Config,
    expected: Option<DeflateParams>,
) {
    let Some(python) = python() else { return };
    let (url, join) = server(config);
    let mut args = client_knobs.args();
    args.push(url);
    let mut client = Peer::spawn(python, "client.py", &args);
    explained(&mut client, |client| {
        check_python_client(client, join, expected);
    });
}

fn check_python_client(client: &mut Peer, join: Join, expected: Option<DeflateParams>) {
    let negotiated = client.expect("NEGOTIATED", STEP);
    let expected = expected.unwrap_or_else(|| reported_params(&negotiated));
    let stats = fields(&client.expect("STATS", LIMIT));
    let closed = fields(&client.expect("CLOSED", STEP));
    let result = client.expect("RESULT", STEP);
    client.finish();
    let run = join();

    assert!(result.starts_with("ok"), "websockets' client: {result}");
    assert_eq!(
        run.negotiated,
        Some(expected),
        "wsock's view of the negotiation; websockets said: {negotiated}"
    );
    assert_eq!(reported_params(&negotiated), expected, "{negotiated}");
    // Every message arrived, and ours reached websockets compressed.
    assert_eq!(run.stats.messages_received, PYTHON_CLIENT_MESSAGES);
    assert_eq!(number(&stats, "messages"), PYTHON_CLIENT_MESSAGES);
    assert!(
        number(&stats, "compressed_in") >= (SMALL / 2) as u64 + 4,
        "too few compressed frames reached websockets: {stats:?}"
    );
    assert!(
        (run.stats.bytes_received as usize) < run.payload / 2,
        "{} bytes on the wire for {} bytes of messages: not compressed?",
        run.stats.bytes_received,
        run.payload
    );
    assert!(
        (run.stats.bytes_sent as usize) < run.payload / 2,
        "{} bytes sent for {} bytes of echoes: not compressed?",
        run.stats.bytes_sent,
        run.payload
    );
    // The clean close: websockets' code and reason reached us; we answered
    // with its code (and no reason).
    assert_eq!(run.close, Some(CloseFrame::new(1000, "bye from python")));
    assert_eq!(number(&closed, "code"), 1000, "{closed:?}");
}

// ------------------------------------------------------------ the cases

#[test]
fn tokio_client_against_websockets_server() {
    against_python_server(
        tokio_client,
        Knobs::default(),
        Config::default(),
        // websockets 13 to 17 answer our bare offer with
        // `server_max_window_bits=12; client_max_window_bits=12`.
        None,
    );
}

#[test]
fn blocking_client_against_websockets_server() {
    against_python_server(
        blocking_client,
        Knobs::default(),
        Config::default(),
        // websockets 13 to 17 answer our bare offer with
        // `server_max_window_bits=12; client_max_window_bits=12`.
        None,
    );
}

/// websockets offers `client_max_window_bits` bare; we answer with our
/// default caps: `server_max_window_bits=14; client_max_window_bits=11`.
fn default_answer() -> DeflateParams {
    params(false, false, 14, 11)
}

#[test]
fn websockets_client_against_tokio_server() {
    python_client_against(
        tokio_server,
        Knobs::default(),
        Config::default(),
        Some(default_answer()),
    );
}

#[test]
fn websockets_client_against_blocking_server() {
    python_client_against(
        blocking_server,
        Knobs::default(),
        Config::default(),
        Some(default_answer()),
    );
}

/// Non-default parameters, wsock as the client: we ask for the server's
/// window and promise no context takeover; websockets imposes its own
/// context reset and limits our window.
fn client_custom() -> (Knobs, Config, Option<DeflateParams>) {
    let server = Knobs {
        server_no_context_takeover: true,
        client_max_window_bits: Some(9),
        ..Knobs::default()
    };
    let ours = Knobs {
        client_no_context_takeover: true,
        server_max_window_bits: Some(10),
        ..Knobs::default()
    };
    (server, ours.config(), Some(params(true, true, 10, 9)))
}

/// Non-default parameters, wsock as the server: websockets asks for our
/// context reset and a small window; we impose its context reset and a
/// small window on it.
fn server_custom() -> (Knobs, Config, Option<DeflateParams>) {
    let client = Knobs {
        server_no_context_takeover: true,
        server_max_window_bits: Some(11),
        ..Knobs::default()
    };
    let ours = Knobs {
        client_no_context_takeover: true,
        client_max_window_bits: Some(10),
        ..Knobs::default()
    };
    (client, ours.config(), Some(params(true, true, 11, 10)))
}

#[test]
fn tokio_client_against_websockets_server_custom_parameters() {
    let (server, config, expected) = client_custom();
    against_python_server(tokio_client, server, config, expected);
}

#[test]
fn blocking_client_against_websockets_server_custom_parameters() {
    let (server, config, expected) = client_custom();
    against_python_server(blocking_client, server, config, expected);
}

#[test]
fn websockets_client_against_tokio_server_custom_parameters() {
    let (client, config, expected) = server_custom();
    python_client_against(tokio_server, client, config, expected);
}

/// Prepared messages (compressed once, without history) interleaved with
/// ordinary ones on a context-takeover connection: websockets inflates
/// every echo correctly, so our window stayed in step with its.
#[test]
fn websockets_client_against_tokio_server_prepared() {
    python_client_against(
        tokio_prepared_server,
        Knobs::default(),
        Config::default(),
        Some(default_answer()),
    );
}

/// The same without context takeover and with small windows.
#[test]
fn websockets_client_against_tokio_server_prepared_custom_parameters() {
    let (client, config, expected) = server_custom();
    python_client_against(tokio_prepared_server, client, config, expected);
}

#[test]
fn websockets_client_against_blocking_server_custom_parameters() {
    let (client, config, expected) = server_custom();
    python_client_against(blocking_server, client, config, expected);
}

// ------------------------------------------------------------ limits

/// Our `max_frame_size` and `max_message_size` in the limit cases, and the
/// size of the incompressible message sent at them. websockets compresses
/// it into a frame a little larger (random bytes grow under deflate), which
/// limits measuring inflated bytes must accept.
const AT_LIMIT: usize = 2 << 20;

fn at_limit() -> Config {
    let mut config = Config::default();
    config.max_frame_size = AT_LIMIT;
    config.max_message_size = AT_LIMIT;
    config
}

/// Our client, with its limits at [`AT_LIMIT`], sends an incompressible
/// message of that size to websockets' echo server and checks the echo;
/// returns its counters.
fn tokio_client_at_limit(url: &str) -> Stats {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let mut ws = wsock_tokio::ClientBuilder::new(url)
                .config(at_limit())
                .read_timeout(Some(STEP))
                .connect()
                .await
                .expect("connect to the websockets server");
            assert!(ws.extensions().deflate().is_some());
            let greeting = next(&mut ws).await;
            assert!(matches!(&greeting, Message::Text(t) if t.starts_with("NEGOTIATED")));
            let message = Message::binary(noise(AT_LIMIT));
            ws.send(message.clone()).await.unwrap();
            let echo = next(&mut ws).await;
            assert!(echo == message, "echo differs: {}", describe(&echo));
            ws.send(Message::Close(Some(CloseFrame::new(1000, CLIENT_REASON))))
                .await
                .unwrap();
            while let Some(message) = ws.recv().await.expect("recv until the end") {
                assert!(matches!(message, Message::Close(_)), "{message:?}");
            }
            ws.stats()
        })
        .await
        .expect("the tokio client's session took too long")
    })
}

fn blocking_client_at_limit(url: &str) -> Stats {
    let url = url.to_string();
    bounded(LIMIT.as_secs(), move || {
        let mut ws = wsock_blocking::ClientBuilder::new(&url)
            .config(at_limit())
            .read_timeout(Some(STEP))
            .connect()
            .expect("connect to the websockets server");
        assert!(ws.extensions().deflate().is_some());
        let greeting = ws.recv().unwrap().expect("a message");
        assert!(matches!(&greeting, Message::Text(t) if t.starts_with("NEGOTIATED")));
        let message = Message::binary(noise(AT_LIMIT));
        ws.send(message.clone()).unwrap();
        let echo = ws.recv().unwrap().expect("a message");
        assert!(echo == message, "echo differs: {}", describe(&echo));
        ws.send(Message::close(1000, CLIENT_REASON)).unwrap();
        assert!(matches!(ws.recv(), Ok(Some(Message::Close(_)))));
        assert_eq!(ws.recv().unwrap(), None);
        ws.stats()
    })
}

/// websockets' echo server sends back an incompressible message exactly
/// at our client's limits, compressed: it arrives.
fn python_server_echo_at_our_limits(client: fn(&str) -> Stats) {
    let Some(python) = python() else { return };
    let mut server = Peer::spawn(python, "echo_server.py", &[]);
    let port = server.expect("PORT", STEP);
    let url = format!("ws://127.0.0.1:{port}/interop");
    explained(&mut server, |server| {
        let stats = client(&url);
        let negotiated = server.expect("NEGOTIATED", STEP);
        reported_params(&negotiated);
        let counts = fields(&server.expect("STATS", STEP));
        let closed = fields(&server.expect("CLOSED", STEP));
        server.expect("RESULT ok", STEP);
        server.finish();
        assert_eq!(number(&counts, "messages"), 1, "{counts:?}");
        assert_eq!(number(&counts, "compressed_in"), 1, "{counts:?}");
        assert_eq!(number(&closed, "code"), 1000, "{closed:?}");
        // The greeting, the echo and the close frame: the echo's
        // compressed frame alone was over the limits.
        assert_eq!(stats.messages_received, 2);
        assert!(
            stats.bytes_received > (AT_LIMIT + 1024) as u64,
            "{} bytes received: the echo was not larger on the wire",
            stats.bytes_received
        );
    });
}

/// websockets' client sends an incompressible message exactly at our
/// server's limits, compressed: it arrives, and its echo too.
fn python_client_at_our_limits(server: fn(Config) -> (String, Join)) {
    let Some(python) = python() else { return };
    let (url, join) = server(at_limit());
    let args = vec!["--noise".to_string(), AT_LIMIT.to_string(), url];
    let mut client = Peer::spawn(python, "client.py", &args);
    explained(&mut client, |client| {
        let negotiated = client.expect("NEGOTIATED", STEP);
        reported_params(&negotiated);
        let counts = fields(&client.expect("STATS", LIMIT));
        let closed = fields(&client.expect("CLOSED", STEP));
        let result = client.expect("RESULT", STEP);
        client.finish();
        let run = join();
        assert!(result.starts_with("ok"), "websockets' client: {result}");
        assert!(run.negotiated.is_some());
        assert_eq!(run.stats.messages_received, 1);
        assert_eq!(run.payload, AT_LIMIT);
        assert_eq!(number(&counts, "compressed_in"), 1, "{counts:?}");
        assert_eq!(number(&closed, "code"), 1000, "{closed:?}");
        // The message and the close frame: the message's compressed frame
        // alone was over the limits.
        assert!(
            run.stats.bytes_received > (AT_LIMIT + 1024) as u64,
            "{} bytes received: the message was not larger on the wire",
            run.stats.bytes_received
        );
    });
}

#[test]
fn websockets_server_echo_at_the_tokio_client_limits() {
    python_server_echo_at_our_limits(tokio_client_at_limit);
}

#[test]
fn websockets_server_echo_at_the_blocking_client_limits() {
    python_server_echo_at_our_limits(blocking_client_at_limit);
}

#[test]
fn websockets_client_message_at_the_tokio_server_limits() {
    python_client_at_our_limits(tokio_server);
}

#[test]
fn websockets_client_message_at_the_blocking_server_limits() {
    python_client_at_our_limits(blocking_server);
}
