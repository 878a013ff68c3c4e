//! Moves bytes between a [`Transport`] and the sans-IO [`Connection`].
//!
//! The reader reads into its own buffer and feeds the connection, never
//! holding the connection's mutex while it blocks. The writer holds the
//! writer lock, so frames never interleave, and writes the connection's
//! output in place (one vectored write of its slices, then consumes what
//! went out), holding the connection meanwhile. A split connection's
//! reader must reach the connection while a write blocks, so there the
//! writer copies a chunk out and writes it unlocked. Whoever releases the
//! writer lock re-checks for output queued meanwhile (a pong, a close
//! reply), so nothing is left behind when another thread found the lock
//! busy.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use wsock_core::{
    CloseCode, CloseFrame, CloseStep, Connection, Event, Message, ReceiveMode, State, StreamReader,
};

use crate::transport::Transport;
use crate::{Error, ErrorKind, Timeout};
use wsock_io::handshake::Handshake;
use wsock_io::options::Settings;

/// The shortest timeout handed to a transport (zero means "forever" to
/// some, and is an error to std).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Most bytes a split connection's writer copies out per write.
const WRITE_CHUNK: usize = 64 * 1024;
/// Most slices of the connection's output per vectored write.
const MAX_SLICES: usize = 16;
/// The largest read while reads keep filling the buffer.
const MAX_READ: usize = 64 * 1024;

/// How often a split reader wakes to pick up timers the writer started
/// (the close timeout after the writer sends a close frame).
const SPLIT_TIMER_POLL: Duration = Duration::from_millis(500);

/// How long the reading side may block writing what reading queued (a
/// pong) before it leaves the rest for later: a reader stuck writing to a
/// peer that does not read could not read, and a peer that waits for us to
/// read before it reads would deadlock.
const READER_WRITE_BUDGET: Duration = Duration::from_millis(10);

/// How often a closing reader checks whether a busy writer is done.
const LOCK_POLL: Duration = Duration::from_millis(2);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The earlier of two deadlines, `None` being none.
fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.into_iter().chain(b).min()
}

/// The time left until `deadline`, as a transport timeout.
fn timeout_until(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()).max(MIN_TIMEOUT))
}

/// What is known of a transport's read or write timeout, to skip setting
/// it again: only "forever" is worth remembering (a bounded one changes
/// with every call), and a transport without timeouts is asked once.
#[derive(Debug, Default)]
struct TimeoutCache {
    forever: bool,
    unsupported: bool,
}

impl TimeoutCache {
    /// As [`set`](Self::set), but a deadline already passed is a timeout
    /// (`TimedOut`) rather than the shortest one.
    fn bound(
        &mut self,
        deadline: Option<Instant>,
        set: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.set(deadline, set)
    }

