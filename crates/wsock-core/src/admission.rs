//! Admission: how a server lets new connections in without turning honest
//! clients away.
//!
//! A server bounds the opening handshakes it runs at once, so that a flood
//! of connections cannot make it spend unbounded memory or CPU on
//! half-finished requests. What it does at that bound decides who gets
//! served:
//!
//! * **At the bound it stops accepting.** New connections wait in the
//!   kernel's listen backlog and are accepted as handshakes finish. An
//!   honest handshake takes one round trip, so in a burst of any size the
//!   slots turn over quickly and every client is served in turn.
//! * **A stalled handshake makes room.** A connection whose request is
//!   still incomplete [`evict_after`](Admission::new) after it was accepted
//!   (slowloris: it dribbles its headers, or sends nothing) may be ended to
//!   make room, but only while a new connection is waiting. The oldest
//!   such handshake goes first. A handshake whose request has arrived
//!   whole ([`request_complete`](Admission::request_complete)) is never
//!   ended this way, nor is one younger than `evict_after`: fast clients
//!   in a burst are never evicted.
//! * Every handshake is also bounded by the handshake timeout
//!   ([`HandshakeLimits::timeout`](crate::HandshakeLimits::timeout)),
//!   which the server enforces on its own.
//!
//! So an attacker needs more connections than the bound to delay anyone,
//! and then each round of `max_handshakes` stalled connections delays the
//! waiting clients by at most `evict_after`.
//!
//! [`Admission`] is the bookkeeping, sans-IO like the rest of this crate:
//! the caller passes `now` (any monotonic clock, as a [`Duration`] since a
//! fixed point) and does the accepting and the ending itself. The servers
//! of `wsock-tokio` and `wsock-blocking` use it, and so can your own
//! accept loop:
//!
//! ```
//! use std::time::Duration;
//! use wsock_core::admission::{Admission, Room};
//!
//! let mut admission = Admission::new(2, Duration::from_secs(2));
//! let t = Duration::ZERO;
//! let a = admission.admit(t).expect("a free slot").id;
//! let b = admission.admit(t).expect("a free slot").id;
//! // Both slots taken by young handshakes: wait, don't accept.
//! assert_eq!(admission.room(t), Room::At(Duration::from_secs(2)));
//! // `b`'s request arrives whole; `a` sends nothing.
//! admission.request_complete(b);
//! // Two seconds on, `a` has stalled: accept the next connection, end `a`.
//! let later = Duration::from_secs(2);
//! assert_eq!(admission.room(later), Room::Now);
//! let c = admission.admit(later).expect("room made");
//! assert_eq!(c.evicted, Some(a));
//! admission.finish(b);
//! assert_eq!(admission.handshakes(), 1);
//! ```

use alloc::collections::BTreeMap;
use core::time::Duration;

/// How long a handshake may go without a complete request before it may
/// be ended to make room for a waiting connection.
pub const DEFAULT_EVICT_AFTER: Duration = Duration::from_secs(2);

/// One handshake in progress, as [`Admission`] knows it. Ids are unique
/// within one [`Admission`] and increase in the order connections were
/// admitted, so a server may key its own table by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandshakeId(u64);

impl HandshakeId {
    /// The id as a number (unique within its [`Admission`], increasing).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Whether there is room for another connection now; see
/// [`Admission::room`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Room {
    /// Accept now: a slot is free, or a stalled handshake can make room.
    Now,
    /// Every slot is taken by a handshake that is progressing or young;
    /// the oldest incomplete one counts as stalled at this time. Accept
    /// when a handshake finishes or this time comes, whichever is first.
    At(Duration),
    /// Every slot is taken by a handshake whose request has arrived: wait
    /// until one finishes.
    WhenOneFinishes,
}

/// A connection let in by [`Admission::admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted {
    /// Its handshake; pass it to [`Admission::request_complete`] and
    /// [`Admission::finish`].
    pub id: HandshakeId,
    /// A stalled handshake ended to make room: the caller closes its
    /// connection (no response is owed to a request that never arrived).
    pub evicted: Option<HandshakeId>,
}

