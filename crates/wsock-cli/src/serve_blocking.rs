//! `wsock serve --runtime blocking`: the echo server on wsock-blocking,
//! one thread per connection.
//!
//! Plain `ws://` runs on wsock-blocking's [`Server`] helper. The helper
//! accepts on `TcpStream`s only, so `wss://` runs an equivalent loop here:
//! wsock-tls completes the TLS handshake (with its timeout), then
//! wsock-blocking's [`Acceptor`] runs the WebSocket handshake over the TLS
//! stream.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tracing::{info, warn};
use wsock_blocking::{
    Accept, Acceptor, ErrorKind, Message, Rejection, Request, Server, Transport, WebSocket,
};
use wsock_core::CloseCode;
use wsock_tls::{ServerTlsStream, TlsAcceptor};

use crate::cli::ServeArgs;
use crate::exit::{CliError, Result};
use crate::serve::{EchoSettings, Summary, announce, bind_error, record_close, report_shutdown};

/// Pause when at the connection limit or after a failed `accept`.
const BACKOFF: Duration = Duration::from_millis(10);

/// `wsock serve --runtime blocking`. Serves until the process is stopped.
pub(crate) fn run(args: &ServeArgs, tls: Option<TlsAcceptor>) -> Result<()> {
    let settings = EchoSettings {
        protocols: args.subprotocols.clone().into(),
        max_message_size: args.max_message_size,
        max_frame_size: args.max_frame_size,
        handshake_timeout: crate::cli::limit(args.handshake_timeout),
        idle_timeout: crate::cli::limit(args.idle_timeout),
        stop: None,
    };
    let acceptor = Acceptor::new()
        .max_message_size(settings.max_message_size)
        .max_frame_size(settings.max_frame_size)
        .handshake_timeout(settings.handshake_timeout)
        .idle_timeout(settings.idle_timeout);
    let counters = Arc::new(Counters::default());
    let max = args.max_connections.max(1);
    match tls {
        None => {
            let choose = settings.clone();
            let handler_counters = Arc::clone(&counters);
            let server = Server::builder()
                .acceptor(acceptor)
                .max_handshakes(args.max_handshakes)
                .on_request(move |request: &Request| {
                    Ok::<_, Rejection>(accept_for(&choose, request))
                })
                .bind(args.listen.as_str(), move |ws| {
                    let Some(slot) = Slot::take(&handler_counters, max) else {
                        let mut ws = ws;
                        let _ = ws.close(CloseCode::TRY_AGAIN_LATER, "too many connections");
                        while ws.read().is_ok() {}
                        return;
                    };
                    serve_one(ws, slot.id);
                })
                .map_err(|e| bind_error(&args.listen, &io::Error::other(e)))?;
            announce(server.local_addr(), false);
            // The server runs on its own threads; this one waits for a
            // signal to shut it down gracefully.
            let signals = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::local(format!("cannot wait for signals: {e}")))?;
            signals.block_on(crate::serve::shutdown_signal());
            let grace = crate::cli::limit(args.shutdown_timeout).unwrap_or(Duration::MAX);
            info!(
                "shutting down: closing {} connections",
                server.connections()
            );
            let report = server.shutdown(grace);
            report_shutdown(report.open, report.forced);
            Ok(())
        }
        Some(tls) => {
            let listener = TcpListener::bind(args.listen.as_str())
                .map_err(|e| bind_error(&args.listen, &e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| bind_error(&args.listen, &e))?;
            announce(addr, true);
            serve_tls(&listener, &tls, &acceptor, &settings, &counters, max)
        }
    }
}

#[derive(Default)]
struct Counters {
    active: AtomicUsize,
    next_id: AtomicU64,
}

/// A connection slot, given back when the connection's thread ends (even
/// by a panic).
struct Slot {
    counters: Arc<Counters>,
    id: u64,
}

