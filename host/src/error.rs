//! The one error type of the `econtext` crate. Each variant names the phase that failed and
//! carries what a user needs to fix it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use econtext_core::body::DeadReason;
pub use econtext_core::RemoteError;

/// Everything that can fail in the host.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The program to start (python, ssh, sudo...) could not be executed.
    Spawn {
        /// What was run.
        program: String,
        /// The OS error (also [`std::error::Error::source`]).
        reason: IoError,
    },
    /// The remote interpreter is older than the stub supports (2.7, or 3.5 and later).
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
        /// Why, for a program to match (`DeadReason::TooLarge`: make the message smaller or
        /// raise `RouterOptions::max_frame`).
        kind: DeadReason,
        /// The words of the router that refused it.
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
    /// A message (a call's arguments, a channel item) encodes to more than the frame limit:
    /// nothing was sent. Make it smaller (stream it over a channel) or raise
    /// `RouterOptions::max_frame`.
    TooLarge {
        /// What was too large ("the call's arguments", "the item").
        what: String,
        /// Its encoded size in bytes.
        size: usize,
        /// The limit in force.
        max: u32,
    },
    /// The router was shut down.
    RouterClosed,
    /// An argument could not be used (bad function name, unencodable value...).
    Usage(String),
    /// An OS-level failure in this host (out of file descriptors, a pipe or socket that
    /// could not be made...): what was being done, and the OS error (also as
    /// [`std::error::Error::source`]).
    Io(IoError),
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
                "{context}: python {version} is too old: econtext needs python 2.4 to 2.7, or 3.5 and later (pass another interpreter path)"
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
            Error::DeadLetter { reason, .. } => write!(f, "message not delivered: {reason}"),
            Error::Protocol { context, reason } => write!(f, "{context}: protocol error: {reason}"),
            Error::ChannelClosed { context } => {
                write!(f, "{context}: the channel is closed (its other end closed it)")
            }
            Error::TooLarge { what, size, max } => write!(
                f,
                "{what}: {size} bytes encoded, over the {max}-byte message limit (send it in pieces over a channel, or raise RouterOptions::max_frame)"
            ),
            Error::RouterClosed => f.write_str("the router was shut down"),
            Error::Usage(m) => f.write_str(m),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::File {
                context,
                path,
                kind,
                detail,
            } => write!(f, "{context}: {path}: {kind:?}: {detail}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) | Error::Spawn { reason: e, .. } => Some(&*e.source),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::io("", e)
    }
}

/// An OS error and what this host was doing when it happened.
#[derive(Debug, Clone)]
pub struct IoError {
    /// What was being done (`""` when nothing more is known than the OS error).
    pub doing: String,
    /// The OS error.
    pub source: Arc<std::io::Error>,
}

impl IoError {
    /// The OS error's kind.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

impl PartialEq for IoError {
    fn eq(&self, o: &IoError) -> bool {
        self.doing == o.doing
            && self.source.kind() == o.source.kind()
            && self.source.to_string() == o.source.to_string()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.doing.is_empty() {
            write!(f, "{}", self.source)
        } else {
            write!(f, "{}: {}", self.doing, self.source)
        }
    }
}

/// What kind of failure an [`Error`] is, for a program to classify (a fleet's summary, a
/// retry policy): [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The target could not be reached: unknown host, refused, network timeout, no route, the
    /// server closed the connection before login, no such container, the connection did not
    /// come up in time.
    Unreachable,
    /// The target was reached but refused us: key or password refused, a password needed
    /// and none given, unknown account, not allowed by sudoers/doas.conf, no permission to use
    /// the runtime.
    AuthRefused,
    /// The server's host key is unknown or changed.
    HostKey,
    /// No usable Python on the target (none found, or too old).
    NoPython,
    /// The connection came up but the bootstrap did not complete.
    Bootstrap,
    /// A call did not finish within its timeout.
    Timeout,
    /// The remote function raised.
    Remote,
    /// The context went away (exited, killed, its stream broke, a heartbeat went silent).
    Disconnected,
    /// A message exceeded the frame limit.
    TooLarge,
    /// A peer broke the protocol, or a message could not be delivered.
    Protocol,
    /// The caller's mistake: a bad argument, function name or option.
    Usage,
    /// This host ran out of something or could not do an OS operation (file descriptors,
    /// processes, a program to run).
    LocalResource,
    /// A file of `put`/`get` failed (see [`crate::FileErrorKind`]).
    File,
    /// A channel's other end closed it, or the router was shut down.
    Closed,
}

