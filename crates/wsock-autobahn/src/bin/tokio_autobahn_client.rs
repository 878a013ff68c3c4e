//! Autobahn|Testsuite client (wstest `fuzzingserver` mode).
//!
//! `tokio_autobahn_client --url ws://127.0.0.1:P`: asks for the case
//! count, runs every case (echoing every text and binary message until the
//! server closes), then asks for the reports. For `wss://` URLs, `--ca FILE`
//! adds a trusted root CA (PEM). `--deflate-level N` sets the zlib level of
//! permessage-deflate (default 6; see `tokio_autobahn_server`).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use wsock_tokio::tls::{ClientTlsConfig, Pem, TlsConnector};
use wsock_tokio::{ClientBuilder, DeflateConfig, Message};

const AGENT: &str = "wsock-tokio";

/// `--deflate-level`, or `u32::MAX` for the default.
static DEFLATE_LEVEL: AtomicU32 = AtomicU32::new(u32::MAX);

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "tokio_autobahn_client: {problem}\nusage: tokio_autobahn_client --url ws://HOST:PORT [--ca FILE] [--deflate-level N]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut url = None;
    let mut ca = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next(),
            "--deflate-level" => match args.next().and_then(|l| l.parse::<u32>().ok()) {
                Some(level @ 0..=9) => DEFLATE_LEVEL.store(level, Ordering::Relaxed),
                _ => return usage("--deflate-level needs a level from 0 to 9"),
            },
            "--ca" => {
                let Some(file) = args.next() else {
                    return usage("--ca needs a file");
                };
                ca = Some(file);
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let Some(url) = url else {
        return usage("--url URL is required");
    };
    let connector = match ca {
        Some(ca) => match ClientTlsConfig::new()
            .add_root_certificates(Pem::file(ca))
            .build()
        {
            Ok(connector) => connector,
            Err(e) => return usage(&e.to_string()),
        },
        None => TlsConnector::new(),
    };
    let url = url.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&url, &connector)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn builder(url: String, connector: &TlsConnector) -> ClientBuilder {
    let mut deflate = DeflateConfig::default();
    match DEFLATE_LEVEL.load(Ordering::Relaxed) {
        u32::MAX => {}
        level => deflate.level = level,
    }
    ClientBuilder::new(url)
        .tls_connector(connector.clone())
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20)
        .deflate(deflate)
}

async fn run(base: &str, connector: &TlsConnector) -> Result<(), wsock_tokio::Error> {
    let mut ws = builder(format!("{base}/getCaseCount"), connector)
        .connect()
        .await?;
    let count: u32 = match ws.recv().await? {
        Some(Message::Text(text)) => text.trim().parse().unwrap_or(0),
        other => {
            eprintln!("unexpected case count message {other:?}");
            0
        }
    };
    ws.close(None).await?;
    eprintln!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        if let Err(e) = run_case(url, connector).await {
            eprintln!("case {case}: {e}");
        }
    }
    let mut ws = builder(format!("{base}/updateReports?agent={AGENT}"), connector)
        .connect()
        .await?;
    while ws.recv().await?.is_some() {}
    Ok(())
}

async fn run_case(url: String, connector: &TlsConnector) -> Result<(), wsock_tokio::Error> {
    let mut ws = builder(url, connector).connect().await?;
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
