//! Forwarded log records and output lines delivered to Python's `logging`.
//!
//! The broker calls the sink on its own thread, which never touches a Python object: the sink
//! only queues. One thread per router takes the queue and logs each record with the GIL held,
//! to the logger `econtext.ctx.<context>` as `<remote logger>: <message>` (`stdout: ...` for
//! a line a remote program printed). A call settles the queue before it returns, so what the
//! call logged or printed is logged before its result is seen.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use econtext::{LogEvent, LogSink};
use pyo3::prelude::*;

#[derive(Default)]
struct State {
    events: VecDeque<LogEvent>,
    pushed: u64,
    delivered: u64,
    stop: bool,
}

/// The queue between the broker and the delivering thread.
#[derive(Default)]
pub struct Logs {
    state: Mutex<State>,
    changed: Condvar,
    /// The delivering thread (a handler that calls a context from there must not wait on
    /// itself).
    thread: std::sync::OnceLock<std::thread::ThreadId>,
}

impl Logs {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sink to give the router.
    pub fn sink(self: &Arc<Self>) -> LogSink {
        let me = self.clone();
        Arc::new(move |e: &LogEvent| {
            let mut s = me.lock();
            s.events.push_back(e.clone());
            s.pushed += 1;
            drop(s);
            me.changed.notify_all();
        })
    }

    /// Wait (without the GIL) until everything queued so far has been logged.
    pub fn settle(&self, py: Python<'_>) {
        if self.thread.get() == Some(&std::thread::current().id()) {
            return;
        }
        let target = {
            let s = self.lock();
            if s.delivered == s.pushed || s.stop {
                return;
            }
            s.pushed
        };
        py.detach(|| {
            let mut s = self.lock();
            while s.delivered < target && !s.stop {
                s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        });
    }

    /// Deliver what is left, then end the thread (call without the GIL).
    pub fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }

    /// Start the delivering thread.
    pub fn start(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let me = self.clone();
        let t = std::thread::Builder::new()
            .name("econtext-logs".into())
            .spawn(move || me.run())?;
        let _ = self.thread.set(t.thread().id());
        Ok(t)
    }

    fn run(&self) {
        loop {
            let mut s = self.lock();
            while s.events.is_empty() && !s.stop {
                s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.events.is_empty() {
                return;
            }
            let batch: Vec<LogEvent> = s.events.drain(..).collect();
            drop(s);
            Python::attach(|py| {
                for e in &batch {
                    if let Err(err) = deliver(py, e) {
                        err.print(py);
                    }
                }
            });
            self.lock().delivered += batch.len() as u64;
            self.changed.notify_all();
        }
    }
}

fn deliver(py: Python<'_>, e: &LogEvent) -> PyResult<()> {
    let logger = py
        .import("logging")?
        .call_method1("getLogger", (format!("econtext.ctx.{}", e.context),))?;
    logger.call_method1("log", (e.level, "%s: %s", &e.logger, &e.message))?;
    Ok(())
}
