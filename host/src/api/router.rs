//! The router: owns the broker thread and starts contexts.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::broker::{self, Cmd, Latch, Shared};
use crate::connect::watch::ConnectFailure;
use crate::connect::watch::PasswordRequest;
use crate::connect::{bootstrap, Method, Recipe};
use crate::log::{stderr_sink, LogSink};
use crate::text;
use crate::{Context, Error};
use econtext_core::body::{Body, ByteBuf, Failure, Prompt as SpawnPrompt, Spawn};
use econtext_core::{handle, Value};
use std::time::Duration;

/// Settings of a [`Router`].
#[derive(Clone)]
pub struct RouterOptions {
    /// Receives forwarded log records and stdout/stderr lines (default: print to stderr).
    pub sink: LogSink,
    /// Minimum Python level forwarded (records below it never cross the wire).
    pub log_level: u32,
    /// Largest message body accepted or sent, in bytes.
    pub max_frame: u32,
    /// Directories whose modules and packages contexts may import from this host.
    pub module_path: Vec<std::path::PathBuf>,
    /// Single scripts served as modules under their file stem (`install_app.py` ->
    /// `install_app`); their `if __name__ == '__main__':` block does not run remotely.
    pub module_files: Vec<std::path::PathBuf>,
    /// Asks a person for a password when a hop prompts and none was given (default: none, so
    /// such a hop fails with `ConnectFailure::PasswordRequired`).
    pub ask_password: Option<crate::connect::watch::AskPassword>,
    /// How often every context is sent a heartbeat (default 15 s; zero: never). A context that
    /// hears nothing for four intervals exits; one the host hears nothing from for four
    /// intervals is reported disconnected: a network cut is noticed even when no stream ends.
    pub heartbeat: Duration,
    /// Raise this process's soft open-file limit to the hard limit when the router starts
    /// (default true: a fleet needs 3-4 fds per context). Programs the router starts get the
    /// old limit back. Turn it off in a process that still uses `select(2)` on fds, which
    /// breaks past 1,024.
    pub raise_fd_limit: bool,
    /// Serves modules found by the embedding program's own means (the Python binding: the
    /// caller's import system), after [`module_path`](Self::module_path) and
    /// [`module_files`](Self::module_files).
    pub module_provider: Option<Arc<dyn crate::modules::SourceProvider>>,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            sink: stderr_sink(),
            log_level: 20,
            max_frame: econtext_core::header::DEFAULT_MAX_BODY,
            module_path: Vec::new(),
            module_files: Vec::new(),
            ask_password: None,
            heartbeat: Duration::from_secs(15),
            raise_fd_limit: true,
            module_provider: None,
        }
    }
}

/// Owns the IO thread and every context started through it. Dropping the router shuts every
/// context down (killing those that do not exit within a second).
///
/// ```no_run
/// use econtext::{Local, Router, Value};
/// let router = Router::new()?;
/// let ctx = router.connect(&Local::new())?;
/// let v = ctx.call("platform.python_version", vec![])?;
/// println!("{v:?}");
/// # Ok::<(), econtext::Error>(())
/// ```
pub struct Router {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    title: String,
}

impl Router {
    /// A router with default options.
    pub fn new() -> Result<Router, Error> {
        Router::with_options(RouterOptions::default())
    }

    /// A router with the given options.
    pub fn with_options(o: RouterOptions) -> Result<Router, Error> {
        let mut modules = crate::modules::ModuleServer::new(&o.module_path, &o.module_files)?;
        if let Some(p) = o.module_provider {
            modules = modules.with_provider(p);
        }
        let (shared, thread) = broker::start(
            o.sink,
            o.log_level,
            o.max_frame,
            modules,
            o.ask_password,
            o.heartbeat,
            o.raise_fd_limit,
        )?;
        Ok(Router {
            shared,
            thread: Some(thread),
            title: bootstrap::title(),
        })
    }

    /// Start a context and wait until it is ready (or its connect timeout passes).
    pub fn connect(&self, method: &dyn Method) -> Result<Context, Error> {
        self.connect_async(method)?.wait()
    }

