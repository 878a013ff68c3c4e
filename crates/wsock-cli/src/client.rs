//! `wsock connect` and `wsock echo-client`, on wsock-tokio.
//!
//! `connect` splits the connection: a task receives and prints (it also
//! answers pings and completes the closing handshake), while the main task
//! sends what stdin gives. Stdin is read on a plain thread, so a pending
//! read never holds up exit.
//!
//! Ending, precisely: at the end of stdin (or on Ctrl-C) a close frame with
//! 1000 is sent; messages that still arrive are printed until the server's
//! close reply, then the connection ends and `wsock` exits with 0. If the
//! server closes first, stdin is no longer read and the exit status
//! follows the server's close code (see [`crate::exit`]).

use std::future::poll_fn;
use std::io::{BufRead as _, Write as _};
use std::pin::Pin;
use std::time::Duration;

use futures_sink::Sink as _;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info};
use wsock_core::{CloseFrame, Message};
use wsock_tokio::{ReadHalf, Stats, WriteHalf};

use crate::cli::{ConnectArgs, EchoClientArgs};
use crate::exit::{CliError, ExitKind, Result, is_clean_close};
use crate::format::{
    BinaryOutput, InputMode, line_to_message, message_line, printable, subprotocol_suffix,
    trim_line_ending,
};
use crate::net::{self, Connected, Transport, adapter_error};

/// How long to wait for the close handshake after a local failure
/// (invalid input, broken stdout) before giving up on it.
const ABORT_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// `wsock connect URL`.
pub(crate) fn run_connect(args: &ConnectArgs) -> Result<()> {
    crate::run_tokio(async {
        let connected = net::connect(&args.client).await?;
        connect_session(connected, args.input_mode(), args.output).await
    })
}

/// `wsock echo-client URL`.
pub(crate) fn run_echo(args: &EchoClientArgs) -> Result<()> {
    crate::run_tokio(async {
        let connected = net::connect(&args.client).await?;
        echo_session(connected).await
    })
}

fn log_connected(c: &Connected) {
    info!(
        "connected to {}{}",
        c.url,
        subprotocol_suffix(c.ws.protocol())
    );
    let Some(response) = c.ws.response() else {
        return;
    };
    debug!("< {:?} {}", response.http().version(), response.status());
    for (name, value) in response.headers() {
        debug!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
}

/// What the receiving side saw when the connection ended normally.
struct Ending {
    /// Whether the peer's close frame arrived (it always should, when the
    /// connection ends without an error).
    closed: bool,
    /// Its code and reason; `None` for an empty close frame.
    close: Option<CloseFrame>,
    stats: Stats,
}

/// The exit status for a connection that ended with the closing handshake.
fn judge(ending: &Ending, we_closed: bool) -> Result<()> {
    debug!(stats = ?ending.stats, "connection over");
    if !ending.closed {
        return Err(CliError::new(
            ExitKind::Abnormal,
            "the connection ended without a close frame",
        ));
    }
    let frame = &ending.close;
    let code = frame.as_ref().map(|f| f.code.as_u16());
    let reason = frame
        .as_ref()
        .map(|f| f.reason.as_str())
        .filter(|r| !r.is_empty());
    let described = match (code, reason) {
        (None, _) => "no status code".to_owned(),
        (Some(code), None) => format!("{code}"),
        (Some(code), Some(reason)) => format!("{code} {}", printable(reason.as_bytes())),
    };
    if we_closed {
        info!("closed: the server replied {described}");
    } else {
        info!("closed by the server: {described}");
    }
    if is_clean_close(code) {
        Ok(())
    } else {
        Err(CliError::new(
            ExitKind::PeerError,
            format!("the server closed the connection with {described}"),
        ))
    }
}

fn session_error(err: &wsock_tokio::Error) -> CliError {
    let mut mapped = adapter_error(err);
    if mapped.kind == ExitKind::Usage {
        // Not a command-line problem once connected.
        mapped.kind = ExitKind::Abnormal;
    }
    mapped
}

// ------------------------------------------------------------------ connect

/// One item from stdin.
enum Input {
    Message(Message),
    /// A line that could not be turned into a message.
    Invalid(String),
    Failed(std::io::Error),
}

/// Reads stdin on its own thread, one message per line, with backpressure
/// (a small channel). The channel closes at end of input.
fn read_stdin(mode: InputMode) -> mpsc::Receiver<Input> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut stdin = stdin.lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                let item = match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => match line_to_message(trim_line_ending(&line), mode) {
                        Ok(message) => Input::Message(message),
                        Err(e) => Input::Invalid(e),
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Input::Failed(e),
                };
                let stop = !matches!(item, Input::Message(_));
                if tx.blocking_send(item).is_err() || stop {
                    return;
                }
            }
        })
        .expect("spawn the stdin thread");
    rx
}

