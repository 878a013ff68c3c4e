//! Helpers shared by the wsock fuzz targets: input chunking, owned events,
//! a checker for the order of stream-mode chunks, and a decoder for what a
//! connection wrote (to check its output is valid RFC 6455).

use wsock_core::__internals::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, apply_mask};
use wsock_core::CloseFrame;
use wsock_core::{
    CapacityError, Config, Connection, DataKind, Error, Event, HandshakeError, Message, Role, State,
};

/// Splits `data` into pieces whose lengths cycle through `lens`
/// (multiplied by `scale`). A zero length gives an empty piece (the core
/// must cope with empty reads). No lengths, or only zeros: one piece.
pub fn chunks<'a>(data: &'a [u8], lens: &[u8], scale: usize) -> Vec<&'a [u8]> {
    if lens.iter().all(|&l| l == 0) {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    for &len in lens.iter().cycle() {
        let n = (len as usize * scale.max(1)).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        out.push(piece);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// Reads `[count][count lengths]` from the front of `data` (count is taken
/// modulo 32); returns the lengths and the rest.
pub fn take_lens(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        None => (&[], &[]),
        Some((&k, rest)) => rest.split_at((k as usize % 32).min(rest.len())),
    }
}

/// An owned [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Chunk {
        kind: DataKind,
        data: Vec<u8>,
        first: bool,
        last: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseFrame>),
}

impl Ev {
    pub fn own(event: &Event) -> Self {
        match event {
            Event::Message(Message::Text(t)) => Self::Text(t.to_string()),
            Event::Message(Message::Binary(b)) => Self::Binary(b.to_vec()),
            Event::Chunk {
                kind,
                data,
                first,
                last,
            } => Self::Chunk {
                kind: *kind,
                data: data.to_vec(),
                first: *first,
                last: *last,
            },
            Event::Message(Message::Ping(p)) => Self::Ping(p.to_vec()),
            Event::Message(Message::Pong(p)) => Self::Pong(p.to_vec()),
            Event::Message(Message::Close(c)) => Self::Close(c.clone()),
            other => panic!("unknown event {other:?}"),
        }
    }
}

/// Checks the order of events: stream-mode chunks of one message form a
/// run that starts with `first`, ends with `last`, keeps its kind, and no
/// whole message appears inside the run; nothing follows a close.
#[derive(Debug, Default)]
pub struct EventChecker {
    streaming: Option<DataKind>,
    closed: bool,
    /// Stream-mode message bytes so far.
    gathered: Vec<u8>,
}

impl EventChecker {
    /// Checks `ev`; returns the whole message when `ev` ends a streamed
    /// one (chunks joined), or `ev` itself for anything else.
    /// The application skipped the rest of the message in progress: a
    /// streamed run ends without its `last` chunk.
    pub fn skip_message(&mut self) {
        self.streaming = None;
        self.gathered.clear();
    }

    pub fn check(&mut self, ev: Ev, config: &Config) -> Option<Ev> {
        assert!(!self.closed, "event after the peer's close: {ev:?}");
        match ev {
            Ev::Chunk {
                kind,
                data,
                first,
                last,
            } => {
                assert!(data.len() <= config.max_frame_size.max(config.max_message_size));
                match self.streaming {
                    // regressions::stream_switch_before_payload_marks_first_chunk
                    None => assert!(first, "first chunk of a message without `first`"),
                    Some(k) => {
                        assert!(!first, "`first` chunk inside a message");
                        assert_eq!(k, kind, "chunk kind changed inside a message");
                    }
                }
                self.gathered.extend_from_slice(&data);
                assert!(self.gathered.len() <= config.max_message_size);
                if last {
                    self.streaming = None;
                    let bytes = core::mem::take(&mut self.gathered);
                    return Some(match kind {
                        DataKind::Text => {
                            Ev::Text(String::from_utf8(bytes).expect("streamed text is not UTF-8"))
                        }
                        DataKind::Binary => Ev::Binary(bytes),
                    });
                }
                self.streaming = Some(kind);
                None
            }
            Ev::Text(ref t) => {
                assert!(
                    self.streaming.is_none(),
                    "whole message inside a streamed one"
                );
                assert!(t.len() <= config.max_message_size);
                Some(ev)
            }
            Ev::Binary(ref b) => {
                assert!(
                    self.streaming.is_none(),
                    "whole message inside a streamed one"
                );
                assert!(b.len() <= config.max_message_size);
                Some(ev)
            }
            Ev::Ping(ref p) | Ev::Pong(ref p) => {
                assert!(p.len() <= MAX_CONTROL_PAYLOAD);
                Some(ev)
            }
            Ev::Close(ref c) => {
                if let Some(c) = c {
                    assert!(c.code.is_allowed_on_wire());
                    assert!(c.reason.len() <= 123);
                }
                self.closed = true;
                Some(ev)
            }
        }
    }
}