    /// Bounds the next read or write by `deadline` through `set`.
    fn set(
        &mut self,
        deadline: Option<Instant>,
        set: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        let timeout = timeout_until(deadline);
        if self.unsupported || (self.forever && timeout.is_none()) {
            return Ok(());
        }
        match set(timeout) {
            Ok(()) => self.forever = timeout.is_none(),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => self.unsupported = true,
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// State shared by a connection's handles.
pub(crate) struct Shared {
    conn: Mutex<Connection>,
    writer: Mutex<WriteState>,
    origin: Instant,
    pub(crate) protocol: Option<String>,
    pub(crate) handshake: Handshake,
    /// What TLS negotiated, if the transport is a TLS stream.
    #[cfg(feature = "tls")]
    pub(crate) tls_info: Option<wsock_tls::TlsInfo>,
    pub(crate) linger: Duration,
    /// Handles alive: 1 for a `WebSocket`, 2 after a split.
    pub(crate) handles: AtomicUsize,
    /// The connection is split, so another thread may start timers.
    pub(crate) split: AtomicBool,
    /// A split connection's writer holds bytes it took from the
    /// connection but could not write yet (a write timed out).
    unsent: AtomicBool,
    /// Another thread asked for a close while this connection's thread
    /// held the connection (writing): queued at its next use of it.
    requested_close: Mutex<Option<CloseFrame>>,
    /// Set after `requested_close` is filled, so that taking the
    /// connection checks that mutex only when a close waits there.
    close_requested: AtomicBool,
    /// Mirrors the connection's [`is_write_shut`](Connection::is_write_shut)
    /// (set together with it, in [`mark_write_shut`](Self::mark_write_shut)),
    /// so that a write asks without taking the connection.
    write_shut: AtomicBool,
    /// The transport is closed for good.
    closed: AtomicBool,
    /// The connection's diagnostics span.
    pub(crate) span: crate::diag::Span,
    /// A failure was reported, so the end is not clean.
    failed: AtomicBool,
}

/// What one write of the queued output did.
enum Wrote {
    /// Nothing was queued.
    Nothing,
    /// Bytes went out, and more may be queued.
    Part(usize),
    /// Bytes went out, and nothing is left.
    All(usize),
}

struct WriteState {
    /// A split connection's bytes taken from the connection and not yet
    /// written.
    pending: BytesMut,
    /// The configured write timeout.
    timeout: Option<Duration>,
    timer: TimeoutCache,
    /// Set once writing is impossible: the transport failed or was closed.
    dead: Option<ErrorKind>,
}

impl Shared {
    /// The state of `conn`, run over `io` (asked what TLS negotiated).
    pub(crate) fn new<T: Transport>(
        conn: Connection,
        settings: &Settings,
        handshake: Handshake,
        span: crate::diag::Span,
        io: &T,
    ) -> Self {
        #[cfg(not(feature = "tls"))]
        let _ = io;
        Self {
            protocol: conn.protocol().map(String::from),
            linger: conn.closing_time(),
            conn: Mutex::new(conn),
            writer: Mutex::new(WriteState {
                pending: BytesMut::new(),
                timeout: settings.write_timeout,
                timer: TimeoutCache::default(),
                dead: None,
            }),
            origin: Instant::now(),
            handshake,
            #[cfg(feature = "tls")]
            tls_info: io.tls_info(),
            handles: AtomicUsize::new(1),
            split: AtomicBool::new(false),
            unsent: AtomicBool::new(false),
            requested_close: Mutex::new(None),
            close_requested: AtomicBool::new(false),
            write_shut: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            span,
            failed: AtomicBool::new(false),
        }
    }

    /// The connection, its timers brought up to date (the clock is read
    /// only when one runs).
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        let mut conn = self.conn_as_is();
        self.update_timers(&mut conn);
        conn
    }

    /// Tells `conn` the time if one of its timers runs (or waits for the
    /// time to start): without one, the time changes nothing.
    fn update_timers(&self, conn: &mut Connection) {
        if conn.poll_timeout().is_some() {
            conn.handle_timeout(self.origin.elapsed());
        }
    }

    /// The connection, as it is (no timer update), for what it tells.
    pub(crate) fn peek(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// The connection, timers untouched, with a close another thread asked
    /// for queued.
    fn conn_as_is(&self) -> MutexGuard<'_, Connection> {
        let mut conn = lock(&self.conn);
        // A plain load first: a swap costs as much as a lock.
        if self.close_requested.load(Ordering::Acquire)
            && self.close_requested.swap(false, Ordering::AcqRel)
            && let Some(frame) = lock(&self.requested_close).take()
        {
            let _ = wsock_io::queue::close(&mut conn, &self.span, frame.code, &frame.reason);
        }
        conn
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Our side of the transport is shut down: nothing more is written.
    fn is_write_shut(&self) -> bool {
        self.write_shut.load(Ordering::Acquire)
    }

    /// Tells `conn` that our writing side is shut (see
    /// [`is_write_shut`](Self::is_write_shut)).
    fn mark_write_shut(&self, conn: &mut Connection) {
        conn.handle_write_shut();
        self.write_shut.store(true, Ordering::Release);
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) {
        lock(&self.writer).timeout = timeout;
    }

    /// Queues something on the connection, then writes it out: everything
    /// when `flush_all`, else only when the queued output exceeds the write
    /// buffer size (backpressure).
    pub(crate) fn queue<T: Transport>(
        &self,
        io: &mut T,
        flush_all: bool,
        f: impl FnOnce(&mut Connection) -> Result<(), wsock_core::Error>,
    ) -> Result<(), Error> {
        let over = {
            let mut conn = self.conn();
            f(&mut conn).map_err(Error::core)?;
            conn.buffered_output() > conn.config().write_buffer_size
        };
        if flush_all || over {
            self.flush(io, None, None)
        } else {
            Ok(())
        }
    }

    /// Queues a prepared message and writes it out; a close frame is
    /// reported as sent.
    pub(crate) fn queue_prepared<T: Transport>(
        &self,
        io: &mut T,
        message: &wsock_core::PreparedMessage,
    ) -> Result<(), Error> {
        self.queue(io, true, |c| {
            wsock_io::queue::send_prepared(c, &self.span, message)
        })
    }

    /// Queues `message` as [`queue`](Self::queue) does; a close frame is
    /// reported as sent.
    pub(crate) fn queue_message<T: Transport>(
        &self,
        io: &mut T,
        flush_all: bool,
        message: Message,
    ) -> Result<(), Error> {
        self.queue(io, flush_all, |c| {
            wsock_io::queue::send(c, &self.span, message)
        })
    }

    /// Writes the connection's output to `io`. Waits for another thread
    /// that is writing until `lock_by` (`None`: as long as it takes; an
    /// instant passed: not at all, and that thread writes what was queued
    /// before it lets go); `deadline` overrides the write timeout.
    pub(crate) fn flush<T: Transport>(
        &self,
        io: &mut T,
        lock_by: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let mut guard = match lock_by {
            None => Some(lock(&self.writer)),
            Some(until) => loop {
                if let Some(g) = try_lock(&self.writer) {
                    break Some(g);
                }
                if Instant::now() >= until {
                    return Err(Error::timeout(
                        Timeout::Write,
                        "another thread is still writing",
                    ));
                }
                std::thread::sleep(LOCK_POLL);
            },
        };
        loop {
            let Some(mut w) = guard else { return Ok(()) };
            let result = self.drain(&mut w, io, deadline);
            self.unsent.store(!w.pending.is_empty(), Ordering::Release);
            drop(w);
            result?;
            // Output queued by a thread that found the lock busy is ours.
            if !self.conn_as_is().wants_write() {
                return Ok(());
            }
            guard = try_lock(&self.writer);
        }
    }

    /// With the writer lock held: writes until the connection's output is
    /// empty, by `deadline` if given, else failing once the write timeout
    /// passes with no byte written.
    fn drain<T: Transport>(
        &self,
        w: &mut WriteState,
        io: &mut T,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let stall_deadline = |w: &WriteState| w.timeout.map(|t| Instant::now() + t);
        let renew = deadline.is_none();
        let mut deadline = deadline.or_else(|| stall_deadline(w));
        if self.is_write_shut() {
            w.dead.get_or_insert(ErrorKind::AlreadyClosed);
        }
        if let Some(kind) = w.dead {
            // Nothing can be written any more; drop what is queued.
            w.pending.clear();
            let mut conn = lock(&self.conn);
            let n = conn.buffered_output();
            conn.consume_output(n);
            return Err(match kind {
                ErrorKind::AlreadyClosed => Error::already_closed(),
                _ => Error::message(kind, "the transport failed earlier"),
            });
        }
        let mut wrote = false;
        loop {
            // All out: flush what the transport buffers (once).
            let result = match self.write_some(w, io, deadline) {
                Ok(Wrote::Nothing) if !wrote => return Ok(()),
                Ok(Wrote::Nothing) => io.flush().map(|()| None),
                Ok(Wrote::All(n)) if n > 0 => io.flush().map(|()| None),
                Ok(Wrote::All(n) | Wrote::Part(n)) => Ok(Some(n)),
                Err(e) => Err(e),
            };
            match result {
                Ok(None) => return Ok(()),
                Ok(Some(0)) => return Err(self.write_failed(w, io::ErrorKind::WriteZero.into())),
                Ok(Some(_)) => {
                    wrote = true;
                    if renew {
                        deadline = stall_deadline(w);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    return Err(Error::timeout(Timeout::Write, "unsent bytes stay queued"));
                }
                Err(e) => return Err(self.write_failed(w, e)),
            }
        }
    }

    /// One write of the queued output, bounded by `deadline`: how much
    /// went out, and whether that was all. A split connection's
    /// reader must reach the connection while a write blocks, so its
    /// writer copies a chunk out and writes it unlocked (bytes copied out
    /// before a reunion go first, too); otherwise the connection's output
    /// is written in place, one vectored write of its slices, no copy.
    fn write_some<T: Transport>(
        &self,
        w: &mut WriteState,
        io: &mut T,
        deadline: Option<Instant>,
    ) -> io::Result<Wrote> {
        if !w.pending.is_empty() || self.split.load(Ordering::Acquire) {
            if w.pending.is_empty() {
                let mut conn = lock(&self.conn);
                let mut slices = [&[][..]; 1];
                if conn.poll_transmit(&mut slices) == 0 {
                    return Ok(Wrote::Nothing);
                }
                let n = slices[0].len().min(WRITE_CHUNK);
                w.pending.extend_from_slice(&slices[0][..n]);
                conn.consume_output(n);
            }
            w.timer.bound(deadline, |t| io.set_write_timeout(t))?;
            let n = io.write(&w.pending)?;
            w.pending.advance(n);
            // The connection may have more: the next call looks.
            return Ok(Wrote::Part(n));
        }
        let mut conn = lock(&self.conn);
        let mut slices = [&[][..]; MAX_SLICES];
        let k = conn.poll_transmit(&mut slices);
        if k == 0 {
            return Ok(Wrote::Nothing);
        }
        w.timer.bound(deadline, |t| io.set_write_timeout(t))?;
        let n = match k {
            1 => io.write(slices[0])?,
            _ => io.write_vectored(&slices.map(IoSlice::new)[..k])?,
        };
        conn.consume_output(n);
        // Saves the next call its look at an empty output.
        Ok(if conn.wants_write() {
            Wrote::Part(n)
        } else {
            Wrote::All(n)
        })
    }

    /// A write failed: the stream is broken (part of a frame may be out).
    /// The reader learns of it as an end of stream.
    fn write_failed(&self, w: &mut WriteState, e: io::Error) -> Error {
        w.dead = Some(ErrorKind::AbnormalClose);
        w.pending.clear();
        lock(&self.conn).handle_eof();
        Error::io_write(e)
    }

    /// Writes what is queued within `deadline` (bytes a split writer
    /// copied out, too), then shuts down the writing side: the peer sees
    /// our end of stream. A writer still busy at the deadline is cut off:
    /// the shutdown makes its blocked write fail.
    fn shut_write<T: Transport>(&self, io: &mut T, deadline: Instant) {
        if !self.is_write_shut() {
            let _ = self.flush(io, Some(deadline), Some(deadline));
            // Stops all writing: the writer sees it before its next write.
            self.mark_write_shut(&mut lock(&self.conn));
            let _ = io.shutdown(Shutdown::Write);
        }
    }

    /// Closes the transport for good.
    fn finish_close<T: Transport>(&self, io: &mut T) {
        self.mark_write_shut(&mut lock(&self.conn));
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = io.shutdown(Shutdown::Both);
            crate::diag::ended(&self.span, !self.failed.load(Ordering::Relaxed));
        }
    }

    /// Reports a failure of the connection.
    pub(crate) fn note_failure(&self, error: &Error) {
        self.failed.store(true, Ordering::Relaxed);
        crate::diag::failed(&self.span, error);
    }

    /// Queues a close frame if the connection is open; returns whether it
    /// did. For a server shutting down, on a thread of its own: if the
    /// connection's thread holds the connection (a write blocks), the
    /// close is queued when that thread next uses it, and goes out with
    /// its next write (a TLS session only its own thread writes to, too).
    pub(crate) fn queue_close(&self, code: CloseCode, reason: &str) -> bool {
        let until = Instant::now() + READER_WRITE_BUDGET;
        loop {
            if let Some(mut conn) = try_lock(&self.conn) {
                return wsock_io::queue::close(&mut conn, &self.span, code, reason) == Ok(true);
            }
            if Instant::now() >= until {
                *lock(&self.requested_close) = Some(CloseFrame::new(code, reason));
                self.close_requested.store(true, Ordering::Release);
                return false;
            }
            std::thread::sleep(LOCK_POLL);
        }
    }

    /// Sends a close frame if the connection is open, writing it only if no
    /// other thread is writing (that one will).
    pub(crate) fn start_close<T: Transport>(&self, io: &mut T, code: CloseCode, reason: &str) {
        if self.queue_close(code, reason) {
            let deadline = Instant::now() + self.linger;
            let _ = self.flush(io, Some(Instant::now()), Some(deadline));
        }
    }
}

/// Reads and drops input until end of stream or `deadline`, so that
/// closing does not reset the connection (an RST can destroy the last
/// frames in flight); returns whether the input ended (or failed) before
/// the deadline. Skipped for transports without read timeouts.
pub(crate) fn discard_input<T: Transport>(io: &mut T, deadline: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || io.set_read_timeout(Some(left.max(MIN_TIMEOUT))).is_err() {
            return false;
        }
        match io.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(_) => return true,
        }
    }
}

/// The reading side of a connection: the read buffer, the streamed-read
/// state, and what the reads learned.
pub(crate) struct ReadState {
    pub(crate) shared: std::sync::Arc<Shared>,
    /// What the transport is read into; its length is the size of the
    /// next read (see [`size_buffer`](Self::size_buffer)).
    buf: Vec<u8>,
    /// `read_buffer_size`: the smallest read.
    read_size: usize,
    /// A message read as a stream: the rest of a piece, a skip owed by a
    /// reader dropped early, a close met meanwhile (the core's).
    pub(crate) stream: StreamReader,
    pub(crate) timeout: Option<Duration>,
    timer: TimeoutCache,
    /// Overrides the write timeout of flushes made while reading.
    write_deadline: Option<Instant>,
    io_error: Option<io::Error>,
    peer_close: Option<CloseFrame>,
    closed_reported: bool,
}

impl ReadState {
    /// The reading side of `shared`'s connection, with a read timeout.
    pub(crate) fn new(shared: std::sync::Arc<Shared>, timeout: Option<Duration>) -> Self {
        let size = lock(&shared.conn).config().read_buffer_size.max(1);
        Self {
            shared,
            buf: vec![0; size],
            read_size: size,
            stream: StreamReader::new(),
            timeout,
            timer: TimeoutCache::default(),
            write_deadline: None,
            io_error: None,
            peer_close: None,
            closed_reported: false,
        }
    }

