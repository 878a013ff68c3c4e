//! Hostile clients against the servers: the `wsock serve` binary (tokio
//! and blocking runtimes), the tokio `Server` helper and, where the
//! adapters differ, the blocking `Server` helper. Each attack asserts the
//! defined answer (an HTTP status or a close code) and that a fresh client
//! is served within one second afterwards.

mod common;

use std::fmt::Write as _;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{
    Attacked, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, MAX_FRAME, MAX_HANDSHAKES, REQUEST, SLACK,
    assert_fresh_client_served, assert_fresh_client_served_within, blocking_server, bounded,
    cli_server, connect, ended, frame, read_close_code, read_frame, read_status, tokio_server,
    upgraded,
};

/// The servers every attack runs against.
fn targets() -> Vec<Attacked> {
    vec![cli_server("tokio"), cli_server("blocking"), tokio_server()]
}

/// Runs `attack` against every target, then checks a fresh client.
fn against_all(name: &'static str, attack: fn(&Attacked)) {
    bounded(60, move || {
        for target in targets() {
            attack(&target);
            assert_fresh_client_served(&target, name);
        }
    });
}

fn request_with(edit: impl Fn(&str) -> String) -> Vec<u8> {
    edit(REQUEST).into_bytes()
}

#[test]
fn oversized_header_block_is_431() {
    against_all("an oversized header block", |t| {
        let mut tcp = connect(t.addr);
        let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
        request.resize(request.len() + 9 * 1024, b'a');
        tcp.write_all(&request).unwrap();
        assert_eq!(read_status(&mut tcp), 431, "{}", t.name);
        assert!(ended(&mut tcp), "{}", t.name);
    });
}

#[test]
fn too_many_headers_is_431() {
    against_all("too many headers", |t| {
        let mut tcp = connect(t.addr);
        let extra = (0..70).fold(String::new(), |mut s, i| {
            let _ = write!(s, "X-H{i}: v\r\n");
            s
        });
        let request = request_with(|r| r.replacen("Host:", &format!("{extra}Host:"), 1));
        tcp.write_all(&request).unwrap();
        assert_eq!(read_status(&mut tcp), 431, "{}", t.name);
    });
}

