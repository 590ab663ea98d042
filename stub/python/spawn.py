# econtext_spawn: the generic routine a context runs to start a child context for a `via`
# hop. Fetched on demand through the importer (it is not part of the core stub). The host
# computed the whole recipe (argv, pty, prompts, failures: docs/wire-format.md, Spawn); this
# routine only executes it, the same way the host's broker does for its own children. Runs
# on every Python from 2.4 to 3.15 (2.4's syntax), under either stub.
import os
import select
import time
import zlib
# _socket, os.openpty and tty-free raw mode: `socket` and `pty` cost ~10 ms of imports per hop.
import _socket
import sys

if sys.version_info[0] > 2:
    def B(s):
        return s.encode('latin-1')
else:
    def B(s):
        return s
EMPTY, STAR, NL, MARK0, MARK1, OLD = [B(x) for x in ('', '*', '\n', 'EC0', 'EC1\n', "STUB='2.4'")]


def glob_in(line, pattern):
    # True when line contains pattern, where '*' in the pattern matches anything.
    for part in pattern.split(STAR):
        i = line.find(part)
        if i < 0:
            return False
        line = line[i + len(part):]
    return True


def scan(d, failures, failure):
    # The first failure message recognised in d, line by line. Callers pass the tail of all
    # output, not the last read: programs write one line in pieces ("chroot: ", "invalid user").
    for line in d.lower().splitlines():
        for pat, kind in failures:
            if failure is None and glob_in(line, pat):
                failure = kind
    return failure


def gone(err_r, out, failures, failure, wait):
    # The child is gone: read what it said on stderr (a pause of `wait` ends it), then judge.
    while select.select([err_r], [], [], wait)[0]:
        d = os.read(err_r, 65536)
        if not d:
            break
        out += d
        failure = scan(out[-8192:], failures, failure)
    if failure is not None:
        return fail('failure:%d' % failure, out)
    return fail('exited', out)


NOISE_MAX = 65536


def VERSION(v):
    # 3.11.2, 2.7.18+, 3.13.0rc1: digits first, then digits, letters, dots and '+'.
    return v[:1].isdigit() and '.' in v and not [c for c in v if not (c.isalnum() or c in '.+')]


def supported(v):
    # 0: too old; 1: the modern stub; 2: the 2.4-2.6 stub (host: bootstrap::stage2_for).
    try:
        major, minor = [int(x) for x in v.split('.')[:2]]
    except ValueError:
        return 0
    if (major == 2 and minor >= 7) or (major == 3 and minor >= 5) or major > 3:
        return 1
    return 2 * (major == 2 and minor >= 4)


def raw(fd):
    # cfmakeraw: binary frames cross the terminal unchanged.
    import termios as T
    a = T.tcgetattr(fd)
    a[0] &= ~(T.BRKINT | T.ICRNL | T.INPCK | T.ISTRIP | T.IXON | T.IGNBRK | T.PARMRK | T.INLCR | T.IGNCR)
    a[1] &= ~T.OPOST
    a[2] = (a[2] & ~(T.CSIZE | T.PARENB)) | T.CS8
    a[3] &= ~(T.ECHO | T.ECHONL | T.ICANON | T.ISIG | T.IEXTEN)
    a[6][T.VMIN] = 1
    a[6][T.VTIME] = 0
    T.tcsetattr(fd, T.TCSANOW, a)


def fail(code, out):
    return 1, G['RemoteError']('econtext.SpawnError', code, out.decode('utf-8', 'replace')[-4000:])


def adopt(i, fd, name):
    # A child context is up on fd: route its subtree there and tell the parent chain.
    g = G
    # The stub's kind of frame buffer (the 2.4-2.6 stub has no bytearray).
    buf = g.get('BUF')
    if buf is None:
        buf = bytearray
    g['KIDS'][fd] = [buf(), set()]
    g['ROUTES'][i] = fd
    os.write(g['WAKE'][1], STAR)
    g['send'](g['INIT'][1], 5, g['enc']((i, g['ME'], name), 'RouteAdd'))


def serve(fd, src, rt, body):
    # A child's module request (the IO thread starts this on a thread of its own), answered
    # from this context's cache, asking upwards once.
    g = G
    n = g['dec'](body, 'ModuleRequest')[0]
    g['fetch'](n)
    sent = g['KIDS'][fd][1]
    mods = g['MODS']
    names, miss = g['GROUP'].get(n, ([n], []))
    ms = [(m,) + mods[m] for m in names if m in mods and (m == n or m not in sent)]
    sent.update(names)
    g['send'](src, rt, g['enc']((n, ms, list(miss) + [n] * (n in g['MISS'])), 'ModuleReply'))


