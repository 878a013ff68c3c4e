//! The client: [`connect`](crate::connect), [`ClientBuilder`], and Happy
//! Eyeballs (RFC 8305) connection racing.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use wsock_core::HandshakeError;
use wsock_core::handshake::client::{ClientHandshake, ClientRequest, IntoClientRequest};
use wsock_io::connect::{interleave, target};
use wsock_io::options::ClientOptions;

use crate::shared::Handshake;
use crate::{ConnectAttempt, Error, MaybeTlsStream, Timeout, WebSocket};

/// How long a connection attempt runs alone before the next address is
/// tried alongside it (RFC 8305 §5 recommends 250 ms).
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Connects to a `ws://` or `wss://` URL with the default settings.
///
/// `wss://` (with the `tls` feature, on by default) verifies the server
/// against the Mozilla roots of `webpki-roots`, with SNI for host names and
/// ALPN `http/1.1`; `ClientBuilder::tls_connector` changes that.
///
/// ```no_run
/// # async fn demo() -> Result<(), wsock_tokio::Error> {
/// let mut ws = wsock_tokio::connect("ws://127.0.0.1:9001/chat").await?;
/// ws.send("hello").await?;
/// while let Some(message) = ws.recv().await? {
///     println!("{message:?}");
/// }
/// # Ok(())
/// # }
/// ```
///
/// A runnable round trip against [`accept`](crate::accept):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wsock_tokio::Message;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("ws://{}/echo", listener.local_addr()?);
/// tokio::spawn(async move {
///     let (tcp, _) = listener.accept().await?;
///     let mut ws = wsock_tokio::accept(tcp).await?;
///     while let Some(message) = ws.recv().await? {
///         if message.is_data() {
///             ws.send(message).await?;
///         }
///     }
///     Ok::<_, wsock_tokio::Error>(())
/// });
///
/// let mut ws = wsock_tokio::connect(&url).await?;
/// ws.send("ping?").await?;
/// assert_eq!(ws.recv().await?, Some(Message::text("ping?")));
/// ws.close(None).await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect(request: impl IntoClientRequest) -> Result<WebSocket<MaybeTlsStream>, Error> {
    ClientBuilder::new(request).connect().await
}

/// Runs the client's opening handshake over a stream connected by other
/// means (a TLS stream of your own, a Unix socket, an in-memory pipe);
/// `request` is a URL, an `http::Request<()>` or a [`ClientRequest`]. Use
/// [`ClientBuilder::handshake`] to change the settings.
pub async fn client<S>(io: S, request: impl IntoClientRequest) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    ClientBuilder::new(request).handshake(io).await
}

/// Connection options for a client. Setters that take text check it when
/// [`connect`](Self::connect) runs; the first problem is reported then.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wsock_tokio::Error> {
/// use std::time::Duration;
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("ws://{}/chat", listener.local_addr()?);
/// # tokio::spawn(async move {
/// #     let (tcp, _) = listener.accept().await?;
/// #     let ws = wsock_tokio::accept_with(tcp, |request| {
/// #         assert_eq!(request.header("authorization"), Some(&b"Bearer token"[..]));
/// #         Ok(wsock_tokio::Accept::new().protocol("chat.v2"))
/// #     }).await?;
/// #     Ok::<_, wsock_tokio::Error>(ws)
/// # });
///
/// // url: "ws://example.com/chat" or similar
/// let ws = wsock_tokio::ClientBuilder::new(url)
///     .protocol("chat.v2")
///     .header("Authorization", "Bearer token")
///     .connect_timeout(Some(Duration::from_secs(5)))
///     .keepalive_interval(Some(Duration::from_secs(20)))
///     .keepalive_timeout(Duration::from_secs(10))
///     .max_message_size(1 << 20)
///     .connect()
///     .await?;
/// assert_eq!(ws.protocol(), Some("chat.v2"));
/// // The server's answer, headers included.
/// assert_eq!(ws.response().unwrap().protocol(), Some("chat.v2"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    options: ClientOptions,
}

