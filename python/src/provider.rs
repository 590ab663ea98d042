//! The module server's source provider implemented by the calling interpreter's import
//! system (`econtext/forward.py`: `sys.path`, packages, namespace packages, zip files,
//! editable installs and the `__main__` script).
//!
//! Called on the router's module thread (never the broker's): it takes the GIL for each
//! module a context asks for, once per name per router (the server caches the answer).

use econtext::modules::{Source, SourceProvider};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A Python object with `names()` and `source(fullname)`.
pub struct PyProvider {
    obj: Py<PyAny>,
    names: Vec<String>,
}

impl PyProvider {
    /// Ask `obj` for its names now, on the caller's thread.
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<PyProvider> {
        let names: Vec<String> = obj.call_method0("names")?.extract()?;
        Ok(PyProvider {
            obj: obj.clone().unbind(),
            names,
        })
    }
}

impl SourceProvider for PyProvider {
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn source(&self, fullname: &str) -> Option<Source> {
        Python::attach(|py| {
            let r = self
                .obj
                .bind(py)
                .call_method1("source", (fullname,))
                .and_then(|r| {
                    if r.is_none() {
                        return Ok(None);
                    }
                    let (filename, is_package, source): (String, bool, Bound<'_, PyBytes>) =
                        r.extract()?;
                    Ok(Some(Source {
                        filename,
                        is_package,
                        source: source.as_bytes().to_vec(),
                    }))
                });
            r.unwrap_or_else(|e| {
                // A provider bug must not take the module thread down: the context sees the
                // module as missing, and the traceback goes to stderr here.
                e.print(py);
                None
            })
        })
    }
}
