//! Starting a connection's process with its stdio on a socketpair, and signalling it.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// A started process: the host's end of its stdin/stdout socket, its stderr pipe, and
/// optionally the master side of its controlling pty.
#[derive(Debug)]
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// Host end of the child's fd 1 (non-blocking): a socket, or the pty master.
    pub io: File,
    /// Host end of the child's fd 0 (non-blocking): a socket, or the pty master.
    pub io_out: File,
    /// Read end of the child's stderr (non-blocking).
    pub stderr: OwnedFd,
    /// Master side of the child's controlling terminal, when one was asked for and it is not
    /// already `io` (non-blocking).
    pub pty: Option<File>,
    /// The host's own copy of the pty slave, kept open for the life of the connection.
    pub pty_slave: Option<OwnedFd>,
}

/// Start `argv` (`argv[0]` is resolved on `PATH`), showing `arg0` as its name when given. With
/// `pty`, the child gets a new session whose controlling terminal is a fresh pty (for password
/// prompts); its stdio stays on the socket.
///
/// With `stdio_on_pty` (implies `pty`), the pty slave is also the child's stdin and stdout and
/// the returned `io` is the master.
///
/// With `enter`, the child enters another process's namespaces before exec (see
/// [`super::setns::Plan`]) and gets exactly the given environment. `env` is added to the
/// child's environment.
pub fn spawn(
    argv: &[OsString],
    arg0: Option<&str>,
    env: &[(String, String)],
    pty: bool,
    stdio_on_pty: bool,
    enter: Option<(super::setns::Plan, Vec<(String, String)>)>,
) -> io::Result<Spawned> {
    let (err_r, err_w) = std::io::pipe()?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stderr(Stdio::from(OwnedFd::from(err_w)));
    restore_fd_limit(&mut cmd);
    if let Some((plan, env)) = enter {
        cmd.env_clear().envs(env);
        // SAFETY: `Plan::enter` runs in the forked child before exec and makes only
        // async-signal-safe calls (setns, fork, waitpid, _exit, fchdir, chroot, setgroups,
        // setgid, setuid, prctl) on fds and vectors built before fork; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || plan.enter());
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    // Two socketpairs, not one: a child that exits without reading what we sent would make a
    // shared socket report ECONNRESET and drop what it wrote last (its version, its error).
    let pair = if stdio_on_pty {
        None
    } else {
        let (host_w, child_r) = UnixStream::pair()?;
        let (host_r, child_w) = UnixStream::pair()?;
        Some(((host_r, host_w), (child_r, child_w)))
    };
    let mut host_end = None;
    if let Some((host, (child_r, child_w))) = pair {
        cmd.stdin(Stdio::from(OwnedFd::from(child_r)))
            .stdout(Stdio::from(OwnedFd::from(child_w)));
        host_end = Some(host);
    }
    let pty = pty || stdio_on_pty;
    if let Some(a) = arg0 {
        cmd.arg0(a);
    }
    let master = if pty {
        let (master, slave) = super::pty::open()?;
        if stdio_on_pty {
            cmd.stdin(Stdio::from(slave.try_clone()?))
                .stdout(Stdio::from(slave.try_clone()?));
        }
        let slave_fd = slave.as_raw_fd();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (setsid, ioctl, close) on fds that stay open until exec;
        // it allocates nothing and takes no locks.
        unsafe {
            cmd.pre_exec(move || super::pty::make_controlling(slave_fd));
        }
        let child = cmd.spawn();
        // The host keeps a slave fd open: while a process has none open (between exec and
        // its first open of /dev/tty) the master would report a hang-up, and closing the
        // master would send SIGHUP to the session.
        Some((master, slave, child?))
    } else {
        None
    };
    let (pty, pty_slave, child) = match master {
        Some((m, sl, c)) => (Some(m), Some(sl), c),
        // Its own process group: a Ctrl-C at the terminal is for us (we close channels and
        // shut contexts down), not for ssh, which would drop the connection under us.
        None => (None, None, cmd.process_group(0).spawn()?),
    };
    set_nonblocking(&err_r)?;
    if let Some(m) = &pty {
        set_nonblocking(m)?;
    }
    let (io, io_out, pty) = match (host_end, pty) {
        (Some((r, w)), pty) => {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            (
                File::from(OwnedFd::from(r)),
                File::from(OwnedFd::from(w)),
                pty.map(File::from),
            )
        }
        (None, Some(m)) => (File::from(m.try_clone()?), File::from(m), None),
        (None, None) => return Err(io::Error::other("stdio on a pty needs a pty")),
    };
    Ok(Spawned {
        child,
        io,
        io_out,
        stderr: OwnedFd::from(err_r),
        pty,
        pty_slave,
    })
}

/// A pidfd for `pid` (Linux 5.3 and later): readable once the process has exited, so the
/// broker learns of it in its poll without signals or timers.
pub fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (or -1), which we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned by the kernel and nothing else owns it.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as libc::c_int) };
    // pidfds are close-on-exec from the start (the kernel sets O_CLOEXEC).
    Ok(fd)
}

/// Signal end of input on a socket we write to (errors ignored: a pty is no socket and gets
/// its hang-up when closed).
pub fn shutdown_write(fd: &impl AsFd) {
    // SAFETY: shutdown(2) on a valid borrowed fd; no memory involved.
    unsafe {
        libc::shutdown(fd.as_fd().as_raw_fd(), libc::SHUT_WR);
    }
}

/// Put an fd into non-blocking mode.
pub fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: fcntl on a valid borrowed fd with F_GETFL/F_SETFL touches only its status flags.
    let r = unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 {
            flags
        } else {
            libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK)
        }
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Send SIGKILL to a whole process group (the stub makes itself a group leader so that the
/// programs its functions started go with it). Errors (already gone) are ignored.
pub fn kill_group(pgid: u32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
        }
    }
}

/// Ignore SIGPIPE in this process so a dead peer shows up as EPIPE, not a crash. Children get
/// the default disposition back from `Command`.
pub fn ignore_sigpipe() {
    // SAFETY: setting SIGPIPE to SIG_IGN is process-wide and has no memory-safety effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Processors online (at least 1).
pub fn cpus() -> usize {
    // SAFETY: sysconf takes a constant and returns a number; no memory is involved.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// Give `cmd`'s process the open-file limit this process had before the router raised it
/// (every program the crate starts gets it: an interpreter that closes every fd up to the
/// limit, as Python 2's `close_fds` does, would otherwise loop a million times).
pub fn restore_fd_limit(cmd: &mut Command) {
    if let Some(soft) = super::rlimit::child_soft() {
        // SAFETY: the closure runs in the forked child before exec and makes two system calls
        // (getrlimit, setrlimit) on stack structs; it allocates nothing and takes no locks.
        unsafe {
            cmd.pre_exec(move || super::rlimit::restore_in_child(soft));
        }
    }
}
