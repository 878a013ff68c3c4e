//! Received bytes: the read buffer, the buffer a message is gathered in,
//! and how much room a read is offered.

use bytes::{Buf, Bytes, BytesMut};

use crate::event::DataKind;
use crate::frame::MAX_HEADER_LEN;
use crate::mask::mask_into;
use crate::message::Message;
use crate::utf8::{InvalidUtf8, Utf8Validator};
use crate::utf8_bytes::Utf8Bytes;

/// The most a read is offered beyond `read_buffer_size` while reads keep
/// filling it: the largest frame held whole in the read buffer (64 KiB of
/// payload) with its longest header. A read that starts at such a frame
/// can then take it whole and stop at its end; one byte less (64 KiB) cut
/// every such frame, and the next read brought the rest and most of the
/// frame behind it, which then had to be moved to the buffer's front.
const MAX_BURST: usize = 64 * 1024 + MAX_HEADER_LEN;

/// Received bytes, kept apart from the protocol state.
///
/// Invariants: `end <= buf.len()`; `buf[..end]` is received and not yet
/// consumed (its first byte is the first unconsumed one; payloads are
/// unmasked there in place); `buf[end..]` is zeroed room offered to the
/// next read. Messages and chunks held in `buf` leave it as
/// [`split_front`](Self::split_front): a [`Bytes`] sharing the allocation,
/// which the buffer reuses once every such `Bytes` is dropped.
#[derive(Default)]
pub(super) struct Input {
    /// The read buffer: received bytes, then room.
    pub(super) buf: BytesMut,
    /// One past the last received byte of `buf`.
    pub(super) end: usize,
    /// The message gathered from several frames or reads (or inflated),
    /// unmasked, text or binary; also the inflater's output before it is
    /// handed out as a stream-mode chunk. Text is validated piece by piece
    /// as it lands here (by the caller's [`Utf8Validator`]), so once whole
    /// it is handed out as [`Utf8Bytes`] without a second check. Empty when
    /// no message is being gathered or it was handed out. A message leaves
    /// it split off as a [`Bytes`] sharing the allocation, so the next
    /// large message reuses that allocation once the application dropped
    /// the last one, instead of allocating (and faulting in) a new one.
    /// While a large frame arrives with nothing else buffered, reads go
    /// straight into its spare room ([`offer_message`](Self::offer_message)).
    pub(super) message: BytesMut,
    /// How much the last [`offer`](Self::offer) handed out, to tell a read
    /// that filled it from a short one; 0 before the first offer.
    offered: usize,
    /// The offer grown while reads fill it (a busy peer: fewer, larger
    /// reads): at most [`MAX_BURST`] or `read_buffer_size`, whichever is
    /// larger; halved by short reads; 0 until a read first fills an offer.
    burst: usize,
    /// The last read filled its offer: the next one most likely takes the
    /// rest of the same batch, so a short read then says nothing about
    /// the load and leaves the offer as it is.
    after_full: bool,
    /// The last offer was the rest of a large in-place frame
    /// ([`offer_rest`](Self::offer_rest)), not a read chunk: its size says
    /// nothing about the load, so the read that fills it leaves the burst
    /// as it is.
    exact: bool,
}

impl Input {
    /// Received bytes not yet consumed.
    pub(super) fn available(&self) -> usize {
        self.end
    }

