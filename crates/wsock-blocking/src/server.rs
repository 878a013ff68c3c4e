//! The server side of the opening handshake.

use std::net::Shutdown;
use std::time::Instant;

use wsock_core::handshake::Rejected;
use wsock_core::handshake::server::{Accept, Rejection, Request, ServerHandshake};
use wsock_core::{Config, HandshakeError};
use wsock_io::accept::{answer, feed};

use crate::engine::{discard_input, read_by, write_all_by};
use crate::transport::Transport;
use crate::websocket::WebSocket;
use crate::{Error, ErrorKind};
use wsock_io::handshake::Handshake;
use wsock_io::options::Settings;

/// Everything set before a server accepts a connection.
///
/// ```
/// use std::net::TcpListener;
/// use std::time::Duration;
/// use wsock_blocking::{Accept, Acceptor, Rejection};
///
/// let acceptor = Acceptor::new().max_message_size(1 << 20).read_timeout(Some(Duration::from_secs(60)));
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// # let addr = listener.local_addr()?;
/// # let client = std::thread::spawn(move || {
/// #     let mut ws = wsock_blocking::ClientBuilder::new(&format!("ws://{addr}/chat"))
/// #         .protocol("chat").connect().unwrap();
/// #     assert_eq!(ws.recv().unwrap().expect("a message"), wsock_blocking::Message::text("welcome"));
/// # });
/// let (stream, _) = listener.accept()?;
/// let mut ws = acceptor.accept_with(stream, |request| {
///     if request.path() != "/chat" {
///         return Err(Rejection::new(404));
///     }
///     match request.protocols().iter().find(|p| *p == "chat") {
///         Some(p) => Ok(Accept::new().protocol(p.as_str())),
///         None => Ok(Accept::new()),
///     }
/// })?;
/// ws.send("welcome")?;
/// assert_eq!(ws.protocol(), Some("chat"));
/// # client.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Acceptor {
    settings: Settings,
}

impl Acceptor {
    /// An acceptor with the defaults: a 10 s handshake timeout, no read or
    /// write timeout, the core's default limits.
    pub fn new() -> Self {
        Self::default()
    }

    wsock_io::settings_setters!(settings);

    /// Reads the client's handshake request from `stream` and accepts it
    /// (no subprotocol, no extra headers). An invalid request is answered
    /// with its HTTP error (400, 405, 426 or 431) and the stream closed.
    pub fn accept<S: Transport>(&self, stream: S) -> Result<WebSocket<S>, Error> {
        self.accept_with(stream, |_| Ok(Accept::new()))
    }

    /// Like [`accept`](Self::accept), but `callback` decides: it sees the
    /// [`Request`] (path, query, headers, offered subprotocols, origin) and
    /// returns an [`Accept`] (choosing a subprotocol, adding response
    /// headers) or a [`Rejection`], which is sent before the stream is
    /// closed and reported as an [`ErrorKind::Handshake`] error.
    pub fn accept_with<S, F>(&self, stream: S, callback: F) -> Result<WebSocket<S>, Error>
    where
        S: Transport,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let span = crate::diag::peer_span(wsock_core::Role::Server, stream.peer_addr().ok());
        opening_handshake(stream, &self.settings, callback, &span)
            .inspect_err(|e| crate::diag::handshake_failed(&span, e))
    }
}

/// The server's opening handshake over `io`, within the handshake timeout.
fn opening_handshake<S, F>(
    mut io: S,
    settings: &Settings,
    callback: F,
    span: &crate::diag::Span,
) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    let config = &settings.config;
    let deadline = config.handshake.timeout.map(|t| Instant::now() + t);
    let accepted = read_request(&mut io, config, deadline)
        .and_then(|request| answer(request, callback).map_err(|(r, err)| (Some(r), err)))
        .map_err(|(rejected, err)| {
            respond_and_close(&mut io, rejected.as_ref());
            err
        })?;
    write_all_by(
        &mut io,
        &accepted.response_bytes,
        deadline,
        "opening handshake timed out",
    )?;
    let handshake = Handshake::Server(Box::new(accepted.request));
    let conn = accepted.connection;
    Ok(WebSocket::open(conn, io, settings, handshake, span))
}

/// Reads a valid request by `deadline`, or says what to answer: the
/// request's own error response, 408 when time ran out, nothing when the
/// client is gone.
fn read_request<S: Transport>(
    io: &mut S,
    config: &Config,
    deadline: Option<Instant>,
) -> Result<Request, (Option<Rejected>, Error)> {
    let mut handshake = ServerHandshake::new(config);
    let mut buf = vec![0; 4096];
    loop {
        let n = read_by(io, &mut buf, deadline, "opening handshake timed out").map_err(|e| {
            let timed_out = matches!(e.kind(), ErrorKind::Timeout(_));
            (timed_out.then(Rejected::timed_out), e)
        })?;
        if n == 0 {
            return Err((None, Error::handshake(HandshakeError::UnexpectedEof)));
        }
        let fed = feed(&mut handshake, &buf[..n]).map_err(|(rejected, e)| (Some(rejected), e));
        if let Some(request) = fed? {
            return Ok(request);
        }
    }
}

/// Sends an HTTP error response, if there is one to send (not to a client
/// that is gone), then closes without resetting: shut down writing,
/// discard what the client still sends until it closes (or the
/// rejection's closing time passes).
fn respond_and_close<S: Transport>(io: &mut S, rejected: Option<&Rejected>) {
    if let Some(rejected) = rejected {
        let deadline = Instant::now() + rejected.closing_time();
        let response = &rejected.response_bytes;
        if write_all_by(io, response, Some(deadline), "rejection timed out").is_ok() {
            let _ = io.shutdown(Shutdown::Write);
            discard_input(io, deadline);
        }
    }
    let _ = io.shutdown(Shutdown::Both);
}
