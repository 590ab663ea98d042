//! Ctrl-C for the CLI: SIGINT sets a flag the main thread polls, so it can close its channels
//! and shut its contexts down instead of dying mid-stream.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// From now on SIGINT (and SIGTERM) only set the flag read by [`interrupted`].
pub fn catch_interrupt() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; we set a handler that only stores an atomic,
        // and sigaction reads the struct we own.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigint as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// True once SIGINT or SIGTERM arrived (after [`catch_interrupt`]).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// True once per SIGINT/SIGTERM: the flag is cleared (for "press again to force").
pub fn take_interrupt() -> bool {
    INTERRUPTED.swap(false, Ordering::SeqCst)
}

static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigwinch(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    WINCH.store(true, Ordering::SeqCst);
}

/// From now on SIGWINCH (the terminal was resized) sets the flag read by [`take_winch`].
pub fn catch_winch() {
    // SAFETY: as in catch_interrupt: a zeroed sigaction with a handler storing an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigwinch as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut());
    }
}

/// True once per terminal resize (after [`catch_winch`]).
pub fn take_winch() -> bool {
    WINCH.swap(false, Ordering::SeqCst)
}
