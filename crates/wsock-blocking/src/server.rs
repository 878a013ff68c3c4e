//! The server side of the opening handshake.

use std::net::Shutdown;
use std::time::Instant;

use wsock_core::handshake::server::{Accept, Rejection, Request, ServerHandshake, reject_response};
use wsock_core::{Connection, HandshakeError, Role};

use crate::engine::{Handshake, Shared, discard_input, read_by, write_all_by};
use crate::error::{Error, ErrorKind};
use crate::settings::{Settings, linger, settings_setters};
use crate::transport::Transport;
use crate::websocket::WebSocket;

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
/// #     assert_eq!(ws.read().unwrap(), wsock_blocking::Message::text("welcome"));
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

    settings_setters!(settings);

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
        server_handshake(stream, &self.settings, callback)
    }
}

fn server_handshake<S, F>(
    mut io: S,
    settings: &Settings,
    callback: F,
) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    let config = &settings.config;
    let deadline = config.handshake.timeout.map(|t| Instant::now() + t);
    let mut handshake = ServerHandshake::new(config.handshake).with_extensions(config);
    let mut buf = vec![0; 4096];
    let (request, n, used) = loop {
        let n = match read_by(&mut io, &mut buf, deadline, "opening handshake timed out") {
            Ok(n) => n,
            Err(e) => {
                let _ = io.shutdown(Shutdown::Both);
                return Err(e);
            }
        };
        if n == 0 {
            return Err(Error::handshake(HandshakeError::UnexpectedEof));
        }
        match handshake.feed(&buf[..n]) {
            Ok(None) => {}
            Ok(Some((request, used))) => break (request, n, used),
            Err(e) => {
                if let Some(response) = e.rejection_response() {
                    respond_and_close(&mut io, &response, settings);
                }
                return Err(Error::handshake(e));
            }
        }
    };
    let accept = match callback(&request) {
        Ok(accept) => accept,
        Err(rejection) => {
            respond_and_close(&mut io, &rejection.response_bytes(), settings);
            return Err(Error::handshake(HandshakeError::RejectedByApplication(
                rejection.status(),
            )));
        }
    };
    if !accept.extensions().is_empty() {
        respond_and_close(&mut io, &reject_response(500, &[], b""), settings);
        return Err(Error::msg(
            ErrorKind::InvalidInput,
            "only the extensions Config negotiates (permessage-deflate) are supported",
        ));
    }
    let response = match request.accept(&accept) {
        Ok(response) => response,
        Err(e) => {
            // The application chose something the client did not offer, or
            // a header the handshake owns.
            respond_and_close(&mut io, &reject_response(500, &[], b""), settings);
            return Err(Error::request(e));
        }
    };
    write_all_by(&mut io, &response, deadline, "opening handshake timed out")?;
    let mut conn = Connection::new(Role::Server, config.clone())
        .with_protocol(accept.selected_protocol().map(String::from))
        .with_extensions(request.negotiated_extensions());
    // Frames the client sent right behind its request.
    conn.feed(&buf[used..n]);
    let shared = Shared::new(conn, settings, Handshake::Server(request)).with_tls_info_of(&io);
    Ok(WebSocket::new(shared, io, settings))
}

/// Sends an HTTP error response, then closes without resetting: shut
/// down writing, discard what the client still sends until it closes (or
/// the linger time passes).
fn respond_and_close<S: Transport>(io: &mut S, response: &[u8], settings: &Settings) {
    let deadline = Instant::now() + linger(&settings.config);
    if write_all_by(io, response, Some(deadline), "rejection timed out").is_ok() {
        let _ = io.shutdown(Shutdown::Write);
        discard_input(io, deadline);
    }
    let _ = io.shutdown(Shutdown::Both);
}
