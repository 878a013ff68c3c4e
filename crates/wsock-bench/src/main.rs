//! `wsock-bench`: the echo load generator, its echo servers, and a
//! fixed-count driver for instruction counts.
//!
//! ```text
//! wsock-bench echo [--conns 1,16,100,500] [--sizes 16,1024,65536]
//!                  [--flavours current,multi] [--rounds 3] [--secs 1]
//!                  [--window 16] [--servers wsock,tokio-tungstenite,...]
//!                  [--style loop|forward]
//!                  [--kind binary|text-ascii|text-multilingual] [--deflate off|on]
//!                  [--cells issue]
//! wsock-bench serve <server> <current|multi> <loop|forward> [--port P]
//!                  (binds 127.0.0.1:P, any free port by default; prints "port N")
//! wsock-bench fanout [--subscribers 10000] [--messages 100] [--rounds 3]
//!                  [--window 64] [--deflate off,on] [--flavour multi|current]
//!                  [--servers wsock,tokio-tungstenite,fastwebsockets,sockudo-ws]
//! wsock-bench fanout-serve <server> <current|multi> [--port P]
//! wsock-bench count <lib> <decode|decode-text|encode-server|encode-client> <size> <n>
//! wsock-bench callgrind [--sizes 16] [--libs ...] [--workloads decode,...]  (needs valgrind)
//! ```
//!
//! Servers: `wsock`, `tokio-tungstenite`, `fastwebsockets`,
//! `tokio-websockets` and `sockudo-ws` on tokio (the default `--servers`), and
//! `wsock-blocking` and `tungstenite` (sync) with a thread per connection,
//! which run only when named. The threaded servers ignore the runtime
//! flavour and the style. `--kind` picks binary messages or text ones
//! (text opcode, ASCII or mostly multi-byte UTF-8); every server echoes
//! text as text, and the load generator checks the opcode and every byte.
//! `--deflate on` offers permessage-deflate as a browser does and sends
//! JSON-like text messages, each one different, compressed with context
//! takeover when the server agrees; the servers that cannot negotiate it
//! decline and run uncompressed, which the table says.
//!
//! `--cells issue` replaces conns × sizes with the eight cells of the
//! performance issue's harness, each with its own connections, size, kind
//! and window (`--conns`, `--sizes`, `--kind` and `--window` are then
//! unused), in rounds of 2 s unless `--secs` says otherwise. Every table
//! gives each of our servers' msgs/s over the best peer's and its CPU per
//! message over the lowest peer's, cell by cell, and lists the cells below
//! 1.0×.
//!
//! `fanout` runs one publisher and `--subscribers` subscribers against a
//! fan-out server of each library in a child process (`fanout-serve`),
//! measures that process's CPU time from the first message published to
//! the last one delivered, and prints CPU µs per delivered message: see
//! the `fanout` module and `docs/performance.md`.

#![allow(clippy::cast_precision_loss, clippy::format_push_string)] // Printed tables of floats.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wsock_bench::echo::{self, Frames, Load, Server, Style, Tally};
use wsock_bench::fanout::{self, FanServer, Plan};
use wsock_bench::{Decoder, Encoder, Kind, Lib, client_stream};
use wsock_core::Role;

