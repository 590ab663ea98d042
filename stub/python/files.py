# econtext_files: Context::put / Context::get (docs/files.md). Fetched on demand, the first
# time a file moves. Runs on every Python from 2.4 to 3.15: 2.4's syntax (no `with`,
# `except ... as`, conditional expressions, b'' or 0o literals, no yield inside try/finally) and
# library (no hashlib before 2.5: a pure-Python sha256 then; no fchmod/fchown before 2.6).
#
# put(channel, path, opts): the host streams bytes items and ends with the str "sha256:<hex>"
# of what it sent (or "unverified" when asked not to compare). Written to an unnamed file in the destination directory (O_TMPFILE: a
# connection killed mid-transfer leaves nothing), linked under a temporary name and renamed over
# the destination only once everything is in and verified; on any failure the old file is
# intact and no temporary remains.
# read(path, opts): a generator for Context::stream: a dict of metadata, bytes items, then the
# str "sha256:<hex>" of what was read.
import binascii
import errno
import os
import stat
import sys

# bytes types, b'' and a write loop for 2.4 to 3.15
from econtext_channel import BYTES, NUL as EMPTY, write_all

CHUNK = 1 << 20
PY3 = sys.version_info[0] > 2
SEP = '/'
if PY3:
    SEP = SEP.encode()
try:
    from hashlib import sha256
except ImportError:
    sha256 = None


def error():
    return sys.exc_info()[1]


class FileError(Exception):
    # args: (kind, path, detail); kind is one of docs/files.md's error kinds.
    def __str__(s):
        return '%s: %s: %s' % s.args


KINDS = {errno.ENOENT: 'not_found', errno.EACCES: 'permission_denied',
         errno.EPERM: 'permission_denied', errno.EISDIR: 'is_a_directory',
         errno.ENOTDIR: 'not_a_directory', errno.ENOSPC: 'no_space',
         errno.EDQUOT: 'no_space', errno.EEXIST: 'exists', errno.ELOOP: 'symlink',
         errno.EROFS: 'read_only', errno.EFBIG: 'no_space'}


def fail(e, path):
    if isinstance(e, FileError):
        raise e
    n = getattr(e, 'errno', None)
    if n:
        raise FileError(KINDS.get(n, 'io'), path, os.strerror(n))
    raise FileError('io', path, str(e))


def hasher():
    if sha256:
        return sha256()
    return Sha256()


class Sha256(object):
    # hashlib.sha256 for Python 2.4, which has no hashlib (FIPS 180-4; about 1 MB/s).
    K = [int(x, 16) for x in (
        '428a2f98 71374491 b5c0fbcf e9b5dba5 3956c25b 59f111f1 923f82a4 ab1c5ed5 d807aa98 '
        '12835b01 243185be 550c7dc3 72be5d74 80deb1fe 9bdc06a7 c19bf174 e49b69c1 efbe4786 '
        '0fc19dc6 240ca1cc 2de92c6f 4a7484aa 5cb0a9dc 76f988da 983e5152 a831c66d b00327c8 '
        'bf597fc7 c6e00bf3 d5a79147 06ca6351 14292967 27b70a85 2e1b2138 4d2c6dfc 53380d13 '
        '650a7354 766a0abb 81c2c92e 92722c85 a2bfe8a1 a81a664b c24b8b70 c76c51a3 d192e819 '
        'd6990624 f40e3585 106aa070 19a4c116 1e376c08 2748774c 34b0bcb5 391c0cb3 4ed8aa4a '
        '5b9cca4f 682e6ff3 748f82ee 78a5636f 84c87814 8cc70208 90befffa a4506ceb bef9a3f7 '
        'c67178f2').split()]

    def __init__(s):
        s.h = [int(x, 16) for x in '6a09e667 bb67ae85 3c6ef372 a54ff53a 510e527f 9b05688c '
               '1f83d9ab 5be0cd19'.split()]
        s.buf = EMPTY
        s.n = 0

    def update(s, b):
        s.n += len(b)
        b = s.buf + b
        i = 0
        while len(b) - i >= 64:
            s.block(b[i:i + 64])
            i += 64
        s.buf = b[i:]

    def block(s, c):
        import struct
        M = 0xffffffff
        w = list(struct.unpack('>16L', c))
        for i in range(16, 64):
            x, y = w[i - 15], w[i - 2]
            s0 = (x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)
            s1 = (y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)
            w.append((w[i - 16] + s0 + w[i - 7] + s1) & M)
        a, b, c, d, e, f, g, h = s.h
        for i in range(64):
            s1 = ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) & M
            t1 = h + s1 + ((e & f) ^ (~e & g)) + s.K[i] + w[i]
            s0 = ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) & M
            t2 = s0 + ((a & b) ^ (a & c) ^ (b & c))
            a, b, c, d, e, f, g, h = (t1 + t2) & M, a, b, c, (d + t1) & M, e, f, g
        s.h = [(x + y) & M for x, y in zip(s.h, [a, b, c, d, e, f, g, h])]

    def hexdigest(s):
        import struct
        c = Sha256()
        c.h, c.buf, c.n = list(s.h), s.buf, s.n
        pad = '\x80' + '\0' * ((55 - s.n) % 64)
        if PY3:
            pad = pad.encode('latin-1')
        c.update(pad + struct.pack('>Q', 8 * s.n))
        return ''.join(['%08x' % x for x in c.h])


