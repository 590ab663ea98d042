//! Connection methods. A method is data: the argv to run, whether it needs a pty, and how long
//! to wait, and which messages mean which failure. The broker runs any [`Recipe`] the same way, so adding a method adds no IO code.

mod become_user;
pub mod bootstrap;
pub mod compiled;
mod container;
mod custom;
mod local;
pub mod setns;
mod ssh;
pub mod watch;

pub use become_user::{Become, BecomeUser};
pub use container::{Container, Runtime, RUNTIMES};
pub use custom::{methods_file, split_words, Custom};
pub use local::Local;
pub use setns::{Leader, Setns};
pub use ssh::{HostKeyPolicy, Ssh};
use watch::{FailureRule, Password, Prompt, Whose};

use std::time::Duration;

/// Default time allowed for a connection to come up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the broker needs to start one context.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Context name (shown in logs and errors).
    pub name: String,
    /// The method: `local`, `ssh`, `sudo`, `su`, `doas` (shown when asking for a password).
    pub kind: &'static str,
    /// Whose password its prompts ask for.
    pub whose: Whose,
    /// The command to run; its stdin/stdout become the protocol stream.
    pub argv: Vec<String>,
    /// The name the process shows (`ps`), when the host starts the interpreter itself.
    pub arg0: Option<String>,
    /// Variables added to its environment (`PYTHONHOME` for an interpreter started with the
    /// process title as `argv[0]`: see `bootstrap::python_home`; stage 2 removes it again).
    pub env: Vec<(String, String)>,
    /// Give it a controlling pty (for password prompts).
    pub pty: bool,
    /// Also use the pty as its stdin/stdout (for `su`, which insists on a terminal); the pty
    /// is switched to raw mode once stage 1 has started.
    pub stdio_on_pty: bool,
    /// Send stage 2 only after stage 1's ready marker (so nothing is typed into a prompt).
    pub wait_for_stage1: bool,
    /// Give up when the context is not up after this long.
    pub connect_timeout: Duration,
    /// Prompts to answer with the password.
    pub prompts: Vec<Prompt>,
    /// Output that means a specific failure.
    pub failures: Vec<FailureRule>,
    /// The password for the prompts.
    pub password: Option<Password>,
    /// What it means when the hop cannot run `argv[0]` (a container runtime that is not
    /// installed there); `None`: report the spawn error as it is.
    pub program_missing: Option<watch::ConnectFailure>,
    /// Enter a running process's namespaces instead of running a runtime's client: done with
    /// setns(2) by this process for a first hop, by a small Python helper (the argv) on a
    /// hop behind another.
    pub enter: Option<setns::Enter>,
}

impl Recipe {
    /// A method whose program runs the interpreter at the end of its argv with nothing to
    /// answer: no pty, no prompt, stage 2 sent at once, `ProgramMissing` when the hop cannot
    /// run `argv[0]` (containers, setns, custom prefixes).
    pub fn exec(
        name: String,
        kind: &'static str,
        argv: Vec<String>,
        connect_timeout: Duration,
        failures: Vec<FailureRule>,
    ) -> Recipe {
        Recipe {
            name,
            kind,
            whose: Whose::AsPrompted,
            argv,
            arg0: None,
            env: Vec::new(),
            pty: false,
            stdio_on_pty: false,
            wait_for_stage1: false,
            connect_timeout,
            prompts: Vec::new(),
            failures,
            password: None,
            program_missing: Some(watch::ConnectFailure::ProgramMissing),
            enter: None,
        }
    }
}

/// A way to start a context.
pub trait Method {
    /// Build the recipe. `title` is the remote process title, `stage2_len` the number of
    /// compressed stage-2 bytes stage 1 must read.
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe;
}
