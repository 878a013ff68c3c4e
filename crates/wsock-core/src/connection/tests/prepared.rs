//! Prepared messages: framed once, queued without copying, compressed
//! once without history and still in step with each connection's context
//! takeover.

use crate::PreparedMessage;

use super::*;

/// What a client reading `wire` receives.
fn received_by(reader: &mut Connection, wire: &[u8]) -> Vec<Ev> {
    reader.feed(wire);
    drain(reader)
}

#[test]
fn same_bytes_as_send_and_large_frames_are_shared() {
    for len in [0, 5, 125, 126, 4000, 70_000] {
        let payload = vec![b'x'; len];
        let prepared = PreparedMessage::new(Message::binary(payload.clone()));
        let mut normal = server();
        normal.send(Message::binary(payload.clone())).unwrap();
        let mut conns = [server(), server()];
        for conn in &mut conns {
            conn.send_prepared(&prepared).unwrap();
            assert_eq!(conn.stats().messages_sent, 1);
            assert_eq!(conn.stats().frames_sent, 1);
        }
        let want = take_output(&mut normal);
        let frame = prepared.plain().unwrap().bytes.as_ptr();
        for conn in &mut conns {
            let mut slices = [&[][..]; 4];
            let n = conn.poll_transmit(&mut slices);
            assert_eq!(slices[..n].concat(), want, "{len} bytes");
            // From HOLD_MIN (50 in tests) up, the frame's own buffer is
            // queued, the same for every connection.
            assert_eq!(n > 0 && slices[0].as_ptr() == frame, len >= 48, "{len}");
        }
    }
}

#[test]
fn text_control_and_interleaving_with_other_sends() {
    let mut s = server();
    s.send("before").unwrap();
    s.send_prepared(&PreparedMessage::new(Message::text("héllo".repeat(30))))
        .unwrap();
    s.send_prepared(&PreparedMessage::new(Message::ping(&b"p"[..])))
        .unwrap();
    s.send("after").unwrap();
    s.send_prepared(&PreparedMessage::new(Message::Close(None)))
        .unwrap();
    assert_eq!(s.state(), State::CloseSent);
    assert_eq!(
        s.send_prepared(&PreparedMessage::new(Message::text("late"))),
        Err(Error::AlreadyClosed)
    );
    let out = take_output(&mut s);
    assert_eq!(
        received_by(&mut client(), &out),
        vec![
            Ev::Text("before".into()),
            Ev::Text("héllo".repeat(30)),
            Ev::Ping(b"p".to_vec()),
            Ev::Text("after".into()),
            Ev::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))),
        ]
    );
}

#[test]
fn not_in_the_middle_of_a_fragmented_message() {
    let mut s = server();
    s.send_fragment(DataKind::Text, b"a", false).unwrap();
    assert!(matches!(
        s.send_prepared(&PreparedMessage::new(Message::text("x"))),
        Err(Error::InvalidState(_))
    ));
}

