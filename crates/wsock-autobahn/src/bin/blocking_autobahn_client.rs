//! Autobahn|Testsuite client (`fuzzingserver` mode): runs every case,
//! echoing each message, then asks for the reports.
//!
//! ```sh
//! cargo run --release -p wsock-autobahn --bin blocking_autobahn_client -- --url ws://127.0.0.1:9001
//! # wss://, trusting the CA in ca.pem:
//! cargo run --release -p wsock-autobahn --bin blocking_autobahn_client -- \
//!     --url wss://127.0.0.1:9001 --ca ca.pem
//! ```

use wsock_blocking::tls::{ClientTlsConfig, Pem, TlsConnector};
use wsock_blocking::{ClientBuilder, ErrorKind, Message};

const AGENT: &str = "wsock-blocking";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut url = String::from("ws://127.0.0.1:9001");
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().ok_or("--url needs a value")?,
            "--ca" => ca = Some(args.next().ok_or("--ca needs a value")?),
            other => {
                return Err(
                    format!("unknown argument {other:?} (usage: --url URL [--ca CA.pem])").into(),
                );
            }
        }
    }
    let url = url.trim_end_matches('/');
    let connector = match ca {
        Some(ca) => ClientTlsConfig::new()
            .add_root_certificates(Pem::file(ca))
            .build()?,
        None => TlsConnector::new(),
    };
    let connect = |url: &str| {
        ClientBuilder::new(url)
            .tls_connector(connector.clone())
            .max_frame_size(64 << 20)
            .max_message_size(64 << 20)
            .connect()
    };

    let count: u32 = {
        let mut ws = connect(&format!("{url}/getCaseCount"))?;
        let count = match ws.recv()? {
            Some(Message::Text(text)) => text.trim().parse()?,
            other => return Err(format!("unexpected case count message {other:?}").into()),
        };
        finish(&mut ws);
        count
    };
    eprintln!("{count} cases");

    for case in 1..=count {
        let mut ws = match connect(&format!("{url}/runCase?case={case}&agent={AGENT}")) {
            Ok(ws) => ws,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        while let Ok(Some(message)) = ws.recv() {
            if message.is_data() && ws.send(message).is_err() {
                break;
            }
        }
    }

    let mut ws = connect(&format!("{url}/updateReports?agent={AGENT}"))?;
    finish(&mut ws);
    Ok(())
}

/// Reads until the server ends the connection.
fn finish<S: wsock_blocking::Transport>(ws: &mut wsock_blocking::WebSocket<S>) {
    loop {
        match ws.recv() {
            Ok(Some(_)) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Timeout(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
}
