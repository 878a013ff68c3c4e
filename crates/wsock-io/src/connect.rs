//! The client's connection plan, as both adapters follow it, whatever
//! their I/O: the name of what is connected to, the order its addresses
//! are tried in (RFC 8305), and how long one attempt may take when they
//! are tried one after another.

use std::net::SocketAddr;
use std::time::Duration;

/// The least time an address gets when the connect timeout is shared among
/// several (as Go's dialer does), so one slow address does not starve the
/// others of all but a sliver.
pub const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// `host:port` as errors name it, an IPv6 literal in brackets.
pub fn target(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// RFC 8305 §4: alternate address families, starting with the family of
/// the first address (the resolver's preference); duplicates dropped.
pub fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        if !unique.contains(&addr) {
            unique.push(addr);
        }
    }
    let Some(first) = unique.first() else {
        return unique;
    };
    let first_v6 = first.is_ipv6();
    let (mut preferred, mut other): (Vec<_>, Vec<_>) = unique
        .iter()
        .copied()
        .partition(|a| a.is_ipv6() == first_v6);
    preferred.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(unique.len());
    loop {
        match (preferred.pop(), other.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// How long the next of `left` addresses, tried one after another, may
/// take with `remaining` of the connect timeout left: an even share, but
/// at least [`MIN_ATTEMPT`] (or all that remains, if less).
pub fn attempt_timeout(remaining: Duration, left: usize) -> Duration {
    let share = remaining / u32::try_from(left.max(1)).unwrap_or(u32::MAX);
    if share < MIN_ATTEMPT {
        remaining.min(MIN_ATTEMPT)
    } else {
        share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleaves_families_from_the_first() {
        let v6a = addr("[::1]:80");
        let v6b = addr("[::2]:80");
        let v4a = addr("127.0.0.1:80");
        let v4b = addr("127.0.0.2:80");
        let v4c = addr("127.0.0.3:80");
        assert_eq!(
            interleave(vec![v6a, v6b, v4a, v4b, v4c]),
            vec![v6a, v4a, v6b, v4b, v4c]
        );
        assert_eq!(interleave(vec![v4a, v4b, v6a]), vec![v4a, v6a, v4b]);
        assert_eq!(interleave(vec![v4a, v4a, v4b]), vec![v4a, v4b]);
        assert!(interleave(vec![]).is_empty());
    }

    #[test]
    fn ipv6_targets_are_bracketed() {
        assert_eq!(target("::1", 80), "[::1]:80");
        assert_eq!(target("example.com", 443), "example.com:443");
    }

    #[test]
    fn attempts_share_the_time_but_get_a_floor() {
        let s = Duration::from_secs;
        assert_eq!(attempt_timeout(s(30), 3), s(10));
        assert_eq!(attempt_timeout(s(30), 30), MIN_ATTEMPT);
        assert_eq!(attempt_timeout(s(1), 3), s(1));
        assert_eq!(attempt_timeout(s(5), 0), s(5));
    }
}
