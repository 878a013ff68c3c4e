//! The server: [`accept`](crate::accept), [`accept_with`](crate::accept_with)
//! and [`Acceptor`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsock_core::handshake::server::{Accept, Rejection, Request, ServerHandshake};
use wsock_core::handshake::{Accepted, Rejected};
use wsock_core::{Config, HandshakeError};
use wsock_io::accept::{Refusal, answer, feed};
use wsock_io::options::Settings;

use crate::client::within;
use crate::shared::Handshake;
use crate::{Error, ErrorKind, Timeout, WebSocket};

/// Accepts a WebSocket connection on a transport: reads the request,
/// answers `101 Switching Protocols` with no subprotocol, and returns the
/// connection. Bad requests are answered with 400, 405, 426 or 431 before
/// the error is returned.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("ws://{}/", listener.local_addr()?);
/// let server = tokio::spawn(async move {
///     let (tcp, _) = listener.accept().await?;
///     let mut ws = wsock_tokio::accept(tcp).await?;
///     ws.send("welcome").await?;
///     ws.close(None).await
/// });
/// let mut ws = wsock_tokio::connect(&url).await?;
/// assert_eq!(ws.recv().await?, Some(wsock_tokio::Message::text("welcome")));
/// ws.close(None).await?;
/// server.await??;
/// # Ok(())
/// # }
/// ```
pub async fn accept<S>(io: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Acceptor::new().accept(io).await
}

/// Accepts a WebSocket connection, letting `callback` look at the request
/// (path, headers, `Origin`, offered subprotocols) and accept it, possibly
/// choosing a subprotocol and adding headers, or reject it with a status,
/// headers and a body (written before the transport is closed).
///
/// ```
/// use wsock_tokio::{Accept, Rejection};
///
/// # async fn serve(tcp: tokio::net::TcpStream) -> Result<(), wsock_tokio::Error> {
/// let ws = wsock_tokio::accept_with(tcp, |request| {
///     if request.path() != "/chat" {
///         return Err(Rejection::new(404).body("no such endpoint\n"));
///     }
///     match request.protocols().iter().find(|p| *p == "chat.v2") {
///         Some(p) => Ok(Accept::new().protocol(p.as_str())),
///         None => Ok(Accept::new()),
///     }
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub async fn accept_with<S, F>(io: S, callback: F) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    Acceptor::new().accept_with(io, callback).await
}

/// A server-side TLS stream, what
/// [`Acceptor::accept_tls`] runs WebSocket connections over.
#[cfg(feature = "tls")]
pub type ServerTlsStream<S = tokio::net::TcpStream> = wsock_tls::tokio_rustls::server::TlsStream<S>;

/// Accepts a `wss://` connection with the default settings: the TLS
/// handshake (bounded by the acceptor's handshake timeout), then the
/// opening handshake. See [`Acceptor::accept_tls`].
#[cfg(feature = "tls")]
pub async fn accept_tls<S>(
    acceptor: &wsock_tls::TlsAcceptor,
    io: S,
) -> Result<WebSocket<ServerTlsStream<S>>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Acceptor::new().accept_tls(acceptor, io).await
}

/// Options for accepting connections.
///
/// ```
/// # async fn serve(tcp: tokio::net::TcpStream) -> Result<(), wsock_tokio::Error> {
/// use std::time::Duration;
///
/// let mut ws = wsock_tokio::Acceptor::new()
///     .handshake_timeout(Some(Duration::from_secs(5)))
///     .max_message_size(1 << 20)
///     .keepalive_interval(Some(Duration::from_secs(30)))
///     .keepalive_timeout(Duration::from_secs(10))
///     .accept(tcp)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Acceptor {
    pub(crate) settings: Settings,
}

impl Acceptor {
    /// The default settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the setters chose, for code that accepts on the acceptor's
    /// behalf: the `wsock-hyper` crate's upgrade behind a hyper server.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    wsock_io::settings_setters!(settings);
    write_coalescing_setter!(settings);

    /// [`accept`](crate::accept) with these settings.
    pub async fn accept<S>(&self, io: S) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.accept_with(io, |_| Ok(Accept::new())).await
    }

    /// [`accept_with`](crate::accept_with) with these settings.
    pub async fn accept_with<S, F>(&self, io: S, callback: F) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let span = crate::diag::connection_span(wsock_core::Role::Server);
        self.accept_in(io, callback, span).await
    }

    /// [`accept_with`](Self::accept_with), reporting in `span`.
    pub(crate) async fn accept_in<S, F>(
        &self,
        io: S,
        callback: F,
        span: crate::diag::Span,
    ) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let (io, accepted) = (self.handshake_in(io, callback).await)
            .inspect_err(|e| crate::diag::handshake_failed(&span, e))?;
        let conn = accepted.connection;
        crate::diag::handshake_done(&span, conn.protocol(), conn.extensions());
        Ok(WebSocket::from_handshake(io, conn, span)
            .with_settings(&self.settings)
            .with_handshake(Handshake::Server(Box::new(accepted.request))))
    }

    /// The opening handshake on `io`, within the handshake timeout.
    async fn handshake_in<S, F>(&self, mut io: S, callback: F) -> Result<(S, Accepted), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let config = &self.settings.config;
        let work = handshake(&mut io, config, callback);
        let what = "the opening handshake";
        let (rejected, err) =
            match within(config.handshake.timeout, Timeout::Handshake, what, work).await {
                Ok(Ok(accepted)) => return Ok((io, accepted)),
                Ok(Err(refusal)) => refusal,
                Err(e) if e.kind() == ErrorKind::Timeout(Timeout::Handshake) => {
                    (Rejected::timed_out(), e)
                }
                Err(e) => return Err(e),
            };
        reject(&mut io, &rejected).await;
        Err(err)
    }
}

