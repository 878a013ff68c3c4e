//! Drives the built `wsock` binary: `serve` on a free loopback port,
//! `connect` and `echo-client` through pipes, exit statuses for each kind
//! of failure, and `demo`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

mod pki;
#[path = "../../wsock-broadcast/tests/redis_server/mod.rs"]
mod redis_server;

use pki::pki;

const WSOCK: &str = env!("CARGO_BIN_EXE_wsock");

/// Longest any single process may run before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ harness

/// A `wsock serve` child, killed on drop. Its stderr is collected by a
/// thread so the pipe never fills.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        Self::start_scheme(extra, "ws")
    }

    fn start_scheme(extra: &[&str], scheme: &str) -> Self {
        let mut child = Command::new(WSOCK)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wsock serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let prefix = format!("listening on {scheme}://");
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let (Some(addr), Some(tx)) = (line.strip_prefix(&prefix), tx.take()) {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(DEADLINE) else {
            let _ = child.kill();
            panic!(
                "wsock serve did not print its address; stderr:\n{}",
                log.lock().unwrap()
            );
        };
        let addr = addr.parse().expect("listening address");
        Self { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the server's log contains `needle`.
    fn wait_log(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "server log never contained {needle:?}:\n{log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished `wsock` run left behind.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn code(&self) -> i32 {
        self.status.code().expect("exited normally")
    }

    #[track_caller]
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "unexpected exit status; run: {self:#?}");
        self
    }
}

/// Runs `wsock ARGS` with `input` on stdin (then end of file), within
/// [`DEADLINE`].
fn wsock(args: &[&str], input: &[u8]) -> Run {
    wsock_stdin(args, input, false)
}

/// Like [`wsock`], but stdin stays open (no end of input) until `wsock`
/// exits on its own.
fn wsock_open_stdin(args: &[&str], input: &[u8]) -> Run {
    wsock_stdin(args, input, true)
}

fn wsock_stdin(args: &[&str], input: &[u8], keep_open: bool) -> Run {
    let start = Instant::now();
    let mut child = Command::new(WSOCK)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wsock");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
        if keep_open {
            let _ = done_rx.recv();
        }
        drop(stdin);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
            panic!("wsock {args:?} did not finish within {DEADLINE:?}; stderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    drop(done_tx);
    writer.join().unwrap();
    Run {
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A plain HTTP server answering every request with `response`, then
/// closing. Returns its address.
fn http_server(response: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(DEADLINE));
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(response);
            });
        }
    });
    addr
}

/// A server that accepts TCP connections and never says a word.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A raw server that completes the opening handshake, then runs `then` on
/// the socket (to misbehave in ways the adapters never would).
fn raw_ws_server(then: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(DEADLINE));
            let mut hs =
                wsock_core::handshake::server::ServerHandshake::new(&wsock_core::Config::default());
            let mut buf = [0; 1024];
            let request = loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                match hs.feed(&buf[..n]) {
                    Ok(Some(request)) => break request,
                    Ok(None) => {}
                    Err(_) => return,
                }
            };
            let accepted = request
                .accept(wsock_core::handshake::server::Accept::new())
                .unwrap();
            stream.write_all(&accepted.response_bytes).unwrap();
            then(stream);
        }
    });
    addr
}

// ------------------------------------------------------------------ connect ↔ serve

#[test]
fn text_round_trip() {
    let server = Server::start(&[]);
    let run = wsock(
        &["connect", &server.url("/")],
        b"hello\nworld\n\nlast line without newline",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "hello\nworld\n\nlast line without newline\n");
    assert!(
        run.stderr.contains("1000"),
        "close code reported: {}",
        run.stderr
    );
    server.wait_log("1000");
}

#[test]
fn crlf_lines_and_unicode() {
    let server = Server::start(&[]);
    let run = wsock(
        &["connect", "-q", &server.url("/path?q=1")],
        "héllo ✓\r\nzwei\r\n".as_bytes(),
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "héllo ✓\nzwei\n");
    assert!(
        run.stderr.is_empty(),
        "--quiet keeps stderr empty: {}",
        run.stderr
    );
}

