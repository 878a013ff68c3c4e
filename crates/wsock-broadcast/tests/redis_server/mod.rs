//! A real `redis-server` on a free loopback port, for the tests of the
//! Redis broker. The program: `$WSOCK_REDIS_SERVER` if set, else
//! `redis-server` (Debian's `redis-server` package). Without it the tests
//! print a notice and pass, except when `$CI` is set (and not
//! `false`/`0`): then they fail.
#![allow(dead_code, unreachable_pub)]

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Child,
    pub port: u16,
}

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn program() -> String {
    std::env::var("WSOCK_REDIS_SERVER")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "redis-server".into())
}

impl RedisServer {
    /// A fresh server, or `None` (after a notice) when there is no
    /// `redis-server` and this is not CI.
    pub fn start() -> Option<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::on_port(port)
    }

    /// A server on `port` (to restart one that was stopped).
    pub fn on_port(port: u16) -> Option<Self> {
        let program = program();
        let spawned = Command::new(&program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if on_ci() => panic!(
                "{program} cannot be run ({e}); CI must install Debian's redis-server package"
            ),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED (Redis broker tests): {program} cannot be run ({e}); install \
                     redis-server (apt-get install redis-server) or set WSOCK_REDIS_SERVER \
                     (with CI set, this is a failure)"
                );
                return None;
            }
        };
        let mut server = Self { child, port };
        // Ready once it accepts connections.
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{program} on port {port} exited: {status}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{program} did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (its clients see their connections drop).
    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
