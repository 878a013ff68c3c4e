//! Rooms that span processes: a [`Hub`](crate::Hub) whose publishes go
//! through Redis pub/sub (feature `redis`).
//!
//! Each room is a Redis channel, `prefix` + room name. A hub built with
//! [`HubBuilder::build_redis`](crate::HubBuilder::build_redis) keeps two connections
//! to Redis:
//!
//! - **publishing**: [`Hub::publish`](crate::Hub::publish) puts the message
//!   in a bounded queue ([`RedisBroker::queue`] messages) that one task
//!   sends with `PUBLISH`, in order, on one connection, so the messages of
//!   one process reach every process in the order they were published;
//! - **subscribing**: one `SUBSCRIBE` per room that has local subscribers,
//!   whatever their number; what Redis delivers is prepared once and fanned
//!   out to the room's local subscribers as by a local hub (bounded rings,
//!   the same [`Overflow`](crate::Overflow) policy).
//!
//! A message published here reaches local subscribers through Redis too,
//! so every process sees a room's messages in the same order.
//!
//! The wire format is the payload with one leading byte, `t` (text) or
//! `b` (binary), so text stays text across processes; text that is not
//! UTF-8, an unknown tag, or a payload over
//! [`RedisBroker::max_message_size`] (from another publisher on the same
//! channel) is dropped and counted ([`BrokerStats::rejected`]). Ping, pong
//! and close messages are not sent through Redis: they reach local
//! subscribers only.
//!
//! # When Redis goes away
//!
//! Redis pub/sub delivers at most once: a message published while a
//! process is not subscribed is not kept for it. When a connection breaks,
//! its task reconnects with a backoff (100 ms doubling to 5 s) for as long
//! as the hub lives, and the subscribing task subscribes again to every
//! room that still has local subscribers; local subscriptions stay open
//! meanwhile and simply receive nothing. Messages published meanwhile
//! wait in the publish queue (bounded); once it is full,
//! [`Hub::try_publish`](crate::Hub::try_publish) fails with
//! [`PublishError::Backlog`] (and [`Hub::publish`](crate::Hub::publish)
//! drops the message and returns 0). The message that was being published
//! when the connection broke is dropped, not sent twice.
//! [`Hub::broker_stats`](crate::Hub::broker_stats) tells whether both
//! links are up and counts reconnects and dropped messages.

use std::collections::HashSet;
use std::future::{Future as _, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_core::Stream;
use redis::AsyncCommands as _;
use tokio::sync::{Notify, mpsc};
use wsock_core::{Bytes, Message, Utf8Bytes};

use crate::{Inner, lock};

/// The default channel prefix.
const DEFAULT_PREFIX: &str = "wsock:room:";
/// The default publish queue, in messages.
const DEFAULT_QUEUE: usize = 1024;
/// The default largest message taken from Redis.
const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the longest wait before reconnecting.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where and how a hub's rooms meet other processes' (a Redis server).
#[derive(Clone)]
pub struct RedisBroker {
    client: redis::Client,
    prefix: String,
    queue: usize,
    max_message_size: usize,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisBroker")
            .field("prefix", &self.prefix)
            .field("queue", &self.queue)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker at `url` (`redis://[user:password@]host[:port][/db]`,
    /// `redis+unix:///path`), with the defaults: channels
    /// `wsock:room:<room>`, a publish queue of 1024 messages, messages of
    /// at most 16 MiB. Nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, BrokerError> {
        let client = redis::Client::open(url).map_err(|e| BrokerError::Url(e.to_string()))?;
        Ok(Self {
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            queue: DEFAULT_QUEUE,
            max_message_size: DEFAULT_MAX_MESSAGE,
        })
    }

    /// The prefix of the rooms' channel names (default `wsock:room:`):
    /// hubs that share a Redis server but not their rooms use different
    /// prefixes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many published messages may wait for Redis (default 1024),
    /// while it is slow or unreachable; past it, publishing fails with
    /// [`PublishError::Backlog`].
    pub fn queue(mut self, messages: usize) -> Self {
        self.queue = messages.max(1);
        self
    }

    /// The largest message taken from Redis (default 16 MiB); larger ones
    /// (from another publisher on the channel) are dropped and counted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    fn channel(&self, room: &str) -> String {
        format!("{}{room}", self.prefix)
    }
}

/// Setting up a hub's link to Redis failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// Redis could not be reached, or refused (authentication, protocol).
    #[error("cannot connect to Redis: {0}")]
    Connect(String),
}

/// A message could not be handed to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The publish queue is full: Redis is slow or unreachable (and being
    /// reconnected to). The message was dropped.
    #[error("the queue of messages for Redis is full (Redis slow or unreachable)")]
    Backlog,
    /// The hub's link to Redis ended (its runtime shut down).
    #[error("the hub's link to Redis has ended")]
    Closed,
}

