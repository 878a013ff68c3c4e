//! The read and message buffers: reading straight into the connection,
//! read sizing, growth with the bytes that arrive, and freeing.

use super::*;

// Reading straight into the connection's buffer; the buffer offers room
// for a whole in-place frame.
#[test]
fn read_buffer_reads() {
    let mut s = server();
    let frame = raw(0x82, &vec![5; 100_000]);
    let mut fed = 0;
    while fed < frame.len() {
        let buf = s.read_buffer();
        let n = buf.len().min(frame.len() - fed);
        buf[..n].copy_from_slice(&frame[fed..fed + n]);
        s.commit_read(n);
        fed += n;
        if fed < frame.len() {
            assert_eq!(drain(&mut s), vec![]);
        }
    }
    assert_eq!(drain(&mut s), vec![Ev::Binary(vec![5; 100_000])]);
    assert_eq!(s.stats().bytes_received, frame.len() as u64);
}

// Reads that fill the offered buffer make the next offer larger (up to
// 64 KiB); short reads bring it back (except the tail of a batch a full read
// cut); idle shrinking frees the memory.
#[test]
fn read_offer_follows_the_load() {
    let mut s = server();
    let base = s.config().read_buffer_size;
    let small = raw(0x82, &[7; 10]);
    let stream: Vec<u8> = small
        .iter()
        .copied()
        .cycle()
        .take(small.len() * 40_000)
        .collect();
    let mut fed = 0;
    let mut offers = Vec::new();
    for _ in 0..8 {
        let buf = s.read_buffer();
        offers.push(buf.len());
        let n = buf.len();
        buf.copy_from_slice(&stream[fed..fed + n]);
        fed += n;
        s.commit_read(n);
        drain(&mut s);
    }
    assert_eq!(offers[0], base);
    assert!(offers[1] >= 2 * base, "{offers:?}");
    assert!(offers.iter().all(|&o| o <= 64 * 1024 + base), "{offers:?}");
    assert!(offers[7] >= 64 * 1024, "{offers:?}");
    // Short reads: the offer falls back.
    for _ in 0..8 {
        let buf = s.read_buffer();
        buf[..12].copy_from_slice(&stream[fed..fed + 12]);
        fed += 12;
        s.commit_read(12);
        assert!(drain(&mut s).iter().all(|e| matches!(e, Ev::Binary(_))));
    }
    assert!(s.read_buffer().len() < 64 * 1024);
    // Finish the frame the reads stopped in (the offers need not be whole
    // frames), so nothing is buffered and the memory can go.
    let cut = fed % small.len();
    if cut != 0 {
        s.feed(&stream[fed..fed + small.len() - cut]);
        assert!(drain(&mut s).iter().all(|e| matches!(e, Ev::Binary(_))));
    }
    s.shrink_buffers();
    assert_eq!(s.input.buf.capacity(), 0);
}

// A header announcing a large frame does not make the buffer grow ahead of
// the bytes that actually arrive.
#[test]
fn buffer_grows_with_data_not_promises() {
    let mut s = server();
    s.feed(&[0x82, 0xff, 0, 0, 0, 0, 0, 0xf0, 0, 0, 1, 2, 3, 4]);
    assert_eq!(drain(&mut s), vec![]);
    assert!(s.read_buffer().len() <= 2 * s.config().read_buffer_size);
    // Feeding 1 MiB in reads keeps the buffer within twice what arrived.
    for _ in 0..256 {
        let buf = s.read_buffer();
        let n = buf.len().min(4096);
        s.commit_read(n);
        assert_eq!(drain(&mut s), vec![]);
        let buffered = s.input.available();
        assert!(
            s.input.buf.len() <= 2 * buffered + 2 * 4096,
            "{} for {buffered}",
            s.input.buf.len()
        );
    }
}

// A large message gathered from many reads is moved out whole; the
// buffer keeps only its handle on the rest of the allocation (no memory
// of its own), to reclaim it for the next message once this one is
// dropped.
#[test]
fn large_messages_are_taken_without_a_copy() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = server();
    let bytes = raw_masked(0x82, &payload, Some([9, 8, 7, 6]));
    for piece in bytes.chunks(999) {
        s.feed(piece);
        if let Some(event) = s.poll_event().unwrap() {
            let Event::Message(Message::Binary(data)) = event else {
                panic!("not binary: {event:?}");
            };
            // Unique, so taken back as a `Vec` without a copy.
            let data = Vec::from(data);
            assert_eq!(data, payload);
            // Grown in few steps, never far past the message.
            assert!(data.capacity() < 2 * payload.len());
        }
    }
    assert!(s.input.message.is_empty());
    assert!(s.input.message.capacity() < payload.len());
    assert_eq!(s.stats().messages_received, 1);
}

