//! Core benchmarks (filled in below).
fn main() {}
