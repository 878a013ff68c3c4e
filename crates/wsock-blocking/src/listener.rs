//! A small thread-per-connection server, for examples, tests and tools.

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsock_core::CloseCode;
use wsock_io::listener::{Listener, Registration, SHUTDOWN_REASON, Step};
use wsock_io::options::ServerOptions;

use crate::engine::Shared;
use crate::server::Acceptor;
use crate::websocket::WebSocket;
use crate::{Error, ShutdownReport};

type Handler<S> = dyn Fn(WebSocket<S>) + Send + Sync;

/// A server-side TLS stream over TCP, what [`ServerBuilder::bind_tls`]
/// hands its handler.
#[cfg(feature = "tls")]
pub type ServerTlsStream = wsock_tls::ServerTlsStream<TcpStream>;

/// What the server runs WebSocket connections over: plain TCP, or TLS.
trait Served: crate::Transport + Sized + Send + 'static {
    /// Whether another handle to the socket can write frames on this
    /// connection (plain TCP can; a TLS session belongs to its thread).
    const SHARED_WRITES: bool;

    /// The layer between TCP and WebSocket: nothing, or a TLS acceptor.
    type Layer: Send + Sync + 'static;

    /// Turns an accepted socket into the stream (the TLS handshake, bounded
    /// by the acceptor's handshake timeout).
    fn establish(tcp: TcpStream, layer: &Self::Layer) -> Result<Self, Error>;
}

impl Served for TcpStream {
    const SHARED_WRITES: bool = true;
    type Layer = ();

    fn establish(tcp: TcpStream, (): &()) -> Result<Self, Error> {
        Ok(tcp)
    }
}

#[cfg(feature = "tls")]
impl Served for ServerTlsStream {
    const SHARED_WRITES: bool = false;
    type Layer = wsock_tls::TlsAcceptor;

    fn establish(tcp: TcpStream, acceptor: &wsock_tls::TlsAcceptor) -> Result<Self, Error> {
        let peer = tcp.peer_addr().ok();
        acceptor
            .accept_blocking_timeout(tcp)
            .map_err(Error::tls)
            .inspect_err(|e| {
                let span = crate::diag::peer_span(wsock_core::Role::Server, peer);
                crate::diag::handshake_failed(&span, e);
            })
    }
}

/// Settings of a [`Server`].
///
/// ```
/// use wsock_blocking::{Acceptor, Server};
///
/// let server = Server::builder()
///     .acceptor(Acceptor::new().max_message_size(1 << 20))
///     .max_handshakes(16)
///     .backlog(4096)
///     .bind("127.0.0.1:0", |mut ws| {
///         while let Ok(Some(message)) = ws.recv() {
///             if message.is_data() && ws.send(message).is_err() {
///                 break;
///             }
///         }
///     })?;
/// let mut ws = wsock_blocking::connect(&format!("ws://{}/", server.local_addr()))?;
/// ws.send("hi")?;
/// assert_eq!(ws.recv()?.expect("a message"), wsock_blocking::Message::text("hi"));
/// drop(ws);
/// assert_eq!(server.shutdown(std::time::Duration::from_secs(2)).forced, 0);
/// # Ok::<(), wsock_blocking::Error>(())
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
    pub fn bind<A, H>(self, addr: A, handler: H) -> Result<Server, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<TcpStream>) + Send + Sync + 'static,
    {
        let listener = listen(addr, self.options.backlog).map_err(Error::io)?;
        self.serve(listener, handler)
    }

    /// Serves `listener` on a background thread: each connection gets a
    /// thread that runs the handshake and then `handler`.
    pub fn serve<H>(self, listener: TcpListener, handler: H) -> Result<Server, Error>
    where
        H: Fn(WebSocket<TcpStream>) + Send + Sync + 'static,
    {
        self.start(listener, (), handler)
    }

    /// Binds a listener to `addr` and serves `wss://` on it: see
    /// [`serve_tls`](Self::serve_tls).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    /// # let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    /// use wsock_blocking::tls::{ClientTlsConfig, Pem, ServerTlsConfig};
    /// use wsock_blocking::{ClientBuilder, Message, Server};
    ///
    /// let acceptor = ServerTlsConfig::new(Pem::bytes(cert_pem.clone()), Pem::bytes(key_pem))
    ///     .build()?;
    /// let server = Server::builder().bind_tls("127.0.0.1:0", acceptor, |mut ws| {
    ///     while let Ok(Some(message)) = ws.recv() {
    ///         if message.is_data() && ws.send(message).is_err() {
    ///             break;
    ///         }
    ///     }
    /// })?;
    ///
    /// let connector = ClientTlsConfig::new()
    ///     .webpki_roots(false)
    ///     .add_root_certificates(Pem::bytes(cert_pem))
    ///     .build()?;
    /// let url = format!("wss://localhost:{}/", server.local_addr().port());
    /// let mut ws = ClientBuilder::new(&url).tls_connector(connector).connect()?;
    /// ws.send("hi")?;
    /// assert_eq!(ws.recv()?.expect("a message"), Message::text("hi"));
    /// assert!(ws.tls_info().is_some());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    pub fn bind_tls<A, H>(
        self,
        addr: A,
        acceptor: wsock_tls::TlsAcceptor,
        handler: H,
    ) -> Result<Server, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<ServerTlsStream>) + Send + Sync + 'static,
    {
        let listener = listen(addr, self.options.backlog).map_err(Error::io)?;
        self.serve_tls(listener, acceptor, handler)
    }

    /// Serves `wss://` on `listener`: each connection's thread runs the TLS
    /// handshake — bounded by the acceptor's
    /// [handshake timeout](wsock_tls::TlsAcceptor::handshake_timeout), so a
    /// silent client gives its handshake slot back — then the WebSocket
    /// handshake and `handler`. [`WebSocket::tls_info`] says what was
    /// negotiated (and the client's certificates, with mutual TLS).
    ///
    /// On [`Server::shutdown`], another thread cannot write to a TLS
    /// session, so a TLS connection's close frame (1001) is queued for the
    /// connection's own thread: it goes out when the handler next reads
    /// (data from the peer, a keepalive ping or the read timeout wakes it)
    /// or writes. Connections still open at the timeout are shut down.
    #[cfg(feature = "tls")]
    pub fn serve_tls<H>(
        self,
        listener: TcpListener,
        acceptor: wsock_tls::TlsAcceptor,
        handler: H,
    ) -> Result<Server, Error>
    where
        H: Fn(WebSocket<ServerTlsStream>) + Send + Sync + 'static,
    {
        self.start(listener, acceptor, handler)
    }

    fn start<S, H>(
        self,
        listener: TcpListener,
        layer: S::Layer,
        handler: H,
    ) -> Result<Server, Error>
    where
        S: Served,
        H: Fn(WebSocket<S>) + Send + Sync + 'static,
    {
        let local_addr = listener.local_addr().map_err(Error::io)?;
        let options = self.options;
        let state = Arc::new(State::new(
            Listener::new(options.max_handshakes, options.evict_after),
            (Condvar::new(), Condvar::notify_all),
            (Instant::now(), Instant::elapsed),
        ));
        let config = Arc::new(Config {
            options,
            layer,
            handler: Arc::new(handler),
        });
        let thread = {
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name("wsock-server".into())
                .spawn(move || accept_loop(&listener, &state, &config))
                .map_err(Error::io)?
        };
        Ok(Server {
            state,
            thread: Some(thread),
            local_addr,
            shared_writes: S::SHARED_WRITES,
        })
    }
}

