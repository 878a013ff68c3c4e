//! The state both halves of a connection share, and the code that moves
//! bytes between the transport and the core.
//!
//! Design: one `std::sync::Mutex` holds the [`Connection`] and the
//! transport together. It is only ever held inside a `poll_*` function,
//! never across an `.await`, so a read half and a write half in two tasks
//! serialise on it for the length of one non-blocking read or write and
//! never deadlock. Output always leaves through the core's single output
//! buffer, so frames never interleave, and whoever holds the lock can write
//! what the core owes (pongs, close replies) without waiting for the other
//! half.
//!
//! Both halves may wait for the same direction of the transport (the
//! reader for a pong to go out, the writer for room), but a transport keeps
//! one waker per direction. So the transport is always polled with a waker
//! of our own per direction ([`WakerSlots`]) that wakes every half that
//! registered interest; nothing is stranded whichever half polled last.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, Weak};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::Duration;
use std::{future::Future, io};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::io::poll_read_buf;
use wsock_core::{
    CloseCode, CloseFrame, CloseStep, Connection, Event, Message, ReceiveMode, Role, State,
    StreamReader,
};

use crate::sweeper::Sweep;
use crate::{Error, Timeout};

/// Waker slot of the receiving side.
pub(crate) const READER: usize = 0;
/// Waker slot of the sending side.
pub(crate) const WRITER: usize = 1;
/// Waker slot of the task that writes what `send` deferred.
const FLUSHER: usize = 2;

/// Reads per `poll` before yielding to the runtime, so a fast peer cannot
/// monopolise a worker even on transports without cooperative budgeting.
const MAX_SPINS: usize = 64;

/// The most pieces of output (headers, payloads kept whole) handed to one
/// vectored write.
const MAX_SLICES: usize = 16;

/// How long a connection must go without input before its buffers are
/// freed, for a connection the sweeper does not look after (see
/// [`crate::sweeper`]): its own timer does it.
const SHRINK_AFTER: Duration = crate::sweeper::PERIOD;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tasks waiting for one direction of the transport. The transport is
/// polled with a waker made from this, which wakes them all.
#[derive(Default)]
struct WakerSlots {
    slots: Mutex<[Option<Waker>; 3]>,
}

impl WakerSlots {
    fn register(&self, slot: usize, waker: &Waker) {
        let mut slots = lock(&self.slots);
        match &mut slots[slot] {
            Some(w) if w.will_wake(waker) => {}
            other => *other = Some(waker.clone()),
        }
    }
}

impl Wake for WakerSlots {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let taken = std::mem::take(&mut *lock(&self.slots));
        for waker in taken.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// One direction's waker registry and the waker the transport sees.
struct Direction {
    slots: Arc<WakerSlots>,
    waker: Waker,
}

impl Direction {
    fn new() -> Self {
        let slots = Arc::new(WakerSlots::default());
        let waker = Waker::from(slots.clone());
        Self { slots, waker }
    }

    /// Registers `cx` in `slot` and returns the waker to poll the
    /// transport with.
    fn register(&self, slot: usize, cx: &Context<'_>) -> &Waker {
        self.slots.register(slot, cx.waker());
        &self.waker
    }

    fn wake(&self) {
        self.waker.wake_by_ref();
    }

