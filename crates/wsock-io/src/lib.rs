//! What wsock's I/O adapters share, whatever their I/O: the error model
//! ([`Error`], [`ErrorKind`], [`Timeout`], [`ConnectAttempt`]), the
//! server's [`ShutdownReport`] and, hidden, the diagnostics each connection
//! reports (and what is queued with a report: `queue`), the builders'
//! options and setters, the client's connection plan, the server
//! handshake's answers, what a handshake leaves behind, the record of a
//! handshake run outside the adapter (`opened`, for wsock-hyper), and
//! what a `Server`'s listener decides (its registry of connections, when
//! to accept and wait, the stop sequence) and the socket it binds.
//!
//! `wsock-blocking` and `wsock-tokio` re-export these types, so an error
//! means the same in both and code that handles errors works with either.
//! Applications rarely depend on this crate directly.
#![warn(missing_docs)]

mod error;
mod shutdown;

#[doc(hidden)]
pub mod accept;
#[doc(hidden)]
pub mod connect;
#[doc(hidden)]
pub mod diag;
#[doc(hidden)]
pub mod handshake;
#[doc(hidden)]
pub mod listen;
#[doc(hidden)]
pub mod listener;
#[doc(hidden)]
pub mod opened;
#[doc(hidden)]
pub mod options;
#[doc(hidden)]
pub mod queue;
#[doc(hidden)]
pub mod registry;

#[doc(hidden)]
pub use wsock_core as __core;
#[cfg(feature = "tls")]
#[doc(hidden)]
pub use wsock_tls as __tls;

pub use error::{ConnectAttempt, Error, ErrorKind, Timeout};
pub use shutdown::ShutdownReport;