/// How a hub's link to Redis fares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerStats {
    /// The publishing connection is up.
    pub publishing: bool,
    /// The subscribing connection is up.
    pub subscribed: bool,
    /// Connections lost and made again, both links together.
    pub reconnects: u64,
    /// Messages published here and dropped: the queue was full, or the
    /// connection broke while they were being sent.
    pub dropped: u64,
    /// Messages from Redis dropped as malformed or too large.
    pub rejected: u64,
}

/// What the hub keeps of its link: the publish queue, the rooms wanted,
/// and the counters. Dropping it (with the hub) stops both tasks.
pub(super) struct Link {
    broker: RedisBroker,
    publish: mpsc::Sender<(String, Bytes)>,
    /// Rooms with local subscribers (to subscribe to), and rooms the
    /// subscribing task has subscribed to.
    wanted: Mutex<HashSet<String>>,
    linked: Mutex<HashSet<String>>,
    changed: Notify,
    publishing: AtomicBool,
    subscribed: AtomicBool,
    reconnects: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl Link {
    /// Connects both links once (so a wrong address or password is an
    /// error now, not a silent retry loop), then starts their tasks.
    pub(super) async fn start(
        broker: RedisBroker,
    ) -> Result<(Arc<Self>, PendingTasks), BrokerError> {
        let publisher = connect_publisher(&broker.client).await?;
        let pubsub = connect_pubsub(&broker.client).await?;
        let (tx, rx) = mpsc::channel(broker.queue);
        let link = Arc::new(Self {
            broker,
            publish: tx,
            wanted: Mutex::new(HashSet::new()),
            linked: Mutex::new(HashSet::new()),
            changed: Notify::new(),
            publishing: AtomicBool::new(true),
            subscribed: AtomicBool::new(true),
            reconnects: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
        });
        Ok((
            Arc::clone(&link),
            PendingTasks {
                link: Arc::downgrade(&link),
                publisher,
                pubsub,
                rx,
            },
        ))
    }

    /// Hands a message to the publishing task.
    pub(super) fn publish(&self, room: &str, message: &Message) -> Result<(), PublishError> {
        let (tag, payload) = match message {
            Message::Text(text) => (b't', text.as_bytes()),
            Message::Binary(data) => (b'b', &data[..]),
            _ => return Ok(()),
        };
        let mut wire = Vec::with_capacity(payload.len() + 1);
        wire.push(tag);
        wire.extend_from_slice(payload);
        match self.publish.try_send((room.to_owned(), wire.into())) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(PublishError::Backlog)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PublishError::Closed),
        }
    }

    /// A room got its first local subscriber, or lost its last.
    pub(super) fn want(&self, room: &str, wanted: bool) {
        let mut rooms = lock(&self.wanted);
        let changed = if wanted {
            rooms.insert(room.to_owned())
        } else {
            rooms.remove(room)
        };
        if changed {
            self.changed.notify_one();
        }
    }

    /// Whether this process is subscribed to `room` on Redis now.
    pub(super) fn linked(&self, room: &str) -> bool {
        lock(&self.linked).contains(room)
    }

    pub(super) fn stats(&self) -> BrokerStats {
        BrokerStats {
            publishing: self.publishing.load(Ordering::Relaxed),
            subscribed: self.subscribed.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// A message from Redis, checked and turned back into a `Message`.
    fn decode(&self, payload: &[u8]) -> Option<Message> {
        if payload.len() > self.broker.max_message_size.saturating_add(1) {
            return None;
        }
        match payload.split_first()? {
            (b't', text) => Utf8Bytes::try_from(Bytes::copy_from_slice(text))
                .ok()
                .map(Message::Text),
            (b'b', data) => Some(Message::binary(Bytes::copy_from_slice(data))),
            _ => None,
        }
    }
}

/// The connections made by [`Link::start`], for the tasks the hub spawns
/// once it exists.
pub(super) struct PendingTasks {
    link: Weak<Link>,
    publisher: redis::aio::MultiplexedConnection,
    pubsub: redis::aio::PubSub,
    rx: mpsc::Receiver<(String, Bytes)>,
}

impl PendingTasks {
    /// Starts both tasks; they end with the hub (`inner`).
    pub(super) fn spawn(self, link: &Link, inner: Weak<Inner>) {
        let mut tasks = lock(&link.tasks);
        tasks.push(tokio::spawn(publish_task(
            self.link.clone(),
            self.publisher,
            self.rx,
        )));
        tasks.push(tokio::spawn(subscribe_task(self.link, inner, self.pubsub)));
    }
}

async fn connect_publisher(
    client: &redis::Client,
) -> Result<redis::aio::MultiplexedConnection, BrokerError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(BrokerError::Connect(e.to_string())),
        Err(_) => Err(BrokerError::Connect("timed out".into())),
    }
}