    /// Polls the transport with `poll` and this direction's waker, and
    /// registers `cx` in `slot` only if it is not ready: then polls once
    /// more, since a wake between the first poll and the registration
    /// reached nobody (the transport has the readiness by then, so the
    /// second poll sees it). A busy connection, whose I/O is ready, takes
    /// no lock and clones no waker here.
    fn poll<T>(
        &self,
        slot: usize,
        cx: &Context<'_>,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let mut dcx = Context::from_waker(&self.waker);
        if let Poll::Ready(t) = poll(&mut dcx) {
            return Poll::Ready(t);
        }
        self.slots.register(slot, cx.waker());
        poll(&mut dcx)
    }
}

/// Shared by a [`WebSocket`](crate::WebSocket) or both of its halves.
pub(crate) struct Shared<S> {
    inner: Mutex<Inner<S>>,
    read: Direction,
    write: Direction,
    /// The origin of the core's clock.
    origin: Instant,
    pub(crate) role: Role,
    pub(crate) extensions: wsock_core::Extensions,
    pub(crate) protocol: Option<String>,
    /// The write-buffer bound (at least 1).
    pub(crate) write_buffer_size: usize,
    /// What TLS negotiated, for connections this crate set up over TLS.
    #[cfg(feature = "tls")]
    pub(crate) tls_info: Option<wsock_tls::TlsInfo>,
    /// What the opening handshake exchanged, for connections this crate
    /// opened or accepted.
    pub(crate) handshake: Handshake,
    /// The local and the peer's address, for TCP connections this crate
    /// opened or a `Server` accepted.
    pub(crate) addrs: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    /// What dropping the last handle does (a function, so that `Drop`,
    /// which cannot require `S: AsyncWrite`, can write).
    on_drop: fn(&Self),
}

/// The request a server accepted, or the response a client got.
pub(crate) use wsock_io::handshake::Handshake;

struct Inner<S> {
    conn: Connection,
    io: S,
    /// The transport is finished with; nothing more will happen.
    done: bool,
    /// Why the connection failed, for whichever half asks.
    terminal: Option<Error>,
    /// The failure was reported to the receiving side ([`READER`]), to
    /// the sending side ([`WRITER`]).
    reported: [bool; 2],
    /// The connection's diagnostics span.
    span: crate::diag::Span,
    /// Starts the task that writes what `send` deferred; `None` when
    /// write coalescing is off (the default).
    spawner: Option<Spawner<S>>,
    /// Messages `send` left unwritten since the output was last empty.
    deferred: usize,
    /// The task that writes what `send` deferred.
    flusher: Flusher,
    /// Puts the connection on the idle sweeper's list (see
    /// [`crate::sweeper`]), for a transport that can move to its thread:
    /// taken at the first wait for input, so that until then the handle
    /// is the only reference (see `WebSocket::with_addrs`).
    registrar: Option<Registrar<S>>,
    /// The connection as the idle sweeper knows it; `None`: the receiving
    /// side's own timer frees the buffers instead.
    sweeper: Option<Weak<dyn Sweep>>,
    /// Input arrived since the sweeper last looked (or, without the
    /// sweeper, since the receiving side's timer was armed).
    input_seen: bool,
    /// The core holds no read buffer worth keeping: fresh, or its buffers
    /// were freed and no input arrived since. Reads go through the stack
    /// first (see [`read_unbuffered`]), so an idle connection's waits
    /// allocate nothing.
    unbuffered: bool,
    /// A whole period passed without input and the buffers were freed:
    /// each later wait for input frees what was allocated meanwhile (output
    /// sent while quiet), with no timer, until input arrives (and the
    /// connection goes back on the sweeper's list).
    released: bool,
}

/// The task that writes what `send` deferred (write coalescing). Started
/// at the first deferral and kept for the connection's life: it parks
/// once the output is written and the next deferral wakes it, which costs
/// a wake per batch instead of a task spawned per batch.
enum Flusher {
    /// Not running: nothing deferred yet, or coalescing was turned off.
    None,
    /// Woken, or waiting for the transport: it writes what is queued.
    Awake,
    /// Parked with nothing to write.
    Parked(ParkedFlusher),
}

/// A parked flusher's waker. Dropping it wakes the task, which then ends
/// unless it is still wanted: so replacing it (a deferral), turning
/// coalescing off, dropping the connection or taking its transport back
/// never leaves a task parked for good.
struct ParkedFlusher(Waker);

impl Drop for ParkedFlusher {
    fn drop(&mut self) {
        self.0.wake_by_ref();
    }
}

/// What [`Shared::queue_now`] did with a message.
pub(crate) enum Queued {
    /// Queued and left unwritten (write coalescing): `send` is done.
    Deferred,
    /// Queued: `send` writes it out.
    ToWrite,
    /// The write buffer is over its bound: `send` waits for room first.
    NoRoom(Message),
}

impl<S> Inner<S> {
    fn set_terminal(&mut self, err: Error) {
        if self.terminal.is_none() {
            crate::diag::failed(&self.span, &err);
            self.terminal = Some(err);
        }
    }

    /// The transport is finished with.
    fn end(&mut self) {
        if !self.done {
            self.done = true;
            crate::diag::ended(&self.span, self.terminal.is_none());
        }
    }

    /// The transport itself failed: nothing more can be sent or received.
    fn fail_io(&mut self, err: io::Error) {
        self.set_terminal(Error::io(err));
        self.end();
        // The core learns that the transport is gone: it ends in `Closed`
        // (1006) and lets go of its buffers.
        self.conn.handle_eof();
        while let Ok(Some(_)) = self.conn.poll_event() {}
        self.conn.shrink_buffers();
    }

    /// Input arrived: the sweeper looks again later (back on its list if
    /// it had freed the buffers).
    fn note_input(&mut self) {
        self.input_seen = true;
        self.unbuffered = false;
        if std::mem::take(&mut self.released)
            && let Some(entry) = &self.sweeper
            && !crate::sweeper::register(entry.clone())
        {
            // No sweeper after all: the connection's own timer frees them.
            self.sweeper = None;
        }
    }

    /// The sweeper's look (see [`crate::sweeper`]): frees the buffers if
    /// nothing was read since the last one. Whether to look again.
    fn sweep(&mut self) -> bool {
        if self.done || self.sweeper.is_none() {
            return false;
        }
        if std::mem::take(&mut self.input_seen) {
            return true;
        }
        self.release();
        false
    }

    /// A whole period passed without input: frees the buffers until input
    /// arrives.
    fn release(&mut self) {
        self.conn.shrink_buffers();
        self.released = true;
        self.unbuffered = true;
    }

    /// The failure, the first time `side` asks for it.
    fn take_error(&mut self, side: usize) -> Option<Error> {
        let err = self.terminal.clone().filter(|_| !self.reported[side])?;
        self.reported[side] = true;
        Some(err)
    }

    /// What the sending side reports when it cannot proceed: the failure
    /// once, then "already closed".
    fn writer_error(&mut self) -> Error {
        self.take_error(WRITER)
            .unwrap_or_else(Error::already_closed)
    }

