//! The command line, declared with clap's derive API.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::exit::exit_status_help;
use crate::format::{BinaryOutput, InputMode};

/// A WebSocket client, echo server and demo, built on the wsock engine.
#[derive(Debug, Parser)]
#[command(
    name = "wsock",
    version,
    about = "WebSocket client, echo server and demo (built on the wsock engine)",
    long_about = "WebSocket client, echo server and demo, built on the wsock engine.\n\n\
        Data goes to stdout; progress, status and errors go to stderr.\n\
        Try `wsock demo` first.",
    after_help = exit_status_help!(),
    propagate_version = true,
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) output: OutputOpts,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags that apply to every command.
#[derive(Debug, Args)]
pub(crate) struct OutputOpts {
    /// Print only warnings and errors on stderr (no progress)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// More diagnostics on stderr (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run an echo server: text and binary messages are echoed, pings
    /// answered, closes completed
    #[command(
        after_help = "Prints `listening on ws://ADDR:PORT` (or wss://) on stderr once \
        it listens, even with --quiet, so `--listen 127.0.0.1:0` can be used by scripts.\n\n\
        With --tls-cert, browsers and other HTTP/2 clients may open their WebSockets over \
        HTTP/2 (RFC 8441; --no-http2 to offer HTTP/1.1 only); the log says which way each \
        came (`connected: GET /path HTTP/1.1` or `connected: CONNECT /path HTTP/2`).\n\n\
        SIGINT (Ctrl-C) or SIGTERM shuts it down gracefully: every connection is closed \
        with 1001, within --shutdown-timeout (the tokio runtime then logs the WebSockets served per \
        HTTP version)."
    )]
    Serve(ServeArgs),
    /// Connect and exchange lines: stdin lines are sent, received messages printed
    #[command(after_help = CONNECT_HELP)]
    Connect(ConnectArgs),
    /// Connect and echo back every message the server sends, until it closes
    #[command(after_help = concat!(
        "Exits 0 once the server closes cleanly (1000, 1001 or no status code).\n\n",
        exit_status_help!()
    ))]
    EchoClient(EchoClientArgs),
    /// Run a self-contained demonstration on loopback (server and client in process)
    Demo(DemoArgs),
}

const CONNECT_HELP: &str = concat!(
    "\
Input: each stdin line (without its \\n or \\r\\n) is one message; an empty line is
an empty message. Text lines must be UTF-8.

Output: each received text message is printed as is, followed by \\n; binary
messages as hex (or base64 with --output base64), followed by \\n.

End of input: when stdin ends (Ctrl-D, or the end of a pipe), wsock sends a
close frame with 1000, keeps printing the messages that still arrive until the
server's close reply, then exits. An echo server's replies to the lines sent
therefore all appear before wsock exits. Ctrl-C does the same; a second Ctrl-C
quits at once.

",
    exit_status_help!()
);

