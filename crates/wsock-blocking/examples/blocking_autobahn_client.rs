//! Autobahn|Testsuite client (`fuzzingserver` mode): runs every case,
//! echoing each message, then asks for the reports.
//!
//! ```sh
//! cargo run --release -p wsock-blocking --example blocking_autobahn_client -- --url ws://127.0.0.1:9001
//! ```

use wsock_blocking::{ClientBuilder, ErrorKind, Message};

const AGENT: &str = "wsock-blocking";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = String::from("ws://127.0.0.1:9001");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().ok_or("--url needs a value")?,
            other => return Err(format!("unknown argument {other:?} (usage: --url URL)").into()),
        }
    }
    let url = url.trim_end_matches('/');

    let count: u32 = {
        let mut ws = wsock_blocking::connect(&format!("{url}/getCaseCount"))?;
        let count = match ws.read()? {
            Message::Text(text) => text.trim().parse()?,
            other => return Err(format!("unexpected case count message {other:?}").into()),
        };
        finish(&mut ws);
        count
    };
    eprintln!("{count} cases");

    for case in 1..=count {
        let builder = ClientBuilder::new(&format!("{url}/runCase?case={case}&agent={AGENT}"))
            .max_frame_size(64 << 20)
            .max_message_size(64 << 20);
        let mut ws = match builder.connect() {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        loop {
            match ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    if ws.send(message).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    let mut ws = wsock_blocking::connect(&format!("{url}/updateReports?agent={AGENT}"))?;
    finish(&mut ws);
    Ok(())
}

/// Reads until the server ends the connection.
fn finish<S: wsock_blocking::Transport>(ws: &mut wsock_blocking::WebSocket<S>) {
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}