    /// The error for a read on a closed transport: the clean closure once,
    /// then "already closed".
    fn after_close(&mut self) -> Error {
        if self.closed_reported {
            Error::already_closed()
        } else {
            self.closed_reported = true;
            Error::closed(self.peer_close.clone())
        }
    }

    /// Runs the connection until `on_event` takes an event (returns
    /// `Some`): reads when more input is needed, bounded by `deadline` (or
    /// the read timeout) and the connection's timers; writes what events
    /// queue (pongs, close replies); closes the transport when the
    /// connection is over.
    pub(crate) fn next<T: Transport, R>(
        &mut self,
        io: &mut T,
        mode: ReceiveMode,
        deadline: Option<Instant>,
        mut on_event: impl FnMut(Event, &mut StreamReader) -> Option<R>,
    ) -> Result<R, Error> {
        if self.shared.is_closed() {
            return Err(self.after_close());
        }
        if self.shared.is_write_shut() {
            // Our side was shut when the peer's close arrived: finish the
            // lingering close now.
            self.close_transport(io, false);
            return Err(self.after_close());
        }
        let deadline = deadline.or_else(|| self.timeout.map(|t| Instant::now() + t));
        loop {
            let mut conn = self.shared.conn();
            self.stream.prepare(&mut conn, mode);
            let mut close = false;
            let taken = match conn.poll_event() {
                Ok(Some(event)) => {
                    if let Event::Message(Message::Close(frame)) = &event {
                        crate::diag::close(&self.shared.span, true, frame.as_ref());
                        self.peer_close.clone_from(frame);
                        close = true;
                    }
                    Some(on_event(event, &mut self.stream))
                }
                Ok(None) => None,
                Err(e) => {
                    drop(conn);
                    let error = Error::core_with_io(e, self.io_error.take());
                    self.shared.note_failure(&error);
                    self.close_transport(io, false);
                    self.closed_reported = true;
                    return Err(error);
                }
            };
            // The event may have started a timer (a close's).
            self.shared.update_timers(&mut conn);
            // Closing: the close frame must go out, even if that means
            // waiting for another thread's write.
            let mut wants_read = conn.wants_read();
            let closing = conn.state() != State::Open || !wants_read;
            let wants_write = conn.wants_write();
            let timer = conn.poll_timeout();
            drop(conn);
            let wants_write = wants_write || self.shared.unsent.load(Ordering::Acquire);

            if wants_write {
                self.write_queued(io, closing);
                // A failed write ends the input too.
                wants_read = self.shared.conn().wants_read();
            }
            match taken {
                Some(taken) => {
                    if close {
                        // A server ends its side at once (§7.1.1); the rest
                        // of the plan is left to the next read (or the
                        // drop), so the close message is not delayed.
                        self.close_transport(io, true);
                    }
                    if let Some(r) = taken {
                        return Ok(r);
                    }
                }
                // More input is needed, but the connection is over (or the
                // input ended): nothing more to read.
                None if !wants_read => {
                    self.close_transport(io, false);
                    return Err(self.after_close());
                }
                None => self.fill(io, deadline, timer)?,
            }
        }
    }