impl ErrorKind {
    /// Its name in snake case (`"unreachable"`, `"auth_refused"`...), as NDJSON prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::AuthRefused => "auth_refused",
            ErrorKind::HostKey => "host_key",
            ErrorKind::NoPython => "no_python",
            ErrorKind::Bootstrap => "bootstrap",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Remote => "remote",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Usage => "usage",
            ErrorKind::LocalResource => "local_resource",
            ErrorKind::File => "file",
            ErrorKind::Closed => "closed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The kind of failure, for a program to match (stable across releases; new kinds may be
    /// added).
    pub fn kind(&self) -> ErrorKind {
        use crate::ConnectFailure as F;
        match self {
            Error::Spawn { .. } | Error::Io(_) => ErrorKind::LocalResource,
            Error::PythonTooOld { .. } => ErrorKind::NoPython,
            Error::Bootstrap { .. } => ErrorKind::Bootstrap,
            Error::Connect { failure, .. } => match failure {
                F::AuthFailed
                | F::WrongPassword
                | F::PasswordRequired
                | F::UnknownUser
                | F::NotAllowed
                | F::TtyRequired
                | F::PermissionDenied => ErrorKind::AuthRefused,
                F::HostKeyUnknown | F::HostKeyChanged => ErrorKind::HostKey,
                F::NoPython => ErrorKind::NoPython,
                _ => ErrorKind::Unreachable,
            },
            Error::ConnectTimeout { .. } => ErrorKind::Unreachable,
            Error::Remote(_) => ErrorKind::Remote,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Disconnected { .. } => ErrorKind::Disconnected,
            Error::DeadLetter { kind, .. } => match kind {
                DeadReason::TooLarge => ErrorKind::TooLarge,
                DeadReason::Disconnected | DeadReason::NoRoute => ErrorKind::Disconnected,
                _ => ErrorKind::Protocol,
            },
            Error::Protocol { reason, .. } if reason.contains("too large") => ErrorKind::TooLarge,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::ChannelClosed { .. } | Error::RouterClosed => ErrorKind::Closed,
            Error::Usage(_) => ErrorKind::Usage,
            Error::File { .. } => ErrorKind::File,
        }
    }

    /// True when the error happened while connecting (the target was never up): a fleet
    /// reports such targets as unreachable.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Error::Spawn { .. }
                | Error::PythonTooOld { .. }
                | Error::Bootstrap { .. }
                | Error::Connect { .. }
                | Error::ConnectTimeout { .. }
        )
    }

    /// An OS error while `doing` something.
    pub fn io(doing: impl Into<String>, e: std::io::Error) -> Error {
        Error::Io(IoError {
            doing: doing.into(),
            source: Arc::new(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnectFailure as F;

    fn connect(failure: F) -> ErrorKind {
        Error::Connect {
            context: "ssh:h".into(),
            failure,
            output: String::new(),
        }
        .kind()
    }

    #[test]
    fn every_connect_failure_has_the_kind_a_fleet_reports() {
        // Written out, not computed: a change of `kind()` must change this table too.
        let table = [
            (F::UnknownHost, ErrorKind::Unreachable),
            (F::ConnectionRefused, ErrorKind::Unreachable),
            (F::NetworkTimeout, ErrorKind::Unreachable),
            (F::AuthFailed, ErrorKind::AuthRefused),
            (F::WrongPassword, ErrorKind::AuthRefused),
            (F::PasswordRequired, ErrorKind::AuthRefused),
            (F::UnknownUser, ErrorKind::AuthRefused),
            (F::NotAllowed, ErrorKind::AuthRefused),
            (F::HostKeyUnknown, ErrorKind::HostKey),
            (F::HostKeyChanged, ErrorKind::HostKey),
            (F::NoPython, ErrorKind::NoPython),
            (F::TtyRequired, ErrorKind::AuthRefused),
            (F::Unreachable, ErrorKind::Unreachable),
            (F::NoSuchContainer, ErrorKind::Unreachable),
            (F::ContainerNotRunning, ErrorKind::Unreachable),
            (F::ImageNotFound, ErrorKind::Unreachable),
            (F::PermissionDenied, ErrorKind::AuthRefused),
            (F::ProgramMissing, ErrorKind::Unreachable),
            (F::Busy, ErrorKind::Unreachable),
            (F::ConnectionClosed, ErrorKind::Unreachable),
        ];
        for (n, (f, want)) in table.iter().enumerate() {
            assert_eq!(F::from_u32(n as u32), Some(*f), "wire number {n}");
            assert_eq!(connect(*f), *want, "{f:?}");
        }
        assert_eq!(
            F::from_u32(table.len() as u32),
            None,
            "a failure missing from the table"
        );
    }

    #[test]
    fn kinds_of_the_other_variants() {
        let dead = |kind| Error::DeadLetter {
            kind,
            reason: String::new(),
        };
        assert_eq!(dead(DeadReason::TooLarge).kind(), ErrorKind::TooLarge);
        assert_eq!(dead(DeadReason::NoRoute).kind(), ErrorKind::Disconnected);
        assert_eq!(dead(DeadReason::Refused).kind(), ErrorKind::Protocol);
        let io = Error::io(
            "listening",
            std::io::Error::from(std::io::ErrorKind::AddrInUse),
        );
        assert_eq!(io.kind(), ErrorKind::LocalResource);
        assert_eq!(io.to_string(), "I/O error: listening: address in use");
        let src = std::error::Error::source(&io).unwrap();
        assert!(src.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(Error::Usage("x".into()).kind().as_str(), "usage");
        assert!(Error::ConnectTimeout {
            context: "c".into(),
            after: Duration::from_secs(1),
            output: String::new()
        }
        .is_connect());
        assert!(!Error::RouterClosed.is_connect());
    }
}
