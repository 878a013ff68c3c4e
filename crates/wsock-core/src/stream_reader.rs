//! One incoming data message handed to the application as a byte stream:
//! what an adapter's streaming reader (an `io::Read` or `AsyncRead` over
//! one message) decides, without its I/O.

use bytes::Bytes;

use crate::connection::{Connection, ReceiveMode};
use crate::event::{DataKind, Event};
use crate::message::Message;

/// The receiving side's state for a message read as a byte stream, kept
/// between reads (and across the reader's lifetime) by the adapter.
///
/// A reader hands out the message's pieces ([`Event::Chunk`]) as they
/// arrive, into buffers of the caller's size, so three things outlive a
/// single read, and both adapters need them alike:
///
/// - the part of a piece the caller's buffer did not take, handed out by
///   the next [`read`](Self::read) before anything else is received;
/// - a reader that goes away before the end of its message: the rest of
///   that message must be discarded, not taken for the next message.
///   [`abandon`](Self::abandon) notes it, and the next
///   [`prepare`](Self::prepare) tells the connection
///   ([`Connection::skip_message`]);
/// - the peer's close frame met while waiting for a message or inside
///   one: the reader has no place for it, so it is kept for the next
///   whole-message receive ([`take_close`](Self::take_close)).
///
/// The adapter's loop: [`prepare`](Self::prepare) before polling the
/// connection, [`handle`](Self::handle) each event, [`read`](Self::read)
/// to copy out, and [`abandon`](Self::abandon) when the reader is dropped
/// or another receive starts.
///
/// ```
/// use wsock_core::{Config, Connection, DataKind, Role, StreamReader, StreamStep};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// let mut stream = StreamReader::new();
/// // A masked text frame "Hello" (RFC 6455 §5.7).
/// server.feed(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// stream.prepare(&mut server, wsock_core::ReceiveMode::Stream);
/// let event = server.poll_event()?.expect("a piece");
/// assert_eq!(stream.handle(event), Some(StreamStep::Started(DataKind::Text)));
/// let mut buf = [0u8; 3];
/// assert_eq!(stream.read(&mut buf), Some(3)); // "Hel"; "lo" is kept
/// assert_eq!(stream.read(&mut buf), Some(2));
/// assert_eq!(stream.read(&mut buf), Some(0)); // the end of the message
/// # Ok::<(), wsock_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct StreamReader {
    /// Received and not yet handed out.
    chunk: Bytes,
    phase: Phase,
    /// The peer's close frame, met while streaming, for the next
    /// whole-message receive.
    close: Option<Message>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No streamed message in hand.
    #[default]
    Idle,
    /// A message is being read; `ended`: nothing more of it will arrive
    /// (its last piece did, or the peer closed inside it).
    Open { kind: DataKind, ended: bool },
    /// Its reader went away before the end: the connection is told to
    /// skip the rest at the next [`StreamReader::prepare`].
    Skip,
}

/// What an event meant to a [`StreamReader`], from
/// [`handle`](StreamReader::handle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamStep {
    /// A data message began (no message was in hand): its first bytes, if
    /// any, wait for [`read`](StreamReader::read).
    Started(DataKind),
    /// More of the message in hand arrived, or its end: `read` again.
    Data,
    /// The peer's close frame: no more of any message will arrive. It is
    /// kept for [`take_close`](StreamReader::take_close); a message in
    /// hand ends unfinished.
    Closed,
}

impl StreamReader {
    /// No message in hand, nothing owed.
    pub const fn new() -> Self {
        Self {
            chunk: Bytes::new(),
            phase: Phase::Idle,
            close: None,
        }
    }

    /// Call on `conn` before each [`poll_event`](Connection::poll_event)
    /// of any receive: sets the receive `mode` and, if a reader was
    /// abandoned in the middle of its message, has the connection skip
    /// the rest of it.
    pub fn prepare(&mut self, conn: &mut Connection, mode: ReceiveMode) {
        conn.set_receive_mode(mode);
        if self.phase == Phase::Skip {
            conn.skip_message();
            self.phase = Phase::Idle;
        }
    }

