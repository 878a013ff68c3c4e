//! Establishing a client connection with wsock-tokio, which does it all:
//! TCP (Happy Eyeballs), an optional HTTP `CONNECT` tunnel, TLS for
//! `wss://`, then the opening handshake; here under one deadline. Adapter
//! errors are mapped to exit statuses here.

use std::time::Duration;

use tracing::{debug, warn};
use wsock_core::HandshakeError;
use wsock_core::handshake::client::ClientRequest;
use wsock_hyper::http2::{Http2Client, MaybeHttp2Stream};
use wsock_tokio::tls::TlsErrorKind;
use wsock_tokio::tls::proxy::ProxyConfig;
use wsock_tokio::{ClientBuilder, ErrorKind, WebSocket};

use crate::cli::ClientOpts;
use crate::exit::{CliError, ExitKind, Result};
use crate::format::printable;
use crate::tls;

/// The transport the client ends up on: plain TCP, TLS over TCP, or a
/// stream of an HTTP/2 connection (`--http2`, `--http2-prior-knowledge`).
pub(crate) type Transport = MaybeHttp2Stream;

/// A connected client.
pub(crate) struct Connected {
    pub(crate) ws: WebSocket<Transport>,
    /// The URL, credentials removed.
    pub(crate) url: String,
}

/// What to connect to, checked before any network activity.
struct Target {
    request: ClientRequest,
    /// The builder's settings, over HTTP/1.1 or HTTP/2 as the flags say.
    client: Http2Client,
}

fn prepare(opts: &ClientOpts) -> Result<Target> {
    let usage =
        |what: &'static str| move |e: HandshakeError| CliError::usage(format!("{what}: {e}"));
    let mut request = ClientRequest::new(&opts.url).map_err(usage("URL"))?;
    let mut builder = ClientBuilder::new(&opts.url)
        .connect_timeout(None)
        .handshake_timeout(None)
        .max_message_size(opts.max_message_size);
    if opts.no_deflate {
        builder = builder.deflate(wsock_core::DeflateConfig::disabled());
    }
    for protocol in &opts.subprotocols {
        request = request.protocol(protocol).map_err(usage("--subprotocol"))?;
        builder = builder.protocol(protocol);
    }
    if let Some(origin) = &opts.origin {
        request = request.origin(origin).map_err(usage("--origin"))?;
        builder = builder.origin(origin);
    }
    for (name, value) in &opts.headers {
        request = request.header(name, value).map_err(usage("--header"))?;
        builder = builder.header(name, value);
    }
    if let Some(interval) = opts.ping_interval {
        builder = builder
            .keepalive_interval(Some(interval))
            .keepalive_timeout(interval);
    }
    if let Some(proxy) = &opts.proxy {
        let proxy =
            ProxyConfig::parse(proxy).map_err(|e| CliError::usage(format!("--proxy: {e}")))?;
        debug!("through proxy {}:{}", proxy.host(), proxy.port());
        builder = builder.proxy(proxy);
    }
    if request.is_tls() {
        if opts.insecure {
            warn!(
                "--insecure: the server's certificate is not verified; anyone on the path can impersonate it"
            );
        }
        builder = builder.tls_connector(tls::client_connector(opts.ca.as_deref(), opts.insecure)?);
    } else if opts.ca.is_some() || opts.insecure {
        debug!("--ca and --insecure apply to wss:// URLs only; ignored");
    }
    let client = Http2Client::new(builder).mode(opts.http2_mode());
    Ok(Target { request, client })
}

/// Connects as `opts` say, within `opts.connect_timeout`.
pub(crate) async fn connect(opts: &ClientOpts) -> Result<Connected> {
    let target = prepare(opts)?;
    let url = target.request.url().to_owned();
    let limit = opts.connect_timeout;
    match tokio::time::timeout(limit, establish(&target)).await {
        Ok(result) => result.map(|ws| Connected { ws, url }),
        Err(_) => Err(CliError::new(
            ExitKind::Timeout,
            format!("connecting to {url} timed out after {}", secs(limit)),
        )),
    }
}

async fn establish(target: &Target) -> Result<WebSocket<Transport>> {
    debug!(
        "connecting to {}:{}, then GET {}",
        target.request.host(),
        target.request.port(),
        target.request.path_and_query()
    );
    target.client.connect().await.map_err(|e| adapter_error(&e))
}

/// Maps a wsock-tokio error to an exit status and a message.
pub(crate) fn adapter_error(err: &wsock_tokio::Error) -> CliError {
    let kind = match err.kind() {
        ErrorKind::InvalidUrl | ErrorKind::InvalidInput => ExitKind::Usage,
        ErrorKind::Dns | ErrorKind::Connect | ErrorKind::Proxy => ExitKind::Connect,
        ErrorKind::Timeout(_) => ExitKind::Timeout,
        ErrorKind::Tls
            if err.tls_error().map(wsock_tokio::tls::TlsError::kind)
                == Some(TlsErrorKind::HandshakeTimeout) =>
        {
            ExitKind::Timeout
        }
        ErrorKind::Tls => ExitKind::Tls,
        ErrorKind::Handshake => ExitKind::Handshake,
        _ => ExitKind::Abnormal,
    };
    let message = match err.handshake_error() {
        Some(HandshakeError::Rejected {
            status,
            body_prefix,
            ..
        }) => {
            let body = String::from_utf8_lossy(body_prefix);
            let body = body.trim();
            if body.is_empty() {
                format!("handshake failed: the server answered HTTP {status} instead of 101")
            } else {
                format!(
                    "handshake failed: the server answered HTTP {status} instead of 101: {}",
                    printable(body.as_bytes())
                )
            }
        }
        Some(e) if kind == ExitKind::Handshake => format!("handshake failed: {e}"),
        None if err.connect_attempts().len() == 1 => {
            let attempt = &err.connect_attempts()[0];
            format!(
                "could not connect to {}: {}",
                attempt.addr(),
                attempt.error()
            )
        }
        _ => err.to_string(),
    };
    CliError::new(kind, message)
}

/// `1.5 s`-style durations for messages.
pub(crate) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}
