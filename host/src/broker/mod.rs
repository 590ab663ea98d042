//! The broker: one IO thread running a poll(2) loop over every connection, woken by a
//! self-pipe when API threads hand it work. API threads never touch a connection's fds.

mod conn;
pub mod latch;
mod module_thread;
pub mod notify;
pub(crate) mod registry;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use econtext_core::body::{
    Body, DeadLetter, DeadReason, LogRecord, ModuleRequest, Reply, RouteAdd, RouteDel,
};
use econtext_core::router::{Decision, Origin, Router as Routes, StreamId};
use econtext_core::{handle, ContextId, Frame, Handle, Header, Value};

use crate::connect::Recipe;
use crate::log::{LogEvent, LogSink};
use crate::sys::poll::{self, PollFd};
use crate::Error;
use conn::{Conn, Phase};
pub use latch::Latch;

/// The answer an API thread waits for.
pub(crate) type CallResult = Result<Value, Error>;

/// Work handed to the broker thread.
pub(crate) enum Cmd {
    /// Start a context.
    Connect {
        id: ContextId,
        recipe: Box<Recipe>,
        /// Namespaces to enter (setns), resolved by the caller's thread.
        enter: Option<Box<crate::connect::setns::Resolved>>,
        /// Stage 2 compiled for this interpreter (else the source is sent).
        stage2: Option<Arc<Vec<u8>>>,
        done: Arc<Latch<Result<(), Error>>>,
        gone: Arc<Latch<String>>,
    },
    /// Route a frame produced by this process.
    Send(Frame),
    /// Register a dynamic handle (before the frame that hands it out is sent).
    Expect {
        handle: Handle,
        slot: registry::Slot,
    },
    /// Forget a dynamic handle (a call timed out, a receiver or sender was dropped).
    Release(Handle),
    /// Know a context that another context is about to start (`via`).
    Adopt {
        id: ContextId,
        name: String,
        gone: Arc<Latch<String>>,
    },
    /// Forget a context that never came up.
    Forget(ContextId),
    /// Kill a context's process (and its process group).
    Kill(ContextId),
    /// A person answered a password prompt of a connection that is coming up.
    Answer {
        id: ContextId,
        password: Option<crate::Password>,
    },
    /// Shut everything down and end the thread.
    Stop,
}

/// State shared by the API threads and the broker thread.
pub(crate) struct Shared {
    cmds: Mutex<Vec<Cmd>>,
    wake_tx: UnixStream,
    next_handle: AtomicU32,
    next_id: AtomicU32,
    pub sink: LogSink,
    pub log_level: u32,
    pub max_frame: u32,
    /// Heartbeat interval (zero: none).
    pub heartbeat: Duration,
    pub modules: Arc<crate::modules::ModuleServer>,
    /// Top-level names the module server serves, listed once at router start.
    pub served: Vec<String>,
    /// Asks a person for a password when a hop prompts and none was given.
    pub ask: Option<crate::connect::watch::AskPassword>,
    /// Module requests answered (each is one round trip for a context).
    pub module_requests: std::sync::atomic::AtomicU64,
    /// The open-file limit in force (raised from soft to hard at start).
    pub fd_limit: u64,
    /// Stage 2 compiled per local interpreter.
    pub compiled: crate::connect::compiled::Cache,
}

impl Shared {
    /// Queue work and wake the broker.
    pub fn submit(&self, cmd: Cmd) {
        let mut q = self.cmds.lock().unwrap_or_else(|e| e.into_inner());
        let wake = q.is_empty();
        q.push(cmd);
        drop(q);
        // The broker takes the whole queue at once after draining the waker: one byte per
        // batch is enough (a byte per command would cost a syscall and a wake-up each).
        if wake {
            let _ = (&self.wake_tx).write_all_nonblocking();
        }
    }

    /// A fresh dynamic handle.
    pub fn handle(&self) -> Handle {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }

    /// What a new context reads first: stage 2 (`stage2`: deflated source, or a marshal
    /// stream for a local interpreter), then its `Init` frame.
    pub fn boot(&self, stage2: &[u8], id: ContextId, parent: ContextId, name: &str) -> Vec<u8> {
        let init = econtext_core::body::Init {
            id,
            parent,
            name: name.to_string(),
            log_level: self.log_level,
            max_frame: self.max_frame,
            heartbeat_ms: u32::try_from(self.heartbeat.as_millis()).unwrap_or(u32::MAX),
            served: self.served.clone(),
        };
        let mut boot = stage2.to_vec();
        let h = Header {
            dst: id,
            handle: handle::INIT,
            ..Header::default()
        };
        if let Ok(f) = init.encode().and_then(|b| Frame::new(h, b)) {
            boot.extend_from_slice(&f.encode());
        }
        boot
    }

