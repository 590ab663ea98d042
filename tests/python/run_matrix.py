#!/usr/bin/env python3
"""Runs the vector tests under every Python interpreter found.

Interpreters: $(pyenv root)/versions/*/bin/python (PYENV_ROOT, else `pyenv root`, else
~/.pyenv) plus the `python3` on PATH, resolved to a real binary (a pyenv shim is resolved with
`pyenv which python3`, falling back to this interpreter), plus /opt/extra-pythons/X.Y/bin/python
(tests/env/pythons.sh). Duplicates are run once; a missing interpreter is skipped.
Python 2.7 and 3.x run tests/python/test_vectors.py (stub/python/econtext_stub.py); 2.4, 2.5
and 2.6 run tests/python/test_vectors_old.py (stub/python/old/econtext_stub.py). 2.4 and 2.5
have no json module, so the JSON vectors reach that test as Python literals (source that binds
VECTORS; 2.4 cannot parse their deepest nesting in one expression), written to a
temporary file named by $ECONTEXT_TEST_VECTORS (removed at the end).
Prints a table and a last line `N passed, N failed`; exits non-zero if any failed or none ran.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'testdata')
TEST = os.path.join(HERE, 'test_vectors.py')
OLD_TEST = os.path.join(HERE, 'test_vectors_old.py')
# Interpreters older than this run OLD_TEST with the vectors it reads.
OLD_BEFORE = (2, 7)
OLD_VECTORS = ('values.json', 'headers.json', 'bodies.json', 'malformed.json')
# 2.4's parser overflows its stack at about 35 nested brackets in one statement (MemoryError):
# deeper containers are hoisted into statements of their own.
MAX_NEST = 10
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


def py_literal(x, hoisted, nest=0):
    """A JSON value as Python 2.4 source: unicode strings as u'...' with ASCII escapes only,
    ints, True/False/None, lists, dicts. A list or dict nested MAX_NEST deep is appended to
    `hoisted` as a statement `_N = ...` and referred to by its name."""
    if x is None or isinstance(x, bool):
        return repr(x)
    if isinstance(x, int):
        return '%d' % x
    if isinstance(x, str):
        out = []
        for c in x:
            o = ord(c)
            if 0x20 <= o < 0x7f and c not in '\\\'':
                out.append(c)
            elif o < 0x100:
                out.append('\\x%02x' % o)
            elif o < 0x10000:
                out.append('\\u%04x' % o)
            else:
                out.append('\\U%08x' % o)
        return "u'%s'" % ''.join(out)
    if isinstance(x, (list, dict)):
        if nest >= MAX_NEST:
            body = py_literal(x, hoisted)
            hoisted.append('_%d = %s' % (len(hoisted), body))
            return '_%d' % (len(hoisted) - 1)
        if isinstance(x, list):
            return '[%s]' % ', '.join(py_literal(y, hoisted, nest + 1) for y in x)
        return '{%s}' % ', '.join('%s: %s' % (py_literal(k, hoisted, nest + 1),
                                              py_literal(v, hoisted, nest + 1))
                                  for k, v in x.items())
    raise TypeError('no Python literal for %r' % (x,))


def write_old_vectors():
    """testdata/OLD_VECTORS as Python source that binds VECTORS = {file name: its JSON value};
    returns the path of the temporary file."""
    vectors = {}
    for name in OLD_VECTORS:
        with open(os.path.join(TESTDATA, name), encoding='utf-8') as f:
            vectors[name] = json.load(f)
    lines = []
    lines.append('VECTORS = %s' % py_literal(vectors, lines))
    fd, path = tempfile.mkstemp(prefix='econtext-vectors-', suffix='.py')
    with os.fdopen(fd, 'w', encoding='ascii') as f:
        f.write('# testdata/*.json as Python literals for tests/python/test_vectors_old.py\n')
        f.write('\n'.join(lines) + '\n')
    return path


def version_tuple(ver):
    try:
        return tuple(int(x) for x in ver.split('.')[:2])
    except ValueError:
        return None


def interpreters():
    found = sorted(glob.glob(os.path.join(pyenv_root(), 'versions', '*', 'bin', 'python')),
                   key=version_key)
    p3 = path_python3()
    if p3:
        found.append(p3)
    # tests/env/pythons.sh: 3.5 from source, the relocatable 3.14 and 3.15; 2.4, 2.5 and 2.6
    # (built from source like 3.5) run test_vectors_old.py against stub/python/old/.
    for v in ('2.4', '2.5', '2.6', '3.5', '3.14', '3.15'):
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
    vectors = None  # the converted vectors, written for the first old interpreter
    try:
        for exe in exes:
            rc, ver = run([exe, '-c', 'import sys; print(sys.version.split()[0])'], timeout=60)
            ver = ver.strip().splitlines()[-1] if rc == 0 and ver.strip() else '?'
            vt = version_tuple(ver)
            if vt and vt < OLD_BEFORE:
                if vectors is None:
                    vectors = write_old_vectors()
                env = dict(os.environ, ECONTEXT_TEST_VECTORS=vectors)
                rc, out = run([exe, OLD_TEST], timeout=TIMEOUT, cwd=HERE, env=env)
            else:
                rc, out = run([exe, TEST], timeout=TIMEOUT, cwd=HERE)
            tail = out.strip().splitlines()
            summary = [l for l in tail if l.startswith('Ran ')]
            ok = rc == 0
            passed += ok
            failed += not ok
            rows.append((exe, ver, 'PASS' if ok else 'FAIL', summary[-1] if summary else ''))
            if not ok:
                sys.stdout.write('--- %s (%s) output:\n%s\n' % (exe, ver, out.rstrip()))
    finally:
        if vectors is not None:
            os.remove(vectors)
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
