# Stage 2 runtime, appended to the codec above by stub/build.rs. Started by stage 1 with the
# protocol stream on fd 100 (in) and fd 1 (out). Layout (docs/architecture.md):
# - the IO thread reads frames and routes them; it alone notices upstream EOF and exits;
# - the main thread runs calls one at a time;
# - fds 1 and 2 are pipes pumped into LOG frames (stdout / stderr lines);
# - a meta path finder imports modules the parent serves, in RAM.
# Only cheap modules are imported at start (threading, queue, re, logging cost ~20 ms).
import os, sys, select, zlib, time
try:
    from _thread import allocate_lock as L, start_new_thread as T
except ImportError:
    from thread import allocate_lock as L, start_new_thread as T
# Stage 1 passes the real interpreter path (Python derives sys.executable from argv[0], the
# process title) and the PYTHONHOME the environment had ('': none; stage 1 may have set one
# for the re-exec): no program this context starts inherits ours.
a = sys.argv
if a[1:]:
    sys.executable = a[1]
    a[2] or os.environ.pop('PYTHONHOME', 0)
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
# module name -> (filename, is_package, zlib source); names the parent cannot serve
MODS = {}
MISS = set()
INIT = []
# context id -> fd of the child stream it lives behind; child fd -> (buffer, modules sent)
ROUTES = {}
KIDS = {}
# module -> (names, missing) that arrived with it, to pass on to children in one piece
GROUP = {}
# written by a spawn thread to wake the IO thread's select
WAKE = os.pipe()


def send(dst, h, body, rt=0, f=0, src=None):
    # To a child's subtree when the route says so, else upstream. A write to a child that
    # just died fails that child alone: the IO thread sees its stream end and reports it.
    d = memoryview(hdr_pack(f, dst, ME if src is None else src, h, rt, len(body)) + body)
    with WL:
        fd = ROUTES.get(dst, OUT)
        try:
            while d:
                d = d[os.write(fd, d):]
        except OSError:
            if fd == OUT:
                raise


def die(*a):
    # Exit, killing the programs our functions started (our process group). Reap every child
    # that is gone first, so nothing is left to a container's init
    # that never reaps (sleep, an app as PID 1). Then move to a group held by an anchor child
    # (gone again at once) and kill the old group: our own exit stays a clean one. A session
    # leader cannot move (docker exec, sudo on a pty): the group kill ends it too. As a pid
    # namespace's init (PID 1) the kernel ends everything in it when we exit; moving our
    # group would even hang that exit for good (its zap waits for the anchor's pid).
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
        # A line that never ends is still sent, in 64 KiB pieces (nothing lost, no huge message).
        while len(c[2]) > 65536:
            lines.append(c[2][:65536])
            c[2] = c[2][65536:]
        if final and c[2]:
            lines.append(c[2])
            c[2] = b''
        for l in lines:
            for i in range(0, len(l) or 1, 65536):
                log(c[0], c[1], l[i:i + 65536].decode('utf-8', 'replace'))


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
    with WL:
        NH[0] += 1
        rt = NH[0]
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
            MISS.add(n)
            return
        _, ms, miss = dec(b, 'ModuleReply')
        for m in ms:
            MODS[m[0]] = m[1:]
        MISS.update(miss)
        GROUP[n] = [m[0] for m in ms], miss


def spawn(src, rt, body):
    try:
        r = __import__('econtext_spawn').spawn(globals(), body)
    except Exception as e:
        r = err(e)
    send(src, rt, enc(r, 'Reply'))


def lost(fd):
    # A child stream ended or broke the protocol: its whole subtree is gone, nothing else.
    with WL:
        del KIDS[fd]
        os.close(fd)
        g = [i for i in ROUTES if ROUTES[i] == fd]
        for i in g:
            del ROUTES[i]
    for i in g:
        send(INIT[1], 6, enc((i,), 'RouteDel'))


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


