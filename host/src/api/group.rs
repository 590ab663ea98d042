//! Fleets: one function on many targets from one thread, with bounded concurrency, shared
//! prefixes, relays, retries against sshd's `MaxStartups`, and results in arrival order.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use econtext_core::Value;

use super::context::CallHandle;
use super::router::Connecting;
use super::select::Select;
use crate::connect::Method;
use crate::{ConnectFailure, Context, Error, Router};

mod put;

/// One target of a [`Group`]: the name it is reported under and its chain of hops (the first
/// hop is started from this host, or from a relay; each next one from the previous).
pub struct Target {
    name: String,
    hops: Vec<(String, Box<dyn Method>)>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.name)
    }
}

impl Target {
    /// A target of one hop, named `name`.
    pub fn new(name: impl Into<String>, method: impl Method + 'static) -> Target {
        let name = name.into();
        Target {
            hops: vec![(name.clone(), Box::new(method))],
            name,
        }
    }

    /// A target reached through a chain of hops, each `(hop name, method)`: targets whose
    /// chains start with the same hop names share those contexts (`ssh:b/ssh:w1` and
    /// `ssh:b/ssh:w2` use one connection to `b`).
    pub fn chain(name: impl Into<String>, hops: Vec<(String, Box<dyn Method>)>) -> Target {
        Target {
            name: name.into(),
            hops,
        }
    }

    /// The name it is reported under.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What happened on one target.
#[derive(Debug)]
pub struct Outcome {
    /// The target's name.
    pub target: String,
    /// Its position in the group (the order targets were given in).
    pub index: usize,
    /// The function's result, or why there is none.
    pub result: Result<Value, Error>,
    /// From the start of its connection (or of the call, when it was already connected) to
    /// this outcome.
    pub elapsed: Duration,
    /// False when the target never came up (see [`Outcome::is_unreachable`]).
    pub connected: bool,
}

impl Outcome {
    /// The target never came up: unknown host, refused, timeout, auth, no python...
    pub fn is_unreachable(&self) -> bool {
        !self.connected
    }
}

/// Every outcome of a run: collect a [`Run`] into it, or push outcomes as they arrive.
#[derive(Debug, Default)]
pub struct Results {
    /// In arrival order.
    pub outcomes: Vec<Outcome>,
}

impl Results {
    /// Add one.
    pub fn push(&mut self, o: Outcome) {
        self.outcomes.push(o);
    }

    /// Targets whose function returned.
    pub fn succeeded(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.result.is_ok())
    }

    /// Targets that came up but whose call failed (raised, timed out, disconnected).
    pub fn failed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(|o| o.connected && o.result.is_err())
    }

    /// Targets that never came up.
    pub fn unreachable(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| !o.connected)
    }
}

impl FromIterator<Outcome> for Results {
    fn from_iter<I: IntoIterator<Item = Outcome>>(it: I) -> Results {
        Results {
            outcomes: it.into_iter().collect(),
        }
    }
}

/// Where a target is.
enum State {
    /// Not started in this run.
    Queued,
    /// Waiting for the connect job of its hop `hop` (its own or a shared prefix's).
    Connecting { hop: usize },
    /// Its call is running.
    Calling,
    /// Up (no call in this run), or reported.
    Done,
}

struct Member {
    target: Target,
    /// The prefix key of each hop (see `Group::key`).
    keys: Vec<String>,
    relay: Option<usize>,
    /// Up: the last hop's context.
    ctx: Option<Context>,
    /// Never came up: why (reported again by later runs).
    failed: Option<Error>,
    state: State,
    started: Option<Instant>,
}

/// A prefix of hops, shared by every target whose chain starts with it.
enum Prefix {
    Pending(usize),
    Up(Context),
    Failed(Error),
}

/// A connection being made for a prefix.
struct ConnectJob {
    key: String,
    /// The target whose method it runs, and which hop.
    target: usize,
    hop: usize,
    attempt: u32,
    connecting: Option<Connecting>,
    /// Targets waiting for this prefix (the one above included).
    waiters: Vec<usize>,
}

