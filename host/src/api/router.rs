//! The router: owns the broker thread and starts contexts.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::broker::{self, Cmd, Latch, Shared};
use crate::connect::{bootstrap, Method};
use crate::log::{stderr_sink, LogSink};
use crate::{Context, Error};

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
        let modules = crate::modules::ModuleServer::new(&o.module_path, &o.module_files)?;
        let (shared, thread) =
            broker::start(o.sink, o.log_level, o.max_frame, modules, o.ask_password)?;
        Ok(Router {
            shared,
            thread: Some(thread),
            title: bootstrap::title(),
        })
    }

    /// Start a context and wait until it is ready (or its connect timeout passes).
    pub fn connect(&self, method: &dyn Method) -> Result<Context, Error> {
        let recipe = method.recipe(&self.title, econtext_stub::STAGE2.len());
        let id = self.shared.context_id();
        let done = Arc::new(Latch::default());
        let gone = Arc::new(Latch::default());
        let deadline = Instant::now() + recipe.connect_timeout + std::time::Duration::from_secs(1);
        let name = recipe.name.clone();
        self.shared.submit(Cmd::Connect {
            id,
            recipe,
            done: done.clone(),
            gone: gone.clone(),
        });
        match done.wait(Some(deadline)) {
            Some(Ok(())) => Ok(Context::new(id, name, self.shared.clone(), gone)),
            Some(Err(e)) => Err(e),
            None => {
                self.shared.submit(Cmd::Kill(id));
                Err(Error::ConnectTimeout {
                    context: name,
                    after: deadline.elapsed(),
                    output: String::new(),
                })
            }
        }
    }
}

impl Router {
    /// How many module requests this router has answered (each is one round trip for the
    /// asking context): a measure of how well preloading works.
    pub fn module_requests(&self) -> u64 {
        self.shared
            .module_requests
            .load(std::sync::atomic::Ordering::Relaxed)
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
