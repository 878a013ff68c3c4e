//! Autobahn|Testsuite client (wstest `fuzzingserver` mode).
//!
//! `tokio_autobahn_client --url ws://127.0.0.1:P`: asks for the case
//! count, runs every case (echoing every text and binary message until the
//! server closes), then asks for the reports. `--ca FILE` is reserved for
//! TLS (not available in this crate yet) and rejected.

use std::process::ExitCode;

use wsock_tokio::{ClientBuilder, Message};

const AGENT: &str = "wsock-tokio";

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "tokio_autobahn_client: {problem}\nusage: tokio_autobahn_client --url ws://HOST:PORT [--ca FILE]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut url = None;
    let mut ca = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next(),
            "--ca" => {
                if args.next().is_none() {
                    return usage("--ca needs a file");
                }
                ca = true;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if ca {
        return usage("TLS support not enabled (needs the wsock-tls crate)");
    }
    let Some(url) = url else {
        return usage("--url URL is required");
    };
    let url = url.trim_end_matches('/').to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(&url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn builder(url: String) -> ClientBuilder {
    ClientBuilder::new(url)
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20)
}

async fn run(base: &str) -> Result<(), wsock_tokio::Error> {
    let (mut ws, _) = builder(format!("{base}/getCaseCount")).connect().await?;
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
        if let Err(e) = run_case(url).await {
            eprintln!("case {case}: {e}");
        }
    }
    let (mut ws, _) = builder(format!("{base}/updateReports?agent={AGENT}"))
        .connect()
        .await?;
    while ws.recv().await?.is_some() {}
    Ok(())
}

async fn run_case(url: String) -> Result<(), wsock_tokio::Error> {
    let (mut ws, _) = builder(url).connect().await?;
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
