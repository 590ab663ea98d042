//! Waiting without the GIL, in slices, so Ctrl-C reaches the caller: between slices the
//! waiting thread takes the GIL back and runs Python's signal handlers (on the main thread
//! a pending SIGINT raises `KeyboardInterrupt` there).

use std::time::{Duration, Instant};

use pyo3::prelude::*;

/// Longest stretch without a look at pending signals.
pub const SLICE: Duration = Duration::from_millis(100);

/// How long the next slice may be before `deadline` (`None`: it has passed).
pub fn slice(deadline: Option<Instant>) -> Option<Duration> {
    match deadline {
        None => Some(SLICE),
        Some(d) => {
            let left = d.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                None
            } else {
                Some(left.min(SLICE))
            }
        }
    }
}

/// Seconds (a Python float or int; `None`: no limit) as a deadline from now.
pub fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => {
            Ok(Some(Instant::now() + Duration::from_secs_f64(t.min(1e9))))
        }
        Some(t) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "timeout must be a number of seconds >= 0, not {t}"
        ))),
    }
}

/// Run signal handlers between slices (`KeyboardInterrupt` on the main thread).
pub fn signals(py: Python<'_>) -> PyResult<()> {
    py.check_signals()
}
