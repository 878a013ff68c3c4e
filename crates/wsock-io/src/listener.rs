//! [`Listener`]: what a `Server`'s accept loop and its stop sequence
//! decide, whatever their I/O. Both adapters' listeners (a thread per
//! connection, a task per connection) and `wsock serve` ask it what to do
//! next and only carry it out: accept, wait the way their runtime waits,
//! spawn, end what it hands back. So when to accept, what to wait for and
//! until when, and the steps of a graceful stop with their deadline cannot
//! drift apart between them.
//!
//! [`Listener`] is sans-IO like the core's timers: the caller passes `now`
//! (any monotonic clock, as a [`Duration`] since a fixed point), does the
//! waiting it asks for ([`Step`]) and ends what it hands back. What it
//! keeps per connection is the [`Registry`]'s: a payload `T` (what ends the
//! connection) and, once open, a closer `C` (what asks it to close).
//! [`Shared`] is how an adapter holds it: behind a mutex, on the adapter's
//! clock, with its way of waking waiters (a `Condvar`, a Tokio `Notify`);
//! [`Registration`] is a connection's place in it, which keeps the books
//! and wakes the waiters when the connection opens and when it ends.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wsock_core::admission::{AcceptFailures, FailureEpisode, HandshakeId, Room};

use crate::ShutdownReport;
use crate::registry::{Admitted, Registry, Stopping};

/// The longest wait a shutdown deadline stands for: `Duration::MAX` and
/// the like mean "wait as long as it takes".
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Longest pause after a failed `accept` (out of file descriptors and the
/// like), so the accept loop does not spin; a connection that ends cuts it
/// short.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The close reason sent to every connection when the server shuts down
/// (with 1001, going away).
pub const SHUTDOWN_REASON: &str = "server shutting down";

/// What to do next, as a [`Listener`] sees it at the `now` it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step<R> {
    /// Go on, with this.
    Go(R),
    /// Wait until the listener changes (a connection ends or opens, the
    /// server stops) or, at the latest, until this time (`None`: no time
    /// limit), then ask again.
    Wait(Option<Duration>),
    /// The server is stopping: the accept loop returns.
    Stop,
}

/// How long a [`Step::Wait`] until `until` lasts at most from `now`, for a
/// wait given as a duration: [`FOREVER`] without a time limit, and at
/// least a millisecond, so that a timed wait that wakes a little early
/// does not spin.
pub fn wait_time(until: Option<Duration>, now: Duration) -> Duration {
    until
        .map_or(FOREVER, |at| at.saturating_sub(now).min(FOREVER))
        .max(Duration::from_millis(1))
}

/// One server's [`Registry`], with the accept loop's state (failures and
/// back-off) and the stop sequence's deadline; see the
/// [module docs](self).
#[derive(Debug)]
pub struct Listener<T, C> {
    registry: Registry<T, C>,
    failures: AcceptFailures,
    /// After an `accept` failed for want of resources: do not accept again
    /// before this, unless a connection ends first.
    backoff: Option<Duration>,
    /// When a graceful stop gives up waiting for connections to close.
    deadline: Option<Duration>,
}

impl<T, C> Listener<T, C> {
    /// At most `max_handshakes` at once, a request still incomplete
    /// `evict_after` after admission counts as stalled; see
    /// [`wsock_core::admission`].
    pub fn new(max_handshakes: usize, evict_after: Duration) -> Self {
        Self {
            registry: Registry::new(max_handshakes, evict_after),
            failures: AcceptFailures::default(),
            backoff: None,
            deadline: None,
        }
    }

    /// Before `accept`: go once there is room for another handshake (so
    /// that connections wait in the listen backlog meanwhile) and any
    /// back-off after a failed `accept` is over.
    pub fn next(&self, now: Duration) -> Step<()> {
        if self.registry.is_stopping() {
            return Step::Stop;
        }
        if let Some(until) = self.backoff.filter(|&until| until > now) {
            return Step::Wait(Some(until));
        }
        match self.room(now) {
            Ok(()) => Step::Go(()),
            Err(until) => Step::Wait(until),
        }
    }

