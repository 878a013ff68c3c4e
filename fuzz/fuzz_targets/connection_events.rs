//! A connection driven by an arbitrary sequence of steps: a well-behaved
//! peer `Connection` sends messages, fragments, pings and closes (its bytes
//! delivered in arbitrary amounts), raw garbage arrives, the application
//! sends text/binary/fragments/pings/pongs/closes, time passes
//! (`handle_timeout`), the transport writes some output, the receive mode
//! changes, the transport ends. Delivered bytes go in by one of the three
//! ways in (`feed`, `read_buffer` + `commit_read`, `read_space`), chosen by
//! the fragment-size byte's low two bits.
//!
//! Input: `[config flags][fragment size][steps…]`, each step an opcode byte
//! and its arguments (read front to back with `arbitrary::Unstructured`).
//!
//! Checks after every step: no panic; the state only moves forward
//! (Open → CloseSent → Closed); events are well ordered and nothing follows
//! the peer's close; application calls after our close fail with
//! `AlreadyClosed` and queue nothing; everything written decodes cleanly in
//! the peer, with nothing after a close frame (so a close is sent, and a
//! close answered, at most once). At the end: the close frame we owe (ours,
//! an error's, or the answer to the peer's) is on the wire with the right
//! code, unless the output was legitimately dropped (transport ended,
//! keepalive timeout).
#![no_main]

use std::time::Duration;

use arbitrary::Unstructured;
use bytes::BufMut;
use libfuzzer_sys::fuzz_target;
use wsock_core::__internals::OpCode;
use wsock_core::Bytes;
use wsock_core::{
    CloseCode, CloseFrame, Config, Connection, DataKind, Error, Message, ReceiveMode, Role, State,
};
use wsock_fuzz::{Ev, EventChecker, drain, mask_keys, parse_wire};

fn rank(state: State) -> u8 {
    match state {
        State::Open => 0,
        State::CloseSent => 1,
        State::Closed => 2,
        _ => 3,
    }
}

fn other(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// A payload of up to 255 bytes, or (rarely) a long one to cross limits.
fn payload<'a>(u: &mut Unstructured<'a>) -> Vec<u8> {
    let len: u8 = u.arbitrary().unwrap_or(0);
    // Past the sizes where sends stop copying and frames stop being held
    // in the read buffer.
    let len = match len {
        255 => 3000,
        254 => 20_000,
        n => n as usize,
    };
    let bytes = u.bytes(len.min(u.len())).unwrap_or(&[]);
    if bytes.len() < len && len >= 3000 {
        return bytes.iter().copied().cycle().take(len).collect::<Vec<u8>>();
    }
    bytes.to_vec()
}

fn text(u: &mut Unstructured<'_>) -> String {
    String::from_utf8_lossy(&payload(u)).into_owned()
}

fn close_code(u: &mut Unstructured<'_>) -> u16 {
    const CODES: [u16; 8] = [1000, 1001, 1002, 1005, 1006, 1011, 3000, 4999];
    let b: u8 = u.arbitrary().unwrap_or(0);
    if b < 200 {
        CODES[b as usize % CODES.len()]
    } else {
        u.arbitrary().unwrap_or(0)
    }
}

struct World {
    role: Role,
    me: Connection,
    peer: Connection,
    /// Bytes the peer wrote that have not reached `me` yet.
    to_me: Vec<u8>,
    /// Everything `me` wrote, in order.
    wire: Vec<u8>,
    checker: EventChecker,
    peer_checker: EventChecker,
    now: Duration,
    /// How delivered bytes go in: `feed`, `read_buffer` + `commit_read`, or
    /// `read_space`.
    input: Input,
    /// `me`'s state when `poll` last returned. A failure may change the
    /// state before `poll_event` reports it (invalid text read or fed
    /// straight into a gathered message fails the connection as it lands),
    /// so whether the failure's close is owed goes by this, not by the
    /// state `poll` starts from.
    polled_state: State,
    /// The close `me` must put on the wire: `Some(code)`, where `None` is an
    /// empty close body.
    owed_close: Option<Option<u16>>,
    /// The output was dropped (transport ended, keepalive timeout).
    output_dropped: bool,
    /// The first error `poll_event` reported.
    failed_with: Option<Error>,
    sending: Option<DataKind>,
}