def check(path, opts):
    # The path as given must not climb (no '..' component) and, unless asked to follow, must
    # not be a symlink: both refused, never guessed.
    if '..' in path.split('/'):
        raise FileError('bad_path', path, "a '..' component is refused")
    if os.path.islink(path):
        if not opts.get('follow'):
            raise FileError('symlink', path, 'is a symlink (follow it with follow_symlinks)')
        path = os.path.realpath(path)
    return path


def digest(path, opts):
    # sha256 hex of the file, or None when there is none (for skip-when-unchanged).
    path = check(path, opts)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        e = error()
        if e.errno == errno.ENOENT:
            return None
        fail(e, path)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise FileError('is_a_directory', path, 'is a directory')
        h = hasher()
        while 1:
            b = os.read(fd, 1 << 20)
            if not b:
                # u'': text on python 2 too (its str would arrive as bytes and never match).
                return u'' + h.hexdigest()
            h.update(b)
    finally:
        os.close(fd)


def ids(opts, path):
    uid = gid = -1
    try:
        o = opts.get('owner')
        if o is not None:
            import pwd
            if str(o).isdigit():
                uid = int(o)
            else:
                uid = pwd.getpwnam(o)[2]
        g = opts.get('group')
        if g is not None:
            import grp
            if str(g).isdigit():
                gid = int(g)
            else:
                gid = grp.getgrnam(g)[2]
    except KeyError:
        raise FileError('unknown_user', path, 'no such user or group: %s' % error())
    return uid, gid


def tmpname(d, base):
    r = binascii.hexlify(os.urandom(4))
    if PY3:
        r = r.decode('ascii')
    return os.path.join(d, '.%s.econtext-%d-%s' % (base, os.getpid(), r))


def setmode(fd, tmp, mode):
    # fchmod is 2.6+; before, the named temporary (always named there: no O_TMPFILE).
    if hasattr(os, 'fchmod'):
        os.fchmod(fd, mode)
    else:
        os.chmod(tmp, mode)


def setowner(fd, tmp, uid, gid):
    if hasattr(os, 'fchown'):
        os.fchown(fd, uid, gid)
    else:
        os.chown(tmp, uid, gid)