/// Many targets, connected with bounded concurrency, called all at once.
///
/// ```no_run
/// use econtext::{Group, Local, Router, Target};
/// let router = Router::new()?;
/// let targets = (0..100).map(|i| Target::new(format!("local{i}"), Local::new())).collect();
/// let mut group = Group::new(&router, targets);
/// let mut run = group.call("os.getpid", vec![])?;
/// for o in &mut run {
///     println!("{}: {:?} in {:?}", o.target, o.result, o.elapsed);
/// }
/// # Ok::<(), econtext::Error>(())
/// ```
pub struct Group<'r> {
    router: &'r Router,
    members: Vec<Member>,
    relays: Vec<Context>,
    forks: Option<usize>,
    timeout: Option<Duration>,
    retries: u32,
    prefixes: BTreeMap<String, Prefix>,
}

/// How many pending targets [`Run::progress`] names.
const PROGRESS_SLOWEST: usize = 5;

/// The fewest connections a run paces itself down to when servers drop logins (sshd's
/// default `MaxStartups` starts dropping at 10 unauthenticated connections).
const PACED_FLOOR: usize = 8;

/// Retries of a connection that sshd dropped before login (`MaxStartups`), by default.
pub(crate) const DEFAULT_RETRIES: u32 = 8;

impl<'r> Group<'r> {
    /// A group of targets (nothing is started until the first [`Group::call`] or
    /// [`Group::connect`]).
    pub fn new(router: &'r Router, targets: Vec<Target>) -> Group<'r> {
        let mut g = Group {
            router,
            members: targets
                .into_iter()
                .map(|target| Member {
                    target,
                    keys: Vec::new(),
                    relay: None,
                    ctx: None,
                    failed: None,
                    state: State::Queued,
                    started: None,
                })
                .collect(),
            relays: Vec::new(),
            forks: None,
            timeout: None,
            retries: DEFAULT_RETRIES,
            prefixes: BTreeMap::new(),
        };
        g.compute_keys();
        g
    }

    /// How many connections may be coming up at once. Default: `min(20 x CPUs, targets,
    /// what the open-file limit allows at 5 fds per connection)`, as pyinfra does.
    pub fn forks(mut self, n: usize) -> Self {
        self.forks = Some(n.max(1));
        self
    }

    /// A per-target timeout for each call (default: none).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// How often a connection that the server dropped before login (sshd's `MaxStartups`)
    /// is tried again, with exponential backoff from 100 ms to 6.4 s (default 8: about 19 s
    /// of waiting in all).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Spread the targets over these relay contexts (round robin): each relay starts the first
    /// hop of its share (runs their ssh clients), so this host keeps one connection per relay
    /// instead of one per target, and results come back through the relays. A relay's death
    /// fails its share at once and nothing else.
    pub fn via(mut self, relays: Vec<Context>) -> Self {
        let k = relays.len();
        if k > 0 {
            for (i, m) in self.members.iter_mut().enumerate() {
                m.relay = Some(i % k);
            }
        }
        self.relays = relays;
        self.compute_keys();
        self
    }

    /// The number of targets.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no targets.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The contexts that are up, with their target names.
    pub fn contexts(&self) -> impl Iterator<Item = (&str, &Context)> {
        self.members
            .iter()
            .filter_map(|m| m.ctx.as_ref().map(|c| (m.target.name(), c)))
    }

    /// Connect every target (the outcome's value is `None` for those that came up).
    pub fn connect(&mut self) -> Run<'_, 'r> {
        Run::new(self, None)
    }

    /// Call `function(*args)` on every target, connecting those not yet up; outcomes arrive
    /// in the order they finish.
    pub fn call(&mut self, function: &str, args: Vec<Value>) -> Result<Run<'_, 'r>, Error> {
        self.call_kw(function, args, Vec::new())
    }

    /// [`Group::call`] with keyword arguments.
    pub fn call_kw(
        &mut self,
        function: &str,
        args: Vec<Value>,
        kwargs: Vec<(String, Value)>,
    ) -> Result<Run<'_, 'r>, Error> {
        super::context::split_function(function)?;
        Ok(Run::new(
            self,
            Some(CallSpec {
                function: function.to_string(),
                args,
                kwargs,
            }),
        ))
    }

    /// Run `f(target, context)` on every target's context on this host (a put, a get,
    /// several calls...):
    /// targets are connected as for [`Group::call`], and each one that comes up is handed to
    /// one of at most `forks` threads. `seen` gets every outcome as it arrives (in arrival
    /// order) and is also called every 100 ms with `None`, for a progress display; the
    /// returned [`Results`] hold them all.
    pub fn each<F>(&mut self, f: F, mut seen: impl FnMut(Option<&Outcome>, &Progress)) -> Results
    where
        F: Fn(&str, &Context) -> Result<Value, Error> + Sync,
    {
        let forks = self.forks.unwrap_or_else(|| self.default_forks());
        let total = self.members.len();
        let tick = Duration::from_millis(100);
        let mut results = Results::default();
        // Finished on a worker thread, not reported yet; the queue wakes this thread.
        let finished: std::sync::Mutex<Vec<Outcome>> = std::sync::Mutex::new(Vec::new());
        let wake = crate::broker::notify::Ready::default();
        std::thread::scope(|scope| {
            // Up, waiting for a thread; running on one (name, since when).
            let mut waiting: VecDeque<(usize, String, Context)> = VecDeque::new();
            let mut busy: Vec<(String, Instant)> = Vec::new();
            let mut connecting_done = false;
            let mut run = Some(self.connect());
            while results.outcomes.len() < total {
                // Start what may start.
                while busy.len() < forks {
                    let Some((index, target, ctx)) = waiting.pop_front() else {
                        break;
                    };
                    busy.push((target.clone(), Instant::now()));
                    let (f, finished, wake) = (&f, &finished, &wake);
                    scope.spawn(move || {
                        let t = Instant::now();
                        // A panicking `f` is this target's error, not a run that never ends.
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            f(&target, &ctx)
                        }))
                        .unwrap_or_else(|_| {
                            Err(Error::Usage(format!("the function panicked on {target}")))
                        });
                        finished
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(Outcome {
                                target,
                                index,
                                result,
                                elapsed: t.elapsed(),
                                connected: true,
                            });
                        wake.push(index);
                    });
                }
                // Wait for a connection or a worker.
                let got = match (&mut run, connecting_done) {
                    (Some(r), false) => match r.wait(Some(tick)) {
                        Ok(Some(o)) => Some(o),
                        Ok(None) => {
                            connecting_done = true;
                            None
                        }
                        Err(()) => None,
                    },
                    _ => {
                        let _ = wake.pop(Some(Instant::now() + tick));
                        None
                    }
                };
                if connecting_done {
                    run = None;
                }
                let mut report = |o: Outcome, results: &mut Results, busy: &[(String, Instant)]| {
                    let p = Progress {
                        total,
                        connecting: 0,
                        done: results.outcomes.len() + 1,
                        failed: results
                            .outcomes
                            .iter()
                            .filter(|o| o.result.is_err())
                            .count()
                            + usize::from(o.result.is_err()),
                        pending: busy.iter().map(|(n, t)| (n.clone(), t.elapsed())).collect(),
                    };
                    seen(Some(&o), &p);
                    results.push(o);
                };
                if let Some(o) = got {
                    let ctx = run
                        .as_ref()
                        .and_then(|r| r.group.members[o.index].ctx.clone());
                    match ctx {
                        Some(ctx) if o.connected => waiting.push_back((o.index, o.target, ctx)),
                        _ => report(o, &mut results, &busy),
                    }
                }
                let done: Vec<Outcome> =
                    std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
                for o in done {
                    busy.retain(|(n, _)| *n != o.target);
                    report(o, &mut results, &busy);
                }
                let mut pending: Vec<(String, Duration)> = run
                    .as_ref()
                    .map(|r| r.progress().pending)
                    .unwrap_or_default();
                pending.extend(busy.iter().map(|(n, t)| (n.clone(), t.elapsed())));
                seen(
                    None,
                    &Progress {
                        total,
                        connecting: run.as_ref().map_or(0, |r| r.connecting),
                        done: results.outcomes.len(),
                        failed: results
                            .outcomes
                            .iter()
                            .filter(|o| o.result.is_err())
                            .count(),
                        pending,
                    },
                );
            }
        });
        results
    }

    /// Shut every context of the group down, all at once (those that do not exit within two
    /// seconds are killed). Relays are the caller's.
    pub fn shutdown(&mut self) {
        let mut all: Vec<Context> = self
            .members
            .iter_mut()
            .filter_map(|m| m.ctx.take())
            .collect();
        for p in std::mem::take(&mut self.prefixes) {
            if let (_, Prefix::Up(c)) = p {
                all.push(c);
            }
        }
        for c in &all {
            c.ask_shutdown();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for c in &all {
            c.finish_shutdown(deadline);
        }
    }

    fn default_forks(&self) -> usize {
        let cpus = crate::sys::process::cpus();
        let by_fds = (self.router.fd_limit().saturating_sub(64) / 5).max(1) as usize;
        (20 * cpus).min(self.members.len()).min(by_fds).max(1)
    }

    /// The key of hop `hop` of member `i`: its relay, and the names and commands of its hops
    /// up to it (two targets share a hop only when it would run the same way for both:
    /// `ssh:h` with another `--python` is another connection).
    fn key(&self, i: usize, hop: usize) -> String {
        self.members[i].keys[hop].clone()
    }

    /// Compute every member's hop keys.
    fn compute_keys(&mut self) {
        let title = self.router.title().to_string();
        for i in 0..self.members.len() {
            let keys = (0..self.members[i].target.hops.len())
                .map(|hop| self.key_of(i, hop, &title))
                .collect();
            self.members[i].keys = keys;
        }
    }

    fn key_of(&self, i: usize, hop: usize, title: &str) -> String {
        let m = &self.members[i];
        let mut k = match m.relay {
            Some(r) => format!("{r}\u{0}"),
            None => String::new(),
        };
        for (n, (name, method)) in m.target.hops[..=hop].iter().enumerate() {
            if n > 0 {
                k.push('/');
            }
            k.push_str(name);
            k.push('\u{0}');
            k.push_str(&method.recipe(title, 0).argv.join("\u{1}"));
        }
        k
    }
}

