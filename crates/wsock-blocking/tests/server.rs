//! The thread-per-connection `Server`: serving, the request callback, the
//! handshake cap, and graceful shutdown.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::bounded;
use wsock_blocking::{
    Accept, Acceptor, ClientBuilder, CloseFrame, ErrorKind, Message, Rejection, Server,
};

fn echo(mut ws: wsock_blocking::WebSocket<TcpStream>) {
    while let Ok(Some(message)) = ws.recv() {
        if message.is_data() && ws.send(message).is_err() {
            break;
        }
    }
}

#[test]
fn serves_connections_and_shuts_down_gracefully() {
    bounded(30, || {
        let server = Server::bind("127.0.0.1:0", echo).unwrap();
        let url = format!("ws://{}/", server.local_addr());
        let mut clients: Vec<_> = (0..5)
            .map(|_| wsock_blocking::connect(&url).unwrap())
            .collect();
        for (i, ws) in clients.iter_mut().enumerate() {
            ws.send(format!("hello {i}")).unwrap();
            assert_eq!(
                ws.recv().unwrap().expect("a message"),
                Message::text(format!("hello {i}"))
            );
        }
        assert_eq!(server.connections(), 5);

        // Every client reads while the server shuts down.
        let readers: Vec<_> = clients
            .into_iter()
            .map(|mut ws| {
                std::thread::spawn(move || {
                    let close = ws.recv().unwrap().expect("a message");
                    let end = ws.recv().map_err(|e| e.kind());
                    (close, end)
                })
            })
            .collect();
        let started = Instant::now();
        assert_eq!(server.shutdown(Duration::from_secs(5)).forced, 0);
        assert!(started.elapsed() < Duration::from_secs(3));
        for reader in readers {
            let (close, end) = reader.join().unwrap();
            assert_eq!(
                close,
                Message::Close(Some(CloseFrame::new(1001, "server shutting down")))
            );
            assert_eq!(end, Ok(None));
        }
        // No longer accepting.
        assert!(wsock_blocking::connect(&url).is_err());
    });
}

// A connection whose thread is blocked writing (its writer holds the
// connection while it writes in place) gets the shutdown's close frame
// after the message in flight, whole, and closes cleanly.
#[test]
fn a_connection_busy_writing_gets_its_close_after_the_write() {
    bounded(30, || {
        let server = Server::bind("127.0.0.1:0", |mut ws| {
            // Far more than the socket buffers hold: blocks until read.
            let big = Message::binary(vec![7u8; 16 << 20]);
            ws.send("start").unwrap();
            // (Fails if the shutdown's close got in first.)
            let _ = ws.send(big);
            while let Ok(Some(_)) = ws.recv() {}
        })
        .unwrap();
        let mut ws = ClientBuilder::new(format!("ws://{}/", server.local_addr()))
            .max_message_size(32 << 20)
            .connect()
            .unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text("start")));
        // The handler is on to the big send, which blocks: we do not read.
        let shutdown = std::thread::spawn(move || server.shutdown(Duration::from_secs(10)));
        let mut next = ws.recv().unwrap().expect("a message");
        if let Message::Binary(data) = &next {
            // The message in flight arrives whole, before the close.
            assert!(data.len() == 16 << 20 && data.iter().all(|&b| b == 7));
            next = ws.recv().unwrap().expect("a message");
        }
        assert_eq!(
            next,
            Message::Close(Some(CloseFrame::new(1001, "server shutting down")))
        );
        assert_eq!(ws.recv().map_err(|e| e.kind()), Ok(None));
        assert_eq!(shutdown.join().unwrap().forced, 0);
    });
}

