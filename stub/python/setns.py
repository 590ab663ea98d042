# econtext setns helper, for a setns: hop behind another hop (a first hop does the same in
# Rust: host/src/connect/setns.rs and host/src/sys/setns.rs). Run by the hop's python as
#   python -Sc HELPER LEADER USER PYTHON -Suc STAGE1
# LEADER is pid:N, docker:NAME, podman:NAME or lxc:NAME; USER and PYTHON may be empty. It
# enters the leader's namespaces, its root and cwd, becomes USER (from the container's
# /etc/passwd) and execs the container's python with stage 1. Errors: one line on stderr,
# "econtext-setns: <kind>: ...", which the host maps to a typed failure.
import os
import sys

NAMESPACES = [('user', 0x10000000), ('cgroup', 0x02000000), ('ipc', 0x08000000),
              ('uts', 0x04000000), ('net', 0x40000000), ('pid', 0x20000000),
              ('mnt', 0x00020000), ('time', 0x80)]


def die(kind, msg):
    sys.stderr.write('econtext-setns: %s: %s\n' % (kind, msg))
    sys.exit(1)


def leader(spec):
    kind, _, name = spec.partition(':')
    if kind == 'pid':
        return name
    cmd = {'docker': ['docker', 'inspect', '--format', '{{.State.Pid}}', name],
           'podman': ['podman', 'inspect', '--format', '{{.State.Pid}}', name],
           'lxc': ['lxc-info', '-n', name, '-pH']}[kind]
    import subprocess
    try:
        p = subprocess.Popen(cmd, stdin=open(os.devnull), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    except OSError as e:
        die('cannot run', '%s: %s' % (cmd[0], e))
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
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def setns(fd, kind):
        if libc.setns(fd, kind) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    return setns


def entry(root, user):
    # (name, uid, gid, home, groups) from the container's own files.
    def lines(name):
        try:
            with open(root + '/etc/' + name) as f:
                return [l.rstrip('\n').split(':') for l in f]
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
    except OSError as e:
        die('permission denied' if e.errno in (1, 13) else 'no such container', str(e))
    env = {}
    try:
        with open(d + '/environ', 'rb') as f:
            for kv in f.read().split(b'\0'):
                k, eq, v = kv.decode('utf-8', 'replace').partition('=')
                if eq:
                    env[k] = v
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
        except OSError as e:
            die('permission denied', 'setns %s: %s' % (name, e))
        fork = fork or name == 'pid'
    if fork:
        child = os.fork()
        if child:
            os.closerange(0, 65536)
            while True:
                try:
                    st = os.waitpid(child, 0)[1]
                    break
                except OSError:
                    pass
            os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
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
    names = [python] if python else ['python3', 'python']
    for n in names:
        for p in ([n] if n.startswith('/') else [x + '/' + n for x in env['PATH'].split(':') if x]):
            if os.path.exists(p):
                os.execve(p, [p, flag, stage1], env)
    die('no python', 'no %s in the container (PATH %s)' % (python or 'python3 or python', env['PATH']))


main(sys.argv)