    /// Writes what reading queued (pongs, a close reply). While open, only
    /// if no other thread is writing and only briefly: the rest waits for
    /// the writer or the next read. While closing, the close frame must go
    /// out: wait for a busy writer, within the linger time. Never past the
    /// write deadline of a closing handle, if it has one.
    fn write_queued<T: Transport>(&self, io: &mut T, closing: bool) {
        let now = Instant::now();
        let budget = now
            + if closing {
                self.shared.linger
            } else {
                READER_WRITE_BUDGET
            };
        let deadline = self.write_deadline.map_or(budget, |d| d.min(budget));
        let lock_by = if closing { deadline } else { now };
        let _ = self.shared.flush(io, Some(lock_by), Some(deadline));
    }

    /// One read from the transport into the connection.
    fn fill<T: Transport>(
        &mut self,
        io: &mut T,
        deadline: Option<Instant>,
        timer: Option<Duration>,
    ) -> Result<(), Error> {
        // The clock is read only for a deadline.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::timeout(Timeout::Read, "nothing arrived"));
        }
        let mut until = min_deadline(deadline, timer.map(|t| self.shared.origin + t));
        if self.shared.split.load(Ordering::Relaxed) {
            until = min_deadline(until, Some(Instant::now() + SPLIT_TIMER_POLL));
        }
        self.timer
            .set(until, |t| io.set_read_timeout(t))
            .map_err(Error::io)?;
        match io.read(&mut self.buf) {
            Ok(n) if n > 0 => {
                lock(&self.shared.conn).feed(&self.buf[..n]);
                self.size_buffer(n);
            }
            // The next call reports a read timeout, once its deadline passed.
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            // The end of the input, or the transport failed: the peer is
            // gone (1006).
            ended => {
                self.io_error = ended.err();
                lock(&self.shared.conn).handle_eof();
            }
        }
        Ok(())
    }

