//! The Python binding: `import econtext` drives the Rust host (docs/python.md).
//!
//! The broker thread never touches a Python object: log records are queued for a thread of
//! the binding's own ([`logs`]), module sources are asked for on the router's module thread
//! ([`provider`]), and every wait releases the GIL in slices so Ctrl-C raises in the caller
//! ([`wait`]).

use pyo3::prelude::*;

mod channel;
mod context;
mod errors;
mod logs;
mod provider;
mod router;
mod value;
mod wait;

#[pymodule]
fn _econtext(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<router::Router>()?;
    m.add_class::<context::Context>()?;
    m.add_class::<context::CallHandle>()?;
    m.add_class::<channel::Receiver>()?;
    m.add_class::<channel::Sender>()?;
    m.add_class::<channel::Select>()?;
    m.add_class::<value::SenderRef>()?;
    m.add_class::<value::ContextRef>()?;
    m.add_function(wrap_pyfunction!(router::_shutdown_all, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