    /// Start a context without waiting: the returned [`Connecting`] can be waited on later or
    /// added to a [`crate::Select`] with calls, receivers and other connections, so one thread
    /// brings up many contexts at once. The connect timeout is enforced by the broker.
    pub fn connect_async(&self, method: &dyn Method) -> Result<Connecting, Error> {
        self.connect_async_named(method, None)
    }

    /// [`Router::connect_async`], the context named `name` (in log records and errors)
    /// instead of after its method.
    pub(crate) fn connect_async_named(
        &self,
        method: &dyn Method,
        name: Option<&str>,
    ) -> Result<Connecting, Error> {
        let mut recipe = method.recipe(&self.title, econtext_stub::STAGE2.len());
        if let Some(n) = name {
            recipe.name = n.to_string();
        }
        // setns as a first hop: this thread resolves the namespaces (running `docker inspect`
        // and reading the container's files may block; the broker never does).
        let enter = match &recipe.enter {
            Some(e) => {
                let r = crate::connect::setns::resolve(&recipe.name, e)?;
                let len = econtext_stub::STAGE2.len();
                if r.native {
                    // We exec it ourselves: name it, and stage 2 runs in the same process.
                    recipe.argv = bootstrap::stage0_argv_inprocess(&r.python, len);
                    recipe.arg0 = Some(self.title.clone());
                } else {
                    recipe.argv = bootstrap::stage0_argv(&r.python, &self.title, len);
                }
                Some(Box::new(r))
            }
            None => None,
        };
        // An interpreter this host runs itself gets stage 2 compiled by its own binary (once
        // per router): the context skips ~30% of its start-up CPU.
        let stage2 = match (&recipe.arg0, &recipe.enter, recipe.kind) {
            (Some(_), None, "local") => self
                .shared
                .compiled
                .get(&recipe.argv[0], econtext_stub::STAGE2),
            _ => None,
        };
        if let Some(code) = &stage2 {
            recipe.argv = bootstrap::stage0_argv_marshal(&recipe.argv[0], code.len());
        }
        let id = self.shared.context_id();
        let done = Arc::new(Latch::default());
        let gone = Arc::new(Latch::default());
        // The broker enforces the connect timeout (and pauses it while a person types a
        // password): only a method that can never prompt gets a safety deadline here.
        let deadline = (!(recipe.pty && self.shared.ask.is_some()))
            .then(|| Instant::now() + recipe.connect_timeout + std::time::Duration::from_secs(1));
        let name = recipe.name.clone();
        let timeout = recipe.connect_timeout;
        self.shared.submit(Cmd::Connect {
            id,
            recipe: Box::new(recipe),
            enter,
            stage2,
            done: done.clone(),
            gone: gone.clone(),
        });
        Ok(Connecting {
            id,
            name,
            shared: self.shared.clone(),
            gone,
            done,
            deadline,
            timeout,
            cancelled: Default::default(),
        })
    }

    /// The remote process title of this router's contexts.
    pub(crate) fn title(&self) -> &str {
        &self.title
    }

    /// The open-file limit in force (the router raised the soft limit to the hard one).
    pub fn fd_limit(&self) -> u64 {
        self.shared.fd_limit
    }
}

/// A context coming up ([`Router::connect_async`], [`Router::connect_via_async`]): wait for
/// it with [`Connecting::wait`], or add it to a [`crate::Select`] and take it with
/// [`Connecting::try_result`] once it fired.
pub struct Connecting {
    id: u32,
    name: String,
    shared: Arc<Shared>,
    gone: Arc<Latch<String>>,
    done: Arc<Latch<Result<(), Error>>>,
    /// A safety deadline beyond the broker's own connect timeout (none while a person may
    /// be typing a password).
    deadline: Option<Instant>,
    timeout: Duration,
    /// Set by [`Connecting::cancel`]: a via hop that comes up anyway is shut down.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for Connecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connecting({}, {})", self.id, self.name)
    }
}

impl Connecting {
    /// The name the context will have (its whole path for a `via` hop).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Wait until the context is up (or failed).
    pub fn wait(self) -> Result<Context, Error> {
        match self.done.wait(self.deadline) {
            Some(r) => self.finish(r),
            None => {
                self.shared.submit(Cmd::Kill(self.id));
                Err(Error::ConnectTimeout {
                    context: self.name,
                    after: self.timeout,
                    output: String::new(),
                })
            }
        }
    }

