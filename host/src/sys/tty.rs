//! The controlling terminal: asking a person for a password, reading a password fd.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Print `prompt` on the controlling terminal and read one line with echo off. `None` when
/// there is no terminal (or it fails).
pub fn ask_password(prompt: &str) -> Option<String> {
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

/// Read one line (without its newline) from an inherited file descriptor, then close it.
pub fn read_fd_line(fd: i32) -> io::Result<String> {
    if fd < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "negative descriptor",
        ));
    }
    // SAFETY: fcntl(F_GETFD) only checks that `fd` is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the user named this inherited descriptor for us to read; it is open (checked) and
    // nothing else in this process owns it.
    let f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut line = String::new();
    io::BufReader::new(f).read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
