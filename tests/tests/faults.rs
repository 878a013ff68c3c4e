//! Broken networks and stubborn peers, against both adapters: each fault
//! gives a defined error and ends the connection; a peer that never reads
//! cannot grow our write buffer; nothing sent before a close is lost.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{
    Attacked, Target, assert_fresh_client_served, blocking_server, bounded, cli_server, frame,
    read_close_code, tokio_server, upgraded,
};
use wsock_core::{CloseCode, State};

/// What a fault does to a connection that the server side then observes.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Half a frame, then a reset (RST).
    ResetMidFrame,
    /// The client shuts down its writing side after the handshake.
    HalfClose,
    /// A close frame, then garbage.
    CloseThenGarbage,
    /// The client closes TCP without a close frame.
    TcpCloseWithoutCloseFrame,
}

const FAULTS: [Fault; 4] = [
    Fault::ResetMidFrame,
    Fault::HalfClose,
    Fault::CloseThenGarbage,
    Fault::TcpCloseWithoutCloseFrame,
];

/// Plays `fault` as a raw client of `addr`.
fn play(fault: Fault, addr: SocketAddr) {
    let mut tcp = upgraded(addr);
    match fault {
        Fault::ResetMidFrame => {
            let mut f = frame(0x82, &[7u8; 100], true);
            f.truncate(40);
            tcp.write_all(&f).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            socket2::SockRef::from(&tcp)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(tcp);
        }
        Fault::HalfClose => {
            tcp.shutdown(std::net::Shutdown::Write).unwrap();
            // The server ends the connection without a close frame.
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest);
            assert!(rest.is_empty(), "{rest:?}");
        }
        Fault::CloseThenGarbage => {
            let mut bytes = frame(0x88, &1000u16.to_be_bytes(), true);
            bytes.extend(std::iter::repeat_n(0x5a, 3000));
            tcp.write_all(&bytes).unwrap();
            assert_eq!(read_close_code(&mut tcp), Some(1000));
        }
        Fault::TcpCloseWithoutCloseFrame => drop(tcp),
    }
}

// ------------------------------------------------------------ tokio

async fn tokio_observe(fault: Fault) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || play(fault, addr));
    let (tcp, _) = listener.accept().await.unwrap();
    let mut ws = wsock_tokio::accept(tcp).await.unwrap();
    let first = ws.recv().await;
    match fault {
        Fault::ResetMidFrame => {
            let err = first.unwrap_err();
            // A reset is an I/O failure; an end of stream seen first is 1006.
            assert!(
                matches!(
                    err.kind(),
                    wsock_tokio::ErrorKind::Io | wsock_tokio::ErrorKind::AbnormalClose
                ),
                "{fault:?}: {err:?}"
            );
        }
        Fault::HalfClose | Fault::TcpCloseWithoutCloseFrame => {
            let err = first.unwrap_err();
            assert_eq!(
                (err.kind(), err.close_code()),
                (
                    wsock_tokio::ErrorKind::AbnormalClose,
                    Some(CloseCode::ABNORMAL)
                ),
                "{fault:?}: {err:?}"
            );
        }
        Fault::CloseThenGarbage => {
            assert_eq!(
                first.unwrap(),
                Some(wsock_tokio::Message::Close(Some(
                    wsock_tokio::CloseFrame::new(1000, "")
                )))
            );
        }
    }
    // Then the connection is over and says so, without waiting.
    let end = tokio::time::timeout(Duration::from_secs(3), ws.recv())
        .await
        .expect("the end is reported at once");
    assert!(matches!(end, Ok(None)), "{fault:?}: {end:?}");
    assert_eq!(ws.state(), State::Closed, "{fault:?}");
    client.join().unwrap();
}

#[test]
fn tokio_faults_give_defined_errors() {
    bounded(30, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        for fault in FAULTS {
            rt.block_on(tokio_observe(fault));
        }
    });
}

// ------------------------------------------------------------ blocking

fn blocking_observe(fault: Fault) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || play(fault, addr));
    let (tcp, _) = listener.accept().unwrap();
    let mut ws = wsock_blocking::accept(tcp).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(5)));
    let first = ws.recv();
    match fault {
        Fault::ResetMidFrame | Fault::HalfClose | Fault::TcpCloseWithoutCloseFrame => {
            let err = first.unwrap_err();
            assert_eq!(
                (err.kind(), err.close_code()),
                (
                    wsock_blocking::ErrorKind::AbnormalClose,
                    Some(CloseCode::ABNORMAL)
                ),
                "{fault:?}: {err:?}"
            );
        }
        Fault::CloseThenGarbage => {
            assert_eq!(
                first.unwrap(),
                Some(wsock_blocking::Message::close(1000, ""))
            );
            assert_eq!(ws.recv().unwrap(), None);
        }
    }
    // Then the connection is over and says so, as tokio's does.
    assert!(matches!(ws.recv(), Ok(None)), "{fault:?}");
    assert_eq!(ws.state(), State::Closed, "{fault:?}");
    client.join().unwrap();
}

