# econtext_channel: channels on a context (docs/wire-format.md, "Channels"). Fetched on
# demand, the first time a call is handed a Sender or a Sender is used, so the core stub only
# routes frames to handles. Runs on every Python from 2.4 to 3.15, under either stub: 2.4's
# syntax (no `with`, `except ... as`, conditional expressions or b'' literals) and library
# (no bytearray or memoryview before 2.6/2.7, no notify_all before 2.6).
#
# A channel joins a sender endpoint (context S, handle hS) to a receiver endpoint (R, hR):
# - Data(value) goes S -> hR with reply_to = hS; Credit(n) and a cancelling Close go back to hS
#   with reply_to = hR; a Close from S ends the stream (with a RemoteError when S failed);
# - the receiver lets the sender have WINDOW bytes of Data bodies in flight that its consumer
#   has not taken: Window and Grants below mirror core::window and are pinned by
#   testdata/channels.json;
# - a sender handed a Sender value starts with the whole window; a sender that a Receiver was
#   made for (the host streaming to us) starts with none and waits for the first Credit.
import os
import sys
import time
import threading
from collections import deque

WINDOW = 1 << 22
G = None
LOCK = threading.Lock()
PY3 = sys.version_info[0] > 2
DATA = '\0\6'
NUL = ''
if PY3:
    BYTES = (bytes, bytearray)
    DATA = DATA.encode('latin-1')
    NUL = DATA[:0]
else:
    BYTES = (str,)
    try:
        BYTES += (bytearray,)
    except NameError:
        pass
try:
    VIEW = memoryview
except NameError:
    def VIEW(d):
        return d


def write_all(fd, b):
    # os.write until all of b is out (econtext_process and econtext_files use it too).
    v = VIEW(b)
    i = 0
    while i < len(v):
        i += os.write(fd, v[i:])


def notify(cv):
    (getattr(cv, 'notify_all', None) or cv.notifyAll)()


def locked(lock, fn, *a):
    # `with lock: return fn(*a)`, in 2.4's syntax.
    lock.acquire()
    try:
        return fn(*a)
    finally:
        lock.release()


class ChannelClosed(Exception):
    """The other end closed the channel, or its context is gone."""


class ChannelTimeout(Exception):
    """No credit came in time: the consumer is slow or stuck."""


class ChannelError(Exception):
    """The producer failed: args are (type name, message, traceback)."""


