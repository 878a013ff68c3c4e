//! What wsock's I/O adapters share, whatever their I/O: the error model
//! ([`Error`], [`ErrorKind`], [`Timeout`], [`ConnectAttempt`]), the
//! server's [`ShutdownReport`] and, hidden, the diagnostics each connection
//! reports.
//!
//! `wsock-blocking` and `wsock-tokio` re-export these types, so an error
//! means the same in both and code that handles errors works with either.
//! Applications rarely depend on this crate directly.
#![warn(missing_docs)]

mod error;
mod shutdown;

#[doc(hidden)]
pub mod diag;

pub use error::{ConnectAttempt, Error, ErrorKind, Timeout};
pub use shutdown::ShutdownReport;
