//! Ending the transport once the connection is over: the close plan, as
//! steps an adapter carries out ([`CloseStep`]), and what it reports back.
//!
//! Every adapter ends a connection the same way, so the decisions live
//! here and an adapter only performs them: write what is queued (the close
//! frame), shut down its writing side, read and drop input while the peer
//! may still be sending, close. One deadline, the closing time, bounds the
//! whole plan (and, for a connection nobody waits for, the closing
//! handshake before it); it is a timer like the others, so `now` enters
//! only through [`Connection::handle_timeout`].

use core::time::Duration;

use super::timer::Timer;
use super::{Connection, Core, MAX_CLOSING_TIME, State};
use crate::close::CloseCode;

/// What an adapter does next to end the transport, from
/// [`Connection::poll_close_step`]. Carry it out, report it (see each
/// step), and poll again until [`CloseTransport`](Self::CloseTransport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseStep {
    /// Write the queued output (the close frame) with
    /// [`Connection::poll_transmit`]: it must reach the peer before the
    /// writing side is shut. If the transport does not take it, wait for
    /// it or for [`Connection::poll_timeout`], whichever comes first.
    WriteOutput,
    /// Shut down the writing side (a TCP FIN, a TLS `close_notify`, the
    /// end of an HTTP/2 stream), then call
    /// [`Connection::handle_write_shut`]. The peer sees our end of stream;
    /// §7.1.1 has the server do this first, so TIME_WAIT stays on it.
    ShutdownWrite,
    /// Read and drop input until the peer's end of stream (then call
    /// [`Connection::handle_eof`]) or [`Connection::poll_timeout`]: the
    /// peer failed mid-message and may still be sending, and a socket
    /// closed with unread input sends a reset, which can destroy the close
    /// frame in flight.
    DiscardInput,
    /// Close the transport: nothing more will be written or read.
    CloseTransport,
}

/// Where ending the transport stands (see [`CloseStep`]).
#[derive(Debug, Default)]
pub(super) struct Closing {
    /// The closing deadline was started (it starts once).
    started: bool,
    /// The closing deadline passed: close now.
    over: bool,
    /// The adapter shut down its writing side.
    write_shut: bool,
}

impl Connection {
    /// The application let go of the connection (its last handle was
    /// dropped), so nobody waits for its end: a close frame with 1001
    /// ("going away") is queued if none was sent yet, and the closing
    /// deadline starts now, so the closing handshake and the close plan
    /// together take at most [`closing_time`](Self::closing_time) instead
    /// of the close timeout. Returns whether it queued the close frame.
    pub fn abandon(&mut self) -> bool {
        let queued = self.close_if_open(CloseCode::GOING_AWAY, "") == Ok(true);
        self.core.start_closing_deadline();
        queued
    }

    /// The adapter shut down its writing side, as
    /// [`CloseStep::ShutdownWrite`] asked: nothing more can be written.
    pub fn handle_write_shut(&mut self) {
        self.core.closing.write_shut = true;
    }

    /// Whether the writing side was shut down (see
    /// [`handle_write_shut`](Self::handle_write_shut)).
    pub fn is_write_shut(&self) -> bool {
        self.core.closing.write_shut
    }

    /// The next step in ending the transport, or `None` while the
    /// connection is not over (keep reading and writing as usual). Poll it
    /// after [`poll_transmit`](Self::poll_transmit): the plan begins once
    /// [`should_close_transport`](Self::should_close_transport) says so or
    /// the connection failed (or as soon as output is all that is left
    /// to do), and starts the closing deadline then (the
    /// next [`poll_timeout`](Self::poll_timeout) asks for a
    /// [`handle_timeout`](Self::handle_timeout) to give it its time).
    ///
    /// In order: [`WriteOutput`](CloseStep::WriteOutput) while output is
    /// queued (unless a timer ended the connection: the peer stopped
    /// reading), [`ShutdownWrite`](CloseStep::ShutdownWrite),
    /// [`DiscardInput`](CloseStep::DiscardInput) when the core
    /// [lingers](Self::should_linger), then
    /// [`CloseTransport`](CloseStep::CloseTransport); and `CloseTransport`
    /// at once when the closing deadline passes.
    pub fn poll_close_step(&mut self) -> Option<CloseStep> {
        let core = &mut self.core;
        if !core.may_end_transport() {
            return None;
        }
        core.start_closing_deadline();
        Some(core.close_step())
    }
}

