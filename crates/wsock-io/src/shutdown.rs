//! [`ShutdownReport`]: what a server's graceful shutdown found and did.

/// What a `Server`'s `shutdown` found and did, in either adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Connections open when the shutdown began, handshakes included.
    pub open: usize,
    /// Of those, handshakes in progress, which were ended at once.
    pub handshakes_ended: usize,
    /// Of those, connections asked to close with 1001 (going away). The
    /// close frame goes out as soon as the connection's handler receives
    /// or sends.
    pub close_sent: usize,
    /// Connections that ended (their handler returned) by the deadline.
    pub closed: usize,
    /// Connections still open at the deadline, which were then ended
    /// without a closing handshake (the transport shut down, the task
    /// aborted).
    pub forced: usize,
}