struct CallSpec {
    function: String,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
}

enum Job {
    Connect(ConnectJob),
    Call { member: usize, handle: CallHandle },
}

/// Where a run stands, for a progress display.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Targets in the run.
    pub total: usize,
    /// Outcomes reported.
    pub done: usize,
    /// Of those, how many failed or were unreachable.
    pub failed: usize,
    /// Connections coming up now (never more than the run's limit: `forks`, or fewer while
    /// paced).
    pub connecting: usize,
    /// The slowest targets started and not done (at most five), slowest first: name and time
    /// so far.
    pub pending: Vec<(String, Duration)>,
}

/// One pass of a [`Group`] (a call, or connecting): an iterator of [`Outcome`]s in arrival
/// order. Dropping it early leaves calls running; drop the router to end everything.
pub struct Run<'g, 'r> {
    group: &'g mut Group<'r>,
    call: Option<CallSpec>,
    forks: usize,
    /// Connections allowed to come up at once now: `forks`, halved (down to
    /// [`PACED_FLOOR`]) each time a server drops a login, and grown back by one per `limit`
    /// successes (additive increase, multiplicative decrease, as TCP's congestion window).
    limit: usize,
    /// Successes since the limit last grew.
    grown: usize,
    select: Select,
    /// Jobs by token (a slab: a token is its index; done jobs leave `None`).
    jobs: Vec<Option<Job>>,
    connecting: usize,
    /// Members to (re)start, at this hop.
    queue: VecDeque<(usize, usize)>,
    /// Connections to try again, when.
    retry_at: Vec<(Instant, ConnectJob)>,
    ready: VecDeque<Outcome>,
    total: usize,
    done: usize,
    failed: usize,
}

