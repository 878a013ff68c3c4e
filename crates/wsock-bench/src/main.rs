//! `wsock-bench`: the echo load generator, its echo servers, and a
//! fixed-count driver for instruction counts.
//!
//! ```text
//! wsock-bench echo [--conns 1,16,100,500] [--sizes 16,1024,65536]
//!                  [--flavours current,multi] [--rounds 3] [--secs 1]
//!                  [--window 16] [--servers wsock,tokio-tungstenite,...]
//!                  [--style loop|forward]
//!                  [--kind binary|text-ascii|text-multilingual]
//! wsock-bench serve <server> <current|multi> <loop|forward> [--port P]
//!                  (binds 127.0.0.1:P, any free port by default; prints "port N")
//! wsock-bench count <lib> <decode|encode-server|encode-client> <size> <n>
//! wsock-bench callgrind [--sizes 16] [--libs ...]  (needs valgrind)
//! ```
//!
//! Servers: `wsock`, `tokio-tungstenite`, `fastwebsockets` and
//! `tokio-websockets` on tokio (the default `--servers`), and
//! `wsock-blocking` and `tungstenite` (sync) with a thread per connection,
//! which run only when named. The threaded servers ignore the runtime
//! flavour and the style. `--kind` picks binary messages or text ones
//! (text opcode, ASCII or mostly multi-byte UTF-8); every server echoes
//! text as text, and the load generator checks the opcode and every byte.

#![allow(clippy::cast_precision_loss, clippy::format_push_string)] // Printed tables of floats.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wsock_bench::echo::{self, Frames, Load, Server, Style, Tally};
use wsock_bench::{Decoder, Encoder, Kind, Lib, client_stream};
use wsock_core::Role;

const USAGE: &str = "usage:
  wsock-bench echo [--conns 1,16,100,500] [--sizes 16,1024,65536] [--flavours current,multi]
                   [--rounds 3] [--secs 1] [--window 16] [--style loop|forward]
                   [--kind binary|text-ascii|text-multilingual]
                   [--servers wsock,tokio-tungstenite,fastwebsockets,tokio-websockets]
                   (also wsock-blocking and tungstenite: a thread per connection, only when named)
  wsock-bench serve <server> <current|multi> <loop|forward> [--port P]
  wsock-bench count <lib> <decode|encode-server|encode-client> <size> <n>
  wsock-bench callgrind [--sizes 16] [--libs wsock-core,...]";

