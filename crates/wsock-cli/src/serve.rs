//! `wsock serve`: the echo server.
//!
//! Every text and binary message is sent back as received; pings are
//! answered and closes completed by the engine. Limits stay on (handshake
//! size and time, handshakes in progress, frame and message size, idle
//! time, connection count; see docs/limits.md), and each
//! connection runs in its own task (tokio) or thread (blocking), so a
//! hostile peer, or even a panic, affects only its own connection.
//!
//! The listening address goes to stderr as `listening on ws://ADDR` (or
//! `wss://`) as soon as the socket is bound, even with `--quiet`.
//!
//! With TLS, ALPN picks the HTTP version: `http/1.1` (or none) is read by
//! the engine's handshake as on plain TCP, `h2` is served by hyper with
//! RFC 8441 extended CONNECT ([`crate::serve_h2`]); both kinds of WebSocket
//! then run the same loops here ([`serve_websocket`]). `--page` adds an
//! HTML page at `/` ([`crate::page`]).

use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_sink::Sink as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use wsock_core::admission::HandshakeId;
use wsock_core::{CloseCode, CloseFrame, Message};
use wsock_io::listener::{Listener, Registration, Step as Next};
use wsock_tokio::tls::TlsAcceptor;
use wsock_tokio::{Accept, Acceptor, Request, Stats, WebSocket};

use crate::cli::{Runtime, ServeArgs};
use crate::exit::{CliError, Result};
use crate::format::{printable, subprotocol_suffix};
use crate::page::{Head, Page, Rewind};

/// Settings every connection handler needs.
#[derive(Clone)]
pub(crate) struct EchoSettings {
    /// Subprotocols we accept, in our order (the client's order decides).
    pub(crate) protocols: Arc<[String]>,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    /// permessage-deflate: accepted when offered, unless `--no-deflate`.
    pub(crate) deflate: wsock_core::DeflateConfig,
    /// Turns `true` when the server shuts down: close with 1001.
    pub(crate) stop: Option<watch::Receiver<bool>>,
    /// `--broadcast`: the room every connection joins, instead of echoing.
    pub(crate) room: Option<wsock_broadcast::Hub>,
    /// `--page`: the HTML page served at `/`.
    pub(crate) page: Option<Arc<Page>>,
    /// WebSockets served so far, by HTTP version (shared by every clone).
    pub(crate) served: Arc<Served>,
}

/// How a WebSocket arrived, for the log and the shutdown summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// An HTTP/1.1 `GET` with `Upgrade: websocket` (RFC 6455).
    #[default]
    Http11,
    /// An extended `CONNECT` on an HTTP/2 stream (RFC 8441).
    Http2,
}

/// WebSockets served since start-up, by [`Transport`]: the shutdown
/// summary tells them apart, so that one can see which of its clients
/// (browsers among them) came over HTTP/2.
#[derive(Debug, Default)]
pub(crate) struct Served {
    http11: AtomicU64,
    http2: AtomicU64,
}

impl Served {
    fn count(&self, transport: Transport) {
        let counter = match transport {
            Transport::Http11 => &self.http11,
            Transport::Http2 => &self.http2,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn report(&self) {
        info!(
            "served {} WebSockets over HTTP/1.1 and {} over HTTP/2",
            self.http11.load(Ordering::Relaxed),
            self.http2.load(Ordering::Relaxed)
        );
    }
}

impl EchoSettings {
    pub(crate) fn from_args(args: &ServeArgs, page: Option<Arc<Page>>) -> Self {
        Self {
            protocols: args.subprotocols.clone().into(),
            max_message_size: args.max_message_size,
            max_frame_size: args.max_frame_size,
            handshake_timeout: crate::cli::limit(args.handshake_timeout),
            idle_timeout: crate::cli::limit(args.idle_timeout),
            deflate: if args.no_deflate {
                wsock_core::DeflateConfig::disabled()
            } else {
                wsock_core::DeflateConfig::default()
            },
            stop: None,
            room: args.broadcast.then(|| {
                wsock_broadcast::Hub::builder()
                    .capacity(args.room_capacity)
                    .build()
            }),
            page,
            served: Arc::default(),
        }
    }

    /// The client's first offered subprotocol that we accept.
    pub(crate) fn choose<'a>(&self, offered: &'a [String]) -> Option<&'a str> {
        offered
            .iter()
            .find(|p| self.protocols.contains(p))
            .map(String::as_str)
    }

