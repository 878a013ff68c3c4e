//! A small thread-per-connection server, for examples, tests and tools.

use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wsock_core::CloseCode;
use wsock_core::admission::{HandshakeId, Room};
use wsock_io::options::{RequestCallback as Callback, ServerOptions};
use wsock_io::registry::{ACCEPT_BACKOFF, AcceptLog, FOREVER, Registry, SHUTDOWN_REASON};

use crate::engine::{Shared, lock};
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

    /// Turns an accepted socket into the stream (the TLS handshake, bounded
    /// by the acceptor's handshake timeout).
    fn establish(tcp: TcpStream, layer: &Layer) -> Result<Self, Error>;
}

/// The layer between TCP and WebSocket.
enum Layer {
    Plain,
    #[cfg(feature = "tls")]
    Tls(wsock_tls::TlsAcceptor),
}

impl Served for TcpStream {
    const SHARED_WRITES: bool = true;

    fn establish(tcp: TcpStream, _: &Layer) -> Result<Self, Error> {
        Ok(tcp)
    }
}

#[cfg(feature = "tls")]
impl Served for ServerTlsStream {
    const SHARED_WRITES: bool = false;

    fn establish(tcp: TcpStream, layer: &Layer) -> Result<Self, Error> {
        match layer {
            Layer::Tls(acceptor) => {
                let peer = tcp.peer_addr().ok();
                acceptor
                    .accept_blocking_timeout(tcp)
                    .map_err(Error::tls)
                    .inspect_err(|e| {
                        let span = crate::diag::peer_span(wsock_core::Role::Server, peer);
                        crate::diag::handshake_failed(&span, e);
                    })
            }
            Layer::Plain => Err(Error::message(
                crate::ErrorKind::Tls,
                "a TLS server needs an acceptor",
            )),
        }
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
        self.start(listener, Layer::Plain, handler)
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
        self.start(listener, Layer::Tls(acceptor), handler)
    }

    fn start<S, H>(self, listener: TcpListener, layer: Layer, handler: H) -> Result<Server, Error>
    where
        S: Served,
        H: Fn(WebSocket<S>) + Send + Sync + 'static,
    {
        let local_addr = listener.local_addr().map_err(Error::io)?;
        let state = Arc::new(ServerState {
            conns: Mutex::new(Registry::new(
                self.options.max_handshakes,
                self.options.evict_after,
            )),
            changed: Condvar::new(),
            shared_writes: S::SHARED_WRITES,
            epoch: Instant::now(),
        });
        let config = Arc::new(Config {
            acceptor: self.options.acceptor,
            nodelay: self.options.nodelay,
            callback: self.options.callback,
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
        })
    }
}

struct Config<S: Served> {
    acceptor: Acceptor,
    nodelay: bool,
    callback: Option<Arc<Callback>>,
    layer: Layer,
    handler: Arc<Handler<S>>,
}

/// Connections by id (their handshake's id): a second handle to each
/// socket (`None` if duplicating it failed, out of descriptors: the
/// connection is served all the same, and closed by its own thread) and,
/// once open, its state.
type Conns = Registry<Option<TcpStream>, Arc<Shared>>;

struct ServerState {
    conns: Mutex<Conns>,
    /// Signalled when a handshake finishes, a connection ends, or the
    /// server stops.
    changed: Condvar,
    /// Whether close frames can be written through a second handle to the
    /// socket.
    shared_writes: bool,
    /// Where the admission clock starts.
    epoch: Instant,
}