#[test]
fn blocking_faults_give_defined_errors() {
    bounded(30, || {
        for fault in FAULTS {
            blocking_observe(fault);
        }
    });
}

// ------------------------------------------------------------ the servers

/// Connections the helper still holds (`None` for `wsock serve`, which
/// runs in another process).
fn open_connections(target: &Attacked) -> Option<usize> {
    match &target.target {
        Target::Tokio(_, Some(server)) => Some(server.connections()),
        Target::Blocking(Some(server)) => Some(server.connections()),
        _ => None,
    }
}

/// Each fault against `wsock serve` (both runtimes) and both `Server`
/// helpers: the helper lets the connection go (its count is back to zero
/// within two seconds) and a fresh client is served within a second.
#[test]
fn faults_against_the_servers_free_the_connection() {
    bounded(90, || {
        let targets = [
            cli_server("tokio"),
            cli_server("blocking"),
            tokio_server(),
            blocking_server(),
        ];
        for target in &targets {
            for fault in FAULTS {
                play(fault, target.addr);
                let deadline = Instant::now() + Duration::from_secs(2);
                while let Some(n) = open_connections(target).filter(|&n| n > 0) {
                    assert!(
                        Instant::now() < deadline,
                        "{}: {n} connections still open after {fault:?}",
                        target.name
                    );
                    std::thread::sleep(Duration::from_millis(10));
                }
                assert_fresh_client_served(target, &format!("{fault:?}"));
            }
        }
    });
}

// ------------------------------------------------------------ a server that never answers

/// Accepts connections and reads, but never answers the handshake.
fn mute_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(2) {
            let Ok(mut tcp) = tcp else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while tcp.read(&mut buf).is_ok_and(|n| n > 0) {}
            });
        }
    });
    addr
}

#[test]
fn a_server_that_never_finishes_the_handshake_times_out() {
    const LIMIT: Duration = Duration::from_millis(500);
    bounded(30, || {
        let addr = mute_server();
        let url = format!("ws://{addr}/");

        let started = Instant::now();
        let err = wsock_blocking::ClientBuilder::new(&url)
            .handshake_timeout(Some(LIMIT))
            .connect()
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err.kind(), wsock_blocking::ErrorKind::Timeout(_)),
            "{err:?}"
        );
        assert!(took >= LIMIT && took < LIMIT * 4, "blocking: {took:?}");

        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let err = rt
            .block_on(
                wsock_tokio::ClientBuilder::new(&url)
                    .handshake_timeout(Some(LIMIT))
                    .connect(),
            )
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err.kind(), wsock_tokio::ErrorKind::Timeout(_)),
            "{err:?}"
        );
        assert!(took >= LIMIT && took < LIMIT * 4, "tokio: {took:?}");
    });
}

// ------------------------------------------------------------ a peer that never reads

const MESSAGE: usize = 16 * 1024;
const WRITE_BUFFER: usize = 64 * 1024;

/// A raw client that completes the handshake and then never reads; its
/// socket is kept open until the returned sender is dropped.
fn never_reading_client(addr: SocketAddr) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let tcp = upgraded(addr);
        let _ = rx.recv();
        drop(tcp);
    });
    tx
}

#[test]
fn tokio_send_waits_for_a_peer_that_never_reads() {
    bounded(30, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let hold = never_reading_client(listener.local_addr().unwrap());
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::Acceptor::new()
                .write_buffer_size(WRITE_BUFFER)
                .accept(tcp)
                .await
                .unwrap();
            let payload = vec![0x42u8; MESSAGE];
            let mut sent = 0usize;
            loop {
                let send = ws.send(wsock_tokio::Message::binary(payload.clone()));
                match tokio::time::timeout(Duration::from_millis(300), send).await {
                    Ok(result) => result.unwrap(),
                    // Backpressure: the send waits instead of queueing.
                    Err(_) => break,
                }
                sent += 1;
                assert!(sent < 100_000, "sends never waited");
                let queued = ws.buffered_output();
                assert!(queued <= WRITE_BUFFER + MESSAGE + 14, "queued {queued}");
            }
            let queued = ws.buffered_output();
            assert!(queued <= WRITE_BUFFER + MESSAGE + 14, "queued {queued}");
            eprintln!(
                "tokio: {sent} messages of {MESSAGE} bytes went out (kernel buffers) \
                 before send waited; {queued} bytes queued in memory"
            );
            drop(hold);
        });
    });
}