impl ClientBuilder {
    /// Options for a connection to `request`: a `ws://` or `wss://` URL,
    /// an `http::Request<()>` or `http::Uri`, or a [`ClientRequest`] (see
    /// [`IntoClientRequest`]), with the defaults: no-delay on, a 30 s
    /// connect timeout, a 10 s handshake timeout, no read or write timeout,
    /// the core's default limits.
    pub fn new(request: impl IntoClientRequest) -> Self {
        Self {
            options: ClientOptions::new(request),
        }
    }

    /// What the setters chose (the request, its settings, the TLS
    /// connector and proxy, the timeouts), for code that connects on the
    /// builder's behalf: the `wsock-hyper` crate's HTTP/2 client takes
    /// TLS, proxy, timeouts and limits from the same builder.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    wsock_io::client_setters!();
    write_coalescing_setter!(options.settings);

    /// Resolves the host, connects (Happy Eyeballs, or through the proxy)
    /// within the connect timeout, runs the TLS handshake for `wss://`
    /// within the connector's handshake timeout, then the opening
    /// handshake within the handshake timeout.
    ///
    /// A rejected certificate or a TLS failure is an
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) error
    /// (`Error::certificate_error` says why); without the `tls`
    /// feature, `wss://` always is.
    ///
    /// Over HTTP/2 (RFC 8441): the `wsock-hyper` crate's `Http2Client`,
    /// which takes this builder.
    pub async fn connect(&self) -> Result<WebSocket<MaybeTlsStream>, Error> {
        let request = &self.options.request()?;
        #[cfg(not(feature = "tls"))]
        if request.is_tls() {
            return Err(Error::tls_disabled());
        }
        let tcp = self.connect_tcp_to(request).await?;
        let addrs = tcp.local_addr().ok().zip(tcp.peer_addr().ok());
        let span = crate::diag::peer_span(wsock_core::Role::Client, addrs.map(|(_, peer)| peer));
        #[cfg(feature = "tls")]
        if request.is_tls() {
            let connector = self.options.tls_connector();
            let tls = (connector.connect_async(request.host(), tcp).await)
                .map_err(Error::tls)
                .inspect_err(|e| crate::diag::handshake_failed(&span, e))?;
            let info = wsock_tls::TlsConnectionInfo::tls_info(&tls);
            let ws = self
                .handshake_with(MaybeTlsStream::Tls(Box::new(tls)), request, span)
                .await?;
            return Ok(ws.with_tls_info(info).with_addrs(addrs));
        }
        let ws = self
            .handshake_with(MaybeTlsStream::Plain(tcp), request, span)
            .await?;
        Ok(ws.with_addrs(addrs))
    }

    /// Only the TCP part of [`connect`](Self::connect): resolves the URL's
    /// host and races its addresses (RFC 8305), within the connect
    /// timeout. For a TLS layer to wrap before [`handshake`](Self::handshake).
    pub async fn connect_tcp(&self) -> Result<TcpStream, Error> {
        let request = self.options.request()?;
        self.connect_tcp_to(&request).await
    }

    pub(crate) async fn connect_tcp_to(&self, request: &ClientRequest) -> Result<TcpStream, Error> {
        let (host, port) = (request.host(), request.port());
        let work = async {
            #[cfg(feature = "tls")]
            if let Some(proxy) = self.options.proxy_for(request)? {
                return proxy.tunnel_async(host, port).await.map_err(Error::proxy);
            }
            let addrs = match &self.options.addresses {
                Some(addrs) => addrs.clone(),
                // An IP address is not looked up.
                None => (tokio::net::lookup_host((host, port)).await)
                    .map_err(|e| Error::dns(host, e))?
                    .collect(),
            };
            let target = target(host, port);
            if addrs.is_empty() {
                return Err(Error::connect(&target, Vec::new(), 0));
            }
            race(&interleave(addrs))
                .await
                .map_err(|tried| Error::connect(&target, tried, 0))
        };
        let tcp = within(
            self.options.connect_timeout,
            Timeout::Connect,
            "connecting",
            work,
        )
        .await?;
        tcp.set_nodelay(self.options.nodelay)?;
        Ok(tcp)
    }

    /// Runs the opening handshake over a connected transport (plain TCP,
    /// or a TLS stream for `wss://`), within the handshake timeout.
    pub async fn handshake<S>(&self, io: S) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let request = self.options.request()?;
        let span = crate::diag::connection_span(wsock_core::Role::Client);
        self.handshake_with(io, &request, span).await
    }

    /// The opening handshake, reported in `span`.
    pub(crate) async fn handshake_with<S>(
        &self,
        io: S,
        request: &ClientRequest,
        span: crate::diag::Span,
    ) -> Result<WebSocket<S>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (io, connected) = (self.opening_handshake(io, request).await)
            .inspect_err(|e| crate::diag::handshake_failed(&span, e))?;
        let conn = connected.connection;
        crate::diag::handshake_done(&span, conn.protocol(), conn.extensions());
        // Subprotocol, extensions and the frames that came with the
        // response are already in the connection.
        Ok(WebSocket::from_handshake(io, conn, span)
            .with_settings(&self.options.settings)
            .with_handshake(Handshake::Client(Box::new(connected.response))))
    }

    /// Writes the request and reads the response, within the handshake
    /// timeout.
    async fn opening_handshake<S>(
        &self,
        mut io: S,
        request: &ClientRequest,
    ) -> Result<(S, wsock_core::handshake::Connected), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.options.settings.config;
        let work = async {
            let mut hs = ClientHandshake::new(request, config);
            io.write_all(hs.request_bytes()).await?;
            io.flush().await?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = io.read(&mut buf).await?;
                if n == 0 {
                    return Err(Error::handshake(HandshakeError::UnexpectedEof));
                }
                if let Some(connected) = hs.feed(&buf[..n]).map_err(Error::handshake)? {
                    return Ok(connected);
                }
            }
        };
        let what = "the opening handshake";
        let connected = within(config.handshake.timeout, Timeout::Handshake, what, work).await?;
        Ok((io, connected))
    }
}

