# econtext_files: Context::put / Context::get (docs/files.md). Fetched on demand, the first
# time a file moves. Runs on Python 2.7 and 3.5+.
#
# put(channel, path, opts): the host streams bytes items and ends with the str "sha256:<hex>"
# of what it sent (or "unverified" when asked not to compare). Written to an unnamed file in the destination directory (O_TMPFILE: a
# connection killed mid-transfer leaves nothing), linked under a temporary name and renamed over
# the destination only once everything is in and verified; on any failure the old file is
# intact and no temporary remains.
# read(path, opts): a generator for Context::stream: a dict of metadata, bytes items, then the
# str "sha256:<hex>" of what was read.
import errno
import hashlib
import os
import stat
import sys

CHUNK = 1 << 20
PY3 = str is not bytes


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
    raise FileError(KINDS.get(n, 'io'), path, os.strerror(n) if n else str(e))


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
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        fail(e, path)
    try:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise FileError('is_a_directory', path, 'is a directory')
        h = hashlib.sha256()
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
        if opts.get('owner') is not None:
            import pwd
            o = opts['owner']
            uid = int(o) if str(o).isdigit() else pwd.getpwnam(o).pw_uid
        if opts.get('group') is not None:
            import grp
            g = opts['group']
            gid = int(g) if str(g).isdigit() else grp.getgrnam(g).gr_gid
    except KeyError as e:
        raise FileError('unknown_user', path, 'no such user or group: %s' % e)
    return uid, gid


def tmpname(d, base):
    return os.path.join(d, '.%s.econtext-%d-%s' % (base, os.getpid(),
                                                  os.urandom(4).hex() if PY3 else
                                                  os.urandom(4).encode('hex')))


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
        except OSError as e:
            if not os.path.isdir(d):
                fail(e, d)
    mode = opts.get('mode')
    tmp = None
    fd = -1
    try:
        # Unnamed until complete: nothing is left if this process is killed. Linking it needs
        # /proc (absent in a bare chroot): else a named temporary, removed on any failure.
        if getattr(os, 'O_TMPFILE', 0) and os.path.isdir('/proc/self/fd'):
            try:
                fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o600)
            except OSError:
                fd = -1
        if fd < 0:
            tmp = tmpname(d, base)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        h = hashlib.sha256()
        verify = opts.get('verify', True)
        n = 0
        want = None
        for item in channel:
            if isinstance(item, (bytes, bytearray)):
                if verify:
                    h.update(item)
                n += len(item)
                view = memoryview(item)
                while view:
                    view = view[os.write(fd, view):]
            else:
                want = item
        got = 'sha256:' + h.hexdigest() if verify else 'unverified'
        if want is None:
            raise FileError('incomplete', path, 'the stream ended without its checksum')
        if want != got:
            raise FileError('checksum', path, 'sent %s, written %s' % (want, got))
        if mode is not None:
            os.fchmod(fd, mode)
        else:
            um = os.umask(0)
            os.umask(um)
            os.fchmod(fd, 0o666 & ~um)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
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
        return {u'bytes': n, u'sha256': u'' + (got[7:] if verify else '')}
    except Exception as e:
        fail(e, path)
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
                    except Exception as e:
                        why[i] = u'' + str(e)
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


def read(path, opts):
    path = check(path, opts)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        fail(e, path)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileError('is_a_directory', path, 'is a directory')
        if not stat.S_ISREG(st.st_mode):
            raise FileError('not_regular', path, 'is not a regular file')
        yield {u'size': st.st_size, u'mode': stat.S_IMODE(st.st_mode),
               u'atime': st.st_atime, u'mtime': st.st_mtime}
        h = hashlib.sha256()
        # 1 MiB items, or half the message limit when the router set a smaller one.
        chunk = min(CHUNK, sys._econtext['INIT'][4] // 2)
        while 1:
            try:
                b = os.read(fd, chunk)
            except OSError as e:
                fail(e, path)
            if not b:
                break
            h.update(b)
            yield b
        yield u'sha256:' + h.hexdigest()
    finally:
        os.close(fd)


# Trees (Context::put_tree / get_tree): directories are made before their files and given
# their mode and times after them (a read-only directory still takes its files); symlinks are
# recreated, not followed, unless asked.

def mkdir(path, opts):
    # Make a directory of a tree when missing; an existing directory is kept. True if made.
    path = check(path, opts)
    uid, gid = ids(opts, path)
    try:
        os.mkdir(path, 0o700)
        made = True
    except OSError as e:
        if e.errno != errno.EEXIST:
            fail(e, path)
        if os.path.islink(path) or not os.path.isdir(path):
            raise FileError('not_a_directory', path, 'exists and is not a directory')
        made = False
    try:
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
    except OSError as e:
        fail(e, path)
    return made


def finish(path, opts):
    # A tree's directory once its files are in: its mode, then its times.
    try:
        if opts.get('mode') is not None:
            os.chmod(path, opts['mode'])
        if opts.get('times'):
            os.utime(path, tuple(opts['times']))
    except OSError as e:
        fail(e, path)


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
    except OSError as e:
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
    root = path.encode('utf-8') if not isinstance(path, bytes) else path
    follow = opts.get('follow')
    seen = set()
    stack = [b'']
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            if follow:
                st = os.stat(full)
                if (st.st_dev, st.st_ino) in seen:
                    raise FileError('symlink', full.decode('utf-8', 'replace'),
                                    'a symlink loop (a directory reached twice)')
                seen.add((st.st_dev, st.st_ino))
            names = sorted(os.listdir(full), reverse=True)
        except OSError as e:
            fail(e, full.decode('utf-8', 'replace'))
        for n in names:
            r = rel + b'/' + n if rel else n
            p = os.path.join(root, r)
            try:
                st = os.stat(p) if follow else os.lstat(p)
            except OSError as e:
                fail(e, p.decode('utf-8', 'replace'))
            m = st.st_mode
            kind, target = u'o', b''
            if stat.S_ISLNK(m):
                kind, target = u'l', os.readlink(p)
            elif stat.S_ISDIR(m):
                kind = u'd'
                stack.append(r)
            elif stat.S_ISREG(m):
                kind = u'f'
            yield (r, kind, stat.S_IMODE(m), st.st_size, st.st_atime, st.st_mtime, target)