def spawn(g, body):
    global G
    G = g
    (i, name, argv, use_pty, stdio_pty, wait1, prompts, failures, timeout_ms, boot) = \
        g['dec'](body, 'Spawn')
    deadline = time.time() + timeout_ms / 1000.0
    err_r, err_w = os.pipe()
    master = slave = None
    if use_pty or stdio_pty:
        master, slave = os.openpty()
    if stdio_pty:
        mine, theirs = master, slave
    else:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        mine, theirs = os.dup(a.fileno()), os.dup(b.fileno())
        a.close()
        b.close()
    pid = os.fork()
    if pid == 0:
        try:
            try:
                if slave is not None:
                    os.setsid()
                    import fcntl
                    import termios
                    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                os.dup2(theirs, 0)
                os.dup2(theirs, 1)
                os.dup2(err_w, 2)
                os.execvp(argv[0], argv)
            except OSError:
                # The host maps this line to ProgramMissing (the method's program is not here).
                m = 'econtext: cannot run %s: %s\n' % (argv[0], sys.exc_info()[1])
                os.write(2, m.encode('utf-8', 'replace'))
        finally:
            os._exit(127)
    os.close(err_w)
    if theirs != slave:
        os.close(theirs)
    watched = [mine, err_r]
    if master is not None and master != mine:
        watched.append(master)
    out = EMPTY          # everything printed, for error messages
    pending = EMPTY      # text since the last answered prompt (prompts have no newline)
    answered = False
    failure = None
    version = None
    stdout = EMPTY
    sent_boot = not wait1

    def finish(r):
        if r[0]:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            os.close(mine)
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        return r

    if not wait1:
        try:
            os.write(mine, boot)
        except OSError:
            pass    # it is gone already: its stderr says why, below
    while True:
        left = deadline - time.time()
        if left <= 0:
            return finish(fail('timeout', out))
        ready = select.select(watched, [], [], min(left, 0.5))[0]
        if not ready:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    # Gone: its stderr may not be read yet.
                    return finish(gone(err_r, out, failures, failure, 0.2))
            except OSError:
                pass
            continue
        for fd in ready:
            try:
                d = os.read(fd, 65536)
            except OSError:
                d = EMPTY
            if not d:
                watched.remove(fd)
                if fd == mine or not watched:
                    return finish(gone(err_r, out, failures, failure, 0.5))
                continue
            if fd == mine:
                stdout += d
            if version is None or fd != mine:
                out += d
                pending = (pending + d.lower())[-4096:]
                failure = scan(out[-8192:], failures, failure)
                for pat, answer in prompts:
                    if pat in pending:
                        if answered:
                            return finish(fail('failure:4', out))
                        if not answer:
                            # Whose password it is, so the host can ask a person and retry.
                            try:
                                import pwd
                                user = pwd.getpwuid(os.getuid())[0]
                            except (ImportError, KeyError):
                                user = 'uid %d' % os.getuid()
                            who = '%s@%s' % (user, os.uname()[1])
                            return finish(fail('failure:5:' + who, out))
                        answered = True
                        pending = EMPTY
                        if master is not None:
                            os.write(master, answer)
                        else:
                            os.write(mine, answer)
                        break
        if version is None:
            at = stdout.find(MARK0)
            while at > 0 and stdout[at - 1:at] != NL:
                at = stdout.find(MARK0, at + 1)
            nl = stdout.find(NL, at)
            if at < 0 and len(stdout) > NOISE_MAX:
                return finish(fail('protocol:%d bytes of output and no ready marker (EC0)' % len(stdout), out))
            if at >= 0 and (nl > at + 3 + 64 or nl < 0 and len(stdout) - at > 3 + 64):
                return finish(fail('protocol:no Python version after EC0: %r' % stdout[at:at + 80], out))
            if at >= 0 and nl > at:
                # Stage 1 prints sys.version's first 9 characters: up to the first space.
                line = (stdout[at + 3:nl].split() or [EMPTY])[0]
                version = line.decode('ascii', 'replace')
                stdout = stdout[nl + 1:]
                if not VERSION(version):
                    return finish(fail('protocol:no Python version after EC0: %r' % line[:80], out))
                want = supported(version)
                if not want:
                    return finish(fail('tooold:' + version, out))
                # The 2.4-2.6 stub starts with STUB='2.4' (stub/python/old/econtext_stub.py).
                if (want == 2) != (zlib.decompressobj().decompress(boot, 10) == OLD):
                    # The host sends the other one in a new start.
                    return finish(fail('stub:' + version, out))
                if stdio_pty:
                    raw(mine)
                if not sent_boot:
                    os.write(mine, boot)
                    sent_boot = True
        if version is not None:
            # After EC0 only the bytes of EC1 may come: anything else fails now, not at the
            # connect timeout.
            if stdout[:4] != MARK1[:len(stdout)]:
                return finish(fail('protocol:after EC0 only EC1 may come, got %r' % stdout[:80], out))
            if len(stdout) >= 4:
                rest = stdout[4:]
                def drain():
                    # Keep reading the child's stderr (a full pipe would block it) and reap it.
                    # Its exit ends the stream even when it did not hold it (lxc-attach hands
                    # the container its fds): shut the socket so the IO loop sees EOF and the
                    # context inside sees its stdin end.
                    done = 0
                    try:
                        while not done:
                            if select.select([err_r], [], [], 0.5)[0]:
                                if not os.read(err_r, 65536):
                                    break
                            done = os.waitpid(pid, os.WNOHANG)[0]
                        if not done:
                            os.waitpid(pid, 0)
                    except OSError:
                        pass
                    try:
                        os.close(err_r)
                    except OSError:
                        pass
                    # Only while the stream on `mine` is still this child's (under the write
                    # lock, as the IO loop closes it): once it ended, that number may be
                    # another spawn's.
                    g['WL'].acquire()
                    try:
                        if g['KIDS'].get(mine) is entry:
                            try:
                                if hasattr(_socket, 'fromfd'):
                                    s = _socket.fromfd(mine, _socket.AF_UNIX, _socket.SOCK_STREAM)
                                else:
                                    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0,
                                                       os.dup(mine))
                                s.shutdown(2)
                                s.close()
                            except (OSError, ValueError, _socket.error):
                                pass
                    finally:
                        g['WL'].release()
                adopt(i, mine, name)
                entry = g['KIDS'][mine]
                if rest:
                    g['frames'](entry[0], rest, mine)
                g['T'](drain, ())
                return 0, g['Context'](i)
