//! One outgoing data message written as a byte stream, cut into fragments
//! of a set size: what an adapter's streaming writer (an `io::Write` or
//! `AsyncWrite` for one message) decides, without its I/O.

use alloc::vec::Vec;

use crate::utf8::Utf8Validator;
use crate::{Connection, DataKind, Error};

/// Gathers the bytes of one data message into fragments and queues each
/// on a [`Connection`] as it fills, so memory stays bounded by one
/// fragment however large the message is.
///
/// A fragment is [`Config::fragment_size`](crate::Config::fragment_size)
/// bytes or, when that is unset or 0, the
/// [`write_buffer_size`](crate::Config::write_buffer_size). A whole
/// fragment handed over with more bytes behind it is queued from the
/// caller's buffer, not gathered first; an exact last piece is kept, so
/// that [`finish`](Self::finish) sends it as the final frame rather than
/// adding an empty one. Text pieces may split code points; the message
/// must be valid UTF-8 as a whole, checked as it is taken: a
/// [`write`](Self::write) whose bytes cannot continue valid text fails
/// at once and takes nothing, even if they would only be gathered, so a
/// writer learns of bad input at the write that brought it.
///
/// ```
/// use wsock_core::{Config, Connection, DataKind, Fragmenter, Role};
///
/// let mut config = Config::default();
/// config.fragment_size = Some(4);
/// let mut conn = Connection::new(Role::Server, config);
/// let mut message = Fragmenter::new(&conn, DataKind::Binary);
/// assert_eq!(message.write(&mut conn, b"ab").unwrap(), 2); // gathered
/// assert_eq!(message.write(&mut conn, b"cdefghij").unwrap(), 2); // fills one
/// // Queues "abcd", then "efgh" straight from the caller's bytes.
/// assert_eq!(message.write(&mut conn, b"efghij").unwrap(), 4);
/// assert_eq!(message.write(&mut conn, b"ij").unwrap(), 2); // gathered
/// message.finish(&mut conn).unwrap(); // "ij", the final frame
/// assert_eq!(conn.stats().frames_sent, 3);
/// ```
#[derive(Debug)]
pub struct Fragmenter {
    kind: DataKind,
    buf: Vec<u8>,
    size: usize,
    finished: bool,
    /// A write took bytes: the message has begun, and ending it any way
    /// but [`finish`](Self::finish) leaves the peer half a message.
    started: bool,
    /// Text taken so far, checked before it is gathered (the connection
    /// checks it again as it frames it).
    utf8: Utf8Validator,
}

impl Fragmenter {
    /// A message of `kind`, in fragments of the size `conn`'s
    /// configuration sets.
    pub fn new(conn: &Connection, kind: DataKind) -> Self {
        let config = conn.config();
        let size = config
            .fragment_size
            .filter(|&n| n > 0)
            .unwrap_or(config.write_buffer_size)
            .max(1);
        Self {
            kind,
            buf: Vec::new(),
            size,
            finished: false,
            started: false,
            utf8: Utf8Validator::new(),
        }
    }

