//! `local`: a Python interpreter on this machine, over a socketpair.

use std::time::Duration;

use super::{bootstrap, Method, Recipe, DEFAULT_CONNECT_TIMEOUT};

/// A context on this machine.
///
/// ```no_run
/// let router = econtext::Router::new()?;
/// let ctx = router.connect(&econtext::Local::new().python("/usr/bin/python3"))?;
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Local {
    python: String,
    name: Option<String>,
    timeout: Duration,
    prefix: Vec<String>,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            python: "python3".into(),
            name: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
            prefix: Vec::new(),
        }
    }
}

impl Local {
    /// `python3` from `PATH`.
    pub fn new() -> Local {
        Local::default()
    }

    /// Use this interpreter (a path, or a name looked up on `PATH`).
    pub fn python(mut self, path: impl Into<String>) -> Local {
        self.python = path.into();
        self
    }

    /// Name the context (default `local`).
    pub fn name(mut self, name: impl Into<String>) -> Local {
        self.name = Some(name.into());
        self
    }

    /// Run the interpreter through a wrapper command, e.g. `["nice", "-n", "5"]` or a
    /// `bwrap` sandbox: the interpreter's argv is appended to it.
    pub fn prefix(mut self, argv: Vec<String>) -> Local {
        self.prefix = argv;
        self
    }

    /// How long to wait for the context to come up.
    pub fn connect_timeout(mut self, t: Duration) -> Local {
        self.timeout = t;
        self
    }
}

impl Method for Local {
    fn recipe(&self, title: &str, stage2_len: usize) -> Recipe {
        // Without a wrapper the host names the interpreter itself (`argv[0]`) and stage 1 runs
        // stage 2 in-process: one interpreter start instead of two. A wrapper or a `#!` shim
        // (pyenv) would lose `argv[0]`, so then stage 1 re-execs the real interpreter.
        // Named so, the interpreter cannot find its own path: one that finds its standard
        // library from there (relocatable builds) gets PYTHONHOME, removed again in stage 2.
        let mut env = Vec::new();
        let (argv, arg0) =
            if self.prefix.is_empty() && bootstrap::is_native_executable(&self.python) {
                let home = bootstrap::python_home(&self.python);
                let argv = bootstrap::stage0_argv_inprocess(&self.python, stage2_len);
                env.extend(home.map(|h| ("PYTHONHOME".to_string(), h)));
                (argv, Some(title.to_string()))
            } else {
                let stage0 = bootstrap::stage0_argv(&self.python, title, stage2_len);
                (self.prefix.iter().cloned().chain(stage0).collect(), None)
            };
        Recipe {
            name: self.name.clone().unwrap_or_else(|| "local".into()),
            kind: "local",
            whose: super::watch::Whose::AsPrompted,
            argv,
            arg0,
            env,
            pty: false,
            stdio_on_pty: false,
            wait_for_stage1: false,
            connect_timeout: self.timeout,
            prompts: Vec::new(),
            failures: super::watch::shell_failures(),
            password: None,
            program_missing: None,
            enter: None,
        }
    }
}
