# Stage 2 runtime for Python 2.4-2.6, appended to old/econtext_stub.py: ../runtime.py in 2.4's
# syntax (no `with`, no `except ... as`, no conditional expressions, no combined
# try/except/finally, classic exception classes) and library (no memoryview, bytearray or
# rpartition). Same protocol and layout: an IO thread routes frames, the main thread runs
# calls, fds 1 and 2 become LOG frames, a PEP 302 importer loads modules the parent serves.
import os, sys, select, zlib, time
from thread import allocate_lock as L, start_new_thread as T
a = sys.argv
if a[1:]:
    sys.executable = a[1]
    if not a[2] and 'PYTHONHOME' in os.environ:
        del os.environ['PYTHONHOME']
    del a[1:]
IN = 100
OUT = os.dup(1)
ME = None
N = os.open(os.devnull, os.O_RDWR)
os.dup2(N, 0)
try:
    os.setpgid(0, 0)
except OSError:
    pass
WL = L()
PL = L()
CALLS = []
CL = L()
HANDLES = {}
NH = [1000]
MODS = {}
MISS = {}
INIT = []
# context id -> fd of the child stream it lives behind; child fd -> (buffer, modules sent)
ROUTES = {}
KIDS = {}
GROUP = {}
WAKE = os.pipe()


def send(dst, h, body, rt=0, f=0, src=None):
    if src is None:
        src = ME
    d = hdr_pack(f, dst, src, h, rt, len(body)) + body
    i = 0
    WL.acquire()
    try:
        fd = ROUTES.get(dst, OUT)
        try:
            while i < len(d):
                i += os.write(fd, buffer(d, i))
        except OSError:
            if fd == OUT:
                raise
    finally:
        WL.release()


def die(*a):
    # As ../runtime.py: reap, move to an anchor's group, kill the old group, exit (not as PID 1).
    try:
        try:
            while os.waitpid(-1, 1)[0]:
                pass
        except OSError:
            pass
        g = os.getpgrp()
        if g == os.getpid() > 1:
            h = os.fork()
            if not h:
                select.select([], [], [])
            try:
                os.setpgid(h, h)
                os.setpgid(0, h)
            except OSError:
                pass
            os.kill(h, 9)
            os.waitpid(h, 0)
            os.killpg(g, 9)
    finally:
        os._exit(0)


CAP = {}
for fd, name, lvl in (1, 'stdout', 20), (2, 'stderr', 30):
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    CAP[r] = [name, lvl, '']


def pump(fd, final=0):
    PL.acquire()
    try:
        c = CAP[fd]
        d = ''
        while select.select([fd], [], [], 0)[0]:
            x = os.read(fd, 65536)
            if not x:
                break
            d += x
        lines = (c[2] + d).split('\n')
        c[2] = lines.pop()
        while len(c[2]) > 65536:
            lines.append(c[2][:65536])
            c[2] = c[2][65536:]
        if final and c[2]:
            lines.append(c[2])
            c[2] = ''
        for l in lines:
            for i in range(0, len(l) or 1, 65536):
                log(c[0], c[1], l[i:i + 65536].decode('utf-8', 'replace'))
    finally:
        PL.release()


def log(name, lvl, msg):
    if INIT and lvl >= INIT[3]:
        send(0, 3, enc((name, lvl, msg), 'LogRecord'))


def flush():
    for f in sys.stdout, sys.stderr:
        try:
            f.flush()
        except Exception:
            pass
    for fd in CAP:
        pump(fd, 1)


def loghook(logging):
    class H(logging.Handler):
        def emit(s, r):
            try:
                log(r.name, r.levelno, s.format(r))
            except Exception:
                pass
    g = logging.getLogger()
    g.addHandler(H())
    g.setLevel(INIT[3])


def request(dst, h, body):
    l = L()
    l.acquire()
    WL.acquire()
    NH[0] += 1
    rt = NH[0]
    WL.release()
    r = []
    HANDLES[rt] = lambda f, b, *a: (r.append((f, b)), l.release())
    send(dst, h, body, rt)
    l.acquire()
    del HANDLES[rt]
    return r[0]