    /// Advances the core's timers to `now`, and picks up an error a timer
    /// left in the core, so both halves see it.
    fn handle_timeout(&mut self, now: Duration) {
        self.conn.handle_timeout(now);
        if let Some(err) = self.conn.pending_error().cloned() {
            self.set_terminal(Error::core(err));
        }
    }
}

/// A sleep created on first use and reset as deadlines move.
#[derive(Default)]
pub(crate) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Timer {
    /// Whether `deadline` has passed; if not, the task is woken when it does.
    fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        // Armed for this deadline already (a connection waiting for input
        // again before its buffers' timer is due): the sleep knows.
        if let Some(sleep) = &mut self.sleep
            && sleep.deadline() == deadline
            && !sleep.is_elapsed()
        {
            return sleep.as_mut().poll(cx).is_ready();
        }
        if deadline <= Instant::now() {
            return true;
        }
        let sleep =
            (self.sleep).get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx).is_ready()
    }
}

/// What the receiving side keeps between calls (so every receive is
/// cancel-safe: nothing lives only in a future).
#[derive(Default)]
pub(crate) struct RecvState {
    timer: Timer,
    pub(crate) read_timeout: Option<Duration>,
    /// When the current wait for input began (for `read_timeout`).
    idle_since: Option<Instant>,
    /// A message read as a stream: the rest of a piece, a skip owed by a
    /// reader dropped early, a close met meanwhile (the core's).
    pub(crate) stream: StreamReader,
    /// For a connection the sweeper does not look after: when to free the
    /// buffers if no input arrives until then (armed at a wait for input;
    /// whether input arrived since is the shared state's `input_seen`).
    shrink_at: Option<Instant>,
}

/// What the sending side keeps between calls.
#[derive(Default)]
pub(crate) struct SendState {
    timer: Timer,
    pub(crate) write_timeout: Option<Duration>,
    /// Since when the transport has taken no bytes (for `write_timeout`).
    stalled_since: Option<Instant>,
}

/// How much of the output a flush waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// All of it.
    All,
    /// Until it is below the write-buffer bound.
    Room,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    /// The state of a connection reporting in `span` (where its handshake,
    /// if this crate ran it, already reported).
    pub(crate) fn new(io: S, conn: Connection, span: crate::diag::Span) -> Self {
        Self {
            role: conn.role(),
            handshake: Handshake::None,
            addrs: None,
            on_drop: Self::close_unwaited,
            protocol: conn.protocol().map(Into::into),
            extensions: conn.extensions(),
            write_buffer_size: conn.config().write_buffer_size.max(1),
            #[cfg(feature = "tls")]
            tls_info: None,
            origin: Instant::now(),
            read: Direction::new(),
            write: Direction::new(),
            inner: Mutex::new(Inner {
                conn,
                io,
                done: false,
                terminal: None,
                reported: [false; 2],
                span,
                spawner: None,
                deferred: 0,
                flusher: Flusher::None,
                registrar: None,
                sweeper: None,
                input_seen: true,
                unbuffered: true,
                released: false,
            }),
        }
    }

    /// Records the transport's addresses, the peer's in the diagnostics
    /// span too (a transport handed in: its handshake did not know them).
    pub(crate) fn set_addrs(
        &mut self,
        addrs: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    ) {
        if let Some((_, peer)) = addrs {
            crate::diag::record_peer(&lock(&self.inner).span, peer);
        }
        self.addrs = addrs;
    }
}

/// The most a read into the stack takes (see [`read_unbuffered`]).
const UNBUFFERED_READ: usize = 4096;

/// One read into a buffer on the stack, fed to the core if anything
/// arrived: for a connection holding no read buffer, whose read most
/// likely waits (an idle connection woken for nothing, or a fresh one),
/// so that the wait costs no allocation. The bytes that do arrive are
/// copied once more than a read into the core's buffer would copy them.
fn read_unbuffered<S: AsyncRead + Unpin>(
    io: &mut S,
    conn: &mut Connection,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); UNBUFFERED_READ];
    let mut buf = ReadBuf::uninit(&mut stack);
    ready!(Pin::new(io).poll_read(cx, &mut buf))?;
    conn.feed(buf.filled());
    Poll::Ready(Ok(buf.filled().len()))
}

/// Starts a flusher task for a connection (`spawn_flusher`, for a
/// transport that can move to one).
pub(crate) type Spawner<S> = fn(Weak<Shared<S>>) -> bool;

/// Starts the task that writes what `send` deferred, on the current
/// runtime; `false` outside one (then `send` writes at once). It holds the
/// connection weakly, so it never keeps a dropped connection alive, and
/// the connection's end wakes it to end too (see [`ParkedFlusher`]).
pub(crate) fn spawn_flusher<S>(shared: Weak<Shared<S>>) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    handle.spawn(std::future::poll_fn(move |cx| {
        let Some(shared) = shared.upgrade() else {
            return Poll::Ready(());
        };
        let done = shared.poll_flush_deferred(cx);
        // The last handle may have gone meanwhile: do what its drop would.
        if let Some(shared) = Arc::into_inner(shared) {
            shared.close_on_drop();
        }
        done
    }));
    true
}