#[test]
fn binary_lines_print_as_hex() {
    let server = Server::start(&[]);
    let run = wsock(
        &["connect", "--binary", &server.url("/")],
        b"abc\n\x00\xff\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "616263\n00ff\n");
}

#[test]
fn base64_input_and_output() {
    let server = Server::start(&[]);
    let run = wsock(
        &["connect", "--base64", &server.url("/")],
        b"AAEC/w==\naGk\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "000102ff\n6869\n");
    let run = wsock(
        &[
            "connect",
            "--base64",
            "--output",
            "base64",
            &server.url("/"),
        ],
        b"AAEC/w==\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "AAEC/w==\n");
}

#[test]
fn invalid_base64_line_is_a_local_error() {
    let server = Server::start(&[]);
    let run = wsock(&["connect", "--base64", &server.url("/")], b"aGk=\n!!!\n");
    run.assert_code(1);
    assert!(run.stderr.contains("base64"), "{}", run.stderr);
}

#[test]
fn many_lines_all_echoed_before_exit() {
    let server = Server::start(&[]);
    let input: String = (0..2000)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let run = wsock(&["connect", "-q", &server.url("/")], input.as_bytes());
    run.assert_code(0);
    assert_eq!(run.stdout, input);
}

#[test]
fn subprotocol_is_negotiated() {
    let server = Server::start(&["--subprotocol", "chat", "--subprotocol", "superchat"]);
    let run = wsock(
        &[
            "connect",
            "--subprotocol",
            "other",
            "--subprotocol",
            "superchat",
            &server.url("/"),
        ],
        b"x\n",
    );
    run.assert_code(0);
    assert!(run.stderr.contains("superchat"), "{}", run.stderr);
}

#[test]
fn headers_and_origin_are_accepted() {
    let server = Server::start(&[]);
    let run = wsock(
        &[
            "connect",
            "-H",
            "X-Test: 1",
            "-H",
            "Cookie: a=b",
            "--origin",
            "http://example.com",
            &server.url("/"),
        ],
        b"ok\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "ok\n");
}

#[test]
fn blocking_runtime_serves_too() {
    let server = Server::start(&["--runtime", "blocking"]);
    let run = wsock(&["connect", &server.url("/")], b"one\ntwo\n");
    run.assert_code(0);
    assert_eq!(run.stdout, "one\ntwo\n");
    let run = wsock(&["connect", "--binary", &server.url("/")], b"\x01\x02\n");
    run.assert_code(0);
    assert_eq!(run.stdout, "0102\n");
    server.wait_log("1000");
}

#[test]
fn server_survives_garbage_and_keeps_serving() {
    for runtime in ["tokio", "blocking"] {
        let server = Server::start(&["--runtime", runtime]);
        // Not HTTP at all, then a valid handshake followed by garbage frames.
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(b"\x00\xff garbage \r\n\r\n").unwrap();
        let mut sink = Vec::new();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let _ = s.read_to_end(&mut sink);
        assert!(
            sink.starts_with(b"HTTP/1.1 4"),
            "{runtime}: {:?}",
            String::from_utf8_lossy(&sink)
        );

        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        // An unmasked frame with a huge length and reserved bits.
        s.write_all(&[0xf1, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            .unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(reply.starts_with(b"HTTP/1.1 101"), "{runtime}");

        // An oversized frame announcement (within the 63-bit range).
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        s.write_all(&[
            0x82, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 1, 2, 3, 4,
        ])
        .unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let close_1009 = [0x88, 0x02, 0x03, 0xf1];
        assert!(
            reply.windows(4).any(|w| w == close_1009)
                || reply.windows(2).any(|w| w == [0x03, 0xf1]),
            "{runtime}: 1009 close expected"
        );

        let run = wsock(&["connect", &server.url("/")], b"still alive\n");
        run.assert_code(0);
        assert_eq!(run.stdout, "still alive\n");
        drop(server);
    }
}

// ------------------------------------------------------------------ failures → exit statuses

#[test]
fn usage_errors_exit_2() {
    wsock(&["connect"], b"").assert_code(2);
    wsock(&["connect", "http://127.0.0.1:1/"], b"").assert_code(2);
    wsock(&["connect", "-H", "no colon", "ws://127.0.0.1:1/"], b"").assert_code(2);
    wsock(
        &["connect", "--subprotocol", "bad token", "ws://127.0.0.1:1/"],
        b"",
    )
    .assert_code(2);
    wsock(
        &["connect", "--connect-timeout", "0", "ws://127.0.0.1:1/"],
        b"",
    )
    .assert_code(2);
    wsock(&["serve", "--runtime", "threads"], b"").assert_code(2);
    wsock(&["bogus"], b"").assert_code(2);
}

#[test]
fn help_documents_exit_statuses() {
    let run = wsock(&["--help"], b"");
    run.assert_code(0);
    for needle in [
        "Exit status",
        "connection failure",
        "handshake failure",
        "TLS failure",
        "timeout",
        "abnormal close",
    ] {
        assert!(
            run.stdout.contains(needle),
            "help lacks {needle:?}:\n{}",
            run.stdout
        );
    }
    let run = wsock(&["connect", "--help"], b"");
    run.assert_code(0);
    assert!(run.stdout.contains("--connect-timeout"));
}

#[test]
fn refused_port_exits_3() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    let run = wsock(&["connect", &url], b"hi\n");
    run.assert_code(3);
    assert!(
        run.stderr.to_lowercase().contains("refused") || run.stderr.contains("connect"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_host_exits_3() {
    let run = wsock(
        &[
            "connect",
            "--connect-timeout",
            "5",
            "ws://no-such-host.invalid/",
        ],
        b"",
    );
    run.assert_code(3);
}

#[test]
fn http_404_exits_4() {
    let addr = http_server(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
    );
    let run = wsock(&["connect", &format!("ws://{addr}/nope")], b"hi\n");
    run.assert_code(4);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
}

#[test]
fn bad_accept_key_exits_4() {
    let addr = http_server(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
    );
    wsock(&["connect", &format!("ws://{addr}/")], b"").assert_code(4);
}

#[test]
fn silent_server_times_out_with_6() {
    let addr = silent_server();
    let run = wsock(
        &[
            "connect",
            "--connect-timeout",
            "1",
            &format!("ws://{addr}/"),
        ],
        b"hi\n",
    );
    run.assert_code(6);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
    let run = wsock(
        &[
            "echo-client",
            "--connect-timeout",
            "0.5",
            &format!("ws://{addr}/"),
        ],
        b"",
    );
    run.assert_code(6);
}

#[test]
fn eof_without_close_frame_exits_7() {
    let addr = raw_ws_server(drop);
    let run = wsock(&["connect", &format!("ws://{addr}/")], b"");
    run.assert_code(7);
}

#[test]
fn protocol_violation_exits_7() {
    // A masked frame from the server (§5.1).
    let addr = raw_ws_server(|mut stream| {
        let _ = stream.write_all(&[0x81, 0x81, 1, 2, 3, 4, b'x' ^ 1]);
        thread::sleep(Duration::from_millis(500));
    });
    let run = wsock(&["connect", &format!("ws://{addr}/")], b"");
    run.assert_code(7);
}

#[test]
fn error_close_code_exits_8() {
    let addr = raw_ws_server(|mut stream| {
        // Close 1011 "oops", then wait for the client's reply and end.
        let _ = stream.write_all(&[0x88, 0x06, 0x03, 0xf3, b'o', b'o', b'p', b's']);
        let mut buf = [0; 64];
        let _ = stream.read(&mut buf);
    });
    let run = wsock(&["connect", &format!("ws://{addr}/")], b"");
    run.assert_code(8);
    assert!(run.stderr.contains("1011"), "{}", run.stderr);
}

#[test]
fn server_close_1000_exits_0() {
    let addr = raw_ws_server(|mut stream| {
        let _ = stream.write_all(&[0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xe8]);
        let mut buf = [0; 64];
        let _ = stream.read(&mut buf);
    });
    // stdin stays open: the server closes first.
    let run = wsock_open_stdin(&["connect", &format!("ws://{addr}/")], b"");
    run.assert_code(0);
    assert_eq!(run.stdout, "hi\n");
}

// ------------------------------------------------------------------ demo

#[test]
fn demo_exits_0_and_prints_its_steps() {
    let run = wsock(&["demo"], b"");
    run.assert_code(0);
    for needle in [
        "ws://127.0.0.1:",
        "text",
        "binary",
        "fragment",
        "checksum",
        "ping",
        "pong",
        "close",
        "1000",
    ] {
        assert!(
            run.stdout.to_lowercase().contains(needle),
            "demo output lacks {needle:?}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn unanswered_keepalive_exits_6() {
    // Completes the handshake, then reads and never answers anything.
    let addr = raw_ws_server(|mut stream| {
        let mut buf = [0; 1024];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    });
    let run = wsock_open_stdin(
        &[
            "connect",
            "--ping-interval",
            "0.2",
            &format!("ws://{addr}/"),
        ],
        b"",
    );
    run.assert_code(6);
    assert!(run.stderr.contains("keepalive"), "{}", run.stderr);
}

#[test]
fn keepalive_against_echo_server_keeps_going() {
    let server = Server::start(&[]);
    let url = server.url("/");
    let mut child = Command::new(WSOCK)
        .args(["-v", "connect", "--ping-interval", "0.3", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Several keepalive rounds (ping, pong) pass without other traffic.
    thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "still connected");
    stdin.write_all(b"after pings\n").unwrap();
    drop(stdin);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < DEADLINE, "connect did not exit");
        thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "after pings\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.matches("< pong").count() >= 2,
        "keepalive pongs: {stderr}"
    );
}

// ------------------------------------------------------------------ echo-client

/// A wsock-tokio server that sends `messages`, expects each echoed back,
/// then closes with 1000. Reports what it saw.
fn scripted_server(
    messages: Vec<wsock_tokio::Message>,
) -> (SocketAddr, thread::JoinHandle<Result<(), String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let handle = thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (tcp, _) = tokio::time::timeout(DEADLINE, listener.accept())
                .await
                .map_err(|_| "no client")?
                .unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.map_err(|e| e.to_string())?;
            for message in &messages {
                ws.send(message.clone()).await.map_err(|e| e.to_string())?;
            }
            for message in &messages {
                let echo = tokio::time::timeout(DEADLINE, ws.recv())
                    .await
                    .map_err(|_| "no echo")?;
                let echo = echo.map_err(|e| e.to_string())?;
                if echo.as_ref() != Some(message) {
                    return Err(format!("expected {message:?}, got {echo:?}"));
                }
            }
            ws.close(None).await.map_err(|e| e.to_string())
        })
    });
    (addr, handle)
}

#[test]
fn echo_client_echoes_until_clean_close() {
    use wsock_tokio::Message;
    let messages = vec![
        Message::text("one"),
        Message::binary(vec![0, 1, 2, 255]),
        Message::text("three ✓"),
        Message::binary(vec![7; 100_000]),
    ];
    let (addr, server) = scripted_server(messages);
    let run = wsock(&["echo-client", &format!("ws://{addr}/")], b"");
    run.assert_code(0);
    server
        .join()
        .unwrap()
        .expect("server saw its messages echoed");
}

#[test]
fn echo_client_refused_and_error_close() {
    let url = format!("ws://127.0.0.1:{}/", closed_port());
    wsock(&["echo-client", &url], b"").assert_code(3);
    let addr = raw_ws_server(|mut stream| {
        let _ = stream.write_all(&[0x88, 0x02, 0x0f, 0xa0]); // 4000
        let mut buf = [0; 64];
        let _ = stream.read(&mut buf);
    });
    wsock(&["echo-client", &format!("ws://{addr}/")], b"").assert_code(8);
}

// ------------------------------------------------------------------ proxy

/// A minimal HTTP CONNECT proxy. Answers `status_line` to every CONNECT and,
/// for 200, pumps bytes both ways. Returns its address and the request
/// lines it saw.
fn connect_proxy(status_line: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_owned();
                log.lock().unwrap().push(line.clone());
                let _ = client
                    .write_all(format!("{status_line}\r\nContent-Length: 0\r\n\r\n").as_bytes());
                if !status_line.contains(" 200 ") {
                    return;
                }
                let target = line.split(' ').nth(1).unwrap_or_default().to_owned();
                let Ok(upstream) = TcpStream::connect(target) else {
                    return;
                };
                let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut c, mut d) = (client, upstream);
                thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut d, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, seen)
}

#[test]
fn through_a_connect_proxy() {
    let server = Server::start(&[]);
    let (proxy, seen) = connect_proxy("HTTP/1.1 200 Connection established");
    let run = wsock(
        &[
            "connect",
            "--proxy",
            &format!("http://{proxy}"),
            &server.url("/"),
        ],
        b"via proxy\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "via proxy\n");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("CONNECT {} HTTP/1.1", server.addr)]
    );

    let (proxy, _) = connect_proxy("HTTP/1.1 403 Forbidden");
    let run = wsock(
        &[
            "connect",
            "--proxy",
            &format!("http://{proxy}"),
            &server.url("/"),
        ],
        b"x\n",
    );
    run.assert_code(3);
    assert!(run.stderr.contains("403"), "{}", run.stderr);

    let run = wsock(
        &[
            "connect",
            "--proxy",
            &format!("http://127.0.0.1:{}", closed_port()),
            &server.url("/"),
        ],
        b"",
    );
    run.assert_code(3);
    wsock(
        &[
            "connect",
            "--proxy",
            "socks5://127.0.0.1:1",
            &server.url("/"),
        ],
        b"",
    )
    .assert_code(2);
}

// ------------------------------------------------------------------ TLS

#[test]
fn tls_server_and_client() {
    let pki = pki();
    for runtime in ["tokio", "blocking"] {
        let server = Server::start_scheme(
            &[
                "--runtime",
                runtime,
                "--tls-cert",
                &pki.cert,
                "--tls-key",
                &pki.key,
            ],
            "wss",
        );
        let url = format!("wss://{}/secure", server.addr);

        // Trusting the CA: works, by IP and by name.
        let run = wsock(&["connect", "--ca", &pki.ca, &url], b"secret\n");
        run.assert_code(0);
        assert_eq!(run.stdout, "secret\n");
        let by_name = format!("wss://localhost:{}/", server.addr.port());
        let run = wsock(&["connect", "--ca", &pki.ca, &by_name], b"named\n");
        run.assert_code(0);
        assert_eq!(run.stdout, "named\n");

        // The built-in roots do not know our CA: bad certificate, exit 5.
        let run = wsock(&["connect", &url], b"x\n");
        run.assert_code(5);
        assert!(run.stderr.contains("certificate"), "{}", run.stderr);

        // --insecure accepts it, with a warning.
        let run = wsock(&["connect", "--insecure", &url], b"anyway\n");
        run.assert_code(0);
        assert_eq!(run.stdout, "anyway\n");
        assert!(run.stderr.contains("--insecure"), "{}", run.stderr);
    }
}

#[test]
fn tls_failures_exit_5() {
    let pki = pki();
    let server = Server::start_scheme(
        &[
            "--tls-cert",
            &pki.wrong_host_cert,
            "--tls-key",
            &pki.wrong_host_key,
        ],
        "wss",
    );
    let run = wsock(
        &[
            "connect",
            "--ca",
            &pki.ca,
            &format!("wss://{}/", server.addr),
        ],
        b"",
    );
    run.assert_code(5);
    assert!(run.stderr.contains("host name"), "{}", run.stderr);

    // wss:// to a server that speaks plain HTTP: the TLS handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = listener.local_addr().unwrap();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            thread::sleep(Duration::from_millis(200));
        }
    });
    wsock(&["connect", &format!("wss://{plain}/")], b"").assert_code(5);
    // Our own plain server answers the ClientHello with a 400 at once,
    // rather than waiting for its handshake timeout: a TLS error, fast.
    let plain = Server::start(&[]);
    let run = wsock(
        &[
            "connect",
            "--connect-timeout",
            "5",
            &format!("wss://{}/", plain.addr),
        ],
        b"",
    );
    run.assert_code(5);
    assert!(run.elapsed < Duration::from_secs(2), "{run:?}");

    // An unreadable CA file.
    wsock(
        &[
            "connect",
            "--ca",
            "/nonexistent/ca.pem",
            &format!("wss://{}/", server.addr),
        ],
        b"",
    )
    .assert_code(5);

    // A server that cannot load its certificate.
    let run = wsock(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            &pki.key,
        ],
        b"",
    );
    run.assert_code(5);
}

