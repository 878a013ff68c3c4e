//! A small HTTP `CONNECT` proxy for tests, answering per [`Mode`]: either
//! for one connection ([`spawn_proxy`]), or for any number while logging
//! what it saw ([`LoggingProxy`]), so a test can also assert that a client
//! went *around* it. Shared with the adapters' TLS tests, which include this
//! file with `#[path]`.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const CREDENTIALS: &str = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret

#[derive(Clone, Copy)]
pub enum Mode {
    /// 407 unless the expected credentials are sent; then tunnel.
    RequireAuth,
    /// Tunnel without asking for credentials.
    Open,
    /// 403 always.
    Forbid,
    /// 502 always: "could not reach the target".
    BadGateway,
    /// 200 and some bytes "from the target" in the same write.
    EagerGreeting,
}

/// Reads a request head byte by byte.
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Accepts one connection, answers per `mode`, and (when tunnelling) pipes
/// bytes to `target`. Returns the request head it received.
pub fn spawn_proxy(mode: Mode, target: Option<SocketAddr>) -> (SocketAddr, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        let head = read_head(&mut client);
        answer(mode, target, client, &head);
        head
    });
    (addr, handle)
}

/// Answers the request whose head was `head` per `mode`; when tunnelling,
/// returns once both directions are done.
fn answer(mode: Mode, target: Option<SocketAddr>, mut client: TcpStream, head: &str) {
    let authorized = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case(&format!("proxy-authorization: {CREDENTIALS}")));
    match mode {
        Mode::Forbid => {
            client
                .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
        Mode::BadGateway => {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
        Mode::EagerGreeting => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nHELLO FROM TARGET")
                .unwrap();
            // Wait for the client to finish reading.
            let _ = client.read(&mut [0u8; 1]);
        }
        Mode::RequireAuth if !authorized => {
            client
                .write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                      Proxy-Authenticate: Basic realm=\"wsock\"\r\n\
                      Content-Length: 0\r\n\r\n",
                )
                .unwrap();
        }
        Mode::RequireAuth | Mode::Open => {
            let mut upstream = TcpStream::connect(target.unwrap()).unwrap();
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            let mut client_reader = client.try_clone().unwrap();
            let mut upstream_writer = upstream.try_clone().unwrap();
            let forward = std::thread::spawn(move || {
                let _ = io::copy(&mut client_reader, &mut upstream_writer);
                let _ = upstream_writer.shutdown(Shutdown::Write);
            });
            let _ = io::copy(&mut upstream, &mut client);
            let _ = client.shutdown(Shutdown::Write);
            forward.join().unwrap();
        }
    }
}

/// A proxy that serves any number of connections (each on its own thread)
/// and logs them: how many it accepted, and the request head of each.
/// Stops accepting when dropped.
pub struct LoggingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl LoggingProxy {
    pub fn spawn(mode: Mode, target: Option<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = std::thread::spawn({
            let (accepted, heads, stop) = (accepted.clone(), heads.clone(), stop.clone());
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut client) = client else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let heads = heads.clone();
                    std::thread::spawn(move || {
                        let head = read_head(&mut client);
                        // Logged before answering: a client that got an
                        // answer finds its request in the log.
                        heads.lock().unwrap().push(head.clone());
                        answer(mode, target, client, &head);
                    });
                }
            }
        });
        Self {
            addr,
            accepted,
            heads,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`, for `HTTP_PROXY` and friends.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The request heads received so far, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// The request lines (`CONNECT host:port HTTP/1.1`) received so far.
    pub fn request_lines(&self) -> Vec<String> {
        self.heads()
            .iter()
            .map(|head| head.lines().next().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits (at most `limit`) until `n` request heads have arrived.
    pub fn wait_for_heads(&self, n: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let heads = self.heads();
            if heads.len() >= n || Instant::now() >= deadline {
                return heads;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LoggingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