    /// The answer to an acceptable request: our subprotocol, if any.
    pub(crate) fn accept(&self, request: &Request) -> Accept {
        match self.choose(request.protocols()) {
            Some(protocol) => Accept::new().protocol(protocol),
            None => Accept::new(),
        }
    }

    pub(crate) fn tokio_builder(&self) -> Acceptor {
        Acceptor::new()
            .max_message_size(self.max_message_size)
            .max_frame_size(self.max_frame_size)
            .handshake_timeout(self.handshake_timeout)
            .idle_timeout(self.idle_timeout)
            .deflate(self.deflate)
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
    pub(crate) transport: Transport,
}

impl Summary {
    /// `#ID PEER connected: GET /path HTTP/1.1`, or `CONNECT /path HTTP/2`
    /// for an RFC 8441 stream (whose `ID` is its connection's, then the
    /// stream's number on it: `#3.1`).
    pub(crate) fn log_connected(&self, id: impl fmt::Display, peer: SocketAddr) {
        let path = self.path.as_deref().unwrap_or("/");
        let (method, version) = match self.transport {
            Transport::Http11 => ("GET", "HTTP/1.1"),
            Transport::Http2 => ("CONNECT", "HTTP/2"),
        };
        info!(
            "#{id} {peer} connected: {method} {path} {version}{}",
            subprotocol_suffix(self.protocol.as_deref())
        );
    }

    pub(crate) fn log(&self, id: impl fmt::Display, peer: SocketAddr) {
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
    // HTTP/2 needs hyper, which runs on tokio: the blocking runtime keeps
    // offering HTTP/1.1 only.
    let http2 = !args.no_http2 && args.runtime == Runtime::Tokio;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_acceptor(cert, key, http2)?),
        _ => None,
    };
    let page = args.page.as_deref().map(Page::load).transpose()?;
    match args.runtime {
        Runtime::Tokio => crate::run_tokio(serve_tokio(args, tls, page)),
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

async fn serve_tokio(
    args: &ServeArgs,
    tls: Option<TlsAcceptor>,
    page: Option<Arc<Page>>,
) -> Result<()> {
    let listener = wsock_tokio::listen(args.listen.as_str(), args.backlog)
        .await
        .map_err(|e| bind_error(&args.listen, &e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| bind_error(&args.listen, &e))?;
    announce(addr, tls.is_some());
    let (stop, stopped) = watch::channel(false);
    let mut settings = EchoSettings::from_args(args, page);
    settings.stop = Some(stopped);
    if let Some(url) = &args.broker {
        settings.room = Some(crate::broker::hub(args, url).await?);
    }
    let max = args.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let handshakes = Arc::new(Handshakes::new(
        Listener::new(args.max_handshakes, args.evict_after),
        (Notify::new(), Notify::notify_waiters),
        (Instant::now(), Instant::elapsed),
    ));
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let next = tokio::select! {
            () = &mut signal => break,
            next = accept_next(&listener, &slots, &handshakes) => next,
        };
        let Some((permit, tcp, peer)) = next else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let Some((key, handshake)) = admit(&handshakes).await else {
            break;
        };
        let id = handshake.id();
        let settings = settings.clone();
        let tls = tls.clone();
        let slots = Arc::clone(&slots);
        debug!("#{id} {peer} connected");
        // A panic ends this task only; tokio reports it and moves on.
        // tokio allocates a task the size of its future's largest state,
        // and keeps it while the connection lives: the TLS and HTTP/2
        // states are boxed (`serve_tls`), so a plain connection's task is
        // the size of what it needs while it waits.
        let task = tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_http11(tcp, &settings, id, peer, handshake).await,
                Some(acceptor) => {
                    let tls = serve_tls(acceptor, tcp, settings, id, peer, handshake, slots);
                    Box::pin(tls).await;
                }
            }
        });
        // Recorded unless the handshake is done already: a connection
        // whose handshake is done is not ended to make room.
        if let Some(slot) = handshakes.lock().payload_mut(key) {
            *slot = Some(task.abort_handle());
        }
    }

    // Graceful shutdown: stop accepting, end handshakes, ask every
    // connection to close (1001), and wait for them within the limit.
    drop(listener);
    let tasks = handshakes.lock().clear();
    tasks.into_iter().flatten().for_each(|task| task.abort());
    let open = max - slots.available_permits();
    info!("shutting down: closing {open} connections");
    stop.send_replace(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let wait = slots.acquire_many(all);
    let _ = match crate::cli::limit(args.shutdown_timeout) {
        Some(limit) => tokio::time::timeout(limit, wait).await.ok(),
        None => Some(wait.await),
    };
    report_shutdown(open, max - slots.available_permits());
    settings.served.report();
    Ok(())
}