impl<'g, 'r> Run<'g, 'r> {
    fn new(group: &'g mut Group<'r>, call: Option<CallSpec>) -> Run<'g, 'r> {
        let forks = group.forks.unwrap_or_else(|| group.default_forks());
        let total = group.members.len();
        let mut run = Run {
            group,
            call,
            forks,
            limit: forks,
            grown: 0,
            select: Select::new(),
            jobs: Vec::new(),
            connecting: 0,
            queue: VecDeque::new(),
            retry_at: Vec::new(),
            ready: VecDeque::new(),
            total,
            done: 0,
            failed: 0,
        };
        for i in 0..total {
            let m = &mut run.group.members[i];
            m.state = State::Queued;
            m.started = Some(Instant::now());
            if m.target.hops.is_empty() {
                let e = Error::Usage(format!("target {:?} has no hop", m.target.name));
                m.failed = Some(e);
            }
            if let Some(e) = &m.failed {
                let e = e.clone();
                run.report(i, Err(e), false);
            } else if m.ctx.is_some() {
                run.finish_connect(i);
            } else {
                run.queue.push_back((i, 0));
            }
        }
        run.pump();
        run
    }

    /// Where the run stands.
    pub fn progress(&self) -> Progress {
        let now = Instant::now();
        // The slowest few, kept in order while scanning (no sort of the whole fleet).
        let mut pending: Vec<(String, Duration)> = Vec::new();
        for m in &self.group.members {
            if !matches!(m.state, State::Connecting { .. } | State::Calling) {
                continue;
            }
            let Some(s) = m.started else { continue };
            let d = now - s;
            let at = pending
                .iter()
                .position(|p| p.1 < d)
                .unwrap_or(pending.len());
            if at < PROGRESS_SLOWEST {
                pending.insert(at, (m.target.name.clone(), d));
                pending.truncate(PROGRESS_SLOWEST);
            }
        }
        Progress {
            total: self.total,
            done: self.done,
            failed: self.failed,
            connecting: self.connecting,
            pending,
        }
    }

