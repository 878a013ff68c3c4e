//! Settings chosen before a connection starts. Every limit has a safe
//! default and can be changed.

use core::time::Duration;

/// Which end of the connection this is. Decides masking (§5.1) and who
/// closes the transport first (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that sent the opening handshake; masks every frame.
    Client,
    /// The endpoint that accepted it; never masks, closes the transport first.
    Server,
}

/// Limits for parsing an opening handshake (request or response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeLimits {
    /// Most bytes in the header block, request line included. Default 8 KiB.
    pub max_header_bytes: usize,
    /// Most header fields. Default 64.
    pub max_headers: usize,
    /// How long an adapter waits for the whole handshake. Default 10 s.
    /// The core has no clock; adapters enforce this.
    pub timeout: Option<Duration>,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 8 * 1024,
            max_headers: 64,
            timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Connection settings. Construct with [`Config::default`] and change the
/// fields you need.
///
/// ```
/// let mut config = wsock_core::Config::default();
/// config.max_message_size = 1 << 20;
/// config.fragment_size = Some(64 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest accepted frame payload (close code 1009). Default 16 MiB.
    ///
    /// An uncompressed frame is checked from its header, before any
    /// payload is buffered. A frame of a compressed (permessage-deflate)
    /// message is checked against its *inflated* size as it inflates (one
    /// byte past the limit fails); its compressed size on the wire is not
    /// limited, since deflate makes incompressible data slightly larger,
    /// and its bytes are consumed as they are inflated, so memory stays
    /// bounded by the inflated limits.
    pub max_frame_size: usize,
    /// Largest accepted message (all fragments together), checked as
    /// fragments arrive, for a compressed message against its inflated
    /// size (close code 1009). In streaming receive mode a
    /// message is never buffered whole, so this may be raised freely there.
    /// Default 64 MiB.
    pub max_message_size: usize,
    /// Answer pings with pongs automatically. Default `true`.
    pub auto_pong: bool,
    /// Split outgoing messages into frames of at most this many payload
    /// bytes. Default `None` (one frame per message).
    pub fragment_size: Option<usize>,
    /// How many bytes the read buffer offers per read when no frame needs
    /// more. Default 4 KiB; the buffer grows to hold a whole frame in
    /// message mode and shrinks back when it empties.
    pub read_buffer_size: usize,
    /// Send a ping after this long without traffic from the peer.
    /// Default `None` (no keepalive).
    pub keepalive_interval: Option<Duration>,
    /// After a keepalive ping, fail the connection if nothing arrives within
    /// this long. Default 30 s (used only when `keepalive_interval` is set).
    pub keepalive_timeout: Duration,
    /// After sending a close frame, wait this long for the peer's close
    /// (and, as a client, for the server to end the transport). Default 5 s.
    pub close_timeout: Option<Duration>,
    /// Close the connection (code 1001, error
    /// [`Error::IdleTimeout`](crate::Error::IdleTimeout)) when nothing at
    /// all arrives from the peer for this long while it is open. Any
    /// received byte counts, pongs to keepalive pings included, so with a
    /// keepalive this only catches peers that stop answering pings without
    /// closing. Default `None`: long-lived quiet connections are normal
    /// for many applications; a server facing the internet should set it.
    pub idle_timeout: Option<Duration>,
    /// Pending output above which new pongs are coalesced instead of queued,
    /// so a ping flood from a peer that does not read cannot grow memory.
    /// Adapters also use it as the write-buffer bound. Default 64 KiB.
    pub write_buffer_size: usize,
    /// Limits for the opening handshake.
    pub handshake: HandshakeLimits,
    /// permessage-deflate (RFC 7692): what a client offers, what a server
    /// accepts, and how messages are compressed. On by default.
    #[cfg(feature = "deflate")]
    pub deflate: DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            fragment_size: None,
            read_buffer_size: 4 * 1024,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(30),
            close_timeout: Some(Duration::from_secs(5)),
            idle_timeout: None,
            write_buffer_size: 64 * 1024,
            handshake: HandshakeLimits::default(),
            #[cfg(feature = "deflate")]
            deflate: DeflateConfig::default(),
        }
    }
}