/// The three ways received bytes go into a `Connection`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Feed,
    ReadBuffer,
    ReadSpace,
}

impl World {
    fn deliver(&mut self, n: usize) {
        let n = n.min(self.to_me.len());
        let bytes: Vec<u8> = self.to_me.drain(..n).collect();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let k = match self.input {
                Input::Feed => {
                    self.me.feed(rest);
                    rest.len()
                }
                Input::ReadBuffer => {
                    let buf = self.me.read_buffer();
                    let k = buf.len().min(rest.len());
                    buf[..k].copy_from_slice(&rest[..k]);
                    self.me.commit_read(k);
                    k
                }
                Input::ReadSpace => {
                    let mut space = self.me.read_space();
                    let k = space.remaining_mut().min(rest.len());
                    space.put_slice(&rest[..k]);
                    k
                }
            };
            assert!(k > 0, "no room offered to read into");
            rest = &rest[k..];
        }
    }

    fn poll(&mut self) {
        let before = self.me.state();
        let was_open = self.polled_state == State::Open;
        let (events, err) = drain(&mut self.me, &mut self.checker);
        // regressions::no_events_after_close_timeout_error and
        // regressions::no_second_error_after_close_timeout
        if let Some(first) = &self.failed_with {
            assert!(
                events.is_empty() && err.is_none(),
                "connection went on after its error {first:?}: {events:?} {err:?}"
            );
        }
        for ev in &events {
            if let Ev::Close(c) = ev {
                if before == State::Open && self.owed_close.is_none() {
                    self.owed_close = Some(c.as_ref().map(|f| f.code.0));
                }
            }
        }
        if let Some(err) = err {
            self.failed_with.get_or_insert(err.clone());
            match &err {
                Error::Protocol(_) | Error::Capacity(_) => {
                    let code = err.close_code().expect("protocol errors have close codes");
                    if was_open && self.owed_close.is_none() {
                        self.owed_close = Some(Some(code.0));
                    }
                }
                Error::AbnormalClose | Error::KeepaliveTimeout => {
                    assert_eq!(err.close_code(), Some(CloseCode::ABNORMAL));
                    self.output_dropped = true;
                }
                Error::CloseTimeout => {
                    assert_ne!(before, State::Open, "close timeout without a close");
                }
                other => panic!("poll_event failed with {other:?}"),
            }
        }
        self.polled_state = self.me.state();
    }

    /// The transport writes `n` bytes of `me`'s output; the peer reads them.
    fn write(&mut self, n: usize) {
        // As a vectored write would: up to three pieces, `n` bytes in all.
        let mut pieces = [&[][..]; 3];
        let count = self.me.poll_transmit(&mut pieces);
        let mut written = Vec::new();
        for piece in &pieces[..count] {
            assert!(!piece.is_empty(), "an empty output slice");
            let k = piece.len().min(n - written.len());
            written.extend_from_slice(&piece[..k]);
        }
        let n = written.len();
        self.me.consume_output(n);
        self.wire.extend_from_slice(&written);
        parse_wire(&self.wire, self.role);
        self.peer.feed(&written);
        let (_, err) = drain(&mut self.peer, &mut self.peer_checker);
        assert!(err.is_none(), "our output made the peer fail: {err:?}");
        let mut peer_out = Vec::new();
        wsock_core::__internals::transmit_all(&mut self.peer, &mut peer_out);
        self.to_me.extend_from_slice(&peer_out);
    }

    fn peer_sends(&mut self, result: Result<(), Error>) {
        let _ = result;
        let mut out = Vec::new();
        wsock_core::__internals::transmit_all(&mut self.peer, &mut out);
        self.to_me.extend_from_slice(&out);
    }

    /// An application call on `me`: after our close, it must fail and queue
    /// nothing.
    fn app(
        &mut self,
        call: impl FnOnce(&mut Connection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let state = self.me.state();
        let queued = self.me.buffered_output();
        let result = call(&mut self.me);
        if state != State::Open {
            assert_eq!(
                result,
                Err(Error::AlreadyClosed),
                "call accepted in state {state:?}"
            );
        }
        if result.is_err() {
            assert_eq!(
                self.me.buffered_output(),
                queued,
                "a failed call queued output"
            );
        }
        result
    }

    fn step(&mut self, u: &mut Unstructured<'_>) {
        let op: u8 = u.arbitrary().unwrap_or(0);
        match op % 17 {
            0 => {
                let t = text(u);
                let r = self.peer.send(&t);
                self.peer_sends(r);
            }
            1 => {
                let b = payload(u);
                let r = self.peer.send(&b);
                self.peer_sends(r);
            }
            2 => {
                let flags: u8 = u.arbitrary().unwrap_or(0);
                let kind = if flags & 1 != 0 {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let data = payload(u);
                let r = self.peer.send_fragment(kind, &data, flags & 2 != 0);
                self.peer_sends(r);
            }
            3 => {
                let mut p = payload(u);
                p.truncate(125);
                let r = self.peer.ping(&p);
                self.peer_sends(r);
            }
            4 => {
                let code = close_code(u);
                let reason = text(u);
                let r = self.peer.close(CloseCode(code), &reason);
                self.peer_sends(r);
            }
            5 => {
                let n: u16 = u.arbitrary().unwrap_or(0);
                self.deliver(n as usize);
            }
            6 => {
                let garbage = payload(u);
                self.me.feed(&garbage);
            }
            7 => {
                let t = text(u);
                let fragmenting = self.sending.is_some();
                let r = self.app(|c| c.send(&t));
                if fragmenting {
                    assert!(r.is_err(), "whole message accepted inside a fragmented one");
                }
            }
            8 => {
                let b = payload(u);
                let fragmenting = self.sending.is_some();
                let owned: bool = u.arbitrary().unwrap_or(false);
                let r = if owned {
                    self.app(|c| c.send(Message::binary(b)))
                } else {
                    self.app(|c| c.send(&b))
                };
                if fragmenting {
                    assert!(r.is_err(), "whole message accepted inside a fragmented one");
                }
            }
            9 => {
                let flags: u8 = u.arbitrary().unwrap_or(0);
                let kind = if flags & 1 != 0 {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let last = flags & 2 != 0;
                let data = payload(u);
                let r = self.app(|c| c.send_fragment(kind, &data, last));
                if r.is_ok() {
                    assert!(self.sending.is_none_or(|k| k == kind));
                    self.sending = if last { None } else { Some(kind) };
                } else if self.me.state() == State::Open
                    && self.sending.is_none_or(|k| k == kind)
                    && kind == DataKind::Binary
                {
                    panic!("binary fragment refused: {r:?}");
                }
            }
            10 => {
                let p = payload(u);
                let r = self.app(|c| c.ping(&p));
                assert_eq!(r.is_ok(), p.len() <= 125 && self.me.state() == State::Open);
            }
            11 => {
                let p = payload(u);
                let r = self.app(|c| c.send(Message::Pong(Bytes::copy_from_slice(&p))));
                assert_eq!(r.is_ok(), p.len() <= 125 && self.me.state() == State::Open);
            }
            12 => {
                let code = close_code(u);
                let reason = text(u);
                let was_open = self.me.state() == State::Open;
                let r = self.app(|c| c.close(CloseCode(code), &reason));
                let valid = CloseFrame::new(code, reason.clone()).validate().is_ok();
                assert_eq!(
                    r.is_ok(),
                    was_open && valid,
                    "close({code}, {} bytes)",
                    reason.len()
                );
                if r.is_ok() {
                    assert_eq!(self.me.state(), State::CloseSent);
                    if self.owed_close.is_none() {
                        self.owed_close = Some(Some(code));
                    }
                }
            }
            13 => {
                let ms: u16 = u.arbitrary().unwrap_or(0);
                self.now += Duration::from_millis(u64::from(ms) * 4);
                self.me.handle_timeout(self.now);
                if let Some(next) = self.me.poll_timeout() {
                    // A deadline in the past means "now"; calling again at
                    // it must be harmless.
                    if next <= self.now {
                        self.me.handle_timeout(self.now);
                    }
                }
            }
            14 => {
                let n: u16 = u.arbitrary().unwrap_or(0);
                self.write(n as usize);
            }
            15 => {
                let flags: u8 = u.arbitrary().unwrap_or(0);
                if flags & 2 != 0 {
                    // Give up on the message in progress, if any: nothing
                    // more of it may be handed out.
                    self.me.skip_message();
                    self.checker.skip_message();
                }
                self.me.set_receive_mode(if flags & 1 != 0 {
                    ReceiveMode::Stream
                } else {
                    ReceiveMode::Message
                });
            }
            _ => {
                self.me.handle_eof();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let flags: u8 = u.arbitrary().unwrap_or(0);
    let fragment: u8 = u.arbitrary().unwrap_or(0);
    let role = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let mut config = Config::default();
    config.max_frame_size = 2048;
    config.max_message_size = 8192;
    config.auto_pong = flags & 2 == 0;
    config.keepalive_interval = (flags & 4 != 0).then(|| Duration::from_millis(500));
    config.keepalive_timeout = Duration::from_millis(300);
    config.close_timeout = (flags & 8 == 0).then(|| Duration::from_millis(700));
    config.write_buffer_size = if flags & 16 != 0 { 200 } else { 64 * 1024 };
    config.fragment_size = (flags & 32 != 0).then_some(fragment as usize);
    config.read_buffer_size = if flags & 64 != 0 { 7 } else { 4096 };
    let mut me = Connection::with_mask_source(role, config, mask_keys(flags));
    if flags & 128 != 0 {
        me.set_receive_mode(ReceiveMode::Stream);
    }
    let peer = Connection::with_mask_source(other(role), Config::default(), mask_keys(!flags));
    let mut world = World {
        role,
        me,
        peer,
        to_me: Vec::new(),
        wire: Vec::new(),
        checker: EventChecker::default(),
        peer_checker: EventChecker::default(),
        now: Duration::ZERO,
        input: match fragment & 3 {
            1 => Input::ReadBuffer,
            3 => Input::ReadSpace,
            _ => Input::Feed,
        },
        polled_state: State::Open,
        owed_close: None,
        output_dropped: false,
        failed_with: None,
        sending: None,
    };
    let mut steps = 0;
    while !u.is_empty() && steps < 2000 {
        steps += 1;
        let before = world.me.state();
        world.step(&mut u);
        world.poll();
        let after = world.me.state();
        assert!(
            rank(after) >= rank(before),
            "state went back: {before:?} -> {after:?}"
        );
    }
    // Flush: write everything, deliver everything, once more.
    for _ in 0..2 {
        world.write(usize::MAX);
        world.deliver(usize::MAX);
        world.poll();
    }
    world.write(usize::MAX);
    let (frames, _) = parse_wire(&world.wire, role);
    let closes: Vec<_> = frames
        .iter()
        .filter(|f| f.opcode == OpCode::Close)
        .collect();
    assert!(closes.len() <= 1);
    if !world.output_dropped {
        match world.owed_close {
            Some(code) => {
                let close = closes
                    .first()
                    .unwrap_or_else(|| panic!("owed close {code:?} never sent"));
                let sent = CloseFrame::parse(&close.payload).unwrap().map(|f| f.code.0);
                assert_eq!(sent, code, "wrong close code sent");
            }
            None => assert!(closes.is_empty(), "close frame sent for no reason"),
        }
    }
});
