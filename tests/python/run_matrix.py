#!/usr/bin/env python3
"""Runs tests/python/test_vectors.py under every Python interpreter found.

Interpreters: $(pyenv root)/versions/*/bin/python (PYENV_ROOT, else `pyenv root`, else
~/.pyenv) plus the `python3` on PATH, resolved to a real binary (a pyenv shim is resolved with
`pyenv which python3`, falling back to this interpreter). Duplicates are run once.
Prints a table and a last line `N passed, N failed`; exits non-zero if any failed or none ran.
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.join(HERE, 'test_vectors.py')
TIMEOUT = 600


def run(cmd, **kw):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, **kw)
        return p.returncode, p.stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)


def pyenv_root():
    root = os.environ.get('PYENV_ROOT')
    if not root and shutil.which('pyenv'):
        rc, out = run(['pyenv', 'root'], timeout=30)
        if rc == 0 and out.strip():
            root = out.strip().splitlines()[-1]
    return root or os.path.expanduser('~/.pyenv')


def path_python3():
    exe = shutil.which('python3')
    if not exe:
        return None
    if os.sep + 'shims' + os.sep in exe:
        rc, out = run(['pyenv', 'which', 'python3'], timeout=30)
        lines = out.strip().splitlines() if rc == 0 else []
        exe = lines[-1] if lines and os.path.isfile(lines[-1]) else sys.executable
    return exe


def version_key(path):
    v = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return [int(x) if x.isdigit() else x for x in v.replace('-', '.').split('.')]


def interpreters():
    found = sorted(glob.glob(os.path.join(pyenv_root(), 'versions', '*', 'bin', 'python')),
                   key=version_key)
    p3 = path_python3()
    if p3:
        found.append(p3)
    # tests/env/pythons.sh: 3.5 from source, the relocatable 3.14 and 3.15 (2.4-2.6 are built
    # there too, not yet supported: issue 16).
    for v in ('3.5', '3.14', '3.15'):
        found.append('/opt/extra-pythons/%s/bin/python' % v)
    out, seen = [], set()
    for exe in found:
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            continue
        real = os.path.realpath(exe)
        if real not in seen:
            seen.add(real)
            out.append(exe)
    return out


def main():
    exes = interpreters()
    rows, passed, failed = [], 0, 0
    for exe in exes:
        rc, ver = run([exe, '-c', 'import sys; print(sys.version.split()[0])'], timeout=60)
        ver = ver.strip().splitlines()[-1] if rc == 0 and ver.strip() else '?'
        rc, out = run([exe, TEST], timeout=TIMEOUT, cwd=HERE)
        tail = out.strip().splitlines()
        summary = [l for l in tail if l.startswith('Ran ')]
        ok = rc == 0
        passed += ok
        failed += not ok
        rows.append((exe, ver, 'PASS' if ok else 'FAIL', summary[-1] if summary else ''))
        if not ok:
            sys.stdout.write('--- %s (%s) output:\n%s\n' % (exe, ver, out.rstrip()))
    w = max([len(r[0]) for r in rows] + [len('interpreter')])
    print('%-*s  %-8s  %-6s  %s' % (w, 'interpreter', 'version', 'result', 'tests'))
    for r in rows:
        print('%-*s  %-8s  %-6s  %s' % (w, r[0], r[1], r[2], r[3]))
    if not exes:
        print('no Python interpreters found')
    print('%d passed, %d failed' % (passed, failed))
    sys.exit(0 if exes and not failed else 1)


if __name__ == '__main__':
    main()