    /// The reader of the message in hand is gone (dropped, or another
    /// receive starts): what it did not read is dropped, and if the
    /// message had not ended, the next [`prepare`](Self::prepare) skips
    /// the rest. Does nothing with no message in hand, so it may be
    /// called at the start of every receive.
    pub fn abandon(&mut self) {
        self.chunk = Bytes::new();
        self.phase = match self.phase {
            Phase::Open { ended: false, .. } | Phase::Skip => Phase::Skip,
            Phase::Open { ended: true, .. } | Phase::Idle => Phase::Idle,
        };
    }

    /// Takes an event the connection gave while streaming: call it only
    /// when [`read`](Self::read) found nothing left (`None`), or to start
    /// a message. `None`: the event is not the stream's (a ping, already
    /// answered, or a pong), or brought nothing to read; keep polling.
    pub fn handle(&mut self, event: Event) -> Option<StreamStep> {
        let (kind, data, last) = match event {
            Event::Chunk {
                kind, data, last, ..
            } => (kind, data, last),
            Event::Message(Message::Close(frame)) => {
                self.close = Some(Message::Close(frame));
                if let Phase::Open { ended, .. } = &mut self.phase {
                    *ended = true;
                }
                return Some(StreamStep::Closed);
            }
            // A whole message: the connection streams every message that
            // starts in stream mode, and the rest of one that started
            // gathered, but one gathered whole before the switch comes
            // out whole.
            Event::Message(Message::Text(text)) => (DataKind::Text, text.into_bytes(), true),
            Event::Message(Message::Binary(data)) => (DataKind::Binary, data, true),
            _ => return None,
        };
        // Otherwise nothing is in hand (a skip owed was applied before
        // the poll), and this piece starts a message.
        let continues = matches!(self.phase, Phase::Open { ended: false, .. });
        self.chunk = data;
        self.phase = Phase::Open { kind, ended: last };
        if continues {
            (!self.chunk.is_empty() || last).then_some(StreamStep::Data)
        } else {
            Some(StreamStep::Started(kind))
        }
    }

