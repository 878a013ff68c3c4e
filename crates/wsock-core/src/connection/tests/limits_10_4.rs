//! Size limits (RFC 6455 §10.4), checked from the header.

use super::*;

// Limits are checked from the header, before any payload is buffered.
#[test]
fn limits_close_with_1009() {
    let mut config = Config::default();
    config.max_frame_size = 100;
    config.max_message_size = 150;
    let mut s = server_with(config.clone());
    // Only the header of a 1 MiB frame arrives: rejected already.
    s.feed(&[0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4]);
    let events = drain(&mut s);
    assert!(
        matches!(
            &events[..],
            [Ev::Err(Error::Capacity(CapacityError {
                limit: Limit::FrameSize,
                size: 0x10_0000,
                max: 100
            }))]
        ),
        "{events:?}"
    );
    assert_eq!(
        sent_close(&take_output(&mut s)).flatten().map(|f| f.code),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    let mut s = server_with(config);
    s.feed(&raw(0x02, &[0; 100]));
    s.feed(&raw(0x80, &[0; 51]));
    let events = drain(&mut s);
    assert!(
        matches!(
            &events[..],
            [Ev::Err(Error::Capacity(CapacityError {
                limit: Limit::MessageSize,
                ..
            }))]
        ),
        "{events:?}"
    );
}
