# econtext_fakessh: fakessh on a context (ProcessBuilder::ssh_to, `econtext run FROM --ssh-to
# TO`). Fetched on demand; runs on every Python from 2.4 to 3.15 (2.4's syntax; without
# memfd_create or ctypes, as on 2.4, only tools that take an ssh command line). serve() runs a tool (rsync, scp, sftp,
# git) whose ssh program is CLIENT in an executable memfd (nothing on disk): each invocation
# connects to an abstract unix socket here, is checked (same uid, the token), and is announced
# to the host on `reqs` as [n, argv, env]; the host serves it on the target context and relays
# its frames through attach(). Frames as in docs/fakessh.md (testdata/fakessh.json).
import os
import socket
import struct
import sys
import threading

import econtext_process

# The fake ssh, run by the tool: connect, hello, then stdin up and stdout/stderr/exit down.
CLIENT = r'''
import os, socket, struct, sys, threading
P3 = sys.version_info[0] > 2
def b(s):
    if P3 and not isinstance(s, bytes):
        return os.fsencode(s)
    return s
def frame(tag, payload):
    return b(tag) + struct.pack('>I', len(payload)) + payload
def hello(token, argv, env):
    return frame('H', b('\0').join([b(token), b(str(len(argv)))] + [b(a) for a in argv] +
                                    [b(e) for e in env]))
def offered(k):
    return k in ('GIT_PROTOCOL', 'LANG') or k.startswith('LC_')
def wait(fd, w):
    import select
    if w:
        select.select([], [fd], [])
    else:
        select.select([fd], [], [])
def write_all(fd, data):
    i = 0
    while i < len(data):
        try:
            i += os.write(fd, data[i:])
        except OSError:
            if sys.exc_info()[1].errno != 11:
                raise
            wait(fd, 1)
def up(s):
    while 1:
        try:
            d = os.read(0, 65536)
        except OSError:
            if sys.exc_info()[1].errno == 11:
                wait(0, 0)
                continue
            d = b('')
        if not d:
            break
        s.sendall(frame('i', d))
    s.sendall(frame('I', b('')))
def recv(s, n):
    d = b('')
    while len(d) < n:
        c = s.recv(n - len(d))
        if not c:
            return None
        d += c
    return d
def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect('\0' + os.environ['ECONTEXT_FAKESSH'])
        env = [k + '=' + v for k, v in os.environ.items() if offered(k)]
        s.sendall(hello(os.environ.get('ECONTEXT_FAKESSH_TOKEN', ''), sys.argv[1:], env))
    except (KeyError, socket.error):
        sys.stderr.write('econtext fakessh: cannot reach the context that started this tool: %s\n'
                         % (sys.exc_info()[1],))
        os._exit(255)
    t = threading.Thread(target=up, args=(s,))
    t.daemon = True
    t.start()
    while 1:
        h = recv(s, 5)
        if h is None:
            sys.stderr.write('econtext fakessh: the econtext context went away\n')
            os._exit(255)
        n = struct.unpack('>I', h[1:])[0]
        p = b('')
        if n:
            p = recv(s, n)
        tag = h[:1]
        if tag == b('o'):
            write_all(1, p)
        elif tag == b('e'):
            write_all(2, p)
        elif tag == b('x'):
            os._exit(int(p))
if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        os._exit(130)
    except Exception:
        os._exit(255)
'''

CONNS = {}
LOCK = threading.Lock()
SEQ = [0]
MEMFD_SYSCALL = {'x86_64': 319, 'aarch64': 279, 'i686': 356, 'i386': 356, 'armv7l': 385,
                 'ppc64le': 360, 's390x': 350, 'riscv64': 279}


def memfd(text):
    # An executable memfd holding `text`, as /proc/<pid>/fd/<n>; or the reason there is none.
    fd = None
    try:
        mc = getattr(os, 'memfd_create', None)
        if mc:
            fd = mc('econtext-ssh', 0)
        else:
            import ctypes
            import platform
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                errno_of = ctypes.get_errno
            except TypeError:
                # 2.5's ctypes: no use_errno, no get_errno.
                libc = ctypes.CDLL(None)
                errno_of = lambda: 0
            f = getattr(libc, 'memfd_create', None)
            if f is None:
                f = lambda n, fl: libc.syscall(MEMFD_SYSCALL.get(platform.machine(), -1), n, fl)
            fd = f(B('econtext-ssh'), 0)
            if fd < 0:
                e = errno_of()
                raise OSError(e, os.strerror(e))
        if P3:
            text = text.encode('utf-8')
        econtext_process.write_all(fd, text)
        path = '/proc/%d/fd/%d' % (os.getpid(), fd)
        if not os.access(path, os.X_OK):
            raise OSError(13, 'the memfd is not executable (vm.memfd_noexec set?)')
        return fd, path
    except Exception:
        if fd is not None and fd >= 0:
            os.close(fd)
        return None, 'memfd_create: %s' % (sys.exc_info()[1],)


def quoted(s):
    return "'" + s.replace("'", "'\\''") + "'"


def listen():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = 'econtext-fakessh-%d-%s' % (os.getpid(), hexed(os.urandom(8)))
    s.bind('\0' + name)
    s.listen(16)
    return s, name


def hexed(b):
    import binascii
    h = binascii.hexlify(b)
    if P3:
        h = h.decode('ascii')
    return h


