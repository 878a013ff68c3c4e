//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use tokio::net::TcpListener;
use wsock_tokio::{ClientBuilder, DeflateConfig};

/// Every test body runs under this bound, so a hang fails instead of
/// stalling the suite.
pub const LIMIT: Duration = Duration::from_secs(20);

pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// `builder` without permessage-deflate, so that payloads cross the wire
/// as sent.
pub fn uncompressed(builder: ClientBuilder) -> ClientBuilder {
    builder.deflate(DeflateConfig::disabled())
}