/// A `wss://` connection: the TLS handshake, then HTTP/2 (with `h2`
/// negotiated by ALPN) or HTTP/1.1.
async fn serve_tls(
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    settings: EchoSettings,
    id: u64,
    peer: SocketAddr,
    handshake: Handshake,
    slots: Arc<Semaphore>,
) {
    match acceptor.accept_async(tcp).await {
        Ok(stream) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
            let connection = crate::serve_h2::Connection {
                id,
                peer,
                handshake,
                settings,
                slots,
            };
            connection.serve(stream).await;
        }
        Ok(stream) => serve_http11(stream, &settings, id, peer, handshake).await,
        Err(e) => info!("#{id} {peer} TLS handshake failed: {e}"),
    }
}

/// One HTTP/1.1 connection (plain TCP, or TLS without `h2`): a WebSocket
/// handshake read by the engine; with `--page`, a plain `GET` is answered
/// instead, and the connection closed.
async fn serve_http11<S>(
    io: S,
    settings: &EchoSettings,
    id: u64,
    peer: SocketAddr,
    handshake: Handshake,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(page) = &settings.page else {
        return log_outcome(
            echo_connection(io, settings, Some((id, peer)), handshake).await,
            id,
            peer,
        );
    };
    // Boxed: the page's states stay out of every plain connection's task.
    Box::pin(serve_page(io, page, settings, id, peer, handshake)).await;
}

/// With `--page`: a WebSocket handshake, or a plain `GET` answered.
async fn serve_page<S>(
    mut io: S,
    page: &Page,
    settings: &EchoSettings,
    id: u64,
    peer: SocketAddr,
    handshake: Handshake,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = wsock_core::HandshakeLimits::default();
    let head = crate::page::read_head(&mut io, &limits, page);
    let head = match settings.handshake_timeout {
        Some(limit) => tokio::time::timeout(limit, head).await,
        None => Ok(head.await),
    };
    match head {
        Ok(Ok(Head::Upgrade(read))) => {
            let io = Rewind::new(read, io);
            let outcome = echo_connection(io, settings, Some((id, peer)), handshake).await;
            log_outcome(outcome, id, peer);
        }
        Ok(Ok(Head::Other(answer))) => {
            handshake.request_complete();
            drop(handshake);
            info!(
                "#{id} {peer} {} HTTP/1.1 answered {}",
                answer.request, answer.status
            );
            if let Err(e) = answer.send_http11(&mut io).await {
                debug!("#{id} {peer} sending the answer failed: {e}");
            }
        }
        Ok(Err(e)) => info!("#{id} {peer} handshake failed: {e}"),
        Err(_) => info!("#{id} {peer} handshake failed: no request within --handshake-timeout"),
    }
}

fn log_outcome(
    outcome: std::result::Result<Summary, wsock_tokio::Error>,
    id: u64,
    peer: SocketAddr,
) {
    match outcome {
        Ok(summary) => summary.log(id, peer),
        Err(e) => info!("#{id} {peer} handshake failed: {e}"),
    }
}

/// Logs how a shutdown went: `open` connections when it began, `left`
/// still open at its deadline.
pub(crate) fn report_shutdown(open: usize, left: usize) {
    if left == 0 {
        info!("shut down: {open} connections closed");
    } else {
        warn!(
            "shut down: {} connections closed, {left} did not close in time (--shutdown-timeout)",
            open.saturating_sub(left)
        );
    }
}

