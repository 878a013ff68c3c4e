//! Settings shared by [`ClientBuilder`](crate::ClientBuilder) and
//! [`Acceptor`](crate::Acceptor).

use std::time::Duration;

use wsock_core::Config;

/// Everything chosen before a connection starts, beyond the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
}

/// How long a close may linger (flushing, waiting for the peer's end of
/// stream) when nobody waits for it: on drop, after a failure.
pub(crate) fn linger(config: &Config) -> Duration {
    config
        .close_timeout
        .unwrap_or(Duration::from_secs(2))
        .min(Duration::from_secs(2))
}

/// The setters both builders share. `$settings` is the field holding a
/// [`Settings`].
macro_rules! settings_setters {
    ($settings:ident) => {
        /// Replaces every protocol setting (limits, buffers, keepalive,
        /// timeouts of the core) at once. The setters below change one each.
        pub fn config(mut self, config: wsock_core::Config) -> Self {
            self.$settings.config = config;
            self
        }

        /// How long one [`recv`](crate::WebSocket::recv) (or one read of a
        /// streamed message) may wait for data before it fails with
        /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout). The
        /// connection stays usable. Default `None` (wait forever).
        pub fn read_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.$settings.read_timeout = timeout;
            self
        }

        /// How long writing out one [`send`](crate::WebSocket::send) or
        /// [`flush`](crate::WebSocket::flush) may block on a peer that does
        /// not read before it fails with
        /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout); unsent bytes
        /// stay queued. Default `None` (wait forever).
        pub fn write_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.$settings.write_timeout = timeout;
            self
        }

        /// How long the whole opening handshake may take. Default 10 s.
        pub fn handshake_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.$settings.config.handshake.timeout = timeout;
            self
        }

        /// Largest accepted frame payload (close code 1009 above it).
        /// Default 16 MiB.
        pub fn max_frame_size(mut self, bytes: usize) -> Self {
            self.$settings.config.max_frame_size = bytes;
            self
        }

        /// Largest accepted message (close code 1009 above it). Streamed
        /// messages are never buffered whole, so this may be raised freely
        /// for them. Default 64 MiB.
        pub fn max_message_size(mut self, bytes: usize) -> Self {
            self.$settings.config.max_message_size = bytes;
            self
        }

        /// Most bytes in the handshake's header block. Default 8 KiB.
        pub fn max_header_bytes(mut self, bytes: usize) -> Self {
            self.$settings.config.handshake.max_header_bytes = bytes;
            self
        }

        /// Most header fields in the handshake. Default 64.
        pub fn max_headers(mut self, count: usize) -> Self {
            self.$settings.config.handshake.max_headers = count;
            self
        }

        /// Split outgoing messages into frames of at most this many payload
        /// bytes; also the fragment size of
        /// [`send_stream`](crate::WebSocket::send_stream). Default `None`
        /// (one frame per message).
        pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
            self.$settings.config.fragment_size = bytes;
            self
        }

        /// Queued output above which sending waits for the transport, so
        /// memory stays bounded against a peer that does not read.
        /// Default 64 KiB.
        pub fn write_buffer_size(mut self, bytes: usize) -> Self {
            self.$settings.config.write_buffer_size = bytes;
            self
        }

        /// permessage-deflate (RFC 7692): what a client offers, what a
        /// server accepts, how messages are compressed. On by default;
        /// [`DeflateConfig::disabled`](wsock_core::DeflateConfig::disabled)
        /// turns it off.
        #[cfg(feature = "deflate")]
        pub fn deflate(mut self, deflate: wsock_core::DeflateConfig) -> Self {
            self.$settings.config.deflate = deflate;
            self
        }

        /// Bytes asked of the transport per read. Default 4 KiB.
        pub fn read_buffer_size(mut self, bytes: usize) -> Self {
            self.$settings.config.read_buffer_size = bytes;
            self
        }

        /// Send a ping after this long without traffic from the peer.
        /// Default `None` (no keepalive). Pings are sent while a thread is
        /// reading.
        pub fn keepalive_interval(mut self, interval: Option<std::time::Duration>) -> Self {
            self.$settings.config.keepalive_interval = interval;
            self
        }

        /// After a keepalive ping, fail the connection
        /// ([`Timeout::Keepalive`](crate::Timeout::Keepalive))
        /// if nothing arrives within this long. Default 30 s.
        pub fn keepalive_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.$settings.config.keepalive_timeout = timeout;
            self
        }

        /// Answer pings with pongs automatically. Default `true`.
        pub fn auto_pong(mut self, enabled: bool) -> Self {
            self.$settings.config.auto_pong = enabled;
            self
        }

        /// After sending a close frame, wait this long for the peer's.
        /// Default 5 s.
        pub fn close_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.$settings.config.close_timeout = timeout;
            self
        }

        /// Close the connection (code 1001, then
        /// [`Timeout::Idle`](crate::Timeout::Idle)) when
        /// nothing arrives from the peer for this long. Like keepalive
        /// pings, it runs while a thread is reading. Default `None`.
        pub fn idle_timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.$settings.config.idle_timeout = timeout;
            self
        }
    };
}

pub(crate) use settings_setters;
