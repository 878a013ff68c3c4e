//! Autobahn|Testsuite echo server (wstest `fuzzingclient` mode).
//!
//! `tokio_autobahn_server --port P`: listens on 127.0.0.1:P and echoes
//! every text and binary message. With `--tls-cert F --tls-key F` (PEM
//! certificate chain and private key) it serves `wss://` instead. The echo
//! loop is the plain one, with write coalescing on as by default;
//! `--no-coalesce` turns it off (`Acceptor::write_coalescing(false)`), to
//! run the suite against the path where every `send` writes at once too.
//! `--deflate-level N` sets the zlib level of permessage-deflate (default
//! 6): CI runs the deflate cases at 1, whose faster match search changes
//! nothing the suite checks and saves minutes of compressing.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::net::{TcpListener, TcpStream};
use wsock_tokio::tls::{Pem, ServerTlsConfig, TlsAcceptor};
use wsock_tokio::{Acceptor, DeflateConfig};

/// `--no-coalesce` was not given.
static COALESCE: AtomicBool = AtomicBool::new(true);

/// `--deflate-level`, or `u32::MAX` for the default.
static DEFLATE_LEVEL: AtomicU32 = AtomicU32::new(u32::MAX);

fn usage(problem: &str) -> ExitCode {
    eprintln!(
        "tokio_autobahn_server: {problem}\nusage: tokio_autobahn_server --port PORT [--no-coalesce] [--deflate-level N] [--tls-cert FILE --tls-key FILE]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut port = None;
    let (mut cert, mut key) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse::<u16>().ok()),
            "--no-coalesce" => COALESCE.store(false, Ordering::Relaxed),
            "--deflate-level" => match args.next().and_then(|l| l.parse::<u32>().ok()) {
                Some(level @ 0..=9) => DEFLATE_LEVEL.store(level, Ordering::Relaxed),
                _ => return usage("--deflate-level needs a level from 0 to 9"),
            },
            "--tls-cert" | "--tls-key" => {
                let Some(file) = args.next() else {
                    return usage(&format!("{arg} needs a file"));
                };
                if arg == "--tls-cert" {
                    cert = Some(file);
                } else {
                    key = Some(file);
                }
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let Some(port) = port else {
        return usage("--port PORT is required");
    };
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => {
            match ServerTlsConfig::new(Pem::file(cert), Pem::file(key)).build() {
                Ok(acceptor) => Some(acceptor),
                Err(e) => return usage(&e.to_string()),
            }
        }
        (None, None) => None,
        _ => return usage("--tls-cert and --tls-key go together"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(serve(port, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_autobahn_server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    eprintln!("listening on {scheme}://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = echo(tcp, tls).await {
                eprintln!("connection: {e}");
            }
        });
    }
}

async fn echo(tcp: TcpStream, tls: Option<TlsAcceptor>) -> Result<(), wsock_tokio::Error> {
    tcp.set_nodelay(true)?;
    let mut deflate = DeflateConfig::default();
    match DEFLATE_LEVEL.load(Ordering::Relaxed) {
        u32::MAX => {}
        level => deflate.level = level,
    }
    let server = Acceptor::new()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20)
        .deflate(deflate)
        .write_coalescing(COALESCE.load(Ordering::Relaxed));
    match tls {
        Some(acceptor) => echo_on(server.accept_tls(&acceptor, tcp).await?).await,
        None => echo_on(server.accept(tcp).await?).await,
    }
}

async fn echo_on<S>(mut ws: wsock_tokio::WebSocket<S>) -> Result<(), wsock_tokio::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    while let Some(message) = ws.recv().await? {
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
