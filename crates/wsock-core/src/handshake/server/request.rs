//! The [`Request`] a valid handshake yields and its getters, apart from its checks and answers.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::validate::{Checked, absolute_path_start};
use crate::config::Config;
use crate::extension::Extensions;
use crate::handshake::ExtensionOffer;
#[cfg(not(feature = "std"))]
use crate::handshake::wire::{Headers, first};

/// How the client asked for the WebSocket, which decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpgradeKind {
    /// RFC 6455 §4: an HTTP/1.1 `GET` with `Upgrade: websocket`, answered
    /// `101 Switching Protocols`; the WebSocket then owns the connection.
    Http11,
    /// RFC 8441 (HTTP/2; RFC 9220 for HTTP/3): an extended `CONNECT` with
    /// `:protocol` `websocket`, answered `200`; the WebSocket runs on that
    /// one stream. Only [`Request::from_http`] reads these.
    ExtendedConnect,
}

/// The request line and fields of a request, as received (without `std`;
/// with it, an `http::Request<()>`).
#[cfg(not(feature = "std"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Message {
    pub(super) method: String,
    pub(super) headers: Headers,
}

/// A valid opening-handshake request, with what was read from it once
/// (offered subprotocols and extensions, the key) and what the server's
/// [`Config`] makes of it. Answer it with [`accept`](Self::accept) or
/// [`reject`](Self::reject).
///
/// With `std` the request itself is an `http::Request<()>`
/// ([`http`](Self::http)); the getters here read it.
#[derive(Debug, Clone)]
pub struct Request {
    #[cfg(feature = "std")]
    pub(super) message: ::http::Request<()>,
    #[cfg(not(feature = "std"))]
    pub(super) message: Message,
    target: String,
    pub(super) kind: UpgradeKind,
    host: String,
    origin: Option<String>,
    pub(super) key: Option<String>,
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
    pub(super) negotiated: Extensions,
    pub(super) answers: Vec<ExtensionOffer>,
    /// The settings of the connection [`accept`](Self::accept) hands over
    /// (boxed: a request is passed around by value).
    pub(super) config: Box<Config>,
    /// Bytes that arrived behind the request: the client's first frames.
    pub(super) leftover: Vec<u8>,
}

/// Compares what was received and read (`http::Request` has no
/// `PartialEq`: its method, URI, version and fields are compared).
impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "std")]
        let same_message = {
            let (a, b) = (&self.message, &other.message);
            a.method() == b.method()
                && a.uri() == b.uri()
                && a.version() == b.version()
                && a.headers() == b.headers()
        };
        #[cfg(not(feature = "std"))]
        let same_message = self.message == other.message;
        same_message
            && self.target == other.target
            && self.kind == other.kind
            && self.host == other.host
            && self.origin == other.origin
            && self.key == other.key
            && self.protocols == other.protocols
            && self.extensions == other.extensions
            && self.negotiated == other.negotiated
            && self.answers == other.answers
            && self.config == other.config
            && self.leftover == other.leftover
    }
}

impl Eq for Request {}

#[cfg(feature = "std")]
impl Request {
    /// The request as received: method, URI, version and header fields
    /// (names in lower case, as `http` keeps them).
    pub fn http(&self) -> &::http::Request<()> {
        &self.message
    }

    /// The request as received, given up.
    pub fn into_http(self) -> ::http::Request<()> {
        self.message
    }

    /// Every header field.
    pub fn headers(&self) -> &::http::HeaderMap {
        self.message.headers()
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.message
            .headers()
            .get(name)
            .map(::http::HeaderValue::as_bytes)
    }

    /// The method (`GET`, or `CONNECT` for an extended CONNECT).
    pub fn method(&self) -> &str {
        self.message.method().as_str()
    }
}

#[cfg(not(feature = "std"))]
impl Request {
    /// Every header field, in order, names as sent.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.message.headers
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first(&self.message.headers, name)
    }

    /// The method (always `GET`).
    pub fn method(&self) -> &str {
        &self.message.method
    }
}

impl Request {
    pub(super) fn build(
        #[cfg(feature = "std")] message: ::http::Request<()>,
        #[cfg(not(feature = "std"))] message: Message,
        target: String,
        checked: Checked,
        config: &Config,
    ) -> Self {
        let (negotiated, answers) = Extensions::answer(config, &checked.extensions);
        Self {
            message,
            target,
            kind: checked.kind,
            host: checked.host,
            origin: checked.origin,
            key: checked.key,
            protocols: checked.protocols,
            extensions: checked.extensions,
            negotiated,
            answers,
            config: Box::new(config.clone()),
            leftover: Vec::new(),
        }
    }

    /// How the client asked: an HTTP/1.1 upgrade or an extended CONNECT.
    pub fn upgrade_kind(&self) -> UpgradeKind {
        self.kind
    }

    /// The request-target as sent: usually `/path?query`, possibly an
    /// absolute URI (always one for an extended CONNECT from
    /// [`from_http`](Self::from_http)).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target, without the query (at least `/`).
    pub fn path(&self) -> &str {
        let start = absolute_path_start(&self.target).unwrap_or(0);
        let rest = &self.target[start..];
        let path = rest.split_once('?').map_or(rest, |(p, _)| p);
        if path.is_empty() { "/" } else { path }
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The `Host` value (for an extended CONNECT, the `:authority`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The `Origin` value; browsers always send it, so check it to stop
    /// cross-site WebSocket hijacking (§10.2).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// The `Sec-WebSocket-Key` value (base64 text); `None` for an extended
    /// CONNECT, which has none.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The extensions the connection runs with once accepted: those the
    /// [`Config`] enables that the client offered (RFC 7692 §7.1 for
    /// permessage-deflate: the first offer it can honour; malformed offers
    /// are declined, not failed).
    pub fn negotiated_extensions(&self) -> Extensions {
        self.negotiated
    }

    /// Bytes that arrived behind the request (the client's first frames);
    /// [`accept`](Self::accept) feeds them to the connection.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }
}
