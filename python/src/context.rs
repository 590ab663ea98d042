//! `econtext.Context` and `econtext.CallHandle`: calls into one interpreter.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use econtext::Value;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::channel::{Receiver, Sender};
use crate::errors::IntoPy;
use crate::logs::Logs;
use crate::router::Router;
use crate::value::{from_py, to_py};
use crate::wait;

static FUNCTION_NAME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `module.qualname` for a function object (econtext/_names.py says what is refused and
/// why), or the string itself.
pub fn function_name(f: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = f.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let py = f.py();
    let namer = FUNCTION_NAME.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("econtext._names")?
                .getattr("function_name")?
                .unbind(),
        )
    })?;
    namer.bind(py).call1((f,))?.extract()
}

/// Positional and keyword arguments as values.
type Arguments = (Vec<Value>, Vec<(String, Value)>);

fn arguments(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Arguments> {
    let a = args
        .iter()
        .map(|x| from_py(&x))
        .collect::<PyResult<Vec<_>>>()?;
    let mut kw = Vec::new();
    if let Some(d) = kwargs {
        for (k, v) in d.iter() {
            kw.push((k.extract::<String>()?, from_py(&v)?));
        }
    }
    Ok((a, kw))
}

/// One interpreter started by a router. Hashable; equal when it is the same context.
#[pyclass(module = "econtext", frozen)]
pub struct Context {
    inner: econtext::Context,
    router: Py<Router>,
    logs: Arc<Logs>,
}

impl Context {
    pub(crate) fn new(inner: econtext::Context, router: Py<Router>, logs: Arc<Logs>) -> Context {
        Context {
            inner,
            router,
            logs,
        }
    }

    /// The context id (what a `Context` argument sends).
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    pub(crate) fn clone_for(&self, py: Python<'_>) -> Context {
        Context {
            inner: self.inner.clone(),
            router: self.router.clone_ref(py),
            logs: self.logs.clone(),
        }
    }

    pub(crate) fn host_context(&self) -> &econtext::Context {
        &self.inner
    }

    /// The call of `function(*args, **kwargs)`, ready to send.
    fn builder(
        &self,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<econtext::CallBuilder<'_>> {
        let name = function_name(function)?;
        let (a, kw) = arguments(args, kwargs)?;
        let mut b = self.inner.build(&name).py_err(function.py())?.args(a);
        for (k, v) in kw {
            b = b.kwarg(k, v);
        }
        Ok(b)
    }

    fn spawn(
        &self,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<econtext::CallHandle> {
        self.builder(function, args, kwargs)?
            .spawn()
            .py_err(function.py())
    }
}

/// Wait for a call's result until `deadline` (None: none), Ctrl-C raising in the caller.
/// `Ok(None)`: the deadline passed and the call goes on (the handle still waits for it).
/// Waits on the call's own latch: a `Select` watching the call is still told.
fn wait_result(
    py: Python<'_>,
    h: &econtext::CallHandle,
    deadline: Option<Instant>,
) -> PyResult<Option<Result<Value, econtext::Error>>> {
    if let Some(r) = h.try_result() {
        return Ok(Some(r));
    }
    loop {
        let Some(s) = wait::slice(deadline) else {
            return Ok(None);
        };
        if let Some(r) = py.detach(|| h.poll(s)) {
            return Ok(Some(r));
        }
        wait::signals(py)?;
    }
}

#[pymethods]
impl Context {
    /// `call(fn, *args, **kwargs)`: run `fn(*args, **kwargs)` there and return its result.
    /// `fn` is a module-level function, class, staticmethod or classmethod (sent as
    /// `module.qualname`; functions of the `__main__` script are imported there from it), a
    /// builtin such as `os.system`, or a dotted name string.
    #[pyo3(signature = (function, *args, **kwargs))]
    fn call(
        &self,
        py: Python<'_>,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        // `econtext.fakessh.run` runs on this host, driving the context (the seed's form).
        if function.hasattr("_econtext_fakessh")? {
            let (to, argv): (Bound<'_, Context>, Vec<String>) = args.extract()?;
            return Ok(self
                .fakessh(py, &to, argv)?
                .into_pyobject(py)?
                .into_any()
                .unbind());
        }
        let h = self.spawn(function, args, kwargs)?;
        let r = wait_result(py, &h, None)?.expect("no deadline");
        self.logs.settle(py);
        Ok(to_py(py, &r.py_err(py)?)?.unbind())
    }

    /// `fakessh(to, argv)`: run `argv` (rsync, scp, sftp, git...) in this context with every
    /// ssh it starts reaching `to` over econtext's own connections; returns its exit status
    /// (128 + N for signal N). `ctx.call(econtext.fakessh.run, to, argv)` is the same (the
    /// seed's spelling). Ctrl-C here stops the program there and raises `KeyboardInterrupt`.
    fn fakessh(&self, py: Python<'_>, to: &Bound<'_, Context>, argv: Vec<String>) -> PyResult<i32> {
        let p = self.inner.fakessh(&to.get().inner, argv).py_err(py)?;
        let (p, pid) = py.detach(move || {
            let pid = p.pid(std::time::Duration::from_secs(60));
            (p, pid)
        });
        let pid = pid.py_err(py)?;
        let (tx, mut rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("econtext-fakessh".into())
            .spawn(move || {
                let _ = tx.send(p.wait());
            })
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        loop {
            let (got, back) = py.detach(move || (rx.recv_timeout(wait::SLICE), rx));
            rx = back;
            match got {
                Ok(status) => {
                    self.logs.settle(py);
                    return Ok(status.py_err(py)?.shell_code());
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "the fakessh waiter ended without a status",
                    ))
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Err(e) = wait::signals(py) {
                let _ = self.inner.call_no_reply(
                    "econtext_process.kill",
                    vec![Value::Int(pid), Value::Int(15)],
                );
                return Err(e);
            }
        }
    }

    /// `put(local, remote, ...)`: copy the local file (or, with `recursive=True`, directory)
    /// to `remote` there, streamed, atomic and verified (docs/files.md). Returns a dict:
    /// `bytes`, `sha256`, `skipped` (a tree: `files`, `dirs`, `symlinks`, `bytes`,
    /// `skipped`). Failures raise `econtext.FileError` (`.file_kind`, `.path`).
    #[pyo3(signature = (local, remote, *, mode=None, owner=None, group=None, preserve=false,
        mkdirs=false, fsync=true, skip_unchanged=false, overwrite=true, follow_symlinks=false,
        verify=true, recursive=false))]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        py: Python<'_>,
        local: std::path::PathBuf,
        remote: std::path::PathBuf,
        mode: Option<u32>,
        owner: Option<String>,
        group: Option<String>,
        preserve: bool,
        mkdirs: bool,
        fsync: bool,
        skip_unchanged: bool,
        overwrite: bool,
        follow_symlinks: bool,
        verify: bool,
        recursive: bool,
    ) -> PyResult<Py<PyAny>> {
        let remote = text(remote)?;
        let o = econtext::PutOptions {
            mode,
            owner,
            group,
            preserve_times: preserve,
            mkdirs,
            fsync,
            skip_unchanged,
            overwrite,
            follow_symlinks,
            verify,
            meter: None,
        };
        let c = self.inner.clone();
        let r = py.detach(move || {
            if recursive {
                c.put_tree(&local, &remote, &o).map(|t| t.to_value())
            } else {
                c.put(&local, &remote, &o).map(|t| t.to_value())
            }
        });
        Ok(to_py(py, &r.py_err(py)?)?.unbind())
    }

    /// `get(remote, local, ...)`: fetch the file (or, with `recursive=True`, directory)
    /// `remote` into `local` here, atomic and verified; `preserve` copies mode and mtime.
    /// Returns a dict as `put` does.
    #[pyo3(signature = (remote, local, *, preserve=false, follow_symlinks=false, recursive=false, verify=true))]
    #[allow(clippy::too_many_arguments)]
    fn get(
        &self,
        py: Python<'_>,
        remote: std::path::PathBuf,
        local: std::path::PathBuf,
        preserve: bool,
        follow_symlinks: bool,
        recursive: bool,
        verify: bool,
    ) -> PyResult<Py<PyAny>> {
        let remote = text(remote)?;
        let o = econtext::GetOptions {
            preserve,
            follow_symlinks,
            meter: None,
            verify,
        };
        let c = self.inner.clone();
        let r = py.detach(move || {
            if recursive {
                c.get_tree(&remote, &local, &o).map(|t| t.to_value())
            } else {
                c.get(&remote, &local, &o).map(|t| t.to_value())
            }
        });
        Ok(to_py(py, &r.py_err(py)?)?.unbind())
    }

    /// Like `call`, without waiting: returns a `CallHandle` (`.get(timeout=None)`).
    #[pyo3(signature = (function, *args, **kwargs))]
    fn call_async(
        &self,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<CallHandle> {
        let h = self.spawn(function, args, kwargs)?;
        Ok(CallHandle::new(h, self.logs.clone()))
    }

    /// Like `call`, asking for no answer (an exception is only logged there).
    #[pyo3(signature = (function, *args, **kwargs))]
    fn call_no_reply(
        &self,
        py: Python<'_>,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        self.builder(function, args, kwargs)?.no_reply().py_err(py)
    }

    /// A channel whose items a function there sends: pass the receiver (or its `sender`) as
    /// an argument; there it is a `Sender` with `send(value)`, `open()` and `close()`.
    fn receiver(&self, py: Python<'_>) -> PyResult<Receiver> {
        Ok(Receiver::new(self.inner.receiver().py_err(py)?))
    }

    /// `stream(fn, *args, **kwargs)`: run a generator (or any iterable-returning function)
    /// there and iterate its items here as they come, with flow control.
    #[pyo3(signature = (function, *args, **kwargs))]
    fn stream(
        &self,
        py: Python<'_>,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Receiver> {
        let name = function_name(function)?;
        let (a, kw) = arguments(args, kwargs)?;
        if !kw.is_empty() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "stream() takes positional arguments only",
            ));
        }
        Ok(Receiver::new(self.inner.stream(&name, a).py_err(py)?))
    }

    /// `stream_to(fn, *args)`: run `fn(channel, *args)` there, `channel` iterating what the
    /// returned `Sender` sends; returns `(sender, call_handle)`.
    #[pyo3(signature = (function, *args))]
    fn stream_to(
        &self,
        py: Python<'_>,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<(Sender, CallHandle)> {
        let name = function_name(function)?;
        let (a, _) = arguments(args, None)?;
        let (tx, h) = self.inner.stream_to(&name, a).py_err(py)?;
        Ok((Sender::new(tx), CallHandle::new(h, self.logs.clone())))
    }

    /// Ask the context to exit and wait for it (killing it after 2 s).
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let c = self.inner.clone();
        py.detach(move || c.shutdown()).py_err(py)
    }

    /// Kill it now, with the programs it started.
    fn kill(&self) {
        self.inner.kill()
    }

    /// The router that started it.
    #[getter]
    fn router(&self, py: Python<'_>) -> Py<Router> {
        self.router.clone_ref(py)
    }

    /// Its name (`local`, `ssh:web1`, `ssh:bastion/sudo:app`...).
    #[getter]
    fn name(&self) -> String {
        self.inner.name().to_string()
    }

    /// Its id.
    #[getter]
    fn context_id(&self) -> u32 {
        self.inner.id()
    }

    /// True once it has exited or its connection is gone.
    #[getter]
    fn is_gone(&self) -> bool {
        self.inner.is_gone()
    }

    fn __repr__(&self) -> String {
        format!("Context({}, {:?})", self.inner.id(), self.inner.name())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Context>()
            .is_ok_and(|o| o.get().inner.id() == self.inner.id() && o.get().router.is(&self.router))
    }

    fn __hash__(&self) -> u64 {
        u64::from(self.inner.id())
    }
}

