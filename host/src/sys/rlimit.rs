//! The open-file limit: raised from soft to hard once per process (a fleet needs 3-5 fds per
//! context, and the usual soft limit of 1,024 would stop at ~200-340 contexts), and put back
//! to its old soft value in every child before exec (an interpreter that closes every fd up to
//! the limit, as Python 2's `close_fds` does, would otherwise loop a million times).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// The soft limit found before raising it (`u64::MAX`: never raised).
static ORIGINAL_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);
static RAISE: Once = Once::new();

fn get() -> io::Result<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the valid, exclusively borrowed struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Raise the soft open-file limit to the hard one (once per process); returns the limit now in
/// force. Failing to raise it is not an error: the old limit stays.
pub fn raise_nofile() -> u64 {
    RAISE.call_once(|| {
        let Ok(r) = get() else { return };
        if r.rlim_cur >= r.rlim_max {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: r.rlim_max,
            rlim_max: r.rlim_max,
        };
        // SAFETY: setrlimit reads one valid rlimit struct; it changes only this process's limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            ORIGINAL_SOFT.store(r.rlim_cur, Ordering::Relaxed);
        }
    });
    get().map(|r| r.rlim_cur).unwrap_or(1024)
}

/// The soft open-file limit in force.
pub fn current() -> u64 {
    get().map(|r| r.rlim_cur).unwrap_or(1024)
}

/// The old soft limit to give a child, when this process raised its own.
pub fn child_soft() -> Option<u64> {
    match ORIGINAL_SOFT.load(Ordering::Relaxed) {
        u64::MAX => None,
        v => Some(v),
    }
}

/// In a forked child before exec: put the soft open-file limit back to `soft`.
/// Async-signal-safe: one getrlimit and one setrlimit system call, no allocation.
pub fn restore_in_child(soft: u64) -> io::Result<()> {
    let r = get()?;
    let old = libc::rlimit {
        rlim_cur: soft,
        rlim_max: r.rlim_max,
    };
    // SAFETY: setrlimit reads one valid rlimit struct; lowering a soft limit always succeeds.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn raised_to_hard_and_children_get_the_old_soft_limit() {
        let before = super::get().unwrap();
        let now = super::raise_nofile();
        assert_eq!(now, before.rlim_max);
        if before.rlim_cur < before.rlim_max {
            assert_eq!(super::child_soft(), Some(before.rlim_cur));
        }
    }
}