#[test]
fn bad_upgrade_requests_are_400_405_426() {
    against_all("bad upgrade requests", |t| {
        let cases: [(Vec<u8>, u16); 4] = [
            (
                request_with(|r| r.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
                400,
            ),
            (
                request_with(|r| r.replace("Version: 13", "Version: 8")),
                426,
            ),
            (request_with(|r| r.replace("GET ", "POST ")), 405),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        ];
        for (request, status) in cases {
            let mut tcp = connect(t.addr);
            tcp.write_all(&request).unwrap();
            assert_eq!(read_status(&mut tcp), status, "{}", t.name);
        }
    });
}

#[test]
fn tls_client_hello_to_a_plain_server_is_400_at_once() {
    against_all("a TLS ClientHello", |t| {
        let started = Instant::now();
        let mut tcp = connect(t.addr);
        // A TLS record header (handshake, TLS 1.0 record version, 512
        // bytes) and the start of a ClientHello.
        let mut hello = vec![
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        hello.resize(517, 0x2a);
        tcp.write_all(&hello).unwrap();
        assert_eq!(read_status(&mut tcp), 400, "{}", t.name);
        let took = started.elapsed();
        assert!(took < HANDSHAKE_TIMEOUT / 2, "{}: {took:?}", t.name);
    });
}

#[test]
fn oversized_frame_is_1009() {
    against_all("an oversized frame", |t| {
        let mut tcp = upgraded(t.addr);
        // Only the header (announcing 16 × the limit) and the mask key:
        // the size is refused before any payload.
        let mut header = frame(0x82, &[], true);
        header.truncate(1);
        header.push(0x80 | 127);
        header.extend_from_slice(&((MAX_FRAME as u64) * 16).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        tcp.write_all(&header).unwrap();
        assert_eq!(read_close_code(&mut tcp), Some(1009), "{}", t.name);
        assert!(ended(&mut tcp), "{}", t.name);
    });
}

#[test]
fn bad_utf8_is_1007() {
    against_all("invalid UTF-8", |t| {
        let mut tcp = upgraded(t.addr);
        tcp.write_all(&frame(0x81, &[b'o', b'k', 0xff, 0xfe], true))
            .unwrap();
        assert_eq!(read_close_code(&mut tcp), Some(1007), "{}", t.name);
    });
}

#[test]
fn unmasked_client_frame_is_1002() {
    against_all("an unmasked frame", |t| {
        let mut tcp = upgraded(t.addr);
        tcp.write_all(&frame(0x81, b"hi", false)).unwrap();
        assert_eq!(read_close_code(&mut tcp), Some(1002), "{}", t.name);
    });
}

#[test]
fn reserved_opcode_is_1002() {
    against_all("a reserved opcode", |t| {
        let mut tcp = upgraded(t.addr);
        tcp.write_all(&frame(0x83, b"", true)).unwrap();
        assert_eq!(read_close_code(&mut tcp), Some(1002), "{}", t.name);
    });
}

#[test]
fn close_followed_by_garbage_gets_the_close_reply_and_an_end() {
    against_all("a close frame followed by garbage", |t| {
        let mut tcp = upgraded(t.addr);
        let mut bytes = frame(0x88, &1000u16.to_be_bytes(), true);
        bytes.extend(std::iter::repeat_n(0xa5, 4096));
        tcp.write_all(&bytes).unwrap();
        assert_eq!(read_close_code(&mut tcp), Some(1000), "{}", t.name);
        assert!(ended(&mut tcp), "{}", t.name);
    });
}

#[test]
fn ping_flood_is_answered_up_to_the_latest_ping() {
    const PINGS: u32 = 100_000;
    against_all("100,000 pings", |t| {
        let mut tcp = upgraded(t.addr);
        let mut writer = tcp.try_clone().unwrap();
        // Written without reading: the server must keep reading while its
        // pongs pile up, and may answer only the latest.
        let flood = std::thread::spawn(move || {
            let mut batch = Vec::with_capacity(10 * 1000);
            for i in 0..PINGS {
                batch.extend_from_slice(&frame(0x89, &i.to_be_bytes(), true));
                if batch.len() >= 10 * 1000 {
                    writer.write_all(&batch).unwrap();
                    batch.clear();
                }
            }
            batch.extend_from_slice(&frame(0x81, b"after", true));
            writer.write_all(&batch).unwrap();
        });
        std::thread::sleep(Duration::from_millis(100));
        let (mut pongs, mut last, mut echoed) = (0u32, None, false);
        while !(echoed && last == Some(PINGS - 1)) {
            let (b0, payload) = read_frame(&mut tcp).expect("pongs and the echo");
            match b0 {
                0x8a => {
                    let n = u32::from_be_bytes(payload.try_into().unwrap());
                    assert!(last.is_none_or(|l| n > l), "pongs in order");
                    last = Some(n);
                    pongs += 1;
                }
                0x81 => {
                    assert_eq!(payload, b"after");
                    echoed = true;
                }
                other => panic!("{}: unexpected frame {other:#x}", t.name),
            }
        }
        flood.join().unwrap();
        assert!((1..=PINGS).contains(&pongs), "{}: {pongs} pongs", t.name);
        eprintln!("{}: {PINGS} pings answered with {pongs} pongs", t.name);
    });
}

/// A peer that floods pings and reads nothing until it is done: the
/// server keeps reading, holds back pongs while its output is over the
/// write-buffer bound, and answers only the latest then. Without that, the
/// 12.7 MB of pongs owed would queue in memory. (The blocking adapter
/// bounds memory the same way, but gives each read only a short write
/// attempt, so it takes this flood slowly; it is left out.)
#[test]
fn ping_flood_from_a_peer_that_does_not_read_is_coalesced() {
    const PINGS: u32 = 100_000;
    bounded(60, || {
        for t in [cli_server("tokio"), tokio_server()] {
            // A small receive window, so that what the kernel buffers stays
            // small next to the 12.7 MB of pongs owed.
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(16 * 1024).unwrap();
            socket.connect(&t.addr.into()).unwrap();
            let mut tcp: TcpStream = socket.into();
            tcp.set_read_timeout(Some(common::READ_LIMIT)).unwrap();
            tcp.write_all(REQUEST.as_bytes()).unwrap();
            assert_eq!(read_status(&mut tcp), 101);
            let mut writer = tcp.try_clone().unwrap();
            writer
                .set_write_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut payload = [0x5au8; 125];
            let mut batch = Vec::with_capacity(64 * 1024);
            for i in 0..PINGS {
                payload[..4].copy_from_slice(&i.to_be_bytes());
                batch.extend_from_slice(&frame(0x89, &payload, true));
                if batch.len() >= 60 * 1024 {
                    writer.write_all(&batch).unwrap();
                    batch.clear();
                }
            }
            batch.extend_from_slice(&frame(0x81, b"after", true));
            writer.write_all(&batch).unwrap();
            // Only now read.
            let (mut pongs, mut last, mut echoed) = (0u32, None, false);
            while !(echoed && last == Some(PINGS - 1)) {
                let (b0, payload) = read_frame(&mut tcp).expect("pongs and the echo");
                match b0 {
                    0x8a => {
                        let n = u32::from_be_bytes(payload[..4].try_into().unwrap());
                        assert!(last.is_none_or(|l| n > l), "pongs in order");
                        last = Some(n);
                        pongs += 1;
                    }
                    0x81 => echoed = true,
                    other => panic!("{}: unexpected frame {other:#x}", t.name),
                }
            }
            // Fewer pongs than pings: once the kernel's socket buffers (a
            // few MB on loopback) and the write-buffer bound were full, the
            // rest were coalesced instead of queued.
            assert!(
                pongs < PINGS * 9 / 10,
                "{}: {pongs} pongs for a peer that did not read",
                t.name
            );
            eprintln!(
                "{}: {PINGS} unread pings answered with {pongs} pongs",
                t.name
            );
            assert_fresh_client_served(&t, "an unread ping flood");
        }
    });
}

#[test]
fn half_open_connection_is_ended() {
    against_all("a half-closed connection", |t| {
        let mut tcp = upgraded(t.addr);
        tcp.shutdown(std::net::Shutdown::Write).unwrap();
        let started = Instant::now();
        // No closing handshake happened (1006): the server just ends.
        assert!(ended(&mut tcp), "{}", t.name);
        assert!(started.elapsed() < Duration::from_secs(1), "{}", t.name);
    });
}

#[test]
fn idle_connection_is_closed_with_1001() {
    against_all("an idle connection", |t| {
        let started = Instant::now();
        let mut tcp = upgraded(t.addr);
        assert_eq!(read_close_code(&mut tcp), Some(1001), "{}", t.name);
        let took = started.elapsed();
        assert!(
            took + SLACK >= IDLE_TIMEOUT && took < IDLE_TIMEOUT + Duration::from_secs(1),
            "{}: closed after {took:?}",
            t.name
        );
        // The close reply completes the handshake; then the server ends.
        tcp.write_all(&frame(0x88, &1001u16.to_be_bytes(), true))
            .unwrap();
        assert!(ended(&mut tcp), "{}", t.name);
    });
}

/// A client that sends its request one byte per second is dropped when
/// the handshake deadline passes, not kept alive by each byte.
#[test]
fn one_byte_per_second_is_dropped_at_the_handshake_deadline() {
    bounded(60, || {
        let mut targets = targets();
        targets.push(blocking_server());
        for t in targets {
            let started = Instant::now();
            let mut tcp = connect(t.addr);
            let mut writer = tcp.try_clone().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let dribble = {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    for &b in REQUEST.as_bytes() {
                        if stop.load(Ordering::Relaxed) || writer.write_all(&[b]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                })
            };
            // Both adapters answer 408 (the core's timed-out rejection).
            let mut buf = [0u8; 64];
            let n = std::io::Read::read(&mut tcp, &mut buf).unwrap_or(0);
            let took = started.elapsed();
            stop.store(true, Ordering::Relaxed);
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 408"),
                "{}: {:?}",
                t.name,
                String::from_utf8_lossy(&buf[..n])
            );
            assert!(
                took + SLACK >= HANDSHAKE_TIMEOUT
                    && took < HANDSHAKE_TIMEOUT + Duration::from_secs(1),
                "{}: dropped after {took:?}",
                t.name
            );
            drop(tcp);
            dribble.join().unwrap();
            assert_fresh_client_served(&t, "a one-byte-per-second request");
        }
    });
}

/// Twice as many connections as there are handshake slots dribble header
/// bytes. The server stops accepting at the cap (connections wait in the
/// listen backlog) and ends a dribbler only once it has stalled: by then
/// every slot holds one, and the backlog holds the rest ahead of the fresh
/// client. Each round of dribblers ends at its handshake deadline (or,
/// with a connection waiting, once stalled), so a fresh client is served
/// within two rounds and a second, not locked out.
#[test]
fn slowloris_does_not_lock_out_new_clients() {
    const DRIBBLERS: usize = 2 * MAX_HANDSHAKES;
    let round = HANDSHAKE_TIMEOUT.min(wsock_core::admission::DEFAULT_EVICT_AFTER);
    let limit = 2 * round + Duration::from_secs(1);
    bounded(60, move || {
        let mut targets = targets();
        targets.push(blocking_server());
        for t in targets {
            let mut conns: Vec<TcpStream> = (0..DRIBBLERS)
                .map(|_| {
                    let mut tcp = connect(t.addr);
                    let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n");
                    tcp
                })
                .collect();
            let stop = Arc::new(AtomicBool::new(false));
            let dribble = {
                let stop = Arc::clone(&stop);
                let mut conns: Vec<TcpStream> =
                    conns.iter().map(|c| c.try_clone().unwrap()).collect();
                std::thread::spawn(move || {
                    let pattern = b"X-Slow: yes\r\n";
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        for tcp in &mut conns {
                            let _ = tcp.write(&pattern[i % pattern.len()..][..1]);
                        }
                        i += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(200));
            assert_fresh_client_served_within(&t, "twice the cap of dribbling connections", limit);
            // Once the dribblers have been ended, clients are served at once.
            for _ in 0..2 {
                assert_fresh_client_served(&t, "the dribblers were ended");
            }
            stop.store(true, Ordering::Relaxed);
            dribble.join().unwrap();
            conns.clear();
        }
    });
}
