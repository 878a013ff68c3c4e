//! [`Server`]: an accept loop with a handshake cap and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use wsock_core::CloseCode;
use wsock_core::admission::{HandshakeId, Room};
use wsock_io::options::ServerOptions;
use wsock_io::registry::{ACCEPT_BACKOFF, AcceptLog, FOREVER, Registry, SHUTDOWN_REASON};

use crate::shared::{Shared, lock};
use crate::{Accept, Acceptor, Error, Rejection, Request, ShutdownReport, WebSocket};

/// Settings of a [`Server`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use wsock_tokio::{Server, Acceptor};
///
/// let server = Server::builder()
///     .acceptor(Acceptor::new().max_message_size(1 << 20))
///     .max_handshakes(128)
///     .backlog(4096)
///     .bind("127.0.0.1:0", |mut ws| async move {
///         while let Ok(Some(message)) = ws.recv().await {
///             if message.is_data() && ws.send(message).await.is_err() {
///                 break;
///             }
///         }
///     })
///     .await?;
/// let mut ws = wsock_tokio::connect(&format!("ws://{}/", server.local_addr())).await?;
/// ws.send("hi").await?;
/// assert_eq!(ws.recv().await?, Some(wsock_tokio::Message::text("hi")));
/// ws.close(None).await?;
/// let report = server.shutdown(Duration::from_secs(2)).await;
/// assert_eq!(report.forced, 0);
/// # Ok(())
/// # }
/// ```
pub struct ServerBuilder {
    options: ServerOptions<Acceptor>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.options.fmt(f)
    }
}

impl ServerBuilder {
    wsock_io::server_setters!(Acceptor);

    /// Binds a listener to `addr` and serves it: see [`serve`](Self::serve).
    pub async fn bind<A, H, F>(self, addr: A, handler: H) -> Result<Server, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<TcpStream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = listen(addr, self.options.backlog).await?;
        self.serve(listener, handler)
    }

    /// Serves `listener` on a task: each connection gets a task that runs
    /// the handshake and then `handler` with the connection
    /// ([`WebSocket::request`] is what the client asked for,
    /// [`WebSocket::peer_addr`] who it is). Must be called within a Tokio
    /// runtime.
    pub fn serve<H, F>(self, listener: TcpListener, handler: H) -> Result<Server, Error>
    where
        H: Fn(WebSocket<TcpStream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.start(listener, Plain, handler)
    }

    /// Binds a listener to `addr` and serves `wss://` on it: see
    /// [`serve_tls`](Self::serve_tls).
    #[cfg(feature = "tls")]
    pub async fn bind_tls<A, H, F>(
        self,
        addr: A,
        acceptor: wsock_tls::TlsAcceptor,
        handler: H,
    ) -> Result<Server, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<crate::ServerTlsStream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = listen(addr, self.options.backlog).await?;
        self.serve_tls(listener, acceptor, handler)
    }

    /// Serves `wss://` on `listener`, as [`serve`](Self::serve) serves
    /// `ws://`: each connection's task runs the TLS handshake with
    /// `acceptor` (bounded by its
    /// [handshake timeout](wsock_tls::TlsAcceptor::handshake_timeout)),
    /// then the opening handshake, then `handler`. A TLS handshake takes
    /// one of the `max_handshakes` slots like an opening handshake, and one
    /// that stalls is ended to make room the same way.
    /// [`WebSocket::tls_info`] says what was negotiated (and the client's
    /// certificates, with mutual TLS).
    #[cfg(feature = "tls")]
    pub fn serve_tls<H, F>(
        self,
        listener: TcpListener,
        acceptor: wsock_tls::TlsAcceptor,
        handler: H,
    ) -> Result<Server, Error>
    where
        H: Fn(WebSocket<crate::ServerTlsStream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        self.start(listener, Tls(acceptor), handler)
    }

    fn start<L, H, F>(self, listener: TcpListener, layer: L, handler: H) -> Result<Server, Error>
    where
        L: Layer,
        H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let local_addr = listener.local_addr()?;
        let state = Arc::new(State {
            conns: Mutex::new(Registry::new(
                self.options.max_handshakes,
                self.options.evict_after,
            )),
            changed: Notify::new(),
            epoch: Instant::now(),
        });
        let serving = Serving {
            builder: self,
            layer,
        };
        let task = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&state),
            Arc::new(serving),
            Arc::new(handler),
        ));
        Ok(Server {
            state,
            task: Some(task),
            local_addr,
        })
    }
}

/// A server's settings and the layer under its opening handshakes.
struct Serving<L> {
    builder: ServerBuilder,
    layer: L,
}

