//! WebSocket over HTTP/2 (RFC 8441), the client side: each WebSocket is
//! one stream of an HTTP/2 connection, opened with an extended CONNECT,
//! so several share one TCP (and TLS) connection.
//!
//! An [`Http2Client`] wraps a [`ClientBuilder`], whose TLS connector,
//! proxy, addresses, timeouts, limits, subprotocols and headers apply as
//! over HTTP/1.1; two ways in:
//!
//! * [`Http2Client::connect`] opens one WebSocket over a connection of
//!   its own: TLS with ALPN `h2` for `wss://`, or h2c with prior knowledge
//!   for `ws://` ([`Http2::PriorKnowledge`]). [`Http2::Prefer`] (the
//!   default) falls back to HTTP/1.1 when the server picks it in ALPN or
//!   does not allow extended CONNECT. The WebSocket's transport is a
//!   [`MaybeHttp2Stream`]: the HTTP/2 stream, or the HTTP/1.1 connection.
//! * [`Http2Connection`] (from [`Http2Client::connection`]) is a
//!   cloneable handle on one connection; each
//!   [`websocket`](Http2Connection::websocket) opens another WebSocket on
//!   it, waiting while the server's limit on concurrent streams is reached.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wsock_tokio::Error> {
//! # let url = String::new();
//! use wsock_hyper::http2::{Http2, Http2Client};
//! use wsock_tokio::{ClientBuilder, Message};
//!
//! // url: "ws://127.0.0.1:8080/chat", an h2c server (hyper, see `upgrade`)
//! let mut ws = Http2Client::new(ClientBuilder::new(&url))
//!     .mode(Http2::PriorKnowledge)
//!     .connect()
//!     .await?;
//! ws.send("hello").await?;
//! assert_eq!(ws.recv().await?, Some(Message::text("hello")));
//! ws.close(None).await?;
//!
//! // Two WebSockets on one connection.
//! let connection = Http2Client::new(ClientBuilder::new(&url)).connection().await?;
//! let mut a = connection.websocket(format!("{url}?a")).await?;
//! let mut b = connection.websocket(format!("{url}?b")).await?;
//! a.send("to a").await?;
//! b.send("to b").await?;
//! assert_eq!(b.recv().await?, Some(Message::text("to b")));
//! assert_eq!(a.recv().await?, Some(Message::text("to a")));
//! # Ok(())
//! # }
//! ```
//!
//! The server must allow extended CONNECT (`SETTINGS_ENABLE_CONNECT_PROTOCOL`,
//! RFC 8441 §3); when it does not, opening a WebSocket fails with
//! [`HandshakeError::ExtendedConnectDisabled`]. The opening handshake is
//! [`Http2Handshake`] from
//! the core, with the same offers and checks as over HTTP/1.1. How the
//! stream carries the WebSocket (flow control, `END_STREAM`,
//! `RST_STREAM`) is [`H2Stream`]'s.

mod maybe;
mod stream;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use h2::client::SendRequest;
use wsock_core::Bytes;
use wsock_core::HandshakeError;
use wsock_core::handshake::client::{ClientRequest, Http2Handshake, IntoClientRequest};
use wsock_io::diag;
use wsock_io::handshake::Handshake;
use wsock_io::opened::Opened;
use wsock_io::options::Settings;
use wsock_tokio::{ClientBuilder, Error, ErrorKind, MaybeTlsStream, Timeout, WebSocket};

pub use maybe::MaybeHttp2Stream;
pub use stream::H2Stream;

/// The default flow-control window of each stream: how much the server
/// may send on a WebSocket that is not being read (h2's default, 64 KiB).
pub const DEFAULT_STREAM_WINDOW: u32 = 65_535;

/// The connection's flow-control window, as large as HTTP/2 allows. Each
/// stream's own window bounds what it buffers, so memory stays at most
/// streams × stream window; a smaller connection window would only let a
/// WebSocket that is not being read stall the others.
const CONNECTION_WINDOW: u32 = (1 << 31) - 1;

