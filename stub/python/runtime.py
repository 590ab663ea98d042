# Stage 2 runtime, appended to the codec above by stub/build.rs. Started by stage 1 with the
# protocol stream on fd 100 (in) and fd 1 (out). Layout (docs/architecture.md):
# - the IO thread reads frames and routes them; it alone notices upstream EOF and exits;
# - the main thread runs calls one at a time;
# - fds 1 and 2 are pipes pumped into LOG frames (stdout / stderr lines).
import os, sys, threading, select
try:
    import queue as Q
except ImportError:
    import Queue as Q
try:
    os.waitpid(-1, 0)
except OSError:
    pass
# Stage 0 ran with -S (site costs most of start-up): python 2 imports site now; python 3 imports
# it on the first import that the standard library cannot satisfy.
if sys.version_info[0] < 3:
    import site
else:
    class Site(object):
        def find_spec(s, n, p=None, t=None):
            sys.meta_path.remove(s)
            import site, importlib.machinery as M
            site.main()
            return M.PathFinder.find_spec(n, p)
    sys.meta_path.append(Site())
IN = 100
OUT = os.dup(1)
ME = None
N = os.open(os.devnull, os.O_RDWR)
os.dup2(N, 0)
try:
    os.setpgid(0, 0)
except OSError:
    pass
WL = threading.Lock()
PL = threading.Lock()
CALLS = Q.Queue()
HANDLES = {}


def send(dst, h, body, rt=0, f=0):
    d = memoryview(hdr_pack(f, dst, ME, h, rt, len(body)) + body)
    with WL:
        while d:
            d = d[os.write(OUT, d):]


def die(*a):
    if os.getpgrp() == os.getpid():
        os.killpg(0, 9)
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
            send(0, 3, enc((c[0], c[1], l.decode('utf-8', 'replace')), 'LogRecord'))


def flush():
    for f in sys.stdout, sys.stderr:
        try:
            f.flush()
        except Exception:
            pass
    for fd in CAP:
        pump(fd, 1)


def route(f, dst, src, h, rt, body):
    global ME
    if h == 8 and ME is None:
        ME = dec(body, 'Init')[0]
    elif dst != ME:
        return
    elif h == 1:
        CALLS.put((src, rt, body))
    elif h == 2:
        die()
    elif h in HANDLES:
        HANDLES[h](f, body)
    elif rt and not f:
        send(src, rt, enc((4, 'no handle %d' % h), 'DeadLetter'), 0, 1)


def io_loop():
    try:
        io_run()
    finally:
        die()


def io_run():
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
    t = threading.Thread(target=io_loop)
    t.daemon = True
    t.start()
    while 1:
        src, rt, body = CALLS.get()
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
    try:
        main()
    except BaseException:
        import traceback
        traceback.print_exc(file=sys.__stderr__)
        die()