    /// Sizes the read buffer after a read of `n` bytes, as the core sizes
    /// its own read offer: a read that filled it doubles it (up to
    /// [`MAX_READ`]), so a busy connection makes few large reads; a read of
    /// less than a quarter of it shrinks it back toward `read_buffer_size`.
    fn size_buffer(&mut self, n: usize) {
        let len = self.buf.len();
        if n == len && len < MAX_READ {
            self.buf.resize((len * 2).min(MAX_READ), 0);
        } else if n < len / 4 && len > self.read_size {
            self.buf.truncate((len / 2).max(self.read_size));
            self.buf.shrink_to_fit();
        }
    }

    /// Closes the transport by the core's plan (`Connection::poll_close_step`):
    /// write what is queued (the close frame), shut down the writing half,
    /// read and discard until the peer's end of stream if the core
    /// lingers, close; each step bounded by the core's closing deadline.
    /// With `until_shut`, stops once the writing side is shut (or when the
    /// plan has not begun): the rest waits for the next read or the drop.
    fn close_transport<T: Transport>(&mut self, io: &mut T, until_shut: bool) {
        while !self.shared.is_closed() {
            let (step, deadline) = {
                let mut conn = self.shared.conn();
                let step = conn.poll_close_step();
                // Gives the closing deadline its time, on the first step.
                conn.handle_timeout(self.shared.origin.elapsed());
                let at = conn.poll_timeout().map(|t| self.shared.origin + t);
                (step, at.unwrap_or_else(Instant::now))
            };
            match step {
                // A blocking write waits for all of it, then shuts.
                Some(CloseStep::WriteOutput | CloseStep::ShutdownWrite) => {
                    self.shared.shut_write(io, deadline);
                }
                _ if until_shut => return,
                // Without read timeouts, waiting for the peer could block
                // forever: close at once, as when the deadline passes.
                Some(CloseStep::DiscardInput)
                    if !self.timer.unsupported && discard_input(io, deadline) =>
                {
                    lock(&self.shared.conn).handle_eof();
                }
                _ => {
                    self.shared.finish_close(io);
                    self.timer.forever = false;
                }
            }
        }
    }