/// Which adapter runs the echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Runtime {
    /// wsock-tokio: one task per connection on a multi-threaded runtime.
    #[default]
    Tokio,
    /// wsock-blocking: one thread per connection.
    Blocking,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    pub(crate) listen: String,
    /// Serve wss:// with this certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// Private key for --tls-cert (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// With TLS, offer HTTP/1.1 only: by default ALPN also offers h2, and
    /// WebSockets over HTTP/2 (RFC 8441 extended CONNECT) are served too
    #[arg(long)]
    pub(crate) no_http2: bool,
    /// Serve this HTML file at / to plain GET requests (HTTP/1.1 and
    /// HTTP/2), e.g. a page whose script opens the WebSocket; other paths
    /// get 404. Without it every request is a WebSocket handshake
    #[arg(long, value_name = "FILE", conflicts_with = "runtime")]
    pub(crate) page: Option<PathBuf>,
    /// Which adapter runs the server
    #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
    pub(crate) runtime: Runtime,
    /// Accept this subprotocol when a client offers it (repeatable; the
    /// client's first offer that is listed here wins)
    #[arg(long = "subprotocol", value_name = "P")]
    pub(crate) subprotocols: Vec<String>,
    /// Largest message accepted, in bytes (larger ones close with 1009)
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub(crate) max_message_size: usize,
    /// Largest frame accepted, in bytes (larger ones close with 1009)
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub(crate) max_frame_size: usize,
    /// Do not accept permessage-deflate (RFC 7692) compression, which is
    /// accepted by default when a client offers it
    #[arg(long)]
    pub(crate) no_deflate: bool,
    /// A chat room instead of an echo: every text or binary message from a
    /// client goes to every connected client (the sender included), in
    /// order and unchanged; a client a whole --room-capacity behind is
    /// closed with 1008
    #[arg(long, conflicts_with = "runtime")]
    pub(crate) broadcast: bool,
    /// With --broadcast: messages kept for clients that are behind
    #[arg(long, value_name = "N", default_value_t = 1024, requires = "broadcast", value_parser = parse_positive)]
    pub(crate) room_capacity: usize,
    /// With --broadcast: share the room, through pub/sub, with every server
    /// linked to the Redis at this URL (redis://HOST:PORT, with
    /// USER:PASSWORD@ and /DB if needed): a message sent to any of them
    /// reaches the clients of all, in order
    #[arg(long, value_name = "URL", requires = "broadcast")]
    pub(crate) broker: Option<String>,
    /// With --broker: the prefix of the Redis channel names (the room is
    /// PREFIX + "all")
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "wsock:room:",
        requires = "broker"
    )]
    pub(crate) broker_prefix: String,
    /// Most connections served at once; further ones wait in the backlog
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) max_connections: usize,
    /// Most opening handshakes in progress at once (TLS included); at that
    /// bound new connections wait in the listen backlog until one finishes
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = parse_positive)]
    pub(crate) max_handshakes: usize,
    /// With every handshake slot taken and a connection waiting, end a
    /// handshake whose request is still incomplete after SECS (slowloris
    /// defence; a complete request is never ended this way)
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "2")]
    pub(crate) evict_after: Duration,
    /// Listen backlog: connections the kernel queues while the server is
    /// not accepting (capped by the kernel, e.g. net.core.somaxconn)
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) backlog: u32,
    /// Drop a client whose opening handshake (TLS included) is not done
    /// within SECS (0: never)
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_off, default_value = "10")]
    pub(crate) handshake_timeout: Duration,
    /// Close a connection (1001) when nothing arrives from the client for
    /// SECS (0: never)
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_off, default_value = "300")]
    pub(crate) idle_timeout: Duration,
    /// On SIGINT or SIGTERM: stop accepting, close every connection with
    /// 1001, and wait up to SECS for them before exiting
    #[arg(long, value_name = "SECS", value_parser = parse_secs_or_off, default_value = "5")]
    pub(crate) shutdown_timeout: Duration,
}

/// Flags shared by the client commands.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientOpts {
    /// ws:// or wss:// URL to connect to
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Extra request header, as 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub(crate) headers: Vec<(String, String)>,
    /// Offer this subprotocol (repeatable, in order of preference)
    #[arg(long = "subprotocol", value_name = "P")]
    pub(crate) subprotocols: Vec<String>,
    /// Origin header to send
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) origin: Option<String>,
    /// Trust the CA certificates in this PEM file (wss://), instead of the
    /// built-in roots
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// Do not verify the server's certificate (wss://). Dangerous.
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Keepalive: ping the server after SECS without traffic from it, and
    /// fail (exit 6) if it then stays silent
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub(crate) ping_interval: Option<Duration>,
    /// Limit for connecting: DNS, TCP, proxy, TLS and the upgrade together
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "30")]
    pub(crate) connect_timeout: Duration,
    /// Connect through this HTTP proxy (CONNECT tunnel), e.g. http://127.0.0.1:3128
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Largest message accepted from the server, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub(crate) max_message_size: usize,
    /// Do not offer permessage-deflate (RFC 7692) compression, which is
    /// offered by default
    #[arg(long)]
    pub(crate) no_deflate: bool,
    /// WebSocket over HTTP/2 (RFC 8441) where the server offers it: for
    /// wss://, TLS offers h2 then http/1.1, and HTTP/1.1 is used if the
    /// server picks it or does not allow WebSocket over HTTP/2. ws:// stays
    /// on HTTP/1.1 (see --http2-prior-knowledge)
    #[arg(long, conflicts_with = "http2_prior_knowledge")]
    pub(crate) http2: bool,
    /// WebSocket over HTTP/2 only: h2c from the first byte for ws:// (the
    /// server must speak it), h2 alone in TLS for wss://
    #[arg(long)]
    pub(crate) http2_prior_knowledge: bool,
}

