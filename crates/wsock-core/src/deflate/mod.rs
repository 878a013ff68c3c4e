//! permessage-deflate (RFC 7692): negotiation and the per-message codec.
//!
//! Settings live in [`DeflateConfig`](crate::config::DeflateConfig); the
//! handshake negotiates, and the [`Connection`](crate::Connection)
//! compresses and inflates whole messages with the agreed parameters.

pub(crate) mod codec;
mod history;
pub(crate) mod negotiate;
mod pool;

/// The extension token.
pub const NAME: &str = "permessage-deflate";

/// Smallest window size the RFC allows (2^8 bytes).
pub const MIN_WINDOW_BITS: u8 = 8;
/// Largest window size (2^15 bytes, zlib's maximum and the default).
pub const MAX_WINDOW_BITS: u8 = 15;

/// The parameters both ends agreed on in the handshake (RFC 7692 §7.1).
///
/// Window sizes are limits on the sender's compressor; each end may
/// compress with a smaller window. A limit of 8, which zlib cannot
/// compress with (it needs 9 for raw deflate), is honoured by sending
/// that direction's messages uncompressed: a sender may always do so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// Largest window of the server's compressor, 8–15.
    pub server_max_window_bits: u8,
    /// Largest window of the client's compressor, 8–15.
    pub client_max_window_bits: u8,
}

/// Context takeover both ways, 15-bit windows: what an offer without
/// parameters agrees to.
impl Default for DeflateParams {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

#[cfg(test)]
mod tests;