struct Config<S: Served> {
    options: ServerOptions<Acceptor>,
    layer: S::Layer,
    handler: Arc<Handler<S>>,
}

/// Connections by id (their handshake's id): a second handle to each
/// socket (`None` if duplicating it failed, out of descriptors: the
/// connection is served all the same, and closed by its own thread) and,
/// once open, its state.
type Conns = Listener<Option<TcpStream>, Arc<Shared>>;

/// The connections, shared by the accept loop, the connections' threads
/// and the `Server`: waiters wait on the condition variable, signalled
/// when a handshake finishes, a connection ends, or the server stops.
type State = wsock_io::listener::Shared<Option<TcpStream>, Arc<Shared>, Condvar, Instant>;

/// Asks `step` until it says go (`Some`) or stop (`None`), waiting on the
/// condition variable as it says in between.
fn until<R>(state: &State, mut step: impl FnMut(&mut Conns, Duration) -> Step<R>) -> Option<R> {
    let mut conns = state.lock();
    loop {
        let now = state.now();
        match step(&mut conns, now) {
            Step::Go(go) => return Some(go),
            Step::Wait(until) => {
                let wait = wsock_io::listener::wait_time(until, now);
                let waited = state.changed().wait_timeout(conns, wait);
                conns = waited.unwrap_or_else(PoisonError::into_inner).0;
            }
            _ => return None,
        }
    }
}