    /// Copies what was received of the message in hand into `buf`:
    /// `Some(n)` bytes, `n > 0`; `Some(0)` at its end (after a close inside
    /// it too, with nothing in hand, and for an empty `buf`, as
    /// `io::Read` does); `None` when nothing is left and more is to come:
    /// poll the connection and [`handle`](Self::handle) its events.
    pub fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let piece = self.read_bytes(buf.len())?;
        buf[..piece.len()].copy_from_slice(&piece);
        Some(piece.len())
    }

    /// [`read`](Self::read) without the copy: up to `max` bytes of what
    /// was received, split off as they are (for a caller whose buffer is
    /// not a plain `&mut [u8]`, such as tokio's `ReadBuf`). Empty at the
    /// end, `None` when more is to come.
    pub fn read_bytes(&mut self, max: usize) -> Option<Bytes> {
        if max == 0 || !self.chunk.is_empty() {
            return Some(self.chunk.split_to(max.min(self.chunk.len())));
        }
        match self.phase {
            Phase::Open { ended: false, .. } => None,
            _ => Some(Bytes::new()),
        }
    }

    /// The kind of the message in hand, if any.
    pub fn kind(&self) -> Option<DataKind> {
        match self.phase {
            Phase::Open { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// Whether nothing more of the message in hand will arrive: what is
    /// left to read is already here.
    pub fn is_complete(&self) -> bool {
        matches!(self.phase, Phase::Open { ended: true, .. })
    }

    /// Whether a close frame met while streaming waits for
    /// [`take_close`](Self::take_close): no message can follow it.
    pub fn has_close(&self) -> bool {
        self.close.is_some()
    }

    /// The peer's close frame met while streaming, once, as the message a
    /// whole-message receive returns.
    pub fn take_close(&mut self) -> Option<Message> {
        self.close.take()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::close::CloseFrame;
    use crate::connection::transmit_all;
    use crate::{Config, Fragmenter, Role};

    fn chunk(data: &[u8], first: bool, last: bool) -> Event {
        Event::Chunk {
            kind: DataKind::Binary,
            data: Bytes::copy_from_slice(data),
            first,
            last,
        }
    }

    /// Reads the message in hand to its end with reads of `sizes` (in
    /// turn), handing `events` in whenever the reader runs dry.
    fn read_all(
        stream: &mut StreamReader,
        events: &mut impl Iterator<Item = Event>,
        sizes: &[usize],
    ) -> Vec<u8> {
        let mut out = vec![];
        let mut buf = [0u8; 64];
        for size in sizes.iter().cycle() {
            let size = (*size).clamp(1, buf.len());
            match stream.read(&mut buf[..size]) {
                Some(0) => return out,
                Some(n) => out.extend_from_slice(&buf[..n]),
                None => loop {
                    let event = events.next().expect("the message ended early");
                    if stream.handle(event).is_some() {
                        break;
                    }
                },
            }
        }
        unreachable!("sizes is not empty")
    }

    #[test]
    fn each_step_in_turn() {
        // (events handed in, what `handle` says of the last one)
        let cases: &[(&[Event], Option<StreamStep>)] = &[
            (
                &[chunk(b"ab", true, false)],
                Some(StreamStep::Started(DataKind::Binary)),
            ),
            (
                &[Event::Message(Message::text("t"))],
                Some(StreamStep::Started(DataKind::Text)),
            ),
            (&[Event::Message(Message::ping(&b"p"[..]))], None),
            (&[chunk(b"ab", true, false), chunk(b"", false, false)], None),
            (
                &[chunk(b"ab", true, false), chunk(b"", false, true)],
                Some(StreamStep::Data),
            ),
            (
                &[chunk(b"ab", true, false), chunk(b"cd", false, false)],
                Some(StreamStep::Data),
            ),
            (
                &[Event::Message(Message::Close(None))],
                Some(StreamStep::Closed),
            ),
            (
                &[
                    chunk(b"ab", true, false),
                    Event::Message(Message::Close(None)),
                ],
                Some(StreamStep::Closed),
            ),
        ];
        for (events, step) in cases {
            let mut stream = StreamReader::new();
            let mut last = None;
            for event in events.iter().cloned() {
                last = stream.handle(event);
            }
            assert_eq!(last, *step, "{events:?}");
        }
    }

    #[test]
    fn the_rest_of_a_piece_waits_for_the_next_read() {
        let mut stream = StreamReader::new();
        assert_eq!(stream.read(&mut [0; 4]), Some(0)); // nothing in hand
        stream.handle(chunk(b"abcdef", true, false));
        let mut buf = [0u8; 4];
        assert_eq!(stream.read(&mut buf), Some(4));
        assert_eq!(&buf, b"abcd");
        assert_eq!(stream.read(&mut []), Some(0));
        assert_eq!(stream.read_bytes(1), Some(Bytes::from_static(b"e")));
        assert_eq!(stream.read(&mut buf), Some(1));
        assert_eq!(&buf[..1], b"f");
        assert_eq!(stream.read(&mut buf), None); // more to come
        assert!(!stream.is_complete());
        assert_eq!(
            stream.handle(chunk(b"g", false, true)),
            Some(StreamStep::Data)
        );
        assert!(stream.is_complete());
        assert_eq!(stream.read(&mut buf), Some(1));
        assert_eq!(stream.read(&mut buf), Some(0));
        assert_eq!(stream.read(&mut buf), Some(0));
    }

    #[test]
    fn a_close_inside_a_message_ends_it_and_is_kept() {
        let mut stream = StreamReader::new();
        stream.handle(chunk(b"ab", true, false));
        let frame = CloseFrame::new(1001, "bye");
        let close = Event::Message(Message::Close(Some(frame.clone())));
        assert_eq!(stream.handle(close), Some(StreamStep::Closed));
        assert!(stream.has_close());
        // What arrived before the close is still read, then the end.
        let mut buf = [0u8; 8];
        assert_eq!(stream.read(&mut buf), Some(2));
        assert_eq!(stream.read(&mut buf), Some(0));
        stream.abandon();
        assert_eq!(stream.take_close(), Some(Message::Close(Some(frame))));
        assert_eq!(stream.take_close(), None);
    }

    // A reader dropped half-way: the connection skips the rest, and the
    // next message (after a ping) is whole.
    #[test]
    fn an_abandoned_message_is_skipped_by_the_connection() {
        let mut config = Config::default();
        config.fragment_size = Some(4);
        let mut server = Connection::new(Role::Server, config.clone());
        let mut first = Fragmenter::new(&server, DataKind::Binary);
        first.write(&mut server, b"0123").unwrap();
        first.write(&mut server, b"4567").unwrap();
        first.flush(&mut server).unwrap();
        server.ping(b"p").unwrap();
        first.write(&mut server, b"89").unwrap();
        first.finish(&mut server).unwrap();
        server.send("next").unwrap();
        let mut wire = vec![];
        transmit_all(&mut server, &mut wire);

        let mut client = Connection::new(Role::Client, config);
        client.feed(&wire);
        let mut stream = StreamReader::new();
        stream.prepare(&mut client, ReceiveMode::Stream);
        let event = client.poll_event().unwrap().unwrap();
        assert_eq!(
            stream.handle(event),
            Some(StreamStep::Started(DataKind::Binary))
        );
        assert_eq!(stream.read(&mut [0; 2]), Some(2));
        stream.abandon();
        assert_eq!(stream.kind(), None);
        stream.prepare(&mut client, ReceiveMode::Message);
        assert_eq!(
            client.poll_event().unwrap(),
            Some(Event::Message(Message::ping(&b"p"[..])))
        );
        assert_eq!(
            client.poll_event().unwrap(),
            Some(Event::Message(Message::text("next")))
        );
        // Abandoning again, or with nothing in hand, owes nothing.
        stream.abandon();
        stream.prepare(&mut client, ReceiveMode::Message);
        assert_eq!(client.poll_event().unwrap(), None);
    }

    proptest! {
        // Any split of a message into pieces, read with any buffer sizes,
        // gives the message's bytes, then the end.
        #[test]
        fn any_pieces_and_read_sizes_give_the_same_bytes(
            message in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            sizes in proptest::collection::vec(1usize..70, 1..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(message.len())).collect();
            cuts.push(0);
            cuts.push(message.len());
            cuts.sort_unstable();
            let pieces: Vec<Event> = cuts
                .windows(2)
                .enumerate()
                .map(|(i, w)| chunk(&message[w[0]..w[1]], i == 0, w[1] == message.len() && i == cuts.len() - 2))
                .collect();
            let mut events = pieces.into_iter();
            let mut stream = StreamReader::new();
            let first = events.next().unwrap();
            prop_assert_eq!(stream.handle(first), Some(StreamStep::Started(DataKind::Binary)));
            prop_assert_eq!(read_all(&mut stream, &mut events, &sizes), message);
            prop_assert!(stream.is_complete());
        }

        // The same through two connections: a message written in any
        // pieces with a fragment size, received in any reads in stream
        // mode, read back with any buffer sizes.
        #[test]
        fn through_connections_any_split_gives_the_same_bytes(
            message in proptest::collection::vec(any::<u8>(), 0..2000),
            fragment in 1usize..300,
            write in 1usize..500,
            read_at in 1usize..700,
            sizes in proptest::collection::vec(1usize..70, 1..6),
        ) {
            let mut config = Config::default();
            config.fragment_size = Some(fragment);
            let mut server = Connection::new(Role::Server, config);
            let mut writer = Fragmenter::new(&server, DataKind::Binary);
            let mut rest = &message[..];
            while !rest.is_empty() {
                let n = writer.write(&mut server, &rest[..write.min(rest.len())]).unwrap();
                rest = &rest[n..];
            }
            writer.finish(&mut server).unwrap();
            let mut wire = vec![];
            transmit_all(&mut server, &mut wire);

            let mut client = Connection::new(Role::Client, Config::default());
            let mut stream = StreamReader::new();
            let mut input = wire.chunks(read_at);
            let mut got = vec![];
            let mut buf = [0u8; 70];
            let mut turn = 0;
            loop {
                let size = sizes[turn % sizes.len()];
                turn += 1;
                match stream.read(&mut buf[..size]) {
                    Some(0) if stream.kind().is_some() => break,
                    Some(0) | None => {}
                    Some(n) => {
                        got.extend_from_slice(&buf[..n]);
                        continue;
                    }
                }
                stream.prepare(&mut client, ReceiveMode::Stream);
                match client.poll_event().unwrap() {
                    Some(event) => {
                        stream.handle(event);
                    }
                    None => client.feed(input.next().expect("the message ended early")),
                }
            }
            prop_assert_eq!(got, message);
        }
    }
}
