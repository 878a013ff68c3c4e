//! `wsock serve`: the echo server.
//!
//! Every text and binary message is sent back as received; pings are
//! answered and closes completed by the engine. Limits stay on (handshake
//! size and time, frame and message size, connection count), and each
//! connection runs in its own task (tokio) or thread (blocking), so a
//! hostile peer, or even a panic, affects only its own connection.
//!
//! The listening address goes to stderr as `listening on ws://ADDR` (or
//! `wss://`) as soon as the socket is bound, even with `--quiet`.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_sink::Sink as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use wsock_core::{CloseCode, CloseFrame, Message};
use wsock_tokio::tls::TlsAcceptor;
use wsock_tokio::{Accept, Request, ServerBuilder, Stats, WebSocket};

use crate::cli::{Runtime, ServeArgs};
use crate::exit::{CliError, Result};
use crate::format::{printable, subprotocol_suffix};

/// Pause after a failed `accept` (for example too many open files), so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Settings every connection handler needs.
#[derive(Clone)]
pub(crate) struct EchoSettings {
    /// Subprotocols we accept, in our order (the client's order decides).
    pub(crate) protocols: Arc<[String]>,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
}

impl EchoSettings {
    fn from_args(args: &ServeArgs) -> Self {
        Self {
            protocols: args.subprotocols.clone().into(),
            max_message_size: args.max_message_size,
            max_frame_size: args.max_frame_size,
        }
    }

    /// The client's first offered subprotocol that we accept.
    pub(crate) fn choose<'a>(&self, offered: &'a [String]) -> Option<&'a str> {
        offered
            .iter()
            .find(|p| self.protocols.contains(p))
            .map(String::as_str)
    }

    pub(crate) fn tokio_builder(&self) -> ServerBuilder {
        ServerBuilder::new()
            .max_message_size(self.max_message_size)
            .max_frame_size(self.max_frame_size)
    }
}

/// What happened on one connection, for the log (and the demo).
#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) path: Option<String>,
    pub(crate) protocol: Option<String>,
    /// The close code: the peer's (1005 for an empty close frame), or the
    /// one an error put on the wire (1002, 1007, 1009, 1006 without one).
    pub(crate) code: Option<u16>,
    pub(crate) reason: String,
    pub(crate) error: Option<String>,
    pub(crate) stats: Stats,
    pub(crate) echoed: u64,
}

impl Summary {
    pub(crate) fn log_connected(&self, id: u64, peer: SocketAddr) {
        let path = self.path.as_deref().unwrap_or("/");
        info!(
            "#{id} {peer} connected: GET {path}{}",
            subprotocol_suffix(self.protocol.as_deref())
        );
    }

    pub(crate) fn log(&self, id: u64, peer: SocketAddr) {
        let code = self
            .code
            .map_or_else(|| "no close code".to_owned(), |c| c.to_string());
        let reason = if self.reason.is_empty() {
            String::new()
        } else {
            format!(" {}", printable(self.reason.as_bytes()))
        };
        let error = self
            .error
            .as_ref()
            .map_or_else(String::new, |e| format!(" ({e})"));
        info!(
            "#{id} {peer} closed: {code}{reason}{error}; echoed {}",
            self.echoed
        );
        debug!("#{id} stats: {:?}", self.stats);
    }
}

/// `wsock serve`.
pub(crate) fn run(args: &ServeArgs) -> Result<()> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_acceptor(cert, key)?),
        _ => None,
    };
    match args.runtime {
        Runtime::Tokio => crate::run_tokio(serve_tokio(args, tls)),
        Runtime::Blocking => crate::serve_blocking::run(args, tls),
    }
}

/// Binds `--listen` and announces the address.
pub(crate) fn announce(addr: SocketAddr, tls: bool) {
    let scheme = if tls { "wss" } else { "ws" };
    // Printed even with --quiet: scripts read the port from it.
    eprintln!("listening on {scheme}://{addr}");
}

pub(crate) fn bind_error(listen: &str, e: &std::io::Error) -> CliError {
    CliError::local(format!("cannot listen on {listen}: {e}"))
}

async fn serve_tokio(args: &ServeArgs, tls: Option<TlsAcceptor>) -> Result<()> {
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| bind_error(&args.listen, &e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| bind_error(&args.listen, &e))?;
    announce(addr, tls.is_some());
    let settings = EchoSettings::from_args(args);
    let slots = Arc::new(Semaphore::new(args.max_connections.max(1)));
    let mut next_id = 0u64;
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            unreachable!("never closed")
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let settings = settings.clone();
        let tls = tls.clone();
        debug!("#{id} {peer} connected");
        // A panic ends this task only; tokio reports it and moves on.
        tokio::spawn(async move {
            let _permit = permit;
            let summary = match tls {
                None => echo_connection(tcp, &settings, Some((id, peer))).await,
                Some(acceptor) => match acceptor.accept_async(tcp).await {
                    Ok(stream) => echo_connection(stream, &settings, Some((id, peer))).await,
                    Err(e) => {
                        info!("#{id} {peer} TLS handshake failed: {e}");
                        return;
                    }
                },
            };
            match summary {
                Ok(summary) => summary.log(id, peer),
                Err(e) => info!("#{id} {peer} handshake failed: {e}"),
            }
        });
    }
}

/// Accepts the WebSocket handshake on `io` and echoes until the connection
/// ends. `Err` only when the handshake fails.
/// With `log` (connection number and peer), the accepted handshake is
/// logged.
pub(crate) async fn echo_connection<S>(
    io: S,
    settings: &EchoSettings,
    log: Option<(u64, SocketAddr)>,
) -> std::result::Result<Summary, wsock_tokio::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut summary = Summary::default();
    let ws = settings
        .tokio_builder()
        .accept_with(io, |request: &Request| {
            summary.path = Some(request.target().to_owned());
            let accept = match settings.choose(request.protocols()) {
                Some(protocol) => Accept::new().protocol(protocol),
                None => Accept::new(),
            };
            Ok::<_, wsock_tokio::Rejection>(accept)
        })
        .await?;
    summary.protocol = ws.protocol().map(str::to_owned);
    if let Some((id, peer)) = log {
        summary.log_connected(id, peer);
    }
    echo(ws, &mut summary).await;
    Ok(summary)
}

async fn echo<S>(mut ws: WebSocket<S>, summary: &mut Summary)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.recv().await {
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                // Queued, not flushed: the next receive writes it out, so a
                // burst of messages is echoed with few writes. A failure
                // shows up as the next receive's error.
                if queue(&mut ws, message).await.is_ok() {
                    summary.echoed += 1;
                }
            }
            Ok(Some(Message::Close(frame))) => record_close(summary, frame.as_ref()),
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                if summary.code.is_none() {
                    summary.code = e.close_code().map(CloseCode::as_u16);
                }
                summary.error = Some(e.to_string());
                break;
            }
        }
    }
    summary.stats = ws.stats();
}

/// Queues a message, waiting while the write buffer is full (backpressure
/// on a peer that does not read).
async fn queue<S>(
    ws: &mut WebSocket<S>,
    message: Message,
) -> std::result::Result<(), wsock_tokio::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    poll_fn(|cx| Pin::new(&mut *ws).poll_ready(cx)).await?;
    Pin::new(&mut *ws).start_send(message)
}

pub(crate) fn record_close(summary: &mut Summary, frame: Option<&CloseFrame>) {
    match frame {
        Some(frame) => {
            summary.code = Some(frame.code.as_u16());
            summary.reason.clone_from(&frame.reason);
        }
        None => summary.code = Some(CloseCode::NO_STATUS.as_u16()),
    }
}
