//! Pseudo-terminals for password prompts.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Open a pty pair: (master, slave), both close-on-exec from the moment they exist (a fork
/// in another thread can never inherit them), the slave with echo off.
pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    use std::os::fd::AsRawFd;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: posix_openpt takes flags only and returns a new fd or -1.
    let m = unsafe { libc::posix_openpt(flags) };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: m is a fresh fd returned to us above; nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    // SAFETY: grantpt/unlockpt act on the valid master fd we own.
    if unsafe { libc::grantpt(master.as_raw_fd()) } != 0
        // SAFETY: as above.
        || unsafe { libc::unlockpt(master.as_raw_fd()) } != 0
    {
        return Err(io::Error::last_os_error());
    }
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: ptsname_r writes a NUL-terminated name of at most `name.len()` bytes.
    let r = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    // SAFETY: name was NUL-terminated by the successful ptsname_r; open takes a C string.
    let s = unsafe { libc::open(name.as_ptr(), flags) };
    if s < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: s is a fresh fd returned by open above; nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    // No echo: a typed password must never come back as output.
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios struct on success; we only read it after success.
    if unsafe { libc::tcgetattr(slave.as_raw_fd(), t.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful tcgetattr above.
    let mut t = unsafe { t.assume_init() };
    t.c_lflag &= !(libc::ECHO | libc::ECHONL);
    // SAFETY: tcsetattr reads a fully initialised termios for a valid fd.
    if unsafe { libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((master, slave))
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    #[test]
    fn both_ends_are_close_on_exec_from_the_start() {
        let (m, s) = super::open().unwrap();
        for fd in [m.as_raw_fd(), s.as_raw_fd()] {
            // SAFETY: F_GETFD on a valid fd we own reads its flags only.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            assert!(
                flags >= 0 && flags & libc::FD_CLOEXEC != 0,
                "fd {fd}: {flags}"
            );
        }
    }
}