/// Bookkeeping of the opening handshakes a server runs; see the
/// [module documentation](self) for the policy.
#[derive(Debug, Clone)]
pub struct Admission {
    max_handshakes: usize,
    evict_after: Duration,
    next_id: u64,
    /// Handshakes in progress by id (so the first is the oldest), with
    /// when each was admitted, while its request is still incomplete.
    /// `None`: the request has arrived whole, so it is never evicted.
    handshakes: BTreeMap<HandshakeId, Option<Duration>>,
}

impl Admission {
    /// At most `max_handshakes` at once (at least 1); a request still
    /// incomplete `evict_after` after admission counts as stalled.
    pub fn new(max_handshakes: usize, evict_after: Duration) -> Self {
        Self {
            max_handshakes: max_handshakes.max(1),
            evict_after,
            next_id: 0,
            handshakes: BTreeMap::new(),
        }
    }

    /// The bound on handshakes in progress.
    pub fn max_handshakes(&self) -> usize {
        self.max_handshakes
    }

    /// How long a request may stay incomplete before it may be evicted.
    pub fn evict_after(&self) -> Duration {
        self.evict_after
    }

    /// Handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.handshakes.len()
    }

    /// Whether to accept a connection at `now`. Call it before accepting,
    /// so that connections wait in the listen backlog while there is no
    /// room.
    pub fn room(&self, now: Duration) -> Room {
        if self.handshakes.len() < self.max_handshakes {
            return Room::Now;
        }
        match self.oldest_incomplete() {
            Some((_, stalls_at)) if stalls_at <= now => Room::Now,
            Some((_, stalls_at)) => Room::At(stalls_at),
            None => Room::WhenOneFinishes,
        }
    }

    /// Admits a connection just accepted at `now`, ending the oldest
    /// stalled handshake if every slot is taken. `None` when there is no
    /// room after all (what [`room`](Self::room) said has changed): keep
    /// the connection, wait as `room` says, and try again.
    pub fn admit(&mut self, now: Duration) -> Option<Admitted> {
        let mut evicted = None;
        if self.handshakes.len() >= self.max_handshakes {
            let (id, stalls_at) = self.oldest_incomplete()?;
            if stalls_at > now {
                return None;
            }
            self.handshakes.remove(&id);
            evicted = Some(id);
        }
        let id = HandshakeId(self.next_id);
        self.next_id += 1;
        self.handshakes.insert(id, Some(now));
        Some(Admitted { id, evicted })
    }

    /// The request of handshake `id` has arrived whole: from now on it is
    /// never evicted (it still holds its slot until [`finish`](Self::finish)).
    pub fn request_complete(&mut self, id: HandshakeId) {
        if let Some(started) = self.handshakes.get_mut(&id) {
            *started = None;
        }
    }

    /// Handshake `id` is over (accepted, rejected, failed or ended), and
    /// its slot is free. Returns whether it was still counted (`false`
    /// after it was evicted, or for a second call).
    pub fn finish(&mut self, id: HandshakeId) -> bool {
        self.handshakes.remove(&id).is_some()
    }

    /// Forgets every handshake in progress (a server shutting down ends
    /// them all) and returns their ids, oldest first.
    pub fn clear(&mut self) -> alloc::vec::Vec<HandshakeId> {
        core::mem::take(&mut self.handshakes).into_keys().collect()
    }

    /// The oldest handshake whose request is incomplete, and when it counts
    /// as stalled.
    fn oldest_incomplete(&self) -> Option<(HandshakeId, Duration)> {
        self.handshakes.iter().find_map(|(&id, started)| {
            started.map(|started| (id, started.saturating_add(self.evict_after)))
        })
    }
}

