//! `wsock serve --page FILE`: one HTML page at `/`, next to the WebSocket
//! endpoint, so that a browser can load a page and open `wss://` from it
//! on the same server (and, over HTTP/2, on the same connection).
//!
//! Only a plain `GET /` (or `HEAD /`) gets the page; any other request
//! that is not a WebSocket upgrade gets 404 (405 for other methods).
//! Without `--page` nothing here runs and every request goes to the
//! WebSocket handshake, as it always did.
//!
//! Over HTTP/2 hyper parses the requests ([`Answer::into_response`]). Over HTTP/1.1 the
//! WebSocket handshake is read by the engine, which refuses anything that
//! is not an upgrade; so with `--page` the request head is read here first
//! ([`read_head`], within the same header limits and deadline), told apart
//! with [`Request::is_upgrade_request`], and either answered here or handed
//! to the engine together with the bytes already read ([`Rewind`]).

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use wsock_core::http;
use wsock_hyper::upgrade::Body;
use wsock_tokio::Request;

use crate::exit::{CliError, Result};

/// The page, read once at start-up.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    html: Bytes,
}

impl Page {
    /// Reads `path`; a missing or unreadable file is a start-up error
    /// rather than a 404 on every request.
    pub(crate) fn load(path: &Path) -> Result<Arc<Self>> {
        let html = std::fs::read(path)
            .map_err(|e| CliError::local(format!("--page {}: {e}", path.display())))?;
        Ok(Arc::new(Self { html: html.into() }))
    }
}

/// What a request that is not a WebSocket upgrade gets.
pub(crate) struct Answer {
    /// The request's method and path, for the log.
    pub(crate) request: String,
    pub(crate) status: http::StatusCode,
    content_type: &'static str,
    body: Bytes,
    /// `HEAD`: the headers of a `GET`, without the body.
    head_only: bool,
}

impl Answer {
    /// The page for `GET /` and `HEAD /`, 404 for other paths, 405 for
    /// other methods.
    pub(crate) fn to<B>(request: &http::Request<B>, page: &Page) -> Self {
        let method = request.method();
        let line = format!("{method} {}", request.uri().path());
        let text = |status, body: &'static str| Self {
            request: line.clone(),
            status,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from_static(body.as_bytes()),
            head_only: false,
        };
        if method != http::Method::GET && method != http::Method::HEAD {
            return text(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "only GET and WebSocket requests are served\n",
            );
        }
        if request.uri().path() != "/" {
            return text(http::StatusCode::NOT_FOUND, "not found\n");
        }
        Self {
            request: line,
            status: http::StatusCode::OK,
            content_type: "text/html; charset=utf-8",
            body: page.html.clone(),
            head_only: method == http::Method::HEAD,
        }
    }

    /// As a response for hyper (HTTP/2).
    pub(crate) fn into_response(self) -> http::Response<Body> {
        let length = self.body.len();
        let body = if self.head_only {
            Body::default()
        } else {
            Body::from(self.body)
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(self.content_type),
        );
        headers.insert(http::header::CONTENT_LENGTH, length.into());
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        if self.status == http::StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(
                http::header::ALLOW,
                http::HeaderValue::from_static("GET, HEAD"),
            );
        }
        response
    }

    /// As HTTP/1.1 bytes: one response, then the connection is closed
    /// (this server keeps no HTTP/1.1 connection alive between requests).
    fn to_http11(&self) -> Vec<u8> {
        let reason = self.status.canonical_reason().unwrap_or("");
        let allow = if self.status == http::StatusCode::METHOD_NOT_ALLOWED {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut bytes = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\n{allow}Connection: close\r\n\r\n",
            self.status.as_u16(),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !self.head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

/// What the head of an HTTP/1.1 request says.
pub(crate) enum Head {
    /// A WebSocket upgrade: the bytes read so far, for the engine.
    Upgrade(Vec<u8>),
    /// Anything else, answered (and the connection closed) by [`Answer::send_http11`].
    Other(Answer),
}

/// Reads an HTTP/1.1 request head from `io`, at most `limits`' bytes and
/// fields. `Ok(None)`: the bytes are no HTTP/1.1 request head; they are
/// handed to the engine all the same, whose handshake answers them (400,
/// 431) as without `--page`.
pub(crate) async fn read_head<S>(
    io: &mut S,
    limits: &wsock_core::HandshakeLimits,
    page: &Page,
) -> io::Result<Head>
where
    S: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
        let mut parsed = httparse::Request::new(&mut fields);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let request = to_http(&parsed);
                return Ok(match request {
                    Some(request) if !Request::is_upgrade_request(&request, None) => {
                        Head::Other(Answer::to(&request, page))
                    }
                    _ => Head::Upgrade(buf),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < limits.max_header_bytes => {}
            // Too large, too many fields, or malformed: the engine's answer.
            _ => return Ok(Head::Upgrade(buf)),
        }
        let room = limits.max_header_bytes - buf.len();
        let start = buf.len();
        buf.resize(start + room.min(4096), 0);
        let n = io.read(&mut buf[start..]).await?;
        buf.truncate(start + n);
        if n == 0 {
            // The engine reports the early end as it always did.
            return Ok(Head::Upgrade(buf));
        }
    }
}

/// The parsed head as an `http::Request`, for `is_upgrade_request` and
/// the routing; `None` if it does not fit one.
fn to_http(parsed: &httparse::Request<'_, '_>) -> Option<http::Request<()>> {
    if parsed.version != Some(1) {
        return None;
    }
    let mut builder = http::Request::builder()
        .method(parsed.method?)
        .uri(parsed.path?)
        .version(http::Version::HTTP_11);
    for field in parsed.headers.iter() {
        builder = builder.header(field.name, field.value);
    }
    builder.body(()).ok()
}

impl Answer {
    /// Sends the answer over HTTP/1.1 and closes the connection.
    pub(crate) async fn send_http11<S>(&self, io: &mut S) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
    {
        io.write_all(&self.to_http11()).await?;
        io.shutdown().await
    }
}

/// A stream that first reads back bytes already read from it (the request
/// head), so that the engine's handshake sees the connection whole.
pub(crate) struct Rewind<S> {
    read: Vec<u8>,
    at: usize,
    io: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(read: Vec<u8>, io: S) -> Self {
        Self { read, at: 0, io }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.at < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.at);
            buf.put_slice(&this.read[this.at..this.at + n]);
            this.at += n;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
