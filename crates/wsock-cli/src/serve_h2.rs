//! `wsock serve` over HTTP/2: a TLS connection whose ALPN picked `h2` is
//! served by hyper's HTTP/2 server with the extended CONNECT protocol
//! enabled (RFC 8441: the server's SETTINGS carry
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`, which is what browsers wait for
//! before opening a WebSocket on an HTTP/2 connection).
//!
//! Each extended CONNECT for `websocket` is answered by
//! [`wsock_hyper::upgrade`] with the server's settings (limits,
//! permessage-deflate, subprotocols), and the stream then runs the same
//! loop as an HTTP/1.1 WebSocket ([`serve_websocket`]). Other requests get
//! the `--page` (or, without it, the engine's refusal of a request that is
//! no WebSocket: 405 with `Allow: CONNECT`).
//!
//! Limits, as over HTTP/1.1: the connection holds a handshake slot
//! (`--max-handshakes`, `--evict-after`) until its first request arrives,
//! which must happen within `--handshake-timeout`; the connection holds a
//! connection slot (`--max-connections`) and so does each WebSocket on it
//! (refused with 503 when none is left); a connection with no WebSocket
//! open for `--idle-timeout` is closed (GOAWAY), as an idle WebSocket is;
//! at shutdown the connection sends GOAWAY and its WebSockets close with
//! 1001 like the others.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::{debug, info};
use wsock_core::http;
use wsock_hyper::upgrade::{AcceptorExt as _, Body, is_upgrade_request};

use crate::page::Answer;
use crate::serve::{EchoSettings, Handshake, Summary, Transport, serve_websocket};

/// Most streams a client may open at once on one connection: pages and
/// WebSockets together (each WebSocket also takes a `--max-connections`
/// slot).
const MAX_CONCURRENT_STREAMS: u32 = 100;

/// One HTTP/2 connection, as the accept loop hands it over.
pub(crate) struct Connection {
    /// The connection's number in the log (`#ID`).
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// Given back when the first request arrives.
    pub(crate) handshake: Handshake,
    pub(crate) settings: EchoSettings,
    /// `--max-connections`: one slot for each WebSocket on the connection.
    pub(crate) slots: Arc<Semaphore>,
}

/// What the service of one connection shares between its requests.
struct Service {
    id: u64,
    peer: SocketAddr,
    settings: EchoSettings,
    slots: Arc<Semaphore>,
    /// `Some` until the first request.
    handshake: Mutex<Option<Handshake>>,
    /// WebSockets opened on this connection so far: `#ID.N` in the log.
    websockets: AtomicU64,
    /// WebSockets open now; every request notifies, so that the
    /// connection's idle timer starts over.
    open: watch::Sender<usize>,
}

/// Held by a WebSocket's task: one open WebSocket on the connection.
struct Open(Arc<Service>);

impl Open {
    fn new(service: &Arc<Service>) -> Self {
        service.open.send_modify(|open| *open += 1);
        Self(Arc::clone(service))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
    }
}

impl Connection {
    /// Serves the connection until the client closes it, or until the
    /// server shuts down and its streams are over.
    pub(crate) async fn serve<S>(self, io: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            id,
            peer,
            handshake,
            settings,
            slots,
        } = self;
        let mut stop = settings.stop.clone();
        let first_request = settings.handshake_timeout;
        let idle = settings.idle_timeout;
        let service = Arc::new(Service {
            id,
            peer,
            settings,
            slots,
            handshake: Mutex::new(Some(handshake)),
            websockets: AtomicU64::new(0),
            open: watch::Sender::new(0),
        });
        let mut open = service.open.subscribe();
        debug!("#{id} {peer} HTTP/2");
        let handler = Arc::clone(&service);
        let hyper_service = service_fn(move |request| {
            let response = handler.respond(request);
            std::future::ready(Ok::<_, Infallible>(response))
        });
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .enable_connect_protocol()
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
        let connection = builder.serve_connection(TokioIo::new(io), hyper_service);
        tokio::pin!(connection);
        // Until the first request, --handshake-timeout; then, while no
        // WebSocket is open, --idle-timeout.
        let mut deadline = first_request.map(|limit| Instant::now() + limit);
        let mut stopping = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        debug!("#{id} {peer} HTTP/2 connection ended: {e}");
                    }
                    break;
                }
                changed = open.changed() => {
                    if changed.is_ok() {
                        let idle_now = *open.borrow_and_update() == 0;
                        deadline = idle.filter(|_| idle_now).map(|limit| Instant::now() + limit);
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    deadline = None;
                    if !service.started() {
                        info!("#{id} {peer} handshake failed: no request within --handshake-timeout");
                        break;
                    }
                    debug!("#{id} {peer} idle HTTP/2 connection closed (--idle-timeout)");
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = stopped(&mut stop), if !stopping => {
                    // GOAWAY; the WebSockets close with 1001 on their own.
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Resolves at `deadline` (the select only polls it when there is one).
async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Resolves once the server shuts down (never without a signal).
async fn stopped(stop: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match stop {
        Some(signal) => {
            if signal.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

impl Service {
    /// Whether the first request has arrived.
    fn started(&self) -> bool {
        self.handshake
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn respond(self: &Arc<Self>, mut request: http::Request<Incoming>) -> http::Response<Body> {
        // The first request ends the connection's handshake.
        let handshake = self
            .handshake
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut handshake) = handshake {
            handshake.request_complete();
            handshake.done();
        }
        // Whatever it is, the connection is in use: the idle timer starts over.
        self.open.send_modify(|_| {});
        let (id, peer) = (self.id, self.peer);
        if !is_upgrade_request(&request)
            && let Some(page) = &self.settings.page
        {
            let answer = Answer::to(&request, page);
            info!(
                "#{id} {peer} {} HTTP/2 answered {}",
                answer.request, answer.status
            );
            return answer.into_response();
        }
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            info!("#{id} {peer} WebSocket refused: no connection slot left (--max-connections)");
            let mut refusal = http::Response::new(Body::from("too many connections\n"));
            *refusal.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return refusal;
        };
        let label = format!(
            "{id}.{}",
            self.websockets.fetch_add(1, Ordering::Relaxed) + 1
        );
        let mut summary = Summary {
            transport: Transport::Http2,
            ..Summary::default()
        };
        let upgrade = self
            .settings
            .tokio_builder()
            .upgrade_with(&mut request, |request| {
                // The target of an extended CONNECT is a whole URI: the
                // log shows its path, as for HTTP/1.1.
                summary.path = Some(match request.query() {
                    Some(query) => format!("{}?{query}", request.path()),
                    None => request.path().to_owned(),
                });
                Ok(self.settings.accept(request))
            });
        match upgrade {
            Ok((response, upgrade)) => {
                let settings = self.settings.clone();
                let open = Open::new(self);
                tokio::spawn(async move {
                    let _held = (slot, open);
                    match upgrade.await {
                        Ok(ws) => {
                            summary.protocol = ws.protocol().map(str::to_owned);
                            summary.log_connected(&label, peer);
                            serve_websocket(ws, &settings, &mut summary).await;
                            summary.log(&label, peer);
                        }
                        Err(e) => info!("#{label} {peer} handshake failed: {e}"),
                    }
                });
                response
            }
            Err(refusal) => {
                info!(
                    "#{label} {peer} {} {} HTTP/2 refused: {}",
                    request.method(),
                    request.uri().path(),
                    refusal.status()
                );
                refusal
            }
        }
    }
}
