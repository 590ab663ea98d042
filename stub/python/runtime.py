# Stage 2 runtime, appended to the codec above by stub/build.rs. Started by stage 1 with the
# protocol stream on fd 100 (in) and fd 1 (out). Layout (docs/architecture.md):
# - the IO thread reads frames and routes them; it alone notices upstream EOF and exits;
# - the main thread runs calls one at a time;
# - fds 1 and 2 are pipes pumped into LOG frames (stdout / stderr lines);
# - a meta path finder imports modules the parent serves, in RAM.
# Only cheap modules are imported at start (threading, queue, re, logging cost ~20 ms).
import os, sys, select, zlib
try:
    from _thread import allocate_lock as L, start_new_thread as T
except ImportError:
    from thread import allocate_lock as L, start_new_thread as T
try:
    os.waitpid(-1, 0)
except OSError:
    pass
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
# module name -> (filename, is_package, zlib source); names the parent cannot serve
MODS = {}
MISS = set()
INIT = []


def send(dst, h, body, rt=0, f=0):
    d = memoryview(hdr_pack(f, dst, ME, h, rt, len(body)) + body)
    with WL:
        while d:
            d = d[os.write(OUT, d):]


def die(*a):
    # Kill the programs our functions started (our process group), then exit cleanly: leave
    # the group first when we can, so the parent (sudo, doas) sees a normal exit.
    g = os.getpgrp()
    if g == os.getpid():
        try:
            os.setpgid(0, os.getpgid(os.getppid()))
        except OSError:
            pass
        os.killpg(g, 9)
    os._exit(0)


# stdio capture: fd -> [logger, level, partial line]
CAP = {}
for fd, name, lvl in (1, 'stdout', 20), (2, 'stderr', 30):
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    CAP[r] = [name, lvl, b'']


def pump(fd, final=0):
    with PL:
        c = CAP[fd]
        d = b''
        while select.select([fd], [], [], 0)[0]:
            x = os.read(fd, 65536)
            if not x:
                break
            d += x
        lines = (c[2] + d).split(b'\n')
        c[2] = lines.pop()
        if final and c[2]:
            lines.append(c[2])
            c[2] = b''
        for l in lines:
            log(c[0], c[1], l.decode('utf-8', 'replace'))


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
    # Send and wait for the answer on a fresh handle: (dead-letter flag, body).
    l = L()
    l.acquire()
    NH[0] += 1
    rt = NH[0]
    r = []
    HANDLES[rt] = lambda f, b: (r.append((f, b)), l.release())
    send(dst, h, body, rt)
    l.acquire()
    del HANDLES[rt]
    return r[0]


def fetch(n):
    if n not in MODS and n not in MISS:
        f, b = request(INIT[1], 4, enc((n,), 'ModuleRequest'))
        if f:
            MISS.add(n)
            return
        _, ms, miss = dec(b, 'ModuleReply')
        for m in ms:
            MODS[m[0]] = m[1:]
        MISS.update(miss)


class Importer(object):
    def mine(s, n):
        if n.split('.')[0] in INIT[5]:
            fetch(n)
            return n in MODS

    def find_spec(s, n, p=None, t=None):
        if s.mine(n):
            import importlib.machinery as M
            return M.ModuleSpec(n, s, origin=MODS[n][0], is_package=MODS[n][1])
        if n == 'logging':
            # Forward logging records from the moment logging is first imported.
            import importlib.machinery as M
            sp = M.PathFinder.find_spec(n, p)
            x = sp.loader.exec_module
            sp.loader.exec_module = lambda m: (x(m), loghook(m))
            return sp

    def find_module(s, n, p=None):
        if s.mine(n):
            return s

    def create_module(s, spec):
        return None

    def exec_module(s, m):
        n = m.__name__
        f = m.__file__ = MODS[n][0]
        exec(compile(s.get_source(n), f, 'exec'), m.__dict__)

    def load_module(s, n):
        m = sys.modules[n] = type(sys)(n)
        m.__loader__ = s
        m.__package__ = n.rpartition('.')[0]
        if MODS[n][1]:
            m.__path__ = []
            m.__package__ = n
        try:
            s.exec_module(m)
        except BaseException:
            del sys.modules[n]
            raise
        return m

    def get_source(s, n):
        return zlib.decompress(MODS[n][2]).decode('utf-8')

    def is_package(s, n):
        return MODS[n][1]


def route(f, dst, src, h, rt, body):
    global ME
    if h == 8 and ME is None:
        INIT.extend(dec(body, 'Init'))
        ME = INIT[0]
        sys.meta_path.insert(0, Importer())
        if sys.version_info[0] < 3:
            # Stage 0 ran with -S: python 2 imports site now; python 3 on the first import the
            # standard library cannot satisfy (below).
            import site, logging
            loghook(logging)
        else:
            class Site(object):
                def find_spec(s, n, p=None, t=None):
                    sys.meta_path.remove(s)
                    import site, importlib.machinery as M
                    site.main()
                    return M.PathFinder.find_spec(n, p)
            sys.meta_path.append(Site())
    elif dst != ME:
        return
    elif h == 1:
        CALLS.append((src, rt, body))
        try:
            CL.release()
        except Exception:
            pass
    elif h == 2:
        die()
    elif h in HANDLES:
        HANDLES[h](f, body)
    elif rt and not f:
        send(src, rt, enc((4, 'no handle %d' % h), 'DeadLetter'), 0, 1)


def io_loop():
    try:
        b = bytearray()
        while 1:
            for fd in select.select([IN] + list(CAP), [], [])[0]:
                if fd != IN:
                    pump(fd)
                    continue
                d = os.read(IN, 1 << 20)
                if not d:
                    die()
                b += d
                while len(b) >= 24:
                    f, dst, src, h, rt, n = hdr_unpack(b)
                    if len(b) < 24 + n:
                        break
                    body = bytes(b[24:24 + n])
                    del b[:24 + n]
                    route(f, dst, src, h, rt, body)
    finally:
        die()


def call(m, fn, a, kw):
    __import__(m)
    o = sys.modules[m]
    for p in fn.split('.'):
        o = getattr(o, p)
    return o(*a, **dict(kw))


def err(e):
    import traceback
    t, v, tb = sys.exc_info()
    # Drop the stub's own frames (it runs as '<string>').
    while tb and tb.tb_frame.f_code.co_filename == '<string>':
        tb = tb.tb_next
    t = type(e)
    n = t.__name__
    if t.__module__ not in ('builtins', 'exceptions'):
        n = t.__module__ + '.' + n
    return 1, RemoteError(n, str(e), ''.join(traceback.format_exception(t, e, tb)))


def main():
    os.write(OUT, b'EC1\n')
    CL.acquire()
    T(io_loop, ())
    while 1:
        while not CALLS:
            CL.acquire()
        src, rt, body = CALLS.pop(0)
        try:
            r = 0, call(*dec(body, 'Call'))
        except BaseException as e:
            r = err(e)
        flush()
        try:
            r = enc(r, 'Reply')
        except Exception:
            try:
                raise TypeError('econtext cannot send a %s: return None, bool, int, float, str, bytes, list, tuple or dict' % type(r[1]).__name__)
            except TypeError as e:
                r = enc(err(e), 'Reply')
        if rt:
            send(src, rt, r)


if __name__ == '__main__':
    main()
