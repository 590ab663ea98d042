//! One connection: a started process, its bootstrap phases, and its framed stream.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{IoSlice, Read, Write};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext_core::{ContextId, Frame, FrameDecoder};

use super::Latch;
use crate::connect::bootstrap::{stage2_for, Stage2, MARK_STAGE1, MARK_STAGE2};
use crate::connect::watch::{Action, AskPassword, PasswordRequest, Watcher, Whose};
use crate::connect::Recipe;
use crate::sys::process::Spawned;
use crate::{text, Error};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for `EC0<version>\n` (everything before it is noise: banners, motd).
    AwaitStage1,
    /// Stage 2 is on its way; waiting for `EC1\n`.
    AwaitStage2,
    /// Frames flow.
    Up,
}

/// A connect waiting to complete: its latch, deadline and timeout.
type Connecting = (Arc<Latch<Result<(), Error>>>, Instant, Duration);

/// Bytes of output kept for error messages.
const TAIL: usize = 8 * 1024;
/// Output allowed before the stage-1 marker (banners, motd) before giving up.
pub const NOISE_MAX: usize = 64 * 1024;
/// Longest version line after `EC0`.
const VERSION_MAX: usize = 64;

pub struct Conn {
    pub id: ContextId,
    pub name: String,
    pub child: Child,
    /// Readable once `child` has exited (a pidfd; `None` on kernels without them). Some
    /// methods' processes do not hold the stream (lxc-attach hands the container its fds):
    /// their exit must end the connection, or the context inside would never see EOF.
    pub exited: Option<std::os::fd::OwnedFd>,
    pub io: File,
    /// Where frames are written (the child's stdin).
    pub io_out: File,
    pub stderr: Option<File>,
    pub pty: Option<File>,
    _pty_slave: Option<std::os::fd::OwnedFd>,
    pub phase: Phase,
    pub decoder: FrameDecoder,
    stage2: Option<Vec<u8>>,
    /// Protocol-stream bytes of the current bootstrap phase not consumed yet.
    pre: Vec<u8>,
    noise: Vec<u8>,
    err: Vec<u8>,
    err_partial: Vec<u8>,
    version: Option<String>,
    out: VecDeque<Vec<u8>>,
    out_off: usize,
    connect: Option<Connecting>,
    watch: Watcher,
    stdio_on_pty: bool,
    kind: &'static str,
    whose: Whose,
    /// A person must be asked for a password (taken by the broker, which asks off its thread).
    ask: Option<PasswordRequest>,
    /// A person is being asked: the connect deadline waits.
    asking: bool,
    /// Which stage 2 went (or goes) out, set by the broker; `None`: one the host's own
    /// interpreter compiled (for that interpreter, so always the right one).
    pub sent: Option<Stage2>,
    /// Stage 1 reported a Python that needs the other stage 2, which had been sent already
    /// (a pipelined start): the broker starts the context again with the right one.
    pub wrong_stub: bool,
    /// The recipe, kept until the context is up to start it again on [`Conn::wrong_stub`]
    /// (not for namespaces entered by the host: their plan is used up).
    pub restart: Option<Box<crate::connect::Recipe>>,
}

fn keep_tail(buf: &mut Vec<u8>, data: &[u8]) {
    buf.extend_from_slice(data);
    if buf.len() > TAIL {
        buf.drain(..buf.len() - TAIL);
    }
}