#[test]
fn tls_silent_server_times_out_with_6() {
    let addr = silent_server();
    let run = wsock(
        &[
            "connect",
            "--connect-timeout",
            "0.5",
            &format!("wss://{addr}/"),
        ],
        b"",
    );
    run.assert_code(6);
}

// ------------------------------------------------------------------ misc

#[test]
fn serve_on_a_busy_port_exits_1() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    for runtime in ["tokio", "blocking"] {
        let run = wsock(&["serve", "--runtime", runtime, "--listen", &addr], b"");
        run.assert_code(1);
        assert!(run.stderr.contains("cannot listen"), "{}", run.stderr);
    }
}

#[test]
fn verbose_logs_the_handshake_and_server_logs_connections() {
    let server = Server::start(&[]);
    let run = wsock(&["-v", "connect", &server.url("/v")], b"x\n");
    run.assert_code(0);
    assert_eq!(run.stdout, "x\n");
    assert!(
        // Field names as `http` keeps them: in lower case.
        run.stderr.contains("DEBUG") && run.stderr.contains("< sec-websocket-accept: "),
        "{}",
        run.stderr
    );
    let log = server.wait_log("closed: 1000");
    assert!(log.contains("connected: GET /v"), "{log}");
}

// Two `serve --broadcast --broker redis://…` processes share one room:
// a message sent to either reaches the clients of both, in order.
#[test]
fn broadcast_rooms_span_servers_through_redis() {
    use wsock_tokio::{ClientBuilder, DeflateConfig, Message};
    let Some(redis) = redis_server::RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let servers = [
        Server::start(&["--broadcast", "--broker", &url]),
        Server::start(&["--broadcast", "--broker", &url]),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            let mut alice = ClientBuilder::new(servers[0].url("/"))
                .connect()
                .await
                .unwrap();
            let mut bob = ClientBuilder::new(servers[1].url("/"))
                .deflate(DeflateConfig::disabled())
                .connect()
                .await
                .unwrap();
            // Both servers have subscribed to the room's channel.
            let mut redis_client = redis::Client::open(url.as_str())
                .unwrap()
                .get_connection()
                .unwrap();
            loop {
                let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg("wsock:room:all")
                    .query(&mut redis_client)
                    .unwrap();
                if subscribers == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for (from, name) in [(0, "alice"), (1, "bob")] {
                let sent: Vec<Message> = (0u8..30)
                    .map(|i| match i % 2 {
                        0 => Message::text(format!("{name} {i} ✓")),
                        _ => Message::binary(vec![i; 3000]),
                    })
                    .collect();
                let sender = if from == 0 { &mut alice } else { &mut bob };
                for message in &sent {
                    sender.send(message.clone()).await.unwrap();
                }
                for ws in [&mut alice, &mut bob] {
                    for message in &sent {
                        assert_eq!(ws.recv().await.unwrap().as_ref(), Some(message));
                    }
                }
            }
            alice.close(None).await.unwrap();
            bob.close(None).await.unwrap();
        })
        .await
        .unwrap();
    });
}