/// A WebSocket server running on Tokio tasks: one accepts, and each
/// connection runs on its own task.
///
/// Stop it with [`shutdown`](Self::shutdown). Dropping it stops accepting
/// and aborts every connection task at once.
pub struct Server {
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

struct State {
    /// Connections by id (their handshake's id): each task's abort handle
    /// (set right after it is spawned) and, once open, what closes it.
    conns: Mutex<Registry<Option<AbortHandle>, Weak<dyn Closable>>>,
    /// Signalled whenever a handshake finishes or a connection ends.
    changed: Notify,
    /// Where the admission clock starts.
    epoch: Instant,
}

impl State {
    /// The admission clock.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// A wake-up for the next change, registered before the caller looks
    /// at the state so that no change is missed.
    fn next_change(&self) -> std::pin::Pin<Box<Notified<'_>>> {
        let mut changed = Box::pin(self.changed.notified());
        changed.as_mut().enable();
        changed
    }

    /// Waits as `room` says: until a handshake finishes, or until a
    /// handshake counts as stalled.
    async fn wait(&self, room: Room, changed: std::pin::Pin<Box<Notified<'_>>>) {
        match room {
            Room::At(at) => {
                let _ = tokio::time::timeout_at(self.epoch + at, changed).await;
            }
            Room::WhenOneFinishes => changed.await,
            _ => {}
        }
    }
}

impl Server {
    /// A server with the default settings; see [`ServerBuilder`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            options: ServerOptions::default(),
        }
    }

    /// Binds to `addr` and serves every connection with `handler`, with
    /// the default settings.
    pub async fn bind<A, H, F>(addr: A, handler: H) -> Result<Self, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<TcpStream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        Self::builder().bind(addr, handler).await
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open now, handshakes included.
    pub fn connections(&self) -> usize {
        lock(&self.state.conns).connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        lock(&self.state.conns).handshakes()
    }

    /// Stops gracefully: stops accepting, ends handshakes in progress,
    /// asks every open connection to close with 1001 (going away), and
    /// waits up to `timeout` for their handlers to return. Tasks still
    /// running then are aborted; the report counts them in
    /// [`forced`](ShutdownReport::forced).
    pub async fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        let deadline = tokio::time::Instant::now() + timeout.min(FOREVER);
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let stopping = lock(&self.state.conns).begin_shutdown(|_, closer| closer.clone());
        let mut report = stopping.report;
        for task in stopping.handshakes.into_iter().flatten() {
            task.abort();
        }
        for shared in stopping.open {
            if shared
                .upgrade()
                .is_some_and(|s| s.close_from_outside(CloseCode::GOING_AWAY, SHUTDOWN_REASON))
            {
                report.close_sent += 1;
            }
        }
        loop {
            let changed = self.state.next_change();
            if lock(&self.state.conns).connections() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        let (forced, report) = lock(&self.state.conns).finish_shutdown(report);
        forced.into_iter().flatten().for_each(|t| t.abort());
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let tasks = lock(&self.state.conns).clear();
        tasks.into_iter().flatten().for_each(|t| t.abort());
    }
}

async fn accept_loop<L, H, F>(
    listener: TcpListener,
    state: Arc<State>,
    config: Arc<Serving<L>>,
    handler: Arc<H>,
) where
    L: Layer,
    H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let mut failures = AcceptLog::default();
    loop {
        wait_for_room(&state).await;
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Wait until a connection ends or the backoff passes.
                let changed = state.next_change();
                if failures.failed(state.now(), &e) {
                    let _ = tokio::time::timeout(ACCEPT_BACKOFF, changed).await;
                }
                continue;
            }
        };
        failures.accepted(state.now());
        if config.builder.options.nodelay {
            let _ = tcp.set_nodelay(true);
        }
        let Some(handshake) = admit(&state).await else {
            return;
        };
        let task = tokio::spawn(serve_connection(
            tcp,
            peer,
            handshake,
            Arc::clone(&state),
            Arc::clone(&config),
            Arc::clone(&handler),
        ));
        match lock(&state.conns).payload_mut(handshake) {
            Some(entry) => *entry = Some(task.abort_handle()),
            // Ended already to make room.
            None => task.abort(),
        }
    }
}

/// Waits until there is room for another handshake, so that connections
/// wait in the listen backlog meanwhile.
async fn wait_for_room(state: &State) {
    loop {
        let changed = state.next_change();
        let room = lock(&state.conns).room(state.now());
        if room == Room::Now {
            return;
        }
        state.wait(room, changed).await;
    }
}