def words(p):
    # A hello payload -> (token, argv, env); None when malformed.
    w = [x.decode('utf-8', 'replace') for x in p.split(B('\0'))]
    try:
        n = int(w[1])
    except (IndexError, ValueError):
        return None
    if len(w) < 2 + n:
        return None
    return w[0], w[2:2 + n], w[2 + n:]


# The client's framing serves this side too: one encoder and one exact read for both.
_C = {'__name__': 'econtext_fakessh_client'}
exec(CLIENT, _C)
frame, recv, B, P3 = _C['frame'], _C['recv'], _C['b'], _C['P3']


def refuse(c, why):
    m = ('econtext fakessh: %s\n' % why).encode('utf-8')
    try:
        c.sendall(frame('e', m) + frame('x', B('255')))
    except socket.error:
        pass
    c.close()


def admit(c, token, reqs):
    # Check one connection (same uid, hello with the token) and announce it to the host.
    try:
        uid = struct.unpack('3i', c.getsockopt(socket.SOL_SOCKET, 17, 12))[1]
        if uid != os.getuid():
            return refuse(c, 'refused uid %d: this way back belongs to uid %d' % (uid, os.getuid()))
        c.settimeout(10)
        h = recv(c, 5)
        if h is None or h[:1] != B('H'):
            return refuse(c, 'no hello from the fake ssh')
        n = struct.unpack('>I', h[1:])[0]
        hello = n <= 1 << 20 and words(recv(c, n) or B(''))
        if not hello:
            return refuse(c, 'a malformed hello')
        t, argv, env = hello
        if not same(t, token):
            return refuse(c, 'wrong token')
        c.settimeout(None)
        LOCK.acquire()
        try:
            SEQ[0] += 1
            k = SEQ[0]
            CONNS[k] = c
        finally:
            LOCK.release()
        reqs.send([k, argv, env])
    except Exception:
        c.close()


def same(a, b):
    d = len(a) ^ len(b)
    for x, y in zip(a, b):
        d |= ord(x) ^ ord(y)
    return d == 0


def accept(l, token, reqs):
    while 1:
        try:
            c = l.accept()[0]
        except Exception:
            return
        t = threading.Thread(target=admit, args=(c, token, reqs))
        t.daemon = True
        t.start()


def ssh_for(argv, env, path, line, why):
    # The tool's argv and environment with the fake ssh as its ssh program: `path` the memfd
    # (None without one: `why`), `line` a command line that runs it.
    env = dict(env or {})
    tool = ''
    if argv:
        tool = os.path.basename(argv[0])
    env['ECONTEXT_SSH'] = line
    env.setdefault('RSYNC_RSH', line)
    env.setdefault('GIT_SSH_COMMAND', line)
    env['GIT_SSH_VARIANT'] = 'ssh'
    if tool in ('scp', 'sftp'):
        if path is None:
            raise OSError(8, '%s needs an executable ssh program, and this context cannot make one '
                          'without writing to disk (%s)' % (tool, why))
        argv = [argv[0], '-S', path] + list(argv[1:])
    return argv, env


def python():
    # This interpreter (sys.executable is empty when started under another argv[0]).
    try:
        return sys.executable or os.readlink('/proc/self/exe')
    except OSError:
        return 'python'


def serve(stdin, out, err, events, reqs, argv, env, cwd, shell, tty=None):
    l, fd = None, None
    try:
        fd, path = (None, 'disabled by ECONTEXT_FAKESSH_MEMFD=0')
        py = python()
        if (env or {}).get('ECONTEXT_FAKESSH_MEMFD', os.environ.get('ECONTEXT_FAKESSH_MEMFD')) != '0':
            fd, path = memfd('#!%s -S%s' % (py, CLIENT))
        if fd is None:
            import base64
            code = base64.b64encode(B(CLIENT))
            if P3:
                code = code.decode('ascii')
            line = "%s -S -c 'import base64;exec(base64.b64decode(\"%s\"))'" % (py, code)
            why, path = path, None
        else:
            line, why = path, None
        token = hexed(os.urandom(32))
        l, name = listen()
        argv, env = ssh_for(argv, env, path, line, why)
        env['ECONTEXT_FAKESSH'] = name
        env['ECONTEXT_FAKESSH_TOKEN'] = token
        t = threading.Thread(target=accept, args=(l, token, reqs))
        t.daemon = True
        t.start()
        return econtext_process.run(stdin, out, err, events, argv, env, cwd, shell, tty)
    finally:
        if l is not None:
            try:
                l.shutdown(socket.SHUT_RDWR)
            except socket.error:
                pass
            l.close()
        if fd is not None:
            os.close(fd)
        reqs.close()
        for tx in out, err, events:
            tx.close()


def attach(down, k, up):
    # Relay connection k: its bytes up to the host, the host's bytes (frames) down to it.
    LOCK.acquire()
    try:
        c = CONNS.pop(k)
    finally:
        LOCK.release()

    def rise():
        while 1:
            try:
                d = c.recv(65536)
            except socket.error:
                d = B('')
            if not d:
                break
            try:
                up.send(d)
            except Exception:
                break
        up.close()
    t = threading.Thread(target=rise)
    t.daemon = True
    t.start()
    try:
        for d in down:
            c.sendall(d)
    except Exception:
        pass
    try:
        c.shutdown(socket.SHUT_WR)
    except socket.error:
        pass
    t.join()
    c.close()
    return True
