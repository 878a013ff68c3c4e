//! Write coalescing, on by default for the connections this crate's
//! handshakes make: an echo loop over pipelined input answers in fewer
//! writes than messages, and every deferred reply still reaches the peer,
//! in order, whatever the handler does next (receives, awaits something
//! else, pings, closes, splits); `write_coalescing(false)` makes every
//! `send` write at once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counted, LIMIT, frame, listener, raw_client};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use wsock_tokio::{Acceptor, Config, Message, Role, WebSocket};

fn text(i: usize) -> Message {
    Message::text(format!("message {i}"))
}

/// A server connection accepted with the default settings, over a
/// counting transport (its count taken after the handshake), and a raw
/// client that has sent `n` text messages in one write before the server
/// reads any.
async fn pipelined(
    n: usize,
) -> (
    WebSocket<Counted<TcpStream>>,
    Arc<AtomicUsize>,
    WebSocket<TcpStream>,
) {
    pipelined_with(Acceptor::new(), n).await
}

/// [`pipelined`], accepted with `acceptor`.
async fn pipelined_with(
    acceptor: Acceptor,
    n: usize,
) -> (
    WebSocket<Counted<TcpStream>>,
    Arc<AtomicUsize>,
    WebSocket<TcpStream>,
) {
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend(frame(0x81, format!("message {i}").as_bytes(), true));
    }
    pipelined_batch(acceptor, batch).await
}

/// [`pipelined`] with the client's first write `batch` (masked frames).
async fn pipelined_batch(
    acceptor: Acceptor,
    batch: Vec<u8>,
) -> (
    WebSocket<Counted<TcpStream>>,
    Arc<AtomicUsize>,
    WebSocket<TcpStream>,
) {
    let (listener, url): (TcpListener, String) = listener().await;
    let writes = Arc::new(AtomicUsize::new(0));
    let accept = tokio::spawn({
        let writes = Arc::clone(&writes);
        async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let counted = Counted {
                writes,
                ..Counted::new(tcp)
            };
            acceptor.accept(counted).await.unwrap()
        }
    });
    let mut tcp = raw_client(&url).await;
    let server = accept.await.unwrap();
    writes.store(0, Ordering::SeqCst);
    tcp.write_all(&batch).await.unwrap();
    let client = WebSocket::from_raw(tcp, Role::Client, Config::default());
    (server, writes, client)
}