    /// A fresh context id.
    pub fn context_id(&self) -> ContextId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

trait WakeWrite {
    fn write_all_nonblocking(self) -> std::io::Result<()>;
}

impl WakeWrite for &UnixStream {
    fn write_all_nonblocking(self) -> std::io::Result<()> {
        use std::io::Write;
        // A full socket already guarantees a wake-up; dropping the byte is fine.
        let mut s = self;
        match s.write(&[1]) {
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }
}

/// Start the broker thread.
pub(crate) fn start(
    sink: LogSink,
    log_level: u32,
    max_frame: u32,
    modules: crate::modules::ModuleServer,
    ask: Option<crate::connect::watch::AskPassword>,
    heartbeat: Duration,
    raise_fd_limit: bool,
) -> Result<(Arc<Shared>, std::thread::JoinHandle<()>), Error> {
    let fd_limit = if raise_fd_limit {
        crate::sys::rlimit::raise_nofile()
    } else {
        crate::sys::rlimit::current()
    };
    let (wake_rx, wake_tx) = UnixStream::pair()?;
    wake_rx.set_nonblocking(true)?;
    wake_tx.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        cmds: Mutex::new(Vec::new()),
        wake_tx,
        next_handle: AtomicU32::new(handle::FIRST_DYNAMIC),
        next_id: AtomicU32::new(1),
        sink,
        log_level,
        max_frame,
        heartbeat,
        served: modules.served(),
        modules: Arc::new(modules),
        ask,
        module_requests: Default::default(),
        fd_limit,
        compiled: Default::default(),
    });
    let mut broker = Broker {
        shared: shared.clone(),
        wake_rx,
        conns: BTreeMap::new(),
        registry: registry::Registry::default(),
        routes: Routes::root(),
        contexts: HashMap::new(),
        next_beat: Instant::now(),
        dying: Vec::new(),
        closing: BTreeMap::new(),
        modules: None,
        module_thread: None,
        stopping: None,
        buf: vec![0; 256 * 1024],
        old_pythons: Default::default(),
    };
    let (jobs, module_thread) = module_thread::start(shared.clone())?;
    broker.modules = Some(jobs);
    broker.module_thread = Some(module_thread);
    let t = std::thread::Builder::new()
        .name("econtext-broker".into())
        .spawn(move || broker.run())?;
    Ok((shared, t))
}

struct Broker {
    shared: Arc<Shared>,
    wake_rx: UnixStream,
    conns: BTreeMap<StreamId, Conn>,
    /// Every live dynamic handle: replies, inboxes, outboxes.
    registry: registry::Registry,
    routes: Routes,
    /// One record per context, direct or behind another.
    contexts: HashMap<ContextId, Record>,
    next_beat: Instant,
    dying: Vec<(std::process::Child, Instant)>,
    /// Connections whose stream ended, still read for the last words on stderr (a
    /// traceback) until it closes or a deadline passes; then they are finished.
    closing: BTreeMap<StreamId, (Conn, String, Instant)>,
    /// The module thread's queue (module requests are file IO: never on this thread).
    modules: Option<std::sync::mpsc::Sender<module_thread::Job>>,
    module_thread: Option<std::thread::JoinHandle<()>>,
    stopping: Option<Instant>,
    buf: Vec<u8>,
    /// Start commands found to run a Python 2.4-2.6: they get its stage 2 at once next time
    /// (the first start sent the modern one and was started again).
    old_pythons: Vec<Vec<String>>,
}

/// Everything the broker knows about one context, direct or behind another (where it lives,
/// its routes, is in `routes`; what waits on it, in the registry).
struct Record {
    /// Its full name (`ssh:bastion/sudo:app`).
    name: String,
    /// Set with the reason when it is gone.
    gone: Arc<Latch<String>>,
    /// When it was last heard from, once it is up (heartbeats run on these).
    seen: Option<Instant>,
}

/// How long a context may take to exit after its stream ends before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(1);
/// How long a connection whose stream ended is still read for its last stderr lines.
const LAST_WORDS: Duration = Duration::from_millis(200);

