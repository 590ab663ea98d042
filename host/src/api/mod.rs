//! The blocking API: a [`Router`] owns the broker thread; [`Context`]s make calls.

mod channel;
mod context;
mod process;
mod router;
mod select;

pub use channel::{ByteReader, ByteWriter, Receiver, Sender};
pub use context::{CallBuilder, CallHandle, Context};
pub use process::{ExitStatus, Process, ProcessBuilder};
pub use router::{Router, RouterOptions};
pub use select::Select;
