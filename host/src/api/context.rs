//! A context: calls into one remote interpreter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use econtext_core::body::{Body, Call};
use econtext_core::{handle, ContextId, Frame, Header, Value};

use crate::broker::registry::Slot;
use crate::broker::{CallResult, Cmd, Latch, Shared};
use crate::Error;

/// How long [`Context::shutdown`] waits for a clean exit before killing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running remote (or local) interpreter. Cheap to clone; all clones address the same one.
#[derive(Clone)]
pub struct Context {
    id: ContextId,
    name: Arc<str>,
    shared: Arc<Shared>,
    gone: Arc<Latch<String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({}, {})", self.id, self.name)
    }
}

/// Split `module.function` at its last dot.
pub(crate) fn split_function(f: &str) -> Result<(&str, &str), Error> {
    match f.rsplit_once('.') {
        Some((m, n)) if !m.is_empty() && !n.is_empty() => Ok((m, n)),
        _ => Err(Error::Usage(format!(
            "function {f:?} must be a dotted module.function name, e.g. os.getpid or os.path.join"
        ))),
    }
}

impl Context {
    pub(crate) fn new(
        id: ContextId,
        name: String,
        shared: Arc<Shared>,
        gone: Arc<Latch<String>>,
    ) -> Context {
        Context {
            id,
            name: name.into(),
            shared,
            gone,
        }
    }

    /// The largest message body this router sends or accepts (`RouterOptions::max_frame`).
    pub(crate) fn max_frame(&self) -> u32 {
        self.shared.max_frame
    }

    /// The context id.
    pub fn id(&self) -> ContextId {
        self.id
    }

    /// The context name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Call `module.function(*args)` and wait for the result, without a timeout.
    pub fn call(&self, function: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.build(function)?.args(args).call()
    }

    /// Call `module.function(*args)` without waiting: wait on the handle later, so one thread
    /// can keep calls running on many contexts at once.
    pub fn call_async(&self, function: &str, args: Vec<Value>) -> Result<CallHandle, Error> {
        self.build(function)?.args(args).spawn()
    }

    /// Call `module.function(*args)` and ask for no answer (exceptions are only logged remotely).
    pub fn call_no_reply(&self, function: &str, args: Vec<Value>) -> Result<(), Error> {
        self.build(function)?.args(args).no_reply()
    }

    /// Start building a call to `module.function` (for kwargs, a timeout, or async use).
    pub fn build(&self, function: &str) -> Result<CallBuilder<'_>, Error> {
        let (m, f) = split_function(function)?;
        Ok(CallBuilder {
            ctx: self,
            call: Call {
                module: m.into(),
                function: f.into(),
                args: vec![],
                kwargs: vec![],
            },
            timeout: None,
        })
    }

    fn send(&self, call: &Call, reply_to: u32) -> Result<(), Error> {
        let body = call
            .encode()
            .map_err(|e| Error::Usage(format!("cannot encode the call: {e}")))?;
        let h = Header {
            dst: self.id,
            handle: handle::CALL,
            reply_to,
            ..Header::default()
        };
        if body.len() > self.shared.max_frame as usize {
            return Err(Error::TooLarge {
                what: "the call's arguments".into(),
                size: body.len(),
                max: self.shared.max_frame,
            });
        }
        let frame = Frame::new(h, body).map_err(|e| Error::Usage(e.to_string()))?;
        if let Some(reason) = self.gone.try_peek() {
            return Err(Error::Disconnected {
                context: self.name.to_string(),
                reason,
            });
        }
        self.shared.submit(Cmd::Send(frame));
        Ok(())
    }

    /// A fresh reply handle, registered as waiting for an answer from this context.
    fn pending(&self) -> (u32, Arc<Latch<CallResult>>) {
        let reply_to = self.shared.handle();
        let latch = Arc::new(Latch::default());
        // Commands are handled in order: the handle is registered before the call goes out.
        self.shared.submit(Cmd::Expect {
            handle: reply_to,
            slot: Slot::Reply {
                ctx: self.id,
                latch: latch.clone(),
            },
        });
        (reply_to, latch)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn gone_reason(&self) -> Option<String> {
        self.gone.try_peek()
    }

    /// Send a reserved-handle request to this context and wait for its `Reply`.
    pub(crate) fn request(
        &self,
        handle: u32,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let (reply_to, latch) = self.pending();
        let h = Header {
            dst: self.id,
            handle,
            reply_to,
            ..Header::default()
        };
        let frame = Frame::new(h, body).map_err(|e| Error::Usage(e.to_string()))?;
        self.shared.submit(Cmd::Send(frame));
        CallHandle {
            latch,
            handle: reply_to,
            shared: self.shared.clone(),
            context: self.name.clone(),
            deadline: Some((Instant::now() + timeout, timeout)),
        }
        .wait()
    }

    /// Ask the context to exit and wait for it (killing it after 2 s).
    pub fn shutdown(&self) -> Result<(), Error> {
        self.ask_shutdown();
        self.finish_shutdown(Instant::now() + SHUTDOWN_GRACE);
        Ok(())
    }

    /// Send the shutdown message without waiting (many contexts at once: then
    /// [`Context::finish_shutdown`] each).
    pub(crate) fn ask_shutdown(&self) {
        let h = Header {
            dst: self.id,
            handle: handle::SHUTDOWN,
            ..Header::default()
        };
        if let Ok(f) = Frame::new(h, Vec::new()) {
            self.shared.submit(Cmd::Send(f));
        }
    }

    /// Wait until the context is gone or `deadline` passes, then kill it if it is not.
    pub(crate) fn finish_shutdown(&self, deadline: Instant) {
        if self.gone.wait_peek(Some(deadline)).is_none() {
            self.kill();
            self.gone.wait_peek(Some(Instant::now() + SHUTDOWN_GRACE));
        }
    }

    /// Kill the context's process (and the programs it started) now.
    pub fn kill(&self) {
        self.shared.submit(Cmd::Kill(self.id));
    }

    /// True once the context has disconnected.
    pub fn is_gone(&self) -> bool {
        self.gone.try_peek().is_some()
    }
}