    /// Whether there is room for another handshake at `now`, or until when
    /// to wait for one, as [`Step::Wait`] says.
    fn room(&self, now: Duration) -> Result<(), Option<Duration>> {
        match self.registry.room(now) {
            Room::Now => Ok(()),
            Room::At(at) => Err(Some(at)),
            _ => Err(None),
        }
    }

    /// `accept` failed at `now` with `error`. Transient errors (a
    /// connection reset before it was accepted) are passed over; any other
    /// backs the loop off for [`ACCEPT_BACKOFF`] or until a connection
    /// ends, whichever is first ([`next`](Self::next) says so). `true` when
    /// this begins an episode of failures: log it (once per episode, as
    /// [`AcceptFailures`] says).
    pub fn accept_failed(&mut self, now: Duration, error: &std::io::Error) -> bool {
        use std::io::ErrorKind;
        let kind = error.kind();
        if matches!(
            kind,
            ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
        ) {
            return false;
        }
        self.backoff = Some(now.saturating_add(ACCEPT_BACKOFF));
        self.failures.failed(now)
    }

    /// What `accept` returned at `now`: the connection, or `None` after a
    /// failure. Logs the beginning and the end of an episode of failures
    /// (`wsock serve` logs its own, through
    /// [`accept_failed`](Self::accept_failed) and
    /// [`accepted`](Self::accepted)).
    pub fn accept_result<X>(&mut self, now: Duration, result: std::io::Result<X>) -> Option<X> {
        match result {
            Ok(accepted) => {
                if let Some(episode) = self.accepted(now) {
                    crate::diag::accepting_again(episode);
                }
                Some(accepted)
            }
            Err(error) => {
                if self.accept_failed(now, &error) {
                    crate::diag::accept_failing(&error);
                }
                None
            }
        }
    }

    /// `accept` succeeded at `now`: the episode of failures this ends, to
    /// log, if one was going on.
    pub fn accepted(&mut self, now: Duration) -> Option<FailureEpisode> {
        self.backoff = None;
        self.failures.accepted(now)
    }

    /// Admits the connection just accepted at `now`, taking `payload` (left
    /// at its default): its id, and a stalled handshake ended to make room
    /// with its payload, which the caller ends. Waits if the room has gone
    /// meanwhile; stops once the server stops.
    pub fn admit(&mut self, now: Duration, payload: &mut T) -> Step<Admitted<T>>
    where
        T: Default,
    {
        if self.registry.is_stopping() {
            return Step::Stop;
        }
        match self.registry.admit(now, std::mem::take(payload)) {
            Ok(admitted) => Step::Go(admitted),
            Err(back) => {
                *payload = back;
                match self.room(now) {
                    Err(until) => Step::Wait(until),
                    // Refused for want of room, yet room now: cannot be,
                    // but wait a moment rather than spin.
                    Ok(()) => Step::Wait(Some(now)),
                }
            }
        }
    }

    /// Begins a graceful stop at `now` that waits for connections to close
    /// at most `timeout` ([`drained`](Self::drained)); see
    /// [`Registry::begin_shutdown`] for what it hands back.
    pub fn stop<R>(
        &mut self,
        now: Duration,
        timeout: Duration,
        close: impl FnMut(&T, &C) -> R,
    ) -> Stopping<T, R> {
        self.deadline = Some(now.saturating_add(timeout.min(FOREVER)));
        self.registry.begin_shutdown(close)
    }

    /// While stopping: go once every connection has ended or the deadline
    /// has come, whichever is first.
    pub fn drained(&self, now: Duration) -> Step<()> {
        match self.deadline {
            Some(deadline) if deadline > now && self.connections() > 0 => {
                Step::Wait(Some(deadline))
            }
            _ => Step::Go(()),
        }
    }

    /// Ends the stop: the payloads of the connections still open, now
    /// forgotten (the caller forces them), and the final `report` (the one
    /// [`stop`](Self::stop) handed back, with `close_sent` filled in).
    pub fn finish(&mut self, report: ShutdownReport) -> (Vec<T>, ShutdownReport) {
        self.registry.finish_shutdown(report)
    }

