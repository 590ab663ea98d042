# econtext_process: programs with streamed stdio on a context (Context::process, `econtext
# run`). Fetched on demand; runs on every Python from 2.4 to 3.15 (2.4's syntax). The host calls run() through
# econtext_channel.feed, so `stdin` is a Receiver of the host's stream, and out, err, events
# are Senders to host receivers: bytes of stdout and stderr (flow-controlled both ways), and
# the pid as the first event. run() returns the exit status: the code, or -N for signal N.
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import threading

import econtext_channel as channel
from econtext_channel import grow, write_all


def pump(fd, tx):
    # Forward a pipe to a channel; if the host stops reading, keep draining so the program
    # never blocks on a full pipe. Where it can, what waits in the pipe is spliced to the
    # stream (econtext_channel.Out.splice): the bytes never enter this process.
    up = True
    grow(fd)
    sp = channel.spliceable(tx)
    if sp:
        # poll, not select: a context with over 1,024 files open still splices.
        p = select.poll()
        p.register(fd, select.POLLIN)
    while 1:
        try:
            if sp and up:
                p.poll()
                n = struct.unpack('i', fcntl.ioctl(fd, 0x541B, struct.pack('i', 0)))[0]
                if n:
                    try:
                        sp.splice(fd, min(n, 1 << 20))
                    except Exception:
                        up = False
                    continue
            b = os.read(fd, 1 << 20)
        except OSError:
            break
        if not b:
            break
        if up:
            try:
                tx.send(b)
            except Exception:
                up = False
    os.close(fd)


def feed(rx, w, tty=False):
    # Host stdin to the program; its end (or the program closing stdin) closes the pipe. On a
    # pty, a [rows, cols] item resizes the terminal, and the end of stdin is ^D.
    if not tty:
        grow(w)
    try:
        for b in rx:
            try:
                if isinstance(b, (list, tuple)):
                    if tty:
                        winsize(w, b[0], b[1])
                    continue
                write_all(w, b)
            except OSError:
                break
    except Exception:
        pass
    if tty:
        return
    try:
        os.close(w)
    except OSError:
        pass


def winsize(fd, rows, cols):
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


def status(st):
    # waitpid status -> the code, or -N for signal N (as Popen.returncode).
    if os.WIFSIGNALED(st):
        return -os.WTERMSIG(st)
    return os.WEXITSTATUS(st)


def run_pty(stdin, out, events, argv, env, cwd, size, shell):
    # The program on a new pty (its controlling terminal): stdout and stderr both arrive on
    # `out`. argv None: the account's login shell, as a login shell (argv[0] '-sh').
    import pty
    if not argv:
        try:
            import pwd
            sh = pwd.getpwuid(os.getuid())[6] or '/bin/sh'
        except (ImportError, KeyError):
            sh = '/bin/sh'
        argv = [sh, '-' + os.path.basename(sh)]
        home = os.environ.get('HOME')
        cwd = cwd or home
    elif shell:
        argv = ['/bin/sh', 'sh', '-c', argv[0]]
    else:
        argv = [argv[0]] + list(argv)
    e = dict(os.environ)
    e.update(env or {})
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if cwd:
                os.chdir(cwd)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.execvpe(argv[0], argv[1:], e)
        finally:
            os._exit(127)
    if size:
        winsize(fd, size[0], size[1])
    events.send(pid)
    daemon(threading.Thread(target=feed, args=(stdin, fd, True)))
    pump(os.dup(fd), out)
    st = status(os.waitpid(pid, 0)[1])
    os.close(fd)
    return st


def daemon(t):
    # Thread.daemon is 2.6+; setDaemon warns on 3.10+.
    if hasattr(t, 'setDaemon') and not hasattr(threading.Thread, 'daemon'):
        t.setDaemon(True)
    else:
        t.daemon = True
    t.start()


# Python ignores SIGPIPE; programs expect the default (Python 3's restore_signals does this).
DFL = None
if sys.version_info[0] < 3:
    def DFL():
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


KNOWN_SFTP = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server',
              '/usr/lib/ssh/sftp-server', '/usr/libexec/sftp-server', '/usr/lib/sftp-server']


def subsystem(name, conf='/etc/ssh/sshd_config'):
    # The command line of an ssh subsystem: sshd_config's `Subsystem NAME CMD...` line, then
    # the places sftp-server is installed (`internal-sftp` has no binary).
    found = []
    try:
        for l in open(conf):
            w = l.split()
            if len(w) > 2 and w[0].lower() == 'subsystem' and w[1] == name:
                found.append(' '.join(w[2:]))
    except (IOError, OSError):
        pass
    if name == 'sftp':
        found += KNOWN_SFTP
    for c in found:
        if os.access(c.split()[0], os.X_OK):
            return c
    import errno
    raise OSError(errno.ENOENT, 'No such file or directory: no %s subsystem here (looked in the '
                  'Subsystem lines of %s and in %s)' % (name, conf, ', '.join(KNOWN_SFTP)))


def as_sshd(line, sub, env):
    # What sshd runs for a command: the account's shell -c LINE in its home, with HOME, USER,
    # LOGNAME and SHELL set for the account.
    try:
        import pwd
        pw = pwd.getpwuid(os.getuid())
        sh, home, user = pw[6] or '/bin/sh', pw[5], pw[0]
        env = dict(env or {})
        for k, v in (('HOME', home), ('USER', user), ('LOGNAME', user), ('SHELL', sh)):
            env.setdefault(k, v)
    except (ImportError, KeyError):
        sh, home = '/bin/sh', os.environ.get('HOME')
    if sub:
        line = subsystem(line)
    return [sh, '-c', line], home, env


def run(stdin, out, err, events, argv, env, cwd, shell, tty=None):
    try:
        if shell in ('user', 'subsystem'):
            argv, home, env = as_sshd(argv[0], shell == 'subsystem', env)
            cwd, shell = cwd or home, False
        if tty is not None:
            return run_pty(stdin, out, events, argv, env, cwd, tty, shell)
        e = None
        if env:
            e = dict(os.environ)
            e.update(env)
        if shell:
            argv = argv[0]
        p = subprocess.Popen(argv, shell=bool(shell), cwd=cwd or None,
                             env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True, preexec_fn=DFL)
        events.send(p.pid)
        fds = [os.dup(p.stdout.fileno()), os.dup(p.stderr.fileno()), os.dup(p.stdin.fileno())]
        p.stdout.close()
        p.stderr.close()
        p.stdin.close()
        ts = [threading.Thread(target=pump, args=(fds[0], out)),
              threading.Thread(target=pump, args=(fds[1], err))]
        for t in ts:
            t.start()
        daemon(threading.Thread(target=feed, args=(stdin, fds[2])))
        for t in ts:
            t.join()
        return p.wait()
    finally:
        for tx in out, err, events:
            tx.close()


def kill(pid, sig):
    """Signal a program started by run() (plain call: runs while run() streams)."""
    os.kill(pid, sig)
    return True
