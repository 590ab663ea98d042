//! Programs on a context with streamed stdio: `ctx.process(argv).spawn()` gives a stdin
//! writer, stdout and stderr readers (flow-controlled channels both ways) and the exit status.
//! The remote side is `econtext_process`, served from the binary on demand.

use std::time::Duration;

use econtext_core::Value;

use super::channel::{ByteWriter, Receiver};
use super::context::{CallHandle, Context};
use crate::Error;

/// How a program ended: its exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal number, when a signal killed it.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The status a shell (and ssh) reports: the code, or 128 + the signal.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 255,
        }
    }
}

/// A program to start on a context: `ctx.process(["tar", "-C", "/etc", "-c", "."])`.
pub struct ProcessBuilder<'a> {
    ctx: &'a Context,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    shell: Value,
    tty: Option<(u16, u16)>,
}

impl<'a> ProcessBuilder<'a> {
    /// Run it on a new pseudo-terminal of `rows` x `cols` (its controlling terminal): stdout
    /// and stderr both come on `stdout`; `stdin.resize()` changes the size; ^C, ^Z and the
    /// like are bytes the terminal turns into signals there.
    pub fn pty(mut self, rows: u16, cols: u16) -> Self {
        self.tty = Some((rows, cols));
        self
    }
    /// Add or replace an environment variable (the rest of the context's environment stays).
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Run in this directory (default: the context's working directory).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Start it.
    pub fn spawn(self) -> Result<Process, Error> {
        self.spawn_with("econtext_process.run", vec![])
    }

    /// Start it with every ssh it runs reaching `to` instead (fakessh, docs/fakessh.md): rsync,
    /// scp, sftp and git on this context are given an executable memfd as their ssh program
    /// (nothing is written to disk), and each invocation runs its command on `to` as sshd
    /// would, over the routes already up. `$ECONTEXT_SSH` names the fake ssh for other tools.
    pub fn ssh_to(self, to: &Context) -> Result<Process, Error> {
        let from = self.ctx.clone();
        let reqs = from.receiver()?;
        let p = self.spawn_with("econtext_fakessh.serve", vec![reqs.sender()])?;
        crate::fakessh::relay(from, to.clone(), reqs)?;
        Ok(p)
    }

    /// Start it with `function(stdin, out, err, events, *extra, argv, env, cwd, shell, tty)`
    /// (`econtext_process.run`, or a function that wraps it).
    pub(crate) fn spawn_with(self, function: &str, extra: Vec<Value>) -> Result<Process, Error> {
        if self.argv.is_empty() && self.tty.is_none() {
            return Err(Error::Usage("a process needs a program to run".into()));
        }
        let out = self.ctx.receiver()?;
        let err = self.ctx.receiver()?;
        let events = self.ctx.receiver()?;
        let env = Value::Dict(
            self.env
                .into_iter()
                .map(|(k, v)| (Value::Str(k), Value::Str(v)))
                .collect(),
        );
        let mut args = vec![out.sender(), err.sender(), events.sender()];
        args.extend(extra);
        args.extend([
            Value::List(self.argv.into_iter().map(Value::Str).collect()),
            env,
            self.cwd.map(Value::Str).unwrap_or(Value::None),
            self.shell,
            match self.tty {
                Some((r, c)) => Value::List(vec![Value::Int(r as i64), Value::Int(c as i64)]),
                None => Value::None,
            },
        ]);
        let (tx, call) = self.ctx.stream_to(function, args)?;
        Ok(Process {
            stdin: Some(tx.into_writer()),
            stdout: Some(out),
            stderr: Some(err),
            events,
            call: Some(call),
            pid: std::cell::Cell::new(None),
            ctx: self.ctx.clone(),
        })
    }
}

/// A running program. Take `stdin`, `stdout` and `stderr` (drop `stdin` to send EOF), then
/// [`wait`](Process::wait). If its context goes, the readers and `wait` fail at once with
/// `Disconnected`.
pub struct Process {
    /// The program's stdin; dropping it closes the program's stdin.
    pub stdin: Option<ByteWriter>,
    /// The program's stdout, as bytes items (`Receiver::into_reader` for `std::io::Read`).
    pub stdout: Option<Receiver>,
    /// The program's stderr, the same way.
    pub stderr: Option<Receiver>,
    events: Receiver,
    call: Option<CallHandle>,
    pid: std::cell::Cell<Option<i64>>,
    ctx: Context,
}

impl Process {
    /// Its pid on the context's machine, once it started (waits up to `timeout`).
    pub fn pid(&self, timeout: Duration) -> Result<i64, Error> {
        if let Some(p) = self.pid.get() {
            return Ok(p);
        }
        match self.events.recv_timeout(timeout)? {
            Some(Value::Int(p)) => {
                self.pid.set(Some(p));
                Ok(p)
            }
            Some(other) => Err(Error::Protocol {
                context: self.ctx.name().to_string(),
                reason: format!("a process event is not a pid: {other:?}"),
            }),
            None => Err(Error::Timeout {
                context: self.ctx.name().to_string(),
                after: timeout,
            }),
        }
    }