/// Whether [`Http2Client::connect`] speaks HTTP/2 (RFC 8441), as curl's
/// `--http2` and `--http2-prior-knowledge` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Http2 {
    /// HTTP/1.1 only, as [`ClientBuilder::connect`]: for a caller that
    /// picks the protocol at run time (a command-line flag) and wants one
    /// transport type either way.
    Off,
    /// HTTP/2 where the server offers it (the default): for `wss://`, ALPN
    /// offers `h2` then `http/1.1`, and HTTP/1.1 is used if the server
    /// picks it, or if it picks `h2` without allowing extended CONNECT (on
    /// a new connection). `ws://` uses HTTP/1.1: cleartext HTTP/2 needs
    /// prior knowledge.
    #[default]
    Prefer,
    /// HTTP/2 or fail: for `wss://`, ALPN offers only `h2`, and a server
    /// that does not choose it fails with
    /// [`HandshakeError::Http2NotNegotiated`], one that does not allow
    /// extended CONNECT with
    /// [`HandshakeError::ExtendedConnectDisabled`]. `ws://` is an
    /// [`ErrorKind::InvalidInput`] error (use `PriorKnowledge`).
    Require,
    /// As `Require`, and for `ws://` HTTP/2 from the first byte without
    /// negotiation (h2c with prior knowledge, RFC 9113 §3.3): for servers
    /// known to speak it (tests, internal services).
    PriorKnowledge,
}

/// A WebSocket client over HTTP/2 (RFC 8441): a [`ClientBuilder`], whose
/// settings (request, TLS, proxy, addresses, timeouts, limits) it uses,
/// with the HTTP/2 mode and flow-control window.
///
/// The builder's connect timeout bounds the TCP connection (and proxy
/// tunnel); its handshake timeout bounds the HTTP/2 connection preface and
/// each WebSocket's extended CONNECT.
#[derive(Debug, Clone)]
pub struct Http2Client {
    builder: ClientBuilder,
    mode: Http2,
    stream_window: u32,
}

impl From<ClientBuilder> for Http2Client {
    fn from(builder: ClientBuilder) -> Self {
        Self::new(builder)
    }
}

impl Http2Client {
    /// A client with `builder`'s settings, in mode [`Http2::Prefer`] with
    /// the [`DEFAULT_STREAM_WINDOW`].
    pub fn new(builder: ClientBuilder) -> Self {
        Self {
            builder,
            mode: Http2::default(),
            stream_window: DEFAULT_STREAM_WINDOW,
        }
    }

    /// Whether [`connect`](Self::connect) uses HTTP/2: see [`Http2`].
    /// Default [`Http2::Prefer`].
    pub fn mode(mut self, mode: Http2) -> Self {
        self.mode = mode;
        self
    }

    /// The flow-control window of each HTTP/2 stream this client opens:
    /// how many bytes the server may send on a WebSocket ahead of the
    /// application's reads. Larger windows go faster on long paths and
    /// cost as much memory per WebSocket that is not read. Default
    /// [`DEFAULT_STREAM_WINDOW`] (64 KiB); at most 2³¹ − 1.
    pub fn stream_window(mut self, bytes: u32) -> Self {
        self.stream_window = bytes.min(CONNECTION_WINDOW);
        self
    }

    /// The builder whose settings apply.
    pub fn builder(&self) -> &ClientBuilder {
        &self.builder
    }

    /// Opens one WebSocket to the builder's URL, over HTTP/2 or HTTP/1.1
    /// as the [`mode`](Self::mode) says, on a connection of its own. The
    /// server's refusal is an [`ErrorKind::Handshake`] error with its
    /// status, as over HTTP/1.1.
    pub async fn connect(&self) -> Result<WebSocket<MaybeHttp2Stream>, Error> {
        let request = &self.builder.options().request()?;
        let mode = self.mode;
        if !request.is_tls() || mode == Http2::Off {
            match mode {
                Http2::PriorKnowledge if !request.is_tls() => {}
                Http2::Require if !request.is_tls() => {
                    return Err(Error::message(
                        ErrorKind::InvalidInput,
                        "HTTP/2 over ws:// needs prior knowledge of the server: Http2::PriorKnowledge",
                    ));
                }
                _ => return self.connect_http1(request).await,
            }
        }
        match establish(self, request, mode).await {
            Ok(Established::Http2(connection)) => {
                let settings = &self.builder.options().settings;
                connection
                    .open(request, settings, |s| MaybeHttp2Stream::Http2(Box::new(s)))
                    .await
            }
            #[cfg(feature = "tls")]
            Ok(Established::Http1(fallback)) => {
                let Http1Fallback { tls, addrs, info } = *fallback;
                let io = MaybeHttp2Stream::Http1(MaybeTlsStream::Tls(tls));
                let ws = self.builder.handshake(io).await?;
                Ok(ws.with_addrs(addrs).with_tls_info(info))
            }
            Err(e)
                if mode == Http2::Prefer
                    && matches!(
                        e.handshake_error(),
                        Some(HandshakeError::ExtendedConnectDisabled)
                    ) =>
            {
                // HTTP/2 without WebSocket: over HTTP/1.1 then, on a
                // connection of its own.
                self.connect_http1(request).await
            }
            Err(e) => Err(e),
        }
    }