#[test]
fn blocking_send_fails_after_the_write_timeout_for_a_peer_that_never_reads() {
    bounded(30, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let hold = never_reading_client(listener.local_addr().unwrap());
        let (tcp, _) = listener.accept().unwrap();
        let mut ws = wsock_blocking::Acceptor::new()
            .write_buffer_size(WRITE_BUFFER)
            .write_timeout(Some(Duration::from_millis(300)))
            .accept(tcp)
            .unwrap();
        let payload = vec![0x42u8; MESSAGE];
        let mut sent = 0u64;
        let err = loop {
            match ws.send(wsock_blocking::Message::binary(payload.clone())) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
            assert!(sent < 100_000, "sends never failed");
        };
        assert!(
            matches!(err.kind(), wsock_blocking::ErrorKind::Timeout(_)),
            "{err:?}"
        );
        // Frames are 4 header bytes + payload; what the core has not handed
        // to the writer waits in its output (the writer's own chunk, at
        // most 64 KiB, comes on top).
        let queued = (sent + 1) * (MESSAGE as u64 + 4) - ws.stats().bytes_sent;
        assert!(
            queued <= (WRITE_BUFFER + MESSAGE + 4) as u64,
            "queued {queued}"
        );
        eprintln!(
            "blocking: send failed ({err}) after {sent} messages; {queued} bytes left in the core's output"
        );
        drop(hold);
    });
}

// ------------------------------------------------------------ nothing lost

const NUMBERED: u32 = 10_000;

#[test]
fn tokio_ten_thousand_messages_then_the_close() {
    bounded(60, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("ws://{}/", listener.local_addr().unwrap());
            let sender = tokio::spawn(async move {
                let mut ws = wsock_tokio::connect(&url).await.unwrap();
                for i in 0..NUMBERED {
                    ws.send(format!("message {i}")).await.unwrap();
                }
                ws.close(Some(wsock_tokio::CloseFrame::new(1000, "done")))
                    .await
                    .unwrap();
            });
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            for i in 0..NUMBERED {
                assert_eq!(
                    ws.recv().await.unwrap(),
                    Some(wsock_tokio::Message::text(format!("message {i}")))
                );
            }
            assert_eq!(
                ws.recv().await.unwrap(),
                Some(wsock_tokio::Message::Close(Some(
                    wsock_tokio::CloseFrame::new(1000, "done")
                )))
            );
            assert_eq!(ws.recv().await.unwrap(), None);
            sender.await.unwrap();
        });
    });
}

#[test]
fn blocking_ten_thousand_messages_then_the_close() {
    bounded(60, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        let sender = std::thread::spawn(move || {
            let mut ws = wsock_blocking::connect(&url).unwrap();
            for i in 0..NUMBERED {
                ws.send(format!("message {i}")).unwrap();
            }
            ws.send(wsock_blocking::Message::close(1000, "done"))
                .unwrap();
            // Wait for the server's close reply.
            while let Ok(Some(_)) = ws.recv() {}
        });
        let (tcp, _): (TcpStream, _) = listener.accept().unwrap();
        let mut ws = wsock_blocking::accept(tcp).unwrap();
        for i in 0..NUMBERED {
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                wsock_blocking::Message::text(format!("message {i}"))
            );
        }
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            wsock_blocking::Message::Close(Some(wsock_blocking::CloseFrame::new(1000, "done")))
        );
        assert_eq!(ws.recv().unwrap(), None);
        sender.join().unwrap();
    });
}

// ------------------------------------------------------------ graceful shutdown of wsock serve

/// SIGTERM: `wsock serve` stops accepting, closes every connection with
/// 1001, and exits 0 once they are closed.
#[test]
fn wsock_serve_shuts_down_gracefully_on_sigterm() {
    bounded(30, || {
        for runtime in ["tokio", "blocking"] {
            let mut server = common::cli_server(runtime);
            let addr = server.addr;
            let mut clients = [upgraded(addr), upgraded(addr)];
            for tcp in &mut clients {
                tcp.write_all(&frame(0x81, b"x", true)).unwrap();
                assert_eq!(common::read_frame(tcp), Some((0x81, b"x".to_vec())));
            }
            let common::Target::Cli(child) = &mut server.target else {
                unreachable!()
            };
            let status = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            for tcp in &mut clients {
                assert_eq!(read_close_code(tcp), Some(1001), "{runtime}");
                tcp.write_all(&frame(0x88, &1001u16.to_be_bytes(), true))
                    .unwrap();
            }
            let started = Instant::now();
            let exit = loop {
                if let Some(exit) = child.try_wait().unwrap() {
                    break exit;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(3),
                    "{runtime}: still running"
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(exit.success(), "{runtime}: {exit:?}");
            assert!(
                TcpStream::connect(addr).is_err(),
                "{runtime}: still listening"
            );
        }
    });
}
