//! Shared helpers for wsock's cross-crate tests.