/// A call being built. Finish with [`call`](CallBuilder::call),
/// [`spawn`](CallBuilder::spawn) or [`no_reply`](CallBuilder::no_reply).
pub struct CallBuilder<'a> {
    ctx: &'a Context,
    call: Call,
    timeout: Option<Duration>,
}

impl CallBuilder<'_> {
    /// Append a positional argument.
    pub fn arg(mut self, v: impl Into<Value>) -> Self {
        self.call.args.push(v.into());
        self
    }

    /// Append positional arguments.
    pub fn args(mut self, v: Vec<Value>) -> Self {
        self.call.args.extend(v);
        self
    }

    /// Add a keyword argument.
    pub fn kwarg(mut self, name: impl Into<String>, v: impl Into<Value>) -> Self {
        self.call.kwargs.push((name.into(), v.into()));
        self
    }

    /// Fail with [`Error::Timeout`] when no answer arrives in time.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Send and wait for the result.
    pub fn call(self) -> Result<Value, Error> {
        self.spawn()?.wait()
    }

    /// Send and return a handle to wait on later: one thread can drive many contexts.
    pub fn spawn(self) -> Result<CallHandle, Error> {
        let (reply_to, latch) = self.ctx.pending();
        if let Err(e) = self.ctx.send(&self.call, reply_to) {
            self.ctx.shared.submit(Cmd::Release(reply_to));
            return Err(e);
        }
        Ok(CallHandle {
            latch,
            handle: reply_to,
            shared: self.ctx.shared.clone(),
            context: self.ctx.name.clone(),
            deadline: self.timeout.map(|t| (Instant::now() + t, t)),
        })
    }

    /// Send without asking for an answer.
    pub fn no_reply(self) -> Result<(), Error> {
        self.ctx.send(&self.call, 0)
    }
}

/// A call in flight.
pub struct CallHandle {
    latch: Arc<Latch<CallResult>>,
    handle: u32,
    shared: Arc<Shared>,
    context: Arc<str>,
    deadline: Option<(Instant, Duration)>,
}

impl CallHandle {
    /// Wait for the result (or the call's timeout).
    pub fn wait(self) -> Result<Value, Error> {
        match self.latch.wait(self.deadline.map(|d| d.0)) {
            Some(r) => r,
            None => {
                self.shared.submit(Cmd::Release(self.handle));
                let after = self.deadline.map(|d| d.1).unwrap_or_default();
                Err(Error::Timeout {
                    context: self.context.to_string(),
                    after,
                })
            }
        }
    }

    /// Wait for the result at most `t` (then [`Error::Timeout`]; the call goes on there).
    pub fn wait_for(mut self, t: Duration) -> Result<Value, Error> {
        let d = Instant::now() + t;
        self.deadline = Some(match self.deadline {
            Some((old, _)) if old < d => (old, t),
            _ => (d, t),
        });
        self.wait()
    }

    /// The result if it arrives within `timeout` (once: it is taken). `None` leaves the call
    /// waiting, its handle still valid (unlike [`CallHandle::wait_for`]), and a [`crate::Select`]
    /// watching it still told: a caller can wait in slices (the Python binding does, to let
    /// Ctrl-C through).
    pub fn poll(&self, timeout: Duration) -> Option<Result<Value, Error>> {
        self.latch.wait(Some(Instant::now() + timeout))
    }

    /// The result if it has arrived (once: it is taken).
    pub fn try_result(&self) -> Option<Result<Value, Error>> {
        self.latch.try_take()
    }

    /// When the call's timeout passes, if it has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|d| d.0)
    }

    /// Give up on the answer (its timeout passed): the late reply is dropped.
    pub(crate) fn expire(self) -> Error {
        self.shared.submit(Cmd::Release(self.handle));
        Error::Timeout {
            context: self.context.to_string(),
            after: self.deadline.map(|d| d.1).unwrap_or_default(),
        }
    }

    pub(crate) fn watch(&self, ready: Arc<crate::broker::notify::Ready>, token: usize) {
        self.latch.watch.set(ready.clone(), token);
        if self.latch.is_set() {
            ready.push(token);
        }
    }
}
