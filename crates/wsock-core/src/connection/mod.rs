//! The connection state machine: bytes in, events out; calls in, bytes out.
//!
//! A [`Connection`] starts after the opening handshake. It owns a read
//! buffer (so payloads are unmasked in place and handed out as borrowed
//! slices) and a write buffer (so pongs and close replies it owes are
//! queued without the caller knowing why). Time enters only as an argument
//! to [`Connection::handle_timeout`].

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Role};
use crate::error::{CapacityError, Error, Limit, ProtocolError};
use crate::event::{DataKind, Event};
use crate::extension::Extensions;
use crate::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, RSV1};
use crate::mask::apply_mask;
use crate::utf8::Utf8Validator;

mod close;
mod input;
mod output;
mod send;
mod timer;
use input::Input;
use output::Output;
use timer::{TimerTable, Traffic};

/// How received data messages are handed out. The mode in force when a
/// message's first frame arrives applies to the whole message, except that
/// switching to [`ReceiveMode::Stream`] mid-message streams the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    /// Whole messages: [`Event::Text`] and [`Event::Binary`].
    #[default]
    Message,
    /// Pieces as they arrive: [`Event::Chunk`]. Nothing is buffered whole.
    Stream,
}

/// Where the closing handshake stands (§7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's. Received messages are
    /// still delivered; nothing but the close is sent.
    CloseSent,
    /// Both close frames were exchanged, or the connection failed. See
    /// [`Connection::should_close_transport`].
    Closed,
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes handed to the connection.
    pub bytes_received: u64,
    /// Bytes the caller reported written.
    pub bytes_sent: u64,
    /// Frames decoded.
    pub frames_received: u64,
    /// Frames encoded.
    pub frames_sent: u64,
    /// Data messages completed.
    pub messages_received: u64,
    /// Data messages sent (a fragmented message counts when finished).
    pub messages_sent: u64,
    /// Pings received.
    pub pings_received: u64,
    /// Pongs received.
    pub pongs_received: u64,
    /// Pings sent (keepalive included).
    pub pings_sent: u64,
    /// Pongs sent (automatic ones included).
    pub pongs_sent: u64,
}

type MaskSource = Box<dyn FnMut() -> [u8; 4] + Send>;

/// The largest single-frame message held whole in the read buffer and
/// handed out from there. Larger ones are gathered into the message buffer
/// as they arrive: holding them would mean moving a partial frame to the
/// front of the read buffer on most reads, and gathered they can be moved
/// out whole by [`Connection::take_message`].
#[cfg(not(test))]
const IN_PLACE_MAX: u64 = 16 * 1024;
/// Small in unit tests, so short payloads take both paths.
#[cfg(test)]
const IN_PLACE_MAX: u64 = 100;

/// The frame being received.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes already unmasked and validated.
    done: u64,
    /// A single-frame message in message mode: the payload stays in the
    /// read buffer and is handed out from there, with no copy.
    in_place: bool,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    /// Compressed frames: bytes at the front of the input already unmasked
    /// but not yet inflated.
    unmasked: usize,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    /// Compressed final frames: bytes of the restored `00 00 ff ff` tail
    /// inflated so far.
    tail: u8,
}

/// The data message being received.
#[derive(Debug, Clone, Copy)]
struct InMessage {
    kind: DataKind,
    streaming: bool,
    size: u64,
    started: bool,
    /// RSV1 was set on the first frame: the payload is deflated.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    compressed: bool,
    /// Bytes inflated so far.
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    inflated: u64,
}

/// What to discard at the next `&mut` call: the bytes the last event lent.
#[derive(Debug, Clone, Copy)]
enum Release {
    Nothing,
    Input(usize),
    Message,
}

/// What a step produced, as positions in [`Input`].
enum Emit {
    Text {
        len: usize,
    },
    Binary {
        len: usize,
    },
    MessageText,
    MessageBinary,
    Chunk {
        kind: DataKind,
        offset: usize,
        len: usize,
        from_message: bool,
        first: bool,
        last: bool,
    },
    Ping {
        len: usize,
    },
    Pong {
        len: usize,
    },
    Close(Option<CloseFrame>),
}

enum Step {
    NeedMore,
    Again,
    Emit(Emit),
}