// `--broker` with an address nobody listens on is a connection error (3).
#[test]
fn broker_that_cannot_be_reached_exits_3() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let out = Command::new(WSOCK)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--broadcast",
            "--broker",
            &url,
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--broker"));
}

// `serve --broadcast` is a chat room: every text or binary message from
// any client reaches every client, the sender too, in order and unchanged;
// compression is per client (one offers deflate, one does not).
#[test]
fn broadcast_sends_every_message_to_every_client() {
    use wsock_tokio::{ClientBuilder, DeflateConfig, Message};
    let server = Server::start(&["--broadcast"]);
    let url = server.url("/room");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        tokio::time::timeout(DEADLINE, async {
            // A client has joined once what it says comes back.
            let mut alice = ClientBuilder::new(&url).connect().await.unwrap();
            alice.send("alice").await.unwrap();
            assert_eq!(alice.recv().await.unwrap(), Some(Message::text("alice")));
            let mut bob = ClientBuilder::new(&url)
                .deflate(DeflateConfig::disabled())
                .connect()
                .await
                .unwrap();
            bob.send("bob").await.unwrap();
            for ws in [&mut alice, &mut bob] {
                assert_eq!(ws.recv().await.unwrap(), Some(Message::text("bob")));
            }
            let sent: Vec<Message> = (0u8..50)
                .map(|i| match i % 2 {
                    0 => Message::text(format!("line {i} ✓")),
                    _ => Message::binary(vec![i; 3000]),
                })
                .collect();
            for message in &sent {
                alice.send(message.clone()).await.unwrap();
            }
            for ws in [&mut alice, &mut bob] {
                for message in &sent {
                    assert_eq!(ws.recv().await.unwrap().as_ref(), Some(message));
                }
            }
            alice.close(None).await.unwrap();
            bob.close(None).await.unwrap();
        })
        .await
        .unwrap();
    });
}

