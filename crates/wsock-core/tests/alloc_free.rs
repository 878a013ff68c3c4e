//! The steady-state paths allocate nothing per message.
//!
//! A counting `#[global_allocator]` (stats_alloc's `StatsAlloc`, a wrapper
//! around `System` with atomic counters; the workspace forbids
//! `unsafe_code`, so the `GlobalAlloc` impl cannot live in this file)
//! counts every `alloc` and `realloc`. Each scenario warms a connection up
//! with 1,000 messages — buffers reach their working size, the thread's RNG
//! is seeded — then runs 10,000 more and asserts that the counter did not
//! move: **zero** allocations over the 10,000 messages, not merely a bound.
//! Zero is the right bound because every buffer involved (the read buffer,
//! the write buffer, the pending-pong slot) is reused in place once it has
//! grown to its working size, and nothing else on these paths touches the
//! heap.
//!
//! The counter is process-wide, so the measurements must not overlap with
//! anything else that allocates: all scenarios run in one `#[test]`, one
//! after another (the harness's main thread is idle while a test runs).

use std::alloc::System;
use std::hint::black_box;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use wsock_core::{Config, Connection, DataKind, Event, Message, ReceiveMode, Role};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WARM_UP: usize = 1_000;
const MESSAGES: usize = 10_000;
/// Bytes the simulated transport reads at a time: not a multiple of any
/// frame size, so frames keep straddling reads.
const READ: usize = 1_500;
/// A ping is sent after every this many messages.
const PING_EVERY: usize = 7;

/// Allocations and reallocations so far, process-wide.
fn allocations() -> usize {
    let stats = GLOBAL.stats();
    stats.allocations + stats.reallocations
}

/// The size of the `i`th message: 0 to 199 bytes, so both the 7-bit and
/// the 16-bit length forms occur.
fn size(i: usize) -> usize {
    (i * 37) % 200
}

/// What a client sends: `count` binary messages starting at message
/// number `first`, with a ping after every `PING_EVERY`. Built before the
/// measurement starts.
fn client_bytes(client: &mut Connection, first: usize, count: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..=255).collect();
    for i in first..first + count {
        client.send(&payload[..size(i)]).unwrap();
        if i % PING_EVERY == 0 {
            client.ping(&payload[..i % 126]).unwrap();
        }
    }
    let mut bytes = Vec::new();
    wsock_core::__internals::transmit_all(client, &mut bytes);
    bytes
}

/// Reads `bytes` as a transport would (into `read_buffer`, `READ` bytes
/// at a time), handles every event, and writes out the pongs. Allocates
/// nothing itself. Returns (messages, pings) seen.
fn receive(server: &mut Connection, mut bytes: &[u8]) -> (usize, usize) {
    let (mut messages, mut pings) = (0, 0);
    let mut sum = 0usize;
    while !bytes.is_empty() {
        let buf = server.read_buffer();
        let n = buf.len().min(READ).min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        server.commit_read(n);
        bytes = &bytes[n..];
        loop {
            match server.poll_event().expect("valid input") {
                None => break,
                Some(Event::Message(Message::Binary(data))) => {
                    messages += 1;
                    sum += data.len();
                }
                Some(Event::Chunk { data, last, .. }) => {
                    sum += data.len();
                    messages += usize::from(last);
                }
                Some(Event::Message(Message::Ping(_))) => pings += 1,
                Some(other) => panic!("unexpected event {other:?}"),
            }
        }
        // The transport writes all pending output (the pongs).
        write_all(server);
    }
    black_box(sum);
    (messages, pings)
}

/// Allocations made by a server receiving 10,000 messages after warm-up.
fn receive_allocations(mode: ReceiveMode) -> usize {
    let mut client = Connection::with_mask_source(Role::Client, Config::default(), || [7, 1, 9, 3]);
    let warm_up = client_bytes(&mut client, 0, WARM_UP);
    let measured = client_bytes(&mut client, WARM_UP, MESSAGES);
    let mut server = Connection::new(Role::Server, Config::default());
    server.set_receive_mode(mode);

    assert_eq!(receive(&mut server, &warm_up).0, WARM_UP);
    let before = allocations();
    let (messages, pings) = receive(&mut server, &measured);
    let allocated = allocations() - before;

    assert_eq!(messages, MESSAGES);
    assert_eq!(pings, MESSAGES.div_ceil(PING_EVERY));
    let stats = server.stats();
    assert_eq!(
        stats.pongs_sent, stats.pings_received,
        "every ping answered"
    );
    allocated
}

