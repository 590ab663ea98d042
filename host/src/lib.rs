//! # econtext: Python execution contexts over ssh, sudo, su and doas
//!
//! econtext starts a Python interpreter on a machine that has nothing installed but Python,
//! through the system `ssh`/`sudo`/`su`/`doas` binaries (or locally), sends it a small stub that
//! writes nothing to disk, and then calls Python functions there. Read the layers bottom up:
//!
//! 1. `sys`: the only `unsafe` code: process spawning with an optional pty, poll(2), signals.
//! 2. `broker`: one IO thread running a poll loop over every connection, woken through a
//!    self-pipe. It bootstraps each connection (stage 1 marker, stage 2 upload, stage 2 marker),
//!    decodes frames with [`econtext_core`], and routes them with its routing table. API
//!    threads hand it work and wait on latches with deadlines; they never touch a fd.
//! 3. [`connect`]: methods are data ([`connect::Recipe`]): the argv, pty or not, the prompts.
//! 4. The API: a [`Router`] owns the broker; [`Router::connect`] returns a [`Context`];
//!    [`Context::call`], [`CallBuilder::spawn`] (wait later), [`CallBuilder::no_reply`],
//!    [`Context::shutdown`].
//!
//! ```no_run
//! use econtext::{Local, Router, Value};
//!
//! let router = Router::new()?;
//! let ctx = router.connect(&Local::new())?;
//! let pid = ctx.call("os.getpid", vec![])?;
//! let joined = ctx.call("os.path.join", vec!["/tmp".into(), "x".into()])?;
//! assert_eq!(joined, Value::from("/tmp/x"));
//! # Ok::<(), econtext::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod api;
mod broker;
pub mod cli;
pub mod connect;
mod error;
pub mod fakessh;
mod float;
pub mod json;
pub mod log;
pub mod modules;
pub(crate) mod sys;
mod text;

pub use api::{
    sha256_file, ByteReader, ByteWriter, CallBuilder, CallHandle, Connecting, Context, ExitStatus,
    FileErrorKind, GetOptions, Group, Meter, Outcome, Process, ProcessBuilder, Progress,
    PutOptions, Receiver, Results, Router, RouterOptions, Run, Select, Sender, Target, Transfer,
    TreeTransfer,
};
pub use connect::watch::{ConnectFailure, Password, PasswordRequest};
pub use connect::{
    BecomeUser, Container, Custom, HostKeyPolicy, Leader, Local, Runtime, Setns, Ssh,
};
pub use econtext_core::{RemoteError, Value};
pub use error::{DeadReason, Error, ErrorKind, IoError};
pub use log::{LogEvent, LogSink};
