//! Diagnostics through `tracing` (the default-on `tracing` feature): a span
//! per connection and an event for each thing worth knowing about it. They
//! cost nothing when no subscriber listens, and without the feature they
//! compile to nothing. Everything about connections is at `debug` level: a
//! server's clients misbehaving is normal, not a warning for the server.
//! A server running out of resources to accept with is one.

#[cfg(feature = "tracing")]
use std::sync::atomic::{AtomicU64, Ordering};

use wsock_core::{CloseFrame, Role};

use crate::Error;

/// A connection's span: `websocket{id, role, peer}`. `peer` is filled in
/// where the address is known ([`record_peer`]).
#[cfg(feature = "tracing")]
pub type Span = tracing::Span;
/// Without the feature, nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Clone, Debug, Default)]
pub struct Span;

/// A new connection's span.
pub fn connection_span(role: Role) -> Span {
    #[cfg(feature = "tracing")]
    {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let role = match role {
            Role::Client => "client",
            Role::Server => "server",
        };
        tracing::debug_span!("websocket", id, role, peer = tracing::field::Empty)
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = role;
        Span
    }
}

/// A new connection's span, with the peer's address if it is known.
pub fn peer_span(role: Role, peer: Option<std::net::SocketAddr>) -> Span {
    let span = connection_span(role);
    if let Some(peer) = peer {
        record_peer(&span, peer);
    }
    span
}

/// Records the peer's address in `span`.
pub fn record_peer(span: &Span, peer: std::net::SocketAddr) {
    #[cfg(feature = "tracing")]
    span.record("peer", tracing::field::display(peer));
    #[cfg(not(feature = "tracing"))]
    let _ = (span, peer);
}

/// A server ended stalled handshake `connection` (as its registry numbers
/// it) to make room for a waiting connection.
pub fn evicted(connection: u64) {
    #[cfg(feature = "tracing")]
    tracing::debug!(connection, "stalled handshake ended to make room");
    #[cfg(not(feature = "tracing"))]
    let _ = connection;
}

/// A server's `accept` began failing for want of resources (out of file
/// descriptors and the like): once per episode, as the listener says.
pub fn accept_failing(error: &std::io::Error) {
    #[cfg(feature = "tracing")]
    tracing::warn!(%error, "accept failing; retrying until resources free up");
    #[cfg(not(feature = "tracing"))]
    let _ = error;
}

/// A server's `accept` works again after `episode`.
pub fn accepting_again(episode: wsock_core::admission::FailureEpisode) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        failures = episode.failures,
        lasted_ms = u64::try_from(episode.lasted.as_millis()).unwrap_or(u64::MAX),
        "accepting connections again"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = episode;
}

/// The opening handshake succeeded.
pub fn handshake_done(span: &Span, protocol: Option<&str>, extensions: wsock_core::Extensions) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        parent: span,
        protocol = protocol.unwrap_or("-"),
        deflate = !extensions.is_empty(),
        "handshake done"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (span, protocol, extensions);
}

/// The opening handshake failed: refused (with the status sent or
/// received), timed out, or broken.
pub fn handshake_failed(span: &Span, error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        parent: span,
        kind = ?error.kind(),
        status = error.http_status(),
        "handshake failed: {error}"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (span, error);
}

/// A close frame went out (`code`), or came in from the peer.
pub fn close(span: &Span, by_peer: bool, frame: Option<&CloseFrame>) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        parent: span,
        side = if by_peer { "peer" } else { "local" },
        code = frame.map(|f| f.code.0),
        reason = frame.map(|f| f.reason.as_str()),
        "close frame {}",
        if by_peer { "received" } else { "sent" }
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (span, by_peer, frame);
}

/// The connection failed: a protocol violation or a tripped limit (with
/// the close code sent), a timeout, the transport.
pub fn failed(span: &Span, error: &Error) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        parent: span,
        kind = ?error.kind(),
        close_code = error.close_code().map(|c| c.0),
        "connection failed: {error}"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (span, error);
}

/// The transport is closed; the connection is over.
pub fn ended(span: &Span, clean: bool) {
    #[cfg(feature = "tracing")]
    tracing::debug!(parent: span, clean, "connection ended");
    #[cfg(not(feature = "tracing"))]
    let _ = (span, clean);
}
