//! What a permessage-deflate connection keeps on the heap once idle.
//!
//! A counting `#[global_allocator]` (stats_alloc, as in `alloc_free.rs`)
//! gives the bytes live on the heap. A server connection is made with the
//! parameters the default server answers a browser's offer with (14-bit
//! server window, 11-bit client window), echoes 150 compressed JSON-like
//! messages, and shrinks its buffers as an adapter does when the peer goes
//! quiet. What it still holds must be the two windows (16 KiB + 2 KiB)
//! and the connection's own few hundred bytes, not zlib's 250+ KiB (a
//! released compressor goes to a pool of a few spares per process, warmed
//! up before measuring).
//!
//! Released streams go back to those pools (compressors and
//! decompressors), so once warm, echoing one more message allocates
//! neither: a 42 KiB decompressor allocated and freed per message left
//! holes in the heap that cost 4–5 KiB resident per idle connection.
//!
//! The counter is process-wide: one `#[test]`, scenarios in sequence.

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use wsock_core::deflate::DeflateParams;
use wsock_core::{Config, Connection, Event, Extensions, Role};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated so far, freed or not.
fn allocated() -> usize {
    GLOBAL.stats().bytes_allocated
}

/// Bytes live on the heap now, process-wide (stats_alloc counts a
/// reallocation's growth or shrinkage in these two as well).
fn live() -> isize {
    let s = GLOBAL.stats();
    isize::try_from(s.bytes_allocated).unwrap() - isize::try_from(s.bytes_deallocated).unwrap()
}

fn params() -> DeflateParams {
    let mut params = DeflateParams::default();
    params.server_max_window_bits = 14;
    params.client_max_window_bits = 11;
    params
}

fn connection(role: Role, release_after_message: bool) -> Connection {
    let mut config = Config::default();
    config.deflate.release_after_message = release_after_message;
    Connection::new(role, config).with_extensions(Extensions::none().with_deflate(params()))
}

fn message(i: usize) -> String {
    format!(
        "{{\"op\":0,\"s\":{i},\"t\":\"MESSAGE_CREATE\",\"d\":{{\"id\":\"{}\",\
         \"author\":{{\"username\":\"user{}\"}},\"content\":\"{}\"}}}}",
        1_180_000_000_000_000_000u64 + i as u64 * 7919,
        i % 7,
        "deploy passed, merge the release branch please ".repeat(1 + i % 5)
    )
}

/// The client's frames for 150 messages, made before anything is counted.
fn client_wire() -> Vec<u8> {
    let mut client = connection(Role::Client, true);
    for i in 0..150 {
        client.send(message(i).as_str()).unwrap();
    }
    let mut wire = Vec::new();
    wsock_core::__internals::transmit_all(&mut client, &mut wire);
    wire
}

/// The client's frames for message `i` alone, continuing the stream of
/// [`client_wire`] (the same client state, rebuilt).
fn client_wire_of(i: usize) -> Vec<u8> {
    let mut client = connection(Role::Client, true);
    for k in 0..i {
        client.send(message(k).as_str()).unwrap();
    }
    let mut skip = Vec::new();
    wsock_core::__internals::transmit_all(&mut client, &mut skip);
    client.send(message(i).as_str()).unwrap();
    let mut wire = Vec::new();
    wsock_core::__internals::transmit_all(&mut client, &mut wire);
    wire
}

/// Echoes every message of `wire` on `server`, dropping its output.
fn echo(server: &mut Connection, wire: &[u8]) {
    for chunk in wire.chunks(1500) {
        server.feed(chunk);
        while let Some(event) = server.poll_event().unwrap() {
            if let Event::Message(message) = event {
                let data = message.as_bytes().to_vec();
                server.send(&data[..]).unwrap();
            }
        }
        let mut out = Vec::new();
        wsock_core::__internals::transmit_all(server, &mut out);
    }
}

#[test]
fn idle_deflate_connection_holds_only_its_windows() {
    let wire = client_wire();
    let windows: isize = (1 << 14) + (1 << 11);
    // A first connection leaves a spare compressor in the process's pool
    // (`deflate/pool.rs`), which the ones measured take and give back.
    echo(&mut connection(Role::Server, true), &wire);

    // Default: streams released after every message.
    let before = live();
    let mut server = connection(Role::Server, true);
    echo(&mut server, &wire);
    server.shrink_buffers();
    let held = live() - before;
    println!("released after every message: {held} bytes held idle");
    // The windows exactly (no growth slack), and the connection's own
    // few hundred bytes.
    assert_eq!(isize::try_from(server.deflate_memory()).unwrap(), windows);
    assert!(held >= windows && held <= windows + 2 * 1024, "{held}");

    // One more echo, streams from the pools: no zlib state allocated (a
    // decompressor is 42 KiB, a compressor 250+ KiB); what is allocated
    // is the message, its echo and the output.
    let one_more = client_wire_of(150);
    let start = allocated();
    echo(&mut server, &one_more);
    server.shrink_buffers();
    let spent = allocated() - start;
    println!("one more echo allocated {spent} bytes");
    assert!(spent < 8 * 1024, "{spent}");
    let held = live() - before;
    assert!(held >= windows && held <= windows + 2 * 1024, "{held}");

    // Kept streams, released by the adapter's idle hook.
    let before = live();
    let mut server = connection(Role::Server, false);
    echo(&mut server, &wire);
    let busy = live() - before;
    let busy_deflate = server.deflate_memory();
    server.shrink_buffers();
    let held = live() - before;
    println!(
        "kept: {busy} bytes held ({busy_deflate} of deflate state), {held} after shrink_buffers"
    );
    // Both kept streams came from the pools (which the live count
    // includes already), so they show in what the connection reports:
    // the compressor (250+ KiB) and the decompressor (42 KiB).
    assert!(busy_deflate > 290 * 1024, "{busy_deflate}");
    assert_eq!(isize::try_from(server.deflate_memory()).unwrap(), windows);
    assert!(held >= windows && held <= windows + 2 * 1024, "{held}");
}
