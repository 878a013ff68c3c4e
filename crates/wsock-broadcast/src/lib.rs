//! Fan-out for [`wsock_tokio`] connections: publish a message once to
//! every connection in a room.
//!
//! A [`Hub`] holds rooms by name. [`Hub::publish`] frames a message once
//! (a [`PreparedMessage`]) and hands it to every [`Subscription`] of a
//! room, and never waits for a subscriber. [`Subscription::forward`]
//! sends it as [`WriteHalf::send_prepared`] does: every connection writes
//! the same frame buffer, and with permessage-deflate the message is
//! compressed once per window size and level rather than once per
//! connection (the trade-off, a little ratio for a lot of CPU, is in
//! [`PreparedMessage`]'s documentation). It writes the messages a
//! subscriber has waiting as one batch, with one flush, since the write
//! system call is most of fan-out's cost. Each room is a bounded ring
//! ([`HubBuilder::capacity`] messages), so memory stays bounded however
//! many subscribers stop reading. A subscriber that falls a whole ring
//! behind has missed messages; what happens then is the [`Overflow`]
//! policy: close its connection with 1008 (the default: a client of a chat
//! room or a market feed must not silently miss messages), or skip to the
//! oldest message still kept.
//!
//! Rooms can span several processes: with the `redis` feature,
//! `HubBuilder::build_redis` links a hub to Redis pub/sub, and the same
//! calls reach the subscribers of every process linked to it (see
//! `RedisBroker` for order, reconnection and bounds).
//!
//! The crate is built on wsock-tokio's public API only: the batches go
//! through [`WriteHalf::try_queue_prepared`] and the half's `Sink`
//! implementation (`poll_ready` for room, `poll_flush` to write a batch).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wsock_broadcast::Hub;
//! use wsock_tokio::{Message, Server};
//!
//! // A chat room: every message from any client goes to every client.
//! let hub = Hub::new();
//! let server = Server::bind("127.0.0.1:0", {
//!     let hub = hub.clone();
//!     move |ws| {
//!         let hub = hub.clone();
//!         async move {
//!             let (mut rx, mut tx) = ws.split();
//!             let mut subscription = hub.subscribe("lobby");
//!             let forward = tokio::spawn(async move { subscription.forward(&mut tx).await });
//!             while let Ok(Some(message)) = rx.recv().await {
//!                 if message.is_data() {
//!                     hub.publish("lobby", message);
//!                 }
//!             }
//!             forward.abort();
//!         }
//!     }
//! })
//! .await?;
//! let url = format!("ws://{}/", server.local_addr());
//! let mut alice = wsock_tokio::connect(&url).await?;
//! let mut bob = wsock_tokio::connect(&url).await?;
//! # while hub.subscribers("lobby") < 2 { tokio::task::yield_now().await; }
//! alice.send("hi all").await?;
//! assert_eq!(bob.recv().await?, Some(Message::text("hi all")));
//! assert_eq!(alice.recv().await?, Some(Message::text("hi all")));
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::TryRecvError;
use wsock_tokio::{CloseCode, Error, ErrorKind, Message, PreparedMessage, State, WriteHalf};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{BrokerError, BrokerStats, PublishError, RedisBroker};

/// A lock that a panic elsewhere does not poison: the rooms stay usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How much of a subscriber's output a flush waits for.
#[derive(Clone, Copy)]
enum Flush {
    /// All of it: the end of a batch.
    All,
    /// Until it is under the write-buffer bound: room for the next message.
    Room,
}

/// The default room capacity, in messages.
const DEFAULT_CAPACITY: usize = 1024;

/// How often a subscriber whose send waits checks whether it fell a whole
/// room behind.
const OVERRUN_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// The close reason sent under [`Overflow::Close`].
const TOO_SLOW: &str = "too slow: messages were missed";

/// What a subscriber that fell a whole ring behind gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Its connection is closed with 1008 (policy violation) and
    /// [`Subscription::recv`] reports [`Lagged`]: it never silently misses
    /// a message.
    #[default]
    Close,
    /// It skips to the oldest message the room still keeps; the count of
    /// messages it missed is in [`Subscription::missed`].
    Skip,
}

/// Settings of a [`Hub`].
#[derive(Debug, Clone, Copy)]
pub struct HubBuilder {
    capacity: usize,
    overflow: Overflow,
}