/// Ends a connection through its second handle: its thread sees its reads
/// fail and ends.
fn end(stream: Option<TcpStream>) {
    if let Some(stream) = stream {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// A WebSocket server running on background threads: one accepts, and each
/// connection runs on its own thread. For examples, tests and tools; a
/// server with many connections wants an async runtime.
///
/// Stop it with [`shutdown`](Self::shutdown). Dropping it stops accepting
/// and closes every connection at once.
///
/// ```
/// use std::time::Duration;
/// use wsock_blocking::{Message, Server};
///
/// // An echo server on a free port.
/// let server = Server::bind("127.0.0.1:0", |mut ws| {
///     while let Ok(Some(message)) = ws.recv() {
///         if message.is_data() && ws.send(message).is_err() {
///             break;
///         }
///     }
/// })?;
/// let mut ws = wsock_blocking::connect(&format!("ws://{}/", server.local_addr()))?;
/// ws.send("hi")?;
/// assert_eq!(ws.recv()?.expect("a message"), Message::text("hi"));
/// assert_eq!(server.connections(), 1);
///
/// // Graceful: every connection gets a close frame (1001, going away);
/// // this client answers it while reading.
/// let reader = std::thread::spawn(move || {
///     while !matches!(ws.recv(), Ok(Some(Message::Close(_)) | None) | Err(_)) {}
/// });
/// assert_eq!(server.shutdown(Duration::from_secs(5)).forced, 0);
/// reader.join().unwrap();
/// # Ok::<(), wsock_blocking::Error>(())
/// ```
pub struct Server {
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    /// Whether close frames can be written through a second handle to the
    /// socket.
    shared_writes: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
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
    pub fn bind<A, H>(addr: A, handler: H) -> Result<Self, Error>
    where
        A: ToSocketAddrs,
        H: Fn(WebSocket<TcpStream>) + Send + Sync + 'static,
    {
        Self::builder().bind(addr, handler)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open now (handshakes included).
    pub fn connections(&self) -> usize {
        self.state.connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.state.handshakes()
    }

    /// Stops gracefully: stops accepting, ends handshakes in progress,
    /// sends a close frame (1001, going away) to every open connection, and
    /// waits up to `timeout` for their handlers to return. Connections
    /// still open then are shut down (their reads fail); the report counts
    /// them in [`forced`](ShutdownReport::forced).
    pub fn shutdown(mut self, timeout: Duration) -> ShutdownReport {
        self.stop(timeout)
    }

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        let Some(thread) = self.thread.take() else {
            return ShutdownReport::default();
        };
        let stopping = self.state.stop(timeout, |stream, shared| {
            let stream = stream.as_ref().and_then(|s| s.try_clone().ok());
            (Arc::clone(shared), stream)
        });
        // Wake the blocking accept with a connection of our own.
        let wake = wsock_io::listen::wake_addr(self.local_addr);
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = thread.join();
        // Handshakes in progress are ended; open connections asked to close.
        let report = stopping.carry_out(end, |(shared, stream)| {
            match stream {
                Some(mut stream) if self.shared_writes => {
                    shared.start_close(&mut stream, CloseCode::GOING_AWAY, SHUTDOWN_REASON);
                }
                // Only the connection's thread can write to its TLS session
                // (or to a socket we hold no second handle to): the close
                // frame goes out when it next reads or writes.
                _ => {
                    shared.queue_close(CloseCode::GOING_AWAY, SHUTDOWN_REASON);
                }
            }
            true
        });
        let _ = until(&self.state, |conns, now| conns.drained(now));
        let (forced, report) = self.state.lock().finish(report);
        forced.into_iter().for_each(end);
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

fn accept_loop<S: Served>(listener: &TcpListener, state: &Arc<State>, config: &Arc<Config<S>>) {
    while until(state, |conns, now| conns.next(now)).is_some() {
        // After a failure, the listener backs off until a connection ends
        // or the back-off passes.
        let accepted = listener.accept();
        let Some((stream, _)) = state.accepted(accepted) else {
            continue;
        };
        // A second handle to the socket, to end or close it from outside.
        let mut second = stream.try_clone().ok();
        let Some(admitted) = until(state, |conns, now| conns.admit(now, &mut second)) else {
            return;
        };
        if let Some((victim, stream)) = admitted.evicted {
            end(stream);
            crate::diag::evicted(victim.get());
        }
        // Dropped with the closure if the thread cannot be spawned.
        let registration = Registration::new(Arc::clone(state), admitted.id);
        let config = Arc::clone(config);
        let _ = std::thread::Builder::new()
            .name("wsock-conn".into())
            .spawn(move || serve_connection(stream, &registration, &config));
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
/// let listener = wsock_blocking::listen("127.0.0.1:0", 1024)?;
/// # drop(listener);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen<A: ToSocketAddrs>(addr: A, backlog: u32) -> std::io::Result<TcpListener> {
    wsock_io::listen::bind(addr.to_socket_addrs()?, backlog)
}

/// Serves one connection on its own thread; `registration` forgets it when
/// the thread ends, even by a panic.
fn serve_connection<S: Served>(
    tcp: TcpStream,
    registration: &Registration<Option<TcpStream>, Arc<Shared>, Condvar, Instant>,
    config: &Config<S>,
) {
    let _ = tcp.set_nodelay(config.options.nodelay);
    let Ok(stream) = S::establish(tcp, &config.layer) else {
        return;
    };
    let result = config.options.acceptor.accept_with(stream, |request| {
        // The request has arrived whole: never evicted from now on.
        registration.request_complete();
        wsock_io::options::decide(config.options.callback.as_deref(), request)
    });
    let Ok(ws) = result else { return };
    if registration.opened(ws.shared_arc()) {
        (config.handler)(ws);
    }
    // Else evicted or shut down as the handshake finished.
}
