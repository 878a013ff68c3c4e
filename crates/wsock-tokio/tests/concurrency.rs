//! Split halves under load, cancellation, backpressure, keepalive and
//! close timeouts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LIMIT, listener, pair, pair_with, raw_client};
use futures_util::SinkExt;
use tokio::time::timeout;
use wsock_tokio::{
    Acceptor, ClientBuilder, Config, ErrorKind, Message, Role, State, Timeout, WebSocket,
};

// One task floods sends while the other receives, and the peer pings all
// the while: everything arrives, pings are answered by the receiving half
// alone, nothing deadlocks.
async fn halves_under_load() {
    const N: usize = 3000;
    let (client, server) = pair().await;
    let (mut client_rx, mut client_tx) = client.split();
    let (mut server_rx, mut server_tx) = server.split();

    let flood = tokio::spawn(async move {
        let payload = vec![0xab; 700];
        for i in 0..N {
            let mut m = payload.clone();
            m[..8].copy_from_slice(&(i as u64).to_be_bytes());
            client_tx.send(m).await.unwrap();
        }
        client_tx
    });
    let client_reader = tokio::spawn(async move {
        let mut texts = 0;
        while let Some(m) = client_rx.recv().await.unwrap() {
            match m {
                Message::Text(t) => {
                    assert_eq!(t, format!("server {texts}"));
                    texts += 1;
                }
                Message::Ping(_) | Message::Close(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (texts, client_rx)
    });
    let last_ping = Arc::new(AtomicUsize::new(0));
    let pinger = {
        let last_ping = last_ping.clone();
        tokio::spawn(async move {
            for i in 1..=200usize {
                server_tx
                    .send(Message::ping(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
                server_tx.send(format!("server {}", i - 1)).await.unwrap();
                last_ping.store(i, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            server_tx
        })
    };
    let mut received = 0u64;
    let mut last_pong = 0usize;
    while received < N as u64 {
        match server_rx.recv().await.unwrap().unwrap() {
            Message::Binary(b) => {
                assert_eq!(
                    u64::from_be_bytes(b[..8].try_into().unwrap()),
                    received,
                    "in order"
                );
                received += 1;
            }
            Message::Pong(p) => last_pong = usize::from_be_bytes(p[..].try_into().unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut client_tx = flood.await.unwrap();
    let mut server_tx = pinger.await.unwrap();
    // The newest ping is always answered (older ones may be coalesced
    // while the output is congested).
    while last_pong < 200 {
        match server_rx.recv().await.unwrap().unwrap() {
            Message::Pong(p) => last_pong = usize::from_be_bytes(p[..].try_into().unwrap()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(server_rx.stats().pongs_received >= 1);
    server_tx.close(None).await.unwrap();
    assert!(matches!(
        server_rx.recv().await.unwrap(),
        Some(Message::Close(_))
    ));
    assert_eq!(server_rx.recv().await.unwrap(), None);
    let (texts, client_rx) = client_reader.await.unwrap();
    assert_eq!(texts, 200);
    assert_eq!(
        client_tx.send("late").await.unwrap_err().kind(),
        ErrorKind::AlreadyClosed
    );
    let client = client_rx.reunite(client_tx).unwrap();
    assert_eq!(client.state(), State::Closed);
    let server = server_rx.reunite(server_tx).unwrap();
    assert_eq!(server.stats().messages_received, N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_halves_under_load_multi_thread() {
    timeout(LIMIT, halves_under_load()).await.unwrap();
}

#[tokio::test]
async fn split_halves_under_load_current_thread() {
    timeout(LIMIT, halves_under_load()).await.unwrap();
}

#[tokio::test]
async fn reunite_needs_matching_halves() {
    timeout(LIMIT, async {
        // Two client connections: halves of the same type, not a pair.
        let (a, mut a_peer) = pair().await;
        let (b, mut b_peer) = pair().await;
        let (a_rx, a_tx) = a.split();
        let (b_rx, b_tx) = b.split();
        assert!(a_rx.is_pair_of(&a_tx) && !a_rx.is_pair_of(&b_tx));
        let wsock_tokio::ReuniteError(a_rx, b_tx) = a_rx.reunite(b_tx).unwrap_err();
        let mut a = a_rx.reunite(a_tx).unwrap();
        let mut b = b_rx.reunite(b_tx).unwrap();
        a.send("still works").await.unwrap();
        b.send("this too").await.unwrap();
        assert_eq!(
            a_peer.recv().await.unwrap(),
            Some(Message::text("still works"))
        );
        assert_eq!(
            b_peer.recv().await.unwrap(),
            Some(Message::text("this too"))
        );
    })
    .await
    .unwrap();
}

// `recv` dropped by `select!` over and over loses no message, even in the
// middle of fragmented ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_recv_in_select_loses_nothing() {
    timeout(LIMIT, async {
        const N: usize = 2000;
        let (mut client, mut server) =
            pair_with(|b| b, Acceptor::new().fragment_size(Some(37))).await;
        let sender = tokio::spawn(async move {
            for i in 0..N {
                server
                    .send(format!("message {i} {}", "x".repeat(i % 300)))
                    .await
                    .unwrap();
            }
            server.close(None).await.unwrap();
        });
        let mut count = 0;
        let mut cancelled = 0;
        loop {
            tokio::select! {
                m = client.recv() => match m.unwrap() {
                    Some(Message::Text(t)) => {
                        assert_eq!(t, format!("message {count} {}", "x".repeat(count % 300)));
                        count += 1;
                    }
                    Some(_) => {}
                    None => break,
                },
                () = tokio::task::yield_now() => cancelled += 1,
            }
        }
        assert_eq!(count, N);
        assert!(cancelled > 0);
        sender.await.unwrap();
    })
    .await
    .unwrap();
}

// A peer that reads slowly makes the sender wait; the queued output never
// grows past the write-buffer bound plus one message.
#[tokio::test]
async fn slow_reader_makes_sender_wait() {
    timeout(LIMIT, async {
        const BOUND: usize = 64 * 1024;
        const SIZE: usize = 16 * 1024;
        const N: usize = 1000; // 16 MB in all, far more than socket buffers hold
        // Uncompressed, so the repeated bytes fill the socket buffers.
        let (mut client, server) = pair_with(
            common::uncompressed,
            Acceptor::new().write_buffer_size(BOUND),
        )
        .await;
        let (server_rx, mut server_tx) = server.split();
        let sent = Arc::new(AtomicUsize::new(0));
        let max_buffered = Arc::new(AtomicUsize::new(0));
        let sender = {
            let (sent, max_buffered) = (sent.clone(), max_buffered.clone());
            tokio::spawn(async move {
                for _ in 0..N {
                    // `feed` queues without flushing: only the bound stops it.
                    server_tx
                        .feed(Message::binary(vec![1; SIZE]))
                        .await
                        .unwrap();
                    max_buffered.fetch_max(server_tx.buffered_output(), Ordering::SeqCst);
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                server_tx.flush().await.unwrap();
                server_tx
            })
        };
        // The client does not read: the sender stalls once the socket
        // buffers are full (however long filling them takes on a busy machine).
        let mut stalled_at = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = sent.load(Ordering::SeqCst);
            if now == stalled_at {
                break;
            }
            stalled_at = now;
        }
        assert!(stalled_at < N);
        assert!(
            server_rx.buffered_output() <= BOUND + SIZE + 16,
            "{}",
            server_rx.buffered_output()
        );
        // Now read everything.
        for _ in 0..N {
            assert!(
                matches!(client.recv().await.unwrap(), Some(Message::Binary(b)) if b.len() == SIZE)
            );
        }
        let server_tx = sender.await.unwrap();
        let max = max_buffered.load(Ordering::SeqCst);
        assert!(max <= BOUND + SIZE + 16, "buffered output reached {max}");
        drop((server_rx, server_tx));
    })
    .await
    .unwrap();
}

// Keepalive against a peer that stopped answering: the receiving side
// reports a Timeout (on tokio's paused clock, so no real waiting).
#[tokio::test(start_paused = true)]
async fn keepalive_detects_a_dead_peer() {
    let (ours, _theirs) = tokio::io::duplex(4096);
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(5);
    let mut ws = WebSocket::from_raw(ours, Role::Server, config);
    let started = tokio::time::Instant::now();
    let err = ws.recv().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Keepalive), "{err}");
    assert_eq!(
        err.core_error(),
        Some(&wsock_tokio::CoreError::KeepaliveTimeout)
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
    assert_eq!(ws.stats().pings_sent, 1);
    assert_eq!(ws.recv().await.unwrap(), None);
}

// The sending side detects it too, while blocked on a peer that stopped
// reading, with no receive running.
#[tokio::test(start_paused = true)]
async fn keepalive_unblocks_a_stuck_sender() {
    let (ours, _theirs) = tokio::io::duplex(4096);
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.keepalive_timeout = Duration::from_secs(5);
    let (_rx, mut tx) = WebSocket::from_raw(ours, Role::Client, config).split();
    let err = tx.send(vec![0u8; 100_000]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Keepalive), "{err}");
    assert_eq!(
        tx.send("more").await.unwrap_err().kind(),
        ErrorKind::AlreadyClosed
    );
}

// The write timeout: against a peer that stopped reading, a send fails
// with Timeout::Write once no byte has gone out for that long; what was
// queued stays queued, and the connection carries on when the peer reads.
#[tokio::test(start_paused = true)]
async fn write_timeout_against_a_peer_that_does_not_read() {
    use tokio::io::AsyncReadExt;
    let (ours, mut theirs) = tokio::io::duplex(4096);
    #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate = wsock_tokio::DeflateConfig::disabled();
    }
    let mut ws = WebSocket::from_raw(ours, Role::Client, config);
    ws.set_write_timeout(Some(Duration::from_secs(5)));
    let started = tokio::time::Instant::now();
    let err = ws.send(vec![7u8; 100_000]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Write), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(ws.state(), State::Open);
    assert!(ws.buffered_output() > 0);
    // The peer reads: the rest goes out, whole.
    let reader = tokio::spawn(async move {
        let mut frame = vec![0u8; 100_000 + 14];
        theirs.read_exact(&mut frame).await.unwrap();
        frame
    });
    ws.flush().await.unwrap();
    let frame = reader.await.unwrap();
    assert_eq!(frame[0], 0x82);
    assert_eq!(ws.buffered_output(), 0);
}

// With a live peer, keepalive pings are answered and the connection stays.
#[tokio::test]
async fn keepalive_keeps_a_live_connection() {
    timeout(LIMIT, async {
        let (mut client, server) = pair_with(
            |b| {
                b.keepalive_interval(Some(Duration::from_millis(20)))
                    .keepalive_timeout(Duration::from_millis(300))
            },
            Acceptor::new(),
        )
        .await;
        let echo = tokio::spawn(async move {
            let mut server = server;
            while let Some(m) = server.recv().await.unwrap() {
                if m.is_data() {
                    server.send(m).await.unwrap();
                }
            }
        });
        // Idle for many intervals, but with a receive running.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(m) = tokio::time::timeout_at(deadline, client.recv()).await {
            assert!(
                matches!(m.unwrap(), Some(Message::Pong(_))),
                "only pongs arrive"
            );
        }
        let stats = client.stats();
        assert!(stats.pings_sent >= 2, "{stats:?}");
        client.send("still here").await.unwrap();
        loop {
            match client.recv().await.unwrap() {
                Some(Message::Pong(_)) => {}
                other => {
                    assert_eq!(other, Some(Message::text("still here")));
                    break;
                }
            }
        }
        client.close(None).await.unwrap();
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

// The peer never answers our close: close() gives up after the close
// timeout and says so.
#[tokio::test]
async fn close_timeout() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let peer = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = wsock_tokio::accept(tcp).await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(ws);
        });
        let mut config = Config::default();
        config.close_timeout = Some(Duration::from_millis(200));
        let mut client = ClientBuilder::new(format!("{url}/"))
            .config(config)
            .connect()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let err = client.close(None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Close), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(client.recv().await.unwrap(), None);
        peer.abort();
    })
    .await
    .unwrap();
}

// A raw peer that stops reading and writing entirely: the server's
// receive reports the keepalive timeout in real time too.
#[tokio::test]
async fn keepalive_over_tcp() {
    timeout(LIMIT, async {
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = Acceptor::new()
                .keepalive_interval(Some(Duration::from_millis(100)))
                .keepalive_timeout(Duration::from_millis(200))
                .accept(tcp)
                .await
                .unwrap();
            let started = std::time::Instant::now();
            (ws.recv().await.unwrap_err(), started.elapsed())
        });
        let _silent = raw_client(&url).await;
        let (err, took) = server.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::Timeout(Timeout::Keepalive), "{err}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    })
    .await
    .unwrap();
}

// Our writer is stuck (the peer stopped reading) while the peer keeps
// sending and pinging: our reader still receives everything, and owes its
// pongs without waiting for the writer. Then the peer reads again and all
// of our messages arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_progresses_while_writer_is_stuck() {
    timeout(LIMIT, async {
        // Uncompressed, so the repeated bytes fill the socket buffers.
        let (ours, peer) = pair_with(common::uncompressed, Acceptor::new()).await;
        let (mut our_rx, mut our_tx) = ours.split();
        let (mut peer_rx, mut peer_tx) = peer.split();
        let sent = Arc::new(AtomicUsize::new(0));
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                for _ in 0..400 {
                    our_tx.send(vec![9u8; 64 * 1024]).await.unwrap();
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                our_tx
            })
        };
        // Wait until our writer is stuck.
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = sent.load(Ordering::SeqCst);
            if now == last {
                break;
            }
            last = now;
        }
        assert!(last < 400);
        for i in 0..100 {
            peer_tx.send(Message::ping(vec![i])).await.unwrap();
            peer_tx.send(format!("peer {i}")).await.unwrap();
        }
        let mut texts = 0;
        while texts < 100 {
            match our_rx.recv().await.unwrap().unwrap() {
                Message::Text(t) => {
                    assert_eq!(t, format!("peer {texts}"));
                    texts += 1;
                }
                Message::Ping(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            sent.load(Ordering::SeqCst),
            last,
            "the writer is still stuck"
        );
        // The peer reads again: our 400 messages and then the pongs arrive.
        let mut binaries = 0;
        let mut last_pong = None;
        while binaries < 400 || last_pong != Some(99) {
            match peer_rx.recv().await.unwrap().unwrap() {
                Message::Binary(b) => {
                    assert_eq!(b.len(), 64 * 1024);
                    binaries += 1;
                }
                Message::Pong(p) => last_pong = Some(p[0]),
                other => panic!("unexpected {other:?}"),
            }
        }
        writer.await.unwrap();
    })
    .await
    .unwrap();
}
