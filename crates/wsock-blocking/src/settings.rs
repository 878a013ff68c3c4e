//! Settings shared by [`ClientBuilder`](crate::ClientBuilder) and
//! [`Acceptor`](crate::Acceptor): the ones wsock-tokio's builders take too.

use std::time::Duration;

use wsock_core::Config;
pub(crate) use wsock_io::options::Settings;

/// How long a close may linger (flushing, waiting for the peer's end of
/// stream) when nobody waits for it: on drop, after a failure.
pub(crate) fn linger(config: &Config) -> Duration {
    config
        .close_timeout
        .unwrap_or(Duration::from_secs(2))
        .min(Duration::from_secs(2))
}
