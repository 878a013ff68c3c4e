//! The closing handshake (§7): starting it, answering the peer's close,
//! failing the connection, and the close timeout running out.

use super::timer::Timer;
use super::{Core, State};
use crate::close::{CloseCode, CloseFrame, MAX_REASON_LEN};
use crate::error::Error;
use crate::frame::{MAX_CONTROL_PAYLOAD, OpCode};

impl Core {
    /// See [`Connection::close`](super::Connection::close).
    pub(super) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.check_open()?;
        CloseFrame::new(code, reason).validate()?;
        self.flush_pong();
        self.queue_close(Some(code), reason);
        self.leave_open(State::CloseSent);
        self.timers.set_pending(Timer::Close);
        Ok(())
    }

    /// Queues our close frame (no body without a code), dropping a pong
    /// still owed: nothing but the close goes out after it.
    pub(super) fn queue_close(&mut self, code: Option<CloseCode>, reason: &str) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let mut len = 0;
        if let Some(code) = code {
            payload[..2].copy_from_slice(&code.0.to_be_bytes());
            let reason = truncate_utf8(reason, MAX_REASON_LEN);
            payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
            len = 2 + reason.len();
        }
        self.pending_pong = None;
        self.write_frame(OpCode::Close, true, &payload[..len]);
    }

    /// The peer's close arrived (or ours was answered): the handshake is over.
    pub(super) fn enter_closed(&mut self) {
        self.leave_open(State::Closed);
        self.pending_pong = None;
        // A client waits for the server to end the transport (§7.1.1).
        if !self.ends_first {
            self.timers.set_pending(Timer::Close);
        }
    }

    /// Fails the connection (§7.1.7): queue a close frame with the error's
    /// code, stop reading, and let the transport close once it is written.
    pub(super) fn fail(&mut self, err: Error) -> Error {
        if self.state == State::Open
            && !matches!(err, Error::AbnormalClose | Error::KeepaliveTimeout)
        {
            let code = err.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
            let mut reason = [0u8; 64];
            let text = reason_text(&err, &mut reason);
            self.queue_close(Some(code), text);
        }
        self.peer_may_send = matches!(err, Error::Protocol(_) | Error::Capacity(_));
        self.leave_open(State::Closed);
        self.failed = true;
        self.frame = None;
        self.message = None;
        self.pending_pong = None;
        self.timers.set_pending(Timer::Close);
        err
    }

    /// The close timer ran out: the connection is over, nothing more is
    /// read, and a close we were still waiting for is reported once.
    pub(super) fn close_timed_out(&mut self) {
        let was_waiting = self.state == State::CloseSent;
        self.leave_open(State::Closed);
        self.timed_out = true;
        if was_waiting && !self.failed {
            self.pending_error = Some(Error::CloseTimeout);
        }
        self.failed = true;
        self.frame = None;
        self.message = None;
    }

    /// Moves to `state`, never [`State::Open`] (a connection does not
    /// reopen), and stops the timers that run only while open.
    pub(super) fn leave_open(&mut self, state: State) {
        self.state = state;
        self.timers.stop_open_only();
    }

    /// See [`Connection::should_close_transport`](super::Connection::should_close_transport):
    /// closed, and either a timer ended it or the output is written and
    /// this side may end the transport.
    pub(super) fn should_close_transport(&self) -> bool {
        if self.state != State::Closed {
            return false;
        }
        self.timed_out || (self.buffered_output() == 0 && self.may_end_transport())
    }
}

/// A short close reason naming the error, written into `buf`.
fn reason_text<'a>(err: &Error, buf: &'a mut [u8; 64]) -> &'a str {
    struct Writer<'b>(&'b mut [u8; 64], usize);
    impl core::fmt::Write for Writer<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let room = self.0.len() - self.1;
            let s = truncate_utf8(s, room);
            self.0[self.1..self.1 + s.len()].copy_from_slice(s.as_bytes());
            self.1 += s.len();
            Ok(())
        }
    }
    let mut w = Writer(buf, 0);
    let _ = core::fmt::write(&mut w, format_args!("{err}"));
    let len = w.1;
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
