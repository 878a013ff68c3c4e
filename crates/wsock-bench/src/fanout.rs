//! The fan-out benchmark: one publisher, many subscribers, one room.
//!
//! A fan-out server ([`serve`]) takes two kinds of connection, told apart
//! by the request path: `/pub`, the publisher, whose every data message
//! goes to every subscriber, and `/sub`, a subscriber. Each library's
//! server is written the way its users write one:
//!
//! * wsock: [`Hub::publish`] for every message the publisher sends; each
//!   subscriber's write half is driven by [`Subscription::forward`] in its
//!   own task while the read half is read in the connection's task (the
//!   wsock-broadcast crate's own example). Whatever the Hub does to send a
//!   message once to many connections applies here unchanged.
//! * tokio-tungstenite: a `tokio::sync::broadcast` channel of `Message`s;
//!   each subscriber task receives its clone (a `Bytes` reference count,
//!   no copy of the payload) and `SinkExt::send`s it on its write half
//!   while the read half is read in the connection's task (the shape of
//!   axum's chat example).
//! * fastwebsockets: the same channel, of `Bytes`; each subscriber task
//!   writes its clone with `write_frame`. fastwebsockets' reads are not
//!   cancel-safe and its split half is behind an unstable feature, so the
//!   subscriber only writes: a little less work than the others do.
//! * sockudo-ws: its own `PubSub` (uWebSockets-style topics), as its
//!   `pubsub_echo` example uses it: the publisher `publish`es to the
//!   topic, each subscriber's messages arrive on an unbounded channel and
//!   a task `send`s them on the connection's split writer while the split
//!   reader is read in the connection's task.
//!
//! Rooms keep [`ROOM_CAPACITY`] messages in every server. Once subscribed,
//! every server sends the subscriber a text message `ready`, so the load
//! generator knows every subscriber is in the room before the first
//! message is published.
//!
//! The load generator ([`run`]) opens the subscribers over loopback with
//! plain sockets (a few connects at a time), offers permessage-deflate if
//! asked (as a browser does: `permessage-deflate; client_max_window_bits`)
//! and inflates what comes compressed. The publisher sends `messages` text
//! messages of 1 KiB, JSON of quotes that differ from message to message,
//! each once every subscriber has received the one `window` before it: as
//! fast as the slowest subscriber allows, never a whole room behind. Every
//! subscriber checks that each message is the next one, byte for byte; a
//! round counts only when every subscriber received every message in
//! order.
//!
//! [`Hub::publish`]: wsock_broadcast::Hub::publish
//! [`Subscription::forward`]: wsock_broadcast::Subscription::forward

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, broadcast};
use wsock_broadcast::Hub;
use wsock_core::__internals::OpCode;

use crate::echo::{BoxError, header};

/// Messages a room keeps for subscribers that are behind, in every server.
pub const ROOM_CAPACITY: usize = 1024;

/// The room every subscriber joins.
const ROOM: &str = "feed";

/// Bytes of every published message.
pub const MESSAGE_SIZE: usize = 1024;

/// Connects (and handshakes) in progress at once: keeps the listen
/// backlog from overflowing, which would cost a SYN retry of a second.
const CONNECTING: usize = 256;

/// The fan-out servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanServer {
    /// wsock-broadcast's `Hub`.
    Wsock,
    /// tokio-tungstenite with a `tokio::sync::broadcast` channel.
    TokioTungstenite,
    /// fastwebsockets with a `tokio::sync::broadcast` channel.
    Fastwebsockets,
    /// sockudo-ws with its `PubSub`.
    SockudoWs,
}

