//! Shared helpers for wsock's cross-crate tests, and the doc tests of the
//! guides and the README: every Rust code block in them is compiled, and
//! run unless marked `no_run`, by `cargo test --doc` on this crate.

/// docs/guide-core.md
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide-core.md")]
mod guide_core {}

/// docs/guide-blocking.md
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide-blocking.md")]
mod guide_blocking {}

/// docs/guide-tokio.md
#[cfg(doctest)]
#[doc = include_str!("../../docs/guide-tokio.md")]
mod guide_tokio {}

/// docs/deploy.md
#[cfg(doctest)]
#[doc = include_str!("../../docs/deploy.md")]
mod deploy {}

/// docs/coming-from.md
#[cfg(doctest)]
#[doc = include_str!("../../docs/coming-from.md")]
mod coming_from {}

/// README.md
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
