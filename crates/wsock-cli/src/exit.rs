//! Exit statuses and the error type that carries them.
//!
//! Every failure of `wsock` maps to exactly one exit status, so scripts can
//! tell what went wrong without parsing stderr:
//!
//! | status | meaning |
//! |---:|---|
//! | 0 | success: the closing handshake completed with 1000 (normal), 1001 (going away) or no status code |
//! | 1 | local error: unreadable input (invalid base64 or UTF-8 on stdin, I/O error on stdin or stdout), a server that cannot bind its address, a failed demo step |
//! | 2 | usage error: bad flags or arguments, an invalid URL, header or subprotocol |
//! | 3 | connection failure: DNS resolution, TCP connect (refused, unreachable), or the proxy (unreachable, or refused the `CONNECT`) |
//! | 4 | handshake failure: the server answered the upgrade with a status other than 101, or an invalid 101 (bad `Sec-WebSocket-Accept`, unoffered subprotocol, ...) |
//! | 5 | TLS failure: certificate verification, the TLS handshake, an unusable `--ca` file, or (`serve`) an unusable `--tls-cert`/`--tls-key` |
//! | 6 | timeout: connecting (TCP + proxy + TLS + upgrade) took longer than `--connect-timeout`, or the peer stopped answering (keepalive pings with `--ping-interval`, or our close frame) |
//! | 7 | abnormal close: the connection ended without a closing handshake (no close frame, reset), or the peer broke the protocol |
//! | 8 | the peer closed with an error status: the closing handshake completed with a code other than 1000, 1001 or none (for example 1002, 1011, 4000) |

use std::fmt;
use std::process::ExitCode;

/// The help text's summary of [`ExitKind`], as a literal so it can be
/// `concat!`ed into each command's help; keep in sync with the module doc.
macro_rules! exit_status_help {
    () => {
        "Exit status:
  0  success: clean close (1000, 1001 or no status code)
  1  local error (bad stdin input, stdout/stdin I/O, bind failure, demo step failed)
  2  usage error (bad flags, URL, header or subprotocol)
  3  connection failure (DNS, TCP connect refused/unreachable, proxy)
  4  handshake failure (status other than 101, or an invalid 101 response)
  5  TLS failure (certificate verification, TLS handshake, --ca/--tls-cert/--tls-key files)
  6  timeout (--connect-timeout exceeded; peer stopped answering pings or our close)
  7  abnormal close (no close frame, connection reset, protocol violation)
  8  peer closed with an error status (a code other than 1000/1001/none)"
    };
}
pub(crate) use exit_status_help;

#[cfg(test)]
const EXIT_STATUS_HELP: &str = exit_status_help!();

/// What went wrong, as an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// 1: a local problem (input, output, bind, failed demo check).
    Local,
    /// 2: bad command line.
    Usage,
    /// 3: DNS, TCP or proxy failure.
    Connect,
    /// 4: the server refused or botched the upgrade.
    Handshake,
    /// 5: TLS configuration or handshake failure.
    Tls,
    /// 6: a deadline passed.
    Timeout,
    /// 7: the connection ended without a closing handshake.
    Abnormal,
    /// 8: the peer closed with an error status.
    PeerError,
}

impl ExitKind {
    /// The numeric exit status.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Local => 1,
            Self::Usage => 2,
            Self::Connect => 3,
            Self::Handshake => 4,
            Self::Tls => 5,
            Self::Timeout => 6,
            Self::Abnormal => 7,
            Self::PeerError => 8,
        }
    }
}

impl From<ExitKind> for ExitCode {
    fn from(kind: ExitKind) -> Self {
        ExitCode::from(kind.code())
    }
}

/// An error with the exit status it ends the program with.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) kind: ExitKind,
    pub(crate) message: String,
}

impl CliError {
    pub(crate) fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn local(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Local, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Usage, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// Whether a close code counts as a clean ending (exit status 0).
pub(crate) fn is_clean_close(code: Option<u16>) -> bool {
    matches!(code, None | Some(1000 | 1001 | 1005))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let all = [
            ExitKind::Local,
            ExitKind::Usage,
            ExitKind::Connect,
            ExitKind::Handshake,
            ExitKind::Tls,
            ExitKind::Timeout,
            ExitKind::Abnormal,
            ExitKind::PeerError,
        ];
        let mut codes: Vec<u8> = all.iter().map(|k| k.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(!codes.contains(&0));
        for code in codes {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("\n  {code}  ")),
                "help lacks {code}"
            );
        }
    }

    #[test]
    fn clean_codes() {
        assert!(is_clean_close(None));
        assert!(is_clean_close(Some(1000)));
        assert!(is_clean_close(Some(1001)));
        assert!(!is_clean_close(Some(1002)));
        assert!(!is_clean_close(Some(4000)));
    }
}