impl FanServer {
    /// Every server, ours first.
    pub const ALL: [FanServer; 4] = [
        FanServer::Wsock,
        FanServer::TokioTungstenite,
        FanServer::Fastwebsockets,
        FanServer::SockudoWs,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wsock => "wsock",
            Self::TokioTungstenite => "tokio-tungstenite",
            Self::Fastwebsockets => "fastwebsockets",
            Self::SockudoWs => "sockudo-ws",
        }
    }

    /// The server of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the library can negotiate permessage-deflate at all. None
    /// of the peers here does: tungstenite 0.30 and fastwebsockets 0.10
    /// answer an offer without the extension, and sockudo-ws 3.1 does too
    /// as configured here (its deflate is a feature this crate leaves off).
    pub fn has_deflate(self) -> bool {
        self == Self::Wsock
    }
}

/// Accepts connections forever: `/pub` is the publisher, anything else a
/// subscriber.
pub async fn serve(server: FanServer, listener: TcpListener) -> io::Result<()> {
    let hub = Hub::builder().capacity(ROOM_CAPACITY).build();
    let (channel, _) = broadcast::channel::<tungstenite::Message>(ROOM_CAPACITY);
    let (raw, _) = broadcast::channel::<Bytes>(ROOM_CAPACITY);
    let pubsub = Arc::new(sockudo_ws::PubSub::new());
    // A broadcast server compresses with no context takeover, which RFC
    // 7692 lets a server impose (§7.1.1.1): a message then compresses the
    // same for every subscriber, so it can be compressed once.
    let mut deflate = wsock_tokio::DeflateConfig::default();
    deflate.server_no_context_takeover = true;
    let acceptor = Arc::new(wsock_tokio::Acceptor::new().deflate(deflate));
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let (hub, channel, raw, acceptor, pubsub) = (
            hub.clone(),
            channel.clone(),
            raw.clone(),
            acceptor.clone(),
            pubsub.clone(),
        );
        tokio::spawn(async move {
            let publisher = is_publisher(&tcp).await;
            // A subscriber that goes away is the normal end of a round.
            let _ = match server {
                FanServer::Wsock => wsock_connection(tcp, publisher, &hub, &acceptor).await,
                FanServer::TokioTungstenite => {
                    tungstenite_connection(tcp, publisher, &channel).await
                }
                FanServer::Fastwebsockets => fastwebsockets_connection(tcp, publisher, &raw).await,
                FanServer::SockudoWs => sockudo_connection(tcp, publisher, &pubsub).await,
            };
        });
    }
}