impl HubBuilder {
    /// How many messages a room keeps for subscribers that are behind
    /// (default 1024). Memory per room is bounded by this many messages,
    /// however many subscribers stop reading.
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = messages.max(1);
        self
    }

    /// What a subscriber that falls further behind gets (default
    /// [`Overflow::Close`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The hub.
    pub fn build(self) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                settings: self,
                #[cfg(feature = "redis")]
                link: None,
            }),
        }
    }

    /// A hub whose rooms span every process linked to the same Redis
    /// server (feature `redis`): see [`RedisBroker`] for how messages
    /// travel, their order, and what happens when Redis goes away.
    /// Connects to Redis before returning, so a wrong address or password
    /// is an error here; later losses are reconnected. Must run inside a
    /// tokio runtime, which the link's two tasks run on until the last
    /// handle to the hub is dropped.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub async fn build_redis(self, broker: RedisBroker) -> Result<Hub, BrokerError> {
        let (link, tasks) = redis::Link::start(broker).await?;
        let inner = Arc::new(Inner {
            rooms: Mutex::new(HashMap::new()),
            settings: self,
            link: Some(Arc::clone(&link)),
        });
        tasks.spawn(&link, Arc::downgrade(&inner));
        Ok(Hub { inner })
    }
}

/// Rooms of subscribers, by name. Cloning gives another handle to the same
/// rooms.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rooms: Mutex<HashMap<String, broadcast::Sender<PreparedMessage>>>,
    settings: HubBuilder,
    /// Rooms shared with other processes through Redis.
    #[cfg(feature = "redis")]
    link: Option<Arc<redis::Link>>,
}

/// Hands a message that came through the broker to the local subscribers
/// of `room`; `false` once the room has none (it is removed, and its
/// Redis subscription with it).
#[cfg(feature = "redis")]
fn deliver(inner: &Inner, room: &str, message: Message) -> bool {
    let mut rooms = lock(&inner.rooms);
    let Some(sender) = rooms.get(room) else {
        return false;
    };
    if sender.send(PreparedMessage::new(message)).is_ok() {
        true
    } else {
        rooms.remove(room);
        inner.forget(room);
        false
    }
}

impl Inner {
    /// `room` was removed (no subscribers left): its Redis subscription
    /// goes too. Called with `rooms` locked, as `subscribe` wants a room
    /// with it locked, so the two cannot cross.
    fn forget(&self, room: &str) {
        #[cfg(feature = "redis")]
        if let Some(link) = &self.link {
            link.want(room, false);
        }
        #[cfg(not(feature = "redis"))]
        let _ = (self, room);
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with the defaults: rooms of 1024 messages,
    /// [`Overflow::Close`].
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A hub with other settings.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            capacity: DEFAULT_CAPACITY,
            overflow: Overflow::default(),
        }
    }

    /// Subscribes to `room` (created if needed): the subscription gets
    /// every message published to the room from now on, in order.
    pub fn subscribe(&self, room: &str) -> Subscription {
        let mut rooms = lock(&self.inner.rooms);
        let receiver = if let Some(sender) = rooms.get(room) {
            sender.subscribe()
        } else {
            let (sender, receiver) = broadcast::channel(self.inner.settings.capacity);
            rooms.insert(room.to_owned(), sender);
            #[cfg(feature = "redis")]
            if let Some(link) = &self.inner.link {
                link.want(room, true);
            }
            receiver
        };
        Subscription {
            receiver,
            pending: None,
            capacity: self.inner.settings.capacity,
            overflow: self.inner.settings.overflow,
            missed: 0,
        }
    }

    /// Hands `message` to every subscriber of `room`, framed once and
    /// without copying its payload again for any of them, and without
    /// waiting for any of them; returns how many subscribers there were. A
    /// room without subscribers is removed.
    ///
    /// With a broker (`HubBuilder::build_redis`, feature `redis`), text and binary
    /// messages go to every process through Redis, the local subscribers
    /// included, and the count is of the local subscribers; a message the
    /// broker cannot take now is dropped (and 0 returned):
    /// `try_publish` says why.
    pub fn publish(&self, room: &str, message: impl Into<Message>) -> usize {
        let message = message.into();
        #[cfg(feature = "redis")]
        if self.inner.link.is_some() && message.is_data() {
            return self.try_publish(room, message).unwrap_or(0);
        }
        self.publish_prepared(room, PreparedMessage::new(message))
    }

    /// [`publish`](Self::publish), saying why a hub linked to Redis could
    /// not take the message: [`PublishError::Backlog`] while Redis is slow
    /// or unreachable and the publish queue is full. On a hub without a
    /// broker it always succeeds.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn try_publish(
        &self,
        room: &str,
        message: impl Into<Message>,
    ) -> Result<usize, PublishError> {
        let message = message.into();
        match &self.inner.link {
            Some(link) if message.is_data() => {
                link.publish(room, &message)?;
                Ok(self.subscribers(room))
            }
            _ => Ok(self.publish_prepared(room, PreparedMessage::new(message))),
        }
    }

    /// Whether this process is subscribed to `room` on Redis now (always
    /// `false` without a broker): from then on, messages published to the
    /// room by any process reach its local subscribers. A room is linked
    /// shortly after its first local subscriber arrives.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn linked(&self, room: &str) -> bool {
        self.inner
            .link
            .as_ref()
            .is_some_and(|link| link.linked(room))
    }

    /// How the link to Redis fares, if the hub has one.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn broker_stats(&self) -> Option<BrokerStats> {
        self.inner.link.as_ref().map(|link| link.stats())
    }

    /// [`publish`](Self::publish) for a message already prepared, for
    /// instance one that goes to several rooms or hubs: its compressed
    /// forms are shared by all of them. It goes to this process's
    /// subscribers only, also on a hub linked to Redis.
    pub fn publish_prepared(&self, room: &str, message: PreparedMessage) -> usize {
        let mut rooms = lock(&self.inner.rooms);
        let Some(sender) = rooms.get(room) else {
            return 0;
        };
        if let Ok(subscribers) = sender.send(message) {
            subscribers
        } else {
            rooms.remove(room);
            self.inner.forget(room);
            0
        }
    }

    /// Subscribers of `room` now.
    pub fn subscribers(&self, room: &str) -> usize {
        lock(&self.inner.rooms)
            .get(room)
            .map_or(0, broadcast::Sender::receiver_count)
    }
}

