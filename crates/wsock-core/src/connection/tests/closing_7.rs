//! Closing the connection (RFC 6455 §7): the closing handshake from either
//! side, close frame rules, the close timeout, and the transport's end.

use super::*;

// §7.4.1: invalid close codes and payloads.
#[test]
fn invalid_close_frames() {
    fails_with(&raw(0x88, &[3]), CloseCode::PROTOCOL_ERROR);
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        fails_with(&raw(0x88, &code.to_be_bytes()), CloseCode::PROTOCOL_ERROR);
    }
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.push(0xff);
    fails_with(&raw(0x88, &payload), CloseCode::INVALID_PAYLOAD);
}

// §5.5.1, §7.1.1: peer-initiated close is echoed once; the server then
// closes the transport first.
#[test]
fn peer_initiated_close() {
    let mut s = server();
    let mut frame = 4000u16.to_be_bytes().to_vec();
    frame.extend_from_slice(b"bye");
    s.feed(&raw(0x88, &frame));
    s.feed(&raw(0x81, b"ignored after close"));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Close(Some(CloseFrame::new(4000, "bye")))]
    );
    assert_eq!(s.state(), State::Closed);
    assert!(!s.should_close_transport(), "the reply is not written yet");
    let out = take_output(&mut s);
    assert_eq!(sent_close(&out), Some(Some(CloseFrame::new(4000, ""))));
    assert!(s.should_close_transport());
    assert_eq!(s.send("late"), Err(Error::AlreadyClosed));
    assert_eq!(s.close(CloseCode::NORMAL, ""), Err(Error::AlreadyClosed));

    // An empty close is answered with an empty close.
    let mut s = server();
    s.feed(&raw(0x88, &[]));
    assert_eq!(drain(&mut s), vec![Ev::Close(None)]);
    assert_eq!(take_output(&mut s), [0x88, 0]);
}

// Closing when the closing handshake already started queues nothing and
// is no error; an invalid code still is.
#[test]
fn close_if_open_closes_once() {
    let mut s = server();
    assert_eq!(s.close_if_open(CloseCode::NORMAL, "bye"), Ok(true));
    assert_eq!(s.close_if_open(CloseCode::GOING_AWAY, "again"), Ok(false));
    let out = take_output(&mut s);
    assert_eq!(sent_close(&out), Some(Some(CloseFrame::new(1000, "bye"))));
    assert!(take_output(&mut s).is_empty());

    // After the peer's close: only the reply goes out.
    let mut s = server();
    s.feed(&raw(0x88, &[]));
    drain(&mut s);
    assert_eq!(s.close_if_open(CloseCode::NORMAL, ""), Ok(false));
    assert_eq!(take_output(&mut s), [0x88, 0]);

    assert!(server().close_if_open(CloseCode(1005), "").is_err());
}

// §7.1.1: a client that completed the handshake waits for the server to
// end the transport, up to the close timeout.
#[test]
fn client_waits_for_server_eof() {
    let mut c = client();
    c.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(c.state(), State::CloseSent);
    let mut s = server();
    s.feed(&take_output(&mut c));
    assert_eq!(
        drain(&mut s),
        vec![Ev::Close(Some(CloseFrame::new(1000, "done")))]
    );
    c.feed(&take_output(&mut s));
    assert!(s.should_close_transport());
    assert_eq!(
        drain(&mut c),
        vec![Ev::Close(Some(CloseFrame::new(1000, "")))]
    );
    assert_eq!(c.state(), State::Closed);
    assert!(!c.should_close_transport());
    assert!(c.wants_read());
    c.handle_eof();
    assert!(c.should_close_transport());
    assert_eq!(drain(&mut c), vec![]);

    // Without the server's end of stream, the close timeout ends it.
    let mut c = client();
    c.feed(&[0x88, 0]);
    drain(&mut c);
    take_output(&mut c);
    assert_eq!(
        c.poll_timeout(),
        Some(Duration::ZERO),
        "timer needs anchoring"
    );
    c.handle_timeout(Duration::from_secs(1));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(6)));
    c.handle_timeout(Duration::from_secs(6));
    assert!(c.should_close_transport());
}

// RFC 8441 §5 (and §7.1.1's reason, TIME_WAIT, which a stream lacks): a
// client over an HTTP/2 stream ends its side once the closing handshake is
// over, whichever side began it, without waiting for the server's end.
#[test]
fn client_over_a_stream_ends_first() {
    let mut c = client().with_stream_transport();
    c.close(CloseCode::NORMAL, "done").unwrap();
    take_output(&mut c);
    assert!(!c.should_close_transport(), "the handshake is not over");
    c.feed(&[0x88, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Close(None)]);
    assert_eq!(c.state(), State::Closed);
    assert!(c.should_close_transport());

    let mut c = client().with_stream_transport();
    c.feed(&[0x88, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Close(None)]);
    assert!(!c.should_close_transport(), "the reply is not written yet");
    assert_eq!(take_output(&mut c).len(), 2 + 4);
    assert!(c.should_close_transport());
}