/// Whether the request line, not yet read, asks for `/pub`.
async fn is_publisher(tcp: &TcpStream) -> bool {
    let mut line = [0; 9];
    for _ in 0..100 {
        match tcp.peek(&mut line).await {
            Ok(n) if n == line.len() => return &line == b"GET /pub ",
            Ok(0) | Err(_) => return false,
            Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    false
}

async fn wsock_connection(
    tcp: TcpStream,
    publisher: bool,
    hub: &Hub,
    acceptor: &wsock_tokio::Acceptor,
) -> Result<(), BoxError> {
    let mut ws = acceptor.accept(tcp).await?;
    if publisher {
        while let Some(message) = ws.recv().await? {
            if message.is_data() {
                hub.publish(ROOM, message);
            }
        }
        return Ok(());
    }
    let (mut rx, mut tx) = ws.split();
    let mut subscription = hub.subscribe(ROOM);
    tx.send("ready").await?;
    let forward = tokio::spawn(async move { subscription.forward(&mut tx).await });
    while let Ok(Some(_)) = rx.recv().await {}
    forward.abort();
    Ok(())
}

async fn tungstenite_connection(
    tcp: TcpStream,
    publisher: bool,
    channel: &broadcast::Sender<tungstenite::Message>,
) -> Result<(), BoxError> {
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    if publisher {
        while let Some(message) = ws.next().await {
            let message = message?;
            if message.is_text() || message.is_binary() {
                let _ = channel.send(message);
            }
        }
        return Ok(());
    }
    let mut messages = channel.subscribe();
    let (mut sink, mut stream) = ws.split();
    sink.send(tungstenite::Message::text("ready")).await?;
    let forward = tokio::spawn(async move {
        loop {
            match messages.recv().await {
                Ok(message) => sink.send(message).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => return sink.close().await,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            }
        }
    });
    while let Some(Ok(_)) = stream.next().await {}
    forward.abort();
    Ok(())
}

async fn fastwebsockets_connection(
    tcp: TcpStream,
    publisher: bool,
    channel: &broadcast::Sender<Bytes>,
) -> Result<(), BoxError> {
    // As in the echo benchmark, the upgrade answer is written by hand, not
    // through hyper.
    let mut ws = crate::echo::fastwebsockets_accept(tcp).await?;
    if publisher {
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                fastwebsockets::OpCode::Close => return Ok(()),
                fastwebsockets::OpCode::Text => {
                    let _ = channel.send(Bytes::copy_from_slice(&frame.payload));
                }
                _ => {}
            }
        }
    }
    let mut messages = channel.subscribe();
    ws.write_frame(fastwebsockets::Frame::text(b"ready"[..].into()))
        .await?;
    loop {
        match messages.recv().await {
            Ok(message) => {
                ws.write_frame(fastwebsockets::Frame::text(message[..].into()))
                    .await?;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return Ok(ws
                    .write_frame(fastwebsockets::Frame::close(1008, b""))
                    .await?);
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}

async fn sockudo_connection(
    tcp: TcpStream,
    publisher: bool,
    pubsub: &sockudo_ws::PubSub,
) -> Result<(), BoxError> {
    use sockudo_ws::Message;
    let server = sockudo_ws::server::WebSocketServer::<sockudo_ws::Http1>::new(
        sockudo_ws::Config::default(),
    );
    let (mut ws, _) = server.accept_raw(tcp).await?;
    if publisher {
        while let Some(message) = ws.next().await {
            match message? {
                message @ (Message::Text(_) | Message::Binary(_)) => {
                    pubsub.publish(ROOM, message);
                }
                Message::Close(_) => return Ok(()),
                _ => {}
            }
        }
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let id = pubsub.create_subscriber(tx);
    pubsub.subscribe(id, ROOM);
    let (mut reader, mut writer) = ws.split();
    writer.send(Message::text("ready")).await?;
    let forward = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            writer.send(message).await?;
        }
        Ok::<_, sockudo_ws::Error>(())
    });
    while let Some(Ok(_)) = reader.next().await {}
    forward.abort();
    pubsub.remove_subscriber(id);
    Ok(())
}

/// The `seq`-th message (from 1): 1 KiB of JSON quotes that differ from
/// message to message, as a market feed's would.
pub fn message(seq: u32) -> Vec<u8> {
    const SYMBOLS: [&str; 8] = [
        "AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX",
    ];
    let mut state = u64::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = format!("{{\"seq\":{seq},\"channel\":\"quotes\",\"quotes\":[");
    let mut first = true;
    loop {
        let r = next();
        let bid = 10_000 + r % 90_000;
        let item = format!(
            "{}{{\"sym\":\"{}\",\"bid\":{}.{:02},\"ask\":{}.{:02},\"size\":{},\"ts\":{}}}",
            if first { "" } else { "," },
            SYMBOLS[(r >> 40) as usize % SYMBOLS.len()],
            bid / 100,
            bid % 100,
            (bid + 3) / 100,
            (bid + 3) % 100,
            100 * (1 + (r >> 20) % 50),
            1_700_000_000_000 + u64::from(seq) * 7 + (r >> 50) % 5,
        );
        if text.len() + item.len() + 2 > MESSAGE_SIZE {
            break;
        }
        text += &item;
        first = false;
    }
    text += "]";
    while text.len() < MESSAGE_SIZE - 1 {
        text.push(' ');
    }
    text.push('}');
    text.into_bytes()
}

/// One round of the load generator.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The fan-out server's address.
    pub addr: SocketAddr,
    /// Subscriber connections.
    pub subscribers: usize,
    /// Messages published.
    pub messages: u32,
    /// Message `k` is published once every subscriber has `k - window`.
    pub window: u32,
    /// Offer permessage-deflate.
    pub deflate: bool,
    /// Gives up on a round after this long.
    pub timeout: Duration,
}