// The plain echo loop, with nothing turned on: fewer writes than
// messages, every echo in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echo_loop_answers_a_batch_in_fewer_writes() {
    timeout(LIMIT, async {
        const N: usize = 100;
        let (mut server, writes, mut client) = pipelined(N).await;
        let echo = tokio::spawn(async move {
            while let Some(message) = server.recv().await.unwrap() {
                if matches!(message, Message::Close(_)) {
                    break;
                }
                server.send(message).await.unwrap();
            }
        });
        for i in 0..N {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        let writes = writes.load(Ordering::SeqCst);
        assert!(writes < N, "{N} echoes took {writes} writes");
        client.close(None).await.unwrap();
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

// A batch the server's first read cuts: 4 x 1 KiB is 4,128 bytes on the
// wire and a read takes at most `read_buffer_size` (4 KiB). The replies
// to the first three are held back for the read that completes the
// fourth, so the whole batch is still answered in one write.
#[tokio::test(flavor = "current_thread")]
async fn a_batch_a_read_cuts_in_two_is_answered_in_one_write() {
    timeout(LIMIT, async {
        let payload = |i: u8| vec![i; 1024];
        let mut batch = Vec::new();
        for i in 0..4 {
            batch.extend(frame(0x82, &payload(i), true));
        }
        assert!(batch.len() > Config::default().read_buffer_size);
        let (mut server, writes, mut client) = pipelined_batch(Acceptor::new(), batch).await;
        let echo = tokio::spawn(async move {
            while let Some(message) = server.recv().await.unwrap() {
                if matches!(message, Message::Close(_)) {
                    break;
                }
                server.send(message).await.unwrap();
            }
        });
        for i in 0..4 {
            assert_eq!(
                client.recv().await.unwrap(),
                Some(Message::binary(payload(i))),
                "echo {i}"
            );
        }
        assert_eq!(writes.load(Ordering::SeqCst), 1, "4 echoes, one write");
        client.close(None).await.unwrap();
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

// `write_coalescing(false)`: every `send` has written its message when it
// returns, pipelined input or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_every_send_writes_at_once() {
    timeout(LIMIT, async {
        const N: usize = 20;
        let (mut server, writes, mut client) =
            pipelined_with(Acceptor::new().write_coalescing(false), N).await;
        let echo = tokio::spawn(async move {
            while let Some(message) = server.recv().await.unwrap() {
                if matches!(message, Message::Close(_)) {
                    break;
                }
                server.send(message).await.unwrap();
                assert_eq!(server.buffered_output(), 0);
            }
        });
        for i in 0..N {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        let writes = writes.load(Ordering::SeqCst);
        assert!(writes >= N, "{N} echoes took {writes} writes");
        client.close(None).await.unwrap();
        echo.await.unwrap();
    })
    .await
    .unwrap();
}

// A reply deferred while more input is buffered still goes out when the
// handler, instead of receiving again, waits for something the peer's
// receipt of that reply triggers.
#[tokio::test(flavor = "current_thread")]
async fn a_deferred_reply_goes_out_while_the_handler_waits_elsewhere() {
    timeout(LIMIT, async {
        let (mut server, _writes, mut client) = pipelined(2).await;
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let handler = tokio::spawn(async move {
            assert_eq!(server.recv().await.unwrap(), Some(text(0)));
            server.send(text(0)).await.unwrap();
            // The second message was buffered: the reply was deferred.
            assert!(server.buffered_output() > 0);
            wait.await.unwrap();
            assert_eq!(server.recv().await.unwrap(), Some(text(1)));
            server.close(None).await.unwrap();
        });
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        go.send(()).unwrap();
        assert!(matches!(
            client.recv().await.unwrap(),
            Some(Message::Close(_))
        ));
        assert_eq!(client.recv().await.unwrap(), None);
        handler.await.unwrap();
    })
    .await
    .unwrap();
}

// Closing after deferred replies writes them all before the close frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_after_deferred_replies_delivers_them_first() {
    timeout(LIMIT, async {
        const N: usize = 10;
        let (mut server, _writes, mut client) = pipelined(N).await;
        let handler = tokio::spawn(async move {
            for i in 0..N / 2 {
                assert_eq!(server.recv().await.unwrap(), Some(text(i)));
                server.send(text(i)).await.unwrap();
            }
            server.close(None).await.unwrap();
        });
        for i in 0..N / 2 {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        assert!(matches!(
            client.recv().await.unwrap(),
            Some(Message::Close(_))
        ));
        assert_eq!(client.recv().await.unwrap(), None);
        handler.await.unwrap();
    })
    .await
    .unwrap();
}

// A reply deferred just before `split` still goes out with nothing more
// called on either half; halves then echo the rest, one write per send.
#[tokio::test(flavor = "current_thread")]
async fn split_after_a_deferred_reply_still_delivers_everything() {
    timeout(LIMIT, async {
        const N: usize = 20;
        let (mut server, _writes, mut client) = pipelined(N).await;
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let handler = tokio::spawn(async move {
            assert_eq!(server.recv().await.unwrap(), Some(text(0)));
            server.send(text(0)).await.unwrap();
            assert!(server.buffered_output() > 0);
            let (mut rx, mut tx) = server.split();
            wait.await.unwrap();
            let (to_tx, mut from_rx) = tokio::sync::mpsc::unbounded_channel();
            let reader = tokio::spawn(async move {
                while let Some(message) = rx.recv().await.unwrap() {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                    to_tx.send(message).unwrap();
                }
            });
            while let Some(message) = from_rx.recv().await {
                tx.send(message).await.unwrap();
                assert_eq!(tx.buffered_output(), 0);
            }
            reader.await.unwrap();
        });
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        go.send(()).unwrap();
        for i in 1..N {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        client.close(None).await.unwrap();
        handler.await.unwrap();
    })
    .await
    .unwrap();
}

// The same while the handler sleeps (a long timer it never sees expire:
// the client's receipt of the reply ends the wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_reply_goes_out_while_the_handler_sleeps() {
    timeout(LIMIT, async {
        let (mut server, _writes, mut client) = pipelined(2).await;
        let (go, mut wait) = tokio::sync::oneshot::channel::<()>();
        let handler = tokio::spawn(async move {
            assert_eq!(server.recv().await.unwrap(), Some(text(0)));
            server.send(text(0)).await.unwrap();
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {
                    panic!("the reply never reached the client")
                }
                _ = &mut wait => {}
            }
            assert_eq!(server.recv().await.unwrap(), Some(text(1)));
            server.close(None).await.unwrap();
        });
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        go.send(()).unwrap();
        assert!(matches!(
            client.recv().await.unwrap(),
            Some(Message::Close(_))
        ));
        handler.await.unwrap();
    })
    .await
    .unwrap();
}

// A ping (or any control frame) is never left queued, and it writes the
// replies deferred before it first: they arrive before its pong.
#[tokio::test(flavor = "current_thread")]
async fn a_ping_after_deferred_replies_writes_them_first() {
    timeout(LIMIT, async {
        const N: usize = 4;
        let (mut server, _writes, mut client) = pipelined(N).await;
        let handler = tokio::spawn(async move {
            for i in 0..N - 1 {
                assert_eq!(server.recv().await.unwrap(), Some(text(i)));
                server.send(text(i)).await.unwrap();
            }
            assert!(server.buffered_output() > 0);
            server.send(Message::ping(&b"p"[..])).await.unwrap();
            assert_eq!(server.buffered_output(), 0);
            while let Some(message) = server.recv().await.unwrap() {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        });
        for i in 0..N - 1 {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        assert_eq!(client.recv().await.unwrap(), Some(Message::ping(&b"p"[..])));
        client.close(None).await.unwrap();
        handler.await.unwrap();
    })
    .await
    .unwrap();
}

// A client from `connect` coalesces too: its replies to messages the
// server sent in one write are left queued while the next one is buffered.
// One thread: the flusher task cannot run between `send` and the check
// of what it left queued.
#[tokio::test(flavor = "current_thread")]
async fn connect_coalesces_by_default() {
    use futures_util::SinkExt;
    timeout(LIMIT, async {
        let (first, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = first.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            // Both queued, then one flush: one write.
            ws.feed(text(0)).await.unwrap();
            ws.feed(text(1)).await.unwrap();
            ws.flush().await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(text(0)));
            assert_eq!(ws.recv().await.unwrap(), Some(text(1)));
            ws.close(None).await.unwrap();
        });
        let mut client = wsock_tokio::connect(&url).await.unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        client.send(text(0)).await.unwrap();
        assert!(
            client.buffered_output() > 0,
            "the reply was written at once"
        );
        assert_eq!(client.recv().await.unwrap(), Some(text(1)));
        client.send(text(1)).await.unwrap();
        assert!(matches!(
            client.recv().await.unwrap(),
            Some(Message::Close(_))
        ));
        assert_eq!(client.recv().await.unwrap(), None);
        server.await.unwrap();

        // Turned off on the builder, every send writes at once.
        let (listener, url) = listener().await;
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = wsock_tokio::accept(tcp).await.unwrap();
            ws.feed(text(0)).await.unwrap();
            ws.feed(text(1)).await.unwrap();
            ws.flush().await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(text(0)));
            ws.close(None).await.unwrap();
        });
        let mut client = wsock_tokio::ClientBuilder::new(url)
            .write_coalescing(false)
            .connect()
            .await
            .unwrap();
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        client.send(text(0)).await.unwrap();
        assert_eq!(client.buffered_output(), 0);
        while client.recv().await.unwrap().is_some() {}
        server.await.unwrap();
    })
    .await
    .unwrap();
}

// The `Server`'s connections coalesce by default.
// One thread: the flusher task cannot run between `send` and the check
// of what it left queued.
#[tokio::test(flavor = "current_thread")]
async fn server_connections_coalesce_by_default() {
    timeout(LIMIT, async {
        const N: usize = 8;
        let (sent, ready) = tokio::sync::oneshot::channel::<()>();
        let ready = Arc::new(tokio::sync::Mutex::new(Some(ready)));
        let (deferred_tx, deferred_rx) = tokio::sync::oneshot::channel::<bool>();
        let deferred_tx = Arc::new(std::sync::Mutex::new(Some(deferred_tx)));
        let server = wsock_tokio::Server::builder()
            .bind("127.0.0.1:0", move |mut ws| {
                let (ready, deferred_tx) = (Arc::clone(&ready), Arc::clone(&deferred_tx));
                async move {
                    // Wait until the whole batch was written, so the first
                    // read takes it all.
                    let ready = ready.lock().await.take().unwrap();
                    ready.await.unwrap();
                    let mut first = true;
                    while let Some(message) = ws.recv().await.unwrap() {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                        ws.send(message).await.unwrap();
                        if first {
                            first = false;
                            let tx = deferred_tx.lock().unwrap().take().unwrap();
                            tx.send(ws.buffered_output() > 0).unwrap();
                        }
                    }
                }
            })
            .await
            .unwrap();
        let url = format!("ws://{}", server.local_addr());
        let mut tcp = raw_client(&url).await;
        let mut batch = Vec::new();
        for i in 0..N {
            batch.extend(frame(0x81, format!("message {i}").as_bytes(), true));
        }
        tcp.write_all(&batch).await.unwrap();
        sent.send(()).unwrap();
        let mut client = WebSocket::from_raw(tcp, Role::Client, Config::default());
        for i in 0..N {
            assert_eq!(client.recv().await.unwrap(), Some(text(i)), "echo {i}");
        }
        assert!(
            deferred_rx.await.unwrap(),
            "the first reply was written at once"
        );
        client.close(None).await.unwrap();
        server.shutdown(std::time::Duration::from_secs(5)).await;
    })
    .await
    .unwrap();
}

/// Tasks alive on the current runtime, once the runtime has run whatever
/// is ready (a woken flusher ending, say).
async fn settled_tasks() -> usize {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Receives the next message and echoes it; `true` when the echo was left
/// queued (deferred).
async fn echo_one<S>(server: &mut WebSocket<S>, i: usize) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assert_eq!(server.recv().await.unwrap(), Some(text(i)));
    server.send(text(i)).await.unwrap();
    server.buffered_output() > 0
}

// The flusher parks once a batch is written and the next deferral wakes
// it: a second batch's deferred reply still goes out while the handler
// waits elsewhere, with no task started for it.
#[tokio::test(flavor = "current_thread")]
async fn a_parked_flusher_writes_the_next_batch_too() {
    timeout(LIMIT, async {
        let (mut server, _writes, client) = pipelined(2).await;
        let mut raw = client.into_inner();
        assert!(echo_one(&mut server, 0).await, "deferred");
        // The flusher writes it while the handler does something else.
        let mut client = WebSocket::from_raw(raw, Role::Client, Config::default());
        assert_eq!(client.recv().await.unwrap(), Some(text(0)));
        let with_flusher = settled_tasks().await;
        assert!(!echo_one(&mut server, 1).await, "nothing buffered: written");
        assert_eq!(client.recv().await.unwrap(), Some(text(1)));
        // A second batch: the parked flusher is woken, not a new task.
        raw = client.into_inner();
        let mut batch = frame(0x81, b"message 2", true);
        batch.extend(frame(0x81, b"message 3", true));
        raw.write_all(&batch).await.unwrap();
        let mut client = WebSocket::from_raw(raw, Role::Client, Config::default());
        assert!(echo_one(&mut server, 2).await, "deferred");
        assert_eq!(
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
            with_flusher
        );
        assert_eq!(client.recv().await.unwrap(), Some(text(2)));
        assert!(!echo_one(&mut server, 3).await);
        assert_eq!(client.recv().await.unwrap(), Some(text(3)));
    })
    .await
    .unwrap();
}

// The flusher never outlives what it serves: it ends when coalescing is
// turned off, and when the connection is dropped or taken apart.
#[tokio::test(flavor = "current_thread")]
async fn the_flusher_ends_with_its_connection() {
    timeout(LIMIT, async {
        let baseline = settled_tasks().await;
        for end in ["coalescing off", "drop", "into_inner"] {
            let (mut server, _writes, mut client) = pipelined(2).await;
            assert!(echo_one(&mut server, 0).await, "{end}: deferred");
            assert_eq!(client.recv().await.unwrap(), Some(text(0)));
            assert_eq!(settled_tasks().await, baseline + 1, "{end}: a flusher");
            match end {
                "coalescing off" => server.set_write_coalescing(false),
                "drop" => drop(server),
                _ => drop(server.into_inner()),
            }
            assert_eq!(settled_tasks().await, baseline, "{end}: the flusher ended");
        }
    })
    .await
    .unwrap();
}
