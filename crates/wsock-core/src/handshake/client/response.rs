//! Reading the server's answer: the §4.1 checks and the [`Response`], apart from the feeding.

use alloc::string::String;
use alloc::vec::Vec;

use super::ClientHandshake;
use crate::config::Config;
use crate::error::HandshakeError;
use crate::extension::Extensions;
#[cfg(feature = "std")]
use crate::handshake::wire::header_map;
use crate::handshake::wire::{
    self as wire, Headers, INCOMPLETE, first, invalid, owned_headers, require_token, single, trim,
};
use crate::handshake::{ExtensionOffer, extension};

/// The most body bytes a [`HandshakeError::Rejected`] keeps.
const BODY_PREFIX_MAX: usize = 1024;

/// The server's accepting response: with `std` an `http::Response<()>`
/// ([`http`](Self::http)), plus what the handshake read from it.
#[derive(Debug, Clone)]
pub struct Response {
    #[cfg(feature = "std")]
    message: ::http::Response<()>,
    #[cfg(not(feature = "std"))]
    status: u16,
    #[cfg(not(feature = "std"))]
    headers: Headers,
    pub(super) protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    pub(super) negotiated: Extensions,
}

/// Compares what was received and read (`http::Response` has no
/// `PartialEq`: its status, version and fields are compared).
impl PartialEq for Response {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(feature = "std")]
        let same_message = self.message.status() == other.message.status()
            && self.message.version() == other.message.version()
            && self.message.headers() == other.message.headers();
        #[cfg(not(feature = "std"))]
        let same_message = self.status == other.status && self.headers == other.headers;
        same_message
            && self.protocol == other.protocol
            && self.extensions == other.extensions
            && self.negotiated == other.negotiated
    }
}

impl Eq for Response {}