    /// The outcome if it is known (it is taken: a second call returns `None`).
    pub fn try_result(&self) -> Option<Result<Context, Error>> {
        self.done.try_take().map(|r| self.finish_ref(r))
    }

    /// Give up on it: a first hop's process is killed (its outcome turns into an error); a
    /// hop behind another context is shut down as soon as its spawn answers.
    pub fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.submit(Cmd::Kill(self.id));
    }

    /// True once the outcome is known.
    pub fn is_done(&self) -> bool {
        self.done.is_set()
    }

    /// Report the outcome to a completion queue.
    pub(crate) fn watch(&self, ready: Arc<crate::broker::notify::Ready>, token: usize) {
        self.done.watch.set(ready, token);
        // Already done before anyone watched: report it now.
        if self.done.is_set() {
            self.done.watch.fire();
        }
    }

    fn finish(self, r: Result<(), Error>) -> Result<Context, Error> {
        self.finish_ref(r)
    }

    fn finish_ref(&self, r: Result<(), Error>) -> Result<Context, Error> {
        r.map(|()| {
            Context::new(
                self.id,
                self.name.clone(),
                self.shared.clone(),
                self.gone.clone(),
            )
        })
    }
}

impl Router {
    /// Start a context *from* another one: `via` runs the method (ssh, sudo, ...) on its own
    /// machine, as its own user. The recipe is computed here; the via context's stub runs
    /// one generic spawn routine (fetched on demand). Passwords travel inside the protocol to
    /// that stub, which types them into its pty.
    ///
    /// ```no_run
    /// use econtext::{BecomeUser, Password, Router, Ssh};
    /// let router = Router::new()?;
    /// let bastion = router.connect(&Ssh::new("jump-box.mycorp.com"))?;
    /// let account = router.connect_via(&BecomeUser::sudo("app").password(Password::new("pw")), &bastion)?;
    /// let internal = router.connect_via(&Ssh::new("billing0.internal"), &account)?;
    /// internal.call("os.system", vec!["./run-nightly-billing.py".into()])?;
    /// # Ok::<(), econtext::Error>(())
    /// ```
    pub fn connect_via(&self, method: &dyn Method, via: &Context) -> Result<Context, Error> {
        let (recipe, c) = self.adopt(method, via, None);
        let r = bring_up_via(&self.shared, recipe, c.id, &c.name, via);
        c.done.set(r);
        c.wait()
    }

    /// [`Router::connect_via`] without waiting: a thread of its own asks `via` to start the
    /// hop (and asks a person for a password when it prompts), so one thread can bring up
    /// many hops behind many relays at once.
    pub fn connect_via_async(&self, method: &dyn Method, via: &Context) -> Connecting {
        self.connect_via_async_named(method, via, None)
    }

    /// [`Router::connect_via_async`], the context named `name` instead of its path.
    pub(crate) fn connect_via_async_named(
        &self,
        method: &dyn Method,
        via: &Context,
        name: Option<&str>,
    ) -> Connecting {
        let (recipe, c) = self.adopt(method, via, name);
        let (shared, done, id, name, via, cancelled) = (
            self.shared.clone(),
            c.done.clone(),
            c.id,
            c.name.clone(),
            via.clone(),
            c.cancelled.clone(),
        );
        let started = std::thread::Builder::new()
            .name("econtext-via".into())
            .spawn(move || {
                let r = bring_up_via(&shared, recipe, id, &name, &via);
                if r.is_ok() && cancelled.load(std::sync::atomic::Ordering::SeqCst) {
                    // Cancelled while its spawn was under way: now it has a route, end it.
                    shared.submit(Cmd::Kill(id));
                }
                done.set(r);
            });
        if let Err(e) = started {
            self.shared.submit(Cmd::Forget(c.id));
            c.done.set(Err(Error::io(
                "cannot start a thread for a via connection",
                e,
            )));
        }
        c
    }

