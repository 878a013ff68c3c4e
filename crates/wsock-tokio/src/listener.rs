//! [`Server`]: an accept loop with a handshake cap and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;
use wsock_core::CloseCode;
use wsock_io::listener::{Listener, Registration, SHUTDOWN_REASON, Step};
use wsock_io::options::ServerOptions;

use crate::shared::Shared;
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
        self.start(listener, (), handler)
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
        self.start(listener, acceptor, handler)
    }

    fn start<L, H, F>(self, listener: TcpListener, layer: L, handler: H) -> Result<Server, Error>
    where
        L: Layer,
        H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let local_addr = listener.local_addr()?;
        let options = self.options;
        let state = Arc::new(State::new(
            Listener::new(options.max_handshakes, options.evict_after),
            (Notify::new(), Notify::notify_waiters),
            (Instant::now(), Instant::elapsed),
        ));
        let config = Serving {
            options,
            layer,
            handler,
        };
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), Arc::new(config)));
        Ok(Server {
            state,
            task: Some(task),
            local_addr,
        })
    }
}

/// A server's settings, the layer under its opening handshakes and its
/// handler.
struct Serving<L, H> {
    options: ServerOptions<Acceptor>,
    layer: L,
    handler: H,
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

/// Connections by id (their handshake's id): each task's abort handle
/// (set right after it is spawned) and, once open, what closes it.
type Conns = Listener<Option<AbortHandle>, Weak<dyn Closable>>;

/// The connections, shared by the accept loop, the connections' tasks and
/// the `Server`: waiters wait on the `Notify`, signalled whenever a
/// handshake finishes or a connection ends.
type State = wsock_io::listener::Shared<Option<AbortHandle>, Weak<dyn Closable>, Notify, Instant>;

/// Asks `step` until it says go (`Some`) or stop (`None`), waiting as it
/// says in between: for the next change (registered before `step` looks,
/// so that none is missed), at most until the time it gives (on Tokio's
/// clock, which a test may pause).
async fn until<R>(
    state: &State,
    mut step: impl FnMut(&mut Conns, Duration) -> Step<R>,
) -> Option<R> {
    loop {
        let changed = state.changed().notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = state.now();
        let next = step(&mut state.lock(), now);
        match next {
            Step::Go(go) => return Some(go),
            Step::Wait(until) => {
                let wait = wsock_io::listener::wait_time(until, now);
                let _ = tokio::time::timeout(wait, changed).await;
            }
            _ => return None,
        }
    }
}

/// Ends a connection's task.
fn end(task: Option<AbortHandle>) {
    if let Some(task) = task {
        task.abort();
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
        self.state.connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.state.handshakes()
    }

    /// Stops gracefully: stops accepting, ends handshakes in progress,
    /// asks every open connection to close with 1001 (going away), and
    /// waits up to `timeout` for their handlers to return. Tasks still
    /// running then are aborted; the report counts them in
    /// [`forced`](ShutdownReport::forced).
    pub async fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let stopping = self.state.stop(timeout, |_, closer| closer.clone());
        // Handshakes in progress are ended; open connections asked to close.
        let report = stopping.carry_out(end, |closer| {
            let close =
                |s: Arc<dyn Closable>| s.close_from_outside(CloseCode::GOING_AWAY, SHUTDOWN_REASON);
            closer.upgrade().is_some_and(close)
        });
        let _ = until(&self.state, |conns, now| conns.drained(now)).await;
        let (forced, report) = self.state.lock().finish(report);
        forced.into_iter().for_each(end);
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let tasks = self.state.lock().clear();
        tasks.into_iter().for_each(end);
    }
}

async fn accept_loop<L, H, F>(listener: TcpListener, state: Arc<State>, config: Arc<Serving<L, H>>)
where
    L: Layer,
    H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    while until(&state, |conns, now| conns.next(now)).await.is_some() {
        // After a failure, the listener backs off until a connection ends
        // or the back-off passes.
        let accepted = listener.accept().await;
        let Some((tcp, peer)) = state.accepted(accepted) else {
            continue;
        };
        let _ = tcp.set_nodelay(config.options.nodelay);
        let Some(admitted) = until(&state, |conns, now| conns.admit(now, &mut None)).await else {
            return;
        };
        if let Some((victim, task)) = admitted.evicted {
            // A task not recorded yet is aborted as soon as it is (its
            // entry is gone).
            end(task);
            crate::diag::evicted(victim.get());
        }
        let registration = Registration::new(Arc::clone(&state), admitted.id);
        let connection = serve_connection(tcp, peer, registration, Arc::clone(&config));
        let task = tokio::spawn(connection);
        match state.lock().payload_mut(admitted.id) {
            Some(entry) => *entry = Some(task.abort_handle()),
            // Ended already: to make room, or the connection is over.
            None => task.abort(),
        }
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
    let listener = wsock_io::listen::bind(tokio::net::lookup_host(addr).await?, backlog)?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
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
    fn accept<'a>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: impl FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<Self::Stream>, Error>> + Send + 'a;
}

/// `ws://`: the opening handshake right on the TCP connection.
impl Layer for () {
    type Stream = TcpStream;

    fn accept<'a>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: impl FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<TcpStream>, Error>> + Send + 'a {
        builder.accept_in(tcp, callback, span)
    }
}

/// `wss://`: a TLS handshake, bounded by the acceptor's handshake
/// timeout, then the opening handshake.
#[cfg(feature = "tls")]
impl Layer for wsock_tls::TlsAcceptor {
    type Stream = crate::ServerTlsStream;

    fn accept<'a>(
        &'a self,
        builder: &'a Acceptor,
        tcp: TcpStream,
        callback: impl FnOnce(&Request) -> Result<Accept, Rejection> + Send + 'a,
        span: crate::diag::Span,
    ) -> impl Future<Output = Result<WebSocket<crate::ServerTlsStream>, Error>> + Send + 'a {
        builder.accept_tls_in(self, tcp, callback, span)
    }
}

/// Serves one connection on its own task; `registration` forgets it when
/// the task ends, by return, panic or abort.
async fn serve_connection<L, H, F>(
    tcp: TcpStream,
    peer: SocketAddr,
    registration: Registration<Option<AbortHandle>, Weak<dyn Closable>, Notify, Instant>,
    config: Arc<Serving<L, H>>,
) where
    L: Layer,
    H: Fn(WebSocket<L::Stream>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let options = &config.options;
    let local = tcp.local_addr().ok();
    let span = crate::diag::connection_span(wsock_core::Role::Server);
    crate::diag::record_peer(&span, peer);
    let decide = |request: &Request| {
        registration.request_complete();
        wsock_io::options::decide(options.callback.as_deref(), request)
    };
    let result = config
        .layer
        .accept(&options.acceptor, tcp, decide, span)
        .await;
    let Ok(ws) = result else {
        return;
    };
    let ws = ws.with_addrs(local.map(|local| (local, peer)));
    let shared: Arc<dyn Closable> = ws.shared().clone();
    if !registration.opened(Arc::downgrade(&shared)) {
        // Evicted or shut down as the handshake finished.
        return;
    }
    (config.handler)(ws).await;
}
