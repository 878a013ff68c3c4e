//! wsock beside tungstenite, fastwebsockets and tokio-websockets, in memory:
//! `cargo bench -p wsock-bench` (filter with `-- decode/binary` and so on).
//!
//! Throughput is in payload bytes. Every library reads from the same
//! in-memory transport (at most 64 KiB per read, as from a socket) and
//! writes into one that copies what it is given, as a socket would.
//!
//! - `decode/<kind>/<size>`: a server receives whole messages from a long
//!   stream of masked client frames (1 MiB of payload per iteration): each
//!   byte is read in, unmasked and, for text, validated as UTF-8. One
//!   function per library, plus `memcpy` of the same payload bytes (the
//!   floor for any pass over them). `wsock-core` is the sans-IO core driven
//!   as an adapter drives it (read into `read_buffer`, `poll_event`,
//!   borrowed events); `wsock-tokio` is the adapter's `recv` (owned
//!   messages) over the same transport; the peers use their plain APIs
//!   (tungstenite `read`, fastwebsockets `read_frame`, tokio-websockets
//!   `next`), each returning owned or shared buffers.
//! - `encode/<role>/<size>`: one binary message sent and written out.
//!   `server` frames are unmasked; `client` frames are masked with a fresh
//!   random key.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsock_bench::{Decoder, Encoder, Kind, Lib, client_stream};
use wsock_core::Role;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const SIZES: [usize; 5] = [16, 125, KIB, 64 * KIB, MIB];
/// Payload bytes per decode iteration (rounded up to whole frames).
const STREAM_BYTES: usize = MIB;

fn size_name(size: usize) -> String {
    match size {
        s if s >= MIB && s % MIB == 0 => format!("{}MiB", s / MIB),
        s if s >= KIB && s % KIB == 0 => format!("{}KiB", s / KIB),
        s => format!("{s}B"),
    }
}

fn decode(c: &mut Criterion) {
    // wsock-tokio looks for a runtime's time driver when it arms timers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    for kind in Kind::ALL {
        for size in SIZES {
            let mut group =
                c.benchmark_group(format!("decode/{}/{}", kind.name(), size_name(size)));
            let messages = STREAM_BYTES.div_ceil(size);
            group.throughput(Throughput::Bytes((messages * size) as u64));
            for lib in Lib::ALL {
                // The transport serves the stream in a loop, so a library
                // reading ahead stays on frame boundaries across iterations.
                let mut decoder = Decoder::new(lib, client_stream(kind, size, messages));
                assert_eq!(decoder.receive(messages), messages * size, "{}", lib.name());
                group.bench_function(BenchmarkId::from_parameter(lib.name()), |b| {
                    b.iter(|| decoder.receive(black_box(messages)));
                });
            }
            if kind == Kind::Binary {
                let src = kind.payload(size);
                let mut dst = vec![0; size];
                group.bench_function(BenchmarkId::from_parameter("memcpy"), |b| {
                    b.iter(|| {
                        for _ in 0..messages {
                            black_box(&mut dst[..]).copy_from_slice(black_box(&src));
                        }
                    });
                });
            }
            group.finish();
        }
    }
}

fn encode(c: &mut Criterion) {
    for role in [Role::Server, Role::Client] {
        let role_name = match role {
            Role::Server => "server",
            Role::Client => "client",
        };
        for size in SIZES {
            let mut group = c.benchmark_group(format!("encode/{role_name}/{}", size_name(size)));
            group.throughput(Throughput::Bytes(size as u64));
            let payload = Kind::Binary.payload(size);
            for lib in Lib::ALL {
                let Some(mut encoder) = Encoder::new(lib, role, &payload) else {
                    continue;
                };
                group.bench_function(BenchmarkId::from_parameter(lib.name()), |b| {
                    b.iter(|| encoder.send(black_box(&payload)));
                });
            }
            group.finish();
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decode, encode
}
criterion_main!(benches);
