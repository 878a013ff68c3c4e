//! A WebSocket echo server on a hand-written event loop: `mio` reports
//! which sockets are ready, the sans-IO core does the protocol.
//!
//! `cargo run -p wsock-core --example mio_echo -- 127.0.0.1:9001`, then
//! `wsock connect ws://127.0.0.1:9001/` in another terminal.
//!
//! One thread serves every connection. Per connection the loop
//! 1. reads until the socket would block: first into the opening
//!    handshake, then straight into the connection's read buffer;
//! 2. gives the connection the time (`handle_timeout`);
//! 3. takes events (`poll_event`) and echoes text and binary messages;
//! 4. writes the connection's output until the socket would block;
//! 5. closes the transport when `should_close_transport()` says so, with a
//!    lingering close so the close frame is not lost to a TCP reset.
//!
//! The next wake-up is the earliest deadline of all connections: a
//! handshake timeout, a connection's `poll_timeout()` (keepalive pings,
//! the close timeout), or the end of a lingering close.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use wsock_core::handshake::Rejected;
use wsock_core::handshake::server::{Accept, ServerHandshake};
use wsock_core::{Config, Connection, Event, Message};

const LISTENER: Token = Token(0);
/// How long a closed connection may drain the peer's last bytes.
const LINGER: Duration = Duration::from_secs(2);

/// Where one connection stands.
enum Phase {
    /// Reading the HTTP upgrade request, until the deadline.
    Handshake(Box<ServerHandshake>, Instant),
    /// The WebSocket connection.
    Open(Box<Connection>),
    /// Writing a rejection (an HTTP error response), then closing.
    Rejected,
    /// Write side shut; discarding input until the peer's end or the deadline.
    Lingering(Instant),
}

struct Client {
    stream: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    /// Bytes to write before the connection's own output: the handshake's
    /// response (101, or an HTTP error).
    handshake_out: Vec<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:9001".into());
    let listener = TcpListener::bind(addr.parse()?)?;
    println!("listening on ws://{}", listener.local_addr()?);

    let mut config = Config::default();
    // Ping a peer that has been silent for 30 s; drop it if it stays
    // silent for 10 s more. Wait at most 5 s for the peer's close reply.
    config.keepalive_interval = Some(Duration::from_secs(30));
    config.keepalive_timeout = Duration::from_secs(10);
    config.close_timeout = Some(Duration::from_secs(5));
    serve(listener, &config)?;
    Ok(())
}

/// Serves WebSocket echo on `listener` until an I/O error on the poller.
pub fn serve(mut listener: TcpListener, config: &Config) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(256);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_token = 1;
    // The core's clock: time since this origin, as a `Duration`.
    let origin = Instant::now();

    loop {
        // Sleep until a socket is ready or the earliest deadline.
        let deadline = clients.values().filter_map(|c| c.deadline(origin)).min();
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => result?,
        }

        let mut ready = Vec::new();
        for event in &events {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut clients, &mut next_token, config);
            } else {
                ready.push(event.token());
            }
        }
        // Drive the connections that are ready, and those whose deadline
        // has come. (Driving one that is neither is harmless: its reads
        // and writes would block and its timers are not due.)
        let now = Instant::now();
        for (token, client) in &clients {
            if !ready.contains(token) && client.deadline(origin).is_some_and(|d| d <= now) {
                ready.push(*token);
            }
        }
        for token in ready {
            let Some(client) = clients.get_mut(&token) else {
                continue;
            };
            let elapsed = Instant::now().duration_since(origin);
            if let Err(e) = client.drive(elapsed) {
                eprintln!("{}: {e}", client.peer);
                client.phase = Phase::Lingering(Instant::now());
            }
            if client.is_done() {
                // Dropping the stream closes it; mio forgets it.
                clients.remove(&token);
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    poll: &Poll,
    clients: &mut HashMap<Token, Client>,
    next_token: &mut usize,
    config: &Config,
) {
    loop {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let token = Token(*next_token);
                *next_token += 1;
                let interest = Interest::READABLE | Interest::WRITABLE;
                if let Err(e) = poll.registry().register(&mut stream, token, interest) {
                    eprintln!("{peer}: {e}");
                    continue;
                }
                // No deadline when the limits say so: a day is as good as never.
                let limit = config
                    .handshake
                    .timeout
                    .unwrap_or(Duration::from_secs(86_400));
                let handshake = ServerHandshake::new(config);
                clients.insert(
                    token,
                    Client {
                        stream,
                        peer,
                        phase: Phase::Handshake(Box::new(handshake), Instant::now() + limit),
                        handshake_out: Vec::new(),
                    },
                );
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of file descriptors, a connection reset while queued, …:
            // keep serving the others.
            Err(e) => {
                eprintln!("accept: {e}");
                return;
            }
        }
    }
}

