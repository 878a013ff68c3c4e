//! A sans-IO WebSocket (RFC 6455) protocol engine.
//!
//! `wsock-core` does no I/O, reads no clock and spawns nothing: bytes go in,
//! events come out; calls go in, bytes come out. Drive it from any event
//! loop, or use the `wsock-blocking` and `wsock-tokio` adapters that do.
//!
//! * The opening handshake: [`handshake::server::ServerHandshake`] reads and
//!   checks a client's upgrade request, then accepting it hands over the
//!   ready [`Connection`] with the response to write;
//!   [`handshake::client::ClientHandshake`] writes the request and checks
//!   the response.
//! * After it, a [`Connection`]: framing, masking, fragmentation, UTF-8
//!   validation, pings and pongs, the closing handshake, and keepalive and
//!   close timers driven by the time you pass in.
//! * [`Config`] holds every limit and timer, with safe defaults.
//! * permessage-deflate (RFC 7692, default feature `deflate`, needs `std`):
//!   negotiated by the handshakes when asked to, then applied by the
//!   [`Connection`] per message, with the inflated size bounded by
//!   [`Config::max_message_size`] (see below).
//!
//! ```
//! use wsock_core::handshake::client::{ClientHandshake, ClientRequest};
//! use wsock_core::handshake::server::{Accept, ServerHandshake};
//! use wsock_core::{CloseCode, Config, Connection, Event, Message};
//!
//! /// Everything `conn` has queued for the transport.
//! fn transmit(conn: &mut Connection) -> Vec<u8> {
//!     let mut wire = Vec::new();
//!     loop {
//!         let mut slices = [&[][..]; 8];
//!         let n = conn.poll_transmit(&mut slices);
//!         if n == 0 {
//!             return wire;
//!         }
//!         let before = wire.len();
//!         slices[..n].iter().for_each(|s| wire.extend_from_slice(s));
//!         let written = wire.len() - before;
//!         conn.consume_output(written);
//!     }
//! }
//!
//! // Both ends in memory: what one writes, the other is fed.
//! let config = Config::default();
//! let request = ClientRequest::new("ws://example.com/chat")?;
//! let mut client_hs = ClientHandshake::new(&request, &config);
//! let mut server_hs = ServerHandshake::new(&config);
//! let req = server_hs.feed(client_hs.request_bytes())?.expect("whole request");
//! // Accepting hands over the server's connection, and reading the answer
//! // the client's.
//! let accepted = req.accept(Accept::new()).map_err(|r| r.error)?;
//! let connected = client_hs.feed(&accepted.response_bytes)?.expect("whole response");
//!
//! let mut client = connected.connection;
//! let mut server = accepted.connection;
//! client.send("hello")?;
//! client.close(CloseCode::NORMAL, "bye")?;
//! let wire = transmit(&mut client); // bytes for the socket
//!
//! server.feed(&wire);
//! assert_eq!(server.poll_event()?, Some(Event::Message(Message::text("hello"))));
//! assert!(matches!(server.poll_event()?, Some(Event::Message(Message::Close(_))))); // reply queued
//! let wire = transmit(&mut server);
//! assert!(server.should_close_transport()); // a server closes TCP first
//!
//! client.feed(&wire);
//! assert!(matches!(client.poll_event()?, Some(Event::Message(Message::Close(_)))));
//! client.handle_eof(); // the server closed the socket
//! assert_eq!(client.poll_event()?, None);
//! assert!(client.should_close_transport());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # permessage-deflate
//!
//! The handshakes negotiate what [`Config::deflate`] allows, and the
//! connections they hand over apply the agreement:
//!
//! ```
//! # #[cfg(feature = "deflate")] {
//! use wsock_core::handshake::client::{ClientHandshake, ClientRequest};
//! use wsock_core::handshake::server::{Accept, ServerHandshake};
//! use wsock_core::{Config, Event, Message};
//!
//! let config = Config::default(); // deflate on, 15-bit windows
//! let request = ClientRequest::new("ws://example.com/chat")?;
//! let mut client_hs = ClientHandshake::new(&request, &config);
//! let mut server_hs = ServerHandshake::new(&config);
//! let req = server_hs.feed(client_hs.request_bytes())?.expect("whole request");
//! let accepted = req.accept(Accept::new()).map_err(|r| r.error)?;
//! let connected = client_hs.feed(&accepted.response_bytes)?.expect("whole response");
//! assert!(connected.response.negotiated_extensions().deflate().is_some());
//!
//! // Deflate is already in force in both connections.
//! let mut client = connected.connection;
//! let mut server = accepted.connection;
//! let text = "compressible ".repeat(100);
//! client.send(&text)?;
//! let mut slices = [&[][..]; 4];
//! let n = client.poll_transmit(&mut slices);
//! let wire = slices[..n].concat();
//! assert!(wire.len() < 100, "1300 bytes went out as {}", wire.len());
//! server.feed(&wire);
//! assert_eq!(server.poll_event()?, Some(Event::Message(Message::text(&text))));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which wsock crate
//!
//! Use this crate directly when you own the event loop: `mio`, `epoll`,
//! `io_uring`, a game loop, an embedded target (`no_std` + `alloc`: turn
//! off the default `std` feature and supply mask keys with
//! [`Connection::with_mask_source`]). Otherwise `wsock-blocking` (any
//! `Read + Write`, threads) and `wsock-tokio` (async) drive it for you, and
//! `wsock-tls` adds `wss://`. The guide `docs/guide-core.md` in the
//! repository has a complete `mio` server (`examples/mio_echo.rs`).
//!
//! # Unsafe code
//!
//! The crate denies `unsafe_code` (`#![deny(unsafe_code)]`) and allows it in
//! two places: [`Utf8Bytes::as_str`] reads text the crate has already
//! validated without validating it a second time, and [`ReadSpace`]
//! implements `bytes::BufMut` (an unsafe trait) by forwarding to the read
//! buffer's own implementation, so a transport can read into the buffer
//! without zeroing it first. Both have `SAFETY` notes and Miri tests.
//! Everything else, the masking included, is safe Rust.
#![no_std]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link to items of the default features (`std`, `deflate`); the
// default build checks those links, a build without them would only see
// them dangle.
#![cfg_attr(not(feature = "deflate"), allow(rustdoc::broken_intra_doc_links))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod admission;
mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub mod deflate;
mod error;
mod event;
mod extension;
mod fragmenter;
pub(crate) mod frame;
pub mod handshake;
pub(crate) mod mask;
mod message;
mod prepared;
mod stream_reader;
pub(crate) mod utf8;
mod utf8_bytes;

