//! The client: [`connect`](crate::connect), [`ClientBuilder`], and Happy
//! Eyeballs (RFC 8305) connection racing.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
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
            let tls = match connector.connect_async(request.host(), tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    let e = Error::tls(e);
                    crate::diag::handshake_failed(&span, &e);
                    return Err(e);
                }
            };
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
        #[cfg(feature = "tls")]
        if let Some(proxy) = self.options.proxy_for(request)? {
            let work = async {
                let tcp = proxy.tunnel_async(host, port).await.map_err(Error::proxy)?;
                tcp.set_nodelay(self.options.nodelay)?;
                Ok(tcp)
            };
            return match self.options.connect_timeout {
                Some(limit) => tokio::time::timeout(limit, work)
                    .await
                    .map_err(|_| Error::timeout(Timeout::Connect, "connecting"))?,
                None => work.await,
            };
        }
        let work = async {
            let addrs = match &self.options.addresses {
                Some(addrs) => addrs.clone(),
                None => resolve(host, port).await?,
            };
            let target = target(host, port);
            if addrs.is_empty() {
                return Err(Error::connect(&target, Vec::new(), 0));
            }
            let tcp = race(&interleave(addrs))
                .await
                .map_err(|tried| Error::connect(&target, tried, 0))?;
            tcp.set_nodelay(self.options.nodelay)?;
            Ok(tcp)
        };
        match self.options.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| Error::timeout(Timeout::Connect, "connecting"))?,
            None => work.await,
        }
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
        match self.opening_handshake(io, request).await {
            Ok((io, connected)) => {
                let conn = connected.connection;
                crate::diag::handshake_done(&span, conn.protocol(), conn.extensions());
                // Subprotocol, extensions and the frames that came with the
                // response are already in the connection.
                Ok(WebSocket::from_handshake(io, conn, span)
                    .with_settings(&self.options.settings)
                    .with_handshake(Handshake::Client(Box::new(connected.response))))
            }
            Err(e) => {
                crate::diag::handshake_failed(&span, &e);
                Err(e)
            }
        }
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
        let config = self.options.settings.config.clone();
        let work = async {
            let mut hs = ClientHandshake::new(request, &config);
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
        let connected = match config.handshake.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .map_err(|_| Error::timeout(Timeout::Handshake, "the opening handshake"))??,
            None => work.await?,
        };
        Ok((io, connected))
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::dns(host, e))?;
    Ok(addrs.collect())
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Happy Eyeballs (RFC 8305 §5): start the next attempt when the previous
/// fails or after [`ATTEMPT_DELAY`], whichever is first; the first
/// connection wins and the other attempts are dropped. On failure, every
/// address with its error, in the order tried.
async fn race(addrs: &[SocketAddr]) -> Result<TcpStream, Vec<ConnectAttempt>> {
    let mut next = 0;
    let mut running: Vec<(usize, Attempt)> = Vec::new();
    let mut failed: Vec<(usize, io::Error)> = Vec::new();
    let mut delay = Box::pin(tokio::time::sleep(Duration::ZERO));
    let mut start_now = true;
    poll_fn(|cx| {
        loop {
            if next < addrs.len()
                && (start_now || running.is_empty() || delay.as_mut().poll(cx).is_ready())
            {
                running.push((next, Box::pin(TcpStream::connect(addrs[next]))));
                next += 1;
                start_now = false;
                delay.as_mut().reset(Instant::now() + ATTEMPT_DELAY);
                if next < addrs.len() {
                    // Registers the timer for the next start.
                    let _ = delay.as_mut().poll(cx);
                }
            }
            let mut i = 0;
            while i < running.len() {
                match running[i].1.as_mut().poll(cx) {
                    Poll::Ready(Ok(tcp)) => return Poll::Ready(Ok(tcp)),
                    Poll::Ready(Err(e)) => {
                        let (index, _) = running.remove(i);
                        failed.push((index, e));
                        start_now = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            if running.is_empty() && next >= addrs.len() {
                failed.sort_by_key(|(index, _)| *index);
                let tried = std::mem::take(&mut failed)
                    .into_iter()
                    .map(|(i, e)| ConnectAttempt::new(addrs[i], e))
                    .collect();
                return Poll::Ready(Err(tried));
            }
            if !(start_now && next < addrs.len()) {
                return Poll::Pending;
            }
        }
    })
    .await
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