    /// `len` unconsumed bytes from `offset`.
    pub(super) fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        &self.buf[offset..offset + len]
    }

    /// `len` unconsumed bytes from `offset`, for unmasking in place.
    pub(super) fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        &mut self.buf[offset..offset + len]
    }

    /// The `n` bytes at the front, handed out without a copy.
    pub(super) fn split_front(&mut self, n: usize) -> Bytes {
        self.end -= n;
        self.buf.split_to(n).freeze()
    }

    /// Appends received bytes (`Connection::feed`) without zero-filling
    /// room for them first, as a read into `ReadSpace` would.
    pub(super) fn append(&mut self, data: &[u8]) {
        self.buf.truncate(self.end);
        if self.end == 0 {
            self.rewind();
        }
        self.extend(data);
    }

    /// [`append`](Self::append), if the buffer has the room already (no
    /// growth, so no move or copy of what it holds); returns whether it
    /// did.
    pub(super) fn append_within(&mut self, data: &[u8]) -> bool {
        self.buf.truncate(self.end);
        let fits = |buf: &BytesMut, end: usize| buf.capacity() - end >= data.len();
        if !fits(&self.buf, self.end) {
            // Room in front of the buffer counts when it is empty.
            if self.end != 0 {
                return false;
            }
            self.rewind();
            if !fits(&self.buf, 0) {
                return false;
            }
        }
        self.extend(data);
        true
    }

    /// Puts `data` right after the buffered bytes (any zeroed room an
    /// offer left there dropped first) and counts it as buffered.
    fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.end = self.buf.len();
    }

    /// Makes room for `want` more bytes after `end`. The buffer reclaims
    /// the space in front of its unconsumed bytes when nothing else shares
    /// it, and moves to a new allocation when handed-out bytes still do.
    fn reserve(&mut self, want: usize) {
        if self.buf.len() - self.end >= want {
            return;
        }
        self.buf.truncate(self.end);
        self.buf.reserve(want);
        self.buf.resize(self.end + want, 0);
    }

    /// Drops `n` bytes from the front. Once nothing is left, the buffer is
    /// freed if it grew past four times `keep`.
    pub(super) fn consume(&mut self, n: usize, keep: usize) {
        self.buf.advance(n);
        self.end -= n;
        if self.end == 0 && self.buf.capacity() > keep.saturating_mul(4) {
            self.buf = BytesMut::new();
        }
    }

    /// The size a read is offered: `read_buffer_size`, more while busy.
    pub(super) fn read_chunk(&self, read_buffer_size: usize) -> usize {
        read_buffer_size.max(self.burst).max(1)
    }

    /// Room for the next read: a read chunk, or up to `wanted` bytes (what
    /// a unit that must be held whole still lacks), but at most double the
    /// bytes already buffered, so growth follows what arrived and never a
    /// header's promise alone.
    pub(super) fn offer(&mut self, wanted: usize, read_buffer_size: usize) -> &mut [u8] {
        let chunk = self.read_chunk(read_buffer_size);
        let want = wanted.min(self.available().max(chunk)).max(chunk);
        self.reserve(want);
        let end = self.end;
        self.offered = self.buf.len() - end;
        self.exact = false;
        &mut self.buf[end..]
    }

    /// Room for the rest of a large frame held whole in the read buffer
    /// (`rest` bytes still to come), and no more: a read past the frame's
    /// end would bring the start of the next frame, which would have to be
    /// moved to the buffer's front once this one is handed out (up to
    /// 64 KiB per message). Reading to the end instead leaves the buffer
    /// empty, and the next frame lands at its front. Like
    /// [`offer`](Self::offer), at most double what is buffered (at least a
    /// read chunk), never a header's promise alone.
    pub(super) fn offer_rest(&mut self, rest: usize, read_buffer_size: usize) -> &mut [u8] {
        let want = self.rest_size(rest, read_buffer_size);
        self.reserve(want);
        let end = self.end;
        &mut self.buf[end..end + want]
    }

    /// [`offer_rest`](Self::offer_rest) without zeroing the room, as
    /// [`offer_uninit`](Self::offer_uninit) is to [`offer`](Self::offer).
    pub(super) fn offer_rest_uninit(&mut self, rest: usize, read_buffer_size: usize) -> usize {
        let want = self.rest_size(rest, read_buffer_size);
        self.buf.truncate(self.end);
        self.buf.reserve(want);
        want
    }

    /// The size of an [`offer_rest`](Self::offer_rest), noted as the last
    /// offer.
    fn rest_size(&mut self, rest: usize, read_buffer_size: usize) -> usize {
        let chunk = self.read_chunk(read_buffer_size);
        let want = rest.min(self.available().max(chunk)).max(1);
        self.offered = want;
        self.exact = true;
        want
    }

    /// Makes room for `want` more bytes after `end` without zeroing it:
    /// the spare capacity of `buf`, for a reader that fills uninitialized
    /// memory (see `ReadSpace`). Zeroed room left by [`offer`](Self::offer)
    /// is dropped first, so received bytes stay contiguous.
    pub(super) fn offer_uninit(&mut self, wanted: usize, read_buffer_size: usize) -> usize {
        let chunk = self.read_chunk(read_buffer_size);
        let want = wanted.min(self.available().max(chunk)).max(chunk);
        self.buf.truncate(self.end);
        if self.end == 0 {
            self.rewind();
        }
        self.buf.reserve(want);
        self.offered = want;
        self.exact = false;
        want
    }

    /// With nothing buffered, takes the read buffer's whole allocation
    /// back when no message handed out of it is still held, so the next
    /// read lands at its front: the same memory, still in cache, read
    /// after read, rather than a window sliding through the allocation
    /// (and moved back to the front when it reaches the end). Does nothing
    /// while handed-out bytes share it; never allocates.
    fn rewind(&mut self) {
        let room = self.buf.capacity();
        let _rewound = self.buf.try_reclaim(room.saturating_add(1));
    }

    /// Counts bytes appended to `buf` past `end` (by `ReadSpace`) as
    /// received, as [`commit`](Self::commit) does for an offer.
    pub(super) fn commit_appended(&mut self, read_buffer_size: usize) -> usize {
        let n = self.buf.len() - self.end;
        self.end = self.buf.len();
        self.size_burst(n, read_buffer_size);
        n
    }

    /// Marks `n` bytes of the last offer as received (at most the room
    /// there is) and returns how many. A read that fills the whole offer
    /// doubles the next one (up to [`MAX_BURST`]); a read of less than half
    /// of it halves it back toward `read_buffer_size`.
    pub(super) fn commit(&mut self, n: usize, read_buffer_size: usize) -> usize {
        let n = n.min(self.buf.len() - self.end);
        self.size_burst(n, read_buffer_size);
        self.end += n;
        n
    }

    /// The burst rule after a read of `n` bytes into the last offer. A
    /// short read right after a full one is the tail of the batch the
    /// full read cut, not a sign of less load: halving then would cut
    /// every batch of that size in two again (two reads, and replies
    /// written in two pieces), so only a short read that starts a batch
    /// halves the offer.
    ///
    /// A read that brought nothing (the transport had nothing yet, and the
    /// room was given back unused) is no read at all and changes nothing.
    fn size_burst(&mut self, n: usize, read_buffer_size: usize) {
        if n == 0 || self.exact {
            return;
        }
        let chunk = self.read_chunk(read_buffer_size);
        let full = n == self.offered && n >= chunk;
        if full {
            self.burst = (chunk * 2).min(MAX_BURST.max(chunk));
        } else if n < self.offered / 2 && !self.after_full {
            self.burst = chunk / 2;
        }
        self.after_full = full;
    }

    /// Moves the `n` bytes at the front into the message being gathered,
    /// for a frame with `rest` bytes still to come, unmasking them on the
    /// way with `mask` (the key and the payload offset of the first byte)
    /// if the frame is masked: the bytes are read once, not unmasked in
    /// the read buffer and then copied. Text goes through
    /// [`gather_text`](Self::gather_text).
    pub(super) fn gather(
        &mut self,
        n: usize,
        rest: u64,
        keep: usize,
        mask: Option<([u8; 4], usize)>,
    ) {
        self.reclaim_message();
        // `BytesMut` has no exact reservation: it may round up to double
        // its capacity, so a few times what arrived at most.
        match growth(self.message.len(), self.message.capacity(), n, rest) {
            Growth::None => {}
            Growth::Double => self.message.reserve(n),
            Growth::Exact(extra) => self.message.reserve(extra),
        }
        mask_into(&mut self.message, &self.buf[..n], mask);
        self.consume(n, keep);
    }

    /// Room at the end of the message buffer for a read straight into it,
    /// for a gathered frame with `rest` payload bytes still to come and
    /// nothing buffered in front of them; returns how many bytes the read
    /// may put there (its spare capacity, up to `rest`, so the read never
    /// takes the next frame's bytes). Growth follows what arrived, as for
    /// the read buffer: once less than a read chunk is left, it asks for
    /// room for as much again as the message so far (at least a read
    /// chunk), so the buffer stays within about twice what arrived, never
    /// a header's promise alone; a
    /// buffer a previous message left behind is reclaimed whole once that
    /// message was dropped.
    pub(super) fn offer_message(&mut self, rest: u64, read_buffer_size: usize) -> usize {
        self.reclaim_message();
        let rest = usize::try_from(rest).unwrap_or(usize::MAX);
        let chunk = self.read_chunk(read_buffer_size);
        // Grown only once less than a read's worth is left, so the buffer
        // doubles from full: within about twice what arrived.
        if self.message.capacity() - self.message.len() < rest.min(chunk) {
            let want = rest.min(self.message.len().max(chunk));
            self.message.reserve(want);
        }
        rest.min(self.message.capacity() - self.message.len())
    }

    /// Moves the `n` bytes at the front into the text being gathered, as
    /// [`gather`](Self::gather) does, and validates them where they
    /// landed, while they are still in cache: the one check they get.
    pub(super) fn gather_text(
        &mut self,
        n: usize,
        rest: u64,
        keep: usize,
        mask: Option<([u8; 4], usize)>,
        utf8: &mut Utf8Validator,
    ) -> Result<(), InvalidUtf8> {
        self.reclaim_message();
        let start = self.message.len();
        self.gather(n, rest, keep, mask);
        utf8.feed(&self.message[start..])
    }

    /// The `n` bytes at the front, to read from while the message buffer
    /// is written (inflating into it).
    #[cfg(feature = "deflate")]
    pub(super) fn front_and_message(&mut self, n: usize) -> (&[u8], &mut BytesMut) {
        self.reclaim_message();
        (&self.buf[..n], &mut self.message)
    }

    /// Moves the gathered message out, whole.
    pub(super) fn take_gathered(&mut self, kind: DataKind) -> Message {
        match kind {
            // Every byte was validated as it landed, and the caller
            // finished the validator (no code point left unfinished).
            DataKind::Text => Message::Text(Utf8Bytes::from_validated(self.take_message())),
            DataKind::Binary => Message::Binary(self.take_message()),
        }
    }

    /// Takes back the whole allocation of the message buffer before a
    /// message starts in it, when the message handed out of it last was
    /// dropped: the new message then starts at its front (nothing to copy,
    /// the buffer is empty) instead of in the room behind the old one,
    /// where it would run out of room and be moved to the front later.
    /// Does nothing while the old message is still held, or mid-message.
    fn reclaim_message(&mut self) {
        if self.message.is_empty() {
            // Asking for more than the room behind the old message makes
            // the buffer take the whole allocation back if it is the only
            // owner; `try_reclaim` never allocates.
            let room = self.message.capacity();
            let _reclaimed = self.message.try_reclaim(room.saturating_add(1));
        }
    }

    /// The bytes of the message buffer, handed out without a copy; the
    /// buffer keeps the rest of the allocation, to reclaim it whole for the
    /// next message once these bytes are dropped.
    pub(super) fn take_message(&mut self) -> Bytes {
        self.message.split().freeze()
    }

    /// Frees both buffers where they hold nothing; the read buffer only
    /// between frames (`frame_open` false).
    pub(super) fn free_if_empty(&mut self, frame_open: bool) {
        if self.available() == 0 && !frame_open {
            self.buf = BytesMut::new();
            self.end = 0;
        }
        if self.message.is_empty() {
            self.message = BytesMut::new();
        }
    }
}

/// How a message buffer grows.
enum Growth {
    None,
    /// By at least the bytes added: the usual doubling.
    Double,
    /// By exactly this many bytes.
    Exact(usize),
}

/// How a message buffer of `len` bytes in `capacity` grows for `n` more
/// bytes of a frame with `rest` bytes to follow, so it grows in few steps:
/// by the rest of the frame, but at most to twice what has arrived (never
/// on a header's promise alone), and without a spare half when the frame
/// fits exactly. With no rest (more frames may follow), the usual doubling.
fn growth(len: usize, capacity: usize, n: usize, rest: u64) -> Growth {
    let need = len + n;
    if need <= capacity {
        return Growth::None;
    }
    if rest == 0 {
        return Growth::Double;
    }
    let extra = usize::try_from(rest).unwrap_or(usize::MAX).min(need);
    Growth::Exact(n.saturating_add(extra))
}