/// permessage-deflate settings (RFC 7692), for both roles.
///
/// The parameters carry the RFC's names. A client offers them: the
/// `*_no_context_takeover` flags are sent when set, and a window size when
/// below 15 (`client_max_window_bits` is always offered, so a server may
/// shrink the client's window). A server accepts the first offer it can
/// honour and answers with the stricter of the offer and these settings,
/// and with windows no larger than the `answer_*_window_bits`.
///
/// Memory is the main cost of deflate at scale. zlib-rs allocates per
/// stream (window bits `w`):
///
/// | state | size | at `w` = 15 | at `w` = 14 | at `w` = 11 |
/// |---|---|---|---|---|
/// | compressor (memLevel 8) | 2^(w+2) + 246 KiB | 374 KiB | 310 KiB | 254 KiB |
/// | decompressor | 42 KiB (a 32 KiB window whatever `w`) | 42 KiB | 42 KiB | 42 KiB |
/// | a window kept between messages | 2^w | 32 KiB | 16 KiB | 2 KiB |
///
/// (Resident memory is less: zlib-rs touches its buffers as it uses them.)
///
/// By default (`release_after_message`) both streams exist only while a
/// message is compressed or inflated, so a connection holds between
/// messages only the windows context takeover needs: 2^w bytes per
/// direction, 18 KiB with the default server answer to a browser's or
/// Python's offer (14 bits for the server's messages, 11 for the
/// client's). A client whose offer does not let the server limit its
/// window (no `client_max_window_bits`) compresses with up to 15 bits, so
/// the server keeps 32 KiB for it.
/// With no context takeover for a direction, that direction keeps no
/// window at all. [`crate::Connection::deflate_memory`] reports the
/// current figure.
#[cfg(feature = "deflate")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate. Default `true`.
    pub enabled: bool,
    /// The server resets its compressor after every message. A client asks
    /// for it; a server imposes it. Default `false`.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message. A client
    /// promises it; a server asks for it. Default `false`.
    pub client_no_context_takeover: bool,
    /// Largest LZ77 window (8–15) of the server's compressor. A client asks
    /// for it when below 15; a server uses at most this. Default 15.
    pub server_max_window_bits: u8,
    /// Largest LZ77 window (8–15) of the client's compressor. A client
    /// compresses with at most this; a server caps the client with it when
    /// the client offers the parameter. Default 15.
    pub client_max_window_bits: u8,
    /// Server role only: the largest window (8–15) the server compresses
    /// with when the offer leaves the choice to it; it says so
    /// (`server_max_window_bits=N`, which §7.1.2.1 lets a server add
    /// unasked), so the client's decompressor can be smaller too.
    ///
    /// Why 14 by default: between messages a connection keeps this
    /// direction's window, 2^N bytes (16 KiB at 14, 32 KiB at 15), and on
    /// a JSON-like corpus 14 bits compress within 7% of zlib's 15-bit
    /// default where 13 bits lose 18% and 12 bits 35%
    /// (`docs/limits.md`). The client's own offer does not change with it
    /// (see `server_max_window_bits`).
    pub answer_server_window_bits: u8,
    /// Server role only: the window (8–15) the server answers a bare
    /// `client_max_window_bits` with (§7.1.2.2), what browsers and
    /// Python's `websockets` offer; a value offered by the client is
    /// lowered to it.
    ///
    /// Why 11 by default: the server keeps the client's window, 2^N
    /// bytes, between messages, and inbound traffic is usually the
    /// smaller share; 11 bits (2 KiB) keep an idle connection within
    /// 32 KiB. A client that does not offer the parameter may compress
    /// with 15 bits, and then costs 32 KiB.
    pub answer_client_window_bits: u8,
    /// Free each zlib stream after every message and keep only its window
    /// (2^w bytes) for context takeover; the next message starts a fresh
    /// stream with that window as preset dictionary, which continues the
    /// same LZ77 stream for the peer. Default `true`.
    ///
    /// Why: zlib-rs's compressor takes 250+ KiB however small its window,
    /// most of it a fixed 128 KiB hash table and buffers sized by
    /// memLevel, so keeping it is what made a deflate connection cost
    /// 200–360 KiB. Released compressors go to a small pool of spares
    /// shared by the process (at most 8), so the heap does not fragment.
    /// The price is CPU per compressed message sent: hashing the window
    /// back in, about 37 µs at 14 bits (51 µs instead of 14 µs for a
    /// 535-byte JSON message at level 6, measured on a 2-core x86_64 VM);
    /// inflating costs a few µs more. Set `false` where CPU matters more
    /// than memory: the streams are then kept between messages, and
    /// [`Connection::release_deflate`](crate::Connection::release_deflate)
    /// frees them when the connection goes idle.
    pub release_after_message: bool,
    /// Messages shorter than this many bytes are sent uncompressed (RFC
    /// 7692 lets a sender choose per message). Default 64.
    pub threshold: usize,
    /// zlib compression level, 0 (none) to 9 (best). Default 6.
    pub level: u32,
}

#[cfg(feature = "deflate")]
impl DeflateConfig {
    /// Neither offered nor accepted: messages go uncompressed.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

#[cfg(feature = "deflate")]
impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            answer_server_window_bits: 14,
            answer_client_window_bits: 11,
            release_after_message: true,
            threshold: 64,
            level: 6,
        }
    }
}