    /// Opens an HTTP/2 connection to the URL's origin on which
    /// [`Http2Connection::websocket`] opens WebSockets: TLS with ALPN `h2`
    /// for `wss://` (through the builder's TLS connector, proxy and
    /// addresses), h2c with prior knowledge for `ws://`, whatever the
    /// [`mode`](Self::mode). The connect and handshake timeouts apply; the
    /// server must allow extended CONNECT, else
    /// [`HandshakeError::ExtendedConnectDisabled`].
    pub async fn connection(&self) -> Result<Http2Connection, Error> {
        let request = self.builder.options().request()?;
        match establish(self, &request, Http2::PriorKnowledge).await? {
            Established::Http2(connection) => Ok(connection),
            // Only `Http2::Prefer` falls back; never here.
            #[cfg(feature = "tls")]
            Established::Http1(fallback) => Err(Error::handshake(
                HandshakeError::Http2NotNegotiated(fallback.info.alpn_str().map(String::from)),
            )),
        }
    }

    /// [`ClientBuilder::connect`]'s HTTP/1.1, on the transport type of
    /// [`connect`](Self::connect): through the builder's public steps.
    async fn connect_http1(
        &self,
        request: &ClientRequest,
    ) -> Result<WebSocket<MaybeHttp2Stream>, Error> {
        #[cfg(not(feature = "tls"))]
        if request.is_tls() {
            return Err(no_tls());
        }
        let tcp = self.builder.connect_tcp().await?;
        let addrs = tcp.local_addr().ok().zip(tcp.peer_addr().ok());
        #[cfg(feature = "tls")]
        if request.is_tls() {
            let connector = self.builder.options().tls_connector();
            let tls = connector
                .connect_async(request.host(), tcp)
                .await
                .map_err(Error::tls)?;
            let info = wsock_tls::TlsConnectionInfo::tls_info(&tls);
            let io = MaybeHttp2Stream::Http1(MaybeTlsStream::Tls(Box::new(tls)));
            let ws = self.builder.handshake(io).await?;
            return Ok(ws.with_tls_info(info).with_addrs(addrs));
        }
        let io = MaybeHttp2Stream::Http1(MaybeTlsStream::Plain(tcp));
        Ok(self.builder.handshake(io).await?.with_addrs(addrs))
    }
}

/// `wss://` without the `tls` feature.
#[cfg(not(feature = "tls"))]
fn no_tls() -> Error {
    Error::message(
        ErrorKind::Tls,
        "TLS support not enabled: wss:// URLs need the `tls` feature",
    )
}

/// What connecting found: HTTP/2 with extended CONNECT, or (with
/// [`Http2::Prefer`]) a TLS connection on which the server chose HTTP/1.1.
enum Established {
    Http2(Http2Connection),
    /// Boxed: a TLS stream is large, and the enum only passes through.
    #[cfg(feature = "tls")]
    Http1(Box<Http1Fallback>),
}

/// The TLS connection on which the server chose HTTP/1.1.
#[cfg(feature = "tls")]
struct Http1Fallback {
    tls: Box<wsock_tls::tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    addrs: Option<(SocketAddr, SocketAddr)>,
    info: wsock_tls::TlsInfo,
}

