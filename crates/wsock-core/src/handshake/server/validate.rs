//! The checks that make a request valid (§4.2.1, RFC 8441 §5), shared by every way in.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[cfg(not(feature = "std"))]
use super::request::Message;
use super::request::{Request, UpgradeKind};
use crate::config::Config;
use crate::error::HandshakeError;
#[cfg(feature = "std")]
use crate::handshake::wire::header_map;
use crate::handshake::wire::{
    self as wire, Headers, first, invalid, is_token, list_items, require_token, single, trim,
};
use crate::handshake::{ExtensionOffer, extension};

/// Checks an HTTP/1.x request that was parsed elsewhere, as
/// [`ServerHandshake`](super::ServerHandshake) does, and negotiates what
/// `config` enables. `http_minor_version` is the `x` of `HTTP/1.x`. With `std`,
/// [`Request::from_http`] does the same from an `http::Request` (and also
/// takes HTTP/2 extended CONNECT).
pub fn validate_request<'a>(
    method: &str,
    target: &str,
    http_minor_version: u8,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    config: &Config,
) -> Result<Request, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::MethodNotAllowed(method.into()));
    }
    if http_minor_version < 1 {
        return Err(HandshakeError::UnsupportedHttpVersion(http_minor_version));
    }
    check_target(target)?;
    let headers: Headers = headers
        .into_iter()
        .map(|(n, v)| (n.into(), v.to_vec()))
        .collect();
    let checked = Checked::read(&headers, UpgradeKind::Http11, None)?;
    #[cfg(feature = "std")]
    let message = {
        let mut request = ::http::Request::new(());
        *request.uri_mut() = ::http::Uri::try_from(target)
            .map_err(|_| HandshakeError::MalformedHttp("invalid request-target"))?;
        *request.headers_mut() = header_map(&headers)?;
        request
    };
    #[cfg(not(feature = "std"))]
    let message = Message {
        method: method.into(),
        headers,
    };
    Ok(Request::build(message, target.into(), checked, config))
}

/// What the handshake reads from a request's fields, once.
pub(super) struct Checked {
    pub(super) kind: UpgradeKind,
    pub(super) host: String,
    pub(super) origin: Option<String>,
    pub(super) key: Option<String>,
    pub(super) protocols: Vec<String>,
    pub(super) extensions: Vec<ExtensionOffer>,
}

impl Checked {
    /// §4.2.1 for [`UpgradeKind::Http11`]; RFC 8441 §5 for
    /// [`UpgradeKind::ExtendedConnect`], where `Upgrade`, `Connection` and
    /// `Sec-WebSocket-Key` play no part and the host may come from the
    /// `:authority` (`authority`).
    pub(super) fn read(
        headers: &[(String, Vec<u8>)],
        kind: UpgradeKind,
        authority: Option<&str>,
    ) -> Result<Self, HandshakeError> {
        let host = match (single(headers, "Host")?, authority) {
            (_, Some(authority)) if kind == UpgradeKind::ExtendedConnect => authority.into(),
            (Some(host), _) => text(host, "Host")?,
            (None, _) if kind == UpgradeKind::ExtendedConnect => {
                return Err(HandshakeError::MissingHeader(":authority"));
            }
            (None, _) => return Err(HandshakeError::MissingHeader("Host")),
        };
        if kind == UpgradeKind::Http11 {
            require_token(headers, "Upgrade", "websocket")?;
            require_token(headers, "Connection", "upgrade")?;
        }
        // The key first: a request without one is malformed (400) whatever
        // its version says.
        let key = match kind {
            UpgradeKind::Http11 => Some(read_key(headers)?),
            UpgradeKind::ExtendedConnect => None,
        };
        check_version(headers)?;
        let origin = first(headers, "Origin")
            .map(|v| text(v, "Origin"))
            .transpose()?;
        Ok(Self {
            kind,
            host,
            origin,
            key,
            protocols: read_protocols(headers)?,
            extensions: read_extensions(headers)?,
        })
    }
}

/// Origin-form (`/path?query`) or absolute-form (RFC 7230 §5.3).
pub(super) fn check_target(target: &str) -> Result<(), HandshakeError> {
    if target.starts_with('/') || absolute_path_start(target).is_some() {
        Ok(())
    } else {
        Err(HandshakeError::MalformedHttp(
            "request-target is not a path or an absolute URI",
        ))
    }
}

/// Where the path starts in an absolute-form target such as `ws://h/p`.
pub(super) fn absolute_path_start(target: &str) -> Option<usize> {
    let (scheme, rest) = target.split_once("://")?;
    let known = ["http", "https", "ws", "wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme));
    known.then(|| scheme.len() + 3 + rest.find(['/', '?']).unwrap_or(rest.len()))
}

/// A trimmed UTF-8 header value.
fn text(value: &[u8], name: &'static str) -> Result<String, HandshakeError> {
    core::str::from_utf8(trim(value))
        .map(String::from)
        .map_err(|_| invalid(name, value))
}

/// §4.2.1 item 6: version 13, once. Missing or anything else is a version
/// this server does not speak: both are answered 426 with
/// `Sec-WebSocket-Version: 13` (§4.4).
fn check_version(headers: &[(String, Vec<u8>)]) -> Result<(), HandshakeError> {
    let name = "Sec-WebSocket-Version";
    let found: Vec<&[u8]> = wire::values(headers, name).map(trim).collect();
    match found.as_slice() {
        [] => Err(HandshakeError::MissingHeader(name)),
        [b"13"] => Ok(()),
        _ => {
            let joined = found.join(&b", "[..]);
            Err(HandshakeError::UnsupportedVersion(
                String::from_utf8_lossy(&joined).into_owned(),
            ))
        }
    }
}

/// §4.2.1 item 5: base64 of exactly 16 bytes, once.
fn read_key(headers: &[(String, Vec<u8>)]) -> Result<String, HandshakeError> {
    let name = "Sec-WebSocket-Key";
    let raw = single(headers, name)?.ok_or(HandshakeError::MissingHeader(name))?;
    let key = trim(raw);
    match STANDARD.decode(key) {
        Ok(bytes) if bytes.len() == 16 => Ok(String::from_utf8_lossy(key).into_owned()),
        _ => Err(invalid(name, raw)),
    }
}

/// §4.1 item 10: every line, comma-split; each a token, no repeats.
fn read_protocols(headers: &[(String, Vec<u8>)]) -> Result<Vec<String>, HandshakeError> {
    let name = "Sec-WebSocket-Protocol";
    let mut out: Vec<String> = Vec::new();
    for item in list_items(headers, name) {
        let fresh = is_token(item) && !out.iter().any(|p| p.as_bytes() == item);
        if !fresh {
            return Err(invalid(name, item));
        }
        out.push(String::from_utf8_lossy(item).into_owned());
    }
    Ok(out)
}

fn read_extensions(headers: &[(String, Vec<u8>)]) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut out = Vec::new();
    for value in wire::values(headers, "Sec-WebSocket-Extensions") {
        out.extend(extension::parse_bytes(value)?);
    }
    Ok(out)
}
