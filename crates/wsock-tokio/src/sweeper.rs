//! Frees the buffers of connections that went quiet, from one thread for
//! the whole process, so that no connection keeps a timer of its own.
//!
//! Why a thread and not a timer: while any Tokio timer is armed, every
//! wait of the runtime for I/O has a timeout, and the kernel arms (and
//! cancels) a timer of its own for each one. A timer per connection to
//! free its buffers after [`PERIOD`] without input cost 1.7 µs per
//! message at one message in flight (6% of the server's CPU per message;
//! docs/performance.md). The sweeper instead looks at each registered
//! connection once per period: one that read something since the last
//! look stays registered; one that did not has its buffers freed
//! ([`Connection::shrink_buffers`](wsock_core::Connection::shrink_buffers))
//! and leaves the list until input arrives again. A connection waiting for
//! input is then woken by nothing but its peer, and the thread itself
//! sleeps without a timeout while no connection is registered.
//!
//! The sweeper never waits for a connection's lock: one that is busy at
//! the moment is looked at again next period.

use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

use crate::shared::lock;

/// How long a connection must go without input before its buffers are
/// freed (between one and two periods). Freeing them at every wait for
/// input (then growing them again for the next message) halved the echo
/// rate of 64 KiB messages; a connection that stays quiet this long holds
/// no buffers.
pub(crate) const PERIOD: Duration = Duration::from_millis(50);

/// A connection the sweeper looks at.
pub(crate) trait Sweep: Send + Sync {
    /// Called once per period: frees the buffers if nothing was read since
    /// the last call and the connection is not in use at the moment.
    /// Whether to keep looking at it (`false`: freed, or over).
    fn sweep(self: Arc<Self>) -> bool;
}

/// The registered connections, and the condition the thread sleeps on
/// while there are none.
struct Registry {
    entries: Mutex<Vec<Weak<dyn Sweep>>>,
    added: Condvar,
}

static REGISTRY: OnceLock<Option<Arc<Registry>>> = OnceLock::new();

/// Adds `entry` to the sweeper's list (starting its thread the first
/// time). `false` if the thread could not be started: the caller then
/// frees the buffers itself.
pub(crate) fn register(entry: Weak<dyn Sweep>) -> bool {
    let Some(registry) = REGISTRY.get_or_init(start) else {
        return false;
    };
    lock(&registry.entries).push(entry);
    registry.added.notify_one();
    true
}

/// Starts the thread; `None` if the platform refused a thread.
fn start() -> Option<Arc<Registry>> {
    let registry = Arc::new(Registry {
        entries: Mutex::new(Vec::new()),
        added: Condvar::new(),
    });
    let ours = Arc::clone(&registry);
    std::thread::Builder::new()
        .name("wsock-idle-sweeper".into())
        .spawn(move || run(&ours))
        .ok()?;
    Some(registry)
}

/// The thread: every period, looks at every entry outside the list's lock
/// (connections registering meanwhile are not held up), then puts the
/// ones still wanted back.
fn run(registry: &Registry) {
    let mut entries = lock(&registry.entries);
    loop {
        while entries.is_empty() {
            entries = registry
                .added
                .wait(entries)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(entries);
        std::thread::sleep(PERIOD);
        let mut looked = std::mem::take(&mut *lock(&registry.entries));
        looked.retain(|entry| entry.upgrade().is_some_and(Sweep::sweep));
        entries = lock(&registry.entries);
        entries.append(&mut looked);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Swept `keep` times, then done.
    struct Counting {
        swept: AtomicUsize,
        keep: usize,
    }

    impl Sweep for Counting {
        fn sweep(self: Arc<Self>) -> bool {
            self.swept.fetch_add(1, Ordering::SeqCst) + 1 < self.keep
        }
    }

    #[test]
    fn entries_are_swept_each_period_until_they_say_done() {
        let entry = Arc::new(Counting {
            swept: AtomicUsize::new(0),
            keep: 3,
        });
        assert!(register(Arc::downgrade(&entry) as Weak<dyn Sweep>));
        assert_eq!(Arc::weak_count(&entry), 1, "the sweeper's");
        // Three looks, one period apart, then it leaves the list.
        let start = std::time::Instant::now();
        while Arc::weak_count(&entry) > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "never left");
            std::thread::sleep(PERIOD / 5);
        }
        assert!(start.elapsed() >= PERIOD * 2);
        assert_eq!(entry.swept.load(Ordering::SeqCst), 3);
    }
}
