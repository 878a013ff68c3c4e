//! Typed errors. Every error says what went wrong; protocol and capacity
//! errors also say which close code they put on the wire.

use alloc::string::String;
use alloc::vec::Vec;

use crate::close::CloseCode;

/// The peer broke RFC 6455. Each variant maps to the close code the core sends
/// before it drops the connection ([`ProtocolError::close_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 set without an extension that owns the bit (§5.2).
    #[error("reserved bits set in frame header: {0:#05b}")]
    ReservedBits(u8),
    /// Opcode 0x3–0x7 or 0xB–0xF (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame with FIN = 0 (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A control frame with a payload over 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes (at most 125 allowed)")]
    ControlFrameTooLarge(u64),
    /// A 64-bit payload length with the most significant bit set (§5.2).
    #[error("payload length has its most significant bit set")]
    InvalidLength,
    /// A server received an unmasked frame (§5.1).
    #[error("client frame is not masked")]
    UnmaskedFrame,
    /// A client received a masked frame (§5.1).
    #[error("server frame is masked")]
    MaskedFrame,
    /// A continuation frame with no message in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (§5.4).
    #[error("new data frame while a fragmented message is in progress")]
    ExpectedContinuation,
    /// Text message or close reason that is not valid UTF-8 (§8.1). Close code 1007.
    #[error("invalid UTF-8 in text payload")]
    InvalidUtf8,
    /// A close frame whose payload is exactly one byte (§5.5.1).
    #[error("close frame payload of one byte")]
    InvalidClosePayload,
    /// A close code that must not appear on the wire (§7.4).
    #[error("close code {0} is not allowed on the wire")]
    InvalidCloseCode(u16),
    /// A frame arrived after the peer's close frame (§5.5.1).
    #[error("frame received after close frame")]
    FrameAfterClose,
    /// An extension rejected a frame (for example, corrupt compressed data).
    #[error("extension error: {0}")]
    Extension(&'static str),
}

impl ProtocolError {
    /// The close code this violation is answered with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::InvalidUtf8 | Self::Extension(_) => CloseCode::INVALID_PAYLOAD,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// Which configured limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`Config::max_frame_size`](crate::Config::max_frame_size).
    FrameSize,
    /// [`Config::max_message_size`](crate::Config::max_message_size).
    MessageSize,
    /// [`HandshakeLimits::max_header_bytes`](crate::HandshakeLimits::max_header_bytes).
    HeaderBytes,
    /// [`HandshakeLimits::max_headers`](crate::HandshakeLimits::max_headers).
    HeaderCount,
}

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::FrameSize => "frame size",
            Self::MessageSize => "message size",
            Self::HeaderBytes => "header bytes",
            Self::HeaderCount => "header count",
        })
    }
}

/// A size limit was exceeded. On a connection this is answered with close
/// code 1009; in a handshake with HTTP 431.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit} limit exceeded: {size} > {max}")]
pub struct CapacityError {
    /// The limit that was exceeded.
    pub limit: Limit,
    /// The size seen (or announced by a header).
    pub size: u64,
    /// The configured maximum.
    pub max: u64,
}

impl CapacityError {
    /// The close code this is answered with (1009, message too big).
    pub fn close_code(&self) -> CloseCode {
        CloseCode::MESSAGE_TOO_BIG
    }
}