/// A remote path (str or path-like) as text: remote paths cross as str.
fn text(p: std::path::PathBuf) -> PyResult<String> {
    p.into_os_string().into_string().map_err(|p| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "the remote path {p:?} is not UTF-8: remote paths cross as text"
        ))
    })
}

struct CallState {
    handle: Option<Arc<econtext::CallHandle>>,
    outcome: Option<Result<Py<PyAny>, PyErr>>,
}

/// A call in flight (`Context.call_async`). `get()` returns its result (or raises its
/// exception) as often as asked.
#[pyclass(module = "econtext", frozen)]
pub struct CallHandle {
    state: Mutex<CallState>,
    logs: Arc<Logs>,
}

impl CallHandle {
    fn new(h: econtext::CallHandle, logs: Arc<Logs>) -> CallHandle {
        CallHandle {
            state: Mutex::new(CallState {
                handle: Some(Arc::new(h)),
                outcome: None,
            }),
            logs,
        }
    }

    fn outcome(&self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.outcome.as_ref().map(|o| match o {
            Ok(v) => Ok(v.clone_ref(py)),
            Err(e) => Err(e.clone_ref(py)),
        })
    }

    fn keep(&self, py: Python<'_>, r: Result<Value, econtext::Error>) -> PyResult<Py<PyAny>> {
        self.logs.settle(py);
        let o = r.py_err(py).and_then(|v| Ok(to_py(py, &v)?.unbind()));
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.handle = None;
        s.outcome = Some(match &o {
            Ok(v) => Ok(v.clone_ref(py)),
            Err(e) => Err(e.clone_ref(py)),
        });
        o
    }

    pub(crate) fn host(&self) -> Option<Arc<econtext::CallHandle>> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .handle
            .clone()
    }
}

#[pymethods]
impl CallHandle {
    /// The result, waiting at most `timeout` seconds (None: as long as it takes); raises
    /// `econtext.TimeoutError` when it passes (the call goes on there: ask again later).
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let deadline = wait::deadline(timeout)?;
        loop {
            if let Some(o) = self.outcome(py) {
                return o;
            }
            let Some(h) = self.host() else { continue };
            match wait_result(py, &h, deadline)? {
                Some(r) => return self.keep(py, r),
                None => {
                    // Another thread may have taken it meanwhile.
                    if let Some(o) = self.outcome(py) {
                        return o;
                    }
                    let after = timeout.unwrap_or_default();
                    return Err(crate::errors::timeout(py, after));
                }
            }
        }
    }

    /// True once the result is in (`get()` then returns at once).
    fn ready(&self, py: Python<'_>) -> PyResult<bool> {
        if self.outcome(py).is_some() {
            return Ok(true);
        }
        let Some(h) = self.host() else {
            return Ok(self.outcome(py).is_some());
        };
        match h.try_result() {
            Some(r) => {
                let _ = self.keep(py, r);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
