//! Saying yes: [`Accept`] and [`Request::accept`], which writes the 101 (or 200) and hands over.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::reject::reject_response;
use super::request::{Request, UpgradeKind};
use crate::error::HandshakeError;
use crate::handshake::handover::{Accepted, Rejected, hand_over, server_connection};
#[cfg(feature = "std")]
use crate::handshake::wire::invalid;
use crate::handshake::wire::{check_user_header, write_header};
use crate::handshake::{ExtensionOffer, accept_key};

/// The application's answer to a [`Request`]: what to put in the `101`
/// response. Checked when [`Request::accept`] writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accept {
    protocol: Option<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with no subprotocol, no extensions, no extra headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects one of the offered subprotocols.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Accepts an offered extension with the given response parameters.
    /// The core applies only permessage-deflate, which it negotiates itself
    /// from the [`Config`](crate::Config), so [`Request::accept`] refuses
    /// any extension named here ([`HandshakeError::UnsupportedExtension`], or
    /// [`HandshakeError::UnofferedExtension`]): a `101` never names an
    /// extension the connection would not apply.
    pub fn extension(mut self, extension: ExtensionOffer) -> Self {
        self.extensions.push(extension);
        self
    }

    /// Adds a response header, such as `Set-Cookie`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The selected subprotocol.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The accepted extensions.
    pub fn extensions(&self) -> &[ExtensionOffer] {
        &self.extensions
    }
}

impl Request {
    /// Accepts the request: the response and the
    /// [`Connection`](crate::Connection) to run once it is written, with the
    /// chosen subprotocol, the negotiated extensions and the leftover bytes
    /// in it. The response is `101 Switching Protocols` for an HTTP/1.1
    /// upgrade, `200` for an extended CONNECT ([`UpgradeKind`]).
    ///
    /// Refused, with a `500` response to write, if `accept` picks a
    /// subprotocol or extension the client did not offer, accepts an
    /// extension the core does not implement (only permessage-deflate is,
    /// and it is negotiated from the [`Config`](crate::Config)), or holds a
    /// header that is malformed or owned by the handshake.
    pub fn accept(mut self, accept: Accept) -> Result<Accepted, Rejected> {
        // The application's mistake, not the client's: 500, whatever the
        // error's own status.
        let http2 = self.kind == UpgradeKind::ExtendedConnect;
        let fail =
            |e| Rejected::with_response(500, reject_response(500, &[], b""), e).for_http2(http2);
        let fields = self.response_fields(&accept).map_err(fail)?;
        #[cfg(feature = "std")]
        let response = {
            let status = match self.kind {
                UpgradeKind::Http11 => 101,
                UpgradeKind::ExtendedConnect => 200,
            };
            http_response(status, self.message.version(), &fields).map_err(fail)?
        };
        let response_bytes = match self.kind {
            UpgradeKind::Http11 => {
                let mut out = Vec::with_capacity(256);
                out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
                for (name, value) in &fields {
                    write_header(&mut out, name, value.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out
            }
            UpgradeKind::ExtendedConnect => Vec::new(),
        };
        let leftover = core::mem::take(&mut self.leftover);
        let connection = hand_over(
            server_connection((*self.config).clone()),
            accept.protocol,
            self.negotiated,
            &leftover,
        );
        Ok(Accepted {
            response_bytes,
            #[cfg(feature = "std")]
            response,
            connection,
            request: self,
        })
    }

    /// The header fields of the answer to `accept`, once checked.
    fn response_fields<'a>(
        &self,
        accept: &'a Accept,
    ) -> Result<Vec<(&'a str, String)>, HandshakeError> {
        self.check(accept)?;
        let mut out: Vec<(&str, String)> = Vec::with_capacity(6 + accept.headers.len());
        if let Some(key) = &self.key {
            out.push(("Upgrade", "websocket".into()));
            out.push(("Connection", "Upgrade".into()));
            out.push(("Sec-WebSocket-Accept", accept_key(key.as_bytes())));
        }
        if let Some(protocol) = &accept.protocol {
            out.push(("Sec-WebSocket-Protocol", protocol.clone()));
        }
        if !accept.extensions.is_empty() || !self.answers.is_empty() {
            let list: Vec<String> = self
                .answers
                .iter()
                .chain(&accept.extensions)
                .map(|e| format!("{e}"))
                .collect();
            out.push(("Sec-WebSocket-Extensions", list.join(", ")));
        }
        for (name, value) in &accept.headers {
            out.push((name, value.clone()));
        }
        Ok(out)
    }

    fn check(&self, accept: &Accept) -> Result<(), HandshakeError> {
        if let Some(p) = accept
            .protocol
            .as_ref()
            .filter(|p| !self.protocols.contains(p))
        {
            return Err(HandshakeError::UnofferedSubprotocol(p.clone()));
        }
        if let Some(ext) = accept.extensions.first() {
            self.check_extension(ext)?;
        }
        accept
            .headers
            .iter()
            .try_for_each(|(n, v)| check_user_header(n, v))
    }

    /// Why an extension the application accepted cannot be answered: it is
    /// malformed, already negotiated, not offered, or one the core lacks.
    fn check_extension(&self, ext: &ExtensionOffer) -> Result<(), HandshakeError> {
        ext.validate()?;
        // Negotiated by the core: a second answer would contradict it.
        if self
            .answers
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(&ext.name))
        {
            return Err(HandshakeError::InvalidHeader {
                name: "Sec-WebSocket-Extensions",
                value: format!("{ext} (already negotiated from the Config)"),
            });
        }
        if !self
            .extensions
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&ext.name))
        {
            return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
        }
        // The connection could not apply it: a 101 that names it would
        // break the first frame that uses it.
        Err(HandshakeError::UnsupportedExtension(ext.name.clone()))
    }
}

/// An `http::Response<()>` with `status` and `fields` (already checked).
#[cfg(feature = "std")]
fn http_response(
    status: u16,
    version: ::http::Version,
    fields: &[(&str, String)],
) -> Result<::http::Response<()>, HandshakeError> {
    let mut response = ::http::Response::new(());
    *response.status_mut() = ::http::StatusCode::from_u16(status)
        .map_err(|_| HandshakeError::MalformedHttp("invalid status"))?;
    *response.version_mut() = version;
    for (name, value) in fields {
        let name = ::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid("field-name", name.as_bytes()))?;
        let value = ::http::HeaderValue::from_str(value)
            .map_err(|_| invalid("field-value", value.as_bytes()))?;
        response.headers_mut().append(name, value);
    }
    Ok(response)
}