/// Writes stdout on its own thread, buffered, flushing whenever no more
/// lines are waiting (so output appears promptly without a write per
/// message). The channel is bounded: a stalled stdout stalls the receiver.
fn write_stdout() -> (
    mpsc::Sender<Vec<u8>>,
    std::thread::JoinHandle<std::io::Result<()>>,
) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(256);
    let handle = std::thread::Builder::new()
        .name("stdout".into())
        .spawn(move || {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
            loop {
                let line = match rx.try_recv() {
                    Ok(line) => line,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        out.flush()?;
                        match rx.blocking_recv() {
                            Some(line) => line,
                            None => break,
                        }
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                };
                out.write_all(&line)?;
            }
            out.flush()
        })
        .expect("spawn the stdout thread");
    (tx, handle)
}

/// Receives until the connection ends, printing data messages to stdout.
async fn print_messages(mut rx: ReadHalf<Transport>, output: BinaryOutput) -> Result<Ending> {
    let (stdout, writer) = write_stdout();
    let stdout_failed = |writer: std::thread::JoinHandle<std::io::Result<()>>| {
        let why = match writer.join() {
            Ok(Err(e)) => e.to_string(),
            _ => "the writer stopped".to_owned(),
        };
        CliError::local(format!("writing to stdout: {why}"))
    };
    let (mut closed, mut close) = (false, None);
    let ending = loop {
        match rx.recv().await {
            Ok(Some(Message::Close(frame))) => (closed, close) = (true, frame),
            Ok(Some(Message::Ping(payload))) => debug!("< ping {}", printable(&payload)),
            Ok(Some(Message::Pong(payload))) => debug!("< pong {}", printable(&payload)),
            Ok(Some(message)) => {
                let Some(line) = message_line(&message, output) else {
                    continue;
                };
                if stdout.send(line).await.is_err() {
                    // The thread ended, so joining it does not block.
                    return Err(stdout_failed(writer));
                }
            }
            Ok(None) => {
                break Ok(Ending {
                    closed,
                    close,
                    stats: rx.stats(),
                });
            }
            Err(e) => break Err(session_error(&e)),
        }
    };
    // Everything printed goes out before the exit status is decided.
    drop(stdout);
    match tokio::task::spawn_blocking(move || writer.join()).await {
        Ok(Ok(Ok(()))) => ending,
        Ok(Ok(Err(e))) => Err(CliError::local(format!("writing to stdout: {e}"))),
        _ => Err(CliError::local("writing to stdout: the writer stopped")),
    }
}