/// What one round measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Messages delivered, verified: subscribers × messages.
    pub delivered: u64,
    /// From the first message published to the last one delivered.
    pub elapsed: Duration,
    /// Subscribers whose server agreed to permessage-deflate.
    pub deflated: usize,
    /// Compressed frames received, all subscribers together.
    pub compressed_frames: u64,
    /// Bytes of message payload received on the wire, all subscribers
    /// together (compressed size when compressed).
    pub wire_bytes: u64,
}

/// Progress shared by the tasks of one round.
#[derive(Debug)]
struct Progress {
    /// Subscribers that have message `k` (index `k`, from 1).
    delivered: Vec<AtomicU32>,
    /// Subscribers in the room.
    ready: AtomicUsize,
    /// Woken when a message reaches its last subscriber, or a subscriber
    /// is in the room.
    notify: Notify,
    subscribers: u32,
}

impl Progress {
    fn has_all(&self, seq: u32) -> bool {
        seq == 0 || self.delivered[seq as usize].load(Ordering::Acquire) >= self.subscribers
    }
}

/// Opens the subscribers, publishes, and waits for every message to reach
/// every subscriber. `measure` (the server's CPU seconds so far) is read
/// once every subscriber is in the room, right before the first message,
/// and again right after the last delivery; the difference is returned.
pub async fn run(
    plan: &Plan,
    mut measure: impl FnMut() -> io::Result<f64>,
) -> Result<(Outcome, f64), String> {
    let messages: Arc<Vec<Vec<u8>>> = Arc::new((1..=plan.messages).map(message).collect());
    let progress = Arc::new(Progress {
        delivered: (0..=plan.messages).map(|_| AtomicU32::new(0)).collect(),
        ready: AtomicUsize::new(0),
        notify: Notify::new(),
        subscribers: u32::try_from(plan.subscribers).map_err(|_| "too many subscribers")?,
    });
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.subscribers {
        let (plan, messages, progress, connecting) = (
            plan.clone(),
            messages.clone(),
            progress.clone(),
            connecting.clone(),
        );
        tasks.spawn(async move { subscriber(&plan, &messages, &progress, &connecting).await });
    }
    let deadline = Instant::now() + plan.timeout;
    let fail = |tasks: &mut tokio::task::JoinSet<_>, what: String| {
        tasks.abort_all();
        Err(what)
    };
    // Every subscriber in the room.
    while progress.ready.load(Ordering::Acquire) < plan.subscribers {
        if let Some(done) = tasks.try_join_next() {
            let why = match done {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(_)) => "a subscriber ended early".into(),
                Err(e) => e.to_string(),
            };
            return fail(&mut tasks, format!("subscriber: {why}"));
        }
        if Instant::now() > deadline {
            let ready = progress.ready.load(Ordering::Acquire);
            return fail(
                &mut tasks,
                format!("only {ready} of {} subscribers joined", plan.subscribers),
            );
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), progress.notify.notified()).await;
    }
    let mut publisher = open(plan.addr, "/pub", false)
        .await
        .map_err(|e| format!("publisher: {e}"))?
        .0;
    let mut frames = Vec::with_capacity(messages.len());
    for m in messages.iter() {
        let mut wire = Vec::with_capacity(MESSAGE_SIZE + 8);
        crate::frame(OpCode::Text, m, true, &mut wire);
        frames.push(wire);
    }
    let start_reading = measure().map_err(|e| e.to_string())?;
    let start = Instant::now();
    for seq in 1..=plan.messages {
        while !progress.has_all(seq.saturating_sub(plan.window)) {
            if Instant::now() > deadline {
                return fail(&mut tasks, stalled(&progress, seq, plan.window));
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(20), progress.notify.notified()).await;
        }
        publisher
            .write_all(&frames[seq as usize - 1])
            .await
            .map_err(|e| format!("publisher: {e}"))?;
    }
    while !progress.has_all(plan.messages) {
        if Instant::now() > deadline {
            return fail(&mut tasks, stalled(&progress, plan.messages + 1, 1));
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), progress.notify.notified()).await;
    }
    let elapsed = start.elapsed();
    let end_reading = measure().map_err(|e| e.to_string())?;
    let mut outcome = Outcome {
        delivered: 0,
        elapsed,
        deflated: 0,
        compressed_frames: 0,
        wire_bytes: 0,
    };
    while let Some(done) = tasks.join_next().await {
        let tally = match done {
            Ok(Ok(tally)) => tally,
            Ok(Err(e)) => return fail(&mut tasks, format!("subscriber: {e}")),
            Err(e) => return fail(&mut tasks, e.to_string()),
        };
        if tally.received != plan.messages || tally.last != plan.messages {
            return fail(
                &mut tasks,
                format!(
                    "a subscriber received {} messages, the last {}, of {}",
                    tally.received, tally.last, plan.messages
                ),
            );
        }
        outcome.delivered += u64::from(tally.received);
        outcome.deflated += usize::from(tally.deflate);
        outcome.compressed_frames += tally.compressed;
        outcome.wire_bytes += tally.wire_bytes;
    }
    let _ = publisher.shutdown().await;
    Ok((outcome, end_reading - start_reading))
}