impl Broker {
    fn run(&mut self) {
        crate::sys::process::ignore_sigpipe();
        loop {
            if let Some(deadline) = self.stopping {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    let ids: Vec<StreamId> = self.conns.keys().copied().collect();
                    for sid in ids {
                        self.kill(sid);
                        self.close(sid, "router shut down".into());
                    }
                    let closing: Vec<StreamId> = self.closing.keys().copied().collect();
                    for sid in closing {
                        self.finish(sid);
                    }
                    for (mut c, _) in self.dying.drain(..) {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    self.modules = None;
                    if let Some(t) = self.module_thread.take() {
                        let _ = t.join();
                    }
                    return;
                }
            }
            let (sids, mut fds) = self.poll_set();
            let _ = poll::poll(&mut fds, self.poll_timeout());
            if fds[0].readable() {
                self.drain_wake();
                let cmds = std::mem::take(
                    &mut *self.shared.cmds.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for cmd in cmds {
                    self.command(cmd);
                }
            }
            for (i, (sid, what)) in sids.iter().enumerate() {
                let p = fds[i + 1];
                match what {
                    Watch::Io if p.readable() => self.read_io(*sid),
                    Watch::Out if p.writable() => self.flush(*sid),
                    Watch::Stderr if p.readable() => self.read_stderr(*sid),
                    Watch::Pty if p.readable() => self.read_pty(*sid),
                    Watch::LastWords if p.readable() => self.read_last_words(*sid),
                    Watch::Exited if p.readable() => self.process_exited(*sid),
                    _ => {}
                }
            }
            self.asks();
            self.timers();
        }
    }

    /// Connections waiting for a person to type a password: ask on a thread of its own, so
    /// the broker keeps serving every other connection meanwhile.
    fn asks(&mut self) {
        let Some(ask) = self.shared.ask.clone() else {
            return;
        };
        for (sid, c) in self.conns.iter_mut() {
            let Some(req) = c.take_ask() else { continue };
            let (shared, ask, id) = (self.shared.clone(), ask.clone(), *sid);
            let asked = std::thread::Builder::new()
                .name("econtext-ask".into())
                .spawn(move || {
                    let password = ask(&req);
                    shared.submit(Cmd::Answer { id, password });
                });
            if asked.is_err() {
                self.shared.submit(Cmd::Answer {
                    id: *sid,
                    password: None,
                });
            }
        }
    }

    fn poll_set(&self) -> (Vec<(StreamId, Watch)>, Vec<PollFd>) {
        let mut sids = Vec::with_capacity(self.conns.len() * 2);
        let mut fds = Vec::with_capacity(self.conns.len() * 2 + 1);
        fds.push(PollFd::new(self.wake_rx.as_fd(), poll::IN));
        for (sid, c) in &self.conns {
            fds.push(PollFd::new(c.io.as_fd(), poll::IN));
            sids.push((*sid, Watch::Io));
            if c.wants_write() {
                fds.push(PollFd::new(c.io_out.as_fd(), poll::OUT));
                sids.push((*sid, Watch::Out));
            }
            if let Some(e) = &c.stderr {
                fds.push(PollFd::new(e.as_fd(), poll::IN));
                sids.push((*sid, Watch::Stderr));
            }
            if let Some(p) = &c.pty {
                fds.push(PollFd::new(p.as_fd(), poll::IN));
                sids.push((*sid, Watch::Pty));
            }
            if let (Some(x), Phase::Up) = (&c.exited, c.phase) {
                fds.push(PollFd::new(x.as_fd(), poll::IN));
                sids.push((*sid, Watch::Exited));
            }
        }
        for (sid, (c, _, _)) in &self.closing {
            if let Some(e) = &c.stderr {
                fds.push(PollFd::new(e.as_fd(), poll::IN));
                sids.push((*sid, Watch::LastWords));
            }
        }
        (sids, fds)
    }

    fn poll_timeout(&self) -> i32 {
        let now = Instant::now();
        let mut next: Option<Instant> = self.stopping;
        for (_, _, d) in self.closing.values() {
            next = Some(next.map_or(*d, |n| n.min(*d)));
        }
        for c in self.conns.values() {
            if let Some(d) = c.deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        if !self.shared.heartbeat.is_zero() && self.contexts.values().any(|r| r.seen.is_some()) {
            next = Some(next.map_or(self.next_beat, |n| n.min(self.next_beat)));
        }
        if !self.dying.is_empty() || self.conns.values().any(|c| c.phase != Phase::Up) {
            let d = now + Duration::from_millis(20);
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        match next {
            None => -1,
            Some(d) => d.saturating_duration_since(now).as_millis().min(60_000) as i32 + 1,
        }
    }

    fn drain_wake(&mut self) {
        let mut b = [0u8; 256];
        while matches!((&self.wake_rx).read(&mut b), Ok(n) if n == b.len()) {}
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Connect {
                id,
                recipe,
                enter,
                stage2,
                done,
                gone,
            } => self.connect(id, *recipe, enter, stage2, done, gone),
            Cmd::Send(frame) => self.route(Origin::Local, frame),
            Cmd::Expect { handle, slot } => {
                // A context that went before this got here: what waits on it ends now.
                let peer = slot.peer();
                self.registry.insert(handle, slot);
                if !self.contexts.contains_key(&peer) {
                    self.registry.gone(
                        &[peer],
                        |c| format!("context{c}"),
                        "it disconnected before the call or channel was set up",
                    );
                }
            }
            Cmd::Release(h) => {
                self.registry.remove(h);
            }
            Cmd::Adopt { id, name, gone } => {
                self.contexts.insert(
                    id,
                    Record {
                        name,
                        gone,
                        seen: None,
                    },
                );
            }
            Cmd::Forget(id) => {
                if self.routes.route_of(id).is_none() {
                    self.contexts.remove(&id);
                }
            }
            Cmd::Kill(id) if self.conns.contains_key(&id) => self.kill(id),
            Cmd::Answer { id, password } => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return;
                };
                if let Err(e) = c.answer(password) {
                    self.kill(id);
                    self.fail_boot(id, e);
                }
            }
            Cmd::Kill(id) => {
                // Behind another context: its parent stub cannot be asked to SIGKILL, but the
                // context's IO thread exits on SHUTDOWN even while a call is hung.
                let h = Header {
                    dst: id,
                    handle: handle::SHUTDOWN,
                    ..Header::default()
                };
                if let Ok(f) = Frame::new(h, Vec::new()) {
                    self.route(Origin::Local, f);
                }
            }
            Cmd::Stop => {
                self.stopping = Some(Instant::now() + EXIT_GRACE);
                let ids: Vec<(StreamId, ContextId)> =
                    self.conns.iter().map(|(s, c)| (*s, c.id)).collect();
                for (sid, id) in ids {
                    if self.conns.get(&sid).is_some_and(|c| c.phase == Phase::Up) {
                        let h = Header {
                            dst: id,
                            handle: handle::SHUTDOWN,
                            ..Header::default()
                        };
                        if let Ok(f) = Frame::new(h, Vec::new()) {
                            self.write_frame(sid, f);
                        }
                    } else {
                        self.kill(sid);
                    }
                }
            }
        }
    }