    /// Stops at once (the server is dropped): forgets every connection and
    /// returns their payloads, for the caller to end.
    pub fn clear(&mut self) -> Vec<T> {
        self.registry.clear()
    }

    /// See [`Registry::payload_mut`].
    pub fn payload_mut(&mut self, id: HandshakeId) -> Option<&mut T> {
        self.registry.payload_mut(id)
    }

    /// See [`Registry::request_complete`].
    pub fn request_complete(&mut self, id: HandshakeId) {
        self.registry.request_complete(id);
    }

    /// See [`Registry::opened`].
    pub fn opened(&mut self, id: HandshakeId, closer: C) -> bool {
        self.registry.opened(id, closer)
    }

    /// Connection `id` has ended: see [`Registry::finished`]. Its
    /// descriptors are free, so a back-off after a failed `accept` ends.
    pub fn finished(&mut self, id: HandshakeId) -> Option<T> {
        self.backoff = None;
        self.registry.finished(id)
    }

    /// Connections open now, handshakes included.
    pub fn connections(&self) -> usize {
        self.registry.connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.registry.handshakes()
    }
}

/// A [`Listener`] as a server's accept loop and its connections share it,
/// on the adapter's clock and with its way of waking whoever waits for a
/// change: `W` is what they wait on (a `Condvar`, a Tokio `Notify`), `K`
/// the clock's fixed point (a `std` or a Tokio `Instant`).
pub struct Shared<T, C, W, K> {
    listener: Mutex<Listener<T, C>>,
    changed: W,
    wake: fn(&W),
    epoch: K,
    elapsed: fn(&K) -> Duration,
}

impl<T, C, W, K> std::fmt::Debug for Shared<T, C, W, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

impl<T, C, W, K> Shared<T, C, W, K> {
    /// `listener`, whose waiters wait on `changed` and are woken by `wake`,
    /// on the clock that `elapsed` reads since `epoch`.
    pub fn new(
        listener: Listener<T, C>,
        (changed, wake): (W, fn(&W)),
        (epoch, elapsed): (K, fn(&K) -> Duration),
    ) -> Self {
        Self {
            listener: Mutex::new(listener),
            changed,
            wake,
            epoch,
            elapsed,
        }
    }

    /// Locks the listener (a panic elsewhere leaves its books consistent:
    /// every change is one call).
    pub fn lock(&self) -> MutexGuard<'_, Listener<T, C>> {
        self.listener.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The listener's clock.
    pub fn now(&self) -> Duration {
        (self.elapsed)(&self.epoch)
    }

    /// What waiters wait on for a change.
    pub fn changed(&self) -> &W {
        &self.changed
    }

    /// Wakes whoever waits for a change.
    pub fn wake(&self) {
        (self.wake)(&self.changed);
    }

    /// Connections open now, handshakes included.
    pub fn connections(&self) -> usize {
        self.lock().connections()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.lock().handshakes()
    }

    /// What `accept` returned, now: the connection, or `None` after a
    /// failure; see [`Listener::accept_result`].
    pub fn accepted<X>(&self, result: std::io::Result<X>) -> Option<X> {
        self.lock().accept_result(self.now(), result)
    }

    /// Begins a graceful stop that waits at most `timeout`; see
    /// [`Listener::stop`]. Wakes the waiters: the accept loop stops.
    pub fn stop<R>(&self, timeout: Duration, close: impl FnMut(&T, &C) -> R) -> Stopping<T, R> {
        let stopping = self.lock().stop(self.now(), timeout, close);
        self.wake();
        stopping
    }
}

/// A connection's place in its server's [`Shared`] listener, held by the
/// thread or task that serves it: dropping it (by return, panic or abort)
/// forgets the connection, frees its handshake slot and wakes the waiters.
pub struct Registration<T, C, W, K> {
    shared: Arc<Shared<T, C, W, K>>,
    id: HandshakeId,
}

