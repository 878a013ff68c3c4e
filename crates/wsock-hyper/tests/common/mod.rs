//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use wsock_tokio::{Acceptor, ClientBuilder};

/// Every test body runs under this bound, so a hang fails instead of
/// stalling the suite.
pub const LIMIT: Duration = Duration::from_secs(20);

/// `builder` without permessage-deflate, so that payloads cross the wire
/// as sent (they are never compressed without the feature).
pub fn uncompressed(builder: ClientBuilder) -> ClientBuilder {
    #[cfg(feature = "deflate")]
    let builder = builder.deflate(wsock_tokio::DeflateConfig::disabled());
    builder
}

/// The acceptor without permessage-deflate (see [`uncompressed`]).
pub fn uncompressed_acceptor(acceptor: Acceptor) -> Acceptor {
    #[cfg(feature = "deflate")]
    let acceptor = acceptor.deflate(wsock_tokio::DeflateConfig::disabled());
    acceptor
}