/// Bytes in flight per connection at most: keeps 500 connections of 64 KiB
/// messages within loopback buffers and memory.
const MAX_IN_FLIGHT: usize = 128 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("echo") => echo_matrix(&args[1..]),
        Some("serve") => serve(&args[1..]),
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
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["serve", server.name(), flavour, style.name()])
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
        .ok_or(format!("{}: no port in {line:?}", server.name()))?;
    Ok(Running {
        server,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// msgs/s and server CPU seconds per message of one run.
fn run_once(
    rt: &tokio::runtime::Runtime,
    server: &Running,
    load: Load,
    secs: f64,
) -> Result<(f64, f64), String> {
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
        Ok((msgs / (t1 - t0).as_secs_f64(), (c1 - c0) / msgs.max(1.0)))
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

fn echo_matrix(args: &[String]) -> Result<(), String> {
    let mut conns = vec![1, 16, 100, 500];
    let mut sizes = vec![16, 1024, 64 * 1024];
    let mut flavours = vec!["current".to_string(), "multi".to_string()];
    let mut servers = Server::ALL.to_vec();
    let mut rounds = 3;
    let mut secs = 1.0;
    let mut window = 16;
    let mut style = Style::Loop;
    let mut kind = Kind::Binary;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--conns" => conns = list(value, |v| v.parse().ok())?,
            "--sizes" => sizes = list(value, |v| v.parse().ok())?,
            "--flavours" => flavours = list(value, |v| Some(v.to_string()))?,
            "--servers" => servers = list(value, Server::from_name)?,
            "--rounds" => rounds = value.parse().map_err(|_| "bad --rounds")?,
            "--secs" => secs = value.parse().map_err(|_| "bad --secs")?,
            "--window" => window = value.parse().map_err(|_| "bad --window")?,
            "--style" => style = Style::from_name(value).ok_or("bad --style")?,
            "--kind" => kind = Kind::from_name(value).ok_or("bad --kind")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    // The load generator: one thread, so the servers get the other cores.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Each of our servers against the best peer of the same model (tokio
    // or a thread per connection): (ours, peers, ratios of the cells).
    let mut compare: Vec<(usize, Vec<usize>, Vec<f64>)> = (0..servers.len())
        .filter(|&i| servers[i].is_ours())
        .map(|i| {
            let peers: Vec<usize> = (0..servers.len())
                .filter(|&j| {
                    !servers[j].is_ours() && servers[j].is_threaded() == servers[i].is_threaded()
                })
                .collect();
            (i, peers, Vec::new())
        })
        .filter(|(_, peers, _)| !peers.is_empty())
        .collect();
    for flavour in &flavours {
        let running = servers
            .iter()
            .map(|&s| spawn_server(s, flavour, style))
            .collect::<Result<Vec<_>, _>>()?;
        println!(
            "\n### {flavour}-thread runtime, {} servers, {} messages: msgs/s (median of {rounds} x {secs} s), server CPU µs/msg\n",
            style.name(),
            kind.name()
        );
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
        let mut head = String::from("| conns | size | window |");
        let mut rule = String::from("|---:|---:|---:|");
        for s in &servers {
            head += &format!(" {} |", s.name());
            rule += "---:|";
        }
        for (ours, _, _) in &compare {
            head += &format!(" {} / best peer |", servers[*ours].name());
            rule += "---:|";
        }
        println!("{head}\n{rule}");
        for &n in &conns {
            for &size in &sizes {
                let window = window.clamp(1, (MAX_IN_FLIGHT / size).max(1));
                let mut rates = vec![Vec::new(); running.len()];
                let mut cpus = vec![Vec::new(); running.len()];
                for round in 0..rounds {
                    // Interleave: each round starts with a different server.
                    for k in 0..running.len() {
                        let i = (k + round) % running.len();
                        let load = Load {
                            addr: running[i].addr,
                            connections: n,
                            kind,
                            size,
                            window,
                        };
                        let (rate, cpu) = run_once(&rt, &running[i], load, secs)?;
                        rates[i].push(rate);
                        cpus[i].push(cpu);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                let rate: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
                let cpu: Vec<f64> = cpus.iter_mut().map(|c| median(c)).collect();
                let mut row = format!("| {n} | {} | {window} |", size_name(size));
                for (r, c) in rate.iter().zip(&cpu) {
                    row += &format!(" {r:.0} ({:.2} µs) |", c * 1e6);
                }
                for (ours, peers, ratios) in &mut compare {
                    let best = peers.iter().map(|&j| rate[j]).fold(0.0, f64::max);
                    let ratio = rate[*ours] / best;
                    ratios.push(ratio);
                    row += &format!(" {ratio:.2}× |");
                }
                println!("{row}");
            }
        }
    }
    if !compare.is_empty() {
        println!();
    }
    for (ours, peers, ratios) in &compare {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let peers: Vec<&str> = peers.iter().map(|&j| servers[j].name()).collect();
        println!(
            "{} / best peer ({}): geometric mean {geo:.2}×, lowest cell {min:.2}× ({} cells)",
            servers[*ours].name(),
            peers.join(", "),
            ratios.len()
        );
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
        "decode" => {
            // A stream of up to 4096 frames, read in a loop.
            let mut decoder =
                Decoder::new(lib, client_stream(Kind::Binary, size, n.clamp(1, 4096)));
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
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => sizes = list(value, |v| v.parse().ok())?,
            "--libs" => libs = list(value, Lib::from_name)?,
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
        for work in ["decode", "encode-server", "encode-client"] {
            for &lib in &libs {
                if work != "decode" && lib == Lib::WsockTokio {
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
