//! The listening socket both adapters' `listen` and `Server` bind: the
//! same options whatever the runtime that then accepts on it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// A listening socket on the first of `addrs` that binds, with an explicit
/// listen `backlog`: how many connections the kernel queues while the
/// accept loop is not accepting (`TcpListener::bind` leaves it to the
/// platform). `SO_REUSEADDR` is set on Unix, as `TcpListener::bind` does.
/// The error of the last address that failed, or an `InvalidInput` error
/// if there was none.
pub fn bind(
    addrs: impl IntoIterator<Item = SocketAddr>,
    backlog: u32,
) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in addrs {
        let bound = Socket::new(Domain::for_address(addr), Type::STREAM, None).and_then(|socket| {
            #[cfg(unix)]
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
            Ok(socket)
        });
        match bound {
            Ok(socket) => return Ok(socket.into()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// Where to connect to reach a listener on `addr`: an unspecified address
/// is reached through loopback. A blocking accept loop is woken this way.
pub fn wake_addr(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_the_first_address_that_binds() {
        let taken = bind(["127.0.0.1:0".parse().unwrap()], 16).unwrap();
        let taken_addr = taken.local_addr().unwrap();
        let free = "127.0.0.1:0".parse().unwrap();
        let listener = bind([taken_addr, free], 16).unwrap();
        assert_ne!(listener.local_addr().unwrap(), taken_addr);
        let err = bind([taken_addr], 16).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let err = bind([], 16).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn an_unspecified_address_is_woken_through_loopback() {
        let wake = |addr: &str| wake_addr(addr.parse().unwrap()).to_string();
        assert_eq!(wake("0.0.0.0:80"), "127.0.0.1:80");
        assert_eq!(wake("[::]:80"), "[::1]:80");
        assert_eq!(wake("10.0.0.1:80"), "10.0.0.1:80");
    }
}