/// The byte buffer type of binary payloads, re-exported from `bytes`.
pub use bytes::Bytes;
/// The `http` crate, whose types the handshake speaks with `std`
/// (re-exported so that callers use the same version).
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub use http;
/// Internals the fuzz targets and the benchmarks drive directly: the
/// frame header codec, masking and the incremental UTF-8 validator. Not
/// part of the API: no stability promise, hidden from the docs.
#[doc(hidden)]
pub mod __internals {
    pub use crate::connection::transmit_all;
    pub use crate::frame::{
        FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode, RSV1, RSV2, RSV3,
    };
    pub use crate::mask::{apply_mask, mask_into};
    pub use crate::utf8::{Utf8Validator, validate};
}

pub use close::{CloseCode, CloseFrame};
#[cfg(feature = "deflate")]
pub use config::DeflateConfig;
pub use config::{Config, HandshakeLimits, Role};
pub use connection::{CloseStep, Connection, ReadSpace, ReceiveMode, State, Stats};
pub use error::{CapacityError, Error, HandshakeError, Limit, ProtocolError};
pub use event::{DataKind, Event};
pub use extension::Extensions;
pub use fragmenter::Fragmenter;
pub use message::Message;
pub use prepared::PreparedMessage;
pub use stream_reader::{StreamReader, StreamStep};
pub use utf8::InvalidUtf8;
pub use utf8_bytes::Utf8Bytes;