#[cfg(feature = "std")]
impl Response {
    /// The status (`101 Switching Protocols`).
    pub fn status(&self) -> ::http::StatusCode {
        self.message.status()
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

    /// The response as received: status, version and header fields.
    pub fn http(&self) -> &::http::Response<()> {
        &self.message
    }

    /// The response as received, given up.
    pub fn into_http(self) -> ::http::Response<()> {
        self.message
    }
}

#[cfg(not(feature = "std"))]
impl Response {
    /// The status (101).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Every header field, in order, names as sent.
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of the field `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        first(&self.headers, name)
    }
}

impl Response {
    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions the server accepted, with its parameters, in order.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }

    /// The extensions in force in the connection handed over: those the
    /// `Config` offered that the server accepted.
    pub fn negotiated_extensions(&self) -> Extensions {
        self.negotiated
    }
}

impl ClientHandshake {
    pub(super) fn parse(&self, after: &[u8]) -> Result<Response, HandshakeError> {
        let mut slots = self.reader.header_slots();
        let mut res = httparse::Response::new(&mut slots);
        match res.parse(self.reader.block()) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(INCOMPLETE),
            Err(e) => return Err(self.reader.parse_error(e)),
        }
        let (status, version) = (
            res.code.unwrap_or_default(),
            res.version.unwrap_or_default(),
        );
        let headers = owned_headers(res.headers);
        if status != 101 {
            return Err(status_error(status, headers, after));
        }
        if version < 1 {
            return Err(HandshakeError::UnsupportedHttpVersion(version));
        }
        self.validate(headers)
    }

    /// §4.1, the client's checks on a `101` response: those of HTTP/1.1's
    /// upgrade, then the negotiation's.
    fn validate(&self, headers: Headers) -> Result<Response, HandshakeError> {
        require_token(&headers, "Upgrade", "websocket")?;
        require_token(&headers, "Connection", "upgrade")?;
        let name = "Sec-WebSocket-Accept";
        let got = trim(single(&headers, name)?.ok_or(HandshakeError::MissingHeader(name))?);
        if got != self.accept.as_bytes() {
            let got = String::from_utf8_lossy(&got[..got.len().min(256)]).into_owned();
            return Err(HandshakeError::AcceptMismatch {
                expected: self.accept.clone(),
                got,
            });
        }
        #[cfg(feature = "std")]
        let message = {
            let mut message = ::http::Response::new(());
            *message.status_mut() = ::http::StatusCode::SWITCHING_PROTOCOLS;
            *message.headers_mut() = header_map(&headers)?;
            message
        };
        self.negotiation.response(
            #[cfg(feature = "std")]
            message,
            #[cfg(not(feature = "std"))]
            101,
            headers,
        )
    }
}

/// What the client offered, against which the server's answer is checked:
/// the same for an HTTP/1.1 upgrade (§4.1) and an HTTP/2 extended CONNECT
/// (RFC 8441 §5, whose answer differs only in its status and in having no
/// `Upgrade`, `Connection` or `Sec-WebSocket-Accept`).
#[derive(Debug, Clone)]
pub(super) struct Negotiation {
    /// The subprotocols offered.
    pub(super) protocols: Vec<String>,
    /// The names of the extensions offered, the application's and the core's.
    pub(super) extensions: Vec<String>,
    /// Set once the core's own offers were added: the answer is checked
    /// against them.
    pub(super) offered: Option<Config>,
}

impl Negotiation {
    /// The accepting [`Response`] once the subprotocol and the extensions
    /// the server chose are checked against the offers.
    // Without `std` the fields move into the response; with it they were
    // copied into the `http` message.
    #[cfg_attr(feature = "std", allow(clippy::needless_pass_by_value))]
    pub(super) fn response(
        &self,
        #[cfg(feature = "std")] message: ::http::Response<()>,
        #[cfg(not(feature = "std"))] status: u16,
        headers: Headers,
    ) -> Result<Response, HandshakeError> {
        let protocol = self.chosen_protocol(&headers)?;
        let extensions = self.accepted_extensions(&headers)?;
        let negotiated = match &self.offered {
            Some(config) => Extensions::accepted(config, &extensions)?,
            None => Extensions::none(),
        };
        Ok(Response {
            #[cfg(feature = "std")]
            message,
            #[cfg(not(feature = "std"))]
            status,
            #[cfg(not(feature = "std"))]
            headers,
            protocol,
            extensions,
            negotiated,
        })
    }

    /// At most one value, and one that was offered; empty means none.
    fn chosen_protocol(
        &self,
        headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, HandshakeError> {
        let name = "Sec-WebSocket-Protocol";
        let Some(value) = single(headers, name)?.map(trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        if value.contains(&b',') {
            return Err(invalid(name, value));
        }
        match self.protocols.iter().find(|p| p.as_bytes() == value) {
            Some(p) => Ok(Some(p.clone())),
            None => Err(HandshakeError::UnofferedSubprotocol(
                String::from_utf8_lossy(value).into_owned(),
            )),
        }
    }

    fn accepted_extensions(
        &self,
        headers: &[(String, Vec<u8>)],
    ) -> Result<Vec<ExtensionOffer>, HandshakeError> {
        let mut out = Vec::new();
        for value in wire::values(headers, "Sec-WebSocket-Extensions") {
            out.extend(extension::parse_bytes(value)?);
        }
        match out.iter().find(|e| {
            !self
                .extensions
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&e.name))
        }) {
            Some(unoffered) => Err(HandshakeError::UnofferedExtension(unoffered.name.clone())),
            None => Ok(out),
        }
    }
}

/// `Redirect` for 3xx, else `Rejected` with what arrived of the body.
pub(super) fn status_error(status: u16, headers: Headers, after: &[u8]) -> HandshakeError {
    if (300..400).contains(&status) {
        let location =
            first(&headers, "Location").map(|l| String::from_utf8_lossy(trim(l)).into_owned());
        return HandshakeError::Redirect { status, location };
    }
    let declared = first(&headers, "Content-Length")
        .and_then(|v| core::str::from_utf8(trim(v)).ok()?.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let body_prefix = after[..after.len().min(declared).min(BODY_PREFIX_MAX)].to_vec();
    HandshakeError::Rejected {
        status,
        headers,
        body_prefix,
    }
}