    fn connect(
        &mut self,
        id: ContextId,
        recipe: Recipe,
        enter: Option<Box<crate::connect::setns::Resolved>>,
        stage2: Option<Arc<Vec<u8>>>,
        done: Arc<Latch<Result<(), Error>>>,
        gone: Arc<Latch<String>>,
    ) {
        let argv: Vec<std::ffi::OsString> = recipe.argv.iter().map(Into::into).collect();
        let restart = enter.is_none().then(|| Box::new(recipe.clone()));
        let enter = enter.map(|r| (r.plan, r.env));
        let spawned = match crate::sys::process::spawn(
            &argv,
            recipe.arg0.as_deref(),
            &recipe.env,
            recipe.pty,
            recipe.stdio_on_pty,
            enter,
        ) {
            Ok(s) => s,
            Err(e) => {
                let program = recipe.argv[0].clone();
                done.set(Err(match recipe.program_missing {
                    Some(failure) if e.kind() == std::io::ErrorKind::NotFound => Error::Connect {
                        context: recipe.name.clone(),
                        failure,
                        output: format!("cannot run {program}: {e}"),
                    },
                    _ => Error::Spawn {
                        program,
                        reason: crate::error::IoError {
                            doing: String::new(),
                            source: Arc::new(e),
                        },
                    },
                }));
                gone.set("never started".into());
                return;
            }
        };
        use crate::connect::bootstrap::Stage2;
        let stub = if self.old_pythons.contains(&recipe.argv) {
            Stage2::Old
        } else {
            Stage2::Modern
        };
        // The stub sent, unless the host's own interpreter compiled one for this Python.
        let sent = stage2.is_none().then_some(stub);
        let stage2 = stage2.as_deref().map_or(stub.bytes(), |v| v.as_slice());
        let boot = self.shared.boot(stage2, id, 0, &recipe.name);
        let sid: StreamId = id;
        self.contexts.insert(
            id,
            Record {
                name: recipe.name.clone(),
                gone: gone.clone(),
                seen: None,
            },
        );
        let conn = Conn::new(
            id,
            &recipe,
            spawned,
            boot,
            done,
            self.shared.max_frame,
            self.shared.ask.clone(),
        );
        let send_now = !recipe.wait_for_stage1;
        let mut conn = conn;
        conn.restart = restart;
        conn.sent = sent;
        self.conns.insert(sid, conn);
        self.routes.add_child(id, sid);
        if send_now {
            if let Some(c) = self.conns.get_mut(&sid) {
                c.release_stage2();
            }
            self.flush(sid);
        }
    }

