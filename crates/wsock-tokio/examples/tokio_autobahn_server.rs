//! Autobahn|Testsuite echo server (wstest `fuzzingclient` mode).
//!
//! `tokio_autobahn_server --port P`: listens on 127.0.0.1:P and echoes
//! every text and binary message. `--tls-cert F --tls-key F` are reserved
//! for TLS (not available in this crate yet) and rejected.

use std::process::ExitCode;

use tokio::net::{TcpListener, TcpStream};
use wsock_tokio::ServerBuilder;

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "tokio_autobahn_server: {problem}\nusage: tokio_autobahn_server --port PORT [--tls-cert FILE --tls-key FILE]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut port = None;
    let mut tls = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse::<u16>().ok()),
            "--tls-cert" | "--tls-key" => {
                if args.next().is_none() {
                    return usage(&format!("{arg} needs a file"));
                }
                tls = true;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    if tls {
        return usage("TLS support not enabled (needs the wsock-tls crate)");
    }
    let Some(port) = port else {
        return usage("--port PORT is required");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_autobahn_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on ws://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = echo(tcp).await {
                eprintln!("connection: {e}");
            }
        });
    }
}

async fn echo(tcp: TcpStream) -> Result<(), wsock_tokio::Error> {
    tcp.set_nodelay(true)?;
    let mut ws = ServerBuilder::new()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20)
        .accept(tcp)
        .await?;
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
