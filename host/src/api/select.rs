//! Waiting on many receivers and calls at once, in arrival order: one thread drives a fleet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::channel::Receiver;
use super::context::CallHandle;
use crate::broker::notify::Ready;

/// A completion queue over receivers and calls. Add each with a token of your choosing;
/// [`wait`](Select::wait) returns the token of whatever fired next, in the order things
/// arrived: once per item a receiver got (and once at its end), once when a call's result is
/// in. Then take it with `try_recv` / `try_result`.
///
/// ```no_run
/// # use econtext::{Router, Local, Select};
/// # let router = Router::new()?;
/// # let a = router.connect(&Local::new())?;
/// # let b = router.connect(&Local::new())?;
/// let calls = [a.call_async("os.getpid", vec![])?, b.call_async("os.getpid", vec![])?];
/// let mut sel = Select::new();
/// for (i, c) in calls.iter().enumerate() {
///     sel.add_call(c, i);
/// }
/// for _ in 0..calls.len() {
///     let i = sel.wait(None).unwrap();
///     println!("{i}: {:?}", calls[i].try_result());
/// }
/// # Ok::<(), econtext::Error>(())
/// ```
#[derive(Default)]
pub struct Select {
    ready: Arc<Ready>,
}

impl Select {
    /// An empty set.
    pub fn new() -> Select {
        Select::default()
    }

    /// Report `rx`'s items (and its end) as `token`.
    pub fn add_receiver(&mut self, rx: &Receiver, token: usize) {
        rx.watch(self.ready.clone(), token);
    }

    /// Report `call`'s result as `token`.
    pub fn add_call(&mut self, call: &CallHandle, token: usize) {
        call.watch(self.ready.clone(), token);
    }

    /// Report `connecting`'s outcome (up or failed) as `token`.
    pub fn add_connect(&mut self, connecting: &super::router::Connecting, token: usize) {
        connecting.watch(self.ready.clone(), token);
    }

    /// The token of what fired next, waiting at most `timeout` (`None`: as long as it takes).
    pub fn wait(&self, timeout: Option<Duration>) -> Option<usize> {
        self.ready.pop(timeout.map(|t| Instant::now() + t))
    }
}