    /// The next outcome, waiting at most `timeout` (`None`: as long as it takes). `Ok(None)`
    /// when the run is over; `Err(())` when the timeout passed first.
    #[allow(clippy::result_unit_err)]
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<Outcome>, ()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(o) = self.ready.pop_front() {
                return Ok(Some(o));
            }
            if self.done >= self.total {
                return Ok(None);
            }
            self.retry_due();
            if !self.ready.is_empty() {
                continue;
            }
            self.expire_due();
            if !self.ready.is_empty() {
                continue;
            }
            let now = Instant::now();
            // Calls have deadlines only when the group has a timeout: no scan otherwise.
            let timed = self.group.timeout.is_some();
            let call_deadlines = self.jobs.iter().take(if timed { usize::MAX } else { 0 });
            let call_deadlines = call_deadlines.flatten().filter_map(|j| match j {
                Job::Call { handle, .. } => handle.deadline(),
                Job::Connect(_) => None,
            });
            // A due retry without a free slot waits for a connection to end, not for a timer.
            let free = self.connecting < self.limit;
            let next_retry = self
                .retry_at
                .iter()
                .map(|(t, _)| *t)
                .filter(|t| free || *t > now)
                .chain(call_deadlines)
                .min();
            let until = match (deadline, next_retry) {
                (Some(d), Some(r)) => Some(d.min(r)),
                (d, r) => d.or(r),
            };
            if let Some(d) = deadline {
                if now >= d {
                    return Err(());
                }
            }
            match self
                .select
                .wait(until.map(|u| u.saturating_duration_since(now)))
            {
                Some(token) => self.fired(token),
                None if deadline.is_some_and(|d| Instant::now() >= d) => return Err(()),
                None => {}
            }
        }
    }

    /// Start connections while fewer than the limit are coming up: queued members first,
    /// then due retries. Every new connection, first hop or later, counts against it.
    fn pump(&mut self) {
        while self.connecting < self.limit {
            if let Some((i, hop)) = self.queue.pop_front() {
                if matches!(self.group.members[i].state, State::Queued) {
                    // Its time counts from its first connection, not from the queue.
                    self.group.members[i].started = Some(Instant::now());
                }
                self.advance(i, hop);
                continue;
            }
            let now = Instant::now();
            let Some(at) = self.retry_at.iter().position(|(t, _)| *t <= now) else {
                break;
            };
            let (_, job) = self.retry_at.swap_remove(at);
            self.start_connect(job);
        }
    }

    /// Member `i` needs hop `hop` (and the ones after it).
    fn advance(&mut self, i: usize, mut hop: usize) {
        let n = self.group.members[i].target.hops.len();
        while hop < n {
            let key = self.group.key(i, hop);
            match self.group.prefixes.get(&key) {
                Some(Prefix::Up(_)) => hop += 1,
                Some(Prefix::Failed(e)) => {
                    let e = e.clone();
                    self.unreachable(i, e);
                    return;
                }
                Some(Prefix::Pending(token)) => {
                    let token = *token;
                    if let Some(Some(Job::Connect(j))) = self.jobs.get_mut(token) {
                        j.waiters.push(i);
                    } else if let Some((_, j)) =
                        self.retry_at.iter_mut().find(|(_, j)| j.key == key)
                    {
                        j.waiters.push(i);
                    }
                    self.group.members[i].state = State::Connecting { hop };
                    return;
                }
                None if self.connecting >= self.limit => {
                    // No slot: wait at the front of the queue (pump resumes it here).
                    self.group.members[i].state = State::Connecting { hop };
                    self.queue.push_front((i, hop));
                    return;
                }
                None => {
                    self.group.members[i].state = State::Connecting { hop };
                    let job = ConnectJob {
                        key,
                        target: i,
                        hop,
                        attempt: 0,
                        connecting: None,
                        waiters: vec![i],
                    };
                    self.start_connect(job);
                    return;
                }
            }
        }
        let last = self.group.key(i, n.saturating_sub(1));
        if let Some(Prefix::Up(c)) = self.group.prefixes.get(&last) {
            self.group.members[i].ctx = Some(c.clone());
        }
        self.finish_connect(i);
    }

    /// Start (or restart) a connect job.
    fn start_connect(&mut self, mut job: ConnectJob) {
        let token = self.jobs.len();
        self.jobs.push(None);
        let g = &*self.group;
        let m = &g.members[job.target];
        let method = m.target.hops[job.hop].1.as_ref();
        let via = if job.hop == 0 {
            m.relay.map(|r| g.relays[r].clone())
        } else {
            match g.prefixes.get(&g.key(job.target, job.hop - 1)) {
                Some(Prefix::Up(c)) => Some(c.clone()),
                _ => None,
            }
        };
        // The last hop is named after the target: its log lines and errors say which.
        let name = (job.hop + 1 == m.target.hops.len()).then_some(m.target.name.as_str());
        let started = match via {
            Some(via) => Ok(g.router.connect_via_async_named(method, &via, name)),
            None => g.router.connect_async_named(method, name),
        };
        self.group
            .prefixes
            .insert(job.key.clone(), Prefix::Pending(token));
        self.connecting += 1;
        match started {
            Ok(c) => {
                self.select.add_connect(&c, token);
                job.connecting = Some(c);
                self.jobs[token] = Some(Job::Connect(job));
            }
            Err(e) => {
                self.jobs[token] = Some(Job::Connect(job));
                self.connected(token, Err(e));
            }
        }
    }

    /// A token fired.
    fn fired(&mut self, token: usize) {
        let outcome = match self.jobs.get(token).and_then(Option::as_ref) {
            Some(Job::Connect(j)) => j.connecting.as_ref().and_then(|c| c.try_result()),
            Some(Job::Call { handle, .. }) => {
                if let Some(r) = handle.try_result() {
                    if let Some(Job::Call { member, .. }) = self.jobs[token].take() {
                        self.report(member, r, true);
                    }
                }
                return;
            }
            None => return,
        };
        if let Some(r) = outcome {
            self.connected(token, r);
        }
    }

    /// A connect job ended.
    fn connected(&mut self, token: usize, r: Result<Context, Error>) {
        let Some(Job::Connect(mut job)) = self.jobs.get_mut(token).and_then(Option::take) else {
            return;
        };
        self.connecting -= 1;
        match r {
            Ok(ctx) => {
                self.grown += 1;
                if self.grown >= self.limit {
                    self.grown = 0;
                    self.limit = (self.limit + 1).min(self.forks);
                }
                self.group.prefixes.insert(job.key.clone(), Prefix::Up(ctx));
                for w in std::mem::take(&mut job.waiters) {
                    let hop = match self.group.members[w].state {
                        State::Connecting { hop } => hop + 1,
                        _ => continue,
                    };
                    self.advance(w, hop);
                }
            }
            Err(e) if retryable(&e) && job.attempt < self.group.retries => {
                // sshd dropped it before login (MaxStartups): fewer logins at once from now
                // on, and this one again after a backoff with jitter, so the retries of many
                // targets do not arrive together.
                self.limit = (self.limit / 2).max(PACED_FLOOR).min(self.forks);
                self.grown = 0;
                let backoff = Duration::from_millis(100 << job.attempt.min(6));
                let jitter = Duration::from_millis(u64::from(token as u32 % 97));
                job.attempt += 1;
                job.connecting = None;
                self.retry_at.push((Instant::now() + backoff + jitter, job));
            }
            Err(mut e) => {
                if job.attempt > 0 {
                    note_attempts(&mut e, job.attempt + 1);
                }
                self.group
                    .prefixes
                    .insert(job.key.clone(), Prefix::Failed(e.clone()));
                for w in std::mem::take(&mut job.waiters) {
                    self.unreachable(w, e.clone());
                }
            }
        }
        self.pump();
    }

    /// Fail the calls whose timeout passed.
    fn expire_due(&mut self) {
        if self.group.timeout.is_none() {
            return;
        }
        let now = Instant::now();
        let due: Vec<usize> = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(t, j)| match j {
                Some(Job::Call { handle, .. }) if handle.deadline().is_some_and(|d| d <= now) => {
                    Some(t)
                }
                _ => None,
            })
            .collect();
        for t in due {
            if let Some(Job::Call { member, handle }) = self.jobs[t].take() {
                // It may have arrived just now.
                let r = handle.try_result().unwrap_or_else(|| Err(handle.expire()));
                self.report(member, r, true);
            }
        }
    }

    /// Start the retries that are due (as slots allow).
    fn retry_due(&mut self) {
        self.pump();
    }

    /// Member `i` is up: call, or report it connected.
    fn finish_connect(&mut self, i: usize) {
        let Some(ctx) = self.group.members[i].ctx.clone() else {
            return;
        };
        let Some(spec) = &self.call else {
            self.report(i, Ok(Value::None), true);
            return;
        };
        let b = ctx.build(&spec.function).map(|mut b| {
            b = b.args(spec.args.clone());
            for (k, v) in &spec.kwargs {
                b = b.kwarg(k.clone(), v.clone());
            }
            if let Some(t) = self.group.timeout {
                b = b.timeout(t);
            }
            b
        });
        match b.and_then(|b| b.spawn()) {
            Ok(handle) => {
                let token = self.jobs.len();
                self.group.members[i].state = State::Calling;
                self.select.add_call(&handle, token);
                self.jobs.push(Some(Job::Call { member: i, handle }));
            }
            Err(e) => self.report(i, Err(e), true),
        }
    }

    fn unreachable(&mut self, i: usize, e: Error) {
        self.group.members[i].failed = Some(e.clone());
        self.report(i, Err(e), false);
    }

    fn report(&mut self, i: usize, result: Result<Value, Error>, connected: bool) {
        let m = &mut self.group.members[i];
        m.state = State::Done;
        self.done += 1;
        if result.is_err() {
            self.failed += 1;
        }
        self.ready.push_back(Outcome {
            target: m.target.name.clone(),
            index: i,
            result,
            elapsed: m.started.map(|s| s.elapsed()).unwrap_or_default(),
            connected,
        });
    }
}