    /// Whether the message is text or binary.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether a write took bytes: from then on the message can only end
    /// whole through [`finish`](Self::finish), so an adapter whose writer
    /// is dropped unfinished closes the connection (1011) instead.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Takes the first bytes of `data` (at least one, unless it is empty)
    /// and returns how many: a full fragment gathered before is queued on
    /// `conn` first. On an error nothing of `data` was taken, and what was
    /// gathered stays.
    pub fn write(&mut self, conn: &mut Connection, data: &[u8]) -> Result<usize, Error> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.buf.len() >= self.size {
            self.flush(conn)?;
        }
        if self.buf.is_empty() && data.len() > self.size {
            let piece = &data[..self.size];
            let utf8 = self.check(piece)?;
            conn.send_fragment(self.kind, piece, false)?;
            self.utf8 = utf8;
            self.started = true;
            return Ok(self.size);
        }
        let n = (self.size - self.buf.len()).min(data.len());
        self.utf8 = self.check(&data[..n])?;
        self.buf.extend_from_slice(&data[..n]);
        self.started = true;
        Ok(n)
    }

    /// The text check after `piece`, if it may follow what was taken.
    fn check(&self, piece: &[u8]) -> Result<Utf8Validator, Error> {
        let mut utf8 = self.utf8;
        if self.kind == DataKind::Text {
            utf8.feed(piece)
                .map_err(|_| Error::InvalidState("text is not valid UTF-8"))?;
        }
        Ok(utf8)
    }

    /// Queues what is gathered, if anything, as a fragment that is not the
    /// last. On an error it stays gathered.
    pub fn flush(&mut self, conn: &mut Connection) -> Result<(), Error> {
        if !self.buf.is_empty() {
            conn.send_fragment(self.kind, &self.buf, false)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Ends the message: queues what is gathered as the final fragment.
    /// Afterwards the fragmenter takes nothing more (an error here means
    /// the message cannot end validly, text ending inside a code point,
    /// and no other message can follow it: close the connection).
    pub fn finish(&mut self, conn: &mut Connection) -> Result<(), Error> {
        self.finished = true;
        let buf = core::mem::take(&mut self.buf);
        conn.send_fragment(self.kind, &buf, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::transmit_all;
    use crate::{Config, Event, Message, Role};

    /// The frames a server writes for `pieces` (fragment size 4), as a
    /// client receives them: (opcode, fin, payload).
    fn frames(kind: DataKind, pieces: &[&[u8]]) -> Vec<(u8, bool, Vec<u8>)> {
        let mut config = Config::default();
        config.fragment_size = Some(4);
        let mut conn = Connection::new(Role::Server, config);
        let mut message = Fragmenter::new(&conn, kind);
        for piece in pieces {
            let mut piece = *piece;
            while !piece.is_empty() {
                piece = &piece[message.write(&mut conn, piece).unwrap()..];
            }
        }
        message.finish(&mut conn).unwrap();
        let mut out = Vec::new();
        transmit_all(&mut conn, &mut out);
        let mut frames = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let len = usize::from(out[at + 1]);
            frames.push((
                out[at] & 0x0f,
                out[at] & 0x80 != 0,
                out[at + 2..at + 2 + len].to_vec(),
            ));
            at += 2 + len;
        }
        frames
    }

    #[test]
    fn pieces_are_cut_into_fragments_of_the_set_size() {
        assert_eq!(
            frames(DataKind::Binary, &[b"ab", b"cdefghij"]),
            [
                (2, false, b"abcd".to_vec()),
                (0, false, b"efgh".to_vec()),
                (0, true, b"ij".to_vec()),
            ]
        );
        // An exact last piece is the final frame, not followed by an
        // empty one.
        assert_eq!(
            frames(DataKind::Binary, &[b"abcdefgh"]),
            [(2, false, b"abcd".to_vec()), (0, true, b"efgh".to_vec())]
        );
        // Nothing written: one empty final frame.
        assert_eq!(frames(DataKind::Text, &[]), [(1, true, Vec::new())]);
    }

    #[test]
    fn text_may_split_code_points_but_must_end_whole() {
        // "é" is two bytes, split across pieces and fragments.
        let text = frames(DataKind::Text, &[b"abc\xc3", b"\xa9"]);
        assert_eq!(text.len(), 2);
        let mut conn = Connection::new(Role::Server, Config::default());
        let mut message = Fragmenter::new(&conn, DataKind::Text);
        message.write(&mut conn, b"ab\xc3").unwrap();
        assert!(message.finish(&mut conn).is_err());
        assert!(message.is_finished());
    }

    // Begun once a write took bytes; not by a flush of nothing, nor by a
    // refused write.
    #[test]
    fn started_once_a_write_takes_bytes() {
        let mut conn = Connection::new(Role::Server, Config::default());
        let mut message = Fragmenter::new(&conn, DataKind::Text);
        message.flush(&mut conn).unwrap();
        assert!(message.write(&mut conn, b"\xff").is_err());
        assert_eq!(message.write(&mut conn, b"").unwrap(), 0);
        assert!(!message.is_started());
        message.write(&mut conn, b"a").unwrap();
        assert!(message.is_started());
    }

    #[test]
    fn invalid_text_fails_the_write_that_brings_it() {
        let mut config = Config::default();
        config.fragment_size = Some(4);
        let mut conn = Connection::new(Role::Server, config);
        let mut message = Fragmenter::new(&conn, DataKind::Text);
        assert_eq!(message.write(&mut conn, b"a\xc3").unwrap(), 2);
        // Gathered, not sent, yet refused; nothing of it is taken.
        assert!(message.write(&mut conn, b"\xff").is_err());
        // A fragment straight from the caller's bytes likewise.
        let mut direct = Fragmenter::new(&conn, DataKind::Text);
        assert!(direct.write(&mut conn, b"ab\xffcdefgh").is_err());
        assert_eq!(conn.stats().frames_sent, 0);
        // The message goes on from where it was.
        assert_eq!(message.write(&mut conn, b"\xa9").unwrap(), 1);
        message.finish(&mut conn).unwrap();
        let mut out = Vec::new();
        transmit_all(&mut conn, &mut out);
        assert_eq!(&out[2..], "aé".as_bytes());
    }

    #[test]
    fn the_peer_reassembles_the_message() {
        let mut config = Config::default();
        config.fragment_size = Some(3);
        let mut server = Connection::new(Role::Server, config);
        let mut message = Fragmenter::new(&server, DataKind::Binary);
        let mut data: &[u8] = b"0123456789";
        while !data.is_empty() {
            data = &data[message.write(&mut server, data).unwrap()..];
        }
        message.finish(&mut server).unwrap();
        let mut out = Vec::new();
        transmit_all(&mut server, &mut out);
        let mut client = Connection::new(Role::Client, Config::default());
        client.feed(&out);
        assert_eq!(
            client.poll_event().unwrap(),
            Some(Event::Message(Message::binary(b"0123456789".to_vec())))
        );
    }
}
