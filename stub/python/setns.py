# econtext setns helper, for a setns: hop behind another hop (a first hop does the same in
# Rust: host/src/connect/setns.rs and host/src/sys/setns.rs). Run by the hop's python as
#   python -Sc HELPER LEADER USER PYTHON -Suc STAGE1
# LEADER is pid:N, docker:NAME, podman:NAME or lxc:NAME; USER and PYTHON may be empty. It
# enters the leader's namespaces, its root and cwd, becomes USER (from the container's
# /etc/passwd) and execs the container's python with stage 1. Errors: one line on stderr,
# "econtext-setns: <kind>: ...", which the host maps to a typed failure. Python 2.4's syntax
# (an old hop's `python` may be RHEL 5's); 2.4 has neither os.setns nor ctypes: it says so.
import os
import sys

NAMESPACES = [('user', 0x10000000), ('cgroup', 0x02000000), ('ipc', 0x08000000),
              ('uts', 0x04000000), ('net', 0x40000000), ('pid', 0x20000000),
              ('mnt', 0x00020000), ('time', 0x80)]


def die(kind, msg):
    sys.stderr.write('econtext-setns: %s: %s\n' % (kind, msg))
    sys.exit(1)


def leader(spec):
    kind, name = (spec.split(':', 1) + [''])[:2]
    if kind == 'pid':
        return name
    cmd = {'docker': ['docker', 'inspect', '--format', '{{.State.Pid}}', name],
           'podman': ['podman', 'inspect', '--format', '{{.State.Pid}}', name],
           'lxc': ['lxc-info', '-n', name, '-pH']}[kind]
    import subprocess
    try:
        p = subprocess.Popen(cmd, stdin=open(os.devnull), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    except OSError:
        die('cannot run', '%s: %s' % (cmd[0], sys.exc_info()[1]))
    said = p.communicate()[0].decode('utf-8', 'replace').strip()
    if said == '0' or (p.returncode == 0 and not said):
        die('not running', '%s (%s)' % (name, said or 'no pid'))
    if p.returncode == 0 and said.isdigit():
        return said
    if 'permission denied' in said.lower():
        die('permission denied', said)
    if 'cannot connect' in said.lower() or 'connection refused' in said.lower():
        die('cannot connect', said)
    die('no such container', '%s: %s' % (cmd[0], said))


def setns_call():
    if hasattr(os, 'setns'):
        return os.setns
    try:
        import ctypes
    except ImportError:
        die('cannot run', 'setns: python %s on this hop has neither os.setns nor ctypes: '
            'name a newer python for the hop' % sys.version.split()[0])
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        errno_of = ctypes.get_errno
    except TypeError:
        libc = ctypes.CDLL(None)
        errno_of = lambda: 1

    def setns(fd, kind):
        if libc.setns(fd, kind) != 0:
            e = errno_of()
            raise OSError(e, os.strerror(e))
    return setns


def entry(root, user):
    # (name, uid, gid, home, groups) from the container's own files.
    def lines(name):
        try:
            f = open(root + '/etc/' + name)
            try:
                return [l.rstrip('\n').split(':') for l in f]
            finally:
                f.close()
        except IOError:
            return []
    for f in lines('passwd'):
        if len(f) >= 7 and (f[0] == user or f[2] == user):
            gid = int(f[3])
            groups = [gid] + [int(g[2]) for g in lines('group')
                              if len(g) >= 4 and f[0] in g[3].split(',') and int(g[2]) != gid]
            return f[0], int(f[2]), gid, f[5], groups
    die('unknown user', 'no user %r in the container\'s /etc/passwd' % user)


def main(argv):
    spec, user, python, flag, stage1 = argv[1:6]
    pid = leader(spec)
    d = '/proc/%s' % pid
    if not os.path.isdir(d):
        die('no such container', 'no process %s' % pid)
    fds = []
    try:
        for name, kind in NAMESPACES:
            mine, theirs = '/proc/self/ns/' + name, d + '/ns/' + name
            if not os.path.exists(theirs):
                continue
            a, b = os.stat(mine), os.stat(theirs)
            if (a.st_ino, a.st_dev) != (b.st_ino, b.st_dev):
                fds.append((name, os.open(theirs, os.O_RDONLY), kind))
        root = os.open(d + '/root', os.O_RDONLY)
        try:
            cwd = os.open(d + '/cwd', os.O_RDONLY)
        except OSError:
            cwd = None
    except OSError:
        e = sys.exc_info()[1]
        if e.errno in (1, 13):
            die('permission denied', str(e))
        die('no such container', str(e))
    env = {}
    try:
        f = open(d + '/environ', 'rb')
        try:
            for kv in f.read().decode('utf-8', 'replace').split('\0'):
                if '=' in kv:
                    k, v = kv.split('=', 1)
                    env[k] = v
        finally:
            f.close()
    except IOError:
        pass
    env.setdefault('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
    ids = None
    if user:
        name, uid, gid, home, groups = entry(d + '/root', user)
        env.update(HOME=home, USER=name, LOGNAME=name)
        ids = (uid, gid, groups)
    setns = setns_call()
    fork = False
    for name, fd, kind in fds:
        try:
            setns(fd, kind)
        except OSError:
            die('permission denied', 'setns %s: %s' % (name, sys.exc_info()[1]))
        fork = fork or name == 'pid'
    if fork:
        child = os.fork()
        if child:
            for fd in range(256):
                try:
                    os.close(fd)
                except OSError:
                    pass
            while True:
                try:
                    st = os.waitpid(child, 0)[1]
                    break
                except OSError:
                    pass
            if os.WIFEXITED(st):
                os._exit(os.WEXITSTATUS(st))
            os._exit(128 + os.WTERMSIG(st))
        try:
            import ctypes
            ctypes.CDLL(None).prctl(1, 9)    # PR_SET_PDEATHSIG, SIGKILL
        except Exception:
            pass
    os.fchdir(root)
    os.chroot('.')
    try:
        os.fchdir(cwd)
    except (OSError, TypeError):
        os.chdir('/')
    if ids:
        os.setgroups(ids[2])
        os.setgid(ids[1])
        os.setuid(ids[0])
    names = ['python3', 'python']
    if python:
        names = [python]
    for n in names:
        paths = [n]
        if not n.startswith('/'):
            paths = [x + '/' + n for x in env['PATH'].split(':') if x]
        for p in paths:
            if os.path.exists(p):
                os.execve(p, [p, flag, stage1], env)
    die('no python', 'no %s in the container (PATH %s)' % (python or 'python3 or python', env['PATH']))


main(sys.argv)