async fn connect_pubsub(client: &redis::Client) -> Result<redis::aio::PubSub, BrokerError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(BrokerError::Connect(e.to_string())),
        Err(_) => Err(BrokerError::Connect("timed out".into())),
    }
}

/// Waits before the next connection attempt, longer each time.
async fn back_off(delay: &mut Duration) {
    tokio::time::sleep(*delay).await;
    *delay = (*delay * 2).min(BACKOFF_MAX);
}

/// Sends the queued messages with `PUBLISH`, in order, on one connection;
/// reconnects when it breaks.
async fn publish_task(
    link: Weak<Link>,
    first: redis::aio::MultiplexedConnection,
    mut rx: mpsc::Receiver<(String, Bytes)>,
) {
    let mut connection = Some(first);
    let mut delay = BACKOFF_MIN;
    while let Some((room, wire)) = rx.recv().await {
        let Some(link) = link.upgrade() else { return };
        let channel = link.broker.channel(&room);
        loop {
            let Some(conn) = connection.as_mut() else {
                match connect_publisher(&link.broker.client).await {
                    Ok(conn) => {
                        connection = Some(conn);
                        link.publishing.store(true, Ordering::Relaxed);
                        link.reconnects.fetch_add(1, Ordering::Relaxed);
                        delay = BACKOFF_MIN;
                    }
                    Err(_) => back_off(&mut delay).await,
                }
                continue;
            };
            let sent: redis::RedisResult<i64> = conn.publish(&channel, &wire[..]).await;
            if sent.is_err() {
                // At most once: it may or may not have reached Redis.
                link.dropped.fetch_add(1, Ordering::Relaxed);
                link.publishing.store(false, Ordering::Relaxed);
                connection = None;
            }
            break;
        }
    }
}

/// Keeps one subscription per wanted room and fans what Redis delivers out
/// to the local rooms; reconnects and subscribes again when the
/// connection breaks.
async fn subscribe_task(link: Weak<Link>, inner: Weak<Inner>, first: redis::aio::PubSub) {
    let mut pubsub = Some(first);
    let mut delay = BACKOFF_MIN;
    loop {
        let Some(strong) = link.upgrade() else { return };
        let connection = if let Some(connection) = pubsub.take() {
            connection
        } else if let Ok(connection) = connect_pubsub(&strong.broker.client).await {
            strong.reconnects.fetch_add(1, Ordering::Relaxed);
            delay = BACKOFF_MIN;
            connection
        } else {
            drop(strong);
            back_off(&mut delay).await;
            continue;
        };
        strong.subscribed.store(true, Ordering::Relaxed);
        drop(strong);
        run_subscription(&link, &inner, connection).await;
        let Some(strong) = link.upgrade() else { return };
        strong.subscribed.store(false, Ordering::Relaxed);
        lock(&strong.linked).clear();
        drop(strong);
        back_off(&mut delay).await;
    }
}

/// One subscribing connection, until it breaks (or the hub is gone).
async fn run_subscription(link: &Weak<Link>, inner: &Weak<Inner>, connection: redis::aio::PubSub) {
    let (mut sink, mut stream) = connection.split();
    loop {
        let Some(strong) = link.upgrade() else { return };
        // Bring the subscriptions in line with the rooms wanted.
        let wanted = lock(&strong.wanted).clone();
        let linked = lock(&strong.linked).clone();
        for room in wanted.difference(&linked) {
            if sink.subscribe(strong.broker.channel(room)).await.is_err() {
                return;
            }
            lock(&strong.linked).insert(room.clone());
        }
        for room in linked.difference(&wanted) {
            if sink.unsubscribe(strong.broker.channel(room)).await.is_err() {
                return;
            }
            lock(&strong.linked).remove(room);
        }
        let changed = strong.changed.notified();
        let mut changed = std::pin::pin!(changed);
        // Deliver until the wanted rooms change or the connection ends.
        loop {
            let next = poll_fn(|cx| {
                if changed.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(None);
                }
                Pin::new(&mut stream).poll_next(cx).map(Some)
            })
            .await;
            match next {
                None => break,
                Some(None) => return,
                Some(Some(msg)) => {
                    let Some(room) = msg.get_channel_name().strip_prefix(&strong.broker.prefix)
                    else {
                        continue;
                    };
                    let Some(message) = strong.decode(msg.get_payload_bytes()) else {
                        strong.rejected.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let Some(inner) = inner.upgrade() else { return };
                    // A room without local subscribers left is
                    // unsubscribed (`deliver` takes it out of `wanted`).
                    crate::deliver(&inner, room, message);
                }
            }
        }
    }
}