/// A WebSocket connection after the opening handshake.
///
/// Feed it received bytes ([`feed`](Self::feed), or
/// [`input_buffer`](Self::input_buffer) + [`commit_input`](Self::commit_input)
/// to read straight into its buffer), take events with
/// [`poll_event`](Self::poll_event), send with the `send_*` methods, and
/// write out what [`output`](Self::output) returns.
///
/// ```
/// use wsock_core::{Config, Connection, Event, Role};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked text frame "Hi" from a client.
/// server.feed(&[0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2]);
/// assert_eq!(server.poll_event().unwrap(), Some(Event::Text("Hi")));
/// server.send_text("Hi back").unwrap();
/// assert_eq!(&server.output()[2..], b"Hi back");
/// ```
pub struct Connection {
    input: Input,
    core: Core,
}

/// Everything but the received bytes, so events can borrow those while
/// the protocol state changes.
struct Core {
    role: Role,
    config: Config,
    state: State,
    failed: bool,
    eof: bool,
    protocol: Option<String>,
    stats: Stats,
    extensions: Extensions,
    #[cfg(feature = "deflate")]
    codec: Option<crate::deflate::codec::Codec>,
    /// Compressed output of the message being sent, before framing.
    #[cfg(feature = "deflate")]
    deflated: Vec<u8>,
    /// The message being sent in fragments is compressed.
    #[cfg(feature = "deflate")]
    sending_compressed: bool,

    frame: Option<InFrame>,
    message: Option<InMessage>,
    utf8: Utf8Validator,
    mode: ReceiveMode,
    release: Release,
    /// The data message the last event handed out whole, for
    /// `take_message`.
    whole: Option<DataKind>,
    pending_error: Option<Error>,
    close_received: bool,

    out: Output,
    pending_pong: Option<([u8; MAX_CONTROL_PAYLOAD], u8)>,
    sending: Option<DataKind>,
    send_utf8: Utf8Validator,
    mask_source: Option<MaskSource>,