impl ClientOpts {
    /// The HTTP/2 mode the flags ask for.
    pub(crate) fn http2_mode(&self) -> wsock_hyper::http2::Http2 {
        use wsock_hyper::http2::Http2;
        if self.http2_prior_knowledge {
            Http2::PriorKnowledge
        } else if self.http2 {
            Http2::Prefer
        } else {
            Http2::Off
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    #[command(flatten)]
    pub(crate) client: ClientOpts,
    /// Send each line as a binary message (its raw bytes)
    #[arg(long, conflicts_with = "base64")]
    pub(crate) binary: bool,
    /// Decode each line from base64 and send the bytes as a binary message
    #[arg(long)]
    pub(crate) base64: bool,
    /// How to print received binary messages
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = BinaryOutput::Hex)]
    pub(crate) output: BinaryOutput,
}

impl ConnectArgs {
    pub(crate) fn input_mode(&self) -> InputMode {
        if self.base64 {
            InputMode::Base64
        } else if self.binary {
            InputMode::Binary
        } else {
            InputMode::Text
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct EchoClientArgs {
    #[command(flatten)]
    pub(crate) client: ClientOpts,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Size of the fragmented message, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = parse_positive)]
    pub(crate) size: usize,
    /// Size of each fragment, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10, value_parser = parse_positive)]
    pub(crate) fragment: usize,
}

/// `Name: value` → (name, value), value without surrounding whitespace.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("expected 'Name: value', got {s:?}"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("empty header name in {s:?}"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// A count greater than zero.
fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got {s:?}")),
    }
}

/// Seconds, where 0 (turning the limit off) is allowed.
fn parse_secs_or_off(s: &str) -> Result<Duration, String> {
    if s.trim().parse::<f64>().is_ok_and(|secs| secs == 0.0) {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

/// A limit given in seconds, where zero means none.
pub(crate) fn limit(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Seconds, fractions allowed, greater than zero.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!("seconds must be a positive number, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn headers() {
        assert_eq!(parse_header("X-A: 1"), Ok(("X-A".into(), "1".into())));
        assert_eq!(parse_header("X-A:1:2"), Ok(("X-A".into(), "1:2".into())));
        assert!(parse_header("nocolon").is_err());
        assert!(parse_header(": v").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_secs("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_secs("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_secs_or_off("0").map(limit), Ok(None));
        assert_eq!(parse_secs_or_off("2"), Ok(Duration::from_secs(2)));
        assert!(parse_secs_or_off("-1").is_err());
        assert!(parse_secs("0").is_err());
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("x").is_err());
        assert!(parse_secs("inf").is_err());
    }

    #[test]
    fn parses_connect() {
        let cli = Cli::try_parse_from([
            "wsock",
            "connect",
            "ws://h/",
            "-H",
            "A: b",
            "--subprotocol",
            "x",
            "--subprotocol",
            "y",
            "--base64",
            "--output",
            "base64",
            "-q",
        ])
        .unwrap();
        let Command::Connect(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.client.subprotocols, ["x", "y"]);
        assert_eq!(args.input_mode(), InputMode::Base64);
        assert_eq!(args.output, BinaryOutput::Base64);
        assert!(cli.output.quiet);
        assert!(
            Cli::try_parse_from(["wsock", "connect", "ws://h/", "--binary", "--base64"]).is_err()
        );
        assert!(Cli::try_parse_from(["wsock", "serve", "--tls-cert", "c.pem"]).is_err());
    }
}