/// Connects to `request`'s origin and runs the HTTP/2 connection
/// preface, within the connect and handshake timeouts.
async fn establish(
    client: &Http2Client,
    request: &ClientRequest,
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))] mode: Http2,
) -> Result<Established, Error> {
    #[cfg(not(feature = "tls"))]
    if request.is_tls() {
        return Err(no_tls());
    }
    let builder = &client.builder;
    let tcp = builder.connect_tcp().await?;
    let addrs = tcp.local_addr().ok().zip(tcp.peer_addr().ok());
    #[cfg(feature = "tls")]
    let (io, tls_info) = if request.is_tls() {
        let alpn = if mode == Http2::Prefer {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"h2".to_vec()]
        };
        let connector = builder.options().tls_connector().with_alpn_protocols(alpn);
        let tls = connector
            .connect_async(request.host(), tcp)
            .await
            .map_err(Error::tls)?;
        let info = wsock_tls::TlsConnectionInfo::tls_info(&tls);
        let tls = Box::new(tls);
        if info.alpn_protocol.as_deref() != Some(b"h2") {
            if mode == Http2::Prefer {
                return Ok(Established::Http1(Box::new(Http1Fallback {
                    tls,
                    addrs,
                    info,
                })));
            }
            return Err(Error::handshake(HandshakeError::Http2NotNegotiated(
                info.alpn_str().map(String::from),
            )));
        }
        (MaybeTlsStream::Tls(tls), Some(info))
    } else {
        (MaybeTlsStream::Plain(tcp), None)
    };
    #[cfg(not(feature = "tls"))]
    let io = MaybeTlsStream::Plain(tcp);
    let work = preface(io, client.stream_window);
    let settings = &builder.options().settings;
    let send = match settings.config.handshake.timeout {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .map_err(|_| Error::timeout(Timeout::Handshake, "the HTTP/2 connection preface"))??,
        None => work.await?,
    };
    if !send.is_extended_connect_protocol_enabled() {
        return Err(Error::handshake(HandshakeError::ExtendedConnectDisabled));
    }
    Ok(Established::Http2(Http2Connection {
        inner: Arc::new(Shared {
            send,
            tls: request.is_tls(),
            host: request.host().to_owned(),
            port: request.port(),
            settings: settings.clone(),
            addrs,
            #[cfg(feature = "tls")]
            tls_info,
        }),
    }))
}

/// The HTTP/2 connection preface both ways, the connection handed to a
/// task of its own, and the server's first SETTINGS read: a PING is
/// answered only after the frames the server sent before it, and a server
/// starts with its SETTINGS, so once the PONG is back,
/// `SETTINGS_ENABLE_CONNECT_PROTOCOL` is known.
async fn preface(io: MaybeTlsStream, stream_window: u32) -> Result<SendRequest<Bytes>, Error> {
    // Failing here most often means a server that does not speak HTTP/2
    // (h2c prior knowledge to an HTTP/1.1 server): say so.
    let failed = |e: h2::Error| {
        let e = stream::to_io(e);
        Error::io(std::io::Error::new(
            e.kind(),
            format!("the HTTP/2 connection preface failed (does the server speak HTTP/2?): {e}"),
        ))
    };
    let (send, mut connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(stream_window)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(failed)?;
    let ping = connection.ping_pong();
    // Runs until every handle and stream is dropped, then says GOAWAY.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    if let Some(mut ping) = ping {
        ping.ping(h2::Ping::opaque()).await.map_err(failed)?;
    }
    Ok(send)
}

/// An h2 failure: the connection or stream is gone (an abnormal close),
/// or its transport's I/O error.
fn h2_error(e: h2::Error) -> Error {
    Error::io(stream::to_io(e))
}

/// A cloneable handle on one HTTP/2 connection, on which each
/// [`websocket`](Self::websocket) call opens a WebSocket (RFC 8441): one
/// TCP and TLS handshake for many WebSockets to the same origin. From
/// [`Http2Client::connection`].
///
/// The connection lives while a handle or one of its WebSockets does;
/// then it ends with `GOAWAY`. It is driven by a task of its own, so
/// every WebSocket on it makes progress independently; each one's stream
/// has its own flow-control window
/// ([`Http2Client::stream_window`]), so a WebSocket that is not
/// read stalls only itself.
///
/// The server bounds how many streams may be open at once
/// (`SETTINGS_MAX_CONCURRENT_STREAMS`): over that, `websocket` waits for
/// one to end, within the handshake timeout (then
/// [`Timeout::Handshake`]). A WebSocket's stream ends once its closing
/// handshake is over.
#[derive(Clone)]
pub struct Http2Connection {
    inner: Arc<Shared>,
}

struct Shared {
    send: SendRequest<Bytes>,
    tls: bool,
    host: String,
    port: u16,
    /// The settings of the builder the connection was made with, for
    /// [`Http2Connection::websocket`].
    settings: Settings,
    addrs: Option<(SocketAddr, SocketAddr)>,
    #[cfg(feature = "tls")]
    tls_info: Option<wsock_tls::TlsInfo>,
}

impl Http2Connection {
    /// Opens a WebSocket to `request` (a `ws://`/`wss://` URL of this
    /// connection's origin, an `http::Request<()>` or a
    /// [`ClientRequest`] with its subprotocols and headers) on a new
    /// stream, with the settings (limits, timeouts, deflate) of the
    /// builder the connection was made with.
    ///
    /// A URL of another origin (scheme, host or port) is an
    /// [`ErrorKind::InvalidInput`] error. The server's refusal is an
    /// [`ErrorKind::Handshake`] error with its status, as over HTTP/1.1.
    pub async fn websocket(
        &self,
        request: impl IntoClientRequest,
    ) -> Result<WebSocket<H2Stream>, Error> {
        let request = request
            .into_client_request()
            .map_err(Error::invalid_request)?;
        self.open(&request, &self.inner.settings, |s| s).await
    }

