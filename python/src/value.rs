//! Python objects to and from econtext values (docs/wire-format.md): None, bool, int of any
//! size, float, str, bytes, list, tuple, dict, and references to contexts and channels.

use econtext::Value;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};

use crate::channel::Receiver;
use crate::context::Context;

/// Deepest nesting the codec accepts (econtext_core::value::MAX_DEPTH).
const MAX_DEPTH: usize = 64;

/// A reference to a channel endpoint (a `Sender` there): what `Receiver.sender` gives, and
/// what a remote function returns when it returns its channel.
#[pyclass(module = "econtext", frozen, eq, hash, skip_from_py_object)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SenderRef {
    /// The context it lives at (0: this controller).
    #[pyo3(get)]
    pub context_id: u32,
    /// Its handle there.
    #[pyo3(get)]
    pub handle: u32,
}

#[pymethods]
impl SenderRef {
    #[new]
    fn new(context_id: u32, handle: u32) -> SenderRef {
        SenderRef { context_id, handle }
    }

    fn __repr__(&self) -> String {
        format!("SenderRef({}, {})", self.context_id, self.handle)
    }
}

/// A context named by id in a value (a remote function returned a `Context`).
#[pyclass(module = "econtext", frozen, eq, hash, skip_from_py_object)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ContextRef {
    /// The context id.
    #[pyo3(get)]
    pub context_id: u32,
}

#[pymethods]
impl ContextRef {
    #[new]
    fn new(context_id: u32) -> ContextRef {
        ContextRef { context_id }
    }

    fn __repr__(&self) -> String {
        format!("ContextRef({})", self.context_id)
    }
}

/// A Python object as a value, or a `TypeError` naming what cannot be sent.
pub fn from_py(o: &Bound<'_, PyAny>) -> PyResult<Value> {
    from_py_depth(o, 0)
}

fn from_py_depth(o: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "econtext cannot send values nested deeper than {MAX_DEPTH} levels"
        )));
    }
    let d = depth + 1;
    if o.is_none() {
        return Ok(Value::None);
    }
    if let Ok(b) = o.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if o.is_instance_of::<PyInt>() {
        if let Ok(i) = o.extract::<i64>() {
            return Ok(Value::Int(i));
        }
        // Minimal little-endian two's complement, as the codec wants it.
        let bits: usize = o.call_method0("bit_length")?.extract()?;
        let kw = PyDict::new(o.py());
        kw.set_item("signed", true)?;
        let signed = o.call_method("to_bytes", (bits / 8 + 1, "little"), Some(&kw))?;
        return Ok(Value::big_int(signed.cast::<PyBytes>()?.as_bytes()));
    }
    if let Ok(f) = o.cast::<PyFloat>() {
        return Ok(Value::Float(f.value()));
    }
    if let Ok(s) = o.cast::<PyString>() {
        return Ok(Value::Str(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = o.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = o.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    if o.is_instance_of::<PyMemoryView>() {
        let b = o.call_method0("tobytes")?;
        return Ok(Value::Bytes(b.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    if let Ok(l) = o.cast::<PyList>() {
        let mut v = Vec::with_capacity(l.len());
        for x in l.iter() {
            v.push(from_py_depth(&x, d)?);
        }
        return Ok(Value::List(v));
    }
    if let Ok(t) = o.cast::<PyTuple>() {
        let mut v = Vec::with_capacity(t.len());
        for x in t.iter() {
            v.push(from_py_depth(&x, d)?);
        }
        return Ok(Value::Tuple(v));
    }
    if let Ok(m) = o.cast::<PyDict>() {
        let mut v = Vec::with_capacity(m.len());
        for (k, x) in m.iter() {
            v.push((from_py_depth(&k, d)?, from_py_depth(&x, d)?));
        }
        return Ok(Value::Dict(v));
    }
    if let Ok(c) = o.cast::<Context>() {
        return Ok(Value::Context(c.get().id()));
    }
    if let Ok(r) = o.cast::<Receiver>() {
        return r.get().sender_value();
    }
    if let Ok(s) = o.cast::<SenderRef>() {
        let s = s.get();
        return Ok(Value::Sender(s.context_id, s.handle));
    }
    if let Ok(c) = o.cast::<ContextRef>() {
        return Ok(Value::Context(c.get().context_id));
    }
    let t = o.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "econtext cannot send a {t}: pass None, bool, int, float, str, bytes, list, tuple, dict, \
         a Context or a Receiver (convert other objects to these first)"
    )))
}

/// A value as a Python object (a `RemoteError` value becomes an `econtext.RemoteError`
/// instance, not raised).
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::None => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::BigInt(le) => {
            let kw = PyDict::new(py);
            kw.set_item("signed", true)?;
            py.get_type::<PyInt>().call_method(
                "from_bytes",
                (PyBytes::new(py, le), "little"),
                Some(&kw),
            )?
        }
        Value::Float(f) => PyFloat::new(py, *f).into_any(),
        Value::Str(s) => PyString::new(py, s).into_any(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any(),
        Value::List(l) => {
            let items = l
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Tuple(l) => {
            let items = l
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any()
        }
        Value::Dict(pairs) => {
            let d = PyDict::new(py);
            for (k, x) in pairs {
                d.set_item(to_py(py, k)?, to_py(py, x)?)?;
            }
            d.into_any()
        }
        Value::Context(id) => Bound::new(py, ContextRef { context_id: *id })?.into_any(),
        Value::Sender(c, h) => Bound::new(
            py,
            SenderRef {
                context_id: *c,
                handle: *h,
            },
        )?
        .into_any(),
        Value::Error(e) => crate::errors::remote_error(py, e)?,
    })
}