def route(f, dst, src, h, rt, body, fd=IN):
    # Authority (docs/wire-format.md section 6): a child may only speak for its own subtree,
    # and never make anyone run code, spawn or exit; parent-only handles come from upstream.
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
        if dst in ROUTES or not up:
            send(dst, h, body, rt, f, src)
        elif rt and not f:
            send(src, rt, enc((0, 'no route to %d' % dst), 'DeadLetter'), 0, 1)
    elif h == 0:
        # A heartbeat: answer it, so the host knows this context is alive.
        if up:
            send(0, 0, b'')
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
        # A child exists, so econtext_spawn is loaded (sys.modules: no import lock here).
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
        # get, not `in` then []: a channel thread may drop the handle in between.
        c = HANDLES.get(h)
        if c:
            c(f, body, src, rt)
        elif rt and not f:
            send(src, rt, enc((4, 'no handle %d' % h), 'DeadLetter'), 0, 1)


def io_loop():
    try:
        b = bytearray()
        seen = time.time()
        while 1:
            # Four heartbeat intervals of silence from upstream: the parent is gone even if the
            # stream never said so (a network cut); exit, as on EOF.
            hb = INIT[6] / 1e3 if INIT else 0
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
                    except Exception:
                        lost(fd)
                    continue
                d = os.read(fd, 1 << 18)
                if not d:
                    die()
                frames(b, d, fd)
    finally:
        die()


def frames(b, d, fd):
    # Every complete frame in b + d; b keeps what is left. A read that starts on a frame
    # boundary is parsed in place (bulk streams: one copy less), and b is cut once.
    if b:
        b += d
        d = b
    m = memoryview(d)
    i = 0
    while len(d) - i >= 24:
        f, dst, src, h, rt, n = hdr_unpack(m[i:i + 24].tobytes())
        if len(d) - i < 24 + n:
            break
        body = m[i + 24:i + 24 + n].tobytes()
        i += 24 + n
        route(f, dst, src, h, rt, body, fd)
    del m
    if d is b:
        del b[:i]
    else:
        b += d[i:]


def call(m, fn, a, kw):
    # `os.environ.get` arrives as module `os.environ`: walk back to the longest importable
    # module and take the rest as attributes (a missing module still raises its ImportError).
    e = None
    while 1:
        try:
            __import__(m)
            break
        except ImportError as x:
            e = e or x
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


def fail(x):
    try:
        raise x
    except Exception as e:
        return enc(err(e), 'Reply')


def reply(src, rt, r):
    flush()
    try:
        r = enc(r, 'Reply')
    except Exception:
        r = fail(TypeError('econtext cannot send a %s: return None, bool, int, float, str, bytes, list, tuple or dict' % type(r[1]).__name__))
    if len(r) > INIT[4]:
        r = fail(ValueError('econtext: the result is %d bytes, over the %d-byte message limit' % (len(r), INIT[4])))
    if rt:
        send(src, rt, r)


def run(src, rt, c):
    try:
        r = 0, call(*c)
    except BaseException as e:
        r = err(e)
        if not rt:
            # Nobody waits for this call: its failure goes to the log instead.
            log('econtext', 40, r[1].args[2])
    reply(src, rt, r)


# Channel methods (send, open, close, iteration) live in econtext_channel, fetched from the
# parent the first time a Sender is used; on-demand modules find this namespace as sys._econtext.
sys._econtext = globals()
Sender.__getattr__ = lambda s, n: getattr(__import__('econtext_channel').setup(globals()) or s, n)


def main():
    os.write(OUT, b'EC1\n')
    CL.acquire()
    T(io_loop, ())
    while 1:
        while not CALLS:
            CL.acquire()
        src, rt, body = CALLS.pop(0)
        try:
            c = dec(body, 'Call')
            # A call handed a channel runs on a thread of its own: it may stream for long, and
            # plain calls keep their order here.
            if Sender in [type(x) for x in c[2] + [v for k, v in c[3]]]:
                T(__import__('econtext_channel').run, (globals(), src, rt, c))
                continue
        except BaseException as e:
            reply(src, rt, err(e))
            continue
        run(src, rt, c)


if __name__ == '__main__':
    main()