    /// As [`websocket`](Self::websocket), with `builder`'s request and
    /// settings; its connection options (addresses, TLS, proxy, HTTP/2
    /// mode) play no part.
    pub async fn websocket_with(
        &self,
        builder: &ClientBuilder,
    ) -> Result<WebSocket<H2Stream>, Error> {
        let request = builder.options().request()?;
        self.open(&request, &builder.options().settings, |s| s)
            .await
    }

    /// What TLS negotiated for the connection (`wss://`); `None` for h2c.
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<&wsock_tls::TlsInfo> {
        self.inner.tls_info.as_ref()
    }

    /// The local address of the TCP connection.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.addrs.map(|a| a.0).ok_or_else(unknown_addr)
    }

    /// The server's address.
    pub fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.addrs.map(|a| a.1).ok_or_else(unknown_addr)
    }

    /// The extended CONNECT on a new stream, the answer checked, and the
    /// WebSocket over the stream (wrapped by `wrap`), within the handshake
    /// timeout (which includes waiting for a free stream).
    async fn open<S>(
        &self,
        request: &ClientRequest,
        settings: &Settings,
        wrap: impl FnOnce(H2Stream) -> S,
    ) -> Result<WebSocket<S>, Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &self.inner;
        if request.is_tls() != inner.tls
            || !request.host().eq_ignore_ascii_case(&inner.host)
            || request.port() != inner.port
        {
            return Err(Error::message(
                ErrorKind::InvalidInput,
                format!(
                    "{} is not on this HTTP/2 connection's origin ({}://{}:{})",
                    request.url(),
                    if inner.tls { "wss" } else { "ws" },
                    inner.host,
                    inner.port
                ),
            ));
        }
        let span = diag::connection_span(wsock_core::Role::Client);
        if let Some((_, peer)) = inner.addrs {
            diag::record_peer(&span, peer);
        }
        let config = &settings.config;
        let work = async {
            let handshake = Http2Handshake::new(request, config).map_err(Error::invalid_request)?;
            let mut connect = handshake.request();
            connect
                .extensions_mut()
                .insert(h2::ext::Protocol::from_static("websocket"));
            // Waits while the server's limit on open streams is reached.
            let mut send = inner.send.clone().ready().await.map_err(h2_error)?;
            if !send.is_extended_connect_protocol_enabled() {
                return Err(Error::handshake(HandshakeError::ExtendedConnectDisabled));
            }
            // On failure the stream is dropped, which resets it.
            let (response, send_stream) = send.send_request(connect, false).map_err(h2_error)?;
            let response = response.await.map_err(h2_error)?;
            let (head, recv) = response.into_parts();
            let head = wsock_core::http::Response::from_parts(head, ());
            let connected = handshake.finish(&head).map_err(Error::handshake)?;
            Ok((H2Stream::new(recv, send_stream), connected))
        };
        let outcome = match config.handshake.timeout {
            Some(limit) => match tokio::time::timeout(limit, work).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::timeout(
                    Timeout::Handshake,
                    "the opening handshake over HTTP/2",
                )),
            },
            None => work.await,
        };
        let (io, connected) = match outcome {
            Ok(done) => done,
            Err(e) => {
                diag::handshake_failed(&span, &e);
                return Err(e);
            }
        };
        let conn = connected.connection;
        diag::handshake_done(&span, conn.protocol(), conn.extensions());
        let exchanged = Handshake::Client(Box::new(connected.response));
        let opened = Opened::new(settings.clone(), exchanged, span);
        let ws = WebSocket::from_opened(wrap(io), conn, opened).with_addrs(inner.addrs);
        #[cfg(feature = "tls")]
        let ws = match &inner.tls_info {
            Some(info) => ws.with_tls_info(info.clone()),
            None => ws,
        };
        Ok(ws)
    }
}

impl fmt::Debug for Http2Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Connection")
            .field("tls", &self.inner.tls)
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .finish_non_exhaustive()
    }
}

/// The error of an address not known (a connection without TCP addresses).
fn unknown_addr() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the address of the HTTP/2 connection is not known",
    )
}
