//! A small HTTP `CONNECT` proxy for tests: one connection, answered per
//! [`Mode`]. Shared with the adapters' TLS tests, which include this file
//! with `#[path]`.
#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

pub const CREDENTIALS: &str = "Basic YWxpY2U6czNjcmV0"; // alice:s3cret

#[derive(Clone, Copy)]
pub enum Mode {
    /// 407 unless the expected credentials are sent; then tunnel.
    RequireAuth,
    /// 403 always.
    Forbid,
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
        let authorized = head
            .lines()
            .any(|line| line.eq_ignore_ascii_case(&format!("proxy-authorization: {CREDENTIALS}")));
        match mode {
            Mode::Forbid => {
                client
                    .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
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
            Mode::RequireAuth => {
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
        head
    });
    (addr, handle)
}
