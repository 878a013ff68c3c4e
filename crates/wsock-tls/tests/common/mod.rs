//! Shared fixtures: an rcgen-generated PKI, loopback echo servers, and
//! re-running a test in a child process with its own environment.
#![allow(dead_code, unreachable_pub)]

pub mod child;
mod pki;
pub mod test_proxy;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use pki::*;
use wsock_tls::{TlsAcceptor, TlsConnectionInfo, TlsError, TlsInfo};

/// The bound on a test body: a hang fails the test instead of stalling the run.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and fails the test if it takes longer than
/// [`LIMIT`].
pub fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => {
            handle.join().unwrap();
            value
        }
        // The body panicked: surface its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test body did not finish within {LIMIT:?}"),
    }
}

/// Accepts one connection on a thread, completes the TLS handshake, echoes
/// until the client goes away, and reports the handshake outcome.
pub fn spawn_blocking_server(
    acceptor: TlsAcceptor,
) -> (SocketAddr, JoinHandle<Result<TlsInfo, TlsError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = acceptor.accept_blocking_timeout(tcp)?;
        let info = tls.tls_info();
        let mut buf = [0u8; 1024];
        loop {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                        break;
                    }
                }
            }
        }
        Ok(info)
    });
    (addr, handle)
}

/// The async twin of [`spawn_blocking_server`].
#[cfg(feature = "tokio")]
pub async fn spawn_async_server(
    acceptor: TlsAcceptor,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<TlsInfo, TlsError>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept_async(tcp).await?;
        let info = tls.tls_info();
        let mut buf = [0u8; 1024];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        Ok(info)
    });
    (addr, handle)
}