def cost(n, window=WINDOW):
    return min(n, window // 2)


class Window(object):
    # The sender's credit (core::window::Window).
    def __init__(s, window=WINDOW, full=True):
        s.window = window
        s.credit = 0
        if full:
            s.credit = window

    def take(s, n):
        # (True, cost) when an item of n body bytes may go now, else (False, credit missing).
        c = cost(n, s.window)
        if s.credit >= c:
            s.credit -= c
            return True, c
        return False, c - s.credit

    def grant(s, n):
        if s.credit + n > s.window:
            raise ValueError('over_credit')
        s.credit += n


class Grants(object):
    # The receiver's account (core::window::Grants): what the sender may still send, and what
    # the consumer took that was not granted back yet.
    def __init__(s, window=WINDOW):
        s.window = window
        s.available = window
        s.owed = 0

    def arrived(s, n):
        c = cost(n, s.window)
        if c > s.available:
            raise ValueError('over_credit')
        s.available -= c

    def taken(s, n, queued):
        s.owed = min(s.owed + cost(n, s.window), s.window - s.available)
        if s.owed and (s.owed >= s.window // 4 or not queued and s.available < s.window // 2):
            n, s.owed = s.owed, 0
            s.available += n
            return n
        return None


def varint(n):
    b = []
    while n > 127:
        b.append(n & 127 | 128)
        n >>= 7
    b.append(n)
    if PY3:
        return bytes(b)
    return ''.join([chr(c) for c in b])


def data(v):
    # A Data item's body as parts to write: bytes items are not copied (their 2-4 byte prefix
    # goes separately), anything else goes through the codec.
    if type(v) in BYTES:
        return [DATA + varint(len(v)), v]
    return [G['enc']((0, v), 'Channel')]


def undata(body):
    # The fast path of dec(body, 'Channel') for Data(bytes); None for anything else.
    if body[:2] != DATA:
        return None
    n = i = 0
    for k in range(2, min(len(body), 12)):
        c = ord(body[k:k + 1])
        n |= (c & 127) << i
        i += 7
        if c < 128:
            if len(body) - k - 1 == n:
                return body[k + 1:]
            return None
    return None


WRITEV = getattr(__import__('os'), 'writev', None)
SPLICE = getattr(__import__('os'), 'splice', None)


def send(dst, h, body, rt=0):
    # The stub's send(), and a channel whose both ends are on this context: its frames go
    # straight to the handle (upstream would refuse a frame back to where it came from).
    if dst == G['ME']:
        c = G['HANDLES'].get(h)
        if c:
            c(0, body, dst, rt)
        elif rt:
            c = G['HANDLES'].get(rt)
            if c:
                c(1, G['enc']((4, 'no handle %d' % h), 'DeadLetter'), dst, 0)
        return
    G['send'](dst, h, body, rt)


def write(dst, h, parts, rt):
    # The stub's send() for a frame in parts, without joining them (os.writev) where it can.
    if dst == G['ME']:
        return send(dst, h, NUL.join([bytes_of(p) for p in parts]), rt)
    n = sum([len(p) for p in parts])
    head = G['hdr_pack'](0, dst, G['ME'], h, rt, n)
    locked(G['WL'], _write, dst, head, parts, n)


def bytes_of(p):
    if type(p) is not BYTES[0]:
        return BYTES[0](p)
    return p


def _write(dst, head, parts, n):
    fd = G['ROUTES'].get(dst, G['OUT'])
    try:
        left = 24 + n
        if WRITEV:
            left -= WRITEV(fd, [head] + parts)
        if left:
            d = NUL.join([head] + [bytes_of(p) for p in parts])
            write_all(fd, VIEW(d)[len(d) - left:])
    except OSError:
        if fd == G['OUT']:
            raise


def _splice(dst, h, rt, head, fd, n):
    out = G['ROUTES'].get(dst, G['OUT'])
    try:
        write_all(out, G['hdr_pack'](0, dst, G['ME'], h, rt, len(head) + n) + head)
        while n:
            try:
                k = SPLICE(fd, out, n)
            except OSError:
                # Not spliceable (a terminal since Linux 5.10): the rest by read and write.
                k = 0
            if not k:
                while n:
                    b = os.read(fd, n)
                    if not b:
                        raise OSError('the pipe ended early')
                    write_all(out, b)
                    n -= len(b)
                break
            n -= k
    except OSError:
        if out == G['OUT']:
            raise


def spliceable(tx):
    # The Out of Sender tx when its items may be spliced: os.splice exists and the receiver
    # is on another context.
    if SPLICE:
        o = out(tx)
        if o.dst != G['ME']:
            return o
    return None


def handle():
    def next_handle():
        G['NH'][0] += 1
        return G['NH'][0]
    return locked(G['WL'], next_handle)


def wait(cv, end):
    # Wait on cv until notified or until `end` (a time.time(), or None); False on timeout.
    if end is None:
        cv.wait()
        return True
    left = end - time.time()
    if left <= 0:
        return False
    cv.wait(left)
    return True


def deadline(timeout):
    if timeout is None:
        return None
    return time.time() + timeout


class Out(object):
    # A sender endpoint on this context, towards the receiver (dst, h).
    def __init__(s, dst, h, full):
        s.dst, s.h = dst, h
        s.win = Window(WINDOW, full)
        s.open = True
        s.why = None
        s.cv = threading.Condition()
        s.me = handle()
        G['HANDLES'][s.me] = s.frame
        if full:
            # Tell the receiver where we are before the first item, so it can cancel a
            # stream that has not produced anything yet (a quiet tail).
            send(dst, h, G['enc']((2, 0), 'Channel'), s.me)

    def frame(s, f, body, src=None, rt=0):
        # On the IO thread: credits, a cancelling Close, or a dead letter (receiver gone).
        # Never raises: a malformed message ends this channel, not the IO thread. The handle
        # goes only when this frame ended the channel: one that close() ended is given up by
        # close() once its Close is out (popped here, between close() marking it and sending
        # the Close, a credit still coming would be answered "no handle", and that dead letter
        # would fail a receiver whose stream ended well).
        if locked(s.cv, s._frame, f, body):
            G['HANDLES'].pop(s.me, None)

    def _frame(s, f, body):
        # True when this frame ended the channel.
        was = s.open
        try:
            if f:
                s.open = False
                s.why = 'the receiver is gone: %s' % G['dec'](body, 'DeadLetter')[1]
            else:
                k, x = G['dec'](body, 'Channel')
                if k == 2:
                    s.win.grant(x)
                elif k == 1:
                    s.open = False
                    s.why = 'the receiver closed the channel'
        except ValueError:
            s.open = False
            s.why = 'the receiver broke the protocol (%s)' % (sys.exc_info()[1].args[0],)
        notify(s.cv)
        return was and not s.open

    def send(s, v, timeout=None):
        parts = data(v)
        size = sum([len(p) for p in parts])
        if size > G['INIT'][4]:
            raise ValueError('econtext: the item is %d bytes, over the %d-byte message limit'
                             % (size, G['INIT'][4]))
        locked(s.cv, s._credit, size, deadline(timeout), timeout)
        write(s.dst, s.h, parts, s.me)

    def splice(s, fd, n):
        # Send the n bytes waiting in pipe fd (only the caller reads it) as one bytes item
        # (at most half the message limit: the rest stays for the next one),
        # moved by the kernel from that pipe to the stream towards the receiver (os.splice,
        # 3.10+): they never enter this process. Only for a receiver on another context
        # (spliceable(), below).
        n = min(n, G['INIT'][4] // 2)
        head = DATA + varint(n)
        locked(s.cv, s._credit, len(head) + n, None, None)
        locked(G['WL'], _splice, s.dst, s.h, s.me, head, fd, n)

    def _credit(s, size, end, timeout):
        while 1:
            if not s.open:
                raise ChannelClosed(s.why or 'the channel is closed')
            if s.win.take(size)[0]:
                return
            if not wait(s.cv, end):
                raise ChannelTimeout('no credit from the receiver within %ss' % timeout)

    def close(s, e=None):
        was = locked(s.cv, s._close)
        # The close goes out before the handle is given up: a credit arriving in between
        # would be answered "no handle", and that dead letter would reach the receiver
        # before the close and fail a stream that ended well.
        if was:
            send(s.dst, s.h, G['enc']((1, e), 'Channel'), s.me)
        G['HANDLES'].pop(s.me, None)

    def _close(s):
        was, s.open = s.open, False
        s.why = s.why or 'the channel is closed'
        notify(s.cv)
        return was


def out(tx, full=True):
    def get():
        o = tx.__dict__.get('_out')
        if o is None:
            o = tx.__dict__['_out'] = Out(tx.args[0], tx.args[1], full)
        return o
    return locked(LOCK, get)


class Receiver(object):
    """The receiving end of a channel on this context: iterate it (`for x in channel`).

    Made by the host for a function that consumes a stream (`Context::stream_to`), or by
    `receiver()` here, whose `to_sender()` value can be handed to any other context.
    """

    def __init__(s, ctl=None):
        s.q = deque()
        s.open = True
        s.err = None
        s.peer = None
        s.cv = threading.Condition()
        s.g = Grants(WINDOW)
        s.me = handle()
        G['HANDLES'][s.me] = s.frame
        if ctl is not None:
            # The sender exists and holds no credit: the first Credit tells it where we are.
            s.peer = tuple(ctl.args)
            send(s.peer[0], s.peer[1], G['enc']((2, WINDOW), 'Channel'), s.me)

    def to_sender(s):
        return G['Sender'](G['ME'], s.me)

    def frame(s, f, body, src=None, rt=0):
        # On the IO thread: never blocks, never raises. A receiver made here learns its
        # sender's control endpoint from the first frame (its source and reply_to); frames
        # from any other endpoint are ignored.
        cancel = locked(s.cv, s._frame, f, body, src, rt)
        if cancel:
            send(cancel[0], cancel[1], G['enc']((1, None), 'Channel'), s.me)

    def _frame(s, f, body, src, rt):
        cancel = None
        if f:
            if s.open:
                s.open = False
                try:
                    s.err = ('econtext.ChannelError', 'the sender is gone: %s'
                             % G['dec'](body, 'DeadLetter')[1], '')
                except ValueError:
                    s.err = ('econtext.ChannelError', 'the sender is gone', '')
        elif s.open:
            if s.peer is None and rt:
                s.peer = (src, rt)
            if s.peer == (src, rt):
                try:
                    x = undata(body)
                    k = 0
                    if x is None:
                        k, x = G['dec'](body, 'Channel')
                    if k == 0:
                        s.g.arrived(len(body))
                        s.q.append((x, len(body)))
                    elif k == 1:
                        s.open = False
                        s.err = x and x.args
                except ValueError:
                    s.open = False
                    s.err = ('econtext.ChannelError',
                             'the sender broke the protocol (%s)' % (sys.exc_info()[1].args[0],),
                             '')
                    cancel = s.peer
        notify(s.cv)
        return cancel

    def __iter__(s):
        return s

    def get(s, timeout=None):
        # The next item; StopIteration at a clean end, ChannelError when the producer failed.
        x, c = locked(s.cv, s._get, deadline(timeout), timeout)
        if c and s.peer:
            send(s.peer[0], s.peer[1], G['enc']((2, c), 'Channel'), s.me)
        return x

    def _get(s, end, timeout):
        while not s.q:
            if not s.open:
                G['HANDLES'].pop(s.me, None)
                if s.err:
                    raise ChannelError(*s.err)
                raise StopIteration
            if not wait(s.cv, end):
                raise ChannelTimeout('nothing arrived within %ss' % timeout)
        x, n = s.q.popleft()
        return x, s.g.taken(n, len(s.q))

    __next__ = next = get

    def close(s):
        # Cancel: the sender's send() raises ChannelClosed within one round trip.
        was = locked(s.cv, s._close)
        G['HANDLES'].pop(s.me, None)
        if was and s.peer:
            send(s.peer[0], s.peer[1], G['enc']((1, None), 'Channel'), s.me)

    def _close(s):
        was, s.open = s.open, False
        s.q.clear()
        return was


def receiver():
    """A Receiver on this context; hand `r.to_sender()` to whoever should send to it."""
    return Receiver()


def tx_send(self, v, timeout=None):
    """Send one item; blocks while the receiver's window is full (ChannelTimeout after
    `timeout` seconds), raises ChannelClosed once the receiver is gone."""
    out(self).send(v, timeout)


def tx_open(self):
    """False once the receiver closed the channel or its context is gone."""
    return out(self).open


def tx_close(self, e=None):
    out(self).close(e)


def setup(g):
    # Give the codec's Sender class its methods (once), and drop its fetching hook.
    LOCK.acquire()
    try:
        _setup(g)
    finally:
        LOCK.release()


def _setup(g):
    global G
    if G is not None:
        return
    G = g
    S = g['Sender']
    S.send, S.open, S.close = tx_send, tx_open, tx_close
    try:
        del S.__getattr__
    except AttributeError:
        pass
    # Streams move megabytes: 1 MiB pipes to and from our parent (sshd, sudo, a container
    # runtime) let one item pass in a single write and read instead of sixteen 64 KiB ones,
    # and let the producer read and hash the next while the parent drains this one.
    grow(g['IN'])
    grow(g['OUT'])


def grow(fd):
    # A 1 MiB pipe (Linux F_SETPIPE_SZ, 2.6.35+; the unprivileged maximum by default; not a
    # pipe, or over the user's pipe quota: left as it is). econtext_process grows the
    # programs' pipes with it too.
    try:
        import fcntl
        fcntl.fcntl(fd, 1031, 1 << 20)
    except Exception:
        pass


def err(e):
    # The stub's error reply, without this module's and the stub's frames in the traceback.
    r = G['err'](e)
    tb = sys.exc_info()[2]
    while tb and (tb.tb_frame.f_code.co_filename.startswith('<econtext>/econtext_channel')
                  or tb.tb_frame.f_code.co_filename == '<string>'):
        tb = tb.tb_next
    import traceback
    r[1].args = r[1].args[:2] + (''.join(traceback.format_exception(e.__class__, e, tb)),)
    return r


def run(g, src, rt, c):
    # A call handed a channel, on a thread of its own. The Senders it was handed close when it
    # returns (with its exception when it raised), so the receiver sees the end.
    setup(g)
    S = G['Sender']
    txs = [x for x in c[2] + [v for k, v in c[3]] if type(x) is S]
    if c[:2] == ('econtext_channel', 'feed'):
        txs = []  # its Sender is the host's control endpoint, closed by feed itself
    try:
        r = 0, G['call'](*c)
    except:
        r = err(sys.exc_info()[1])
        if not rt:
            G['log']('econtext', 40, r[1].args[2])
    for tx in txs:
        e = None
        if r[0]:
            e = r[1]
        out(tx).close(e)
    G['reply'](src, rt, r)


if getattr(sys, '_econtext', None):
    setup(sys._econtext)


def pump(tx, module, fn, args, kw):
    """Call module.fn(*args, **kw) and send every item of the iterator it returns; run()
    closes the channel afterwards (with the exception, when one was raised)."""
    it = iter(G['call'](module, fn, args, kw))
    try:
        for x in it:
            tx.send(x)
    except ChannelClosed:
        # The consumer went away: stop the producer (its finally blocks run).
        getattr(it, 'close', lambda: None)()


def feed(ctl, module, fn, args, kw):
    """Call module.fn(channel, *args, **kw) with a Receiver of the host's stream."""
    rx = Receiver(ctl)
    try:
        return G['call'](module, fn, [rx] + list(args), kw)
    finally:
        rx.close()