impl<T, C, W, K> std::fmt::Debug for Registration<T, C, W, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<T, C, W, K> Registration<T, C, W, K> {
    /// The registration of connection `id`, admitted into `shared`.
    pub fn new(shared: Arc<Shared<T, C, W, K>>, id: HandshakeId) -> Self {
        Self { shared, id }
    }

    /// The connection's id, as the listener admitted it.
    pub fn id(&self) -> HandshakeId {
        self.id
    }

    /// The request has arrived whole: the handshake is never evicted.
    pub fn request_complete(&self) {
        self.shared.lock().request_complete(self.id);
    }

    /// The handshake is done, and `closer` asks the connection to close;
    /// `false` if the connection was dropped from the server meanwhile
    /// (evicted, or the server stops): the caller ends it.
    pub fn opened(&self, closer: C) -> bool {
        let open = self.shared.lock().opened(self.id, closer);
        self.shared.wake();
        open
    }
}

impl<T, C, W, K> Drop for Registration<T, C, W, K> {
    fn drop(&mut self) {
        let _ = self.shared.lock().finished(self.id);
        self.shared.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const SEC: Duration = Duration::from_secs(1);

    /// Two handshake slots, stalled after 2 s.
    fn two_slots() -> Listener<u32, &'static str> {
        Listener::new(2, 2 * SEC)
    }

    fn admit(listener: &mut Listener<u32, &'static str>, now: Duration, n: u32) -> HandshakeId {
        let mut payload = n;
        match listener.admit(now, &mut payload) {
            Step::Go(admitted) => admitted.id,
            other => panic!("not admitted: {other:?}"),
        }
    }

    #[test]
    fn the_accept_loop_waits_for_room_then_a_stalled_one_makes_it() {
        let mut listener = two_slots();
        assert_eq!(listener.next(Duration::ZERO), Step::Go(()));
        let a = admit(&mut listener, Duration::ZERO, 1);
        let b = admit(&mut listener, Duration::ZERO, 2);
        assert_eq!(listener.next(SEC), Step::Wait(Some(2 * SEC)));
        // The room went between `next` and `admit`: the payload stays.
        let mut payload = 3;
        assert_eq!(listener.admit(SEC, &mut payload), Step::Wait(Some(2 * SEC)));
        assert_eq!(payload, 3);
        listener.request_complete(a);
        listener.request_complete(b);
        assert_eq!(listener.next(5 * SEC), Step::Wait(None), "both progress");
        assert!(listener.opened(a, "a"));
        assert_eq!(listener.next(5 * SEC), Step::Go(()));
        let c = admit(&mut listener, 5 * SEC, 3);
        assert_eq!(listener.next(7 * SEC), Step::Go(()), "c has stalled");
        let mut payload = 4;
        let Step::Go(admitted) = listener.admit(7 * SEC, &mut payload) else {
            panic!("room made");
        };
        assert_eq!(admitted.evicted, Some((c, 3)));
        assert_eq!(payload, 0, "taken");
        assert_eq!(listener.connections(), 3);
    }

    #[test]
    fn a_failed_accept_backs_off_until_a_connection_ends() {
        let mut listener = two_slots();
        let id = admit(&mut listener, Duration::ZERO, 1);
        let reset = Error::from(ErrorKind::ConnectionReset);
        assert!(!listener.accept_failed(SEC, &reset));
        assert_eq!(listener.next(SEC), Step::Go(()), "transient: at once");
        let emfile = Error::other("too many open files");
        assert!(listener.accept_failed(SEC, &emfile), "an episode begins");
        assert!(!listener.accept_failed(SEC, &emfile), "logged once");
        let until = SEC + ACCEPT_BACKOFF;
        assert_eq!(listener.next(SEC), Step::Wait(Some(until)));
        assert_eq!(listener.next(until), Step::Go(()), "the back-off passes");
        assert_eq!(listener.next(SEC), Step::Wait(Some(until)));
        assert_eq!(listener.finished(id), Some(1));
        assert_eq!(listener.next(SEC), Step::Go(()), "cut short");
        let episode = listener.accepted(2 * SEC).expect("the episode ends");
        assert_eq!((episode.failures, episode.lasted), (2, SEC));
    }