// "Nothing is lost": messages queued before close precede the close frame.
#[test]
fn close_after_queued_messages() {
    let mut c = client();
    for i in 0..100 {
        c.send(i.to_string()).unwrap();
    }
    c.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(c.send("after"), Err(Error::AlreadyClosed));
    let mut s = server();
    s.feed(&take_output(&mut c));
    let events = drain(&mut s);
    assert_eq!(events.len(), 101);
    for (i, e) in events.iter().take(100).enumerate() {
        assert_eq!(e, &Ev::Text(i.to_string()));
    }
    assert_eq!(events[100], Ev::Close(Some(CloseFrame::new(1000, ""))));
}

// Messages that arrive after we sent close are still delivered (§5.5.1).
#[test]
fn messages_after_our_close_still_arrive() {
    let mut s = server();
    s.close(CloseCode::GOING_AWAY, "restart").unwrap();
    s.feed(&raw(0x81, b"in flight"));
    s.feed(&raw(0x88, &1001u16.to_be_bytes()));
    assert_eq!(
        drain(&mut s),
        vec![
            Ev::Text("in flight".into()),
            Ev::Close(Some(CloseFrame::new(1001, "")))
        ]
    );
    let out = take_output(&mut s);
    assert_eq!(
        sent_close(&out),
        Some(Some(CloseFrame::new(1001, "restart")))
    );
    assert!(s.should_close_transport());
}

#[test]
fn close_timeout_reports_error() {
    let mut s = server();
    s.handle_timeout(Duration::from_secs(10));
    s.close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut s);
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(10)));
    s.handle_timeout(Duration::from_secs(11));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(16)));
    assert_eq!(s.pending_error(), None);
    s.handle_timeout(Duration::from_secs(16));
    assert_eq!(s.pending_error(), Some(&Error::CloseTimeout));
    assert_eq!(drain(&mut s), vec![Ev::Err(Error::CloseTimeout)]);
    assert!(s.should_close_transport());
}

// §7.1.5: the transport ending without a close frame is 1006.
#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server();
    s.feed(&raw(0x81, b"last"));
    let partial = raw(0x82, b"cut short");
    s.feed(&partial[..8]);
    s.handle_eof();
    assert_eq!(
        drain(&mut s),
        vec![Ev::Text("last".into()), Ev::Err(Error::AbnormalClose)]
    );
    assert_eq!(Error::AbnormalClose.close_code(), Some(CloseCode::ABNORMAL));
    assert!(s.should_close_transport());
    assert!(
        take_output(&mut s).is_empty(),
        "no close frame on a dead transport"
    );
}

#[test]
fn outgoing_close_validation() {
    let mut c = client();
    assert!(c.close(CloseCode::ABNORMAL, "").is_err());
    assert!(c.close(CloseCode::NORMAL, &"x".repeat(124)).is_err());
    assert!(c.ping(&[0; 126]).is_err());
    c.close(CloseCode(3001), "app").unwrap();
}

// Closing the transport lingers (reads until the peer's end of stream)
// only when the peer may still be sending: after a failure on its input.
#[test]
fn lingers_only_after_a_failure_on_input() {
    // A clean closing handshake: nothing follows the peer's close frame.
    let mut s = server();
    s.feed(&raw(0x88, &1000u16.to_be_bytes()));
    drain(&mut s);
    take_output(&mut s);
    assert!(s.should_close_transport());
    assert!(!s.should_linger());

    // A protocol error: the peer may be mid-message.
    let mut s = server();
    s.feed(&raw(0x83, b"reserved opcode"));
    drain(&mut s);
    take_output(&mut s);
    assert!(s.should_close_transport());
    assert!(s.should_linger());
    // ... until its end of stream.
    s.handle_eof();
    assert!(!s.should_linger());

    // A timeout: the peer stopped answering.
    let config = Config {
        close_timeout: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    c.close(CloseCode::NORMAL, "").unwrap();
    take_output(&mut c);
    c.handle_timeout(Duration::ZERO);
    c.handle_timeout(Duration::from_secs(2));
    assert!(c.should_close_transport());
    assert!(!c.should_linger());
}

// The time a close nobody waits for may take: the close timeout, capped.
#[test]
fn closing_time_is_the_close_timeout_capped() {
    let with = |t| {
        server_with(Config {
            close_timeout: t,
            ..Config::default()
        })
        .closing_time()
    };
    assert_eq!(
        with(Some(Duration::from_millis(300))),
        Duration::from_millis(300)
    );
    assert_eq!(with(Some(Duration::from_secs(60))), Duration::from_secs(2));
    assert_eq!(with(None), Duration::from_secs(2));
}