impl Conn {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ContextId,
        recipe: &Recipe,
        s: Spawned,
        stage2: Vec<u8>,
        done: Arc<Latch<Result<(), Error>>>,
        max_frame: u32,
        ask: Option<AskPassword>,
    ) -> Conn {
        let watch = Watcher::new(
            recipe.prompts.clone(),
            recipe.failures.clone(),
            recipe.password.clone(),
            ask.is_some(),
        );
        Conn {
            id,
            name: recipe.name.clone(),
            exited: crate::sys::process::pidfd(s.child.id()).ok(),
            child: s.child,
            io: s.io,
            io_out: s.io_out,
            stderr: Some(File::from(s.stderr)),
            pty: s.pty,
            _pty_slave: s.pty_slave,
            phase: Phase::AwaitStage1,
            decoder: FrameDecoder::new(max_frame),
            sent: None,
            wrong_stub: false,
            restart: None,
            stage2: Some(stage2),
            pre: Vec::new(),
            noise: Vec::new(),
            err: Vec::new(),
            err_partial: Vec::new(),
            version: None,
            out: VecDeque::new(),
            out_off: 0,
            connect: Some((
                done,
                Instant::now() + recipe.connect_timeout,
                recipe.connect_timeout,
            )),
            watch,
            stdio_on_pty: recipe.stdio_on_pty,
            kind: recipe.kind,
            whose: recipe.whose.clone(),
            ask: None,
            asking: false,
        }
    }

    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    pub fn deadline(&self) -> Option<Instant> {
        if self.asking {
            return None;
        }
        self.connect.as_ref().map(|c| c.1)
    }

    /// A password request for a person, once (the broker asks off its own thread).
    pub fn take_ask(&mut self) -> Option<PasswordRequest> {
        let r = self.ask.take();
        self.asking |= r.is_some();
        r
    }

    /// A person answered (or declined): type the password, or fail. The connect timeout
    /// starts again, since the person's typing time is not the connection's fault.
    pub fn answer(&mut self, p: Option<crate::Password>) -> Result<(), Error> {
        self.asking = false;
        if let Some(c) = &mut self.connect {
            c.1 = Instant::now() + c.2;
        }
        let a = self.watch.answered(p);
        self.act(a)
    }

    pub fn stage2_pending(&self) -> bool {
        self.stage2.is_some()
    }

    /// Queue the stage-2 bytes (and the Init frame behind them) ahead of everything else.
    pub fn release_stage2(&mut self) {
        if let Some(b) = self.stage2.take() {
            self.out.push_front(b);
        }
    }

    /// Consume bootstrap output on the protocol stream. `Ok(Some(rest))` once `EC1\n` was
    /// seen: `rest` is framed data. Before `EC0` anything may come (banners, motd), up to
    /// [`NOISE_MAX`]; after the `EC0<version>` line only the bytes of `EC1\n` are valid, and
    /// anything else fails at once with the bytes seen (quoted, bounded).
    pub fn boot(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if self.phase == Phase::AwaitStage1 {
            self.watch_output(data)?;
            self.pre.extend_from_slice(data);
            let Some(p) = find_line_start(&self.pre, MARK_STAGE1) else {
                if self.pre.len() > NOISE_MAX {
                    return Err(self.protocol(format!(
                        "{} bytes of output and no ready marker (EC0): is this a Python interpreter?",
                        self.pre.len()
                    )));
                }
                return Ok(None);
            };
            let line = &self.pre[p + MARK_STAGE1.len()..];
            let Some(nl) = line.iter().position(|b| *b == b'\n') else {
                if line.len() > VERSION_MAX {
                    return Err(self.protocol(format!(
                        "expected a Python version after the ready marker EC0, got \"{}\"",
                        text::quote(line, text::QUOTE_MAX)
                    )));
                }
                return Ok(None);
            };
            let raw = line[..nl].strip_suffix(b"\r").unwrap_or(&line[..nl]);
            // Stage 1 prints the first 9 characters of `sys.version`: up to the first space.
            let v = std::str::from_utf8(raw)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            if !looks_like_version(&v) {
                return Err(self.protocol(format!(
                    "expected a Python version after the ready marker EC0, got \"{}\"",
                    text::quote(raw, text::QUOTE_MAX)
                )));
            }
            let rest = line[nl + 1..].to_vec();
            let before = self.pre[..p].to_vec();
            keep_tail(&mut self.noise, &before);
            self.pre = rest;
            let Some(want) = stage2_for(&v) else {
                return Err(Error::PythonTooOld {
                    context: self.name.clone(),
                    version: v,
                });
            };
            self.version = Some(v);
            self.choose_stage2(want)?;
            self.phase = Phase::AwaitStage2;
            if self.stdio_on_pty {
                // Stage 1 runs: from now on the terminal carries binary data.
                crate::sys::pty::make_raw(&self.io).map_err(|e| Error::io("raw mode", e))?;
            }
        } else if self.phase == Phase::AwaitStage2 {
            self.pre.extend_from_slice(data);
        }
        if self.phase == Phase::AwaitStage2 {
            let k = self.pre.len().min(MARK_STAGE2.len());
            if self.pre[..k] != MARK_STAGE2[..k] {
                return Err(self.protocol(format!(
                    "after EC0 only the stage-2 marker EC1 may come, got \"{}\"",
                    text::quote(&self.pre, text::QUOTE_MAX)
                )));
            }
            if k < MARK_STAGE2.len() {
                return Ok(None);
            }
            let rest = self.pre.split_off(MARK_STAGE2.len());
            self.pre = Vec::new();
            self.phase = Phase::Up;
            if let Some((done, _, _)) = self.connect.take() {
                done.set(Ok(()));
            }
            return Ok(Some(rest));
        }
        Ok(Some(data.to_vec()))
    }

    /// Stage 1 named its Python: make sure the stage 2 it gets is the one for it (`want`). Not
    /// sent yet: swap it in place (both have one length). Sent already: fail, marked
    /// [`Conn::wrong_stub`], and the broker starts the context again.
    fn choose_stage2(&mut self, want: Stage2) -> Result<(), Error> {
        match (&mut self.stage2, self.sent) {
            (_, None) => {}
            (_, Some(s)) if s == want => {}
            (Some(b), Some(_)) => {
                let bytes = want.bytes();
                b[..bytes.len()].copy_from_slice(bytes);
                self.sent = Some(want);
            }
            (None, Some(_)) => {
                self.wrong_stub = true;
                return Err(Error::Bootstrap {
                    context: self.name.clone(),
                    reason: "its python needs the other stage 2, sent before stage 1 named it"
                        .into(),
                    version: self.version.clone(),
                    output: self.output(),
                });
            }
        }
        Ok(())
    }

    /// The connect latch, taken (to start the context again under the same handle).
    pub fn take_done(&mut self) -> Option<Arc<Latch<Result<(), Error>>>> {
        self.connect.take().map(|c| c.0)
    }

    /// A bootstrap that broke the protocol (bounded, printable detail).
    fn protocol(&self, detail: String) -> Error {
        Error::Bootstrap {
            context: self.name.clone(),
            reason: format!("protocol error: {detail}"),
            version: self.version.clone(),
            output: self.output(),
        }
    }

    pub fn queue(&mut self, frame: Frame) {
        self.out.push_back(frame.header.emit().to_vec());
        if !frame.body.is_empty() {
            self.out.push_back(frame.body);
        }
    }

    /// Write as much as the socket takes now.
    pub fn flush(&mut self) -> std::io::Result<()> {
        while !self.out.is_empty() && (self.stage2.is_none()) {
            let slices: Vec<IoSlice<'_>> = self
                .out
                .iter()
                .take(32)
                .enumerate()
                .map(|(i, b)| IoSlice::new(if i == 0 { &b[self.out_off..] } else { b }))
                .collect();
            let mut n = match (&self.io_out).write_vectored(&slices) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            while n > 0 {
                let left = self.out[0].len() - self.out_off;
                if n >= left {
                    n -= left;
                    self.out.pop_front();
                    self.out_off = 0;
                } else {
                    self.out_off += n;
                    n = 0;
                }
            }
        }
        Ok(())
    }

    /// Read stderr; returns complete lines, or the failure it revealed while connecting.
    pub fn read_stderr(&mut self) -> Result<Vec<String>, Error> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 8192];
        while let Some(f) = &mut self.stderr {
            match f.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    break;
                }
                Ok(n) => {
                    keep_tail(&mut self.err, &buf[..n]);
                    if self.phase != Phase::Up {
                        // Some programs prompt on stderr (su).
                        self.watch_output(&buf[..n])?;
                    }
                    self.err_partial.extend_from_slice(&buf[..n]);
                    while let Some(i) = self.err_partial.iter().position(|b| *b == b'\n') {
                        let l: Vec<u8> = self.err_partial.drain(..=i).collect();
                        lines.push(String::from_utf8_lossy(&l[..i]).into_owned());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stderr = None;
                    break;
                }
            }
        }
        Ok(lines)
    }

    /// Read the pty: answer prompts, recognise failures.
    pub fn read_pty(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 4096];
        loop {
            let Some(f) = &mut self.pty else {
                return Ok(());
            };
            match f.read(&mut buf) {
                Ok(0) => self.pty = None,
                Ok(n) => {
                    keep_tail(&mut self.noise, &buf[..n]);
                    if self.phase != Phase::Up {
                        self.watch_output(&buf[..n])?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // EIO: the last process holding the terminal is gone.
                Err(_) => self.pty = None,
            }
        }
    }

    /// Feed output to the prompt/failure watcher; type answers into the terminal.
    fn watch_output(&mut self, data: &[u8]) -> Result<(), Error> {
        let a = self.watch.feed(data);
        self.act(a)
    }

    fn act(&mut self, a: Action) -> Result<(), Error> {
        match a {
            Action::Wait => Ok(()),
            Action::Ask(prompted) => {
                let (user, host) = crate::connect::bootstrap::user_and_host();
                self.ask = Some(PasswordRequest::new(
                    &self.name,
                    self.kind,
                    &self.whose,
                    &user,
                    &host,
                    &prompted,
                ));
                Ok(())
            }
            Action::Answer(a) => {
                let target = self.pty.as_ref().unwrap_or(&self.io_out);
                let mut t: &File = target;
                t.write_all(&a)
                    .map_err(|e| Error::io("typing the password", e))
            }
            Action::Fail(failure) => Err(Error::Connect {
                context: self.name.clone(),
                failure,
                output: self.output(),
            }),
        }
    }

    pub fn kill(&mut self) {
        crate::sys::process::kill_group(self.child.id());
        let _ = self.child.kill();
    }

    pub fn fail_connect(&mut self, e: Error) {
        if let Some((done, _, _)) = self.connect.take() {
            done.set(Err(e));
        }
    }

    /// The last lines printed (stdout noise, pty, stderr): passwords removed, bounded and
    /// printable.
    fn output(&self) -> String {
        let mut s = self.noise.clone();
        if self.phase == Phase::AwaitStage1 {
            s.extend_from_slice(&self.pre[self.pre.len().saturating_sub(TAIL)..]);
        }
        if !s.is_empty() && !s.ends_with(b"\n") {
            s.push(b'\n');
        }
        s.extend_from_slice(&self.err);
        // Redact before cutting, so a cut can never leave part of a password behind.
        text::tail(&self.watch.redact_bytes(&s))
    }

    pub fn timeout_error(&self) -> Error {
        let after = self.connect.as_ref().map(|c| c.2).unwrap_or_default();
        Error::ConnectTimeout {
            context: self.name.clone(),
            after,
            output: self.output(),
        }
    }

    /// The stream is over: collect the last output, fail a pending connect, say why.
    pub fn end(&mut self, reason: String) -> String {
        // Whatever the process wrote before it went still counts (its version, its noise),
        // even when we noticed its end through a failed write or its exit status first.
        if self.phase != Phase::Up {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = (&self.io).read(&mut buf) {
                if let Err(e) = self.boot(&buf[..n]) {
                    self.fail_connect(e);
                }
            }
        }
        // What it wrote on stderr until now (the broker waited for the rest, up to a
        // deadline, polling: it never sleeps).
        let _ = self.read_stderr();
        let status = self.child.try_wait().ok().flatten();
        let output = self.output();
        if let (Some(failure), true) = (self.watch.failure, self.connect.is_some()) {
            self.fail_connect(Error::Connect {
                context: self.name.clone(),
                failure,
                output,
            });
            return reason;
        }
        if self.connect.is_some() {
            let mut why = match status {
                Some(s) => format!("the process exited ({s}) before the stub was ready"),
                None => reason.clone(),
            };
            if output.contains("not found") && self.version.is_none() {
                why = "no python interpreter found (pass the interpreter path)".into();
            }
            let e = Error::Bootstrap {
                context: self.name.clone(),
                reason: why,
                version: self.version.clone(),
                output,
            };
            self.fail_connect(e);
            return reason;
        }
        match (status, output.trim().is_empty()) {
            (_, false) => format!("{reason}; last output:\n{output}"),
            (Some(s), true) => format!("{reason} ({s})"),
            (None, true) => reason,
        }
    }
}

/// `3.11.2`, `2.7.18+`, `3.13.0rc1`: digits first, then digits, letters, `.` and `+` only.
fn looks_like_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.contains('.')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '+')
}

/// The position of `pat` at the start of a line of `hay`.
fn find_line_start(hay: &[u8], pat: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + pat.len() <= hay.len() {
        if hay[i..].starts_with(pat) && (i == 0 || hay[i - 1] == b'\n') {
            return Some(i);
        }
        i += 1;
    }
    None
}