    /// Compute the recipe of a hop behind `via` and tell the broker the context is coming.
    fn adopt(
        &self,
        method: &dyn Method,
        via: &Context,
        name: Option<&str>,
    ) -> (Recipe, Connecting) {
        let recipe = method.recipe(&self.title, econtext_stub::STAGE2.len());
        let id = self.shared.context_id();
        let name = match name {
            Some(n) => n.to_string(),
            None => format!("{}/{}", via.name(), recipe.name),
        };
        let gone = Arc::new(Latch::default());
        self.shared.submit(Cmd::Adopt {
            id,
            name: name.clone(),
            gone: gone.clone(),
        });
        let timeout = recipe.connect_timeout;
        let c = Connecting {
            id,
            name,
            shared: self.shared.clone(),
            gone,
            done: Arc::new(Latch::default()),
            // The spawn request has its own deadline (the connect timeout and 5 s).
            deadline: None,
            timeout,
            cancelled: Default::default(),
        };
        (recipe, c)
    }

    /// How many module requests this router has answered (each is one round trip for the
    /// asking context): a measure of how well preloading works.
    pub fn module_requests(&self) -> u64 {
        self.shared
            .module_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Ask `via` to start context `id`; when it prompted and no password was given, ask a person
/// (on this thread, never the broker's) and start the hop again with the answer.
fn bring_up_via(
    shared: &Arc<Shared>,
    mut recipe: Recipe,
    id: u32,
    name: &str,
    via: &Context,
) -> Result<(), Error> {
    let mut r = spawn_via_either(shared, &recipe, id, name, via);
    if let (
        Err(Failed::NeedsPassword {
            user,
            host,
            prompted,
            ..
        }),
        None,
        Some(ask),
    ) = (&r, &recipe.password, &shared.ask)
    {
        let req = PasswordRequest::new(name, recipe.kind, &recipe.whose, user, host, prompted);
        if let Some(p) = ask(&req) {
            recipe.password = Some(p);
            r = spawn_via_either(shared, &recipe, id, name, via);
        }
    }
    r.map_err(|f| {
        shared.submit(Cmd::Forget(id));
        f.into_error(name)
    })
}

/// [`spawn_via`] with the stage 2 the hop's Python runs: the modern one first, and when stage 1
/// named a Python 2.4-2.6, once more with theirs (the routine on `via` has only the one it
/// was sent).
fn spawn_via_either(
    shared: &Arc<Shared>,
    recipe: &Recipe,
    id: u32,
    name: &str,
    via: &Context,
) -> Result<(), Failed> {
    use crate::connect::bootstrap::Stage2;
    match spawn_via(shared, recipe, id, name, via, Stage2::Modern) {
        Err(Failed::WrongStub { want, .. }) if want != Stage2::Modern => {
            spawn_via(shared, recipe, id, name, via, want)
        }
        r => r,
    }
}

/// Ask `via` to start the recipe's context `id` once.
fn spawn_via(
    shared: &Arc<Shared>,
    recipe: &Recipe,
    id: u32,
    name: &str,
    via: &Context,
    stub: crate::connect::bootstrap::Stage2,
) -> Result<(), Failed> {
    let password = recipe.password.clone();
    let answer = |p: &Option<crate::Password>| {
        p.as_ref()
            .map(|p| format!("{}\n", p.expose()).into_bytes())
            .unwrap_or_default()
    };
    let spawn = Spawn {
        id,
        name: recipe.name.clone(),
        argv: recipe.argv.clone(),
        pty: recipe.pty,
        stdio_pty: recipe.stdio_on_pty,
        wait_stage1: recipe.wait_for_stage1,
        prompts: recipe
            .prompts
            .iter()
            .map(|p| SpawnPrompt {
                pattern: ByteBuf(p.pattern.as_bytes().to_vec()),
                answer: ByteBuf(answer(&password)),
            })
            .collect(),
        failures: recipe
            .failures
            .iter()
            .map(|f| Failure {
                pattern: ByteBuf(f.pattern.as_bytes().to_vec()),
                kind: f.kind as u32,
            })
            .collect(),
        timeout_ms: u32::try_from(recipe.connect_timeout.as_millis()).unwrap_or(u32::MAX),
        boot: ByteBuf(shared.boot(stub.bytes(), id, via.id(), name)),
    };
    let body = spawn
        .encode()
        .map_err(|e| Failed::Other(Error::Usage(format!("cannot encode the spawn: {e}"))))?;
    let reply = via.request(
        handle::SPAWN,
        body,
        recipe.connect_timeout + Duration::from_secs(5),
    );
    // Remote output in an error: password removed first, then bounded and printable.
    let shown = |t: &str| match &password {
        Some(p) => text::tail(&text::replace(
            t.as_bytes(),
            p.expose().as_bytes(),
            b"<redacted>",
        )),
        None => text::tail(t.as_bytes()),
    };
    let name = name.to_string();
    let e = match reply {
        Ok(Value::Context(got)) if got == id => return Ok(()),
        Ok(other) => Error::Protocol {
            context: name,
            reason: format!(
                "unexpected spawn reply {}",
                text::quote(format!("{other:?}").as_bytes(), text::QUOTE_MAX)
            ),
        },
        Err(Error::Remote(e)) if e.type_name == "econtext.SpawnError" => {
            let output = shown(&e.traceback);
            let (code, detail) = e.message.split_once(':').unwrap_or((&e.message, ""));
            match code {
                "failure" => {
                    let (n, who) = detail.split_once(':').unwrap_or((detail, ""));
                    match n.parse().ok().and_then(ConnectFailure::from_u32) {
                        Some(ConnectFailure::PasswordRequired) if password.is_none() => {
                            let (user, host) = who.rsplit_once('@').unwrap_or((who, "?"));
                            let prompted = output.lines().last().unwrap_or("").trim();
                            return Err(Failed::NeedsPassword {
                                user: text::quote(user.as_bytes(), 64),
                                host: text::quote(host.as_bytes(), 64),
                                prompted: prompted.to_string(),
                                output,
                            });
                        }
                        Some(failure) => Error::Connect {
                            context: name,
                            failure,
                            output,
                        },
                        None => Error::Bootstrap {
                            context: name,
                            reason: text::quote(e.message.as_bytes(), text::QUOTE_MAX),
                            version: None,
                            output,
                        },
                    }
                }
                "stub" => {
                    return Err(Failed::WrongStub {
                        want: crate::connect::bootstrap::stage2_for(detail).unwrap_or(stub),
                        version: text::quote(detail.as_bytes(), 64),
                        output,
                    })
                }
                "tooold" => Error::PythonTooOld {
                    context: name,
                    version: text::quote(detail.as_bytes(), 64),
                },
                "protocol" => Error::Bootstrap {
                    context: name,
                    reason: format!(
                        "protocol error: {}",
                        text::quote(detail.as_bytes(), text::QUOTE_MAX)
                    ),
                    version: None,
                    output,
                },
                "timeout" => Error::ConnectTimeout {
                    context: name,
                    after: recipe.connect_timeout,
                    output,
                },
                _ => Error::Bootstrap {
                    context: name,
                    reason: "the process exited before the stub was ready".into(),
                    version: None,
                    output,
                },
            }
        }
        Err(Error::Remote(e)) => Error::Bootstrap {
            context: name,
            reason: format!(
                "the spawn failed in {}: {}: {}",
                via.name(),
                e.type_name,
                e.message
            ),
            version: None,
            output: shown(&e.traceback),
        },
        Err(Error::Timeout { .. }) => Error::ConnectTimeout {
            context: name,
            after: recipe.connect_timeout,
            output: String::new(),
        },
        Err(e) => e,
    };
    Err(Failed::Other(e))
}

/// Why a `via` spawn failed.
enum Failed {
    /// The hop prompted for a password and none was given: whose, and what it printed.
    NeedsPassword {
        user: String,
        host: String,
        prompted: String,
        output: String,
    },
    /// Stage 1 named a Python (`version`) that runs the other stage 2, `want`
    /// (`bootstrap::stage2_for`).
    WrongStub {
        want: crate::connect::bootstrap::Stage2,
        version: String,
        output: String,
    },
    Other(Error),
}

impl Failed {
    fn into_error(self, context: &str) -> Error {
        match self {
            Failed::NeedsPassword { output, .. } => Error::Connect {
                context: context.to_string(),
                failure: ConnectFailure::PasswordRequired,
                output,
            },
            Failed::WrongStub {
                version, output, ..
            } => Error::Bootstrap {
                context: context.to_string(),
                reason: "its python needs the other stage 2 again".into(),
                version: Some(version),
                output,
            },
            Failed::Other(e) => e,
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.shared.submit(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
