//! The connection's timers, on the caller's clock: a table of deadlines
//! keyed by [`Timer`], and the keepalive, idle and close rules that set
//! and fire them.
//!
//! Time enters only through [`Connection::handle_timeout`]; a timer
//! started by a call that does not know the time (a close, the
//! connection's creation) is *pending* until the next `handle_timeout`
//! tells it, and [`Connection::poll_timeout`] asks for that call at once.

use core::time::Duration;

use super::{Connection, Core, State};
use crate::error::Error;
use crate::frame::OpCode;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Send a keepalive ping: `keepalive_interval` after the last ping or
    /// the last traffic. Runs only while [`State::Open`].
    Keepalive,
    /// Fail the connection if nothing arrived since the keepalive ping
    /// (`keepalive_timeout`). Runs only while [`State::Open`].
    KeepaliveTimeout,
    /// Fail the connection after `idle_timeout` without received bytes.
    /// Runs only while [`State::Open`].
    Idle,
    /// Stop waiting for the closing handshake (`close_timeout`).
    Close,
    /// Stop ending the transport: the close plan's deadline
    /// (`Connection::closing_time`), see `shutdown.rs`.
    Linger,
}

impl Timer {
    /// Every timer, in table order.
    const ALL: [Self; 5] = [
        Self::Keepalive,
        Self::KeepaliveTimeout,
        Self::Idle,
        Self::Close,
        Self::Linger,
    ];

    /// The timers that run only while the connection is open.
    const OPEN_ONLY: [Self; 3] = [Self::Keepalive, Self::KeepaliveTimeout, Self::Idle];
}

/// One timer's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Slot {
    #[default]
    Stopped,
    /// Started by a call that did not know the time: it gets its deadline
    /// at the next `handle_timeout`, counted from that call's `now`.
    Pending,
    At(Duration),
}

/// A deadline (or none) for each [`Timer`], and the latest time the
/// caller passed in.
#[derive(Debug, Default)]
pub(super) struct TimerTable {
    /// The latest `now` given to `handle_timeout`; never decreases.
    now: Duration,
    slots: [Slot; Timer::ALL.len()],
}

impl TimerTable {
    /// Moves the clock to `now`, never backwards; returns the clock.
    pub(super) fn advance(&mut self, now: Duration) -> Duration {
        self.now = self.now.max(now);
        self.now
    }

    /// Runs `timer` until `at`.
    pub(super) fn set(&mut self, timer: Timer, at: Duration) {
        self.slots[timer as usize] = Slot::At(at);
    }

    /// Starts `timer` once the time is known (see [`Slot::Pending`]).
    pub(super) fn set_pending(&mut self, timer: Timer) {
        self.slots[timer as usize] = Slot::Pending;
    }

    /// The deadline of `timer`, if it runs and has one.
    pub(super) fn get(&self, timer: Timer) -> Option<Duration> {
        match self.slots[timer as usize] {
            Slot::At(at) => Some(at),
            Slot::Stopped | Slot::Pending => None,
        }
    }

    /// Whether `timer` waits for the time to start.
    pub(super) fn is_pending(&self, timer: Timer) -> bool {
        self.slots[timer as usize] == Slot::Pending
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.slots[timer as usize] = Slot::Stopped;
    }

    /// Stops the timers that run only while the connection is open.
    pub(super) fn stop_open_only(&mut self) {
        for timer in Timer::OPEN_ONLY {
            self.stop(timer);
        }
    }

    /// Whether `timer` has a deadline at or before `now`.
    pub(super) fn expired(&self, timer: Timer, now: Duration) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Whether no timer runs or waits to start: the common case of an open
    /// connection without keepalive or idle timeout, asked about often.
    pub(super) fn all_stopped(&self) -> bool {
        self.slots.iter().all(|slot| *slot == Slot::Stopped)
    }

    /// When `handle_timeout` is next due: now if a timer is pending, else
    /// the earliest deadline among the timers `counts` accepts.
    pub(super) fn next_timeout(&self, counts: impl Fn(Timer) -> bool) -> Option<Duration> {
        if self.slots.contains(&Slot::Pending) {
            return Some(self.now);
        }
        Timer::ALL
            .into_iter()
            .filter(|&timer| counts(timer))
            .filter_map(|timer| self.get(timer))
            .min()
    }
}

