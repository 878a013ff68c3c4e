//! `wsock demo`: an echo server and a client in one process, on loopback,
//! exercising text, binary, a large fragmented message (streaming send and
//! streaming receive, checked by SHA-1), ping/pong and the closing
//! handshake. Prints each step to stdout; exits 0 only if every check
//! passed.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use wsock_core::{CloseFrame, DataKind, Message};
use wsock_tokio::{ClientBuilder, State, Stats, WebSocket};

use crate::cli::DemoArgs;
use crate::exit::{CliError, Result};
use crate::format::{hex, printable};
use crate::serve::{EchoSettings, Handshake, Summary, echo_connection};

/// The whole demo must finish within this.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);
const PROTOCOL: &str = "wsock.demo";
const STEPS: usize = 8;

/// `wsock demo`.
pub(crate) fn run(args: &DemoArgs) -> Result<()> {
    crate::run_tokio(async {
        match tokio::time::timeout(DEMO_TIMEOUT, demo(args)).await {
            Ok(result) => result,
            Err(_) => Err(CliError::local(format!(
                "the demo did not finish within {} s",
                DEMO_TIMEOUT.as_secs()
            ))),
        }
    })
}

/// Prints one step, flushing so progress shows as it happens.
fn step(n: usize, name: &str, text: &str) {
    let mut lines = text.lines();
    println!(
        "[{n}/{STEPS}] {name:<9}{}",
        lines.next().unwrap_or_default()
    );
    for line in lines {
        println!("{:15}{line}", "");
    }
}

fn fail(n: usize, name: &str, why: impl std::fmt::Display) -> CliError {
    println!("[{n}/{STEPS}] {name:<9}FAILED: {why}");
    CliError::local(format!("demo step {n} ({name}) failed: {why}"))
}

fn ws_fail(n: usize, name: &str) -> impl FnOnce(wsock_tokio::Error) -> CliError + '_ {
    move |e| fail(n, name, e)
}