    timers: TimerTable,
    traffic: Traffic,
    /// A timer ended the connection (the close or keepalive timeout): the
    /// transport closes now, whatever output is left.
    timed_out: bool,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.core.role)
            .field("state", &self.core.state)
            .field("protocol", &self.core.protocol)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose client-side mask keys come from the operating
    /// system's random source.
    #[cfg(feature = "std")]
    pub fn new(role: Role, config: Config) -> Self {
        Self::with_mask_source(role, config, rand::random::<[u8; 4]>)
    }

    /// A connection with an explicit source of mask keys (used only by
    /// clients). For `no_std` targets, and deterministic tests. RFC 6455
    /// §5.3 requires keys an attacker cannot predict.
    pub fn with_mask_source(
        role: Role,
        config: Config,
        mask_source: impl FnMut() -> [u8; 4] + Send + 'static,
    ) -> Self {
        let mut core = Core {
            role,
            config,
            state: State::Open,
            failed: false,
            eof: false,
            protocol: None,
            stats: Stats::default(),
            extensions: Extensions::none(),
            #[cfg(feature = "deflate")]
            codec: None,
            #[cfg(feature = "deflate")]
            deflated: Vec::new(),
            #[cfg(feature = "deflate")]
            sending_compressed: false,
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            mode: ReceiveMode::Message,
            release: Release::Nothing,
            whole: None,
            pending_error: None,
            close_received: false,
            out: Output::default(),
            pending_pong: None,
            sending: None,
            send_utf8: Utf8Validator::new(),
            mask_source: Some(Box::new(mask_source)),
            timers: TimerTable::default(),
            traffic: Traffic::default(),
            timed_out: false,
        };
        core.start_timers();
        Self {
            input: Input::default(),
            core,
        }
    }

    /// Records the subprotocol the handshake settled on, for
    /// [`protocol`](Self::protocol).
    pub fn with_protocol(mut self, protocol: Option<String>) -> Self {
        self.core.protocol = protocol;
        self
    }

    /// Puts the extensions the handshake negotiated in force (from
    /// [`Response::negotiated_extensions`](crate::handshake::client::Response::negotiated_extensions)
    /// or [`Request::negotiated_extensions`](crate::handshake::server::Request::negotiated_extensions)).
    /// Without this call, no extension is in force and RSV bits fail the
    /// connection (1002).
    pub fn with_extensions(mut self, extensions: Extensions) -> Self {
        self.core.extensions = extensions;
        #[cfg(feature = "deflate")]
        {
            let (role, config) = (self.core.role, &self.core.config.deflate);
            self.core.codec = extensions
                .deflate()
                .map(|p| crate::deflate::codec::Codec::new(*p, role, config));
        }
        self
    }

    /// The extensions in force.
    pub fn extensions(&self) -> Extensions {
        self.core.extensions
    }

    /// Bytes of permessage-deflate state (zlib's windows and tables) this
    /// connection holds now; 0 without deflate. See
    /// [`DeflateConfig`](crate::config::DeflateConfig) for the figures and
    /// how to cap them.
    #[cfg(feature = "deflate")]
    pub fn deflate_memory(&self) -> usize {
        self.core
            .codec
            .as_ref()
            .map_or(0, crate::deflate::codec::Codec::memory)
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.core.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The negotiated subprotocol, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.core.protocol.as_deref()
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.core.state
    }

    /// Traffic counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The error the next [`poll_event`](Self::poll_event) reports first,
    /// when a timer already failed the connection (keepalive or close
    /// timeout). Lets an adapter's sending side, which does not take
    /// events, learn why the connection ended.
    pub fn pending_error(&self) -> Option<&Error> {
        self.core.pending_error.as_ref()
    }

    /// Chooses how the next data message is handed out.
    pub fn set_receive_mode(&mut self, mode: ReceiveMode) {
        self.core.mode = mode;
    }

    /// The receive mode in force.
    pub fn receive_mode(&self) -> ReceiveMode {
        self.core.mode
    }

    // ------------------------------------------------------------ input

    /// Copies received bytes into the read buffer. To avoid the copy, read
    /// into [`input_buffer`](Self::input_buffer) instead.
    pub fn feed(&mut self, data: &[u8]) {
        self.apply_release();
        self.input.push(data);
        self.note_received(data.len());
    }

    /// Free space at the end of the read buffer: read from the transport
    /// into it, then call [`commit_input`](Self::commit_input).
    ///
    /// Offers `read_buffer_size` bytes (more, up to 64 KiB, while reads keep
    /// filling the offer), more while a frame that must be
    /// held whole is arriving. Growth follows the bytes that actually
    /// arrived (it at most doubles the buffered amount), never a header's
    /// promise, so a peer announcing huge frames costs nothing until it
    /// sends them.
    pub fn input_buffer(&mut self) -> &mut [u8] {
        self.apply_release();
        let wanted = self.bytes_wanted();
        self.input.offer(wanted, self.core.config.read_buffer_size)
    }

    /// Marks `n` bytes of [`input_buffer`](Self::input_buffer) as received.
    ///
    /// A read that fills the whole offer doubles the next offer (up to
    /// 64 KiB), so a busy connection makes few large reads; a read of less
    /// than half of it halves it back toward `read_buffer_size`.
    pub fn commit_input(&mut self, n: usize) {
        let n = self.input.commit(n, self.core.config.read_buffer_size);
        self.note_received(n);
    }

    /// The size a read is offered: `read_buffer_size`, more while busy.
    fn read_chunk(&self) -> usize {
        self.input.read_chunk(self.core.config.read_buffer_size)
    }

    /// Counts `n` received bytes (already in the read buffer) as traffic.
    fn note_received(&mut self, n: usize) {
        self.core.stats.bytes_received += n as u64;
        if n > 0 {
            self.core.traffic.keepalive = true;
            self.core.traffic.idle = true;
        }
    }

    /// The transport reached end of stream. Without a completed closing
    /// handshake this is an abnormal closure (1006), reported by
    /// [`poll_event`](Self::poll_event) after any buffered events.
    pub fn receive_eof(&mut self) {
        self.core.eof = true;
    }

    /// Whether reading from the transport is useful now.
    pub fn wants_read(&self) -> bool {
        !self.core.eof && !self.core.failed && !self.should_close_transport()
    }

    /// How many more bytes the current unit (a header, a control frame, or
    /// an in-place message) needs before it can be handed out.
    fn bytes_wanted(&self) -> usize {
        let have = self.input.available();
        match self.core.frame {
            Some(f) if f.in_place || f.header.opcode.is_control() => {
                (f.header.payload_len as usize).saturating_sub(have)
            }
            _ => 0,
        }
    }

    /// The next event, or `Ok(None)` when more input is needed (or nothing
    /// more will come: check [`state`](Self::state)).
    ///
    /// An error means the connection failed: a close frame with the
    /// error's close code is queued (write out [`output`](Self::output)),
    /// then the transport should be closed.
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.apply_release();
        if let Some(err) = self.core.pending_error.take() {
            return Err(err);
        }
        loop {
            if self.core.close_received || self.core.failed {
                return Ok(None);
            }
            match self.step() {
                Ok(Step::Again) => {}
                Ok(Step::NeedMore) if self.core.eof => {
                    self.core.out.clear();
                    return Err(self.core.fail(Error::AbnormalClose));
                }
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Emit(emit)) => return self.emit(emit),
                Err(err) => return Err(self.core.fail(err)),
            }
        }
    }

    /// The data message [`poll_event`](Self::poll_event) just returned as
    /// [`Event::Text`] or [`Event::Binary`], as an owned
    /// [`Message`](crate::Message). A message gathered from several reads
    /// or frames (a large or fragmented one, or an inflated one) is moved
    /// out, not copied; a small one is copied from the read buffer. `None`
    /// after any other event or call, or once taken.
    ///
    /// ```
    /// use wsock_core::{Config, Connection, Event, Message, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.feed(&[0x82, 0x82, 1, 2, 3, 4, 7 ^ 1, 8 ^ 2]);
    /// assert!(matches!(server.poll_event(), Ok(Some(Event::Binary(_)))));
    /// assert_eq!(server.take_message(), Some(Message::Binary(vec![7, 8])));
    /// assert_eq!(server.take_message(), None);
    /// ```
    pub fn take_message(&mut self) -> Option<crate::Message> {
        use crate::Message;
        let kind = self.core.whole.take()?;
        let data = match self.core.release {
            Release::Message => core::mem::take(&mut self.input.message),
            Release::Input(len) => match kind {
                DataKind::Text => {
                    let text = crate::utf8::validate(self.input.bytes(0, len)).ok()?;
                    return Some(Message::Text(text.into()));
                }
                DataKind::Binary => self.input.bytes(0, len).to_vec(),
            },
            Release::Nothing => return None,
        };
        Some(match kind {
            // Validated when handed out: this cannot fail.
            DataKind::Text => Message::Text(String::from_utf8(data).ok()?),
            DataKind::Binary => Message::Binary(data),
        })
    }

    fn apply_release(&mut self) {
        self.core.whole = None;
        match core::mem::replace(&mut self.core.release, Release::Nothing) {
            Release::Nothing => {}
            Release::Input(n) => self.input.consume(n, self.read_chunk()),
            Release::Message => self.input.clear_message(self.core.config.read_buffer_size),
        }
    }

    /// Decodes as far as the buffered bytes allow, up to one event.
    fn step(&mut self) -> Result<Step, Error> {
        let frame = match self.core.frame {
            Some(frame) => frame,
            None => match FrameHeader::decode(self.input.bytes(0, self.input.available()))? {
                None => return Ok(Step::NeedMore),
                Some((header, len)) => {
                    self.input.consume(len, self.read_chunk());
                    self.core.stats.frames_received += 1;
                    self.core.start_frame(header)?
                }
            },
        };
        if frame.header.opcode.is_control() {
            self.control_frame(frame.header)
        } else {
            self.data_frame(frame)
        }
    }

    fn control_frame(&mut self, header: FrameHeader) -> Result<Step, Error> {
        let len = header.payload_len as usize;
        if self.input.available() < len {
            return Ok(Step::NeedMore);
        }
        if let Some(key) = header.mask {
            apply_mask(self.input.bytes_mut(0, len), key, 0);
        }
        self.core.frame = None;
        self.core.release = Release::Input(len);
        Ok(Step::Emit(match header.opcode {
            OpCode::Ping => {
                self.core.stats.pings_received += 1;
                if self.core.config.auto_pong && self.core.state == State::Open {
                    let mut payload = [0; MAX_CONTROL_PAYLOAD];
                    payload[..len].copy_from_slice(self.input.bytes(0, len));
                    self.core.pending_pong = Some((payload, len as u8));
                    self.core.flush_pong();
                }
                Emit::Ping { len }
            }
            OpCode::Pong => {
                self.core.stats.pongs_received += 1;
                Emit::Pong { len }
            }
            _ => {
                let frame = CloseFrame::parse(self.input.bytes(0, len))?;
                self.core.close_received = true;
                if self.core.state == State::Open {
                    let code = frame.as_ref().map(|f| f.code);
                    self.core.queue_close(code, "");
                }
                self.core.enter_closed();
                Emit::Close(frame)
            }
        }))
    }

    fn data_frame(&mut self, mut frame: InFrame) -> Result<Step, Error> {
        let Some(mut message) = self.core.message else {
            return Err(Error::InvalidState("data frame without message"));
        };
        let len = frame.header.payload_len;
        let available = self.input.available() as u64;

        // Switching to stream mode mid-message: hand out what was gathered.
        if self.core.mode == ReceiveMode::Stream && !message.streaming {
            message.streaming = true;
            // Started only if something is handed out here.
            message.started = (frame.in_place && frame.done > 0)
                || (!frame.in_place && !self.input.message.is_empty());
            self.core.message = Some(message);
            if frame.in_place {
                frame.in_place = false;
                self.core.frame = Some(frame);
                if frame.done > 0 {
                    let len = frame.done as usize;
                    // The processed prefix is handed out; `done` stays, so
                    // unmasking continues at the right key offset.
                    self.core.release = Release::Input(len);
                    return Ok(Step::Emit(Emit::Chunk {
                        kind: message.kind,
                        offset: 0,
                        len,
                        from_message: false,
                        first: true,
                        last: false,
                    }));
                }
            } else if !self.input.message.is_empty() {
                self.core.release = Release::Message;
                let len = self.input.message.len();
                return Ok(Step::Emit(Emit::Chunk {
                    kind: message.kind,
                    offset: 0,
                    len,
                    from_message: true,
                    first: true,
                    last: false,
                }));
            }
        }

        #[cfg(feature = "deflate")]
        if message.compressed {
            return self.compressed_frame(frame, message);
        }

        if frame.in_place {
            let ready = available.min(len) as usize;
            let done = frame.done as usize;
            if ready > done {
                let piece = self.input.bytes_mut(done, ready - done);
                if let Some(key) = frame.header.mask {
                    apply_mask(piece, key, done);
                }
                // A frame that arrived whole is validated once, when handed out.
                if message.kind == DataKind::Text && !(done == 0 && ready == len as usize) {
                    self.core
                        .utf8
                        .feed(piece)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                frame.done = ready as u64;
                self.core.frame = Some(frame);
            }
            if frame.done < len {
                return Ok(Step::NeedMore);
            }
            self.core.finish_frame(frame);
            self.core.release = Release::Input(len as usize);
            let len = len as usize;
            return Ok(Step::Emit(match message.kind {
                DataKind::Text => Emit::Text { len },
                DataKind::Binary => Emit::Binary { len },
            }));
        }

        let n = available.min(len - frame.done) as usize;
        if n > 0 {
            let piece = self.input.bytes_mut(0, n);
            if let Some(key) = frame.header.mask {
                apply_mask(piece, key, frame.done as usize);
            }
            if message.kind == DataKind::Text {
                self.core
                    .utf8
                    .feed(piece)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            frame.done += n as u64;
            self.core.frame = Some(frame);
        }
        let frame_complete = frame.done == len;
        let last = frame_complete && frame.header.fin;
        if last && message.kind == DataKind::Text {
            self.core
                .utf8
                .finish()
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if frame_complete {
            self.core.finish_frame(frame);
        }

        if message.streaming {
            if n == 0 && !last {
                return Ok(if frame_complete {
                    Step::Again
                } else {
                    Step::NeedMore
                });
            }
            let first = !message.started;
            if let Some(m) = self.core.message.as_mut() {
                m.started = true;
            }
            self.core.release = Release::Input(n);
            return Ok(Step::Emit(Emit::Chunk {
                kind: message.kind,
                offset: 0,
                len: n,
                from_message: false,
                first,
                last,
            }));
        }

        let keep = self.read_chunk();
        self.input.gather(n, len - frame.done, keep);
        if !last {
            return Ok(if frame_complete {
                Step::Again
            } else {
                Step::NeedMore
            });
        }
        self.core.release = Release::Message;
        Ok(Step::Emit(match message.kind {
            DataKind::Text => Emit::MessageText,
            DataKind::Binary => Emit::MessageBinary,
        }))
    }

    /// A frame of a compressed message (RFC 7692 §7.2.2): unmask what
    /// arrived, inflate it in bounded steps into the message buffer, and
    /// restore the `00 00 ff ff` tail after the final frame. The inflated
    /// size is checked against `max_message_size` after every step, and
    /// memory grows only with output actually produced.
    #[cfg(feature = "deflate")]
    fn compressed_frame(
        &mut self,
        mut frame: InFrame,
        mut message: InMessage,
    ) -> Result<Step, Error> {
        /// Most inflated bytes per [`Event::Chunk`] in stream mode.
        const STREAM_CHUNK: u64 = 16 * 1024;
        let Some(codec) = self.core.codec.as_mut() else {
            return Err(Error::InvalidState("compressed message without deflate"));
        };
        let len = frame.header.payload_len;
        let n = (self.input.available() as u64).min(len - frame.done) as usize;
        if n > frame.unmasked {
            if let Some(key) = frame.header.mask {
                let offset = frame.done as usize + frame.unmasked;
                apply_mask(
                    self.input.bytes_mut(frame.unmasked, n - frame.unmasked),
                    key,
                    offset,
                );
            }
            frame.unmasked = n;
        }
        let max = self.core.config.max_message_size as u64;
        let cap = if message.streaming {
            STREAM_CHUNK
        } else {
            u64::MAX
        };
        // One byte past the limit, so passing it is seen.
        let room = max
            .saturating_add(1)
            .saturating_sub(message.inflated)
            .min(cap)
            .min(usize::MAX as u64) as usize;
        let Input {
            buf,
            start,
            message: out,
            ..
        } = &mut self.input;
        let before = out.len();
        // Every inflated byte is validated before any other error is
        // reported, so the error does not depend on how the input was
        // split into reads (the same bytes may come out in one step or
        // over several).
        let text = message.kind == DataKind::Text;
        let utf8 = &mut self.core.utf8;
        let mut check_text = |out: &[u8]| {
            if text {
                utf8.feed(out).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            Ok::<(), Error>(())
        };
        let (used, mut full) = match codec.inflater.inflate(&buf[*start..*start + n], out, room) {
            Ok(r) => r,
            Err(err) => {
                check_text(&out[before..])?;
                return Err(err);
            }
        };
        frame.done += used as u64;
        frame.unmasked -= used;
        let payload_done = frame.done == len;
        if payload_done && frame.header.fin && !full {
            let room = room - (out.len() - before);
            let tail = &crate::deflate::codec::TAIL[frame.tail as usize..];
            let (used, tail_full) = match codec.inflater.inflate(tail, out, room) {
                Ok(r) => r,
                Err(err) => {
                    check_text(&out[before..])?;
                    return Err(err);
                }
            };
            frame.tail += used as u8;
            full = tail_full;
        }
        check_text(&out[before..])?;
        let produced = out.len() - before;
        self.input.consume(used, self.core.config.read_buffer_size);
        message.inflated += produced as u64;
        check_limit(
            Limit::MessageSize,
            message.inflated,
            self.core.config.max_message_size,
        )?;
        let complete = payload_done && frame.header.fin && frame.tail == 4 && !full;
        if complete {
            codec.inflater.end_message();
            if message.kind == DataKind::Text {
                self.core
                    .utf8
                    .finish()
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        let first = !message.started;
        message.started |= message.streaming && produced > 0;
        self.core.message = Some(message);
        if complete || (payload_done && !frame.header.fin) {
            self.core.finish_frame(frame);
        } else {
            self.core.frame = Some(frame);
        }
        let more = if payload_done {
            Step::Again
        } else {
            Step::NeedMore
        };
        if message.streaming {
            if produced == 0 && !complete {
                return Ok(more);
            }
            self.core.release = Release::Message;
            return Ok(Step::Emit(Emit::Chunk {
                kind: message.kind,
                offset: before,
                len: produced,
                from_message: true,
                first,
                last: complete,
            }));
        }
        if !complete {
            return Ok(more);
        }
        self.core.release = Release::Message;
        Ok(Step::Emit(match message.kind {
            DataKind::Text => Emit::MessageText,
            DataKind::Binary => Emit::MessageBinary,
        }))
    }

    /// Turns a step's positions into a borrowed event. Text handed out
    /// whole is validated here, once.
    fn emit(&mut self, emit: Emit) -> Result<Option<Event<'_>>, Error> {
        self.core.whole = match emit {
            Emit::Text { .. } | Emit::MessageText => Some(DataKind::Text),
            Emit::Binary { .. } | Emit::MessageBinary => Some(DataKind::Binary),
            _ => None,
        };
        let input = &self.input;
        let event = match emit {
            Emit::Text { len } => match crate::utf8::validate(input.bytes(0, len)) {
                Ok(text) => Event::Text(text),
                Err(_) => return Err(self.core.fail(ProtocolError::InvalidUtf8.into())),
            },
            Emit::MessageText => match crate::utf8::validate(&input.message) {
                Ok(text) => Event::Text(text),
                Err(_) => return Err(self.core.fail(ProtocolError::InvalidUtf8.into())),
            },
            Emit::Binary { len } => Event::Binary(input.bytes(0, len)),
            Emit::MessageBinary => Event::Binary(&input.message),
            Emit::Chunk {
                kind,
                offset,
                len,
                from_message,
                first,
                last,
            } => {
                let data = if from_message {
                    &input.message[offset..offset + len]
                } else {
                    input.bytes(offset, len)
                };
                Event::Chunk {
                    kind,
                    data,
                    first,
                    last,
                }
            }
            Emit::Ping { len } => Event::Ping(input.bytes(0, len)),
            Emit::Pong { len } => Event::Pong(input.bytes(0, len)),
            Emit::Close(frame) => Event::Close(frame),
        };
        Ok(Some(event))
    }

    // ------------------------------------------------------------ output

    /// Queues a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.core.send_message(DataKind::Text, text.as_bytes())
    }

    /// Queues a whole binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.core.send_message(DataKind::Binary, data)
    }

    /// Queues the next piece of a message sent in fragments. The first call
    /// starts the message; the call with `last = true` ends it. Text pieces
    /// may split code points; the whole must be valid UTF-8, checked as it
    /// goes. Control frames may be sent between pieces.
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], last: bool) -> Result<(), Error> {
        self.core.send_fragment(kind, data, last)
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (payload at most 125 bytes). Unsolicited pongs serve
    /// as a one-way heartbeat (§5.5.3).
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.core.send_control(OpCode::Pong, payload)
    }

    /// Queues a [`Message`](crate::Message) it may keep: a text or binary
    /// payload of 2 KiB or more is not copied but written out from its own
    /// buffer (see [`output_slices`](Self::output_slices)), and a client
    /// masks it in place. Otherwise the same as [`send`](Self::send).
    pub fn send_owned(&mut self, message: crate::Message) -> Result<(), Error> {
        use crate::Message;
        match message {
            Message::Text(text) => self.core.send_owned(DataKind::Text, text.into_bytes()),
            Message::Binary(data) => self.core.send_owned(DataKind::Binary, data),
            other => self.send(&other),
        }
    }

    /// Queues an owned [`Message`](crate::Message): data, ping, pong, or
    /// close (`Close(None)` closes with 1000).
    pub fn send(&mut self, message: &crate::Message) -> Result<(), Error> {
        use crate::Message;
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
            Message::Ping(payload) => self.ping(payload),
            Message::Pong(payload) => self.pong(payload),
            Message::Close(None) => self.close(CloseCode::NORMAL, ""),
            Message::Close(Some(frame)) => self.close(frame.code, &frame.reason),
        }
    }

    /// Starts the closing handshake: queues a close frame after everything
    /// queued so far. Received messages are still delivered until the
    /// peer's close arrives.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core.start_close(code, reason)
    }

    /// Bytes ready to be written to the transport, oldest first. Write some
    /// or all, then call [`consume_output`](Self::consume_output).
    pub fn output(&mut self) -> &[u8] {
        self.core.flush_pong();
        self.core.out.front()
    }

    /// All of [`output`](Self::output) and what follows it, as up to
    /// `dst.len()` slices in order, for one vectored write; returns how many
    /// slices it filled. Large payloads sent with
    /// [`send_owned`](Self::send_owned) are slices of their own, written
    /// from the buffer they came in. Then call
    /// [`consume_output`](Self::consume_output) with the bytes written.
    pub fn output_slices<'a>(&'a mut self, dst: &mut [&'a [u8]]) -> usize {
        self.core.flush_pong();
        self.core.out.slices(dst)
    }

    /// Marks the first `n` bytes of [`output`](Self::output) as written.
    pub fn consume_output(&mut self, n: usize) {
        let keep = self.core.config.write_buffer_size.saturating_mul(2);
        let n = self.core.out.consume(n, keep);
        self.core.stats.bytes_sent += n as u64;
    }

    /// Moves all pending output to the end of `buf`, including a pong that
    /// was held back while the output was over `write_buffer_size`.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) {
        while self.wants_write() {
            let piece = self.output();
            let n = piece.len();
            buf.extend_from_slice(piece);
            self.consume_output(n);
        }
    }

    /// Bytes queued for the transport and not yet consumed.
    pub fn buffered_output(&self) -> usize {
        self.core.out.len()
    }

    /// Whether there is anything to write.
    pub fn wants_write(&self) -> bool {
        self.core.buffered_output() > 0 || self.core.pending_pong.is_some()
    }

    /// Whether the adapter should close the transport now: the closing
    /// handshake is over (or failed, or timed out) and the output is
    /// written. A server closes first; a client waits for the server's
    /// end of stream or the close timeout (§7.1.1).
    pub fn should_close_transport(&self) -> bool {
        self.core.should_close_transport()
    }

    /// Frees buffers that hold nothing, for connections about to sit idle.
    pub fn shrink_buffers(&mut self) {
        self.apply_release();
        self.input.free_if_empty(self.core.frame.is_some());
        self.core.out.free_if_empty();
    }

    // ------------------------------------------------------------ time

    /// The next moment [`handle_timeout`](Self::handle_timeout) must be
    /// called, on the caller's clock (see there), or `None` when no timer
    /// runs. A moment at or before the last `now` means "now": a timer
    /// needs to learn the current time to start.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.next_timeout()
    }

    /// Advances the timers to `now`: the time elapsed since any fixed
    /// origin the caller chooses (for example `start.elapsed()` of a
    /// `std::time::Instant`), never decreasing. Sends keepalive pings, and
    /// fails the connection when the keepalive, idle or close timeout
    /// passes. Cheap; call it whenever convenient as well as at the
    /// deadline. The idle timer counts from the last call that found newly
    /// received bytes, so an adapter using
    /// [`Config::idle_timeout`](crate::Config::idle_timeout) calls it after
    /// each read.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.advance_timers(now);
    }
}