    fn read_io(&mut self, sid: StreamId) {
        for _ in 0..16 {
            let Some(c) = self.conns.get_mut(&sid) else {
                return;
            };
            let n = match (&c.io).read(&mut self.buf) {
                Ok(0) => return self.close(sid, "the stream ended".into()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return self.close(sid, format!("read failed: {e}")),
            };
            let data = std::mem::take(&mut self.buf);
            self.ingest(sid, &data[..n]);
            self.buf = data;
            if n < self.buf.len() {
                return;
            }
        }
    }

    fn ingest(&mut self, sid: StreamId, mut data: &[u8]) {
        let Some(c) = self.conns.get_mut(&sid) else {
            return;
        };
        if c.phase != Phase::Up {
            match c.boot(data) {
                Ok(None) => {
                    if c.phase == Phase::AwaitStage2 && c.stage2_pending() {
                        c.release_stage2();
                        self.flush(sid);
                    }
                    return;
                }
                Ok(Some(rest)) => {
                    c.restart = None;
                    if let Some(r) = self.contexts.get_mut(&sid) {
                        r.seen = Some(Instant::now());
                    }
                    return self.frames(sid, &rest);
                }
                Err(e) => {
                    let restart = c.wrong_stub.then(|| c.restart.take()).flatten();
                    self.kill(sid);
                    if let Some(recipe) = restart {
                        return self.restart(sid, *recipe);
                    }
                    return self.fail_boot(sid, e);
                }
            }
        }
        if data.is_empty() {
            return;
        }
        self.frames(sid, std::mem::take(&mut data));
    }

    fn frames(&mut self, sid: StreamId, mut data: &[u8]) {
        loop {
            let Some(c) = self.conns.get_mut(&sid) else {
                return;
            };
            match c.decoder.feed(data) {
                econtext_core::Feed::Consumed => return,
                econtext_core::Feed::Frame { frame, rest } => {
                    data = rest;
                    self.route(Origin::Stream(sid), frame);
                }
                econtext_core::Feed::Error(e) => {
                    let name = c.name.clone();
                    self.kill(sid);
                    return self.close(sid, format!("protocol error from {name}: {e}"));
                }
            }
        }
    }

    fn route(&mut self, from: Origin, frame: Frame) {
        let h = frame.header;
        if let Origin::Stream(_) = from {
            if let Some(Record { seen: Some(t), .. }) = self.contexts.get_mut(&h.src) {
                *t = Instant::now();
            }
        }
        match self.routes.decide(&h, from) {
            Decision::Deliver => self.deliver(from, frame),
            Decision::Forward(sid) => self.write_frame(sid, frame),
            Decision::Reject(reason) => {
                let detail = match reason {
                    DeadReason::NoRoute => format!("no route to context {}", h.dst),
                    DeadReason::Refused => format!(
                        "context {} may not send to handle {} of context {}",
                        h.src, h.handle, h.dst
                    ),
                    _ => format!("{reason:?}"),
                };
                if let Some(dl) = self.routes.dead_letter(&h, reason, detail) {
                    self.route(Origin::Local, dl);
                }
            }
            Decision::Drop(_) => {}
        }
    }

    /// The name of context `id`, for logs and errors.
    fn name_of(&self, id: ContextId) -> String {
        self.contexts
            .get(&id)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| format!("context{id}"))
    }

    fn deliver(&mut self, from: Origin, frame: Frame) {
        let h = frame.header;
        if h.handle >= handle::FIRST_DYNAMIC {
            // The hot path (replies, channel items): no name looked up unless it fails.
            return self.dynamic(h, frame.body);
        }
        let name = self.name_of(h.src);
        match h.handle {
            handle::LOG => {
                if let Ok(r) = LogRecord::decode(&frame.body) {
                    (self.shared.sink)(&LogEvent {
                        context: name,
                        logger: r.logger,
                        level: r.level,
                        message: r.message,
                    });
                }
            }
            handle::GET_MODULE => {
                let (Origin::Stream(sid), Ok(req)) = (from, ModuleRequest::decode(&frame.body))
                else {
                    return;
                };
                self.shared.module_requests.fetch_add(1, Ordering::Relaxed);
                if self.shared.log_level <= 10 {
                    let message = format!("module request {}", req.fullname);
                    let ev = LogEvent {
                        context: name,
                        logger: "econtext.modules".into(),
                        level: 10,
                        message,
                    };
                    (self.shared.sink)(&ev);
                }
                if let Some(m) = &self.modules {
                    let _ = m.send(module_thread::Job::Request {
                        sid,
                        src: h.src,
                        reply_to: h.reply_to,
                        fullname: req.fullname,
                    });
                }
            }
            handle::ROUTE_ADD => {
                let (Origin::Stream(sid), Ok(r)) = (from, RouteAdd::decode(&frame.body)) else {
                    return;
                };
                if self.routes.accept_route_add(sid, r.id, r.parent) {
                    let parent = self
                        .contexts
                        .get(&r.parent)
                        .map(|p| p.name.clone())
                        .unwrap_or_default();
                    let rec = self.contexts.entry(r.id).or_insert_with(|| Record {
                        name: format!("{parent}/{}", r.name),
                        gone: Arc::default(),
                        seen: None,
                    });
                    rec.seen = Some(Instant::now());
                }
            }
            handle::ROUTE_DEL => {
                let (Origin::Stream(sid), Ok(r)) = (from, RouteDel::decode(&frame.body)) else {
                    return;
                };
                if self.routes.accept_route_del(sid, r.id) {
                    self.gone(
                        &[r.id],
                        "its parent context lost it (it exited or its connection broke)",
                    );
                }
            }
            _ => {}
        }
    }

