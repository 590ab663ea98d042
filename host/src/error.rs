//! The one error type of the `econtext` crate. Each variant names the phase that failed and
//! carries what a user needs to fix it.

use std::fmt;
use std::time::Duration;

pub use econtext_core::RemoteError;

/// Everything that can fail in the host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The program to start (python, ssh, sudo...) could not be executed.
    Spawn {
        /// What was run.
        program: String,
        /// The OS error.
        reason: String,
    },
    /// The remote interpreter is older than the stub supports (2.7, or 3.6 and later).
    PythonTooOld {
        /// Context name.
        context: String,
        /// `sys.version` reported by the remote.
        version: String,
    },
    /// The bootstrap did not complete: the process exited or printed something else.
    Bootstrap {
        /// Context name.
        context: String,
        /// What went wrong.
        reason: String,
        /// Remote Python version, when stage 1 got far enough to report it.
        version: Option<String>,
        /// The last lines the process printed (stdout noise and stderr), for diagnosis.
        output: String,
    },
    /// The connecting program (ssh, sudo, su, doas) said why it failed.
    Connect {
        /// Context name.
        context: String,
        /// What failed, and so what to fix.
        failure: crate::ConnectFailure,
        /// The last lines it printed (passwords removed).
        output: String,
    },
    /// The connection did not come up within the connect timeout.
    ConnectTimeout {
        /// Context name.
        context: String,
        /// The timeout.
        after: Duration,
        /// The last lines the process printed.
        output: String,
    },
    /// The remote function raised.
    Remote(RemoteError),
    /// The call did not finish within its timeout. The context is still running the call: shut
    /// it down or kill it if it is hung.
    Timeout {
        /// Context name.
        context: String,
        /// The timeout.
        after: Duration,
    },
    /// The context disconnected (exited, was killed, or its stream broke) before answering.
    Disconnected {
        /// Context name.
        context: String,
        /// What is known about why.
        reason: String,
    },
    /// A message could not be delivered (no route, refused, too large).
    DeadLetter {
        /// The reason given by the router that refused it.
        reason: String,
    },
    /// A malformed message arrived from a context; its stream was closed.
    Protocol {
        /// Context name.
        context: String,
        /// The decoding error.
        reason: String,
    },
    /// The other end closed the channel (a receiver was dropped, or a sender's stream ended).
    ChannelClosed {
        /// The context at the other end.
        context: String,
    },
    /// The router was shut down.
    RouterClosed,
    /// An argument could not be used (bad function name, unencodable value...).
    Usage(String),
    /// An OS-level IO failure in the host.
    Io(String),
    /// A file could not be put or fetched: which one, where, and why.
    File {
        /// The context whose file it is (`local` for this host's side).
        context: String,
        /// The path as given.
        path: String,
        /// What went wrong, for a program to match.
        kind: crate::FileErrorKind,
        /// The system's words for it.
        detail: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn tail(f: &mut fmt::Formatter<'_>, output: &str) -> fmt::Result {
            if output.trim().is_empty() {
                Ok(())
            } else {
                write!(f, "\n--- last output ---\n{}", output.trim_end())
            }
        }
        match self {
            Error::Spawn { program, reason } => write!(f, "cannot run {program}: {reason}"),
            Error::PythonTooOld { context, version } => write!(
                f,
                "{context}: python {version} is too old: econtext needs python 2.7 or 3.6 and later (pass another interpreter path)"
            ),
            Error::Bootstrap { context, reason, version, output } => {
                write!(f, "{context}: bootstrap failed: {reason}")?;
                if let Some(v) = version {
                    write!(f, " (remote python {v})")?;
                }
                tail(f, output)
            }
            Error::Connect { context, failure, output } => {
                write!(f, "{context}: {failure}")?;
                tail(f, output)
            }
            Error::ConnectTimeout { context, after, output } => {
                write!(f, "{context}: connection not ready after {:.1}s", after.as_secs_f64())?;
                tail(f, output)
            }
            Error::Remote(e) => {
                write!(f, "remote exception {}: {}", e.type_name, e.message)?;
                if !e.traceback.is_empty() {
                    write!(f, "\n{}", e.traceback.trim_end())?;
                }
                Ok(())
            }
            Error::Timeout { context, after } => write!(
                f,
                "{context}: call timed out after {:.3}s (the context may be hung: shut it down or kill it)",
                after.as_secs_f64()
            ),
            Error::Disconnected { context, reason } => write!(f, "{context}: disconnected: {reason}"),
            Error::DeadLetter { reason } => write!(f, "message not delivered: {reason}"),
            Error::Protocol { context, reason } => write!(f, "{context}: protocol error: {reason}"),
            Error::ChannelClosed { context } => {
                write!(f, "{context}: the channel is closed (its other end closed it)")
            }
            Error::RouterClosed => f.write_str("the router was shut down"),
            Error::Usage(m) => f.write_str(m),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::File {
                context,
                path,
                kind,
                detail,
            } => write!(f, "{context}: {path}: {kind:?}: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e.to_string())
    }
}