def fetch(n):
    if n not in MODS and n not in MISS:
        f, b = request(INIT[1], 4, enc((n,), 'ModuleRequest'))
        if f:
            MISS[n] = 1
            return
        _, ms, miss = dec(b, 'ModuleReply')
        for m in ms:
            MODS[m[0]] = m[1:]
        for m in miss:
            MISS[m] = 1
        GROUP[n] = [m[0] for m in ms], miss


def spawn(src, rt, body):
    try:
        r = __import__('econtext_spawn').spawn(globals(), body)
    except:
        r = err(sys.exc_info()[1])
    send(src, rt, enc(r, 'Reply'))


def lost(fd):
    WL.acquire()
    try:
        del KIDS[fd]
        os.close(fd)
        g = [i for i in ROUTES if ROUTES[i] == fd]
        for i in g:
            del ROUTES[i]
    finally:
        WL.release()
    for i in g:
        send(INIT[1], 6, enc((i,), 'RouteDel'))


def BUF():
    # A stream's frame buffer: [bytes still wanted before parsing again, pieces...].
    return [24, '']


def frames(b, d, fd):
    # Every complete frame in b + d; pieces gather until a frame is whole (no copy per read).
    b.append(d)
    b[0] -= len(d)
    if b[0] > 0:
        return
    s = ''.join(b[1:])
    i = 0
    while 1:
        n = 24
        if len(s) - i < 24:
            break
        f, dst, src, h, rt, m = hdr_unpack(s[i:i + 24])
        n = 24 + m
        if len(s) - i < n:
            break
        route(f, dst, src, h, rt, s[i + 24:i + n], fd)
        i += n
    s = s[i:]
    b[:] = [n - len(s), s]


class Importer(object):
    # PEP 302 (2.3+): find_module/load_module. 2.4's implicit relative imports ask for
    # `pkg.name` first: a name the parent cannot serve is remembered in MISS.
    def find_module(s, n, p=None):
        if n.split('.')[0] in INIT[5]:
            fetch(n)
            if n in MODS:
                return s

    def load_module(s, n):
        m = sys.modules[n] = type(sys)(n)
        f = m.__file__ = MODS[n][0]
        m.__loader__ = s
        if MODS[n][1]:
            m.__path__ = []
        try:
            exec compile(s.get_source(n), f, 'exec') in m.__dict__
        except:
            del sys.modules[n]
            raise
        return m

    def get_source(s, n):
        return zlib.decompress(MODS[n][2]).decode('utf-8')

    def is_package(s, n):
        return MODS[n][1]


def route(f, dst, src, h, rt, body, fd=IN):
    # As ../runtime.py: a child speaks only for its own subtree, never makes anyone run code,
    # spawn or exit.
    global ME
    up = fd == IN
    if not up and (ROUTES.get(src) != fd or h in (1, 2, 7, 8)):
        if rt and not f and ROUTES.get(src) == fd:
            send(src, rt, enc((2, 'refused'), 'DeadLetter'), 0, 1)
        return
    if h == 8 and ME is None:
        INIT.extend(dec(body, 'Init'))
        ME = INIT[0]
        sys.meta_path.insert(0, Importer())
        import site, logging
        loghook(logging)
    elif dst != ME:
        if dst in ROUTES or not up:
            send(dst, h, body, rt, f, src)
        elif rt and not f:
            send(src, rt, enc((0, 'no route to %d' % dst), 'DeadLetter'), 0, 1)
    elif h == 0:
        if up:
            send(0, 0, '')
    elif h == 1:
        CALLS.append((src, rt, body))
        try:
            CL.release()
        except Exception:
            pass
    elif h == 2:
        die()
    elif h == 7:
        T(spawn, (src, rt, body))
    elif h == 4 and not up:
        T(sys.modules['econtext_spawn'].serve, (fd, src, rt, body))
    elif h == 5 and not up:
        i, p, n = dec(body, 'RouteAdd')
        if ROUTES.get(p) == fd and i not in ROUTES:
            ROUTES[i] = fd
            send(INIT[1], 5, body)
    elif h == 6 and not up:
        i = dec(body, 'RouteDel')[0]
        if ROUTES.get(i) == fd:
            del ROUTES[i]
            send(INIT[1], 6, body)
    else:
        c = HANDLES.get(h)
        if c:
            c(f, body, src, rt)
        elif rt and not f:
            send(src, rt, enc((4, 'no handle %d' % h), 'DeadLetter'), 0, 1)