/// Admits a connection just accepted, ending a stalled handshake if that
/// is what made room, and waiting if the room has gone meanwhile. `None`
/// once the server stops.
async fn admit(state: &State) -> Option<HandshakeId> {
    loop {
        let changed = state.next_change();
        let room = {
            let mut conns = lock(&state.conns);
            if let Ok(admitted) = conns.admit(state.now(), None) {
                if let Some((victim, task)) = admitted.evicted {
                    // A task not recorded yet is aborted as soon as it is
                    // (its entry is gone).
                    task.inspect(AbortHandle::abort);
                    crate::diag::evicted(victim.get());
                }
                return Some(admitted.id);
            }
            if conns.is_stopping() {
                return None;
            }
            conns.room(state.now())
        };
        state.wait(room, changed).await;
    }
}

/// A listening socket on the first of `addr`'s addresses that binds, with
/// an explicit listen `backlog`: how many connections the kernel queues
/// while the accept loop is not accepting (`TcpListener::bind` leaves it to
/// the platform). `SO_REUSEADDR` is set on Unix, as `TcpListener::bind`
/// does. [`ServerBuilder::bind`] uses it; use it for an accept loop of your
/// own.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let listener = wsock_tokio::listen("127.0.0.1:0", 1024).await?;
/// # drop(listener);
/// # Ok(())
/// # }
/// ```
pub async fn listen<A: ToSocketAddrs>(addr: A, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(wsock_io::registry::no_address))
}

/// An open connection as the server sees it: something to ask to close
/// when it shuts down, whatever the transport.
trait Closable: Send + Sync {
    /// See [`Shared::close_from_outside`].
    fn close_from_outside(&self, code: CloseCode, reason: &str) -> bool;
}

impl<S: Send> Closable for Shared<S> {
    fn close_from_outside(&self, code: CloseCode, reason: &str) -> bool {
        Shared::close_from_outside(self, code, reason)
    }
}

/// What runs between the accepted TCP connection and the opening
/// handshake: nothing (`ws://`), or a TLS handshake (`wss://`).
trait Layer: Send + Sync + 'static {
    /// The transport the handler's connection runs on.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// The layer's handshake, then the opening handshake with `callback`.
    fn accept<'a, C>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: C,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<Self::Stream>, Error>> + Send + 'a
    where
        C: FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a;
}

/// `ws://`: the opening handshake right on the TCP connection.
struct Plain;

impl Layer for Plain {
    type Stream = TcpStream;

    fn accept<'a, C>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: C,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<TcpStream>, Error>> + Send + 'a
    where
        C: FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a,
    {
        builder.accept_in(tcp, callback, span)
    }
}

/// `wss://`: a TLS handshake, bounded by the acceptor's handshake
/// timeout, then the opening handshake.
#[cfg(feature = "tls")]
struct Tls(wsock_tls::TlsAcceptor);

#[cfg(feature = "tls")]
impl Layer for Tls {
    type Stream = crate::ServerTlsStream;

    fn accept<'a, C>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: C,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<crate::ServerTlsStream>, Error>> + Send + 'a
    where
        C: FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a,
    {
        builder.accept_tls_in(&self.0, tcp, callback, span)
    }
}

/// Removes the connection's entry when its task ends, by return, panic or
/// abort.
struct Registration {
    state: Arc<State>,
    /// Connections are keyed by their handshake's id.
    handshake: HandshakeId,
}

impl Registration {
    /// Records that the request has arrived whole: it is never evicted.
    fn request_complete(&self) {
        lock(&self.state.conns).request_complete(self.handshake);
    }

    /// Records that the handshake is done; `false` if the connection was
    /// dropped from the server meanwhile.
    fn opened<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
        &self,
        ws: &WebSocket<S>,
    ) -> bool {
        let shared: Arc<dyn Closable> = ws.shared().clone();
        let open = lock(&self.state.conns).opened(self.handshake, Arc::downgrade(&shared));
        self.state.changed.notify_waiters();
        open
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = lock(&self.state.conns).finished(self.handshake);
        self.state.changed.notify_waiters();
    }
}

async fn serve_connection<L, H, F>(
    tcp: TcpStream,
    peer: SocketAddr,
    handshake: HandshakeId,
    state: Arc<State>,
    config: Arc<Serving<L>>,
    handler: Arc<H>,
) where
    L: Layer,
    H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let registration = Registration {
        state: Arc::clone(&state),
        handshake,
    };
    let builder = &config.builder;
    let local = tcp.local_addr().ok();
    let span = crate::diag::connection_span(wsock_core::Role::Server);
    crate::diag::record_peer(&span, peer);
    let result = config
        .layer
        .accept(
            &builder.options.acceptor,
            tcp,
            |request| {
                registration.request_complete();
                wsock_io::options::decide(builder.options.callback.as_deref(), request)
            },
            span,
        )
        .await;
    let Ok(ws) = result else {
        return;
    };
    let ws = ws.with_addrs(local.map(|local| (local, peer)));
    if !registration.opened(&ws) {
        // Evicted or shut down as the handshake finished.
        return;
    }
    handler(ws).await;
}