def put(channel, path, opts):
    path = check(path, opts)
    d, base = os.path.split(path)
    d = d or '.'
    if not base:
        raise FileError('is_a_directory', path, 'names a directory')
    if os.path.isdir(path):
        raise FileError('is_a_directory', path, 'is a directory')
    # Never rename over a device, fifo or socket (/dev/null as root would be replaced).
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode) and \
            not os.path.islink(path):
        raise FileError('not_regular', path, 'is not a regular file')
    if not opts.get('overwrite', True) and os.path.lexists(path):
        raise FileError('exists', path, 'exists (overwrite is off)')
    uid, gid = ids(opts, path)
    if opts.get('mkdirs') and not os.path.isdir(d):
        try:
            os.makedirs(d)
        except OSError:
            if not os.path.isdir(d):
                fail(error(), d)
    mode = opts.get('mode')
    tmp = None
    fd = -1
    try:
        try:
            # Unnamed until complete: nothing is left if this process is killed. Linking it
            # needs /proc (absent in a bare chroot): else a named temporary, removed on any
            # failure.
            if getattr(os, 'O_TMPFILE', 0) and os.path.isdir('/proc/self/fd'):
                try:
                    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 384)  # 0600
                except OSError:
                    fd = -1
            if fd < 0:
                tmp = tmpname(d, base)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 384)
            h = hasher()
            verify = opts.get('verify', True)
            n = 0
            want = None
            for item in channel:
                if isinstance(item, BYTES):
                    if verify:
                        h.update(item)
                    n += len(item)
                    write_all(fd, item)
                else:
                    want = item
            got = 'unverified'
            if verify:
                got = 'sha256:' + h.hexdigest()
            if want is None:
                raise FileError('incomplete', path, 'the stream ended without its checksum')
            if want != got:
                raise FileError('checksum', path, 'sent %s, written %s' % (want, got))
            if mode is None:
                um = os.umask(0)
                os.umask(um)
                mode = 438 & ~um  # 0666
            setmode(fd, tmp, mode)
            if uid != -1 or gid != -1:
                setowner(fd, tmp, uid, gid)
            if opts.get('fsync', True):
                os.fsync(fd)
            if tmp is None:
                tmp = tmpname(d, base)
                # A dir fd makes os.link use linkat(AT_SYMLINK_FOLLOW), which follows the magic
                # link to the unnamed file (plain link() would try to link the /proc entry).
                dfd = os.open(d, os.O_RDONLY)
                try:
                    os.link('/proc/self/fd/%d' % fd, tmp, src_dir_fd=dfd, follow_symlinks=True)
                finally:
                    os.close(dfd)
            os.rename(tmp, path)
            tmp = None
            if opts.get('times'):
                os.utime(path, tuple(opts['times']))
            if opts.get('fsync', True):
                dfd = os.open(d, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            # u'': text on python 2 too (its str would arrive as bytes).
            sha = u''
            if verify:
                sha += got[7:]
            return {u'bytes': n, u'sha256': sha}
        except Exception:
            fail(error(), path)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def put_from(ctl, path, opts):
    # put() fed by whoever holds the Sender this sends back on `ctl` first (a relay's tee(),
    # or the host): one group put sends each byte over each link once.
    # `unless`: the sha256 of what would come; a file that has it already is left alone,
    # and nothing is announced (the host leaves this target out of the stream).
    if opts.get('unless') and digest(path, opts) == opts['unless']:
        ctl.close()
        return {u'bytes': 0, u'sha256': opts['unless'], u'skipped': True}
    rx = __import__('econtext_channel').receiver()
    ctl.send(rx.to_sender())
    ctl.close()
    try:
        return put(rx, path, opts)
    finally:
        # A put that failed before reading it all cancels the stream (its sender stops).
        rx.close()


def tee(ctl, outs):
    # A relay's copy of a group put: what arrives on the receiver announced on `ctl` goes to
    # every Sender of `outs` (the puts and tees below this context), at the pace of the
    # slowest. One that fails is dropped, the others go on; its own put reports why.
    rx = __import__('econtext_channel').receiver()
    ctl.send(rx.to_sender())
    ctl.close()
    live = list(outs)
    why = [None] * len(live)
    try:
        for item in rx:
            for i, o in enumerate(live):
                if o is not None:
                    try:
                        o.send(item)
                    except Exception:
                        why[i] = u'' + str(error())
                        live[i] = None
            if live.count(None) == len(live):
                break
    finally:
        rx.close()
        for o in live:
            if o is not None:
                o.close()
    return why


def put_small(path, opts, data, end):
    # A file that fits one message, its bytes inline with the call: one round trip.
    return put([data, end], path, opts)


class Closing(object):
    # Closes fd when dropped: a generator that stops early (or fails) still closes its file
    # (2.4 allows no yield inside try/finally).
    def __init__(s, fd):
        s.fd = fd

    def close(s):
        if s.fd is not None:
            os.close(s.fd)
            s.fd = None

    __del__ = close


def read(path, opts):
    path = check(path, opts)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        fail(error(), path)
    f = Closing(fd)
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise FileError('is_a_directory', path, 'is a directory')
    if not stat.S_ISREG(st.st_mode):
        raise FileError('not_regular', path, 'is not a regular file')
    yield {u'size': st.st_size, u'mode': stat.S_IMODE(st.st_mode),
           u'atime': st.st_atime, u'mtime': st.st_mtime}
    h = None
    if opts.get('verify', True):
        h = hasher()
    # 1 MiB items, or half the message limit when the router set a smaller one.
    chunk = min(CHUNK, sys._econtext['INIT'][4] // 2)
    while 1:
        try:
            b = os.read(fd, chunk)
        except OSError:
            fail(error(), path)
        if not b:
            break
        if h:
            h.update(b)
        yield b
    f.close()
    if h:
        yield u'sha256:' + h.hexdigest()
    else:
        yield u'unverified'


# Trees (Context::put_tree / get_tree): directories are made before their files and given
# their mode and times after them (a read-only directory still takes its files); symlinks are
# recreated, not followed, unless asked.

def mkdir(path, opts):
    # Make a directory of a tree when missing; an existing directory is kept. True if made.
    path = check(path, opts)
    uid, gid = ids(opts, path)
    try:
        os.mkdir(path, 448)  # 0700
        made = True
    except OSError:
        e = error()
        if e.errno != errno.EEXIST:
            fail(e, path)
        if os.path.islink(path) or not os.path.isdir(path):
            raise FileError('not_a_directory', path, 'exists and is not a directory')
        made = False
    try:
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
    except OSError:
        fail(error(), path)
    return made


def finish(path, opts):
    # A tree's directory once its files are in: its mode, then its times.
    try:
        if opts.get('mode') is not None:
            os.chmod(path, opts['mode'])
        if opts.get('times'):
            os.utime(path, tuple(opts['times']))
    except OSError:
        fail(error(), path)


def symlink(path, target, opts):
    # Create (or atomically replace) the symlink path -> target.
    if '..' in path.split('/'):
        raise FileError('bad_path', path, "a '..' component is refused")
    if os.path.isdir(path) and not os.path.islink(path):
        raise FileError('is_a_directory', path, 'is a directory')
    if not opts.get('overwrite', True) and os.path.lexists(path):
        raise FileError('exists', path, 'exists (overwrite is off)')
    d, base = os.path.split(path)
    tmp = tmpname(d or '.', base)
    try:
        os.symlink(target, tmp)
        os.rename(tmp, path)
    except OSError:
        e = error()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        fail(e, path)


def walk(path, opts):
    # A generator for Context::stream: every entry under path, a directory before what it
    # holds, as (relative path, kind, mode, size, atime, mtime, link target); names and
    # targets as bytes (any file name crosses). kind: d, f, l (symlink), o (anything else).
    # With follow, symlinks are entries of what they point to (a directory seen twice is a
    # loop and is refused).
    path = check(path, opts)
    if not os.path.isdir(path):
        raise FileError('not_a_directory', path, 'is not a directory')
    root = path
    if not isinstance(path, BYTES):
        root = path.encode('utf-8')
    follow = opts.get('follow')
    seen = {}
    stack = [EMPTY]
    while stack:
        rel = stack.pop()
        full = root
        if rel:
            full = os.path.join(root, rel)
        try:
            if follow:
                st = os.stat(full)
                if (st.st_dev, st.st_ino) in seen:
                    raise FileError('symlink', full.decode('utf-8', 'replace'),
                                    'a symlink loop (a directory reached twice)')
                seen[(st.st_dev, st.st_ino)] = 1
            names = os.listdir(full)
            names.sort()
            names.reverse()
        except OSError:
            fail(error(), full.decode('utf-8', 'replace'))
        for n in names:
            r = n
            if rel:
                r = rel + SEP + n
            p = os.path.join(root, r)
            try:
                if follow:
                    st = os.stat(p)
                else:
                    st = os.lstat(p)
            except OSError:
                fail(error(), p.decode('utf-8', 'replace'))
            m = st.st_mode
            kind, target = u'o', EMPTY
            if stat.S_ISLNK(m):
                kind, target = u'l', os.readlink(p)
            elif stat.S_ISDIR(m):
                kind = u'd'
                stack.append(r)
            elif stat.S_ISREG(m):
                kind = u'f'
            yield (r, kind, stat.S_IMODE(m), st.st_size, st.st_atime, st.st_mtime, target)