const USAGE: &str = "usage:
  wsock-bench echo [--conns 1,16,100,500] [--sizes 16,1024,65536] [--flavours current,multi]
                   [--rounds 3] [--secs 1] [--window 16] [--style loop|forward]
                   [--kind binary|text-ascii|text-multilingual] [--deflate off|on]
                   [--cells issue]  (the issue's 8 cells instead of conns x sizes; 2 s rounds)
                   [--servers wsock,tokio-tungstenite,fastwebsockets,tokio-websockets,sockudo-ws]
                   (also wsock-blocking and tungstenite: a thread per connection, only when named)
  wsock-bench serve <server> <current|multi> <loop|forward> [--port P]
  wsock-bench fanout [--subscribers 10000] [--messages 100] [--rounds 3] [--window 64]
                     [--deflate off,on] [--flavour multi|current]
                     [--servers wsock,tokio-tungstenite,fastwebsockets,sockudo-ws]
  wsock-bench fanout-serve <server> <current|multi> [--port P]
  wsock-bench count <lib> <decode|decode-text|encode-server|encode-client> <size> <n>
  wsock-bench callgrind [--sizes 16] [--libs wsock-core,...] [--workloads decode,decode-text,...]";

/// Bytes in flight per connection at most in a conns × sizes matrix: keeps
/// 500 connections of 64 KiB messages within loopback buffers and memory.
/// Messages larger than half of it still get 2 in flight (1 MiB cells:
/// 2 MiB per connection), so the server always has the next one to read
/// while it writes an echo. The `--cells` presets set each cell's window
/// themselves.
const MAX_IN_FLIGHT: usize = 128 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("echo") => echo_matrix(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("fanout") => fanout(&args[1..]),
        Some("fanout-serve") => fanout_serve(&args[1..]),
        Some("count") => count(&args[1..]),
        Some("callgrind") => callgrind(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsock-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(flavour: &str) -> Result<tokio::runtime::Runtime, String> {
    match flavour {
        "current" => tokio::runtime::Builder::new_current_thread(),
        "multi" => tokio::runtime::Builder::new_multi_thread(),
        other => return Err(format!("unknown runtime flavour {other:?}")),
    }
    .enable_all()
    .build()
    .map_err(|e| e.to_string())
}

fn serve(args: &[String]) -> Result<(), String> {
    const USAGE: &str =
        "usage: wsock-bench serve <server> <current|multi> <loop|forward> [--port P]";
    let (port, args) = match args {
        [rest @ .., flag, port] if flag == "--port" => {
            (port.parse::<u16>().map_err(|_| "bad --port")?, rest)
        }
        _ => (0, args),
    };
    let [server, flavour, style] = args else {
        return Err(USAGE.into());
    };
    let server = Server::from_name(server).ok_or(format!("unknown server {server:?}"))?;
    let style = Style::from_name(style).ok_or(format!("unknown style {style:?}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // A server (500 connections in the issue's cells) takes the
    // descriptors it can get; the load generator checks its own need.
    let _ = raise_nofile(0);
    if server.is_threaded() {
        // A thread per connection: the runtime flavour (checked, so that
        // the same command line works for every server) and the style do
        // not apply; the echo is a receive-then-send loop.
        if !matches!(flavour.as_str(), "current" | "multi") {
            return Err(format!("unknown runtime flavour {flavour:?}"));
        }
        let listener = std::net::TcpListener::bind(addr).map_err(|e| e.to_string())?;
        println!(
            "port {}",
            listener.local_addr().map_err(|e| e.to_string())?.port()
        );
        return echo::serve_threaded(server, &listener).map_err(|e| e.to_string());
    }
    if server == Server::SockudoWs {
        // Its README: calibrate its clock before the runtime starts, so
        // the first connection does not pay for it.
        sockudo_ws::init_clock();
    }
    runtime(flavour)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        println!("port {port}");
        echo::serve(server, style, listener)
            .await
            .map_err(|e| e.to_string())
    })
}

fn list<T>(value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|v| parse(v).ok_or(format!("bad value {v:?}")))
        .collect()
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// An echo server child process of ours.
struct Running {
    server: Server,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(server: Server, flavour: &str, style: Style) -> Result<Running, String> {
    let (child, addr) = spawn_child(
        &["serve", server.name(), flavour, style.name()],
        server.name(),
    )?;
    Ok(Running {
        server,
        child,
        addr,
    })
}

/// This executable again with `args`, a server that prints `port N` on its
/// first line of output: the child and the address it listens on.
fn spawn_child(args: &[&str], name: &str) -> Result<(Child, SocketAddr), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or(format!("{name}: no port in {line:?}"))?;
    Ok((child, SocketAddr::from(([127, 0, 0, 1], port))))
}

/// msgs/s and server CPU seconds per message of one run, and whether the
/// server agreed to permessage-deflate on every connection.
fn run_once(
    rt: &tokio::runtime::Runtime,
    server: &Running,
    load: Load,
    secs: f64,
) -> Result<(f64, f64, bool), String> {
    rt.block_on(async {
        let load = Arc::new(load);
        let frames = Arc::new(Frames::new(load.kind, load.size, load.window));
        let tally = Arc::new(Tally::default());
        let tasks: Vec<_> = (0..load.connections)
            .map(|_| {
                let (load, frames, tally) = (load.clone(), frames.clone(), tally.clone());
                tokio::spawn(async move { echo::drive(&load, &frames, &tally).await })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while tally.ready.load(Ordering::Relaxed) < load.connections as u64 {
            if Instant::now() > deadline || tasks.iter().any(tokio::task::JoinHandle::is_finished) {
                tally.stop.store(true, Ordering::Relaxed);
                for t in tasks {
                    t.abort();
                }
                return Err(format!(
                    "{}: connections did not open",
                    server.server.name()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Warm up, then measure.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pid = server.child.id();
        let (e0, c0, t0) = (
            tally.echoed.load(Ordering::Relaxed),
            echo::cpu_seconds(pid).map_err(|e| e.to_string())?,
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let (e1, c1, t1) = (
            tally.echoed.load(Ordering::Relaxed),
            echo::cpu_seconds(pid).map_err(|e| e.to_string())?,
            Instant::now(),
        );
        tally.stop.store(true, Ordering::Relaxed);
        for t in tasks {
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(format!("{}: {e}", server.server.name())),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err(format!("{}: connection hung", server.server.name())),
            }
        }
        let msgs = (e1 - e0) as f64;
        let agreed = tally.deflated.load(Ordering::Relaxed) == load.connections as u64;
        Ok((
            msgs / (t1 - t0).as_secs_f64(),
            (c1 - c0) / msgs.max(1.0),
            agreed,
        ))
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

/// One cell of an echo table: how many connections, what messages, how
/// many in flight per connection.
#[derive(Debug, Clone, Copy)]
struct Cell {
    conns: usize,
    size: usize,
    kind: Kind,
    window: usize,
}

/// The cells of the performance issue's independent harness (`--cells
/// issue`), each with its own connections, size, kind and window. Where
/// the issue names no window, the one chosen here: 1 for the single
/// connection of 16 B (a round trip at a time) and for 500 connections
/// (each a request and its reply), 2 for the large messages without one.
/// Its "UTF-8 text" of 1 KiB is ASCII, its 64 KiB text multilingual.
const ISSUE_CELLS: [Cell; 8] = [
    Cell {
        conns: 1,
        size: 16,
        kind: Kind::Binary,
        window: 1,
    },
    Cell {
        conns: 16,
        size: 16,
        kind: Kind::Binary,
        window: 16,
    },
    Cell {
        conns: 16,
        size: 1024,
        kind: Kind::Ascii,
        window: 16,
    },
    Cell {
        conns: 100,
        size: 1024,
        kind: Kind::Binary,
        window: 4,
    },
    Cell {
        conns: 500,
        size: 1024,
        kind: Kind::Binary,
        window: 1,
    },
    Cell {
        conns: 16,
        size: 64 << 10,
        kind: Kind::Binary,
        window: 4,
    },
    Cell {
        conns: 16,
        size: 64 << 10,
        kind: Kind::Multilingual,
        window: 2,
    },
    Cell {
        conns: 4,
        size: 1 << 20,
        kind: Kind::Binary,
        window: 2,
    },
];

/// One of our servers against the best peer of the same model (tokio or
/// a thread per connection), with its ratios cell by cell.
struct Compare {
    ours: usize,
    peers: Vec<usize>,
    /// Our msgs/s over the best peer's, per cell.
    rate: Vec<f64>,
    /// Our CPU µs/msg over the lowest peer's, per cell.
    cpu: Vec<f64>,
    /// The cells, as printed, for the ones below 1.0×.
    cells: Vec<String>,
}

#[allow(clippy::too_many_lines)] // One table: flags, runs, rows, summary.
fn echo_matrix(args: &[String]) -> Result<(), String> {
    let mut conns = vec![1, 16, 100, 500];
    let mut sizes = vec![16, 1024, 64 * 1024];
    let mut flavours = vec!["current".to_string(), "multi".to_string()];
    let mut servers = Server::ALL.to_vec();
    let mut rounds = 3;
    let mut secs = None;
    let mut window = 16;
    let mut style = Style::Loop;
    let mut kind = Kind::Binary;
    let mut deflate = false;
    let mut preset: Option<&[Cell]> = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--conns" => conns = list(value, |v| v.parse().ok())?,
            "--sizes" => sizes = list(value, |v| v.parse().ok())?,
            "--flavours" => flavours = list(value, |v| Some(v.to_string()))?,
            "--servers" => servers = list(value, Server::from_name)?,
            "--rounds" => rounds = value.parse().map_err(|_| "bad --rounds")?,
            "--secs" => secs = Some(value.parse().map_err(|_| "bad --secs")?),
            "--window" => window = value.parse().map_err(|_| "bad --window")?,
            "--style" => style = Style::from_name(value).ok_or("bad --style")?,
            "--kind" => kind = Kind::from_name(value).ok_or("bad --kind")?,
            "--cells" => {
                preset = match value.as_str() {
                    "issue" => Some(&ISSUE_CELLS),
                    _ => return Err("bad --cells (issue)".into()),
                }
            }
            "--deflate" => {
                deflate = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err("bad --deflate (off or on)".into()),
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if rounds == 0 || servers.is_empty() {
        return Err("--rounds and --servers need at least one".into());
    }
    // A preset runs its own cells (the issue's harness: rounds of 2 s);
    // otherwise conns × sizes of one kind, the window capped so that
    // large messages stay within loopback buffers.
    let secs = secs.unwrap_or(if preset.is_some() { 2.0 } else { 1.0 });
    let cells: Vec<Cell> = match preset {
        Some(cells) => {
            if deflate {
                return Err("--cells and --deflate on do not go together".into());
            }
            cells.to_vec()
        }
        None => conns
            .iter()
            .flat_map(|&conns| {
                sizes.iter().map(move |&size| Cell {
                    conns,
                    size,
                    kind,
                    window: window.clamp(1, (MAX_IN_FLIGHT / size.max(1)).max(2)),
                })
            })
            .collect(),
    };
    // The load generator holds a descriptor per connection; each server
    // child raises its own limit.
    let most = cells.iter().map(|c| c.conns).max().unwrap_or(0);
    raise_nofile(most as u64 + 64)?;
    // The load generator: one thread, so the servers get the other cores.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut compare: Vec<Compare> = (0..servers.len())
        .filter(|&i| servers[i].is_ours())
        .map(|i| {
            let peers: Vec<usize> = (0..servers.len())
                .filter(|&j| {
                    !servers[j].is_ours() && servers[j].is_threaded() == servers[i].is_threaded()
                })
                .collect();
            Compare {
                ours: i,
                peers,
                rate: Vec::new(),
                cpu: Vec::new(),
                cells: Vec::new(),
            }
        })
        .filter(|c| !c.peers.is_empty())
        .collect();
    for flavour in &flavours {
        let running = servers
            .iter()
            .map(|&s| spawn_server(s, flavour, style))
            .collect::<Result<Vec<_>, _>>()?;
        println!(
            "\n### {flavour}-thread runtime, {} servers, {}: msgs/s (median of {rounds} x {secs} s), server CPU µs/msg\n",
            style.name(),
            match (deflate, preset) {
                (true, _) => "JSON-like text messages, permessage-deflate offered,".to_string(),
                (false, Some(_)) => "the issue's cells".to_string(),
                (false, None) => format!("{} messages", kind.name()),
            }
        );
        let mut compressed = vec![false; running.len()];
        let threaded: Vec<&str> = (servers.iter())
            .filter(|s| s.is_threaded())
            .map(|s| s.name())
            .collect();
        if !threaded.is_empty() {
            println!(
                "{}: a thread per connection and a receive-then-send loop, whatever the runtime and style.\n",
                threaded.join(", ")
            );
        }
        let mut head = String::from("| conns | size | kind | window |");
        let mut rule = String::from("|---:|---:|---|---:|");
        for s in &servers {
            head += &format!(" {} |", s.name());
            rule += "---:|";
        }
        for c in &compare {
            let ours = servers[c.ours].name();
            head += &format!(" {ours} / best peer msgs/s | {ours} / lowest peer CPU |");
            rule += "---:|---:|";
        }
        println!("{head}\n{rule}");
        for cell in &cells {
            let mut rates = vec![Vec::new(); running.len()];
            let mut cpus = vec![Vec::new(); running.len()];
            for round in 0..rounds {
                // Interleave: each round starts with a different server.
                for k in 0..running.len() {
                    let i = (k + round) % running.len();
                    let load = Load {
                        addr: running[i].addr,
                        connections: cell.conns,
                        kind: cell.kind,
                        size: cell.size,
                        window: cell.window,
                        deflate,
                    };
                    let (rate, cpu, agreed) = run_once(&rt, &running[i], load, secs)?;
                    compressed[i] |= agreed;
                    rates[i].push(rate);
                    cpus[i].push(cpu);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let rate: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
            let cpu: Vec<f64> = cpus.iter_mut().map(|c| median(c)).collect();
            let name = format!(
                "{} | {} | {} | {}",
                cell.conns,
                size_name(cell.size),
                if deflate { "json" } else { cell.kind.name() },
                cell.window
            );
            let mut row = format!("| {name} |");
            for (r, c) in rate.iter().zip(&cpu) {
                row += &format!(" {r:.0} ({:.2} µs) |", c * 1e6);
            }
            for c in &mut compare {
                let best = c.peers.iter().map(|&j| rate[j]).fold(0.0, f64::max);
                let lowest = c
                    .peers
                    .iter()
                    .map(|&j| cpu[j])
                    .fold(f64::INFINITY, f64::min);
                let (r, u) = (rate[c.ours] / best, cpu[c.ours] / lowest);
                c.rate.push(r);
                c.cpu.push(u);
                c.cells
                    .push(format!("{flavour}: {name}").replace(" | ", " "));
                row += &format!(" {r:.2}× | {u:.2}× |");
            }
            println!("{row}");
        }
        if deflate {
            let names = |agreed: bool| {
                let names: Vec<&str> = (0..running.len())
                    .filter(|&i| compressed[i] == agreed)
                    .map(|i| servers[i].name())
                    .collect();
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            };
            println!(
                "\ncompressed: {}; declined permessage-deflate, ran uncompressed: {}",
                names(true),
                names(false)
            );
        }
    }
    if !compare.is_empty() {
        println!();
    }
    let geo = |v: &[f64]| (v.iter().map(|r| r.ln()).sum::<f64>() / v.len() as f64).exp();
    for c in &compare {
        let peers: Vec<&str> = c.peers.iter().map(|&j| servers[j].name()).collect();
        let min = c.rate.iter().copied().fold(f64::INFINITY, f64::min);
        let below: Vec<String> = (c.rate.iter().zip(&c.cells))
            .filter(|(r, _)| **r < 1.0)
            .map(|(r, cell)| format!("{cell} ({r:.2}×)"))
            .collect();
        println!(
            "{} / best peer ({}): msgs/s geometric mean {:.2}×, lowest cell {min:.2}×; \
             CPU/msg geometric mean {:.2}× the lowest peer's ({} cells)",
            servers[c.ours].name(),
            peers.join(", "),
            geo(&c.rate),
            geo(&c.cpu),
            c.rate.len()
        );
        if !below.is_empty() {
            println!("  below 1.0×: {}", below.join("; "));
        }
    }
    Ok(())
}

/// Runs `n` messages of one workload through one library.
fn count(args: &[String]) -> Result<(), String> {
    let [lib, work, size, n] = args else {
        return Err("usage: wsock-bench count <lib> <workload> <size> <n>".into());
    };
    let lib = Lib::from_name(lib).ok_or(format!("unknown lib {lib:?}"))?;
    let size: usize = size.parse().map_err(|_| "bad size")?;
    let n: usize = n.parse().map_err(|_| "bad n")?;
    let rt = runtime("current")?;
    let _guard = rt.enter();
    let seen = match work.as_str() {
        "decode" | "decode-text" => {
            // A stream of up to 4096 frames, read in a loop: binary, or
            // mostly multi-byte UTF-8 text.
            let kind = if work == "decode" {
                Kind::Binary
            } else {
                Kind::Multilingual
            };
            let mut decoder = Decoder::new(lib, client_stream(kind, size, n.clamp(1, 4096)));
            decoder.receive(n)
        }
        "encode-server" | "encode-client" => {
            let role = if work == "encode-server" {
                Role::Server
            } else {
                Role::Client
            };
            let payload = Kind::Binary.payload(size);
            let mut encoder =
                Encoder::new(lib, role, &payload).ok_or(format!("{}: no encoder", lib.name()))?;
            (0..n).map(|_| encoder.send(&payload)).sum()
        }
        other => return Err(format!("unknown workload {other:?}")),
    };
    println!("{seen}");
    Ok(())
}

/// Instructions per message under callgrind: two runs of `count` that differ
/// only in the message count; the difference divided by the extra messages
/// leaves out start-up and set-up.
fn callgrind(args: &[String]) -> Result<(), String> {
    let mut sizes = vec![16];
    let mut libs = Lib::ALL.to_vec();
    let mut works = vec!["decode", "encode-server", "encode-client"];
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => sizes = list(value, |v| v.parse().ok())?,
            "--libs" => libs = list(value, Lib::from_name)?,
            "--workloads" => {
                works = list(value, |w| {
                    ["decode", "decode-text", "encode-server", "encode-client"]
                        .into_iter()
                        .find(|&known| known == w)
                })?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let instructions = |lib: Lib, work: &str, size: usize, n: usize| -> Result<u64, String> {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["count", lib.name(), work, &size.to_string(), &n.to_string()])
            .output()
            .map_err(|e| format!("valgrind: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("{} {work}: {err}", lib.name()));
        }
        err.lines()
            .find_map(|l| {
                l.split_once("Collected :")
                    .map(|(_, v)| v.trim().to_string())
            })
            .and_then(|v| v.parse().ok())
            .ok_or(format!("no count in {err}"))
    };
    println!("| library | workload | size | instructions per message |\n|---|---|---:|---:|");
    for size in sizes {
        for &work in &works {
            for &lib in &libs {
                if !work.starts_with("decode") && lib.decodes_only() {
                    continue;
                }
                let (small, large) = (10_000, 60_000);
                let a = instructions(lib, work, size, small)?;
                let b = instructions(lib, work, size, large)?;
                let per = (b.saturating_sub(a)) as f64 / (large - small) as f64;
                println!(
                    "| {} | {work} | {} | {per:.0} |",
                    lib.name(),
                    size_name(size)
                );
            }
        }
    }
    Ok(())
}

/// Raises the soft limit on open descriptors to the hard limit, and says
/// whether `needed` fit.
fn raise_nofile(needed: u64) -> Result<(), String> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit).map_err(|e| format!("setrlimit: {e}"))?;
    }
    let have = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if have < needed {
        return Err(format!(
            "{needed} descriptors are needed but RLIMIT_NOFILE allows {have} (its hard limit); \
             raise it (ulimit -Hn) or lower --subscribers"
        ));
    }
    Ok(())
}

fn fanout_serve(args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: wsock-bench fanout-serve <server> <current|multi> [--port P]";
    let (port, args) = match args {
        [rest @ .., flag, port] if flag == "--port" => {
            (port.parse::<u16>().map_err(|_| "bad --port")?, rest)
        }
        _ => (0, args),
    };
    let [server, flavour] = args else {
        return Err(USAGE.into());
    };
    let server = FanServer::from_name(server).ok_or(format!("unknown server {server:?}"))?;
    // The parent checked the count it needs; a server run alone takes
    // what it can get.
    let _ = raise_nofile(0);
    runtime(flavour)?.block_on(async {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = wsock_tokio::listen(addr, 4096)
            .await
            .map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        println!("port {port}");
        fanout::serve(server, listener)
            .await
            .map_err(|e| e.to_string())
    })
}

/// A fan-out server child process of ours.
struct FanRunning {
    child: Child,
    addr: SocketAddr,
}

impl Drop for FanRunning {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_fanout(server: FanServer, flavour: &str) -> Result<FanRunning, String> {
    let (child, addr) = spawn_child(&["fanout-serve", server.name(), flavour], server.name())?;
    Ok(FanRunning { child, addr })
}

/// One measured round: server CPU seconds, deliveries, seconds, and
/// whether the subscribers got compressed frames.
struct Round {
    cpu: f64,
    delivered: u64,
    secs: f64,
    deflated: usize,
    compressed_frames: u64,
    wire_bytes: u64,
}

fn fanout(args: &[String]) -> Result<(), String> {
    let mut subscribers = 10_000;
    let mut messages = 100;
    let mut rounds = 3;
    let mut window = 64;
    let mut modes = vec![false, true];
    let mut flavour = "multi".to_string();
    let mut servers = FanServer::ALL.to_vec();
    let mut timeout = 300.0;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--subscribers" => subscribers = value.parse().map_err(|_| "bad --subscribers")?,
            "--messages" => messages = value.parse().map_err(|_| "bad --messages")?,
            "--rounds" => rounds = value.parse().map_err(|_| "bad --rounds")?,
            "--window" => window = value.parse().map_err(|_| "bad --window")?,
            "--timeout" => timeout = value.parse().map_err(|_| "bad --timeout")?,
            "--flavour" => flavour.clone_from(value),
            "--servers" => servers = list(value, FanServer::from_name)?,
            "--deflate" => {
                modes = list(value, |v| match v {
                    "off" => Some(false),
                    "on" => Some(true),
                    _ => None,
                })?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !(1..=fanout::ROOM_CAPACITY as u32 / 2).contains(&window) {
        return Err(format!(
            "--window must be 1 to {}: a subscriber never falls a room behind",
            fanout::ROOM_CAPACITY / 2
        ));
    }
    if messages == 0 || subscribers == 0 {
        return Err("--messages and --subscribers must be at least 1".into());
    }
    // Subscribers, the publisher, and a margin for the runtime and std.
    raise_nofile(subscribers as u64 + 64)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!(
        "fan-out: {subscribers} subscribers, {messages} messages of {} B, window {window}, \
         {flavour}-thread server runtime, {rounds} rounds interleaved",
        fanout::MESSAGE_SIZE
    );
    for &deflate in &modes {
        let mut results: Vec<Vec<Round>> = (0..servers.len()).map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..servers.len() {
                let i = (k + round) % servers.len();
                let running = spawn_fanout(servers[i], &flavour)?;
                let plan = Plan {
                    addr: running.addr,
                    subscribers,
                    messages,
                    window,
                    deflate,
                    timeout: Duration::from_secs_f64(timeout),
                };
                let pid = running.child.id();
                let (outcome, cpu) = rt
                    .block_on(fanout::run(&plan, || echo::cpu_seconds(pid)))
                    .map_err(|e| {
                        format!("{} round {}: invalid: {e}", servers[i].name(), round + 1)
                    })?;
                drop(running);
                let r = Round {
                    cpu,
                    delivered: outcome.delivered,
                    secs: outcome.elapsed.as_secs_f64(),
                    deflated: outcome.deflated,
                    compressed_frames: outcome.compressed_frames,
                    wire_bytes: outcome.wire_bytes,
                };
                eprintln!(
                    "  deflate {}: {} round {}: {:.3} s CPU, {} delivered in {:.2} s, {:.3} µs/msg",
                    if deflate { "on" } else { "off" },
                    servers[i].name(),
                    round + 1,
                    r.cpu,
                    r.delivered,
                    r.secs,
                    r.cpu / r.delivered as f64 * 1e6
                );
                results[i].push(r);
                // Let the closed connections go before the next server.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        print_fanout(&servers, &results, deflate, subscribers);
    }
    Ok(())
}

fn print_fanout(servers: &[FanServer], results: &[Vec<Round>], deflate: bool, subscribers: usize) {
    println!(
        "\n### permessage-deflate {}: server CPU µs per delivered message (median; rounds)\n",
        if deflate { "offered" } else { "off" }
    );
    println!(
        "| server | deflate | CPU µs / delivered msg | rounds | deliveries/s | wire B/msg | vs best peer |\n|---|---|---:|---|---:|---:|---:|"
    );
    let per: Vec<f64> = results
        .iter()
        .map(|rs| {
            let mut v: Vec<f64> = rs
                .iter()
                .map(|r| r.cpu / r.delivered as f64 * 1e6)
                .collect();
            median(&mut v)
        })
        .collect();
    let best_peer = (0..servers.len())
        .filter(|&i| servers[i] != FanServer::Wsock)
        .map(|i| per[i])
        .fold(f64::INFINITY, f64::min);
    for (i, rs) in results.iter().enumerate() {
        let rounds: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.3}", r.cpu / r.delivered as f64 * 1e6))
            .collect();
        let mut rates: Vec<f64> = rs.iter().map(|r| r.delivered as f64 / r.secs).collect();
        let wire = rs.iter().map(|r| r.wire_bytes).sum::<u64>() as f64
            / rs.iter().map(|r| r.delivered).sum::<u64>().max(1) as f64;
        let negotiated = rs.iter().all(|r| r.deflated == subscribers);
        let compressed = rs.iter().any(|r| r.compressed_frames > 0);
        let how = match (deflate, negotiated, compressed) {
            (false, _, _) => "off",
            (true, true, true) => "on",
            (true, true, false) => "agreed, nothing compressed",
            (true, false, _) if servers[i].has_deflate() => "declined",
            (true, false, _) => "unsupported (declined)",
        };
        let ratio = if servers[i] == FanServer::Wsock && best_peer.is_finite() {
            format!("{:.2}×", per[i] / best_peer)
        } else {
            String::new()
        };
        println!(
            "| {} | {how} | {:.3} | {} | {:.0} | {wire:.0} | {ratio} |",
            servers[i].name(),
            per[i],
            rounds.join(", "),
            median(&mut rates)
        );
    }
    println!("\nTarget: wsock at most 0.50× the best peer's CPU per delivered message.");
}
