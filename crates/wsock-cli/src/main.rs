//! `wsock`: a WebSocket command-line tool built on the wsock engine, in the
//! spirit of websocat and wscat.
//!
//! | command | what it does |
//! |---|---|
//! | `wsock serve` | echo server (wsock-tokio, or wsock-blocking with `--runtime blocking`), plain or TLS; with TLS also over HTTP/2 (RFC 8441, [`serve_h2`]); `--page` ([`page`]) |
//! | `wsock connect URL` | stdin lines → messages, messages → stdout lines |
//! | `wsock echo-client URL` | echoes every message the server sends until it closes |
//! | `wsock demo` | in-process server and client on loopback, step by step |
//!
//! Data goes to stdout; progress, status and errors to stderr
//! ([`logging`]). Exit statuses are listed in [`exit`].

mod broker;
mod cli;
mod client;
mod demo;
mod exit;
mod format;
mod logging;
mod net;
mod page;
mod serve;
mod serve_blocking;
mod serve_h2;
mod tls;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::exit::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.output.quiet, cli.output.verbose);
    let result = run(cli);
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::debug!(kind = ?err.kind, "exiting");
            eprintln!("wsock: {err}");
            err.kind.into()
        }
    };
    let _ = std::io::stdout().flush();
    code
}

fn run(cli: Cli) -> exit::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::Connect(args) => client::run_connect(&args),
        Command::EchoClient(args) => client::run_echo(&args),
        Command::Demo(args) => demo::run(&args),
    }
}

/// Runs `work` on a multi-threaded tokio runtime (for the commands on
/// wsock-tokio). The runtime is then shut down without waiting for
/// blocking work still in flight (a stdout write to a stalled pipe).
pub(crate) fn run_tokio(work: impl Future<Output = exit::Result<()>>) -> exit::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::local(format!("cannot start the tokio runtime: {e}")))?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    result
}