/// The next connection and a slot for it, once there is room for its
/// handshake (until then connections wait in the listen backlog); `None`
/// after a failed accept, which backs the next one off (the listener
/// says how long).
async fn accept_next(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    handshakes: &Handshakes,
) -> Option<(OwnedSemaphorePermit, TcpStream, SocketAddr)> {
    let permit = Arc::clone(slots).acquire_owned().await.ok()?;
    until(handshakes, |table, now| table.next(now)).await?;
    let accepted = listener.accept().await;
    let mut table = handshakes.lock();
    match accepted {
        Ok((tcp, peer)) => {
            if let Some(episode) = table.accepted(handshakes.now()) {
                info!(
                    "accepting again after {} failed attempts in {:.1} s",
                    episode.failures,
                    episode.lasted.as_secs_f64()
                );
            }
            Some((permit, tcp, peer))
        }
        Err(e) => {
            if table.accept_failed(handshakes.now(), &e) {
                warn!("accept failed: {e}; retrying until descriptors free up");
            }
            None
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM; never where signals
/// cannot be received.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The opening handshakes in progress (TLS included), admitted as
/// [`wsock_core::admission`] says: at most `--max-handshakes` at once, a
/// stalled one (request incomplete after `--evict-after`) ended only to
/// make room for a waiting connection. Each handshake's task is recorded
/// right after it is spawned, before another is admitted, so an evicted
/// handshake always has its task. A handshake leaves when done: the
/// connections are counted by `--max-connections`.
type Handshakes = wsock_io::listener::Shared<Option<AbortHandle>, (), Notify, Instant>;

/// Asks `step` until it says go (`Some`) or stop (`None`), waiting as it
/// says in between: for the next change (registered before `step` looks,
/// so that none is missed), at most until the time it gives.
async fn until<R>(
    handshakes: &Handshakes,
    mut step: impl FnMut(&mut Listener<Option<AbortHandle>, ()>, Duration) -> Next<R>,
) -> Option<R> {
    loop {
        let changed = handshakes.changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = handshakes.now();
        let next = step(&mut handshakes.lock(), now);
        match next {
            Next::Go(go) => return Some(go),
            Next::Wait(until) => {
                let wait = wsock_io::listener::wait_time(until, now);
                let _ = tokio::time::timeout(wait, changed).await;
            }
            _ => return None,
        }
    }
}

/// Admits a connection just accepted, ending the stalled handshake that
/// made room, if any; `None` once the server stops.
async fn admit(handshakes: &Arc<Handshakes>) -> Option<(HandshakeId, Handshake)> {
    let admitted = until(handshakes, |table, now| table.admit(now, &mut None)).await?;
    if let Some((victim, task)) = admitted.evicted {
        debug!(
            "#{} handshake stalled: ended to make room (--evict-after)",
            victim.get() + 1
        );
        task.inspect(AbortHandle::abort);
    }
    let slot = Registration::new(Arc::clone(handshakes), admitted.id);
    Some((admitted.id, Handshake { slot: Some(slot) }))
}

/// One handshake in progress; it gives its slot back when done or dropped.
pub(crate) struct Handshake {
    slot: Option<Registration<Option<AbortHandle>, (), Notify, Instant>>,
}

impl Handshake {
    /// Not counted anywhere (for the demo).
    pub(crate) fn untracked() -> Self {
        Self { slot: None }
    }

    pub(crate) fn id(&self) -> u64 {
        self.slot.as_ref().map_or(0, |slot| slot.id().get() + 1)
    }

    /// The request has arrived whole: never evicted from now on.
    pub(crate) fn request_complete(&self) {
        if let Some(slot) = &self.slot {
            slot.request_complete();
        }
    }

    pub(crate) fn done(&mut self) {
        self.slot = None;
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
    mut handshake: Handshake,
) -> std::result::Result<Summary, wsock_tokio::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut summary = Summary::default();
    // Boxed: the handshake's state is freed once it is done, instead of
    // sizing the connection's task for as long as it lives.
    let acceptor = settings.tokio_builder();
    let ws = Box::pin(acceptor.accept_with(io, |request: &Request| {
        handshake.request_complete();
        summary.path = Some(request.target().to_owned());
        Ok::<_, wsock_tokio::Rejection>(settings.accept(request))
    }))
    .await?;
    handshake.done();
    summary.protocol = ws.protocol().map(str::to_owned);
    if let Some((id, peer)) = log {
        summary.log_connected(id, peer);
    }
    serve_websocket(ws, settings, &mut summary).await;
    Ok(summary)
}

/// Runs an accepted WebSocket, whichever way it arrived (`summary.transport`),
/// in the server's loop: echo, or the `--broadcast` room.
pub(crate) async fn serve_websocket<S>(
    ws: WebSocket<S>,
    settings: &EchoSettings,
    summary: &mut Summary,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    settings.served.count(summary.transport);
    match &settings.room {
        Some(hub) => chat(ws, hub, summary, settings.stop.clone()).await,
        None => echo(ws, summary, settings.stop.clone()).await,
    }
}

/// The one room of `--broadcast`.
const ROOM: &str = "all";

/// `--broadcast`: what the client sends goes to the room, and what the
/// room gets goes to the client (a task of its own, so a client that
/// stops reading holds nobody back and is closed with 1008 once a whole
/// room behind).
async fn chat<S>(
    ws: WebSocket<S>,
    hub: &wsock_broadcast::Hub,
    summary: &mut Summary,
    stop: Option<watch::Receiver<bool>>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut rx, mut tx) = ws.split();
    let mut subscription = hub.subscribe(ROOM);
    let forward = tokio::spawn(async move {
        let forward = subscription.forward(&mut tx);
        match stop {
            Some(mut signal) => tokio::select! {
                _ = forward => {}
                () = async { drop(signal.wait_for(|stop| *stop).await) } => {
                    let frame = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
                    let _ = tx.close(Some(frame)).await;
                }
            },
            None => drop(forward.await),
        }
        tx
    });
    loop {
        match summary.step(rx.recv().await) {
            Step::Data(message) => {
                hub.publish(ROOM, message);
                summary.echoed += 1;
            }
            Step::Other => {}
            Step::End => break,
        }
    }
    forward.abort();
    summary.stats = rx.stats();
}

async fn echo<S>(
    mut ws: WebSocket<S>,
    summary: &mut Summary,
    mut stop: Option<watch::Receiver<bool>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        // `None`: the server is shutting down.
        let next = match &mut stop {
            Some(signal) => tokio::select! {
                next = ws.recv() => Some(next),
                _ = signal.wait_for(|stop| *stop) => None,
            },
            None => Some(ws.recv().await),
        };
        let Some(next) = next else {
            // Close once, then finish the closing handshake.
            stop = None;
            let frame = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
            let _ = ws.send(Message::Close(Some(frame))).await;
            continue;
        };
        match summary.step(next) {
            Step::Data(message) => {
                // Queued, not flushed: the next receive writes it out, so a
                // burst of messages is echoed with few writes. A failure
                // shows up as the next receive's error.
                if queue(&mut ws, message).await.is_ok() {
                    summary.echoed += 1;
                }
            }
            Step::Other => {}
            Step::End => break,
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

/// What a receive means to a serving loop.
pub(crate) enum Step {
    /// A text or binary message.
    Data(Message),
    /// Anything else: a ping, a pong, the peer's close (recorded).
    Other,
    /// The connection is over (the error, if any, recorded).
    End,
}

impl Summary {
    /// Records what a receive says about the connection's end (the peer's
    /// close code, or the error) and tells the loop what to do.
    pub(crate) fn step(
        &mut self,
        next: std::result::Result<Option<Message>, wsock_tokio::Error>,
    ) -> Step {
        match next {
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => Step::Data(message),
            Ok(Some(Message::Close(frame))) => {
                record_close(self, frame.as_ref());
                Step::Other
            }
            Ok(Some(_)) => Step::Other,
            Ok(None) => Step::End,
            Err(e) => {
                if self.code.is_none() {
                    self.code = e.close_code().map(CloseCode::as_u16);
                }
                self.error = Some(e.to_string());
                Step::End
            }
        }
    }
}

pub(crate) fn record_close(summary: &mut Summary, frame: Option<&CloseFrame>) {
    match frame {
        Some(frame) => {
            summary.code = Some(frame.code.as_u16());
            summary.reason = frame.reason.to_string();
        }
        None => summary.code = Some(CloseCode::NO_STATUS.as_u16()),
    }
}
