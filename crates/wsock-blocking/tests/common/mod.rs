//! Helpers shared by the integration tests: bounded test bodies, loopback
//! pairs, and a raw peer for sending arbitrary bytes.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use wsock_blocking::{Acceptor, ClientBuilder, MaybeTlsStream, WebSocket};

/// Runs `f` on its own thread and fails the test if it takes longer than
/// `secs` seconds (so a hang is a failure, not a stuck test run).
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => {
            handle.join().unwrap();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: surface its panic.
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test body did not finish within {secs} s"),
    }
}

/// A loopback listener and the `ws://` URL that reaches it.
pub fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

/// A connected client and server with default settings.
pub fn pair() -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    pair_with(|b| b, Acceptor::new())
}

/// A connected client and server; `client` adjusts the client's builder.
pub fn pair_with(
    client: impl FnOnce(ClientBuilder) -> ClientBuilder,
    acceptor: Acceptor,
) -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    let (listener, url) = listener();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        acceptor.accept(stream).unwrap()
    });
    let client = client(ClientBuilder::new(&url)).connect().unwrap();
    (client, server.join().unwrap())
}

/// Drops two connected ends at once (each drop closes and waits for the
/// other's reply, so dropping them one after the other on one thread would
/// wait out the linger time).
pub fn end<A, B>(a: WebSocket<A>, b: WebSocket<B>)
where
    A: wsock_blocking::Transport + Send + 'static,
    B: wsock_blocking::Transport + Send + 'static,
{
    let other = std::thread::spawn(move || drop(b));
    drop(a);
    other.join().unwrap();
}

/// Reads an HTTP request or response head (through the blank line).
pub fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "stream ended inside the head"
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Accepts one connection and answers its WebSocket handshake by hand,
/// returning the raw socket (a peer that can send anything).
pub fn raw_server(listener: &TcpListener) -> TcpStream {
    let (mut stream, _) = listener.accept().unwrap();
    let head = read_head(&mut stream);
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("request has a key")
        .trim()
        .to_string();
    let accept = wsock_blocking::wsock_core::handshake::accept_key(key.as_bytes());
    write!(
        stream,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Connects to `url`'s listener and performs a client handshake by hand,
/// returning the raw socket (a client that can send anything).
pub fn raw_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// A frame: first byte `b0` (FIN, RSV, opcode), `payload`, masked with
/// `mask` when given (as a client must).
pub fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 0x7e);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 0x7f);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one unmasked or masked frame from a raw socket: (first byte,
/// unmasked payload).
pub fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mask = if head[1] & 0x80 != 0 {
        let mut key = [0u8; 4];
        stream.read_exact(&mut key).unwrap();
        Some(key)
    } else {
        None
    };
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    if let Some(key) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    (head[0], payload)
}

/// The close code of a close frame payload.
pub fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// Reads until end of stream (bounded by a 5 s read timeout).
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}