impl Core {
    /// Checks a new frame's header against the role, extensions, limits and
    /// fragmentation state (§5.1–§5.4), and starts it.
    fn start_frame(&mut self, header: FrameHeader) -> Result<InFrame, Error> {
        // RSV1 marks a compressed message: only on its first frame (RFC
        // 7692 §6.1), and only when an extension owns the bit.
        let compressed = header.rsv & RSV1 != 0;
        let first_data = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        if header.rsv & !self.extensions.reserved_bits() != 0 || (compressed && !first_data) {
            return Err(ProtocolError::ReservedBits(header.rsv).into());
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame.into()),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame.into()),
            _ => {}
        }
        let len = header.payload_len;
        check_limit(Limit::FrameSize, len, self.config.max_frame_size)?;
        let mut in_place = false;
        match (header.opcode, self.message.as_mut()) {
            (OpCode::Continuation, None) => {
                return Err(ProtocolError::UnexpectedContinuation.into());
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation.into());
            }
            (OpCode::Continuation, Some(message)) => {
                message.size += len;
                check_limit(
                    Limit::MessageSize,
                    message.size,
                    self.config.max_message_size,
                )?;
            }
            (OpCode::Text | OpCode::Binary, None) => {
                check_limit(Limit::MessageSize, len, self.config.max_message_size)?;
                let kind = if header.opcode == OpCode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let streaming = self.mode == ReceiveMode::Stream;
                in_place = header.fin && !streaming && !compressed && len <= IN_PLACE_MAX;
                self.message = Some(InMessage {
                    kind,
                    streaming,
                    size: len,
                    started: false,
                    compressed,
                    inflated: 0,
                });
                self.utf8.reset();
            }
            _ => {}
        }
        let frame = InFrame {
            header,
            done: 0,
            in_place,
            unmasked: 0,
            tail: 0,
        };
        self.frame = Some(frame);
        Ok(frame)
    }

    /// The current frame is fully processed; a final frame ends its message.
    fn finish_frame(&mut self, frame: InFrame) {
        self.frame = None;
        if frame.header.fin {
            self.message = None;
            self.stats.messages_received += 1;
        }
    }
}

fn check_limit(limit: Limit, size: u64, max: usize) -> Result<(), Error> {
    if size > max as u64 {
        return Err(CapacityError {
            limit,
            size,
            max: max as u64,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
