//! Status and diagnostics on stderr, through `tracing`.
//!
//! By default `wsock` prints short status lines (info level of its own
//! events, warnings from everything). `--quiet` keeps only warnings and
//! errors; `-v` adds debug events of wsock's crates with timestamps and
//! targets, `-vv` trace events. `RUST_LOG`, when set, replaces the filter
//! (for example `RUST_LOG=wsock_tokio=trace`).

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the global subscriber. `verbose` counts `-v` flags.
pub(crate) fn init(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        // The servers' accept loops report when accepting recovers.
        (false, 0) => "warn,wsock=info,wsock_tokio::listener=info,wsock_blocking::listener=info",
        (false, 1) => {
            "info,wsock=debug,wsock_core=debug,wsock_tokio=debug,wsock_blocking=debug,wsock_tls=debug"
        }
        (false, _) => {
            "info,wsock=trace,wsock_core=trace,wsock_tokio=trace,wsock_blocking=trace,wsock_tls=trace"
        }
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec).unwrap_or_else(|e| {
            eprintln!("warning: ignoring invalid RUST_LOG: {e}");
            EnvFilter::new(default)
        }),
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if verbose > 0 {
        builder.with_target(true).try_init()
    } else {
        builder.event_format(StatusFormat).try_init()
    };
    // Only fails if a subscriber is already installed (tests): keep that one.
    drop(result);
}

/// One line per event: info events as bare messages, warnings and errors
/// with a prefix, debug and trace events with level and target.
struct StatusFormat;

impl<S, N> FormatEvent<S, N> for StatusFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        match *meta.level() {
            Level::ERROR => writer.write_str("error: ")?,
            Level::WARN => writer.write_str("warning: ")?,
            Level::INFO => {}
            level => write!(writer, "{level} {}: ", meta.target())?,
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