impl Slot {
    fn take(counters: &Arc<Counters>, max: usize) -> Option<Self> {
        let id = counters.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        if counters.active.fetch_add(1, Ordering::AcqRel) >= max {
            counters.active.fetch_sub(1, Ordering::AcqRel);
            warn!("#{id} refused: {max} connections open (--max-connections)");
            return None;
        }
        Some(Self {
            counters: Arc::clone(counters),
            id,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counters.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn accept_for(settings: &EchoSettings, request: &Request) -> Accept {
    match settings.choose(request.protocols()) {
        Some(protocol) => Accept::new().protocol(protocol),
        None => Accept::new(),
    }
}

/// Logs, echoes, logs.
fn serve_one<S: Transport>(ws: WebSocket<S>, id: u64) {
    let peer = ws
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut summary = Summary {
        path: ws.request().map(|r| r.target().to_owned()),
        protocol: ws.protocol().map(str::to_owned),
        ..Summary::default()
    };
    summary.log_connected(id, peer);
    echo(ws, &mut summary);
    summary.log(id, peer);
}

fn echo<S: Transport>(mut ws: WebSocket<S>, summary: &mut Summary) {
    loop {
        match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                // A failed send shows up as the next read's error.
                if ws.send(message).is_ok() {
                    summary.echoed += 1;
                }
            }
            Ok(Message::Close(frame)) => record_close(summary, frame.as_ref()),
            Ok(_) => {}
            Err(e) => {
                match e.kind() {
                    // The closing handshake is over: the normal end.
                    ErrorKind::ConnectionClosed | ErrorKind::AlreadyClosed => {
                        if summary.code.is_none() {
                            summary.code = e.close_code().map(CloseCode::as_u16);
                        }
                    }
                    _ => {
                        if summary.code.is_none() {
                            summary.code = e.close_code().map(CloseCode::as_u16);
                        }
                        summary.error = Some(e.to_string());
                    }
                }
                break;
            }
        }
    }
    summary.stats = ws.stats();
}

/// The `wss://` accept loop: TLS, then the WebSocket handshake, then echo,
/// on a thread per connection.
fn serve_tls(
    listener: &TcpListener,
    tls: &TlsAcceptor,
    acceptor: &Acceptor,
    settings: &EchoSettings,
    counters: &Arc<Counters>,
    max: usize,
) -> Result<()> {
    loop {
        while counters.active.load(Ordering::Acquire) >= max {
            std::thread::sleep(BACKOFF);
        }
        let (tcp, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("accept failed: {e}");
                std::thread::sleep(BACKOFF);
                continue;
            }
        };
        let Some(slot) = Slot::take(counters, max) else {
            continue;
        };
        let (tls, acceptor, settings) = (tls.clone(), acceptor.clone(), settings.clone());
        let spawned = std::thread::Builder::new()
            .name("wsock-tls-conn".into())
            .spawn(move || {
                let id = slot.id;
                let _ = tcp.set_nodelay(true);
                let stream = match tls.accept_blocking_timeout(tcp) {
                    Ok(stream) => stream,
                    Err(e) => {
                        info!("#{id} {peer} TLS handshake failed: {e}");
                        return;
                    }
                };
                match acceptor.accept_with(TlsTransport(stream), |request| {
                    Ok(accept_for(&settings, request))
                }) {
                    Ok(ws) => serve_one(ws, id),
                    Err(e) => info!("#{id} {peer} handshake failed: {e}"),
                }
                drop(slot);
            });
        if let Err(e) = spawned {
            warn!("cannot start a connection thread: {e}");
        }
    }
}

/// A server TLS stream as a wsock-blocking transport: timeouts, shutdown
/// and addresses go to the socket underneath.
struct TlsTransport(ServerTlsStream<TcpStream>);

impl Read for TlsTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Transport for TlsTransport {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.0.sock.set_write_timeout(timeout)
    }

    fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            // Say goodbye at the TLS layer first (best effort).
            self.0.conn.send_close_notify();
            let _ = self.0.flush();
        }
        self.0.sock.shutdown(how)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.sock.local_addr()
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.sock.peer_addr()
    }
}
