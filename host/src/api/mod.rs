//! The blocking API: a [`Router`] owns the broker thread; [`Context`]s make calls.

mod channel;
mod context;
mod files;
mod group;
mod process;
mod router;
mod select;
mod tree;

pub use channel::{ByteReader, ByteWriter, Receiver, Sender};
pub use context::{CallBuilder, CallHandle, Context};
pub use files::{sha256_file, FileErrorKind, GetOptions, Meter, PutOptions, Transfer};
pub use group::{Group, Outcome, Progress, Results, Run, Target};
pub use process::{ExitStatus, Process, ProcessBuilder};
pub use router::{Connecting, Router, RouterOptions};
pub use select::Select;
pub use tree::TreeTransfer;