/// `work`, failing with a `which` timeout once `limit` passes.
pub(crate) async fn within<T>(
    limit: Option<Duration>,
    which: Timeout,
    what: &'static str,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => {
            (tokio::time::timeout(limit, work).await).map_err(|_| Error::timeout(which, what))?
        }
        None => work.await,
    }
}

/// Happy Eyeballs (RFC 8305 §5): start the next attempt when the previous
/// fails or after [`ATTEMPT_DELAY`], whichever is first; the first
/// connection wins and the other attempts are dropped (aborted with the
/// set). On failure, every address with its error, in the order tried.
async fn race(addrs: &[SocketAddr]) -> Result<TcpStream, Vec<ConnectAttempt>> {
    let mut running = JoinSet::new();
    let mut failed = Vec::new();
    let mut next = addrs.iter().copied().enumerate().peekable();
    loop {
        if let Some((i, addr)) = next.next() {
            running.spawn(async move { (i, TcpStream::connect(addr).await) });
        }
        let more = next.peek().is_some();
        let mut delay = pin!(tokio::time::sleep(ATTEMPT_DELAY));
        // `None`: the delay passed (start the next), or nothing is left.
        let done = poll_fn(|cx| match running.poll_join_next(cx) {
            Poll::Pending if more => delay.as_mut().poll(cx).map(|()| None),
            done => done,
        })
        .await;
        match done {
            Some(Ok((_, Ok(tcp)))) => return Ok(tcp),
            Some(Ok((i, Err(e)))) => failed.push((i, e)),
            Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            None if !more => break,
            // The delay passed, or the runtime is shutting down.
            _ => {}
        }
    }
    failed.sort_by_key(|(i, _)| *i);
    let tried = failed
        .into_iter()
        .map(|(i, e)| ConnectAttempt::new(addrs[i], e));
    Err(tried.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_failure_is_listed_in_order() {
        // Two ports nothing listens on: both refused.
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addrs = vec![a.local_addr().unwrap(), b.local_addr().unwrap()];
        drop((a, b));
        let tried = race(&addrs).await.unwrap_err();
        assert_eq!(
            tried.iter().map(ConnectAttempt::addr).collect::<Vec<_>>(),
            addrs
        );
    }
}
