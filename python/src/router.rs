//! `econtext.Router`: owns the host router (its broker, module and log threads) and starts
//! contexts: `local`, `ssh`, `sudo`, `su`, `doas`, each optionally `via` another context.

use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use econtext::connect::Method;
use econtext::{BecomeUser, HostKeyPolicy, Local, Password, RouterOptions, Ssh};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::context::Context;
use crate::errors::IntoPy;
use crate::logs::Logs;
use crate::provider::PyProvider;
use crate::wait;

/// What a router owns; shared with the at-exit list.
pub struct Inner {
    router: Mutex<Option<Arc<econtext::Router>>>,
    logs: Arc<Logs>,
    log_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    /// Shut everything down. Call without the GIL: the module and log threads take it.
    fn shutdown(&self) {
        let r = self.router.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(r);
        self.logs.stop();
        let t = self
            .log_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let alive = self
            .router
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if alive {
            Python::attach(|py| py.detach(|| self.shutdown()));
        }
    }
}

/// Every router not yet shut down, for the at-exit hook.
static LIVE: Mutex<Vec<Weak<Inner>>> = Mutex::new(Vec::new());

/// Shut down every router still running (registered with `atexit` by `econtext`).
#[pyfunction]
pub fn _shutdown_all(py: Python<'_>) {
    let all: Vec<Arc<Inner>> = {
        let mut l = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        let v = l.iter().filter_map(Weak::upgrade).collect();
        l.clear();
        v
    };
    py.detach(|| {
        for r in &all {
            r.shutdown();
        }
    });
}

/// Starts and owns contexts. Use it as a context manager, or call `shutdown()`: every
/// context it started is shut down (killed after 2 s) when it ends, and at interpreter exit.
#[pyclass(module = "econtext", subclass, frozen)]
pub struct Router {
    inner: Arc<Inner>,
}

fn host_key(s: &str) -> PyResult<HostKeyPolicy> {
    Ok(match s {
        "enforce" => HostKeyPolicy::Enforce,
        "accept" | "accept-new" => HostKeyPolicy::AcceptNew,
        "ignore" => HostKeyPolicy::Ignore,
        _ => {
            return Err(PyValueError::new_err(format!(
                "check_host_keys={s:?}: use 'enforce', 'accept' or 'ignore'"
            )))
        }
    })
}

/// `-o Opt=val` / `-oOpt=val` pairs from an ssh argument list.
fn ssh_options(args: &[String]) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-o" {
            match it.next() {
                Some(o) => out.push(o.clone()),
                None => return Err(PyValueError::new_err("ssh_args ends with -o and no option")),
            }
        } else if let Some(o) = a.strip_prefix("-o") {
            out.push(o.to_string());
        } else {
            return Err(PyValueError::new_err(format!(
                "ssh_args: {a:?} is not supported; give ssh options as '-o', 'Name=value' (or \
                 put them in your ssh config): port, user and identity have their own arguments"
            )));
        }
    }
    Ok(out)
}

fn timeout_arg(t: Option<f64>) -> PyResult<Option<Duration>> {
    match t {
        None => Ok(None),
        Some(t) if t.is_finite() && t > 0.0 => Ok(Some(Duration::from_secs_f64(t))),
        Some(t) => Err(PyValueError::new_err(format!(
            "connect_timeout must be seconds > 0, not {t}"
        ))),
    }
}

impl Router {
    fn host(&self) -> PyResult<Arc<econtext::Router>> {
        self.inner
            .router
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err("this Router was shut down: make a new one"))
    }

    /// Bring up a context and wait for it, Ctrl-C cancelling it.
    fn start<M: Method + ?Sized>(
        slf: &Bound<'_, Self>,
        method: &M,
        via: Option<&Bound<'_, Context>>,
    ) -> PyResult<Context> {
        let py = slf.py();
        let host = slf.get().host()?;
        let connecting = match via {
            None => host.connect_async(&Dyn(method)).py_err(py)?,
            Some(v) => host.connect_via_async(&Dyn(method), v.get().host_context()),
        };
        let mut sel = econtext::Select::new();
        sel.add_connect(&connecting, 0);
        loop {
            if let Some(r) = connecting.try_result() {
                let ctx = r.py_err(py)?;
                slf.get().inner.logs.settle(py);
                return Ok(Context::new(
                    ctx,
                    slf.clone().unbind(),
                    slf.get().inner.logs.clone(),
                ));
            }
            py.detach(|| sel.wait(Some(wait::SLICE)));
            if let Err(e) = wait::signals(py) {
                connecting.cancel();
                return Err(e);
            }
        }
    }
}