/// Keeps a server's log quiet while `accept` fails for want of resources
/// (out of file descriptors: `EMFILE`, `ENFILE`): one line when an episode
/// begins, one with the count when it ends.
///
/// A server at its descriptor limit admits one waiting client each time a
/// connection ends, and its very next `accept` fails again: the kernel
/// reserves a descriptor before it looks at the queue. A failure within
/// [`AcceptFailures::RESUME_WITHIN`] of an episode's end therefore resumes
/// it quietly, and the resumed episode's end is not reported again.
///
/// ```
/// use std::time::Duration;
/// use wsock_core::admission::AcceptFailures;
///
/// let ms = Duration::from_millis;
/// let mut failures = AcceptFailures::default();
/// assert!(failures.failed(ms(0))); // log: accept failing
/// assert!(!failures.failed(ms(50))); // quiet
/// let episode = failures.accepted(ms(120)).unwrap(); // log: accepting again
/// assert_eq!((episode.failures, episode.lasted), (2, ms(120)));
/// assert!(failures.accepted(ms(130)).is_none());
/// // Still at the limit: the next failure resumes the episode, quietly.
/// assert!(!failures.failed(ms(140)));
/// assert!(failures.accepted(ms(200)).is_none());
/// // Long after: a new episode.
/// assert!(failures.failed(ms(5_000)));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptFailures {
    /// The episode going on: when it began, how many attempts failed in it,
    /// and whether it resumed one already reported.
    episode: Option<Episode>,
    /// When the last episode ended.
    ended: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Episode {
    began: Duration,
    failures: u64,
    resumed: bool,
}

/// A run of failed `accept` calls that has ended; see [`AcceptFailures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailureEpisode {
    /// Attempts that failed.
    pub failures: u64,
    /// From the first failure to the accept that succeeded.
    pub lasted: Duration,
}

impl AcceptFailures {
    /// A failure this soon after an episode ended continues it.
    pub const RESUME_WITHIN: Duration = Duration::from_secs(1);

    /// An `accept` failed at `now`; `true` if this begins an episode (log
    /// it), `false` while one goes on or resumes.
    pub fn failed(&mut self, now: Duration) -> bool {
        if let Some(episode) = &mut self.episode {
            episode.failures += 1;
            return false;
        }
        let resumed = self
            .ended
            .is_some_and(|ended| now.saturating_sub(ended) < Self::RESUME_WITHIN);
        self.episode = Some(Episode {
            began: now,
            failures: 1,
            resumed,
        });
        !resumed
    }

    /// An `accept` succeeded at `now`: the episode that ends with it, if
    /// one was going on and was not a quiet resumption (log it).
    pub fn accepted(&mut self, now: Duration) -> Option<FailureEpisode> {
        let episode = self.episode.take()?;
        self.ended = Some(now);
        (!episode.resumed).then(|| FailureEpisode {
            failures: episode.failures,
            lasted: now.saturating_sub(episode.began),
        })
    }

