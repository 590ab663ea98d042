//! poll(2) over borrowed fds.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Readable (or hung up / in error: a read will tell).
pub const IN: i16 = libc::POLLIN;
/// Writable.
pub const OUT: i16 = libc::POLLOUT;

/// One fd to watch and what happened to it.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub struct PollFd(libc::pollfd);

impl PollFd {
    /// Watch `fd` for `events` (a mix of [`IN`] and [`OUT`]).
    pub fn new(fd: BorrowedFd<'_>, events: i16) -> PollFd {
        PollFd(libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
    }

    /// True when a read would not block (data, EOF, or an error to report).
    pub fn readable(&self) -> bool {
        self.0.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
    }

    /// True when a write would not block (or would report an error).
    pub fn writable(&self) -> bool {
        self.0.revents & (libc::POLLOUT | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0
    }
}

/// Wait until an fd is ready or `timeout_ms` passes (`-1`: forever). EINTR returns `Ok(0)`.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `PollFd` is `repr(transparent)` over `libc::pollfd`, so the slice is a valid
    // array of `fds.len()` pollfds; the fds were borrowed when each PollFd was built and poll
    // only reads `fd`/`events` and writes `revents`.
    let n = unsafe {
        libc::poll(
            fds.as_mut_ptr().cast::<libc::pollfd>(),
            fds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(n as usize)
}