async fn connect_session(
    connected: Connected,
    mode: InputMode,
    output: BinaryOutput,
) -> Result<()> {
    log_connected(&connected);
    let (rx, mut tx) = connected.ws.split();
    let mut receiver: Receiver = tokio::spawn(print_messages(rx, output));
    let mut input = read_stdin(mode);
    // Stdin is no longer read once we closed or the connection failed.
    let (mut we_closed, mut input_done) = (false, false);
    let mut local_error: Option<CliError> = None;
    let mut interrupts = 0u32;

    let ending = loop {
        // Each send or close below also ends early if the connection does.
        let step = tokio::select! {
            ending = &mut receiver => break ending,
            _ = tokio::signal::ctrl_c() => {
                interrupts += 1;
                if interrupts > 1 {
                    eprintln!("wsock: interrupted");
                    std::process::exit(130);
                }
                info!("interrupted: closing (Ctrl-C again to quit at once)");
                Step::Close
            }
            item = input.recv(), if !input_done => match item {
                Some(Input::Message(message)) => Step::Send(message),
                Some(Input::Invalid(why)) => {
                    local_error = Some(CliError::local(format!("stdin: {why}")));
                    Step::Close
                }
                Some(Input::Failed(e)) => {
                    local_error = Some(CliError::local(format!("reading stdin: {e}")));
                    Step::Close
                }
                None => {
                    debug!("end of input: sending close 1000");
                    Step::Close
                }
            },
        };
        let done = match step {
            Step::Send(message) => {
                // Flush only when no more input is waiting: one write for a
                // burst of lines.
                let flush = input.is_empty();
                or_ended(send_batched(&mut tx, message, flush), &mut receiver).await
            }
            Step::Close => {
                (we_closed, input_done) = (true, true);
                or_ended(tx.close(None), &mut receiver).await
            }
        };
        match done {
            Err(ending) => break ending,
            Ok(Err(e)) => {
                // The receiver reports how the connection ended.
                debug!("send failed: {e}");
                input_done = true;
            }
            Ok(Ok(())) => {}
        }
        if let Some(err) = local_error.take() {
            // Give the closing handshake a moment, but report the local error.
            let _ = tokio::time::timeout(ABORT_CLOSE_WAIT, &mut receiver).await;
            return Err(err);
        }
    };
    let ending = ending.map_err(|e| CliError::local(format!("receiver task failed: {e}")))?;
    match ending {
        Ok(ending) => judge(&ending, we_closed),
        Err(err) => {
            if err.kind == ExitKind::Local {
                // stdout failed (for example a closed pipe): close politely.
                let _ = tokio::time::timeout(ABORT_CLOSE_WAIT, tx.close(None)).await;
            }
            Err(err)
        }
    }
}

/// Queues `message` (waiting while the write buffer is full); writes out
/// everything queued if `flush`.
async fn send_batched(
    tx: &mut WriteHalf<Transport>,
    message: Message,
    flush: bool,
) -> std::result::Result<(), wsock_tokio::Error> {
    poll_fn(|cx| Pin::new(&mut *tx).poll_ready(cx)).await?;
    Pin::new(&mut *tx).start_send(message)?;
    if flush { tx.flush().await } else { Ok(()) }
}

/// What the main task does next.
enum Step {
    Send(Message),
    Close,
}

type Receiver = JoinHandle<Result<Ending>>;

/// Runs `op` unless the receiver finishes first; then its result instead.
async fn or_ended<T>(
    op: impl Future<Output = T>,
    receiver: &mut Receiver,
) -> std::result::Result<T, <Receiver as Future>::Output> {
    tokio::select! {
        ending = receiver => Err(ending),
        value = op => Ok(value),
    }
}

// ------------------------------------------------------------------ echo-client

async fn echo_session(connected: Connected) -> Result<()> {
    log_connected(&connected);
    let mut ws = connected.ws;
    let (mut closed, mut close) = (false, None);
    let mut echoed = 0u64;
    loop {
        match ws.recv().await {
            Ok(Some(Message::Close(frame))) => (closed, close) = (true, frame),
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if let Err(e) = ws.send(message).await {
                    debug!("echo failed: {e}");
                }
                echoed += 1;
            }
            Ok(Some(other)) => debug!("< {other:?}"),
            Ok(None) => break,
            Err(e) => return Err(session_error(&e)),
        }
    }
    info!(
        "echoed {echoed} message{}",
        if echoed == 1 { "" } else { "s" }
    );
    judge(
        &Ending {
            closed,
            close,
            stats: ws.stats(),
        },
        false,
    )
}
