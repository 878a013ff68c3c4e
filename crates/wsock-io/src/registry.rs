//! [`Registry`]: the connections a `Server` keeps track of, whatever its
//! I/O: admission, eviction and the shutdown's accounting. The
//! [`Listener`](crate::listener::Listener) that both adapters' listeners
//! and `wsock serve` drive keeps its table here.
//!
//! Sans-IO like [`Admission`], which it wraps: the caller passes `now` and
//! does the ending and the closing itself, with what it stored per entry:
//! a payload `T` from admission on (a second handle to the socket, a task's
//! abort handle) and, once the handshake is done, a closer `C` (a handle
//! that asks the connection to close).

use std::collections::BTreeMap;
use std::time::Duration;

use wsock_core::admission::{Admission, HandshakeId, Room};

use crate::ShutdownReport;

/// A connection let in by [`Registry::admit`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admitted<T> {
    /// Its id: pass it to the registry's other methods.
    pub id: HandshakeId,
    /// A stalled handshake ended to make room, with its payload: the
    /// caller ends that connection.
    pub evicted: Option<(HandshakeId, T)>,
}

/// What [`Registry::begin_shutdown`] hands the caller to do.
#[derive(Debug)]
#[non_exhaustive]
pub struct Stopping<T, R> {
    /// `open` and `handshakes_ended` filled in; `close_sent` is added by
    /// [`carry_out`](Self::carry_out) (or the caller), and the report then
    /// goes to [`Registry::finish_shutdown`].
    pub report: ShutdownReport,
    /// The payloads of the handshakes in progress, now forgotten: end them.
    pub handshakes: Vec<T>,
    /// What the caller drew from each open connection: ask it to close.
    pub open: Vec<R>,
}

impl<T, R> Stopping<T, R> {
    /// Carries out the stop's first step: ends each handshake in progress
    /// with `end`, and asks each open connection to close with `close`
    /// (`true` if its close frame went out or was queued). The report so
    /// far, for [`Registry::finish_shutdown`].
    pub fn carry_out(self, end: impl FnMut(T), close: impl FnMut(R) -> bool) -> ShutdownReport {
        self.handshakes.into_iter().for_each(end);
        let mut report = self.report;
        report.close_sent = self
            .open
            .into_iter()
            .map(close)
            .filter(|&sent| sent)
            .count();
        report
    }
}

struct Entry<T, C> {
    payload: T,
    /// `None` while the opening handshake runs.
    closer: Option<C>,
}

/// The handshakes in progress (admitted as [`Admission`] says) and the
/// open connections of one server, by id; see the [module docs](self).
pub struct Registry<T, C> {
    admission: Admission,
    entries: BTreeMap<HandshakeId, Entry<T, C>>,
    stopping: bool,
}

impl<T, C> std::fmt::Debug for Registry<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("admission", &self.admission)
            .field("connections", &self.entries.len())
            .field("stopping", &self.stopping)
            .finish()
    }
}

impl<T, C> Registry<T, C> {
    /// At most `max_handshakes` at once; see [`Admission::new`].
    pub fn new(max_handshakes: usize, evict_after: Duration) -> Self {
        Self {
            admission: Admission::new(max_handshakes, evict_after),
            entries: BTreeMap::new(),
            stopping: false,
        }
    }

    /// Whether to accept a connection at `now`; see [`Admission::room`].
    pub fn room(&self, now: Duration) -> Room {
        self.admission.room(now)
    }

    /// Admits a connection just accepted at `now`, with its `payload`,
    /// ending the oldest stalled handshake if every slot is taken. `Err`
    /// gives the payload back when there is no room after all (wait as
    /// [`room`](Self::room) says and try again) or the server is stopping.
    pub fn admit(&mut self, now: Duration, payload: T) -> Result<Admitted<T>, T> {
        if self.stopping {
            return Err(payload);
        }
        let Some(admitted) = self.admission.admit(now) else {
            return Err(payload);
        };
        let evicted = admitted
            .evicted
            .and_then(|victim| Some((victim, self.entries.remove(&victim)?.payload)));
        let entry = Entry {
            payload,
            closer: None,
        };
        self.entries.insert(admitted.id, entry);
        Ok(Admitted {
            id: admitted.id,
            evicted,
        })
    }

