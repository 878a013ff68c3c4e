//! How data messages are handed out: whole or streamed, moved out of the
//! connection's buffers without a copy, and skipped on request.

use super::*;

// A message that arrives in one read is a slice of the read buffer, not a
// copy: its bytes sit where the read put them.
#[test]
fn a_message_in_one_read_shares_the_read_buffer() {
    let mut s = server();
    let frame = raw(0x82, b"payload");
    let buf = s.read_buffer();
    buf[..frame.len()].copy_from_slice(&frame);
    let at = buf.as_ptr() as usize;
    s.commit_read(frame.len());
    let Ok(Some(Event::Message(Message::Binary(data)))) = s.poll_event() else {
        panic!("no message");
    };
    assert_eq!(&data[..], b"payload");
    // After the 2-byte header and the 4-byte mask key.
    assert_eq!(data.as_ptr() as usize, at + 6);
}

// Messages keep arriving while earlier ones are still held: the buffer
// moves to a new allocation instead of overwriting them.
#[test]
fn held_messages_survive_later_reads() {
    let mut s = server();
    let mut held = vec![];
    for i in 0..200u8 {
        s.feed(&raw(0x82, &[i; 37]));
        let Ok(Some(Event::Message(Message::Binary(data)))) = s.poll_event() else {
            panic!("no message");
        };
        held.push(data);
    }
    for (i, data) in held.iter().enumerate() {
        assert_eq!(&data[..], &[i as u8; 37][..]);
    }
}

// §5.4: the rest of a fragmented message is skipped; the next message and
// control frames in between still arrive.
#[test]
fn skip_message_discards_the_rest_of_a_streamed_message() {
    let mut s = server();
    s.set_receive_mode(ReceiveMode::Stream);
    s.feed(&raw(0x01, b"one "));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Chunk(DataKind::Text, b"one ".to_vec(), true, false)]
    );
    s.skip_message();
    s.set_receive_mode(ReceiveMode::Message);
    s.feed(&raw(0x00, b"two "));
    s.feed(&raw(0x89, b"p"));
    s.feed(&raw(0x80, b"three"));
    s.feed(&raw(0x81, b"next"));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Ping(b"p".to_vec()), Ev::Text("next".into())]
    );
}

// A message gathered whole, then skipped half-way: what was gathered is
// dropped too.
#[test]
fn skip_message_drops_what_was_gathered() {
    let mut s = server();
    s.feed(&raw(0x02, b"gathered"));
    assert_eq!(drain(&mut s), vec![]);
    s.skip_message();
    s.feed(&raw(0x80, b" and the rest"));
    s.feed(&raw(0x82, b"next"));
    assert_eq!(drain(&mut s), vec![Ev::Binary(b"next".to_vec())]);
}

// Skipped between two frames of a message gathered in message mode: the
// next frame is skipped, not gathered again (a fuzz-found panic, where the
// frame's bytes were both gathered and discarded).
#[test]
fn skip_between_frames_stays_skipped_in_message_mode() {
    for kind in [0x01, 0x02] {
        let mut s = server();
        s.feed(&raw(kind, b"ab"));
        assert_eq!(drain(&mut s), vec![]);
        s.skip_message();
        s.set_receive_mode(ReceiveMode::Message);
        s.feed(&raw(0x00, b"cd"));
        s.feed(&raw(0x80, b"ef"));
        s.feed(&raw(0x82, b"next"));
        assert_eq!(drain(&mut s), vec![Ev::Binary(b"next".to_vec())]);
    }
}

// §8.1: skipped text is still validated, so invalid UTF-8 still fails the
// connection with 1007.
#[test]
fn skipped_text_is_still_validated() {
    let mut s = server();
    s.set_receive_mode(ReceiveMode::Stream);
    s.feed(&raw(0x01, b"ok"));
    assert_eq!(drain(&mut s).len(), 1);
    s.skip_message();
    s.feed(&raw(0x80, &[0xff]));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Err(ProtocolError::InvalidUtf8.into())]
    );
}

// Skipping between messages does nothing.
#[test]
fn skip_message_between_messages_does_nothing() {
    let mut s = server();
    s.skip_message();
    s.feed(&raw(0x82, b"whole"));
    assert_eq!(drain(&mut s), vec![Ev::Binary(b"whole".to_vec())]);
}

// A message started in stream mode of which nothing was handed out yet is
// gathered whole if message mode is chosen again before its bytes arrive.
#[test]
fn back_to_message_mode_before_any_chunk() {
    let mut s = server();
    s.set_receive_mode(ReceiveMode::Stream);
    // Only the header of a 5-byte frame, and its mask key.
    let frame = raw(0x82, b"hello");
    s.feed(&frame[..6]);
    assert_eq!(drain(&mut s), vec![]);
    s.set_receive_mode(ReceiveMode::Message);
    s.feed(&frame[6..]);
    assert_eq!(drain(&mut s), vec![Ev::Binary(b"hello".to_vec())]);
}

// Once a piece was handed out, the message stays streamed.
#[test]
fn a_started_stream_stays_streamed() {
    let mut s = server();
    s.set_receive_mode(ReceiveMode::Stream);
    s.feed(&raw(0x02, b"ab"));
    assert_eq!(drain(&mut s).len(), 1);
    s.set_receive_mode(ReceiveMode::Message);
    s.feed(&raw(0x80, b"cd"));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Chunk(DataKind::Binary, b"cd".to_vec(), false, true)]
    );
}