async fn demo(args: &DemoArgs) -> Result<()> {
    println!("wsock demo: an echo server and a client in this process, over loopback TCP.\n");

    // 1. Server.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| fail(1, "server", e))?;
    let addr = listener.local_addr().map_err(|e| fail(1, "server", e))?;
    let settings = EchoSettings {
        protocols: vec![PROTOCOL.to_owned()].into(),
        max_message_size: args.size.max(64 << 20),
        max_frame_size: args.size.max(16 << 20),
        handshake_timeout: Some(Duration::from_secs(10)),
        idle_timeout: None,
        deflate: wsock_core::DeflateConfig::default(),
        stop: None,
        room: None,
        page: None,
        served: std::sync::Arc::default(),
    };
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        echo_connection(tcp, &settings, None, Handshake::untracked())
            .await
            .map_err(|e| e.to_string())
    });
    let url = format!("ws://{addr}/demo");
    step(
        1,
        "server",
        &format!("echo server listening on {url} (wsock-tokio, as `wsock serve`)"),
    );

    // 2. Connect.
    let mut ws = ClientBuilder::new(&url)
        .protocol(PROTOCOL)
        .max_message_size(args.size.max(64 << 20))
        .connect()
        .await
        .map_err(ws_fail(2, "connect"))?;
    let response = ws.response().expect("a client connection has the response");
    let accept = response
        .header("Sec-WebSocket-Accept")
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if response.status() != 101 || ws.protocol() != Some(PROTOCOL) {
        return Err(fail(
            2,
            "connect",
            format!(
                "status {}, subprotocol {:?}",
                response.status(),
                ws.protocol()
            ),
        ));
    }
    let compression = match response.header("Sec-WebSocket-Extensions") {
        Some(answer) if ws.extensions().deflate().is_some() => {
            format!("compression: {}", String::from_utf8_lossy(answer))
        }
        _ => "compression: none".to_owned(),
    };
    step(
        2,
        "connect",
        &format!(
            "GET /demo -> HTTP 101 Switching Protocols, Sec-WebSocket-Accept {accept}\n\
             negotiated subprotocol \"{PROTOCOL}\": ok; {compression}"
        ),
    );

    // 3. Text.
    let text = "Hello, wsock! Grüße, 世界";
    ws.send(text).await.map_err(ws_fail(3, "text"))?;
    match next_data(&mut ws).await.map_err(ws_fail(3, "text"))? {
        Some(Message::Text(echo)) if echo == text => {
            step(
                3,
                "text",
                &format!(
                    "sent {text:?} ({} bytes) -> echoed identical: ok",
                    text.len()
                ),
            );
        }
        other => return Err(fail(3, "text", format!("unexpected echo {other:?}"))),
    }

    // 4. Binary.
    let binary: Vec<u8> = vec![0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, b'w', b's'];
    ws.send(binary.clone())
        .await
        .map_err(ws_fail(4, "binary"))?;
    match next_data(&mut ws).await.map_err(ws_fail(4, "binary"))? {
        Some(Message::Binary(echo)) if echo == binary => {
            step(
                4,
                "binary",
                &format!(
                    "sent {} bytes 0x{} -> echoed identical: ok",
                    binary.len(),
                    hex(&binary)
                ),
            );
        }
        other => return Err(fail(4, "binary", format!("unexpected echo {other:?}"))),
    }

    // 5. A large message, fragmented on the way out, streamed on the way in.
    fragmented(&mut ws, args.size, args.fragment).await?;

    // 6. Ping / pong.
    let payload = b"wsock-demo-ping".to_vec();
    let started = Instant::now();
    ws.send(Message::ping(payload.clone()))
        .await
        .map_err(ws_fail(6, "ping"))?;
    loop {
        match ws.recv().await.map_err(ws_fail(6, "ping"))? {
            Some(Message::Pong(pong)) if pong == payload => break,
            Some(Message::Pong(_) | Message::Ping(_)) => {}
            other => return Err(fail(6, "ping", format!("expected a pong, got {other:?}"))),
        }
    }
    let rtt = started.elapsed();
    step(
        6,
        "ping",
        &format!(
            "ping {} -> pong {} in {:.2} ms: ok",
            printable(&payload),
            printable(&payload),
            rtt.as_secs_f64() * 1e3
        ),
    );

    // 7. Close.
    let close = CloseFrame::new(1000, "demo done");
    ws.send(Message::Close(Some(close.clone())))
        .await
        .map_err(ws_fail(7, "close"))?;
    let reply = loop {
        match ws.recv().await.map_err(ws_fail(7, "close"))? {
            Some(Message::Close(frame)) => break frame,
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => {
                return Err(fail(
                    7,
                    "close",
                    format!("expected the close reply, got {other:?}"),
                ));
            }
        }
    };
    // The rest of the closing handshake: the server ends the transport.
    if let Some(extra) = ws.recv().await.map_err(ws_fail(7, "close"))? {
        return Err(fail(
            7,
            "close",
            format!("unexpected {extra:?} after the close reply"),
        ));
    }
    let reply = match reply {
        Some(reply) if reply.code.as_u16() == 1000 => reply,
        other => {
            return Err(fail(
                7,
                "close",
                format!("expected a reply with 1000, got {other:?}"),
            ));
        }
    };
    if ws.state() != State::Closed {
        return Err(fail(
            7,
            "close",
            format!("state {:?} after the closing handshake", ws.state()),
        ));
    }
    step(
        7,
        "close",
        &format!(
            "sent close {} {} -> server replied {}: ok; connection state {:?}",
            close.code,
            printable(close.reason.as_bytes()),
            reply.code,
            ws.state()
        ),
    );

    // 8. Counters.
    let client = ws.stats();
    let summary: Summary = match server.await {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => return Err(fail(8, "stats", format!("server: {e}"))),
        Err(e) => return Err(fail(8, "stats", format!("server task: {e}"))),
    };
    if summary.code != Some(1000) || summary.echoed != 3 || summary.error.is_some() {
        return Err(fail(8, "stats", format!("server summary {summary:?}")));
    }
    step(
        8,
        "stats",
        &format!(
            "client: {}\nserver: {}\nserver echoed {} messages and saw close 1000 {}: ok",
            describe(&client),
            describe(&summary.stats),
            summary.echoed,
            printable(summary.reason.as_bytes())
        ),
    );
    println!("\nall {STEPS} steps checked out");
    Ok(())
}