    /// Send it a signal (e.g. `libc::SIGTERM`, 15).
    pub fn kill(&self, signal: i32) -> Result<(), Error> {
        let pid = self.pid(Duration::from_secs(30))?;
        self.ctx
            .call(
                "econtext_process.kill",
                vec![Value::Int(pid), Value::Int(signal as i64)],
            )
            .map(|_| ())
    }

    /// Wait for it to end (stdin is closed first, if still open).
    pub fn wait(mut self) -> Result<ExitStatus, Error> {
        self.stdin = None;
        let call = self.call.take().ok_or(Error::RouterClosed)?;
        match call.wait()? {
            Value::Int(n) if n >= 0 => Ok(ExitStatus {
                code: Some(n as i32),
                signal: None,
            }),
            Value::Int(n) => Ok(ExitStatus {
                code: None,
                signal: Some((-n) as i32),
            }),
            other => Err(Error::Protocol {
                context: self.ctx.name().to_string(),
                reason: format!("a process ended with {other:?}"),
            }),
        }
    }
}

impl Context {
    /// Run `argv` here with every ssh it starts reaching `to` (the seed's
    /// `fileserver.fakessh(&webapp, ["rsync", "-a", "appdata", "appserver:appdata"])`):
    /// shorthand for `self.process(argv).ssh_to(to)`.
    pub fn fakessh<S: Into<String>>(
        &self,
        to: &Context,
        argv: impl IntoIterator<Item = S>,
    ) -> Result<Process, Error> {
        self.process(argv).ssh_to(to)
    }

    /// A program to run here with streamed stdio: `argv[0]` is looked up on the context's
    /// `PATH`. See [`Context::shell`] for a shell command line.
    pub fn process<S: Into<String>>(
        &self,
        argv: impl IntoIterator<Item = S>,
    ) -> ProcessBuilder<'_> {
        ProcessBuilder {
            ctx: self,
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: None,
            shell: Value::Bool(false),
            tty: None,
        }
    }

    /// The account's login shell on a pty of `rows` x `cols` (what `econtext shell` runs),
    /// started in its home directory.
    pub fn login_shell(&self, rows: u16, cols: u16) -> ProcessBuilder<'_> {
        ProcessBuilder {
            ctx: self,
            argv: vec![],
            env: Vec::new(),
            cwd: None,
            shell: Value::Bool(false),
            tty: Some((rows, cols)),
        }
    }

    /// A command line as sshd runs one: by the account's shell (`$SHELL -c LINE`) in its home
    /// directory, with HOME, USER, LOGNAME and SHELL set for the account.
    pub fn command_line(&self, line: impl Into<String>) -> ProcessBuilder<'_> {
        ProcessBuilder {
            ctx: self,
            argv: vec![line.into()],
            env: Vec::new(),
            cwd: None,
            shell: Value::from("user"),
            tty: None,
        }
    }

    /// An ssh subsystem as sshd runs one (`sftp`: the `Subsystem sftp` program of the
    /// context's sshd_config, else sftp-server where the distributions install it).
    pub fn subsystem(&self, name: impl Into<String>) -> ProcessBuilder<'_> {
        ProcessBuilder {
            shell: Value::from("subsystem"),
            ..self.command_line(name)
        }
    }

    /// A shell command line (`/bin/sh -c LINE`) to run here with streamed stdio.
    pub fn shell(&self, line: impl Into<String>) -> ProcessBuilder<'_> {
        ProcessBuilder {
            ctx: self,
            argv: vec![line.into()],
            env: Vec::new(),
            cwd: None,
            shell: Value::Bool(true),
            tty: None,
        }
    }
}