def io_loop():
    try:
        b = BUF()
        seen = time.time()
        while 1:
            hb = 0
            if INIT:
                hb = INIT[6] / 1e3
            r = select.select([IN, WAKE[0]] + list(CAP) + list(KIDS), [], [], hb or None)[0]
            if IN in r:
                seen = time.time()
            elif hb and time.time() - seen > 4 * hb:
                die()
            for fd in r:
                if fd in CAP:
                    pump(fd)
                    continue
                if fd == WAKE[0]:
                    os.read(fd, 99)
                    continue
                if fd != IN:
                    try:
                        frames(KIDS[fd][0], os.read(fd, 1 << 18) or 1 / 0, fd)
                    except:
                        lost(fd)
                    continue
                d = os.read(fd, 1 << 18)
                if not d:
                    die()
                frames(b, d, fd)
    finally:
        die()


def call(m, fn, a, kw):
    # As ../runtime.py: `os.environ.get` arrives as module `os.environ`.
    e = None
    while 1:
        try:
            __import__(m)
            break
        except ImportError:
            e = e or sys.exc_info()[1]
            if '.' not in m:
                raise e
            m, p = m.rsplit('.', 1)
            fn = p + '.' + fn
    o = sys.modules[m]
    try:
        for p in fn.split('.'):
            o = getattr(o, p)
    except AttributeError:
        raise e or sys.exc_info()[1]
    kw = dict([(str(k), v) for k, v in kw])
    return o(*a, **kw)


def err(e):
    import traceback
    t, v, tb = sys.exc_info()
    while tb and tb.tb_frame.f_code.co_filename == '<string>':
        tb = tb.tb_next
    t = e.__class__
    n = t.__name__
    if t.__module__ not in ('builtins', 'exceptions'):
        n = t.__module__ + '.' + n
    return 1, RemoteError(n, str(e), ''.join(traceback.format_exception(t, e, tb)))


def fail(x):
    try:
        raise x
    except Exception:
        return err(sys.exc_info()[1])


def reply(src, rt, r):
    flush()
    try:
        r = enc(r, 'Reply')
    except Exception:
        r = enc(fail(TypeError('econtext cannot send a %s: return None, bool, int, float, str, bytes, list, tuple or dict' % type(r[1]).__name__)), 'Reply')
    if len(r) > INIT[4]:
        r = enc(fail(ValueError('econtext: the result is %d bytes, over the %d-byte message limit' % (len(r), INIT[4]))), 'Reply')
    if rt:
        send(src, rt, r)


def run(src, rt, c):
    try:
        r = 0, call(*c)
    except:
        r = err(sys.exc_info()[1])
        if not rt:
            log('econtext', 40, r[1].args[2])
    reply(src, rt, r)


# Channels: econtext_channel (on demand, the same module as under the modern stub).
sys._econtext = globals()
Sender.__getattr__ = lambda s, n: getattr(__import__('econtext_channel').setup(globals()) or s, n)


def main():
    os.write(OUT, 'EC1\n')
    CL.acquire()
    T(io_loop, ())
    while 1:
        while not CALLS:
            CL.acquire()
        src, rt, body = CALLS.pop(0)
        try:
            c = dec(body, 'Call')
            if Sender in [type(x) for x in c[2] + [v for k, v in c[3]]]:
                T(__import__('econtext_channel').run, (globals(), src, rt, c))
                continue
        except:
            reply(src, rt, err(sys.exc_info()[1]))
            continue
        run(src, rt, c)


if __name__ == '__main__':
    main()