impl Drop for Run<'_, '_> {
    /// A run left before its end: connections that came up are kept for the next run,
    /// connections still coming up are cancelled (the next run starts them again); calls in
    /// flight go on there, their results unread.
    fn drop(&mut self) {
        for job in std::mem::take(&mut self.jobs).into_iter().flatten() {
            let Job::Connect(j) = job else { continue };
            match j.connecting.as_ref().and_then(|c| c.try_result()) {
                Some(Ok(ctx)) => {
                    self.group.prefixes.insert(j.key, Prefix::Up(ctx));
                }
                _ => {
                    if let Some(c) = &j.connecting {
                        c.cancel();
                    }
                    self.group.prefixes.remove(&j.key);
                }
            }
        }
        for (_, j) in self.retry_at.drain(..) {
            self.group.prefixes.remove(&j.key);
        }
    }
}

impl Iterator for Run<'_, '_> {
    type Item = Outcome;

    fn next(&mut self) -> Option<Outcome> {
        self.wait(None).ok().flatten()
    }
}

/// A connection the server dropped before login: worth trying again after a pause.
fn retryable(e: &Error) -> bool {
    matches!(
        e,
        Error::Connect {
            failure: ConnectFailure::ConnectionClosed,
            ..
        }
    )
}

/// Say in the error how often it was tried.
fn note_attempts(e: &mut Error, attempts: u32) {
    if let Error::Connect { output, .. } = e {
        output.push_str(&format!(
            "\n(econtext gave up after {attempts} attempts with backoff)"
        ));
    }
}
