//! Keepalive and idle timers, on the caller's clock.

use super::*;

// Keepalive: a ping after an idle interval, failure when nothing answers.
#[test]
fn keepalive() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    assert_eq!(c.poll_timeout(), Some(Duration::ZERO));
    c.handle_timeout(Duration::from_secs(100));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(110)));
    // Traffic in the interval postpones the ping.
    c.feed(&[0x8a, 0]);
    drain(&mut c);
    c.handle_timeout(Duration::from_secs(110));
    assert!(!c.wants_write());
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(120)));
    // Idle: a ping goes out; the pong keeps the connection.
    c.handle_timeout(Duration::from_secs(120));
    assert_eq!(c.stats().pings_sent, 1);
    take_output(&mut c);
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(125)));
    c.feed(&[0x8a, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Pong(vec![])]);
    c.handle_timeout(Duration::from_secs(125));
    assert_eq!(c.state(), State::Open);
    // Idle again, and this time nothing answers.
    c.handle_timeout(Duration::from_secs(135));
    assert_eq!(c.stats().pings_sent, 2);
    c.handle_timeout(Duration::from_secs(140));
    assert_eq!(c.pending_error(), Some(&Error::KeepaliveTimeout));
    assert_eq!(drain(&mut c), vec![Ev::Err(Error::KeepaliveTimeout)]);
    assert_eq!(c.pending_error(), None);
    assert!(c.should_close_transport());
}

// Keepalive: once the peer answers, the next ping follows an interval
// after the answer, however long the pong timeout is.
#[test]
fn keepalive_cadence_follows_the_answer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(30);
    let mut c = Connection::with_mask_source(Role::Client, config, keys());
    c.handle_timeout(Duration::ZERO);
    c.handle_timeout(Duration::from_secs(10));
    assert_eq!(c.stats().pings_sent, 1);
    take_output(&mut c);
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(40)));
    // The pong arrives a second later.
    c.feed(&[0x8a, 0]);
    assert_eq!(drain(&mut c), vec![Ev::Pong(vec![])]);
    c.handle_timeout(Duration::from_secs(11));
    assert_eq!(c.poll_timeout(), Some(Duration::from_secs(21)));
    c.handle_timeout(Duration::from_secs(21));
    assert_eq!(c.stats().pings_sent, 2);
    // Silence after the second ping still fails at its pong deadline.
    c.handle_timeout(Duration::from_secs(50));
    assert_eq!(c.state(), State::Open);
    c.handle_timeout(Duration::from_secs(51));
    assert_eq!(drain(&mut c), vec![Ev::Err(Error::KeepaliveTimeout)]);
}

// Idle timeout: any received byte restarts it; silence for the whole
// timeout closes with 1001 and reports the error once.
#[test]
fn idle_timeout_closes_with_1001() {
    let mut config = Config::default();
    config.idle_timeout = Some(Duration::from_secs(30));
    let mut s = server_with(config);
    // The timer needs the time to start.
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    s.handle_timeout(Duration::from_secs(100));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(130)));
    // A ping at 120 s restarts the count from the next look at the clock.
    s.feed(&raw(0x89, b""));
    assert_eq!(drain(&mut s), vec![Ev::Ping(vec![])]);
    s.handle_timeout(Duration::from_secs(120));
    assert_eq!(s.poll_timeout(), Some(Duration::from_secs(150)));
    take_output(&mut s);
    s.handle_timeout(Duration::from_secs(149));
    assert_eq!(s.state(), State::Open);
    s.handle_timeout(Duration::from_secs(150));
    assert_eq!(s.state(), State::Closed);
    assert_eq!(s.pending_error(), Some(&Error::IdleTimeout));
    assert_eq!(drain(&mut s), vec![Ev::Err(Error::IdleTimeout)]);
    assert_eq!(Error::IdleTimeout.close_code(), Some(CloseCode::GOING_AWAY));
    // The close frame tells the peer why: 1001 and a reason.
    let out = take_output(&mut s);
    assert_eq!(&out[..4], &[0x88, out[1], 0x03, 0xe9]);
    assert!(
        core::str::from_utf8(&out[4..])
            .unwrap()
            .starts_with("idle timeout")
    );
    assert!(s.should_close_transport());
    // No idle timer by default.
    let mut s = server_with(Config::default());
    s.handle_timeout(Duration::from_secs(1));
    assert_eq!(s.poll_timeout(), None);
}