    /// Ends the connection when its last handle goes: the core's
    /// [`abandon`](Connection::abandon) (a close frame, 1001, if none was
    /// sent), then the closing handshake and the close plan, within the
    /// core's closing time. A write half that goes last runs it on a
    /// reading side of its own, so dropping the halves in either order
    /// ends the connection as dropping a whole one does.
    pub(crate) fn close_on_drop<T: Transport>(&mut self, io: &mut T) {
        if self.shared.is_closed() {
            return;
        }
        if std::thread::panicking() {
            self.shared.finish_close(io);
            return;
        }
        self.write_deadline = Some(Instant::now() + self.shared.linger);
        wsock_io::queue::abandon(&mut self.shared.conn(), &self.shared.span);
        // Probe for read timeouts: without them, waiting for the peer
        // could block forever.
        if io.set_read_timeout(Some(self.shared.linger)).is_err() {
            self.timer.unsupported = true;
        }
        self.timer.forever = false;
        if !self.timer.unsupported {
            // Run the closing handshake, dropping whatever still arrives,
            // until the connection ends: the core's closing deadline ends
            // it, not the read timeout of a handle that is gone.
            self.timeout = None;
            let _ = self.next(io, ReceiveMode::Stream, None, |_, _| None::<()>);
        }
        self.close_transport(io, false);
    }
}

/// One read bounded by `deadline` (for the opening handshake).
pub(crate) fn read_by<T: Transport>(
    io: &mut T,
    buf: &mut [u8],
    deadline: Option<Instant>,
    what: &'static str,
) -> Result<usize, Error> {
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::timeout(Timeout::Handshake, what));
        }
        (TimeoutCache::default().set(deadline, |t| io.set_read_timeout(t))).map_err(Error::io)?;
        match io.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) => return Err(Error::io(e)),
        }
    }
}

/// Writes all of `data`, bounded by `deadline` (for the opening handshake).
pub(crate) fn write_all_by<T: Transport>(
    io: &mut T,
    mut data: &[u8],
    deadline: Option<Instant>,
    what: &'static str,
) -> Result<(), Error> {
    while !data.is_empty() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::timeout(Timeout::Handshake, what));
        }
        (TimeoutCache::default().set(deadline, |t| io.set_write_timeout(t))).map_err(Error::io)?;
        match io.write(data) {
            Ok(0) => return Err(Error::io_write(io::ErrorKind::WriteZero.into())),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted || is_timeout(&e) => {}
            Err(e) => return Err(Error::io_write(e)),
        }
    }
    loop {
        match io.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(e)),
        }
    }
}