/// Writes out everything queued, as a transport with vectored writes
/// would: `poll_transmit`, then `consume_output`. Returns the bytes.
fn write_all(conn: &mut Connection) -> usize {
    let mut total = 0;
    loop {
        let mut slices = [&[][..]; 4];
        let count = conn.poll_transmit(&mut slices);
        if count == 0 {
            return total;
        }
        let n: usize = slices[..count].iter().map(|s| black_box(s).len()).sum();
        conn.consume_output(n);
        total += n;
    }
}

/// Allocations made by sending 10,000 messages from a borrowed buffer
/// (`send_fragment` with `last`, the path that copies) after warm-up, the
/// output written after each.
fn send_allocations(role: Role) -> usize {
    // `Connection::new`: a client's mask keys come from the thread's RNG.
    let mut conn = Connection::new(role, Config::default());
    let payload = [0x5a_u8; 200];
    let mut written = 0usize;
    let mut send = |conn: &mut Connection, i: usize| {
        conn.send_fragment(DataKind::Binary, &payload[..size(i)], true)
            .unwrap();
        written += write_all(conn);
    };
    for i in 0..WARM_UP {
        send(&mut conn, i);
    }
    let before = allocations();
    for i in WARM_UP..WARM_UP + MESSAGES {
        send(&mut conn, i);
    }
    let allocated = allocations() - before;
    assert_eq!(conn.stats().messages_sent, (WARM_UP + MESSAGES) as u64);
    black_box(written);
    allocated
}

/// Allocations made by `send` of 10,000 owned payloads large enough to be
/// queued without a copy (built before the measurement), each written out
/// with `poll_transmit` as one vectored write would. The payloads
/// themselves are the caller's; the connection adds nothing.
fn send_owned_allocations(role: Role) -> usize {
    let mut conn = Connection::new(role, Config::default());
    let mut payloads: Vec<Message> = (0..WARM_UP + MESSAGES)
        .map(|i| Message::binary(vec![0x5a; 2048 + size(i)]))
        .collect();
    let mut written = 0usize;
    let mut send = |conn: &mut Connection, message: Message| {
        conn.send(message).unwrap();
        written += write_all(conn);
    };
    let measured = payloads.split_off(WARM_UP);
    for message in payloads {
        send(&mut conn, message);
    }
    let before = allocations();
    for message in measured {
        send(&mut conn, message);
    }
    let allocated = allocations() - before;
    assert_eq!(conn.stats().messages_sent, (WARM_UP + MESSAGES) as u64);
    assert_eq!(conn.buffered_output(), 0);
    black_box(written);
    allocated
}

#[test]
fn steady_state_paths_allocate_nothing_per_message() {
    // The counter works (else a zero below would prove nothing).
    let before = allocations();
    black_box(Vec::<u8>::with_capacity(16));
    assert_eq!(
        allocations() - before,
        1,
        "the counting allocator is not active"
    );

    let results = [
        (
            "receive, stream mode, answering pings",
            receive_allocations(ReceiveMode::Stream),
        ),
        (
            "receive, message mode, answering pings",
            receive_allocations(ReceiveMode::Message),
        ),
        (
            "send_fragment whole, server (unmasked)",
            send_allocations(Role::Server),
        ),
        (
            "send_owned, server (unmasked)",
            send_owned_allocations(Role::Server),
        ),
        (
            "send_owned, client (masked in place)",
            send_owned_allocations(Role::Client),
        ),
        (
            "send_fragment whole, client (masked)",
            send_allocations(Role::Client),
        ),
    ];
    for (name, allocated) in &results {
        println!("{name}: {allocated} allocations over {MESSAGES} messages");
    }
    for (name, allocated) in results {
        assert_eq!(
            allocated, 0,
            "{name}: {allocated} allocations over {MESSAGES} messages"
        );
    }
}
