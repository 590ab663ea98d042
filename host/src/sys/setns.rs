//! Entering another process's namespaces in a forked child, before exec: setns(2) on fds
//! opened by the parent, then (for a new pid namespace) one more fork, then chroot into the
//! leader's root and the user switch. Only syscalls after fork; everything is resolved and
//! allocated by the parent (`connect::setns::resolve`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// The namespaces entered, in order: the user namespace first (it grants the rights to enter
/// the others), the mount namespace last but one (after it, /proc paths are the container's).
pub const NAMESPACES: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
    ("time", 0x80),
];

/// What the child does, all fds and ids prepared by the parent.
#[derive(Debug)]
pub struct Plan {
    /// (fd, CLONE_NEW* type) in order.
    pub namespaces: Vec<(OwnedFd, libc::c_int)>,
    /// The leader's root directory.
    pub root: OwnedFd,
    /// The leader's working directory.
    pub cwd: Option<OwnedFd>,
    /// Fork after entering (a pid namespace applies to children only).
    pub fork: bool,
    /// uid, gid, groups.
    pub ids: Option<(u32, u32, Vec<u32>)>,
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Plan {
    /// Run in the forked child (from `Command::pre_exec`). Calls only async-signal-safe
    /// functions and allocates nothing: the vectors were built before fork and are only read.
    pub fn enter(&self) -> io::Result<()> {
        for (fd, kind) in &self.namespaces {
            // SAFETY: setns on an fd the parent opened and keeps open; no memory involved.
            check(unsafe { libc::setns(fd.as_raw_fd(), *kind) })?;
        }
        if self.fork {
            // SAFETY: fork in a single-threaded child (Command forked us); the parent half
            // below only closes fds, waits and _exits.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                return Err(io::Error::last_os_error());
            }
            if pid > 0 {
                // SAFETY: prctl(PR_SET_NAME) with a static C string names this waiting process
                // for ps; then closing every fd of this intermediate process (it keeps none: the
                // exec-error pipe and the stdio must close when the grandchild's do), then
                // waitpid on our own child and _exit with its status; nothing returns.
                unsafe {
                    libc::prctl(libc::PR_SET_NAME, c"econtext-setns".as_ptr());
                    libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
                    let mut status: libc::c_int = 0;
                    loop {
                        let r = libc::waitpid(pid, &mut status, 0);
                        if r == pid {
                            break;
                        }
                        if r < 0 && *libc::__errno_location() != libc::EINTR {
                            libc::_exit(255);
                        }
                    }
                    if libc::WIFEXITED(status) {
                        libc::_exit(libc::WEXITSTATUS(status));
                    }
                    libc::_exit(128 + libc::WTERMSIG(status));
                }
            }
            // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers: go when the waiting
            // intermediate process (the one the host tracks and kills) goes.
            check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
        }
        // SAFETY: fchdir/chroot/chdir with fds the parent opened and a static C string.
        unsafe {
            check(libc::fchdir(self.root.as_raw_fd()))?;
            check(libc::chroot(c".".as_ptr()))?;
            let back = match &self.cwd {
                Some(c) => libc::fchdir(c.as_raw_fd()),
                None => -1,
            };
            if back < 0 {
                check(libc::chdir(c"/".as_ptr()))?;
            }
        }
        if let Some((uid, gid, groups)) = &self.ids {
            // SAFETY: setgroups reads `groups` (built before fork, alive for this call);
            // setgid/setuid take integers. Groups first, then gid, then uid (after which the
            // others are no longer allowed).
            unsafe {
                check(libc::setgroups(groups.len(), groups.as_ptr()))?;
                check(libc::setgid(*gid))?;
                check(libc::setuid(*uid))?;
            }
        }
        Ok(())
    }
}