impl ServerState {
    /// The admission clock.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Waits on `conns` as `room` says (a handshake finishing wakes it),
    /// at most until `limit`.
    fn wait<'a>(
        &self,
        conns: MutexGuard<'a, Conns>,
        room: Room,
        limit: Duration,
    ) -> MutexGuard<'a, Conns> {
        let wait = match room {
            Room::At(at) => at.saturating_sub(self.now()).min(limit),
            _ => limit,
        };
        self.changed
            .wait_timeout(conns, wait.max(Duration::from_millis(1)))
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
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
    state: Arc<ServerState>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
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
        lock(&self.state.conns).connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        lock(&self.state.conns).handshakes()
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
        let deadline = Instant::now() + timeout.min(FOREVER);
        let stopping = lock(&self.state.conns).begin_shutdown(|stream, shared| {
            let stream = stream.as_ref().and_then(|s| s.try_clone().ok());
            (Arc::clone(shared), stream)
        });
        self.state.changed.notify_all();
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect_timeout(&wake_addr(self.local_addr), Duration::from_secs(1));
        let _ = thread.join();
        // Handshakes in progress: end them.
        for stream in stopping.handshakes.iter().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let mut report = stopping.report;
        for (shared, stream) in stopping.open {
            match stream {
                Some(mut stream) if self.state.shared_writes => {
                    shared.start_close(&mut stream, CloseCode::GOING_AWAY, SHUTDOWN_REASON);
                }
                // Only the connection's thread can write to its TLS session
                // (or to a socket we hold no second handle to): the close
                // frame goes out when it next reads or writes.
                _ => {
                    shared.queue_close(CloseCode::GOING_AWAY, SHUTDOWN_REASON);
                }
            }
            report.close_sent += 1;
        }
        let mut conns = lock(&self.state.conns);
        while conns.connections() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            conns = self
                .state
                .changed
                .wait_timeout(conns, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let (forced, report) = conns.finish_shutdown(report);
        drop(conns);
        for stream in forced.iter().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// Where to connect to reach a listener on `addr` (an unspecified address
/// is reached through loopback).
fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn accept_loop<S: Served>(
    listener: &TcpListener,
    state: &Arc<ServerState>,
    config: &Arc<Config<S>>,
) {
    let mut failures = AcceptLog::default();
    loop {
        if !wait_for_room(state) {
            return;
        }
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Back off until a connection ends or the backoff passes.
                let conns = lock(&state.conns);
                if !conns.is_stopping() && failures.failed(state.now(), &e) {
                    let _ = state.changed.wait_timeout(conns, ACCEPT_BACKOFF);
                }
                continue;
            }
        };
        failures.accepted(state.now());
        let Some(handshake) = admit(state, stream.try_clone().ok()) else {
            return;
        };
        let (thread_state, thread_config) = (Arc::clone(state), Arc::clone(config));
        let spawned = std::thread::Builder::new()
            .name("wsock-conn".into())
            .spawn(move || serve_connection(stream, handshake, &thread_state, &thread_config));
        if spawned.is_err() {
            let _ = lock(&state.conns).finished(handshake);
            state.changed.notify_all();
        }
    }
}

/// Waits until there is room for another handshake, so that connections
/// wait in the listen backlog meanwhile; `false` if the server stops.
fn wait_for_room(state: &ServerState) -> bool {
    let mut conns = lock(&state.conns);
    loop {
        if conns.is_stopping() {
            return false;
        }
        let room = conns.room(state.now());
        if room == Room::Now {
            return true;
        }
        conns = state.wait(conns, room, FOREVER);
    }
}

/// Admits a connection just accepted (`stream` is a second handle to it),
/// ending a stalled handshake if that is what made room, and waiting if
/// the room has gone meanwhile. `None` if the server stops.
fn admit(state: &ServerState, mut stream: Option<TcpStream>) -> Option<HandshakeId> {
    let mut conns = lock(&state.conns);
    loop {
        if conns.is_stopping() {
            return None;
        }
        match conns.admit(state.now(), stream) {
            Ok(admitted) => {
                if let Some((victim, stream)) = admitted.evicted {
                    // Its thread sees its read fail and ends.
                    if let Some(stream) = stream {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                    crate::diag::evicted(victim.get());
                }
                return Some(admitted.id);
            }
            Err(back) => stream = back,
        }
        let room = conns.room(state.now());
        conns = state.wait(conns, room, FOREVER);
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
    use socket2::{Domain, Socket, Type};
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        let bound = Socket::new(Domain::for_address(addr), Type::STREAM, None).and_then(|socket| {
            #[cfg(unix)]
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
            Ok(socket)
        });
        match bound {
            Ok(socket) => return Ok(socket.into()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(wsock_io::registry::no_address))
}

/// Removes the connection's entry and frees its handshake slot when its
/// thread ends, even by a panic.
struct Registration<'a> {
    state: &'a ServerState,
    id: HandshakeId,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let _ = lock(&self.state.conns).finished(self.id);
        // Also wakes an accept loop backing off: descriptors were freed.
        self.state.changed.notify_all();
    }
}

fn serve_connection<S: Served>(
    tcp: TcpStream,
    id: HandshakeId,
    state: &ServerState,
    config: &Config<S>,
) {
    let _registration = Registration { state, id };
    let _ = tcp.set_nodelay(config.nodelay);
    let Ok(stream) = S::establish(tcp, &config.layer) else {
        return;
    };
    let result = config.acceptor.accept_with(stream, |request| {
        // The request has arrived whole: never evicted from now on.
        lock(&state.conns).request_complete(id);
        wsock_io::options::decide(config.callback.as_deref(), request)
    });
    let Ok(ws) = result else { return };
    let open = lock(&state.conns).opened(id, ws.shared_arc());
    state.changed.notify_all();
    if open {
        (config.handler)(ws);
    }
    // Else evicted or shut down as the handshake finished.
}