#[test]
fn connections_that_do_not_close_are_shut_down_at_the_deadline() {
    bounded(30, || {
        let (release, stuck) = mpsc::channel::<()>();
        let stuck = std::sync::Mutex::new(stuck);
        // A handler that never reads, so never sees the close.
        let server = Server::bind("127.0.0.1:0", move |ws| {
            let _ = stuck.lock().unwrap().recv_timeout(Duration::from_secs(10));
            drop(ws);
        })
        .unwrap();
        let mut ws = wsock_blocking::connect(format!("ws://{}/", server.local_addr())).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let reader = std::thread::spawn(move || {
            let close = ws.recv().unwrap().expect("a message");
            (close, ws.recv().map_err(|e| e.kind()))
        });
        let started = Instant::now();
        assert_eq!(server.shutdown(Duration::from_millis(300)).forced, 1);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        let (close, end) = reader.join().unwrap();
        assert_eq!(
            close,
            Message::Close(Some(CloseFrame::new(1001, "server shutting down")))
        );
        assert_eq!(end, Ok(None));
        release.send(()).unwrap();
    });
}

#[test]
fn the_request_callback_decides() {
    bounded(30, || {
        let server = Server::builder()
            .on_request(|request| match request.path() {
                "/chat" => Ok(Accept::new().protocol("chat")),
                _ => Err(Rejection::new(403).body("no\n")),
            })
            .bind("127.0.0.1:0", echo)
            .unwrap();
        let addr = server.local_addr();
        let mut ws = ClientBuilder::new(format!("ws://{addr}/chat"))
            .protocol("chat")
            .connect()
            .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        ws.send("hi").unwrap();
        assert_eq!(ws.recv().unwrap().expect("a message"), Message::text("hi"));
        let err = wsock_blocking::connect(format!("ws://{addr}/admin")).unwrap_err();
        assert_eq!(
            (err.kind(), err.http_status()),
            (ErrorKind::Handshake, Some(403))
        );
        ws.send(Message::close(1000, "")).unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        assert_eq!(ws.recv().unwrap(), None);
        assert_eq!(server.shutdown(Duration::from_secs(2)).forced, 0);
    });
}

#[test]
fn a_full_handshake_cap_ends_a_stalled_handshake_to_make_room() {
    const EVICT_AFTER: Duration = Duration::from_millis(400);
    bounded(30, || {
        let server = Server::builder()
            .max_handshakes(1)
            .evict_after(EVICT_AFTER)
            .acceptor(Acceptor::new().handshake_timeout(Some(Duration::from_secs(20))))
            .bind("127.0.0.1:0", echo)
            .unwrap();
        let addr = server.local_addr();
        // A client that connects and says nothing holds the only slot...
        let mut silent = TcpStream::connect(addr).unwrap();
        silent.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // ...until it has stalled and a new client needs it: then it is
        // ended. The new client waits in the backlog meanwhile.
        let started = Instant::now();
        let mut ws = wsock_blocking::connect(format!("ws://{addr}/")).unwrap();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < EVICT_AFTER + Duration::from_secs(1),
            "admitted after {waited:?}"
        );
        ws.send("through").unwrap();
        assert_eq!(
            ws.recv().unwrap().expect("a message"),
            Message::text("through")
        );
        silent
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 64];
        // Ended: end of stream or a reset, not a timeout.
        match silent.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock),
        }
        ws.send(Message::close(1000, "")).unwrap();
        assert!(matches!(
            ws.recv().unwrap().expect("a message"),
            Message::Close(_)
        ));
        assert_eq!(ws.recv().unwrap(), None);
        // The connections' threads end right after their peers see the
        // end; give them the moment that takes on a loaded machine.
        let deadline = Instant::now() + Duration::from_secs(2);
        while server.connections() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let report = server.shutdown(Duration::from_secs(2));
        assert_eq!((report.open, report.forced), (0, 0));
    });
}

#[test]
fn serving_an_existing_listener_and_dropping_the_server() {
    bounded(30, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder()
            .nodelay(false)
            .serve(listener, echo)
            .unwrap();
        let mut ws = wsock_blocking::connect(format!("ws://{addr}/")).unwrap();
        ws.send("x").unwrap();
        assert_eq!(ws.recv().unwrap().expect("a message"), Message::text("x"));
        // Dropping stops at once: the client is told and the port closes.
        drop(server);
        assert!(matches!(ws.recv(), Ok(Some(Message::Close(_))) | Err(_)));
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
    });
}