#[cfg(feature = "tls")]
impl Acceptor {
    /// Accepts a `wss://` connection: the TLS handshake with `acceptor`,
    /// bounded by its own
    /// [handshake timeout](wsock_tls::TlsAcceptor::handshake_timeout) (so a
    /// silent client cannot hold a slot), then the opening handshake
    /// within this builder's handshake timeout. TLS failures are
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) errors;
    /// [`WebSocket::tls_info`] says what was negotiated (with the client's
    /// certificates, for mutual TLS).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use wsock_tokio::tls::{Pem, ServerTlsConfig};
    ///
    /// let acceptor = ServerTlsConfig::new(Pem::file("cert.pem"), Pem::file("key.pem")).build()?;
    /// let server = wsock_tokio::Acceptor::new();
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
    /// loop {
    ///     let (tcp, _) = listener.accept().await?;
    ///     let (acceptor, server) = (acceptor.clone(), server.clone());
    ///     tokio::spawn(async move {
    ///         let mut ws = server.accept_tls(&acceptor, tcp).await?;
    ///         while let Some(message) = ws.recv().await? {
    ///             if message.is_data() {
    ///                 ws.send(message).await?;
    ///             }
    ///         }
    ///         Ok::<_, wsock_tokio::Error>(())
    ///     });
    /// }
    /// # }
    /// ```
    pub async fn accept_tls<S>(
        &self,
        acceptor: &wsock_tls::TlsAcceptor,
        io: S,
    ) -> Result<WebSocket<ServerTlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.accept_tls_with(acceptor, io, |_| Ok(Accept::new()))
            .await
    }

    /// [`accept_tls`](Self::accept_tls), with `callback` deciding on the
    /// request as in [`accept_with`](Self::accept_with).
    pub async fn accept_tls_with<S, F>(
        &self,
        acceptor: &wsock_tls::TlsAcceptor,
        io: S,
        callback: F,
    ) -> Result<WebSocket<ServerTlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let span = crate::diag::connection_span(wsock_core::Role::Server);
        self.accept_tls_in(acceptor, io, callback, span).await
    }

    /// [`accept_tls_with`](Self::accept_tls_with), reporting in `span`.
    pub(crate) async fn accept_tls_in<S, F>(
        &self,
        acceptor: &wsock_tls::TlsAcceptor,
        io: S,
        callback: F,
        span: crate::diag::Span,
    ) -> Result<WebSocket<ServerTlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        F: FnOnce(&Request) -> Result<Accept, Rejection>,
    {
        let tls = (acceptor.accept_async(io).await)
            .map_err(Error::tls)
            .inspect_err(|e| crate::diag::handshake_failed(&span, e))?;
        let info = wsock_tls::TlsConnectionInfo::tls_info(&tls);
        let ws = self.accept_in(tls, callback, span).await?;
        Ok(ws.with_tls_info(info))
    }
}

/// Reads the request and writes the `101`, handing over the connection, or
/// says what to reject with and which error to report.
async fn handshake<S, F>(
    io: &mut S,
    config: &Config,
    callback: F,
) -> Result<Result<Accepted, Refusal>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Rejection>,
{
    let mut hs = ServerHandshake::new(config);
    let mut buf = vec![0u8; 4096];
    let request = loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(Error::handshake(HandshakeError::UnexpectedEof));
        }
        match feed(&mut hs, &buf[..n]) {
            Ok(Some(request)) => break request,
            Ok(None) => {}
            Err(refusal) => return Ok(Err(refusal)),
        }
    };
    let answer = answer(request, callback);
    if let Ok(accepted) = &answer {
        io.write_all(&accepted.response_bytes).await?;
        io.flush().await?;
    }
    Ok(answer)
}

/// Writes a rejection, ends our side, and reads until the client's end of
/// stream so the response is not lost to a reset; all within the
/// rejection's closing time.
async fn reject<S>(io: &mut S, rejected: &Rejected)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let closing = async {
        io.write_all(&rejected.response_bytes).await?;
        io.flush().await?;
        io.shutdown().await?;
        let mut scratch = [0u8; 1024];
        while io.read(&mut scratch).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(rejected.closing_time(), closing).await;
}