/// A subscriber fell a whole room behind under [`Overflow::Close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lagged {
    /// How many messages it missed.
    pub missed: u64,
}

impl std::fmt::Display for Lagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the subscriber fell behind and missed {} messages",
            self.missed
        )
    }
}

impl std::error::Error for Lagged {}

/// One subscriber's place in a room: [`recv`](Self::recv) the messages, or
/// [`forward`](Self::forward) them to a connection.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<PreparedMessage>,
    /// A message taken from the room and not sent yet: [`forward`]'s
    /// batch had no room left for it, or `forward` was cancelled while it
    /// waited for room. It goes first.
    ///
    /// [`forward`]: Self::forward
    pending: Option<PreparedMessage>,
    /// The room's capacity.
    capacity: usize,
    overflow: Overflow,
    missed: u64,
}

impl Subscription {
    /// The next message published to the room; `Ok(None)` once the hub is
    /// gone. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Lagged> {
        Ok(self.recv_prepared().await?.map(|m| m.message().clone()))
    }

    /// [`recv`](Self::recv), as the room holds it: framed once, for
    /// [`WriteHalf::send_prepared`] (or `send_prepared` on any connection,
    /// blocking or sans-IO). Cancel-safe.
    pub async fn recv_prepared(&mut self) -> Result<Option<PreparedMessage>, Lagged> {
        if let Some(message) = self.pending.take() {
            return Ok(Some(message));
        }
        loop {
            match self.receiver.recv().await {
                Ok(message) => return Ok(Some(message)),
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.missed += n;
                    if self.overflow == Overflow::Close {
                        return Err(Lagged { missed: n });
                    }
                }
            }
        }
    }

    /// Messages this subscriber missed by falling behind ([`Overflow::Skip`]).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Sends every message of the room to `tx` (with
    /// [`WriteHalf::send_prepared`]'s framing: framed and compressed once
    /// for the whole room) until the hub is gone (`Ok`) or sending fails.
    ///
    /// Messages go out in batches: when one arrives, it is queued together
    /// with every message already waiting in this subscription (taken
    /// without waiting), and the batch is written with one flush. A room
    /// publishing faster than one write per message per subscriber thus
    /// costs one write (one system call) per batch rather than per message,
    /// which is most of fan-out's CPU; a subscriber that keeps up still
    /// gets each message as soon as it is published (a batch of one).
    /// Memory stays bounded: a batch only takes messages the room already
    /// holds, and stops taking them once the connection's write buffer is
    /// full ([`Config::write_buffer_size`](wsock_tokio::Config::write_buffer_size)
    /// plus one message); the rest wait in the room for the next batch.
    /// Order is the room's, and with permessage-deflate each message is
    /// compressed for this connection's context in that order, as
    /// `send_prepared` does.
    ///
    /// A subscriber that falls a whole room behind under
    /// [`Overflow::Close`] (while a batch is taken, or while a flush waits
    /// on a peer that stopped reading) gets a close frame with 1008, queued
    /// without waiting (its close timeout then ends a peer that never
    /// reads), and this returns
    /// [`ErrorKind::Capacity`]. Under
    /// [`Overflow::Skip`] it carries on from the oldest message the room
    /// keeps, counting the rest in [`missed`](Self::missed).
    ///
    /// Cancel safety: cancelling it loses no message. One it took from the
    /// room and had not queued yet (it was waiting for write-buffer room)
    /// stays in the subscription, first for the next `forward` or
    /// [`recv`](Self::recv); messages already queued stay queued on the
    /// connection (they go out with its next send or flush), and no frame
    /// is ever cut.
    pub async fn forward<S>(&mut self, tx: &mut WriteHalf<S>) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let message = match self.recv_prepared().await {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(()),
                Err(lagged) => return Err(too_slow(tx, lagged)),
            };
            // Kept in the subscription while it waits for room: cancelling
            // `forward` there does not lose it.
            self.pending = Some(message);
            self.flush_watched(tx, Flush::Room).await?;
            let Some(message) = self.pending.take() else {
                continue;
            };
            if !tx.try_queue_prepared(&message)? {
                // Something queued meanwhile (a pong) took the room.
                self.pending = Some(message);
                continue;
            }
            drop(message);
            // The rest of the batch: what is already waiting, while the
            // write buffer has room; a message taken without room goes
            // first in the next batch.
            loop {
                match self.receiver.try_recv() {
                    Ok(message) => {
                        if !tx.try_queue_prepared(&message)? {
                            self.pending = Some(message);
                            break;
                        }
                    }
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    Err(TryRecvError::Lagged(n)) => {
                        self.missed += n;
                        if self.overflow == Overflow::Close {
                            return Err(too_slow(tx, Lagged { missed: n }));
                        }
                    }
                }
            }
            self.flush_watched(tx, Flush::All).await?;
        }
    }

    /// Flushes `tx` to `target`; under [`Overflow::Close`], gives up and
    /// closes the connection if the room overruns this subscriber while
    /// the flush waits.
    async fn flush_watched<S>(&self, tx: &mut WriteHalf<S>, target: Flush) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let watch = self.overflow == Overflow::Close;
        // `None`: the room overran this subscriber while it waited.
        let flushed = {
            let mut overrun = pin!(overrun(&self.receiver, self.capacity));
            poll_fn(|cx| {
                let flushed = match target {
                    Flush::All => Pin::new(&mut *tx).poll_flush(cx),
                    Flush::Room => Pin::new(&mut *tx).poll_ready(cx),
                };
                match flushed {
                    Poll::Ready(flushed) => Poll::Ready(Some(flushed)),
                    Poll::Pending if watch && overrun.as_mut().poll(cx).is_ready() => {
                        Poll::Ready(None)
                    }
                    Poll::Pending => Poll::Pending,
                }
            })
            .await
        };
        flushed.unwrap_or_else(|| {
            let missed = self.receiver.len().saturating_sub(self.capacity) as u64;
            Err(too_slow(tx, Lagged { missed }))
        })
    }
}

/// Resolves once `receiver` is a whole room behind (checked every
/// [`OVERRUN_CHECK`]; a room does not signal it).
async fn overrun(receiver: &broadcast::Receiver<PreparedMessage>, capacity: usize) {
    while receiver.len() <= capacity {
        tokio::time::sleep(OVERRUN_CHECK).await;
    }
}

/// Closes a subscriber's connection with 1008 without waiting for the
/// transport, and says why. The close frame is only queued: the read half
/// (woken as the connection starts closing) writes it out, or dropping the
/// write half does; the close timeout ends a peer that never reads.
fn too_slow<S>(tx: &mut WriteHalf<S>, lagged: Lagged) -> Error
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if tx.state() == State::Open {
        // A failure here is the connection's own end, which the close was for.
        let _ = Pin::new(tx).start_send(Message::close(CloseCode::POLICY_VIOLATION, TOO_SLOW));
    }
    Error::message(ErrorKind::Capacity, lagged.to_string())
}
