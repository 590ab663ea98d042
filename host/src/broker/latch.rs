//! A one-shot slot an API thread waits on with a deadline, filled by the broker thread.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Wait on `cv` once, until notified or until `deadline` (`None`: as long as it takes).
/// `Err` gives the guard back when the deadline had already passed.
pub(crate) fn wait_once<'a, T>(
    cv: &Condvar,
    g: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> Result<MutexGuard<'a, T>, MutexGuard<'a, T>> {
    match deadline {
        None => Ok(cv.wait(g).unwrap_or_else(|e| e.into_inner())),
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return Err(g);
            }
            Ok(cv
                .wait_timeout(g, d - now)
                .unwrap_or_else(|e| e.into_inner())
                .0)
        }
    }
}

/// A value delivered once across threads.
#[derive(Debug)]
pub struct Latch<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
    /// A completion queue to tell when the value arrives.
    pub watch: super::notify::Watch,
}

impl<T> Default for Latch<T> {
    fn default() -> Self {
        Latch {
            value: Mutex::new(None),
            ready: Condvar::new(),
            watch: Default::default(),
        }
    }
}

impl<T> Latch<T> {
    /// Fill the slot (the first value wins) and wake the waiter.
    pub fn set(&self, v: T) {
        let mut g = self.value.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(v);
            self.ready.notify_all();
            drop(g);
            self.watch.fire();
        }
    }

    /// True once a value is there (not taken).
    pub fn is_set(&self) -> bool {
        self.value
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Take the value if it is there.
    pub fn try_take(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Wait until the value arrives or the deadline passes (`None`: forever).
    pub fn wait(&self, deadline: Option<Instant>) -> Option<T> {
        let mut g = self.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(v) = g.take() {
                return Some(v);
            }
            match wait_once(&self.ready, g, deadline) {
                Ok(woken) => g = woken,
                Err(_) => return None,
            }
        }
    }
}

impl<T: Clone> Latch<T> {
    /// A copy of the value if it is there (the value stays).
    pub fn try_peek(&self) -> Option<T> {
        self.value.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wait for the value without taking it (it stays visible to everyone meanwhile).
    pub fn wait_peek(&self, deadline: Option<Instant>) -> Option<T> {
        let mut g = self.value.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(v) = g.as_ref() {
                return Some(v.clone());
            }
            match wait_once(&self.ready, g, deadline) {
                Ok(woken) => g = woken,
                Err(_) => return None,
            }
        }
    }
}
