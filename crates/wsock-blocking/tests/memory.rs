//! Memory stays bounded while a message far larger than every buffer
//! streams through. Alone in its own test binary, so that the process's
//! resident set measures this test only.

mod common;

use std::io::{Read, Write};

use common::{bounded, pair_with};
use wsock_blocking::{Acceptor, DataKind};

const SIZE: usize = 64 << 20;
const CHUNK: usize = 64 * 1024;

/// A kB figure from /proc/self/status (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn fill(buf: &mut [u8], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((offset + i) % 251) as u8;
    }
}

#[test]
fn a_64_mib_message_streams_through_small_buffers() {
    bounded(300, || {
        let (mut client, mut server) = pair_with(
            |b| {
                b.write_buffer_size(16 * 1024)
                    .fragment_size(Some(8 * 1024))
                    .read_buffer_size(4096)
            },
            Acceptor::new()
                .read_buffer_size(4096)
                .max_message_size(usize::MAX),
        );
        let receiver = std::thread::spawn(move || {
            let mut reader = server.recv_stream().unwrap().expect("a message");
            assert_eq!(reader.kind(), DataKind::Binary);
            let mut buf = vec![0u8; CHUNK];
            let mut expected = vec![0u8; CHUNK];
            let mut total = 0;
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                fill(&mut expected[..n], total);
                assert!(buf[..n] == expected[..n], "corrupt data at offset {total}");
                total += n;
            }
            drop(reader);
            (total, server)
        });
        // Everything is set up: measure from here.
        let baseline = status_kb("VmRSS:");

        let mut writer = client.send_stream(DataKind::Binary).unwrap();
        let mut chunk = vec![0u8; CHUNK];
        let mut sent = 0;
        while sent < SIZE {
            fill(&mut chunk, sent);
            writer.write_all(&chunk).unwrap();
            sent += CHUNK;
        }
        writer.finish().unwrap();

        let (received, server) = receiver.join().unwrap();
        assert_eq!(received, SIZE);
        assert_eq!(server.stats().frames_received, (SIZE / (8 * 1024)) as u64);
        let peak = status_kb("VmHWM:");
        let growth_kb = peak.saturating_sub(baseline);
        // 64 MiB went through; both ends together held a few buffers.
        assert!(
            growth_kb < 8 * 1024,
            "resident memory grew by {growth_kb} kB for a {} kB message",
            SIZE / 1024
        );
        common::end(client, server);
    });
}
