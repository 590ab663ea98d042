//! Pseudo-terminals for password prompts.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Open a pty pair: (master, slave), both close-on-exec.
pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: openpty writes two fds into the provided ints; name/termp/winp may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both fds are open and owned by nobody else.
    let (m, s) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&m, &s] {
        use std::os::fd::AsRawFd;
        // SAFETY: F_SETFD on a valid fd only sets its close-on-exec flag.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // No echo: a typed password must never come back as output.
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    use std::os::fd::AsRawFd;
    // SAFETY: tcgetattr fills the termios struct on success; we only read it after success.
    if unsafe { libc::tcgetattr(s.as_raw_fd(), t.as_mut_ptr()) } == 0 {
        // SAFETY: initialised by the successful tcgetattr above.
        let mut t = unsafe { t.assume_init() };
        t.c_lflag &= !(libc::ECHO | libc::ECHONL);
        // SAFETY: tcsetattr reads a fully initialised termios for a valid fd.
        unsafe { libc::tcsetattr(s.as_raw_fd(), libc::TCSANOW, &t) };
    }
    Ok((m, s))
}

/// In the forked child, before exec: start a new session and make `slave` its controlling tty.
/// Only async-signal-safe calls.
pub fn make_controlling(slave: RawFd) -> io::Result<()> {
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe and act on this process and a
    // valid fd inherited across fork.
    unsafe {
        if libc::setsid() < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::ioctl(slave, libc::TIOCSCTTY as _, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Switch a terminal to raw mode (no echo, no line editing, no translation): binary frames can
/// then cross it unchanged.
pub fn make_raw(fd: &impl std::os::fd::AsFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_fd().as_raw_fd();
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios struct for a valid fd; checked before use.
    if unsafe { libc::tcgetattr(raw, t.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful tcgetattr above.
    let mut t = unsafe { t.assume_init() };
    // SAFETY: cfmakeraw only edits the struct we own.
    unsafe { libc::cfmakeraw(&mut t) };
    // SAFETY: tcsetattr reads a fully initialised termios for a valid fd.
    if unsafe { libc::tcsetattr(raw, libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
