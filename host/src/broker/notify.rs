//! Completion queues: a [`Ready`] queue collects the tokens of the waitables (call latches,
//! channel inboxes) that fired, in arrival order, so one thread can wait on many at once.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Tokens of waitables that fired, oldest first.
#[derive(Debug, Default)]
pub struct Ready {
    q: Mutex<VecDeque<usize>>,
    cv: Condvar,
}

impl Ready {
    /// `token` fired.
    pub fn push(&self, token: usize) {
        self.q
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(token);
        self.cv.notify_one();
    }

    /// The oldest token that fired, waiting until `deadline` (`None`: forever).
    pub fn pop(&self, deadline: Option<Instant>) -> Option<usize> {
        let mut q = self.q.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(t) = q.pop_front() {
                return Some(t);
            }
            match super::latch::wait_once(&self.cv, q, deadline) {
                Ok(woken) => q = woken,
                Err(_) => return None,
            }
        }
    }
}

/// Where a waitable reports that it fired (at most one [`Ready`] queue).
#[derive(Debug, Default)]
pub struct Watch(Mutex<Option<(Arc<Ready>, usize)>>);

impl Watch {
    /// Report to `ready` as `token` from now on.
    pub fn set(&self, ready: Arc<Ready>, token: usize) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((ready, token));
    }

    /// The waitable fired.
    pub fn fire(&self) {
        if let Some((r, t)) = &*self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            r.push(*t);
        }
    }
}