fn stalled(progress: &Progress, seq: u32, window: u32) -> String {
    let waiting = seq.saturating_sub(window);
    let have = progress.delivered[waiting as usize].load(Ordering::Acquire);
    format!(
        "stalled: message {waiting} reached {have} of {} subscribers",
        progress.subscribers
    )
}

/// What one subscriber saw.
#[derive(Debug, Default)]
struct Tally {
    received: u32,
    last: u32,
    deflate: bool,
    compressed: u64,
    wire_bytes: u64,
}

/// Connects and upgrades on `path`; returns the socket, whether the
/// server agreed to permessage-deflate, and any bytes read past the head.
async fn open(
    addr: SocketAddr,
    path: &str,
    offer_deflate: bool,
) -> io::Result<(TcpStream, bool, Vec<u8>)> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let offer = if offer_deflate {
        crate::deflate::OFFER
    } else {
        ""
    };
    tcp.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > 8192 {
            return Err(io::Error::other("response head too long"));
        }
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("handshake refused: {head}")));
    }
    let deflate = header(&head, "sec-websocket-extensions")
        .is_some_and(|e| e.trim_start().starts_with("permessage-deflate"));
    Ok((tcp, deflate, buf[end..].to_vec()))
}

/// A subscriber: joins, then checks every message until the last one.
async fn subscriber(
    plan: &Plan,
    messages: &[Vec<u8>],
    progress: &Progress,
    connecting: &Semaphore,
) -> io::Result<Tally> {
    let permit = connecting.acquire().await.map_err(io::Error::other)?;
    let (mut tcp, deflate, mut buf) = open(plan.addr, "/sub", plan.deflate).await?;
    drop(permit);
    let mut tally = Tally {
        deflate,
        ..Tally::default()
    };
    let mut inflater = crate::deflate::Inflater::new(None, 2 * MESSAGE_SIZE);
    let mut inflated = Vec::with_capacity(2 * MESSAGE_SIZE);
    let mut joined = false;
    let mut at = 0;
    buf.reserve(16 * 1024);
    loop {
        while let Some((first, start, len)) = parse_frame(&buf[at..])? {
            let payload = &buf[at + start..at + start + len];
            at += start + len;
            let compressed = first & 0x40 != 0;
            let message = if compressed {
                if !deflate {
                    return Err(io::Error::other("compressed frame without deflate"));
                }
                tally.compressed += 1;
                inflater.inflate(payload, &mut inflated)?;
                &inflated[..]
            } else {
                payload
            };
            if !joined {
                if message != b"ready" {
                    return Err(io::Error::other("the first message is not \"ready\""));
                }
                joined = true;
                progress.ready.fetch_add(1, Ordering::AcqRel);
                progress.notify.notify_one();
                continue;
            }
            let expected = tally.last + 1;
            if messages.get(expected as usize - 1).map(Vec::as_slice) != Some(message) {
                return Err(io::Error::other(format!(
                    "message {expected} differs from the one published"
                )));
            }
            tally.received += 1;
            tally.last = expected;
            tally.wire_bytes += len as u64;
            let had = progress.delivered[expected as usize].fetch_add(1, Ordering::AcqRel);
            if had + 1 == progress.subscribers {
                progress.notify.notify_one();
            }
            if expected == plan.messages {
                return Ok(tally);
            }
        }
        buf.drain(..at);
        at = 0;
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(16 * 1024);
        }
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::other(format!(
                "closed after {} of {} messages",
                tally.received, plan.messages
            )));
        }
    }
}