    /// A frame for one of this host's dynamic handles.
    fn dynamic(&mut self, h: Header, body: Vec<u8>) {
        use econtext_core::body::Channel;
        use registry::Slot;
        let hd = h.handle;
        let name = || self.name_of(h.src);
        let dead = |body: &[u8]| match DeadLetter::decode(body) {
            Ok(d) if d.reason == DeadReason::Disconnected as u32 => Error::Disconnected {
                context: name(),
                reason: d.detail,
            },
            Ok(d) => Error::DeadLetter {
                kind: DeadReason::from_u32(d.reason),
                reason: d.detail,
            },
            Err(e) => Error::Protocol {
                context: name(),
                reason: e.to_string(),
            },
        };
        match self.registry.get(hd) {
            None => {
                // Nobody waits on that handle: say so when a reply is wanted.
                let detail = format!("no handle {hd}");
                if let Some(dl) = self.routes.dead_letter(&h, DeadReason::NoHandle, detail) {
                    self.route(Origin::Local, dl);
                }
            }
            Some(Slot::Reply { ctx, latch }) => {
                if !h.is_dead() && *ctx != h.src {
                    // A reply from a context that was not called: forged, keep waiting.
                    return;
                }
                let result = if h.is_dead() {
                    Err(dead(&body))
                } else {
                    match Reply::decode(&body) {
                        Ok(Reply::Ok(v)) => Ok(v),
                        Ok(Reply::Err(e)) => Err(Error::Remote(e)),
                        Err(e) => Err(Error::Protocol {
                            context: name(),
                            reason: format!("undecodable reply: {e}"),
                        }),
                    }
                };
                latch.set(result);
                self.registry.remove(hd);
            }
            Some(Slot::Inbox(ib)) => {
                let ib = ib.clone();
                if h.is_dead() {
                    ib.end(Err(dead(&body)));
                    self.registry.remove(hd);
                    return;
                }
                let len = body.len();
                match Channel::decode_owned(body) {
                    Ok(Channel::Data(v)) => {
                        if ib.data(h.src, h.reply_to, len, v).is_err() {
                            self.registry.remove(hd);
                            self.close_channel(h.src, h.reply_to, hd);
                        }
                    }
                    Ok(Channel::Close(e))
                        if ib.sender().is_none_or(|s| s == (h.src, h.reply_to)) =>
                    {
                        ib.end(match e {
                            None => Ok(()),
                            Some(e) => Err(Error::Remote(e)),
                        });
                        self.registry.remove(hd);
                    }
                    Ok(Channel::Credit(_)) => {
                        // A sender announcing itself before its first item.
                        if !ib.announce(h.src, h.reply_to) {
                            self.registry.remove(hd);
                            self.close_channel(h.src, h.reply_to, hd);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        ib.end(Err(Error::Protocol {
                            context: name(),
                            reason: format!("undecodable channel message: {e}"),
                        }));
                        self.registry.remove(hd);
                    }
                }
            }
            Some(Slot::Outbox(ob)) => {
                let ob = ob.clone();
                if h.is_dead() {
                    ob.end(dead(&body));
                    self.registry.remove(hd);
                    return;
                }
                match Channel::decode(&body) {
                    Ok(Channel::Credit(n)) => {
                        if ob.credit(h.src, h.reply_to, n) {
                            // Closed before the receiver announced itself: tell it now.
                            self.registry.remove(hd);
                            self.close_channel(h.src, h.reply_to, hd);
                        }
                    }
                    Ok(Channel::Close(_)) => {
                        ob.end(Error::ChannelClosed { context: name() });
                        self.registry.remove(hd);
                    }
                    Ok(Channel::Data(_)) => {}
                    Err(e) => {
                        ob.end(Error::Protocol {
                            context: name(),
                            reason: format!("undecodable channel message: {e}"),
                        });
                        self.registry.remove(hd);
                    }
                }
            }
        }
    }

    /// Tell the far end of a channel that this host closed it.
    fn close_channel(&mut self, dst: ContextId, dst_handle: Handle, me: Handle) {
        let msg = econtext_core::body::Channel::Close(None);
        if let Some(f) = registry::channel_frame((dst, dst_handle), me, &msg) {
            self.route(Origin::Local, f);
        }
    }

    fn write_frame(&mut self, sid: StreamId, frame: Frame) {
        let Some(c) = self.conns.get_mut(&sid) else {
            return;
        };
        c.queue(frame);
        if c.phase == Phase::Up || !c.stage2_pending() {
            self.flush(sid);
        }
    }

    fn flush(&mut self, sid: StreamId) {
        let Some(c) = self.conns.get_mut(&sid) else {
            return;
        };
        if let Err(e) = c.flush() {
            self.close(sid, format!("write failed: {e}"));
        }
    }

    fn read_stderr(&mut self, sid: StreamId) {
        let Some(c) = self.conns.get_mut(&sid) else {
            return;
        };
        let lines = match c.read_stderr() {
            Ok(lines) => lines,
            Err(e) => {
                self.kill(sid);
                return self.fail_boot(sid, e);
            }
        };
        if c.phase == Phase::Up {
            let name = c.name.clone();
            for l in lines {
                (self.shared.sink)(&LogEvent {
                    context: name.clone(),
                    logger: "stderr".into(),
                    level: 30,
                    message: l,
                });
            }
        }
    }

    fn read_pty(&mut self, sid: StreamId) {
        let Some(c) = self.conns.get_mut(&sid) else {
            return;
        };
        if let Err(e) = c.read_pty() {
            self.kill(sid);
            self.fail_boot(sid, e);
        }
    }

    fn kill(&mut self, sid: StreamId) {
        if let Some(c) = self.conns.get_mut(&sid) {
            c.kill();
        }
    }

    /// Start context `sid` again, with the stage 2 its Python named in its first start (which
    /// had been sent the other one: pipelined, before stage 1 said which Python it is). Its
    /// record, latches and pending calls stay; the first process is reaped.
    fn restart(&mut self, sid: StreamId, recipe: Recipe) {
        let Some(mut c) = self.conns.remove(&sid) else {
            return;
        };
        let (Some(done), Some(gone)) = (
            c.take_done(),
            self.contexts.get(&sid).map(|r| r.gone.clone()),
        ) else {
            return;
        };
        match self.old_pythons.iter().position(|a| *a == recipe.argv) {
            Some(i) => drop(self.old_pythons.swap_remove(i)),
            None => self.old_pythons.push(recipe.argv.clone()),
        }
        let _ = self.routes.remove_stream(sid);
        self.dying.push((c.child, Instant::now() + EXIT_GRACE));
        self.connect(sid, recipe, None, None, done, gone);
        // Once: a start command whose Python changes between two starts fails as it is.
        if let Some(c) = self.conns.get_mut(&sid) {
            c.restart = None;
        }
    }

    fn fail_boot(&mut self, sid: StreamId, e: Error) {
        if let Some(c) = self.conns.get_mut(&sid) {
            c.fail_connect(e.clone());
        }
        self.close(sid, e.to_string());
    }

    /// A stream ended: read what is left of its stderr (without waiting), then finish it at
    /// once, or once its stderr closes or [`LAST_WORDS`] passed, whichever comes first.
    fn close(&mut self, sid: StreamId, reason: String) {
        let Some(mut c) = self.conns.remove(&sid) else {
            return;
        };
        // No longer live: no heartbeats, and silence is not news any more.
        if let Some(r) = self.contexts.get_mut(&sid) {
            r.seen = None;
        }
        let _ = c.read_stderr();
        // End of input for the context now, not when its last words are read: a context whose
        // process did not hold the stream (a container's) exits on it.
        crate::sys::process::shutdown_write(&c.io_out);
        let open = c.stderr.is_some();
        self.closing
            .insert(sid, (c, reason, Instant::now() + LAST_WORDS));
        if !open {
            self.finish(sid);
        }
    }

    fn read_last_words(&mut self, sid: StreamId) {
        let Some((c, _, _)) = self.closing.get_mut(&sid) else {
            return;
        };
        let _ = c.read_stderr();
        if c.stderr.is_none() {
            self.finish(sid);
        }
    }

    /// A live connection's process exited. Its stream may stay open (lxc-attach gave the
    /// container its fds): read what is there, then close it, so the context inside sees EOF.
    fn process_exited(&mut self, sid: StreamId) {
        for _ in 0..64 {
            if !self.conns.contains_key(&sid) {
                return;
            }
            self.read_io(sid);
        }
        self.read_stderr(sid);
        let exited = self
            .conns
            .get_mut(&sid)
            .is_some_and(|c| matches!(c.child.try_wait(), Ok(Some(_))));
        if exited {
            // `end` adds the exit status.
            self.close(sid, "its process exited".into());
        }
    }

    /// Fail its connect and every pending call on contexts behind it; reap the process.
    fn finish(&mut self, sid: StreamId) {
        let Some((mut c, reason, _)) = self.closing.remove(&sid) else {
            return;
        };
        let reason = c.end(reason);
        if let Some(m) = &self.modules {
            let _ = m.send(module_thread::Job::Forget(sid));
        }
        let gone = self.routes.remove_stream(sid);
        self.gone(&gone, &reason);
        match c.child.try_wait() {
            Ok(Some(_)) => {}
            _ => self.dying.push((c.child, Instant::now() + EXIT_GRACE)),
        }
    }

    /// Send every live context a heartbeat each interval; a context silent for four intervals
    /// is gone (a network cut ends no stream): kill its connection, or forget it and tell it
    /// to exit when it lives behind another context.
    fn heartbeats(&mut self, now: Instant) {
        let hb = self.shared.heartbeat;
        if hb.is_zero() || now < self.next_beat {
            return;
        }
        self.next_beat = now + hb;
        let live = || {
            self.contexts
                .iter()
                .filter_map(|(id, r)| r.seen.map(|t| (*id, t)))
        };
        let ids: Vec<ContextId> = live().map(|(id, _)| id).collect();
        for id in ids {
            let h = Header {
                dst: id,
                ..Header::default()
            };
            if let Ok(f) = Frame::new(h, Vec::new()) {
                self.route(Origin::Local, f);
            }
        }
        let silent: Vec<ContextId> = self
            .contexts
            .iter()
            .filter_map(|(id, r)| r.seen.map(|t| (*id, t)))
            .filter(|(_, t)| now.duration_since(*t) > hb * 4)
            .map(|(id, _)| id)
            .collect();
        for id in silent {
            let reason = format!(
                "nothing heard for {:.1}s: the connection is dead (network cut?)",
                (hb * 4).as_secs_f64()
            );
            if self.conns.contains_key(&id) {
                self.kill(id);
                self.close(id, reason);
            } else {
                let h = Header {
                    dst: id,
                    handle: handle::SHUTDOWN,
                    ..Header::default()
                };
                if let Ok(f) = Frame::new(h, Vec::new()) {
                    self.route(Origin::Local, f);
                }
                if let Some(sid) = self.routes.route_of(id) {
                    self.routes.accept_route_del(sid, id);
                }
                self.gone(&[id], &reason);
            }
        }
    }

    /// These contexts are gone: fail their pending calls at once and tell their handles.
    fn gone(&mut self, ids: &[ContextId], reason: &str) {
        let contexts = &self.contexts;
        self.registry.gone(
            ids,
            |c| {
                contexts
                    .get(&c)
                    .map(|r| r.name.clone())
                    .unwrap_or_else(|| format!("context{c}"))
            },
            reason,
        );
        for id in ids {
            if let Some(r) = self.contexts.remove(id) {
                r.gone.set(reason.to_string());
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        self.heartbeats(now);
        let late: Vec<StreamId> = self
            .closing
            .iter()
            .filter(|(_, (_, _, d))| *d <= now)
            .map(|(s, _)| *s)
            .collect();
        for sid in late {
            self.finish(sid);
        }
        let expired: Vec<StreamId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline().is_some_and(|d| d <= now))
            .map(|(s, _)| *s)
            .collect();
        for sid in expired {
            let e = self.conns.get(&sid).map(|c| c.timeout_error());
            self.kill(sid);
            if let Some(e) = e {
                self.fail_boot(sid, e);
            }
        }
        // A process that exits before it is up may hold no stream open to tell us (su on a pty).
        let exited: Vec<StreamId> = self
            .conns
            .iter_mut()
            .filter(|(_, c)| c.phase != Phase::Up)
            .filter_map(|(s, c)| matches!(c.child.try_wait(), Ok(Some(_))).then_some(*s))
            .collect();
        for sid in exited {
            // Read what it wrote before it went (its version marker, its last words).
            self.read_io(sid);
            self.read_stderr(sid);
            self.close(sid, "the process exited".into());
        }
        self.dying
            .retain_mut(|(child, deadline)| match child.try_wait() {
                Ok(Some(_)) | Err(_) => false,
                Ok(None) if now >= *deadline => {
                    crate::sys::process::kill_group(child.id());
                    let _ = child.kill();
                    let _ = child.wait();
                    false
                }
                Ok(None) => true,
            });
    }
}

#[derive(Clone, Copy)]
enum Watch {
    /// The connection's process exited (its pidfd).
    Exited,
    Io,
    Out,
    Stderr,
    Pty,
    LastWords,
}
