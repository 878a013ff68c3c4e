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

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn timed_config() -> Config {
    let mut config = Config::default();
    config.keepalive_interval = Some(secs(10));
    config.keepalive_timeout = secs(5);
    config.idle_timeout = Some(secs(30));
    config.close_timeout = Some(secs(5));
    config
}

// poll_timeout through the closing handshake: timers started without the
// time are due at once; keepalive and idle stop once the connection is no
// longer open; the close timer counts from the next time it learns.
#[test]
fn poll_timeout_through_the_closing_handshake() {
    let mut s = server_with(timed_config());
    assert_eq!(s.poll_timeout(), Some(Duration::ZERO));
    s.handle_timeout(secs(1));
    assert_eq!(s.poll_timeout(), Some(secs(11)));
    s.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(secs(1)),
        "the close timer waits for the time"
    );
    s.handle_timeout(secs(2));
    assert_eq!(
        s.poll_timeout(),
        Some(secs(7)),
        "no keepalive or idle timer"
    );
    take_output(&mut s);
    s.feed(&raw(0x88, &[0x03, 0xe8]));
    assert!(matches!(drain(&mut s)[..], [Ev::Close(_)]));
    assert!(s.should_close_transport());
    assert_eq!(s.poll_timeout(), None, "nothing to wait for");

    // A server answering a close before it knew the time runs no timer.
    let mut s = server_with(timed_config());
    s.feed(&raw(0x88, &[0x03, 0xe8]));
    assert!(matches!(drain(&mut s)[..], [Ev::Close(_)]));
    assert_eq!(s.poll_timeout(), None);
}

// A keepalive timeout ends the connection at once: one more call to learn
// the time for the close timer, which then does not run.
#[test]
fn poll_timeout_after_a_keepalive_timeout() {
    let mut c = Connection::with_mask_source(Role::Client, timed_config(), keys());
    c.handle_timeout(secs(0));
    c.handle_timeout(secs(10));
    assert_eq!(c.stats().pings_sent, 1);
    assert_eq!(c.poll_timeout(), Some(secs(15)));
    c.handle_timeout(secs(15));
    assert_eq!(c.pending_error(), Some(&Error::KeepaliveTimeout));
    assert!(c.should_close_transport());
    assert_eq!(c.poll_timeout(), Some(secs(15)));
    c.handle_timeout(secs(16));
    assert_eq!(c.poll_timeout(), None);
}

// The clock never goes backwards: an earlier `now` is the latest one.
#[test]
fn time_never_goes_backwards() {
    let mut s = server_with(timed_config());
    s.handle_timeout(secs(50));
    s.handle_timeout(secs(20));
    assert_eq!(s.poll_timeout(), Some(secs(60)));
    s.close(CloseCode::NORMAL, "").unwrap();
    assert_eq!(s.poll_timeout(), Some(secs(50)));
}

// The table itself: deadlines, pending timers (due now), the filter, and
// stopping the timers that run only while open.
#[test]
fn timer_table() {
    use crate::connection::timer::{Timer, TimerTable};

    let mut t = TimerTable::default();
    assert_eq!(t.next_timeout(|_| true), None);
    assert_eq!(t.advance(secs(5)), secs(5));
    assert_eq!(t.advance(secs(3)), secs(5), "never backwards");
    t.set(Timer::Idle, secs(9));
    t.set(Timer::Close, secs(7));
    assert_eq!(t.get(Timer::Close), Some(secs(7)));
    assert_eq!(t.next_timeout(|_| true), Some(secs(7)));
    assert_eq!(t.next_timeout(|timer| timer != Timer::Close), Some(secs(9)));
    assert!(t.expired(Timer::Close, secs(7)));
    assert!(!t.expired(Timer::Close, secs(6)));
    assert!(
        !t.expired(Timer::Keepalive, secs(100)),
        "stopped never expires"
    );

    t.set_pending(Timer::Keepalive);
    assert!(t.is_pending(Timer::Keepalive));
    assert_eq!(t.get(Timer::Keepalive), None);
    assert_eq!(
        t.next_timeout(|_| false),
        Some(secs(5)),
        "pending is due now"
    );

    t.stop_open_only();
    assert!(!t.is_pending(Timer::Keepalive));
    assert_eq!(t.get(Timer::Idle), None);
    assert_eq!(t.get(Timer::Close), Some(secs(7)));
    t.stop(Timer::Close);
    assert_eq!(t.next_timeout(|_| true), None);
}