    /// Whether an episode is going on.
    pub fn failing(&self) -> bool {
        self.episode.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn full(max: usize, at: Duration) -> (Admission, alloc::vec::Vec<HandshakeId>) {
        let mut admission = Admission::new(max, 2 * SEC);
        let ids = (0..max)
            .map(|_| admission.admit(at).unwrap().id)
            .collect::<alloc::vec::Vec<_>>();
        (admission, ids)
    }

    #[test]
    fn free_slots_admit_without_eviction() {
        let mut admission = Admission::new(3, 2 * SEC);
        for i in 0..3 {
            assert_eq!(admission.room(Duration::ZERO), Room::Now);
            let admitted = admission.admit(Duration::ZERO).unwrap();
            assert_eq!(admitted.id.get(), i);
            assert_eq!(admitted.evicted, None);
        }
        assert_eq!(admission.handshakes(), 3);
    }

    #[test]
    fn a_full_table_of_young_handshakes_waits() {
        let (mut admission, _) = full(2, SEC);
        assert_eq!(admission.room(SEC), Room::At(3 * SEC));
        assert_eq!(
            admission.room(Duration::from_millis(2_999)),
            Room::At(3 * SEC)
        );
        assert_eq!(admission.admit(2 * SEC), None, "nobody is evicted early");
        assert_eq!(admission.handshakes(), 2);
    }

    #[test]
    fn the_oldest_stalled_handshake_makes_room() {
        let (mut admission, ids) = full(2, Duration::ZERO);
        assert_eq!(admission.room(2 * SEC), Room::Now);
        let admitted = admission.admit(2 * SEC).unwrap();
        assert_eq!(admitted.evicted, Some(ids[0]));
        assert!(!admission.finish(ids[0]), "an evicted handshake is gone");
        assert_eq!(admission.handshakes(), 2);
        let admitted = admission.admit(2 * SEC).unwrap();
        assert_eq!(admitted.evicted, Some(ids[1]));
    }

    #[test]
    fn a_complete_request_is_never_evicted() {
        let (mut admission, ids) = full(2, Duration::ZERO);
        admission.request_complete(ids[0]);
        // The younger incomplete one goes, not the older complete one.
        let admitted = admission.admit(10 * SEC).unwrap();
        assert_eq!(admitted.evicted, Some(ids[1]));
        admission.request_complete(admitted.id);
        assert_eq!(admission.room(100 * SEC), Room::WhenOneFinishes);
        assert_eq!(admission.admit(100 * SEC), None);
        assert!(admission.finish(ids[0]));
        assert_eq!(admission.room(100 * SEC), Room::Now);
    }

    #[test]
    fn a_burst_is_admitted_as_slots_turn_over() {
        // 1,000 clients through 8 slots, each finishing its handshake at
        // once: nobody is evicted, everybody is admitted.
        let mut admission = Admission::new(8, 2 * SEC);
        let mut open = alloc::collections::VecDeque::new();
        let mut admitted = 0;
        let mut now = Duration::ZERO;
        while admitted < 1000 {
            match admission.room(now) {
                Room::Now => {
                    let a = admission.admit(now).unwrap();
                    assert_eq!(a.evicted, None);
                    admission.request_complete(a.id);
                    open.push_back(a.id);
                    admitted += 1;
                }
                Room::WhenOneFinishes => {
                    assert!(admission.finish(open.pop_front().unwrap()));
                }
                Room::At(_) => unreachable!("every request is complete"),
            }
            now += Duration::from_millis(1);
        }
    }

    #[test]
    fn clear_forgets_everything_oldest_first() {
        let (mut admission, ids) = full(3, Duration::ZERO);
        assert_eq!(admission.clear(), ids);
        assert_eq!(admission.handshakes(), 0);
        assert_eq!(admission.room(Duration::ZERO), Room::Now);
    }

    #[test]
    fn accept_failures_log_once_per_episode() {
        let mut f = AcceptFailures::default();
        assert!(f.accepted(SEC).is_none());
        assert!(f.failed(SEC));
        for i in 0..10 {
            assert!(!f.failed(SEC + i * Duration::from_millis(50)));
        }
        assert!(f.failing());
        let episode = f.accepted(3 * SEC).unwrap();
        assert_eq!(episode.failures, 11);
        assert_eq!(episode.lasted, 2 * SEC);
        assert!(!f.failing());
        assert!(f.failed(4 * SEC), "a new episode is logged again");
    }

    #[test]
    fn a_failure_right_after_recovery_resumes_quietly() {
        let mut f = AcceptFailures::default();
        assert!(f.failed(SEC));
        assert!(f.accepted(2 * SEC).is_some());
        // Each connection that ends lets one client in, then accept fails
        // again: one episode for the log, however long it goes on.
        let mut now = 2 * SEC;
        for _ in 0..100 {
            now += Duration::from_millis(100);
            assert!(!f.failed(now));
            assert!(f.accepted(now + Duration::from_millis(10)).is_none());
        }
        assert!(
            f.failed(now + 2 * SEC),
            "after a quiet second, a new episode"
        );
    }
}
