//! Shared helpers for wsock's cross-crate tests, and the doc tests of the
//! guides, the README and the crates' READMEs: every Rust code block in
//! them is compiled, and run unless marked `no_run`, by `cargo test --doc`
//! on this crate.

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

/// crates/wsock-core/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-core/README.md")]
mod readme_core {}

/// crates/wsock-blocking/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-blocking/README.md")]
mod readme_blocking {}

/// crates/wsock-tokio/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-tokio/README.md")]
mod readme_tokio {}

/// crates/wsock-hyper/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-hyper/README.md")]
mod readme_hyper {}

/// crates/wsock-axum/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-axum/README.md")]
mod readme_axum {}

/// crates/wsock-tls/README.md
#[cfg(doctest)]
#[doc = include_str!("../../crates/wsock-tls/README.md")]
mod readme_tls {}