#[test]
fn a_client_masks_and_fragment_size_fragments() {
    let prepared = PreparedMessage::new(Message::binary(vec![7u8; 300]));
    let mut c = client();
    c.send_prepared(&prepared).unwrap();
    let out = take_output(&mut c);
    assert_ne!(out[1] & 0x80, 0, "masked");
    assert_eq!(
        received_by(&mut server(), &out),
        vec![Ev::Binary(vec![7; 300])]
    );

    let mut config = Config::default();
    config.fragment_size = Some(100);
    let mut s = server_with(config);
    s.send_prepared(&prepared).unwrap();
    assert_eq!(s.stats().frames_sent, 3);
    let out = take_output(&mut s);
    assert_eq!(
        received_by(&mut client(), &out),
        vec![Ev::Binary(vec![7; 300])]
    );
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use crate::config::DeflateConfig;
    use crate::deflate::DeflateParams;
    use alloc::format;

    fn pair(params: DeflateParams, release: bool, level: u32) -> (Connection, Connection) {
        let mut config = Config::default();
        config.deflate = DeflateConfig {
            threshold: 16,
            release_after_message: release,
            level,
            ..DeflateConfig::default()
        };
        let ext = Extensions::none().with_deflate(params);
        let server =
            Connection::with_mask_source(Role::Server, config.clone(), keys()).with_extensions(ext);
        let client =
            Connection::with_mask_source(Role::Client, config, keys()).with_extensions(ext);
        (server, client)
    }

    fn params(takeover: bool, bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: !takeover,
            client_no_context_takeover: false,
            server_max_window_bits: bits,
            client_max_window_bits: 15,
        }
    }

    /// Lines of a feed: each repeats most of the one before, so a
    /// compressor with context takeover refers back across messages.
    fn line(i: usize) -> String {
        format!(
            "{{\"symbol\":\"WSOCK\",\"bid\":{},\"ask\":{},\"venue\":\"loopback\",\"seq\":{i}}}",
            1000 + i % 7,
            1001 + i % 5
        )
    }

    /// Prepared and ordinary messages interleaved on every kind of
    /// agreement: each one arrives intact, so the connection's own
    /// back-references (which reach into the prepared messages' plaintext)
    /// agree with the receiver's window.
    #[test]
    fn interleaved_with_ordinary_messages_on_every_agreement() {
        let cases = [
            (true, 15, true),
            (true, 15, false),
            (true, 10, true),
            (true, 9, false),
            (false, 15, true),
            (false, 12, false),
        ];
        let prepared: Vec<PreparedMessage> = (0..40)
            .map(|i| PreparedMessage::new(Message::text(line(i))))
            .collect();
        for (takeover, bits, release) in cases {
            let (mut s, mut c) = pair(params(takeover, bits), release, 6);
            let mut want = Vec::new();
            for (i, p) in prepared.iter().enumerate() {
                // Runs of each kind, and single ones, in both orders.
                if i % 3 == 0 || i % 5 == 1 {
                    s.send_prepared(p).unwrap();
                } else {
                    s.send(line(i)).unwrap();
                }
                want.push(Ev::Text(line(i)));
                if i % 4 == 3 {
                    // Something the compressor cannot compress well.
                    let noise: Vec<u8> = (0..600u32)
                        .map(|k| (k.wrapping_mul(2_654_435_761) >> 13) as u8)
                        .collect();
                    s.send(Message::binary(noise.clone())).unwrap();
                    want.push(Ev::Binary(noise));
                }
            }
            let out = take_output(&mut s);
            let got = received_by(&mut c, &out);
            assert_eq!(
                got, want,
                "takeover {takeover}, bits {bits}, release {release}"
            );
        }
        // One compressed form per (window bits, level) used.
        assert_eq!(prepared[0].compressed_forms(), 4);
    }

    /// The ordinary message after a prepared one with the same text is a
    /// back-reference into the prepared one's plaintext: the window was
    /// updated. Without context takeover it is compressed alone.
    #[test]
    fn the_window_records_the_prepared_plaintext() {
        let text = line(1).repeat(3);
        let prepared = PreparedMessage::new(Message::text(text.clone()));
        for takeover in [true, false] {
            let (mut s, mut c) = pair(params(takeover, 15), true, 6);
            s.send_prepared(&prepared).unwrap();
            let first = take_output(&mut s);
            s.send(text.clone()).unwrap();
            let second = take_output(&mut s);
            if takeover {
                assert!(
                    second.len() < 12,
                    "{} bytes: no back-reference",
                    second.len()
                );
            } else {
                assert_eq!(second, first, "compressed alone, the same bytes");
            }
            let mut wire = first;
            wire.extend_from_slice(&second);
            assert_eq!(
                received_by(&mut c, &wire),
                vec![Ev::Text(text.clone()), Ev::Text(text.clone())]
            );
        }
    }

    /// Connections with the same agreement share one compressed frame;
    /// compressing happens once.
    #[test]
    fn compressed_once_and_shared() {
        let text = line(3).repeat(100);
        let prepared = PreparedMessage::new(Message::text(text.clone()));
        let mut outs = Vec::new();
        for _ in 0..3 {
            let (mut s, mut c) = pair(params(true, 15), true, 6);
            s.send_prepared(&prepared).unwrap();
            assert!(s.deflate_memory() > 0, "the window is kept");
            let mut slices = [&[][..]; 4];
            let n = s.poll_transmit(&mut slices);
            assert_eq!(n, 1);
            outs.push((slices[0].as_ptr(), slices[0].len()));
            let out = take_output(&mut s);
            assert!(
                out.len() < text.len() / 10,
                "compressed: {} bytes",
                out.len()
            );
            assert_eq!(received_by(&mut c, &out), vec![Ev::Text(text.clone())]);
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]), "one shared buffer");
        assert_eq!(prepared.compressed_forms(), 1);
    }

    /// Below the threshold, and with an 8-bit window (no compression), the
    /// plain frame goes out.
    #[test]
    fn small_or_uncompressible_agreements_send_it_plain() {
        let prepared = PreparedMessage::new(Message::text("short"));
        let (mut s, mut c) = pair(params(true, 15), true, 6);
        s.send_prepared(&prepared).unwrap();
        let out = take_output(&mut s);
        assert_eq!(out[0], 0x81, "no RSV1");
        assert_eq!(received_by(&mut c, &out), vec![Ev::Text("short".into())]);

        let long = PreparedMessage::new(Message::text(line(0)));
        let (mut s, mut c) = pair(params(true, 8), true, 6);
        s.send_prepared(&long).unwrap();
        let out = take_output(&mut s);
        assert_eq!(out[0], 0x81, "no RSV1");
        assert_eq!(received_by(&mut c, &out), vec![Ev::Text(line(0))]);
        assert_eq!(long.compressed_forms(), 0);
    }
}
