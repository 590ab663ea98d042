//! Channels from Python: `Receiver` (iterate what a remote function sends), `Sender` (feed a
//! remote function's channel) and `Select` (wait on many receivers and calls at once).

use std::sync::Mutex;

use econtext::Value;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::context::CallHandle;
use crate::errors::IntoPy;
use crate::value::{from_py, to_py, SenderRef};
use crate::wait;

/// The receiving end of a channel. Iterate it (`for item in receiver:`): it ends when the
/// remote side closes, raises the remote exception on an error close, and raises
/// `econtext.Disconnected` when the producer's context goes. Pass it (or `.sender`) to the
/// remote function, where it is a `Sender`. `close()` (or dropping it) closes the channel.
#[pyclass(module = "econtext", frozen)]
pub struct Receiver {
    inner: Mutex<Option<econtext::Receiver>>,
    handle: u32,
}

impl Receiver {
    pub(crate) fn new(rx: econtext::Receiver) -> Receiver {
        Receiver {
            handle: rx.handle(),
            inner: Mutex::new(Some(rx)),
        }
    }

    pub(crate) fn sender_value(&self) -> PyResult<Value> {
        Ok(Value::Sender(0, self.handle))
    }

    pub(crate) fn watch(&self, sel: &mut econtext::Select, token: usize) {
        if let Some(rx) = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            sel.add_receiver(rx, token);
        }
    }

    /// The next item by `deadline`: `Ok(Some(Ok(v)))`, `Ok(Some(Err(closed)))` at the end,
    /// `Ok(None)` when the deadline passed.
    fn next_item(
        &self,
        py: Python<'_>,
        deadline: Option<std::time::Instant>,
    ) -> PyResult<Option<Result<Value, econtext::Error>>> {
        // Blocks on the receiver itself (never its watcher: a Select watching it is still
        // told), in slices, the lock held only without the GIL.
        loop {
            let Some(s) = wait::slice(deadline) else {
                return Ok(None);
            };
            let got = py.detach(|| {
                let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                match g.as_ref() {
                    None => Some(Err(econtext::Error::ChannelClosed {
                        context: "this receiver (closed here)".into(),
                    })),
                    Some(rx) => match rx.recv_timeout(s) {
                        Ok(Some(v)) => Some(Ok(v)),
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    },
                }
            });
            if got.is_some() {
                return Ok(got);
            }
            wait::signals(py)?;
        }
    }
}

#[pymethods]
impl Receiver {
    /// What to pass to the remote function (a `Sender` there); passing the receiver itself
    /// does the same.
    #[getter]
    fn sender(&self) -> SenderRef {
        SenderRef {
            context_id: 0,
            handle: self.handle,
        }
    }

    /// The next item, waiting at most `timeout` seconds: raises `econtext.ChannelClosed` at
    /// the end, `econtext.TimeoutError` when none came in time.
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        match self.next_item(py, wait::deadline(timeout)?)? {
            Some(r) => Ok(to_py(py, &r.py_err(py)?)?.unbind()),
            None => Err(crate::errors::timeout(py, timeout.unwrap_or_default())),
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.next_item(py, None)? {
            Some(Ok(v)) => Ok(Some(to_py(py, &v)?.unbind())),
            Some(Err(econtext::Error::ChannelClosed { .. })) | None => Ok(None),
            Some(Err(e)) => Err(crate::errors::to_py(py, e)),
        }
    }

    /// Close the channel: the remote `send` raises and `open()` turns false there.
    fn close(&self, py: Python<'_>) {
        let rx = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(rx));
    }

    fn __repr__(&self) -> String {
        format!("Receiver(handle={})", self.handle)
    }
}

/// The sending end of a channel to a remote function (`Context.stream_to`). `send` waits for
/// credit (the remote side holds at most a window of unread bytes); `close()` ends the
/// remote iteration.
#[pyclass(module = "econtext", frozen)]
pub struct Sender {
    inner: Mutex<Option<econtext::Sender>>,
}

impl Sender {
    pub(crate) fn new(tx: econtext::Sender) -> Sender {
        Sender {
            inner: Mutex::new(Some(tx)),
        }
    }
}

#[pymethods]
impl Sender {
    /// Send one value, waiting for credit.
    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = from_py(value)?;
        let r = py.detach(|| {
            let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            g.as_ref().map(|tx| tx.send(v))
        });
        match r {
            None => Err(PyRuntimeError::new_err("this Sender is closed")),
            Some(r) => r.py_err(py),
        }
    }

    /// True while the remote side still takes items.
    fn open(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|t| t.is_open())
    }

    /// End the stream (the remote `for item in channel` loop finishes).
    fn close(&self, py: Python<'_>) {
        let tx = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(tx));
    }
}

/// Wait on many receivers and calls at once: `sel = Select([rx1, call2])`, then
/// `sel.wait(timeout)` returns whichever has something (an item, its end, a result), in the
/// order things arrived; take it with `get()`.
#[pyclass(module = "econtext")]
pub struct Select {
    inner: econtext::Select,
    members: Vec<Py<PyAny>>,
}

#[pymethods]
impl Select {
    #[new]
    #[pyo3(signature = (items=None))]
    fn new(items: Option<Vec<Bound<'_, PyAny>>>) -> PyResult<Select> {
        let mut s = Select {
            inner: econtext::Select::new(),
            members: Vec::new(),
        };
        for i in items.unwrap_or_default() {
            s.add(&i)?;
        }
        Ok(s)
    }

    /// Add a `Receiver` or a `CallHandle`.
    fn add(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let token = self.members.len();
        if let Ok(r) = item.cast::<Receiver>() {
            r.get().watch(&mut self.inner, token);
        } else if let Ok(c) = item.cast::<CallHandle>() {
            match c.get().host() {
                Some(h) => self.inner.add_call(&h, token),
                None => {
                    return Err(PyRuntimeError::new_err(
                        "this call's result was already taken: add it before get()",
                    ))
                }
            }
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "Select takes Receiver and CallHandle objects",
            ));
        }
        self.members.push(item.clone().unbind());
        Ok(())
    }

    /// The member that fired next, waiting at most `timeout` seconds (None: as long as it
    /// takes); `None` when nothing did in time.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = wait::deadline(timeout)?;
        loop {
            let Some(s) = wait::slice(deadline) else {
                return Ok(None);
            };
            let sel = &self.inner;
            if let Some(t) = py.detach(|| sel.wait(Some(s))) {
                return Ok(self.members.get(t).map(|m| m.clone_ref(py)));
            }
            wait::signals(py)?;
        }
    }

    fn __len__(&self) -> usize {
        self.members.len()
    }
}