impl Client {
    /// When this connection must be driven even if its socket stays quiet.
    fn deadline(&self, origin: Instant) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake(_, deadline) | Phase::Lingering(deadline) => Some(*deadline),
            // `poll_timeout` is on the clock we give `handle_timeout`. A
            // moment already past means "now" (a timer wants to start).
            Phase::Open(conn) => conn.poll_timeout().map(|d| origin + d),
            Phase::Rejected => None,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Lingering(deadline) if Instant::now() >= deadline)
    }

    /// Everything one wake-up does for this connection. `now` is the time
    /// since the loop's origin.
    fn drive(&mut self, now: Duration) -> io::Result<()> {
        if let Phase::Handshake(..) = self.phase {
            self.read_handshake()?;
        }
        if let Phase::Open(conn) = &mut self.phase {
            read_into(&mut self.stream, conn)?;
            conn.handle_timeout(now);
            echo(conn, self.peer);
        }
        self.write()?;

        let close_now = match &self.phase {
            Phase::Open(conn) => conn.should_close_transport(),
            Phase::Rejected => self.handshake_out.is_empty(),
            _ => false,
        };
        if close_now {
            // A lingering close: send our FIN, then drain what the peer
            // still sends until it closes too (or LINGER passes), so the
            // kernel does not answer unread bytes with a reset that could
            // destroy our close frame in flight.
            let _ = self.stream.shutdown(Shutdown::Write);
            self.phase = Phase::Lingering(Instant::now() + LINGER);
        }
        if let Phase::Lingering(_) = self.phase {
            self.drain();
        }
        Ok(())
    }

    /// Reads the upgrade request; on success, becomes `Open`.
    fn read_handshake(&mut self) -> io::Result<()> {
        let Phase::Handshake(handshake, deadline) = &mut self.phase else {
            return Ok(());
        };
        if Instant::now() >= *deadline {
            eprintln!("{}: handshake timed out", self.peer);
            self.phase = Phase::Lingering(Instant::now());
            return Ok(());
        }
        let mut buf = [0; 4096];
        loop {
            let n = match self.stream.read(&mut buf) {
                Ok(0) => {
                    // Gone before the handshake finished.
                    self.phase = Phase::Lingering(Instant::now());
                    return Ok(());
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match handshake.feed(&buf[..n]) {
                Ok(None) => {} // more to come
                Ok(Some(request)) => {
                    // Accept every path; choose a subprotocol, check the
                    // Origin or authenticate here (or `request.reject(..)`).
                    eprintln!("{}: open {}", self.peer, request.path());
                    let accepted = request.accept(Accept::new()).map_err(|r| r.error);
                    let accepted = accepted.map_err(io::Error::other)?;
                    self.handshake_out = accepted.response_bytes;
                    // Deflate as the config says, and the bytes that came
                    // after the request, are already in the connection.
                    self.phase = Phase::Open(Box::new(accepted.connection));
                    return Ok(());
                }
                Err(e) => {
                    // 400, 405, 426 or 431, with a body naming the problem.
                    eprintln!("{}: rejected: {e}", self.peer);
                    self.handshake_out = Rejected::from(e).response_bytes;
                    self.phase = Phase::Rejected;
                    return Ok(());
                }
            }
        }
    }

    /// Writes the handshake response, then the connection's output, until
    /// done or the socket would block (mio reports it writable again).
    fn write(&mut self) -> io::Result<()> {
        while !self.handshake_out.is_empty() {
            match self.stream.write(&self.handshake_out) {
                Ok(n) => drop(self.handshake_out.drain(..n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let Phase::Open(conn) = &mut self.phase else {
            return Ok(());
        };
        loop {
            let mut slices = [&[][..]; 16];
            let count = conn.poll_transmit(&mut slices);
            if count == 0 {
                break;
            }
            let pieces: Vec<IoSlice<'_>> =
                slices[..count].iter().map(|s| IoSlice::new(s)).collect();
            match self.stream.write_vectored(&pieces) {
                Ok(n) => conn.consume_output(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Discards input until the peer's end of stream, then finishes.
    fn drain(&mut self) {
        let mut buf = [0; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(n) if n > 0 => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // End of stream, or an error: nothing more to wait for.
                _ => {
                    self.phase = Phase::Lingering(Instant::now());
                    return;
                }
            }
        }
    }
}

/// Reads straight into the connection's buffer until the socket would block.
fn read_into(stream: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    while conn.wants_read() {
        match stream.read(conn.read_buffer()) {
            Ok(0) => conn.handle_eof(),
            Ok(n) => conn.commit_read(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Takes every event the connection has, echoing data messages. Pings are
/// answered and close frames replied to by the core itself.
fn echo(conn: &mut Connection, peer: SocketAddr) {
    loop {
        match conn.poll_event() {
            Ok(Some(Event::Message(Message::Close(frame)))) => {
                eprintln!("{peer}: peer closed: {frame:?}");
            }
            Ok(Some(Event::Message(message))) if message.is_data() => {
                // The payload goes back as it came, not copied. Sending
                // fails only once we are closing: nothing to echo then.
                let _ = conn.send(message);
            }
            // Pings are answered by the core; nothing else is asked for.
            Ok(Some(_)) => {}
            // Nothing more until more bytes arrive.
            Ok(None) => return,
            // The connection failed: a protocol violation (its close frame
            // is queued), a vanished peer, a keepalive or close timeout.
            Err(e) => {
                eprintln!("{peer}: {e}");
                return;
            }
        }
    }
}