/// A final unmasked text frame at the start of `buf`: (first header byte,
/// header length, payload length), or `None` when incomplete.
fn parse_frame(buf: &[u8]) -> io::Result<Option<(u8, usize, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[0] & !0x40 != 0x81 || buf[1] & 0x80 != 0 {
        return Err(io::Error::other(format!(
            "unexpected frame header {:02x} {:02x}",
            buf[0], buf[1]
        )));
    }
    let (start, len) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
        126 => return Ok(None),
        // Messages here are 1 KiB: a 64-bit length is a broken frame.
        127 => return Err(io::Error::other("frame longer than 64 KiB")),
        n => (2, n as usize),
    };
    Ok((buf.len() >= start + len).then_some((buf[0], start, len)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{FanServer, MESSAGE_SIZE, Plan, message, parse_frame, run, serve};

    /// Every server delivers every message to every subscriber, in order,
    /// with and without deflate offered; only wsock compresses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_server_delivers_every_message_in_order() {
        for server in FanServer::ALL {
            for deflate in [false, true] {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let serving = tokio::spawn(serve(server, listener));
                let plan = Plan {
                    addr,
                    subscribers: 20,
                    messages: 30,
                    window: 4,
                    deflate,
                    timeout: Duration::from_secs(60),
                };
                let (outcome, _) = run(&plan, || Ok(0.0)).await.unwrap();
                serving.abort();
                let name = server.name();
                assert_eq!(outcome.delivered, 20 * 30, "{name}");
                let compresses = deflate && server.has_deflate();
                assert_eq!(outcome.deflated, if compresses { 20 } else { 0 }, "{name}");
                assert_eq!(outcome.compressed_frames > 0, compresses, "{name}");
                if compresses {
                    assert!(outcome.wire_bytes < outcome.delivered * MESSAGE_SIZE as u64 / 2);
                }
            }
        }
    }

    #[test]
    fn messages_are_one_kib_of_json_that_differ() {
        let (a, b) = (message(1), message(2));
        assert_eq!(a.len(), MESSAGE_SIZE);
        assert_eq!(b.len(), MESSAGE_SIZE);
        assert_ne!(a, b);
        assert!(a.starts_with(b"{\"seq\":1,"));
        assert!(std::str::from_utf8(&a).is_ok());
    }

    #[test]
    fn frames_must_be_final_text() {
        assert_eq!(parse_frame(&[0x81, 1, b'x']).unwrap(), Some((0x81, 2, 1)));
        assert_eq!(parse_frame(&[0xc1, 1, b'x']).unwrap(), Some((0xc1, 2, 1)));
        assert_eq!(parse_frame(&[0x81, 126, 4]).unwrap(), None);
        assert!(parse_frame(&[0x82, 1, b'x']).is_err());
        assert!(parse_frame(&[0x01, 1, b'x']).is_err());
    }
}
