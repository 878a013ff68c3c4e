//! `wsock serve --runtime blocking`: the echo server on wsock-blocking,
//! one thread per connection.
//!
//! Both `ws://` and `wss://` run on wsock-blocking's [`Server`] helper
//! (`bind_tls` runs the TLS handshake, within the acceptor's timeout, on the
//! connection's thread).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use std::time::Duration;

use tracing::{info, warn};
use wsock_blocking::tls::TlsAcceptor;
use wsock_blocking::{Accept, Acceptor, Message, Rejection, Request, Server, Transport, WebSocket};
use wsock_core::CloseCode;

use crate::cli::ServeArgs;
use crate::exit::{CliError, Result};
use crate::serve::{EchoSettings, Step, Summary, announce, bind_error, report_shutdown};

/// `wsock serve --runtime blocking`. Serves until the process is stopped.
pub(crate) fn run(args: &ServeArgs, tls: Option<TlsAcceptor>) -> Result<()> {
    let settings = EchoSettings::from_args(args, None);
    let acceptor = Acceptor::new()
        .max_message_size(settings.max_message_size)
        .max_frame_size(settings.max_frame_size)
        .handshake_timeout(settings.handshake_timeout)
        .idle_timeout(settings.idle_timeout)
        .deflate(settings.deflate);
    let counters = Arc::new(Counters::default());
    let max = args.max_connections.max(1);
    let choose = settings.clone();
    let builder = Server::builder()
        .acceptor(acceptor)
        .max_handshakes(args.max_handshakes)
        .evict_after(args.evict_after)
        .backlog(args.backlog)
        .on_request(move |request: &Request| Ok::<_, Rejection>(accept_for(&choose, request)));
    let is_tls = tls.is_some();
    let server = match tls {
        None => builder.bind(args.listen.as_str(), move |ws| {
            handle(ws, &counters, max);
        }),
        Some(tls) => builder.bind_tls(args.listen.as_str(), tls, move |ws| {
            handle(ws, &counters, max);
        }),
    }
    .map_err(|e| bind_error(&args.listen, &io::Error::other(e)))?;
    announce(server.local_addr(), is_tls);
    // The server runs on its own threads; this one waits for a signal to
    // shut it down gracefully.
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

/// One accepted connection: echo it, or turn it away at the connection
/// limit.
fn handle<S: Transport>(mut ws: WebSocket<S>, counters: &Arc<Counters>, max: usize) {
    let Some(slot) = Slot::take(counters, max) else {
        let _ = ws.send(Message::close(
            CloseCode::TRY_AGAIN_LATER,
            "too many connections",
        ));
        while let Ok(Some(_)) = ws.recv() {}
        return;
    };
    serve_one(ws, slot.id);
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
        match summary.step(ws.recv()) {
            Step::Data(message) => {
                // A failed send shows up as the next receive's error.
                if ws.send(message).is_ok() {
                    summary.echoed += 1;
                }
            }
            Step::Other => {}
            // After the closing handshake (the normal end) or an error.
            Step::End => break,
        }
    }
    summary.stats = ws.stats();
}