#[pymethods]
impl Router {
    /// `Router(provider=None, log_level=20, max_message_size=None, heartbeat=15.0)`.
    ///
    /// `provider` serves modules to contexts (default: `econtext.forward.Provider()`, this
    /// interpreter's own import system). Remote log records and output lines at or above
    /// `log_level` go to the `logging` logger `econtext.ctx.<context name>`.
    #[new]
    #[pyo3(signature = (provider=None, log_level=20, max_message_size=None, heartbeat=15.0))]
    fn new(
        py: Python<'_>,
        provider: Option<Bound<'_, PyAny>>,
        log_level: u32,
        max_message_size: Option<u32>,
        heartbeat: f64,
    ) -> PyResult<Router> {
        let provider = match provider {
            Some(p) => p,
            None => py
                .import("econtext.forward")?
                .getattr("Provider")?
                .call0()?,
        };
        if !(heartbeat.is_finite() && heartbeat >= 0.0) {
            return Err(PyValueError::new_err(format!(
                "heartbeat must be seconds >= 0 (0: none), not {heartbeat}"
            )));
        }
        let logs = Arc::new(Logs::default());
        let mut o = RouterOptions {
            sink: logs.sink(),
            log_level,
            heartbeat: Duration::from_secs_f64(heartbeat),
            module_provider: Some(Arc::new(PyProvider::new(&provider)?)),
            ..RouterOptions::default()
        };
        if let Some(m) = max_message_size {
            o.max_frame = m;
        }
        let router = econtext::Router::with_options(o).py_err(py)?;
        let log_thread = logs
            .start()
            .map_err(|e| PyRuntimeError::new_err(format!("cannot start the log thread: {e}")))?;
        let inner = Arc::new(Inner {
            router: Mutex::new(Some(Arc::new(router))),
            logs,
            log_thread: Mutex::new(Some(log_thread)),
        });
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&inner));
        Ok(Router { inner })
    }

    /// A context on this machine: `local(python_path=None, name=None, via=None)`.
    #[pyo3(signature = (python_path=None, name=None, via=None, connect_timeout=None))]
    fn local(
        slf: &Bound<'_, Self>,
        python_path: Option<String>,
        name: Option<String>,
        via: Option<Bound<'_, Context>>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Context> {
        let mut m = Local::new();
        if let Some(p) = python_path {
            m = m.python(p);
        }
        if let Some(n) = name {
            m = m.name(n);
        }
        if let Some(t) = timeout_arg(connect_timeout)? {
            m = m.connect_timeout(t);
        }
        Router::start(slf, &m, via.as_ref())
    }

    /// A context over the system `ssh` binary (your ssh config applies).
    #[pyo3(signature = (hostname, username=None, port=None, identity_file=None, password=None,
        python_path=None, ssh_args=None, via=None, name=None, connect_timeout=None,
        check_host_keys=None, ssh_path=None, ssh_config=None, known_hosts=None))]
    #[allow(clippy::too_many_arguments)]
    fn ssh(
        slf: &Bound<'_, Self>,
        hostname: String,
        username: Option<String>,
        port: Option<u16>,
        identity_file: Option<String>,
        password: Option<String>,
        python_path: Option<String>,
        ssh_args: Option<Vec<String>>,
        via: Option<Bound<'_, Context>>,
        name: Option<String>,
        connect_timeout: Option<f64>,
        check_host_keys: Option<String>,
        ssh_path: Option<String>,
        ssh_config: Option<String>,
        known_hosts: Option<String>,
    ) -> PyResult<Context> {
        let mut m = Ssh::new(hostname);
        if let Some(u) = username {
            m = m.user(u);
        }
        if let Some(p) = port {
            m = m.port(p);
        }
        if let Some(i) = identity_file {
            m = m.identity(i);
        }
        if let Some(p) = password {
            m = m.password(Password::new(p));
        }
        if let Some(p) = python_path {
            m = m.python(p);
        }
        for o in ssh_options(&ssh_args.unwrap_or_default())? {
            m = m.option(o);
        }
        if let Some(n) = name {
            m = m.name(n);
        }
        if let Some(t) = timeout_arg(connect_timeout)? {
            m = m.connect_timeout(t);
        }
        if let Some(k) = check_host_keys {
            m = m.host_key(host_key(&k)?);
        }
        if let Some(p) = ssh_path {
            m = m.ssh_path(p);
        }
        if let Some(c) = ssh_config {
            m = m.config_file(c);
        }
        if let Some(k) = known_hosts {
            m = m.known_hosts(k);
        }
        Router::start(slf, &m, via.as_ref())
    }

    /// A context as another user through `sudo` (on this machine, or on `via`'s).
    #[pyo3(signature = (username="root".to_string(), password=None, via=None, python_path=None,
        name=None, connect_timeout=None))]
    fn sudo(
        slf: &Bound<'_, Self>,
        username: String,
        password: Option<String>,
        via: Option<Bound<'_, Context>>,
        python_path: Option<String>,
        name: Option<String>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Context> {
        let m = become_user(
            BecomeUser::sudo(&username),
            password,
            python_path,
            name,
            connect_timeout,
        )?;
        Router::start(slf, &m, via.as_ref())
    }

    /// A context as another user through `su`.
    #[pyo3(signature = (username="root".to_string(), password=None, via=None, python_path=None,
        name=None, connect_timeout=None))]
    fn su(
        slf: &Bound<'_, Self>,
        username: String,
        password: Option<String>,
        via: Option<Bound<'_, Context>>,
        python_path: Option<String>,
        name: Option<String>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Context> {
        let m = become_user(
            BecomeUser::su(&username),
            password,
            python_path,
            name,
            connect_timeout,
        )?;
        Router::start(slf, &m, via.as_ref())
    }

    /// A context as another user through `doas`.
    #[pyo3(signature = (username="root".to_string(), password=None, via=None, python_path=None,
        name=None, connect_timeout=None))]
    fn doas(
        slf: &Bound<'_, Self>,
        username: String,
        password: Option<String>,
        via: Option<Bound<'_, Context>>,
        python_path: Option<String>,
        name: Option<String>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Context> {
        let m = become_user(
            BecomeUser::doas(&username),
            password,
            python_path,
            name,
            connect_timeout,
        )?;
        Router::start(slf, &m, via.as_ref())
    }

    /// A context from a TARGET as the command line spells it (docs/methods.md): one hop or a
    /// chain joined with `/`, each started from the previous one, e.g.
    /// `'ssh:jump/sudo:app/docker:web'`, `'podman:db'`, `'setns:docker:web'`,
    /// `'nspawn:/srv/rootfs'`, `'local:/usr/bin/python3.11'`. `password` answers the hop
    /// that prompts (a `dict` of hop number (1-based) to password for several);
    /// `python_path` applies to the last hop. Returns the last hop's context.
    #[pyo3(signature = (target, password=None, via=None, python_path=None, connect_timeout=None))]
    fn connect(
        slf: &Bound<'_, Self>,
        target: &str,
        password: Option<Bound<'_, PyAny>>,
        via: Option<Bound<'_, Context>>,
        python_path: Option<String>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Context> {
        let hops = econtext::cli::hops(target);
        let n = hops.len();
        let pw_for = |i: usize| -> PyResult<Option<Password>> {
            let Some(p) = &password else { return Ok(None) };
            if let Ok(d) = p.cast::<pyo3::types::PyDict>() {
                return Ok(d
                    .get_item(i)?
                    .map(|v| v.extract::<String>())
                    .transpose()?
                    .map(Password::new));
            }
            Ok(Some(Password::new(p.extract::<String>()?)))
        };
        let mut prev = via;
        for (i, hop) in hops.iter().enumerate() {
            let opts = econtext::cli::HopOptions {
                python: if i + 1 == n {
                    python_path.clone()
                } else {
                    None
                },
                ..Default::default()
            };
            let m =
                econtext::cli::method(hop, timeout_arg(connect_timeout)?, &opts, pw_for(i + 1)?)
                    .map_err(PyValueError::new_err)?;
            let ctx = Router::start(slf, m.as_ref(), prev.as_ref())?;
            prev = Some(Bound::new(slf.py(), ctx)?);
        }
        match prev {
            Some(c) if n > 0 => Ok(c.get().clone_for(slf.py())),
            _ => Err(PyValueError::new_err(
                "empty TARGET: give e.g. 'local' or 'ssh:host'",
            )),
        }
    }

    /// Shut every context down (killing those that do not exit within 2 s) and stop the
    /// router's threads. Idempotent.
    fn shutdown(&self, py: Python<'_>) {
        let inner = self.inner.clone();
        py.detach(move || inner.shutdown());
    }

    /// The number of module requests contexts made (each one round trip).
    #[getter]
    fn module_requests(&self, py: Python<'_>) -> PyResult<u64> {
        let host = self.host()?;
        Ok(py.detach(move || host.module_requests()))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.shutdown(py);
        false
    }
}

/// A `?Sized` method as a `&dyn Method`.
struct Dyn<'a, M: ?Sized>(&'a M);

impl<M: Method + ?Sized> Method for Dyn<'_, M> {
    fn recipe(&self, title: &str, stage2_len: usize) -> econtext::connect::Recipe {
        self.0.recipe(title, stage2_len)
    }
}

fn become_user(
    mut m: BecomeUser,
    password: Option<String>,
    python_path: Option<String>,
    name: Option<String>,
    connect_timeout: Option<f64>,
) -> PyResult<BecomeUser> {
    if let Some(p) = password {
        m = m.password(Password::new(p));
    }
    if let Some(p) = python_path {
        m = m.python(p);
    }
    if let Some(n) = name {
        m = m.name(n);
    }
    if let Some(t) = timeout_arg(connect_timeout)? {
        m = m.connect_timeout(t);
    }
    Ok(m)
}