/// Puts a connection on the idle sweeper's list; `None` if the sweeper's
/// thread cannot be started.
pub(crate) type Registrar<S> = fn(&Arc<Shared<S>>) -> Option<Weak<dyn Sweep>>;

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Shared<S> {
    /// Has the idle sweeper free the connection's buffers once it goes
    /// quiet (see [`crate::sweeper`]), instead of a timer of its own; it
    /// goes on the sweeper's list at its first wait for input.
    pub(crate) fn use_sweeper(&self) {
        let register: Registrar<S> = |shared| {
            let entry = Arc::downgrade(shared) as Weak<dyn Sweep>;
            crate::sweeper::register(entry.clone()).then_some(entry)
        };
        let mut inner = lock(&self.inner);
        if inner.sweeper.is_none() {
            inner.registrar = Some(register);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Sweep for Shared<S> {
    fn sweep(self: Arc<Self>) -> bool {
        let keep = match self.inner.try_lock() {
            Ok(mut inner) => inner.sweep(),
            Err(TryLockError::Poisoned(inner)) => inner.into_inner().sweep(),
            // In use right now, so not idle: next period.
            Err(TryLockError::WouldBlock) => true,
        };
        // The last handle went while the sweeper held this one (its drop
        // saw two): do what that drop would have done.
        match Arc::into_inner(self) {
            Some(shared) => {
                shared.close_on_drop();
                false
            }
            None => keep,
        }
    }
}

impl<S> Shared<S> {
    /// The last handle was dropped: see `close_unwaited`.
    pub(crate) fn close_on_drop(&self) {
        (self.on_drop)(self);
    }

    /// What `f` reads of the core (its state, counters, queued output).
    pub(crate) fn conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&lock(&self.inner).conn)
    }

    pub(crate) fn into_io(self) -> S {
        self.inner
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .io
    }

    /// Runs `f` on the core to queue something (a message, a fragment, a
    /// close), unless the connection already failed.
    pub(crate) fn queue<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, wsock_core::Error>,
    ) -> Result<T, Error> {
        self.queue_in(|conn, _| f(conn))
    }

    /// [`queue`](Self::queue), with the span to report in.
    fn queue_in<T>(
        &self,
        f: impl FnOnce(&mut Connection, &crate::diag::Span) -> Result<T, wsock_core::Error>,
    ) -> Result<T, Error> {
        self.queue_locked(&mut lock(&self.inner), f)
    }

    /// [`queue_in`](Self::queue_in), under the lock already held.
    fn queue_locked<T>(
        &self,
        inner: &mut Inner<S>,
        f: impl FnOnce(&mut Connection, &crate::diag::Span) -> Result<T, wsock_core::Error>,
    ) -> Result<T, Error> {
        if inner.terminal.is_some() || inner.done {
            return Err(inner.writer_error());
        }
        let before = inner.conn.state();
        let result = f(&mut inner.conn, &inner.span).map_err(Error::core);
        if inner.conn.state() != before {
            // A close was queued: the receiving side has a new timer.
            self.read.wake();
        }
        result
    }

    /// Queues `message`; a close frame is reported as sent.
    pub(crate) fn queue_message(&self, message: Message) -> Result<(), Error> {
        self.queue_in(|conn, span| wsock_io::queue::send(conn, span, message))
    }

    /// `send`'s common case under one lock: queues `message` if the write
    /// buffer is under its bound, and leaves it unwritten if `may_defer`
    /// and [`defer`](Self::defer) allow.
    pub(crate) fn queue_now(
        self: &Arc<Self>,
        message: Message,
        may_defer: bool,
    ) -> Result<Queued, Error> {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if inner.terminal.is_none()
            && !inner.done
            && inner.conn.buffered_output() >= self.write_buffer_size
        {
            return Ok(Queued::NoRoom(message));
        }
        self.queue_locked(inner, |conn, span| {
            wsock_io::queue::send(conn, span, message)
        })?;
        Ok(if may_defer && self.defer_locked(inner) {
            Queued::Deferred
        } else {
            Queued::ToWrite
        })
    }

    /// Queues a prepared message; a close frame is reported as sent.
    pub(crate) fn queue_prepared(
        &self,
        message: &wsock_core::PreparedMessage,
    ) -> Result<(), Error> {
        self.queue_in(|conn, span| wsock_io::queue::send_prepared(conn, span, message))
    }

    /// Queues `frame` (`None`: 1000) unless the closing handshake already
    /// started, and reports it as sent; whether it was queued.
    pub(crate) fn queue_close(&self, frame: Option<CloseFrame>) -> Result<bool, Error> {
        let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NORMAL, ""));
        self.queue_in(|conn, span| wsock_io::queue::close(conn, span, frame.code, &frame.reason))
    }

    /// Queues a close frame if the connection is open, and wakes both
    /// halves so whichever is waiting writes it out. For a server shutting
    /// down, from outside the connection's task.
    pub(crate) fn close_from_outside(&self, code: CloseCode, reason: &str) -> bool {
        let queued = self.queue_close(Some(CloseFrame::new(code, reason)));
        self.read.wake();
        self.write.wake();
        matches!(queued, Ok(true))
    }

    /// Turns write coalescing on (with the function that starts the
    /// flusher task) or off.
    pub(crate) fn set_spawner(&self, spawner: Option<Spawner<S>>) {
        let mut inner = lock(&self.inner);
        inner.spawner = spawner;
        // A parked flusher is woken to end; an awake one ends once it has
        // written what is deferred.
        if spawner.is_none() && matches!(inner.flusher, Flusher::Parked(_)) {
            inner.flusher = Flusher::None;
        }
    }

    /// Whether `send` may leave the message it just queued unwritten: the
    /// caller is draining a batch (the peer's next bytes are already
    /// received, so its next `recv` will most likely not wait, and if it
    /// does wait, `recv` writes first), within the caps, and a flusher
    /// task writes it should the caller do something else instead.
    pub(crate) fn defer(self: &Arc<Self>) -> bool {
        self.defer_locked(&mut lock(&self.inner))
    }

    /// [`defer`](Self::defer), under the lock already held.
    fn defer_locked(self: &Arc<Self>, inner: &mut Inner<S>) -> bool {
        let Some(spawner) = inner.spawner else {
            return false;
        };
        // The core's decision, within its caps.
        if inner.terminal.is_some() || inner.done || !inner.conn.may_defer_output(inner.deferred) {
            return false;
        }
        match inner.flusher {
            Flusher::Awake => {}
            // Dropping the parked waker wakes it.
            Flusher::Parked(_) => inner.flusher = Flusher::Awake,
            Flusher::None => {
                if !spawner(Arc::downgrade(self)) {
                    return false;
                }
                inner.flusher = Flusher::Awake;
            }
        }
        inner.deferred += 1;
        true
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Shared<S> {
    /// Ends a connection nobody will poll again, without waiting: a close
    /// frame (1001) if it is open, what is queued written as far as the
    /// transport takes it now, and our side shut down.
    fn close_unwaited(&self) {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        if inner.done {
            return;
        }
        wsock_io::queue::abandon(&mut inner.conn, &inner.span);
        let mut cx = Context::from_waker(Waker::noop());
        if !inner.conn.is_write_shut()
            && self.poll_write_out(inner, WRITER, &cx) == Poll::Ready(true)
        {
            let _ = Pin::new(&mut inner.io).poll_shutdown(&mut cx);
        }
        inner.end();
    }

    /// The flusher task's work: writes out what is queued (what `send`
    /// deferred, and anything queued after it), then parks until the next
    /// deferral; ends once the connection or coalescing is over.
    pub(crate) fn poll_flush_deferred(&self, cx: &Context<'_>) -> Poll<()> {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        match &inner.flusher {
            Flusher::Awake => {}
            // Woken by a stale registration while parked: stay parked.
            Flusher::Parked(parked) if parked.0.will_wake(cx.waker()) => return Poll::Pending,
            // No longer wanted (coalescing turned off), or another
            // flusher took over.
            Flusher::None | Flusher::Parked(_) => return Poll::Ready(()),
        }
        // A failure is reported by whichever handle polls next.
        if inner.terminal.is_none()
            && !inner.done
            && !inner.conn.is_write_shut()
            && inner.conn.wants_write()
            && self.poll_write_out(inner, FLUSHER, cx).is_pending()
        {
            return Poll::Pending;
        }
        if inner.spawner.is_none() || inner.terminal.is_some() || inner.done {
            inner.flusher = Flusher::None;
            return Poll::Ready(());
        }
        inner.flusher = Flusher::Parked(ParkedFlusher(cx.waker().clone()));
        Poll::Pending
    }

    /// Writes the core's output until it is empty, then flushes the
    /// transport. Polls with the shared write waker, registering `cx` in
    /// `slot` when the transport is not ready (see [`Direction::poll`]).
    /// `Ready(false)`: the transport failed, and so did the
    /// connection (both halves are woken to learn it).
    fn poll_write_out(&self, inner: &mut Inner<S>, slot: usize, cx: &Context<'_>) -> Poll<bool> {
        let vectored = inner.io.is_write_vectored();
        let result = loop {
            let mut pieces = [&[][..]; MAX_SLICES];
            let n = inner.conn.poll_transmit(&mut pieces);
            let io = &mut inner.io;
            if n == 0 {
                inner.deferred = 0;
                break ready!(
                    self.write
                        .poll(slot, cx, |wcx| Pin::new(&mut *io).poll_flush(wcx))
                );
            }
            let written = self.write.poll(slot, cx, |wcx| {
                if vectored && n > 1 {
                    let slices = pieces.map(IoSlice::new);
                    Pin::new(&mut *io).poll_write_vectored(wcx, &slices[..n])
                } else {
                    Pin::new(&mut *io).poll_write(wcx, pieces[0])
                }
            });
            match ready!(written) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => inner.conn.consume_output(n),
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = result {
            inner.fail_io(e);
            self.read.wake();
            self.write.wake();
            return Poll::Ready(false);
        }
        Poll::Ready(true)
    }

    /// Receives the next event that `handle` takes: it is called for each
    /// event in order, under the lock, and returns `Some` to end the call
    /// with that value or `None` to go on. `Ok(None)`: the connection is
    /// over. Everything in flight stays in the core or in `st`, so dropping
    /// the future loses nothing.
    pub(crate) fn poll_event<T>(
        self: &Arc<Self>,
        st: &mut RecvState,
        cx: &mut Context<'_>,
        mode: ReceiveMode,
        mut handle: impl FnMut(Event, &mut RecvState) -> Option<T>,
    ) -> Poll<Result<Option<T>, Error>> {
        let mut spins = 0;
        // Whether this call already read once while holding deferred
        // output back (see step 2).
        let mut read_ahead = false;
        loop {
            spins += 1;
            if spins > MAX_SPINS {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut guard = lock(&self.inner);
            let inner = &mut *guard;
            if inner.done {
                // The failure once, then the end of the stream.
                return Poll::Ready(inner.take_error(READER).map_or(Ok(None), Err));
            }

            // 1. Events already received.
            if inner.terminal.is_none() {
                st.stream.prepare(&mut inner.conn, mode);
                match inner.conn.poll_event() {
                    Ok(Some(event)) => {
                        st.idle_since = None;
                        // Only a ping (its pong) or a close (the reply)
                        // makes us owe output right away; data the writer
                        // queued is written when it flushes or when this
                        // reader has to wait, so several queued messages
                        // go out in one write.
                        let owes = match &event {
                            Event::Message(Message::Close(frame)) => {
                                crate::diag::close(&inner.span, true, frame.as_ref());
                                // The writer may wait on a timer that moved.
                                self.write.wake();
                                true
                            }
                            event => matches!(event, Event::Message(Message::Ping(_))),
                        };
                        let Some(out) = handle(event, st) else {
                            continue;
                        };
                        // Send what the event made us owe (a pong, a close
                        // reply) now; a failure shows next time.
                        if owes && inner.conn.wants_write() {
                            let _ = self.poll_write_out(inner, READER, cx);
                        }
                        return Poll::Ready(Ok(Some(out)));
                    }
                    Ok(None) => {}
                    Err(err) => {
                        inner.set_terminal(Error::core(err));
                        self.write.wake();
                    }
                }
            }

            // 2. Output the core owes (or anyone's: progress is progress),
            //    except replies `send` deferred while the rest of a frame
            //    is still on its way: the read below most likely completes
            //    it without waiting, and the reply to that frame then goes
            //    out in the same write (a batch our read cut in two stays
            //    one write). Once per call; a read that would wait writes
            //    them first (step 4).
            let hold_back = !read_ahead
                && inner.deferred > 0
                && inner.terminal.is_none()
                && inner.conn.may_read_before_writing();
            if hold_back {
                read_ahead = true;
            } else if inner.conn.wants_write()
                && !inner.conn.is_write_shut()
                && self.poll_write_out(inner, READER, cx) == Poll::Ready(false)
            {
                continue;
            }

            // 3. Closing: the core's plan for ending the transport, within
            //    its deadline (a timer of the core's, see 5).
            let closing = inner.conn.poll_close_step();
            let discard = match closing {
                Some(CloseStep::ShutdownWrite) => {
                    let mut wcx = Context::from_waker(self.write.register(READER, cx));
                    if Pin::new(&mut inner.io).poll_shutdown(&mut wcx).is_ready() {
                        inner.conn.handle_write_shut();
                        continue;
                    }
                    false
                }
                Some(CloseStep::DiscardInput) => true,
                // Only the end of stream matters now (a client waiting for
                // the server to close): discard.
                None => inner.conn.wants_read() && inner.conn.state() == State::Closed,
                // Waiting for the transport to take what step 2 could not
                // write.
                Some(CloseStep::WriteOutput) => false,
                Some(_) => {
                    inner.end();
                    self.write.wake();
                    continue;
                }
            };
            if discard {
                if self.poll_discard(inner, cx).is_ready() {
                    continue;
                }
            } else if closing.is_none() && inner.conn.wants_read() {
                // 4. Read, straight into the core's read buffer without
                //    zeroing its room first (the bytes count when the
                //    space drops, at the end of the statement). A
                //    connection holding no buffer (fresh, or quiet since
                //    its buffers were freed) reads into the stack first,
                //    so a read that waits allocates nothing.
                let read = if inner.unbuffered {
                    let (io, conn) = (&mut inner.io, &mut inner.conn);
                    self.read
                        .poll(READER, cx, |rcx| read_unbuffered(io, conn, rcx))
                } else {
                    self.read.poll(READER, cx, |rcx| {
                        poll_read_buf(Pin::new(&mut inner.io), rcx, &mut inner.conn.read_space())
                    })
                };
                if let Poll::Ready(read) = read {
                    match read {
                        Ok(0) => inner.conn.handle_eof(),
                        Ok(_) => {
                            // Starts the core's idle timer afresh (no
                            // clock read when no timer runs).
                            if inner.conn.poll_timeout().is_some() {
                                inner.handle_timeout(self.now());
                            }
                            st.idle_since = None;
                            inner.note_input();
                        }
                        Err(e) => {
                            inner.fail_io(e);
                            self.write.wake();
                        }
                    }
                    continue;
                }
                // Nothing more to read now: what step 2 held back goes out
                // before the wait.
                if hold_back && self.poll_write_out(inner, READER, cx) == Poll::Ready(false) {
                    continue;
                }
                if let Some(register) = inner.registrar.take() {
                    inner.sweeper = register(self);
                }
                if inner.released {
                    inner.conn.shrink_buffers();
                } else if inner.sweeper.is_none() && st.shrink_at.is_none() {
                    st.shrink_at = Some(Instant::now() + SHRINK_AFTER);
                    inner.input_seen = false;
                }
            }

            // 5. Timers: the core's (the closing deadline too), the read
            //    timeout.
            let core_at = inner.conn.poll_timeout().map(|d| self.origin + d);
            let read_at = match st.read_timeout {
                Some(limit) if inner.terminal.is_none() && closing.is_none() => {
                    Some(*st.idle_since.get_or_insert_with(Instant::now) + limit)
                }
                _ => None,
            };
            let at = [core_at, read_at, st.shrink_at].into_iter().flatten().min();
            if let Some(at) = at
                && st.timer.poll_until(at, cx)
            {
                let now = Instant::now();
                if core_at.is_some_and(|t| t <= now) {
                    inner.handle_timeout(self.now());
                    self.write.wake();
                }
                if st.shrink_at.is_some_and(|t| t <= now) {
                    // Busy since armed: look again later (one timer reset
                    // per period, not one per read); quiet: free them.
                    if std::mem::take(&mut inner.input_seen) {
                        st.shrink_at = Some(now + SHRINK_AFTER);
                    } else {
                        inner.release();
                        st.shrink_at = None;
                    }
                }
                if read_at.is_some_and(|t| t <= now) {
                    st.idle_since = None;
                    return Poll::Ready(Err(Error::timeout(Timeout::Read, "reading")));
                }
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Reads and throws away, until the end of stream (`Ready`) or `Pending`.
    fn poll_discard(&self, inner: &mut Inner<S>, cx: &Context<'_>) -> Poll<()> {
        let mut rcx = Context::from_waker(self.read.register(READER, cx));
        let mut scratch = [0u8; 2048];
        for _ in 0..MAX_SPINS {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut inner.io).poll_read(&mut rcx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                Poll::Ready(_) => {
                    inner.conn.handle_eof();
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        rcx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Writes out queued output: all of it, or until it is under the
    /// write-buffer bound. Only the written part is affected by
    /// cancellation: the rest stays queued.
    pub(crate) fn poll_flush(
        &self,
        st: &mut SendState,
        cx: &mut Context<'_>,
        target: Flush,
    ) -> Poll<Result<(), Error>> {
        for _ in 0..MAX_SPINS {
            let mut guard = lock(&self.inner);
            let inner = &mut *guard;
            let satisfied = match target {
                Flush::All => !inner.conn.wants_write(),
                Flush::Room => inner.conn.buffered_output() < self.write_buffer_size,
            };
            // Nothing more can be written.
            let over = inner.done || inner.conn.is_write_shut();
            if inner.terminal.is_none() && satisfied && (target == Flush::Room || over) {
                return Poll::Ready(Ok(()));
            }
            if inner.terminal.is_some() || over {
                return Poll::Ready(Err(inner.writer_error()));
            }
            let before = inner.conn.buffered_output();
            match self.poll_write_out(inner, WRITER, cx) {
                Poll::Ready(true) => {
                    st.stalled_since = None;
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(false) => return Poll::Ready(Err(inner.writer_error())),
                Poll::Pending => {}
            }
            if inner.conn.buffered_output() < before {
                st.stalled_since = None;
            }
            if target == Flush::Room && inner.conn.buffered_output() < self.write_buffer_size {
                return Poll::Ready(Ok(()));
            }
            // A peer that stopped reading must not hold us forever: the
            // write timeout, and the keepalive and close timeouts, run here.
            let write_at = st
                .write_timeout
                .map(|limit| *st.stalled_since.get_or_insert_with(Instant::now) + limit);
            let core_at = inner.conn.poll_timeout().map(|at| self.origin + at);
            if let Some(at) = write_at.into_iter().chain(core_at).min()
                && st.timer.poll_until(at, cx)
            {
                if write_at.is_some_and(|t| t <= Instant::now()) {
                    st.stalled_since = None;
                    return Poll::Ready(Err(Error::timeout(
                        Timeout::Write,
                        "unsent bytes stay queued",
                    )));
                }
                inner.handle_timeout(self.now());
                self.read.wake();
                continue;
            }
            return Poll::Pending;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    // A transport keeps one waker per direction; ours wakes every half
    // that registered, whichever polled last.
    #[test]
    fn direction_wakes_every_registered_half() {
        let dir = Direction::new();
        let (a, b) = (
            Arc::new(Count(AtomicUsize::new(0))),
            Arc::new(Count(AtomicUsize::new(0))),
        );
        let (wa, wb) = (Waker::from(a.clone()), Waker::from(b.clone()));
        let _ = dir.register(READER, &Context::from_waker(&wa));
        let transport_waker = dir.register(WRITER, &Context::from_waker(&wb)).clone();
        transport_waker.wake_by_ref();
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 1)
        );
        // Slots are emptied by a wake: no repeated wakes without a new registration.
        transport_waker.wake_by_ref();
        assert_eq!(
            (a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)),
            (1, 1)
        );
    }

    // A transport polled without registering first: a wake that lands
    // before the registration is not lost (the second poll sees it), and
    // one after it reaches the task.
    #[test]
    fn direction_registers_only_when_not_ready() {
        let dir = Direction::new();
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let cx = Context::from_waker(&waker);
        // Ready at once: nothing registered.
        assert_eq!(dir.poll(READER, &cx, |_| Poll::Ready(1)), Poll::Ready(1));
        assert!(lock(&dir.slots.slots)[READER].is_none());
        // The readiness arrives between the first poll and the
        // registration: the second poll returns it.
        let mut polls = 0;
        let got = dir.poll(READER, &cx, |tcx| {
            polls += 1;
            if polls == 1 {
                tcx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(2)
            }
        });
        assert_eq!((got, polls), (Poll::Ready(2), 2));
        // Not ready twice: registered, and the transport's wake reaches
        // the task.
        let transport = std::cell::RefCell::new(None::<Waker>);
        let got: Poll<()> = dir.poll(READER, &cx, |tcx| {
            *transport.borrow_mut() = Some(tcx.waker().clone());
            Poll::Pending
        });
        assert!(got.is_pending());
        let before = task.0.load(Ordering::SeqCst);
        transport.borrow().as_ref().unwrap().wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), before + 1);
    }
}

#[cfg(test)]
mod sweeper_tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use wsock_core::{Config, Role};

    use super::lock;
    use crate::WebSocket;

    /// A masked text frame "hi".
    const HI: [u8; 8] = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A transport the sweeper does not take (`from_raw` without this
    /// crate's settings): the receiving side's own timer frees the buffers
    /// once quiet, and again after later input.
    #[tokio::test]
    async fn without_the_sweeper_the_timer_frees_a_quiet_connection() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut ws = WebSocket::from_raw(server, Role::Server, Config::default());
        let shared = std::sync::Arc::clone(ws.shared());
        let released = || lock(&shared.inner).released;
        for _ in 0..2 {
            let (message, ()) = tokio::join!(ws.recv(), async {
                client.write_all(&HI).await.unwrap();
            });
            assert_eq!(message.unwrap(), Some(crate::Message::text("hi")));
            assert!(!released());
            let waiting = tokio::spawn(async move {
                let next = ws.recv().await;
                (next, ws)
            });
            until("never freed", released).await;
            assert!(lock(&shared.inner).sweeper.is_none());
            client.write_all(&HI).await.unwrap();
            let (next, back) = waiting.await.unwrap();
            assert_eq!(next.unwrap(), Some(crate::Message::text("hi")));
            ws = back;
        }
        drop(shared);
    }

    /// A connection waiting for input with nothing arriving has its
    /// buffers freed by the sweeper (no timer of its own), and goes back
    /// on the sweeper's list when input arrives, so it is freed again
    /// once quiet again.
    #[tokio::test]
    async fn the_sweeper_frees_a_quiet_connection_and_takes_it_back_on_input() {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let mut ws = WebSocket::from_raw(server, Role::Server, Config::default())
            .with_settings(&wsock_io::options::Settings::default());
        let shared = std::sync::Arc::clone(ws.shared());
        // On the sweeper's list from the first wait for input on.
        assert!(lock(&shared.inner).registrar.is_some());
        let released = || lock(&shared.inner).released;
        let task = tokio::spawn(async move {
            let first = ws.recv().await.unwrap();
            let second = ws.recv().await.unwrap();
            (first, second, ws)
        });
        // Fresh: its wait read into the stack, so it holds no buffer yet.
        until("never waited", || lock(&shared.inner).sweeper.is_some()).await;
        assert!(lock(&shared.inner).unbuffered);
        client.write_all(&HI).await.unwrap();
        until("never freed after the first message", released).await;
        assert!(lock(&shared.inner).sweeper.is_some());
        // A period passed without input, and the reader waits with no
        // timer armed.
        assert!(!lock(&shared.inner).input_seen);
        client.write_all(&HI).await.unwrap();
        let (first, second, ws) = task.await.unwrap();
        assert_eq!(first, Some(crate::Message::text("hi")));
        assert_eq!(second, Some(crate::Message::text("hi")));
        // Back on the list: freed again once quiet again.
        until("never freed after the second message", released).await;
        assert!(lock(&shared.inner).unbuffered);
        // A message many reads long arriving at a connection holding no
        // buffer: the first read goes through the stack, the rest into the
        // core's buffer.
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let key = [9, 8, 7, 6];
        let mut frame = vec![0x82, 0xff];
        frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        let mut ws = ws;
        let (received, ()) = tokio::join!(ws.recv(), async {
            client.write_all(&frame).await.unwrap();
        });
        assert_eq!(received.unwrap(), Some(crate::Message::binary(payload)));
        assert!(!lock(&shared.inner).unbuffered);
        drop(shared);
        drop(ws);
    }
}