    #[test]
    fn the_stop_sequence() {
        let mut listener = two_slots();
        let a = admit(&mut listener, Duration::ZERO, 1);
        let b = admit(&mut listener, Duration::ZERO, 2);
        assert!(listener.opened(a, "a") && listener.opened(b, "b"));
        let _handshake = admit(&mut listener, Duration::ZERO, 3);
        let stopping = listener.stop(SEC, 5 * SEC, |payload, closer| (*payload, *closer));
        assert_eq!(stopping.open, [(1, "a"), (2, "b")]);
        let mut ended = Vec::new();
        let report = stopping.carry_out(|payload| ended.push(payload), |(_, closer)| closer == "b");
        assert_eq!(
            (ended, report.close_sent),
            (vec![3], 1),
            "b's close went out"
        );
        assert_eq!(listener.next(SEC), Step::Stop);
        assert_eq!(listener.admit(SEC, &mut 4), Step::Stop);
        assert_eq!(listener.drained(SEC), Step::Wait(Some(6 * SEC)));
        assert_eq!(listener.finished(a), Some(1));
        assert_eq!(listener.drained(2 * SEC), Step::Wait(Some(6 * SEC)));
        assert_eq!(listener.drained(6 * SEC), Step::Go(()), "the deadline");
        let (forced, report) = listener.finish(report);
        assert_eq!(forced, [2]);
        let got = (report.open, report.handshakes_ended, report.closed);
        assert_eq!((got, report.forced), ((3, 1, 1), 1));
        // Once every connection has ended, there is nothing to wait for;
        // a timeout of `Duration::MAX` means as long as it takes.
        let mut listener = two_slots();
        let a = admit(&mut listener, Duration::ZERO, 1);
        assert!(listener.opened(a, "a"));
        let _ = listener.stop(SEC, Duration::MAX, |_, _| ());
        assert_eq!(listener.drained(SEC), Step::Wait(Some(SEC + FOREVER)));
        assert_eq!(listener.finished(a), Some(1), "its handler returns");
        assert_eq!(listener.drained(SEC), Step::Go(()));
    }

    #[test]
    fn wait_durations() {
        let wait = wait_time;
        assert_eq!(wait(None, SEC), FOREVER);
        assert_eq!(wait(Some(3 * SEC), SEC), 2 * SEC);
        assert_eq!(wait(Some(SEC), 2 * SEC), Duration::from_millis(1));
    }

    #[test]
    fn a_registration_keeps_the_books_and_wakes() {
        let woken = AtomicUsize::new(0);
        let shared = Arc::new(Shared::new(
            two_slots(),
            (woken, |woken: &AtomicUsize| {
                woken.fetch_add(1, Ordering::Relaxed);
            }),
            (SEC, |at: &Duration| *at),
        ));
        assert_eq!(shared.now(), SEC);
        let ids = [1, 2].map(|n| admit(&mut shared.lock(), SEC, n));
        let first = Registration::new(Arc::clone(&shared), ids[0]);
        assert_eq!(first.id(), ids[0]);
        first.request_complete();
        assert!(first.opened("a"));
        assert_eq!((shared.connections(), shared.handshakes()), (2, 1));
        drop(first);
        assert_eq!(shared.connections(), 1);
        let second = Registration::new(Arc::clone(&shared), ids[1]);
        let stopping = shared.stop(SEC, |_, _| ());
        assert_eq!(stopping.handshakes, [2]);
        assert!(!second.opened("b"), "the server stopped meanwhile");
        drop(second);
        // Opened, dropped, stopped, opened (too late), dropped.
        assert_eq!(shared.changed().load(Ordering::Relaxed), 5);
        let reset = std::io::Error::from(ErrorKind::ConnectionReset);
        assert_eq!(shared.accepted(Err::<(), _>(reset)), None);
        assert_eq!(shared.accepted(Ok(7)), Some(7));
    }
}