impl Core {
    /// See [`Connection::closing_time`].
    pub(super) fn closing_time(&self) -> Duration {
        self.config
            .close_timeout
            .map_or(MAX_CLOSING_TIME, |t| t.min(MAX_CLOSING_TIME))
    }

    /// Starts the closing deadline, once.
    fn start_closing_deadline(&mut self) {
        if !core::mem::replace(&mut self.closing.started, true) {
            self.timers.set_pending(Timer::Linger);
        }
    }

    /// The closing deadline passed: the connection ends (as by the close
    /// timeout, if the closing handshake is still running) and the
    /// transport closes now.
    pub(super) fn closing_timed_out(&mut self) {
        self.closing.over = true;
        self.close_timed_out();
    }

    /// The connection is over and this side may end the transport, once
    /// its output is written: see [`Connection::should_close_transport`].
    pub(super) fn may_end_transport(&self) -> bool {
        self.state == State::Closed
            && (self.timed_out || self.ends_first || self.failed || self.eof)
    }

    /// See [`Connection::poll_close_step`].
    fn close_step(&self) -> CloseStep {
        if self.closing.over {
            return CloseStep::CloseTransport;
        }
        if !self.closing.write_shut {
            let unwritten = self.buffered_output() > 0 || self.pending_pong.is_some();
            return if unwritten && !self.timed_out {
                CloseStep::WriteOutput
            } else {
                CloseStep::ShutdownWrite
            };
        }
        if self.lingers() {
            CloseStep::DiscardInput
        } else {
            CloseStep::CloseTransport
        }
    }

