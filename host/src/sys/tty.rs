//! The controlling terminal: asking a person for a password, reading a password fd.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Print `prompt` on the controlling terminal and read one line with echo off. `None` when
/// there is no terminal (or it fails).
pub fn ask_password(prompt: &str) -> Option<String> {
    // One question at a time: many hops may prompt at once (a fleet), and interleaved
    // prompts would hand one hop's answer to another (and save each other's echo-off state).
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let fd = tty.as_raw_fd();
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the struct on success for a valid fd; checked before use.
    if unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful tcgetattr above.
    let saved = unsafe { t.assume_init() };
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    // SAFETY: tcsetattr reads a fully initialised termios for a valid fd.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut w = &tty;
    let _ = w.write_all(prompt.as_bytes());
    let mut line = String::new();
    let r = io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: as above, restoring the saved settings.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    let _ = w.write_all(b"\n");
    r.ok()?;
    Some(line.trim_end_matches(['\n', '\r']).to_string())
}

/// True when this process has a controlling terminal to ask a person on.
pub fn available() -> bool {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// A descriptor of our own onto the one a user named on the command line (`--password-fd 7`).
/// Nothing here takes ownership of `fd`: it is duplicated (close-on-exec) and only the copy,
/// which this process alone owns, is returned; the original stays open and untouched.
pub fn dup_named_fd(fd: i32) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "negative descriptor",
        ));
    }
    // SAFETY: F_DUPFD_CLOEXEC reads no memory; on an fd that is not open it fails with EBADF.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if d < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: d is a new descriptor created for us above; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

/// Read one line (without its newline) from a descriptor we own, then close it.
pub fn read_fd_line(fd: OwnedFd) -> io::Result<String> {
    let mut line = String::new();
    io::BufReader::new(File::from(fd)).read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// The size (rows, columns) of the terminal on `fd`, if it is one.
pub fn window_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut w = std::mem::MaybeUninit::<libc::winsize>::zeroed();
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own, for a valid borrowed fd.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, w.as_mut_ptr()) };
    if r != 0 {
        return None;
    }
    // SAFETY: zero-initialised, then filled by the successful ioctl above.
    let w = unsafe { w.assume_init() };
    (w.ws_row > 0 && w.ws_col > 0).then_some((w.ws_row, w.ws_col))
}

/// True when `fd` is a terminal.
pub fn is_terminal(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects a valid borrowed fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// A terminal in raw mode until this is dropped (then its settings are restored, on every
/// exit path that unwinds or returns).
pub struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    /// Switch the terminal on stdin to raw mode.
    pub fn stdin() -> io::Result<RawMode> {
        let fd = 0;
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the struct for fd 0; checked before use.
        if unsafe { libc::tcgetattr(fd, t.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: initialised by the successful tcgetattr above.
        let saved = unsafe { t.assume_init() };
        let mut raw = saved;
        // SAFETY: cfmakeraw only edits the struct we own.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: tcsetattr reads a fully initialised termios for fd 0.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read from the same fd in `stdin()`.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_named_fd_is_read_through_a_copy_and_left_open() {
        let (r, w) = std::io::pipe().unwrap();
        (&w).write_all(b"secret\nrest").unwrap();
        let line = super::read_fd_line(super::dup_named_fd(r.as_raw_fd()).unwrap()).unwrap();
        assert_eq!(line, "secret");
        // The original is still ours and open.
        // SAFETY: F_GETFD on a valid fd we own reads its flags only.
        assert!(unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETFD) } >= 0);
        assert!(super::dup_named_fd(-1).is_err());
        assert!(super::dup_named_fd(987_654).is_err());
    }
}