/// Polls every event available now. Returns the checked events (streamed
/// messages joined) and the error that ended the list, if any.
pub fn drain(conn: &mut Connection, checker: &mut EventChecker) -> (Vec<Ev>, Option<Error>) {
    let config = conn.config().clone();
    let mut events = Vec::new();
    // Each event consumes input or ends a message, so this is bounded by
    // the input; the cap only turns a core livelock into a crash.
    for _ in 0..1_000_000 {
        match conn.poll_event() {
            Ok(Some(event)) => {
                let ev = Ev::own(&event);
                events.extend(checker.check(ev, &config));
            }
            Ok(None) => return (events, None),
            Err(err) => {
                // After an error the connection is over.
                assert_eq!(
                    conn.state(),
                    State::Closed,
                    "error {err:?} left the connection open"
                );
                assert!(
                    matches!(conn.poll_event(), Ok(None)),
                    "events after error {err:?}"
                );
                return (events, Some(err));
            }
        }
    }
    panic!("poll_event never returned None");
}

/// One frame of a connection's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    /// RSV bits (only ever set by [`parse_wire_ext`]).
    pub rsv: u8,
    pub opcode: OpCode,
    pub payload: Vec<u8>,
}

/// Decodes bytes a connection with role `writer` wrote: every complete
/// frame (unmasked), and how many bytes of a last incomplete one follow.
/// Panics on anything a correct writer never produces: bad masking, RSV
/// bits, non-minimal lengths, invalid close payloads, or any frame after
/// a close frame.
pub fn parse_wire(bytes: &[u8], writer: Role) -> (Vec<WireFrame>, usize) {
    parse_wire_ext(bytes, writer, 0)
}

/// [`parse_wire`] for a writer with extensions that own the RSV bits
/// `owned` (`RSV1` for permessage-deflate): those may be set, on the first
/// frame of a data message only (RFC 7692 §6.1).
pub fn parse_wire_ext(mut bytes: &[u8], writer: Role, owned: u8) -> (Vec<WireFrame>, usize) {
    let mut frames: Vec<WireFrame> = Vec::new();
    loop {
        let header = match FrameHeader::decode(bytes) {
            Ok(Some((header, len))) => {
                let payload_len = header.payload_len as usize;
                if bytes.len() < len + payload_len {
                    return (frames, bytes.len());
                }
                let mut payload = bytes[len..len + payload_len].to_vec();
                bytes = &bytes[len + payload_len..];
                assert_eq!(header.rsv & !owned, 0, "unowned RSV bits in our output");
                assert!(
                    header.rsv == 0 || matches!(header.opcode, OpCode::Text | OpCode::Binary),
                    "RSV bits on a {:?} frame in our output",
                    header.opcode
                );
                assert_eq!(
                    header.mask.is_some(),
                    writer == Role::Client,
                    "wrong masking in our output"
                );
                assert_eq!(
                    header.encoded_len(),
                    len,
                    "non-minimal length encoding in our output"
                );
                if let Some(key) = header.mask {
                    apply_mask(&mut payload, key, 0);
                }
                (header, payload)
            }
            Ok(None) => return (frames, bytes.len()),
            Err(e) => panic!("our output has an invalid frame header: {e:?}"),
        };
        let (header, payload) = header;
        if let Some(last) = frames.last() {
            assert_ne!(
                last.opcode,
                OpCode::Close,
                "frame {:?} sent after a close frame",
                header.opcode
            );
        }
        if header.opcode == OpCode::Close {
            CloseFrame::parse(&payload).expect("our close frame is invalid");
        }
        frames.push(WireFrame {
            fin: header.fin,
            rsv: header.rsv,
            opcode: header.opcode,
            payload,
        });
    }
}

/// Feeds bytes written by a `writer` connection to a fresh connection of
/// the other role with roomy limits: a correct writer's output never makes
/// it fail. Returns what it saw.
pub fn peer_reads(bytes: &[u8], writer: Role) -> Vec<Ev> {
    let reader = match writer {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut peer = Connection::with_mask_source(reader, Config::default(), || [1, 2, 3, 4]);
    peer.feed(bytes);
    let (events, err) = drain(&mut peer, &mut EventChecker::default());
    assert!(err.is_none(), "our output makes a peer fail: {err:?}");
    events
}

/// A tiny deterministic mask-key source, so runs are reproducible.
pub fn mask_keys(seed: u8) -> impl FnMut() -> [u8; 4] + Send + 'static {
    let mut state = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state.to_le_bytes()
    }
}

/// A handshake error with a capacity error's `size` (the bytes seen when
/// the limit tripped, which depends on how the input was split) replaced
/// by the limit plus one, so errors can be compared across chunkings.
pub fn same_size(err: &HandshakeError) -> HandshakeError {
    match err {
        HandshakeError::Capacity(c) => {
            assert!(c.size > c.max, "capacity error within the limit: {c:?}");
            HandshakeError::Capacity(CapacityError {
                size: c.max + 1,
                ..*c
            })
        }
        other => other.clone(),
    }
}
