//! Saying no: [`Rejection`], [`Request::reject`] and every error response, from one writer.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::request::{Request, UpgradeKind};
use crate::error::HandshakeError;
use crate::handshake::handover::Rejected;
use crate::handshake::wire::{is_field_value, is_token, write_header};

/// A refusal of an upgrade request: the status, headers and body an
/// application answers with instead of 101. Adapters write
/// [`Rejection::response_bytes`] and close the connection.
///
/// ```
/// use wsock_core::handshake::server::Rejection;
///
/// let rejection = Rejection::new(403).header("X-Reason", "origin").body("forbidden origin\n");
/// assert!(rejection.response_bytes().starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Rejection {
    /// A rejection with `status` (200–599; anything else becomes 500), no
    /// extra headers and an empty body.
    pub fn new(status: u16) -> Self {
        let status = if (200..=599).contains(&status) {
            status
        } else {
            500
        };
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a response header (such as `WWW-Authenticate`). Headers that are
    /// not valid HTTP, or that would contradict the response's framing
    /// (`Content-Length`, `Transfer-Encoding`, `Connection`), are left out.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (sent as `text/plain` unless a `Content-Type` header
    /// says otherwise).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The status and the response, for [`Request::reject`].
    fn into_response(self) -> (u16, Vec<u8>) {
        (self.status, self.response_bytes())
    }

    /// The whole HTTP response, ready to write (see [`reject_response`]).
    pub fn response_bytes(&self) -> Vec<u8> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        reject_response(self.status, &headers, &self.body)
    }
}

impl Request {
    /// Refuses the request: the response `rejection` describes, and
    /// [`HandshakeError::RejectedByApplication`] with its status.
    pub fn reject(self, rejection: Rejection) -> Rejected {
        let (status, response_bytes) = rejection.into_response();
        let error = HandshakeError::RejectedByApplication(status);
        Rejected::with_response(status, response_bytes, error)
            .for_http2(self.kind == UpgradeKind::ExtendedConnect)
    }
}

/// A complete HTTP/1.1 error response that closes the connection. Statuses
/// outside 200–599 become 500 (a `1xx` would not end the exchange).
/// Headers that are not valid HTTP, or that would contradict the framing
/// written here (`Content-Length`, `Transfer-Encoding`, `Connection`), are
/// left out, so callers cannot inject or desynchronise the response.
pub fn reject_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let status = if (200..=599).contains(&status) {
        status
    } else {
        500
    };
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    let (mut typed, mut upgrade) = (false, false);
    for &(name, value) in headers {
        let framing = ["Content-Length", "Transfer-Encoding", "Connection"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name));
        if framing || !is_token(name.as_bytes()) || !is_field_value(value.as_bytes()) {
            continue;
        }
        typed |= name.eq_ignore_ascii_case("Content-Type");
        upgrade |= name.eq_ignore_ascii_case("Upgrade");
        write_header(&mut out, name, value.as_bytes());
    }
    if !body.is_empty() && !typed {
        write_header(&mut out, "Content-Type", b"text/plain; charset=utf-8");
    }
    write_header(
        &mut out,
        "Content-Length",
        format!("{}", body.len()).as_bytes(),
    );
    // RFC 7230 §6.7: whoever sends Upgrade also lists it in Connection.
    write_header(
        &mut out,
        "Connection",
        if upgrade { b"Upgrade, close" } else { b"close" },
    );
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The standard reason phrase (RFC 9110 §15), or the class name.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

impl HandshakeError {
    /// A ready-to-send response for request errors (those with an
    /// [`http_status`](Self::http_status)); `None` for client-side errors.
    /// The body names the problem but never echoes request bytes.
    pub fn rejection_response(&self) -> Option<Vec<u8>> {
        let status = self.http_status()?;
        let headers: &[(&str, &str)] = match self {
            Self::MethodNotAllowed(_) => &[("Allow", "GET")],
            Self::UnsupportedVersion(_) | Self::MissingHeader("Sec-WebSocket-Version") => {
                &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")]
            }
            _ => &[],
        };
        Some(reject_response(
            status,
            headers,
            self.rejection_body().as_bytes(),
        ))
    }

    pub(crate) fn rejection_body(&self) -> String {
        match self {
            Self::MalformedHttp(what) => format!("malformed HTTP request: {what}\n"),
            Self::UnsupportedHttpVersion(_) => "a WebSocket handshake needs HTTP/1.1\n".into(),
            Self::MissingHeader("Sec-WebSocket-Version") => {
                "missing Sec-WebSocket-Version (this server speaks 13)\n".into()
            }
            Self::MissingHeader(name) => format!("missing {name} header\n"),
            Self::UnsupportedProtocol(_) => {
                "extended CONNECT is served here for the websocket protocol only\n".into()
            }
            Self::InvalidHeader { name, .. } => format!("invalid {name} header\n"),
            Self::MethodNotAllowed(_) => "a WebSocket handshake must use GET\n".into(),
            Self::UnsupportedVersion(_) => {
                "unsupported Sec-WebSocket-Version (this server speaks 13)\n".into()
            }
            Self::Capacity(c) => format!("request header fields too large ({} limit)\n", c.limit),
            Self::Timeout => "the handshake took too long\n".into(),
            _ => String::new(),
        }
    }
}
