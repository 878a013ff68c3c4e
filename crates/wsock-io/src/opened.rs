//! What an opening handshake run outside an adapter leaves for the
//! WebSocket built over its transport: a hyper server's upgrade or an
//! HTTP/2 stream (the `wsock-hyper` crate) read and wrote the HTTP, the
//! core checked it, and the adapter's `WebSocket` takes over from there
//! with the same settings and records as if it had run the handshake.

use crate::diag::Span;
use crate::handshake::Handshake;
use crate::options::Settings;

/// An opening handshake done elsewhere: what the adapter needs to build
/// the WebSocket as its own handshakes do.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The builder's or acceptor's settings outside the core (timeouts,
    /// write coalescing); the core's part is already in the connection.
    pub settings: Settings,
    /// What the handshake exchanged, for `WebSocket::request` and
    /// `WebSocket::response`.
    pub exchanged: Handshake,
    /// The diagnostics span the handshake reported in, which the
    /// connection goes on reporting in.
    pub span: Span,
}

impl Opened {
    /// A handshake that exchanged `exchanged`, with `settings`, reported
    /// in `span`.
    pub fn new(settings: Settings, exchanged: Handshake, span: Span) -> Self {
        Self {
            settings,
            exchanged,
            span,
        }
    }
}