    /// See [`Connection::should_linger`].
    pub(super) fn lingers(&self) -> bool {
        self.peer_may_send && !self.eof && !self.timed_out
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use core::time::Duration;

    use super::CloseStep::{self, *};
    use crate::close::CloseCode;
    use crate::config::{Config, Role};
    use crate::connection::{Connection, transmit_all};

    /// How a connection got to its end.
    #[derive(Debug, Clone, Copy)]
    enum End {
        /// Still open.
        Open,
        /// A server received the client's close and answered it.
        PeerClosed,
        /// A client's close was answered; the server has not ended yet.
        ClientAnswered,
        /// ... and then the server ended the transport.
        ClientAnsweredThenEof,
        /// A server failed on a reserved opcode (the peer may be sending).
        ProtocolError,
        /// The transport ended without a close frame.
        Eof,
        /// The close timeout passed waiting for the peer's close.
        CloseTimeout,
        /// The keepalive ping went unanswered.
        KeepaliveTimeout,
    }

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = alloc::vec![opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        frame.extend_from_slice(payload);
        frame
    }

    fn drain(c: &mut Connection) {
        while let Ok(Some(_)) = c.poll_event() {}
    }

    /// A connection brought to `end`, its clock at 10 s.
    fn at(end: End, written: bool) -> Connection {
        let role = match end {
            End::ClientAnswered | End::ClientAnsweredThenEof => Role::Client,
            _ => Role::Server,
        };
        let keepalive = matches!(end, End::KeepaliveTimeout);
        let config = Config {
            keepalive_interval: keepalive.then_some(Duration::from_secs(1)),
            keepalive_timeout: Duration::from_secs(1),
            ..Config::default()
        };
        let mut c = Connection::with_mask_source(role, config, || [0; 4]);
        c.handle_timeout(Duration::ZERO);
        match end {
            End::Open => {}
            End::PeerClosed => c.feed(&masked(0x88, &1000u16.to_be_bytes())),
            End::ClientAnswered | End::ClientAnsweredThenEof => {
                c.close(CloseCode::NORMAL, "").unwrap();
                c.feed(&[0x88, 0x02, 0x03, 0xe8]);
                if matches!(end, End::ClientAnsweredThenEof) {
                    c.handle_eof();
                }
            }
            End::ProtocolError => c.feed(&masked(0x83, b"x")),
            End::Eof => c.handle_eof(),
            End::CloseTimeout => {
                c.close(CloseCode::NORMAL, "").unwrap();
                c.handle_timeout(Duration::from_millis(100));
                c.handle_timeout(Duration::from_secs(10));
            }
            End::KeepaliveTimeout => {
                c.handle_timeout(Duration::from_secs(1));
                c.handle_timeout(Duration::from_secs(2));
            }
        }
        drain(&mut c);
        if written {
            transmit_all(&mut c, &mut Vec::new());
        }
        c.handle_timeout(Duration::from_secs(10));
        c
    }

    /// Runs the plan as an adapter would, the transport taking every
    /// write and never reaching its end: the steps in order.
    fn plan(mut c: Connection) -> Vec<CloseStep> {
        let mut steps = Vec::new();
        while let Some(step) = c.poll_close_step() {
            steps.push(step);
            match step {
                WriteOutput => transmit_all(&mut c, &mut Vec::new()),
                ShutdownWrite => c.handle_write_shut(),
                // The peer keeps sending until the deadline.
                DiscardInput => {
                    c.handle_timeout(Duration::from_secs(10));
                    let deadline = c.poll_timeout().expect("the closing deadline");
                    assert_eq!(deadline, Duration::from_secs(12), "the closing time");
                    c.handle_timeout(deadline);
                }
                _ => break,
            }
            assert!(steps.len() < 8, "the plan ends: {steps:?}");
        }
        steps
    }

    // Each way a connection ends, and the steps that end its transport.
    #[test]
    fn each_end_has_its_plan() {
        let cases: &[(End, bool, &[CloseStep])] = &[
            (End::Open, true, &[]),
            // The reply written: a server ends its side at once (§7.1.1).
            (End::PeerClosed, true, &[ShutdownWrite, CloseTransport]),
            // Not yet written: the close reply first.
            (
                End::PeerClosed,
                false,
                &[WriteOutput, ShutdownWrite, CloseTransport],
            ),
            // A client waits for the server's end (or the close timeout).
            (End::ClientAnswered, true, &[]),
            (
                End::ClientAnsweredThenEof,
                true,
                &[ShutdownWrite, CloseTransport],
            ),
            // The peer may be mid-message: linger until the deadline.
            (
                End::ProtocolError,
                false,
                &[WriteOutput, ShutdownWrite, DiscardInput, CloseTransport],
            ),
            (End::Eof, true, &[ShutdownWrite, CloseTransport]),
            // A timer ended it: the peer stopped reading, close now.
            (End::CloseTimeout, false, &[ShutdownWrite, CloseTransport]),
            (
                End::KeepaliveTimeout,
                false,
                &[ShutdownWrite, CloseTransport],
            ),
        ];
        for &(end, written, steps) in cases {
            assert_eq!(plan(at(end, written)), steps, "{end:?}, written: {written}");
        }
    }

    // Lingering stops at the peer's end of stream.
    #[test]
    fn discarding_ends_at_the_peers_eof() {
        let mut c = at(End::ProtocolError, true);
        assert_eq!(c.poll_close_step(), Some(ShutdownWrite));
        c.handle_write_shut();
        assert_eq!(c.poll_close_step(), Some(DiscardInput));
        c.handle_eof();
        assert_eq!(c.poll_close_step(), Some(CloseTransport));
    }

    // A close frame that cannot be written (the peer does not read) holds
    // the transport for the closing time, no longer.
    #[test]
    fn unwritten_output_waits_for_the_closing_deadline() {
        let mut c = at(End::ProtocolError, false);
        assert_eq!(c.poll_close_step(), Some(WriteOutput));
        assert_eq!(c.poll_timeout(), Some(Duration::from_secs(10)), "start it");
        c.handle_timeout(Duration::from_secs(10));
        assert_eq!(c.poll_timeout(), Some(Duration::from_secs(12)));
        c.handle_timeout(Duration::from_secs(12));
        assert_eq!(c.poll_close_step(), Some(CloseTransport));
        assert_eq!(c.poll_timeout(), None);
    }

    // A connection nobody waits for: 1001 is queued once, and the closing
    // deadline bounds the closing handshake too.
    #[test]
    fn an_abandoned_connection_goes_away_within_the_closing_time() {
        let mut c = at(End::Open, true);
        assert!(c.abandon());
        assert!(!c.abandon(), "one close frame");
        let mut wire = Vec::new();
        transmit_all(&mut c, &mut wire);
        assert_eq!(wire, [0x88, 0x02, 0x03, 0xe9]);
        assert_eq!(c.poll_close_step(), None, "the peer's reply may come");
        c.handle_timeout(Duration::from_secs(10));
        assert_eq!(c.poll_timeout(), Some(Duration::from_secs(12)));
        c.handle_timeout(Duration::from_secs(12));
        assert!(c.should_close_transport());
        assert_eq!(c.poll_close_step(), Some(CloseTransport));

        // After a close was sent, nothing more is queued.
        let mut c = at(End::CloseTimeout, true);
        assert!(!c.abandon());
        assert!(!c.wants_write());
    }
}