/// Whether bytes arrived since each traffic-watching timer last looked.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Traffic {
    /// Since the keepalive timer last looked: no ping is needed, and an
    /// outstanding one counts as answered.
    pub(super) keepalive: bool,
    /// Since the idle timer last looked: it restarts.
    pub(super) idle: bool,
}

impl Connection {
    /// See [`Connection::poll_timeout`].
    pub(super) fn next_timeout(&self) -> Option<Duration> {
        if self.core.timers.all_stopped() {
            return None;
        }
        let close_waits = !self.core.timed_out && !self.should_close_transport();
        self.core
            .timers
            .next_timeout(|timer| timer != Timer::Close || close_waits)
    }

    /// See [`Connection::handle_timeout`].
    pub(super) fn advance_timers(&mut self, now: Duration) {
        let now = self.core.timers.advance(now);
        self.core.start_pending_timers(now);
        if self.core.timers.expired(Timer::Close, now) && !self.should_close_transport() {
            self.core.timers.stop(Timer::Close);
            self.core.close_timed_out();
        }
        if self.core.timers.expired(Timer::Linger, now) {
            self.core.timers.stop(Timer::Linger);
            self.core.closing_timed_out();
        }
        if self.core.state == State::Open {
            self.core.keepalive(now);
        }
        if self.core.state == State::Open && self.core.timers.expired(Timer::Idle, now) {
            self.core.timers.stop(Timer::Idle);
            let err = self.core.fail(Error::IdleTimeout);
            self.core.pending_error = Some(err);
        }
    }
}

impl Core {
    /// The timers a new connection starts with, pending until the caller's
    /// clock is first known.
    pub(super) fn start_timers(&mut self) {
        if self.config.keepalive_interval.is_some() {
            self.timers.set_pending(Timer::Keepalive);
        }
        if self.config.idle_timeout.is_some() {
            self.timers.set_pending(Timer::Idle);
        }
    }

    /// Gives pending timers their deadlines from `now`, and restarts the
    /// idle timer if bytes arrived since it last looked.
    fn start_pending_timers(&mut self, now: Duration) {
        if self.timers.is_pending(Timer::Close) {
            match self.config.close_timeout {
                Some(timeout) => self.timers.set(Timer::Close, now + timeout),
                None => self.timers.stop(Timer::Close),
            }
        }
        if self.timers.is_pending(Timer::Linger) {
            let at = now + self.closing_time();
            self.timers.set(Timer::Linger, at);
        }
        if self.timers.is_pending(Timer::Keepalive) {
            match self.config.keepalive_interval {
                Some(interval) => self.timers.set(Timer::Keepalive, now + interval),
                None => self.timers.stop(Timer::Keepalive),
            }
            self.traffic.keepalive = false;
        }
        if let Some(idle) = self.config.idle_timeout
            && self.state == State::Open
            && (self.timers.is_pending(Timer::Idle) || core::mem::take(&mut self.traffic.idle))
        {
            self.timers.set(Timer::Idle, now + idle);
        }
    }

    /// Sends a ping when the interval passed without traffic, and fails
    /// the connection when nothing arrives within the timeout after it.
    fn keepalive(&mut self, now: Duration) {
        let Some(interval) = self.config.keepalive_interval else {
            return;
        };
        if let Some(deadline) = self.timers.get(Timer::KeepaliveTimeout) {
            // Traffic since the ping answers it: the next ping is due an
            // interval from now, not from the end of the pong timeout.
            if now < deadline && !self.traffic.keepalive {
                return;
            }
            self.timers.stop(Timer::KeepaliveTimeout);
            if core::mem::take(&mut self.traffic.keepalive) {
                self.timers.set(Timer::Keepalive, now + interval);
            } else {
                self.out.clear();
                let err = self.fail(Error::KeepaliveTimeout);
                self.pending_error = Some(err);
                self.timed_out = true;
            }
            return;
        }
        if self.timers.expired(Timer::Keepalive, now) {
            if core::mem::take(&mut self.traffic.keepalive) {
                self.timers.set(Timer::Keepalive, now + interval);
            } else {
                self.timers.stop(Timer::Keepalive);
                self.timers
                    .set(Timer::KeepaliveTimeout, now + self.config.keepalive_timeout);
                self.write_frame(OpCode::Ping, true, &[]);
                self.stats.pings_sent += 1;
            }
        }
    }
}