/// The next text or binary message, skipping control frames.
async fn next_data<S>(
    ws: &mut WebSocket<S>,
) -> std::result::Result<Option<Message>, wsock_tokio::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match ws.recv().await? {
            Some(Message::Ping(_) | Message::Pong(_)) => {}
            other => return Ok(other),
        }
    }
}

/// Step 5: `size` bytes sent with the streaming send API in `fragment`-byte
/// frames, echoed, and read back with the streaming receive API.
async fn fragmented<S>(ws: &mut WebSocket<S>, size: usize, fragment: usize) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    const NAME: &str = "fragment";
    let payload = pseudo_random(size);
    let sent_digest = Sha1::digest(&payload);
    let before = ws.stats();

    let mut writer = ws
        .send_stream(DataKind::Binary)
        .map_err(|e| fail(5, NAME, e))?;
    let mut pieces = 0usize;
    for chunk in payload.chunks(fragment) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let n = writer.write(rest).await.map_err(|e| fail(5, NAME, e))?;
            rest = &rest[n..];
            pieces += 1;
        }
    }
    writer.finish().await.map_err(ws_fail(5, NAME))?;
    let frames_sent = ws.stats().frames_sent - before.frames_sent;

    let Some(mut reader) = ws.recv_stream().await.map_err(ws_fail(5, NAME))? else {
        return Err(fail(5, NAME, "the connection closed before the echo"));
    };
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 64 << 10];
    let (mut received, mut reads) = (0usize, 0usize);
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| fail(5, NAME, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        received += n;
        reads += 1;
    }
    let got_digest = hasher.finalize();
    let frames_received = ws.stats().frames_received - before.frames_received;
    if received != size || got_digest != sent_digest {
        return Err(fail(
            5,
            NAME,
            format!(
                "checksum mismatch: sent {size} bytes SHA-1 {}, received {received} bytes SHA-1 {}",
                hex(&sent_digest),
                hex(&got_digest)
            ),
        ));
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "sent {} as {pieces} data frames of up to {} (streaming send), {frames_sent} frames in all",
        bytes(size),
        bytes(fragment)
    );
    let _ = writeln!(
        text,
        "echo received in {frames_received} frame(s), read in {reads} pieces (streaming receive)"
    );
    let _ = write!(
        text,
        "SHA-1 {} sent = SHA-1 received: checksum ok",
        hex(&sent_digest)
    );
    step(5, NAME, &text);
    Ok(())
}

/// Deterministic bytes (xorshift64*), so the checksum is the same every run.
fn pseudo_random(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(size);
    out
}

/// `1 MiB`, `64 KiB` or `123 bytes`.
fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

fn describe(s: &Stats) -> String {
    format!(
        "sent     {} bytes, {} frames, {} messages, pings {}, pongs {}\n        \
         received {} bytes, {} frames, {} messages, pings {}, pongs {}",
        s.bytes_sent,
        s.frames_sent,
        s.messages_sent,
        s.pings_sent,
        s.pongs_sent,
        s.bytes_received,
        s.frames_received,
        s.messages_received,
        s.pings_received,
        s.pongs_received
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(bytes(1 << 20), "1 MiB");
        assert_eq!(bytes(64 << 10), "64 KiB");
        assert_eq!(bytes(1000), "1000 bytes");
        let a = pseudo_random(1000);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, pseudo_random(1000));
        assert_ne!(a[..8], a[8..16]);
    }
}
