//! A sans-IO WebSocket (RFC 6455) protocol engine.
//!
//! `wsock-core` does no I/O, reads no clock and spawns nothing: bytes go in,
//! events come out; calls go in, bytes come out. Drive it from any event
//! loop, or use the `wsock-blocking` and `wsock-tokio` adapters that do.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod close;
pub mod config;
pub mod connection;
#[cfg(feature = "deflate")]
#[cfg_attr(docsrs, doc(cfg(feature = "deflate")))]
pub mod deflate;
pub mod error;
pub mod event;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
#[cfg(feature = "deflate")]
pub use config::DeflateConfig;
pub use config::{Config, HandshakeLimits, Role};
pub use connection::{Connection, ReceiveMode, State, Stats};
pub use error::{CapacityError, Error, HandshakeError, Limit, ProtocolError};
pub use event::{DataKind, Event};
pub use extension::Extensions;
pub use message::Message;