    /// The payload of connection `id`, to fill in what was not known at
    /// admission (the task's handle); `None` if it is gone (evicted, shut
    /// down), and then the caller ends what it was about to record.
    pub fn payload_mut(&mut self, id: HandshakeId) -> Option<&mut T> {
        self.entries.get_mut(&id).map(|entry| &mut entry.payload)
    }

    /// The request of handshake `id` has arrived whole: it is never evicted.
    pub fn request_complete(&mut self, id: HandshakeId) {
        self.admission.request_complete(id);
    }

    /// The handshake of `id` succeeded: its slot is free, and `closer` is
    /// how to ask the connection to close. `false` if the connection was
    /// dropped from the registry meanwhile (evicted, or the server shuts
    /// down): the caller ends it.
    pub fn opened(&mut self, id: HandshakeId, closer: C) -> bool {
        self.admission.finish(id);
        match self.entries.get_mut(&id) {
            Some(entry) => {
                entry.closer = Some(closer);
                true
            }
            None => false,
        }
    }

    /// Connection `id` has ended (handshake failed, or handler returned):
    /// forgets it and frees its slot. Its payload, if it was still there.
    pub fn finished(&mut self, id: HandshakeId) -> Option<T> {
        self.admission.finish(id);
        self.entries.remove(&id).map(|entry| entry.payload)
    }

    /// Connections open now, handshakes included.
    pub fn connections(&self) -> usize {
        self.entries.len()
    }

    /// Opening handshakes in progress now.
    pub fn handshakes(&self) -> usize {
        self.admission.handshakes()
    }

    /// Whether [`begin_shutdown`](Self::begin_shutdown) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Begins a graceful shutdown: from now on nothing is admitted or
    /// opened. Forgets the handshakes in progress (the caller ends them)
    /// and draws what the caller needs to ask each open connection to
    /// close through `close` (called with the registry's lock held, so
    /// keep it to cloning handles).
    pub fn begin_shutdown<R>(&mut self, mut close: impl FnMut(&T, &C) -> R) -> Stopping<T, R> {
        self.stopping = true;
        self.admission.clear();
        let mut report = ShutdownReport {
            open: self.entries.len(),
            ..ShutdownReport::default()
        };
        let mut handshakes = Vec::new();
        let mut open = Vec::new();
        for (id, entry) in std::mem::take(&mut self.entries) {
            match &entry.closer {
                Some(closer) => {
                    open.push(close(&entry.payload, closer));
                    self.entries.insert(id, entry);
                }
                None => handshakes.push(entry.payload),
            }
        }
        report.handshakes_ended = handshakes.len();
        Stopping {
            report,
            handshakes,
            open,
        }
    }

    /// Stops at once (the server is dropped): forgets every connection and
    /// returns their payloads, for the caller to end.
    pub fn clear(&mut self) -> Vec<T> {
        self.finish_shutdown(ShutdownReport::default()).0
    }