// ------------------------------------------------------------------ HTTP/2

/// A hyper server on a thread of its own (HTTP/1.1 and h2c, extended
/// CONNECT allowed) whose WebSockets, through `wsock_hyper::upgrade`,
/// first say which HTTP version carried them, then echo.
fn h2c_echo_server() -> SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use wsock_hyper::upgrade::AcceptorExt;

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|mut request| {
                        let version = request.version();
                        let response = match wsock_tokio::Acceptor::new().upgrade(&mut request) {
                            Ok((response, upgrade)) => {
                                tokio::spawn(async move {
                                    let mut ws = upgrade.await?;
                                    ws.send(format!("{version:?}")).await?;
                                    while let Some(message) = ws.recv().await? {
                                        if message.is_data() {
                                            ws.send(message).await?;
                                        }
                                    }
                                    Ok::<_, wsock_tokio::Error>(())
                                });
                                response
                            }
                            Err(refusal) => refusal,
                        };
                        std::future::ready(Ok::<_, std::convert::Infallible>(response))
                    });
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder.http2().enable_connect_protocol();
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
    });
    rx.recv_timeout(DEADLINE).unwrap()
}

#[test]
fn http2_prior_knowledge_connects_over_h2c() {
    let addr = h2c_echo_server();
    let url = format!("ws://{addr}/h2");
    let run = wsock(
        &["-v", "connect", "--http2-prior-knowledge", &url],
        b"over h2\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout, "HTTP/2.0\nover h2\n");
    assert!(run.stderr.contains("< HTTP/2.0 200 OK"), "{}", run.stderr);
    // Without it (or with --http2, which needs TLS to negotiate), the
    // same server is reached over HTTP/1.1.
    for flags in [&[][..], &["--http2"][..]] {
        let args: Vec<&str> = ["connect"]
            .into_iter()
            .chain(flags.iter().copied())
            .chain([url.as_str()])
            .collect();
        let run = wsock(&args, b"over 1.1\n");
        run.assert_code(0);
        assert_eq!(run.stdout, "HTTP/1.1\nover 1.1\n", "{flags:?}");
    }
    // The two flags exclude each other.
    wsock(
        &["connect", "--http2", "--http2-prior-knowledge", &url],
        b"",
    )
    .assert_code(2);
}