/// The opening handshake failed. Client-side variants carry what the server
/// sent; server-side variants know the HTTP status to reject with
/// ([`HandshakeError::http_status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The URL could not be used for a WebSocket connection.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The URL scheme is not `ws` or `wss`.
    #[error("unsupported URL scheme {0:?} (expected ws or wss)")]
    UnsupportedScheme(String),
    /// The bytes are not a well-formed HTTP/1.x message.
    #[error("malformed HTTP: {0}")]
    MalformedHttp(&'static str),
    /// The header block exceeded a limit (server answers 431).
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The request method is not GET (server answers 405).
    #[error("method {0:?} not allowed (expected GET)")]
    MethodNotAllowed(String),
    /// The HTTP version is below 1.1 (server answers 400; client rejects).
    #[error("unsupported HTTP version 1.{0}")]
    UnsupportedHttpVersion(u8),
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header has a value the handshake cannot accept.
    #[error("invalid value for header {name}: {value:?}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// The offending value (lossy UTF-8, truncated to 256 bytes).
        value: String,
    },
    /// `Sec-WebSocket-Version` is not 13 (server answers 426 with
    /// `Sec-WebSocket-Version: 13`, as it does when the field is missing).
    #[error("unsupported WebSocket version {0:?} (expected 13)")]
    UnsupportedVersion(String),
    /// `Sec-WebSocket-Accept` does not match the key the client sent.
    #[error("Sec-WebSocket-Accept {got:?} does not match the expected {expected:?}")]
    AcceptMismatch {
        /// The value the client computed.
        expected: String,
        /// The value the server sent.
        got: String,
    },
    /// The server chose a subprotocol the client did not offer.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedSubprotocol(String),
    /// The server accepted an extension the client did not offer.
    #[error("server accepted extension {0:?}, which was not offered")]
    UnofferedExtension(String),
    /// The server answered with a redirect (3xx); `location` is where it points.
    #[error("server redirected with status {status} to {location:?}")]
    Redirect {
        /// The HTTP status (301, 302, 303, 307, 308, …).
        status: u16,
        /// The `Location` header, if any.
        location: Option<String>,
    },
    /// The server answered with a status other than 101 (and not a redirect).
    #[error("server rejected the upgrade with status {status}")]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The response headers, as sent.
        headers: Vec<(String, Vec<u8>)>,
        /// The start of the response body, if any arrived with the headers.
        body_prefix: Vec<u8>,
    },
    /// An HTTP/2 (or HTTP/3) extended CONNECT named a `:protocol` other
    /// than `websocket` (RFC 8441 §4; server answers 501 Not Implemented).
    #[error("extended CONNECT for protocol {0:?} (expected websocket)")]
    UnsupportedProtocol(String),
    /// The HTTP/2 server does not allow extended CONNECT: it did not send
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441 §3), so no WebSocket
    /// can be opened on its connection. Over HTTP/1.1 it may still serve one.
    #[error(
        "the HTTP/2 server does not allow extended CONNECT (RFC 8441 §3), so no WebSocket over HTTP/2"
    )]
    ExtendedConnectDisabled,
    /// HTTP/2 was required, but the server chose another protocol in TLS
    /// ALPN (the one named, or none).
    #[error("the server did not choose HTTP/2 in TLS ALPN (it chose {0:?})")]
    Http2NotNegotiated(Option<String>),
    /// The application rejected the request in its accept callback.
    #[error("request rejected by the application with status {0}")]
    RejectedByApplication(u16),
    /// The peer closed the connection before the handshake finished.
    #[error("connection closed during the opening handshake")]
    UnexpectedEof,
    /// The request did not arrive within the handshake timeout (server
    /// answers 408).
    #[error("the opening handshake timed out")]
    Timeout,
    /// The application accepted an extension the core does not implement
    /// (only permessage-deflate is, negotiated from the `Config`): answering
    /// it would promise frames the connection cannot read. The server
    /// answers 500.
    #[error("extension {0:?} is not implemented by the core")]
    UnsupportedExtension(String),
    /// Without `std`, a client handshake needs a source of mask keys
    /// ([`ClientHandshake::with_mask_source`](crate::handshake::client::ClientHandshake::with_mask_source))
    /// to hand over a connection.
    #[error("no source of mask keys for the client connection")]
    NoMaskSource,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with, if it is a
    /// request error (`None` for client-side errors).
    pub fn http_status(&self) -> Option<u16> {
        Some(match self {
            Self::Capacity(_) => 431,
            Self::MethodNotAllowed(_) => 405,
            Self::Timeout => 408,
            Self::UnsupportedVersion(_) | Self::MissingHeader("Sec-WebSocket-Version") => 426,
            Self::UnsupportedProtocol(_) => 501,
            Self::MalformedHttp(_)
            | Self::UnsupportedHttpVersion(_)
            | Self::MissingHeader(_)
            | Self::InvalidHeader { .. } => 400,
            Self::RejectedByApplication(status) => *status,
            _ => return None,
        })
    }
}

/// Every error the core reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer violated the protocol; a close frame with
    /// [`ProtocolError::close_code`] has been queued.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// A configured limit was exceeded; a close frame with 1009 has been queued.
    #[error(transparent)]
    Capacity(#[from] CapacityError),
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The transport ended without a completed closing handshake (close code 1006).
    #[error("connection closed abnormally (no close frame)")]
    AbnormalClose,
    /// No pong or other traffic arrived within the keepalive timeout.
    #[error("keepalive timeout: the peer stopped answering")]
    KeepaliveTimeout,
    /// The peer did not answer our close frame within the close timeout.
    #[error("close handshake timed out")]
    CloseTimeout,
    /// Nothing arrived within [`Config::idle_timeout`](crate::Config::idle_timeout);
    /// a close frame with 1001 (going away) has been queued.
    #[error("idle timeout: nothing received from the peer")]
    IdleTimeout,
    /// The connection is closed (or closing) and cannot send this.
    #[error("connection already closed")]
    AlreadyClosed,
    /// The call does not fit the current state (for example a whole message
    /// while a fragmented one is being sent).
    #[error("invalid use: {0}")]
    InvalidState(&'static str),
    /// A close code or reason the application passed is not allowed.
    #[error("invalid close frame: {0}")]
    InvalidCloseFrame(&'static str),
}

impl Error {
    /// The close code that this error put (or would put) on the wire, if any.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Self::Protocol(e) => Some(e.close_code()),
            Self::Capacity(e) => Some(e.close_code()),
            Self::IdleTimeout => Some(CloseCode::GOING_AWAY),
            Self::AbnormalClose | Self::KeepaliveTimeout | Self::CloseTimeout => {
                Some(CloseCode::ABNORMAL)
            }
            _ => None,
        }
    }
}