// A large frame read straight into the message buffer (`read_space`) grows
// that buffer with the bytes that arrived, never with the header's promise.
#[test]
fn message_buffer_grows_with_data_not_promises() {
    use bytes::BufMut;
    let mut s = server();
    // A 1 MiB binary frame: a 64-bit length, then the mask key.
    s.feed(&[0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
    assert_eq!(drain(&mut s), vec![]);
    let chunk = s.config().read_buffer_size;
    let mut arrived = 0;
    while arrived < 1 << 20 {
        let mut space = s.read_space();
        let n = space.remaining_mut().min(chunk);
        space.put_bytes(0, n);
        drop(space);
        arrived += n;
        let held = s.input.message.capacity();
        assert!(held <= 2 * arrived + 2 * chunk, "{held} for {arrived}");
        let events = drain(&mut s);
        assert_eq!(events.is_empty(), arrived < 1 << 20);
    }
    assert_eq!(s.stats().bytes_received, 14 + (1 << 20));
}

/// Four batches of 1 KiB frames, each a little larger than the read
/// offer, read with `read` (which puts up to what it is given into the
/// connection and returns how much); between batches, `wait` (a read
/// that finds nothing, or none). The number of reads per batch.
fn reads_per_batch(
    s: &mut Connection,
    read: impl Fn(&mut Connection, &[u8]) -> usize,
    wait: impl Fn(&mut Connection),
) -> Vec<usize> {
    let base = s.config().read_buffer_size;
    let frame = raw(0x82, &[7; 1024]);
    let batch: Vec<u8> = frame.repeat(base / frame.len() + 1);
    assert!(batch.len() > base && batch.len() < 2 * base);
    let mut counts = Vec::new();
    for _ in 0..4 {
        let (mut fed, mut reads) = (0, 0);
        while fed < batch.len() {
            fed += read(s, &batch[fed..]);
            reads += 1;
        }
        assert_eq!(drain(s).len(), batch.len() / frame.len());
        wait(s);
        counts.push(reads);
    }
    counts
}

// A batch a little larger than the offer: the first read fills the offer,
// the second takes the tail. The tail does not shrink the offer again, so
// from then on each batch arrives in one read.
#[test]
fn a_batch_cut_by_a_full_read_fits_the_next_offer() {
    let read = |s: &mut Connection, data: &[u8]| {
        let buf = s.read_buffer();
        let n = buf.len().min(data.len());
        buf[..n].copy_from_slice(&data[..n]);
        s.commit_read(n);
        n
    };
    assert_eq!(reads_per_batch(&mut server(), read, |_| {}), [2, 1, 1, 1]);
}

// Through `read_space`, as tokio reads: a read that found nothing (the
// transport said "not yet", so the space is dropped unfilled) between
// batches leaves the offer alone, so the batch still arrives in one read.
#[test]
fn an_empty_read_space_leaves_the_offer_alone() {
    use bytes::BufMut;
    let read = |s: &mut Connection, data: &[u8]| {
        let mut space = s.read_space();
        let n = space.remaining_mut().min(data.len());
        space.put_slice(&data[..n]);
        n
    };
    let wait = |s: &mut Connection| drop(s.read_space());
    assert_eq!(reads_per_batch(&mut server(), read, wait), [2, 1, 1, 1]);
}

// Write coalescing: output may stay unwritten only while the peer's next
// bytes wait in the read buffer, the connection is open, and within the
// caps (16 messages, 16 KiB).
#[test]
fn output_is_deferred_only_while_input_waits_within_the_caps() {
    let mut s = server();
    assert!(!s.may_defer_output(0) && !s.may_read_before_writing());
    s.feed(&[0x82]); // the start of the peer's next frame
    assert!(s.may_defer_output(0) && s.may_read_before_writing());
    assert!(!s.may_defer_output(16));
    s.send(Message::binary(vec![0; 16 * 1024])).unwrap();
    assert!(!s.may_defer_output(1));
    let n = s.buffered_output();
    s.consume_output(n);
    s.close(CloseCode::NORMAL, "").unwrap();
    assert!(!s.may_defer_output(0) && !s.may_read_before_writing());
}
