//! econtext errors as Python exceptions. The classes live in `econtext/errors.py` (so remote
//! code and the controller share them); each carries `.kind`, the host's `ErrorKind` name.

use econtext::{Error, ErrorKind, RemoteError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    Ok(MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("econtext.errors")?.unbind())
        })?
        .bind(py))
}

/// An `econtext.RemoteError` instance for a remote exception.
pub fn remote_error<'py>(py: Python<'py>, e: &RemoteError) -> PyResult<Bound<'py, PyAny>> {
    module(py)?
        .getattr("RemoteError")?
        .call1((&e.type_name, &e.message, &e.traceback))
}

/// The snake-case name of why a connection failed (`wrong_password`, `host_key_unknown`...).
fn failure_name(f: econtext::ConnectFailure) -> String {
    snake(&format!("{f:?}"))
}

/// `NotFound` as `not_found`.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The Python exception for a host error.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match build(py, e) {
        Ok(err) => err,
        Err(err) => err,
    }
}

fn build(py: Python<'_>, e: Error) -> PyResult<PyErr> {
    let m = module(py)?;
    let kind = e.kind().as_str();
    let message = e.to_string();
    let exc = match &e {
        Error::Remote(r) => remote_error(py, r)?,
        Error::File {
            context,
            path,
            kind: file_kind,
            ..
        } => m
            .getattr("FileError")?
            .call1((message, file_kind.as_str(), path, context))?,
        Error::Connect { failure, .. } => {
            m.getattr("ConnectError")?
                .call1((message, kind, failure_name(*failure)))?
        }
        _ if e.is_connect() => m
            .getattr("ConnectError")?
            .call1((message, kind, py.None()))?,
        _ => {
            let class = match e.kind() {
                ErrorKind::Timeout => "TimeoutError",
                ErrorKind::Disconnected => "Disconnected",
                ErrorKind::Closed => "ChannelClosed",
                ErrorKind::Usage => "UsageError",
                _ => "Error",
            };
            m.getattr(class)?.call1((message, kind))?
        }
    };
    Ok(PyErr::from_value(exc))
}

/// `econtext.TimeoutError` for a wait of `after` seconds that saw no answer.
pub fn timeout(py: Python<'_>, after: f64) -> PyErr {
    let r = module(py).and_then(|m| {
        m.getattr("TimeoutError")?.call1((
            format!("no answer within {after} s (the call goes on there; wait again or shut the context down)"),
            "timeout",
        ))
    });
    match r {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// Shorthand: a host result as a Python result.
pub trait IntoPy<T> {
    /// Convert the error side.
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}