    /// Ends the shutdown at its deadline (or once no connection is left):
    /// the payloads of the connections still open, now forgotten (the
    /// caller forces them), and the final report.
    pub fn finish_shutdown(&mut self, mut report: ShutdownReport) -> (Vec<T>, ShutdownReport) {
        self.stopping = true;
        self.admission.clear();
        let forced: Vec<T> = std::mem::take(&mut self.entries)
            .into_values()
            .map(|entry| entry.payload)
            .collect();
        report.forced = forced.len();
        report.closed = report
            .open
            .saturating_sub(report.handshakes_ended)
            .saturating_sub(report.forced);
        (forced, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// A registry with two slots, and `n` connections admitted at 0 with
    /// payloads 0, 1, ...
    fn with(n: u32) -> (Registry<u32, &'static str>, Vec<HandshakeId>) {
        let mut registry = Registry::new(2, 2 * SEC);
        let ids = (0..n)
            .map(|i| registry.admit(Duration::ZERO, i).unwrap().id)
            .collect();
        (registry, ids)
    }

    #[test]
    fn admission_and_eviction_hand_back_payloads() {
        let (mut registry, ids) = with(2);
        assert_eq!((registry.connections(), registry.handshakes()), (2, 2));
        assert_eq!(registry.room(SEC), Room::At(2 * SEC));
        assert_eq!(registry.admit(SEC, 9).unwrap_err(), 9, "no room yet");
        registry.request_complete(ids[0]);
        let admitted = registry.admit(2 * SEC, 2).unwrap();
        assert_eq!(admitted.evicted, Some((ids[1], 1)), "the stalled one goes");
        assert_eq!(registry.connections(), 2);
        assert!(!registry.opened(ids[1], "late"), "an evicted one is gone");
        assert_eq!(registry.finished(ids[1]), None);
    }

    #[test]
    fn opening_frees_the_slot_and_keeps_the_connection() {
        let (mut registry, ids) = with(2);
        *registry.payload_mut(ids[0]).unwrap() = 10;
        assert!(registry.opened(ids[0], "a"));
        assert_eq!((registry.connections(), registry.handshakes()), (2, 1));
        assert_eq!(registry.room(Duration::ZERO), Room::Now);
        assert_eq!(registry.finished(ids[0]), Some(10));
        assert_eq!(registry.finished(ids[1]), Some(1));
        assert_eq!((registry.connections(), registry.handshakes()), (0, 0));
        assert_eq!(registry.payload_mut(ids[0]), None);
    }

    #[test]
    fn clear_forgets_everything_and_admits_nobody() {
        let (mut registry, ids) = with(2);
        assert!(registry.opened(ids[1], "b"));
        assert_eq!(registry.clear(), [0, 1]);
        assert_eq!((registry.connections(), registry.handshakes()), (0, 0));
        assert!(registry.is_stopping());
        assert!(registry.admit(Duration::ZERO, 2).is_err());
    }

    #[test]
    fn shutdown_accounting() {
        // (connections opened, of which finish by the deadline, close
        // frames the caller got out) -> (open, handshakes_ended,
        // close_sent, closed, forced), with 3 admitted.
        let cases = [
            ((0, 0, 0), (3, 3, 0, 0, 0)),
            ((3, 3, 3), (3, 0, 3, 3, 0)),
            ((3, 1, 2), (3, 0, 2, 1, 2)),
            ((2, 0, 2), (3, 1, 2, 0, 2)),
            ((1, 1, 1), (3, 2, 1, 1, 0)),
        ];
        for ((opened, finishing, sent), expected) in cases {
            let mut registry = Registry::new(8, 2 * SEC);
            let ids: Vec<_> = (0..3u32)
                .map(|i| registry.admit(Duration::ZERO, i).unwrap().id)
                .collect();
            for &id in &ids[..opened] {
                assert!(registry.opened(id, id.get()));
            }
            let stopping = registry.begin_shutdown(|payload, closer| (*payload, *closer));
            assert_eq!(stopping.handshakes.len(), 3 - opened);
            assert_eq!(stopping.open.len(), opened);
            assert!(stopping.open.iter().all(|(p, c)| u64::from(*p) == *c));
            assert_eq!(registry.handshakes(), 0);
            assert!(registry.admit(SEC, 7).is_err(), "stopping admits nobody");
            if opened < 3 {
                assert!(!registry.opened(ids[2], 0), "an ended handshake stays gone");
            }
            for &id in &ids[..finishing] {
                assert!(registry.finished(id).is_some());
            }
            let mut report = stopping.report;
            report.close_sent = sent;
            let (forced, report) = registry.finish_shutdown(report);
            assert_eq!(forced.len(), opened - finishing);
            let got = (
                report.open,
                report.handshakes_ended,
                report.close_sent,
                report.closed,
                report.forced,
            );
            assert_eq!(got, expected, "case {opened}/{finishing}/{sent}");
            assert_eq!(registry.connections(), 0);
        }
    }
}
