"""Module forwarding from the controller's own import system."""
import importlib.machinery
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

import econtext
from conftest import interpreters

# Python 2.7 and 3.x alike: the targets run both.
PKG = {
    'ctlonly/__init__.py': 'from .core import answer\n',
    'ctlonly/core.py': 'from . import helpers\n\ndef answer():\n    return helpers.VALUE + 1\n',
    'ctlonly/helpers.py': 'VALUE = 41\n',
    'ctlonly/sub/__init__.py': '',
    'ctlonly/sub/deep.py': (
        'from ..core import answer\nimport econtext\n\n'
        'def info():\n    return answer(), econtext.slave, __name__\n\n'
        'def boom():\n    raise KeyError("missing thing")\n'),
    'nsonly/part.py': 'def f():\n    return "namespace"\n',
    'withext/__init__.py': '',
}
# This controller's own suffix (cpython-311-x86_64-linux-gnu.so...): what its finder takes.
PKG['withext/_speedups' + importlib.machinery.EXTENSION_SUFFIXES[0]] = 'not a shared object'


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A package tree only this process can read (tmp_path is 0700 root's)."""
    for rel, text in PKG.items():
        p = tmp_path / 'lib' / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    z = tmp_path / 'zipped.zip'
    with zipfile.ZipFile(str(z), 'w') as zf:
        zf.writestr('zipmod.py', 'def f():\n    return "from a zip"\n')
    monkeypatch.syspath_prepend(str(tmp_path / 'lib'))
    monkeypatch.syspath_prepend(str(z))
    for n in list(sys.modules):
        if n.split('.')[0] in ('ctlonly', 'nsonly', 'withext', 'zipmod'):
            del sys.modules[n]
    os.chmod(str(tmp_path), 0o700)
    return tmp_path


def test_a_package_only_the_controller_has(tree, testenv):
    import ctlonly.sub.deep
    with econtext.Router() as r:
        # ectest cannot read root's tmp dir: the source comes over the wire.
        c = testenv.ssh(r, python_path='/usr/bin/python3')
        assert c.call(ctlonly.sub.deep.info) == (42, True, 'ctlonly.sub.deep')
        assert c.call('ctlonly.answer') == 42
        with pytest.raises(econtext.RemoteError) as e:
            c.call(ctlonly.sub.deep.boom)
        assert e.value.type_name == 'KeyError'
        assert os.path.join('ctlonly', 'sub', 'deep.py') in e.value.remote_traceback
        assert 'raise KeyError' in e.value.remote_traceback
        # One request for the package brought its modules along.
        assert r.module_requests <= 4


def test_namespace_zip_and_c_extension(tree, router):
    import nsonly.part
    import zipmod
    c = router.local()
    assert c.call(nsonly.part.f) == 'namespace'
    assert c.call(zipmod.f) == 'from a zip'
    with pytest.raises(econtext.RemoteError) as e:
        c.call('withext._speedups.anything')
    assert e.value.type_name == 'ImportError'
    assert 'is a C extension here' in e.value.remote_message
    assert 'install it there' in e.value.remote_message


def test_standard_library_is_never_served(router):
    from econtext.forward import Provider
    p = Provider()
    names = p.names()
    for std in ('os', 'json', 'logging', 'sys', 'asyncio'):
        assert std not in names
        assert p.source(std) is None
    assert p.source('json.decoder') is None
    assert 'econtext' in names
    assert p.source('econtext')[1] is True  # the remote stand-in is a package


def test_forwarding_on_every_interpreter(tree, router):
    import ctlonly.sub.deep
    ran = []
    for py in interpreters():
        c = router.local(python_path=py)
        answer, slave, name = c.call(ctlonly.sub.deep.info)
        # Python 2's str is bytes on the wire.
        assert (answer, slave, name if isinstance(name, str) else name.decode()) == \
            (42, True, 'ctlonly.sub.deep'), py
        ran.append(c.call('platform.python_version'))
        c.shutdown()
    assert ran


INSTALL_APP = '''\
#!/usr/bin/env python
"""
Install our application on a remote machine.

Usage:
    install_app.py <hostname> [ssh options as JSON]

Where:
    <hostname>  Hostname to install to ("local": this machine).
"""
import json
import os
import sys

import econtext


def install_app(tarball, dest):
    os.chdir(dest)
    os.system('tar zxvf %s' % tarball)
    return os.getuid()


def main(router):
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(1)
    if sys.argv[1] == 'local':
        context = router.local()
    else:
        options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
        context = econtext.ssh.connect(router, sys.argv[1], **options)
    uid = context.call(install_app, os.environ['TARBALL'], os.environ['DEST'])
    print('installed as uid %d' % uid)


if __name__ == '__main__' and not econtext.slave:
    import econtext.utils
    econtext.utils.run_with_router(main)
'''


def _install_app(tmp_path, args, owner=None):
    app = tmp_path / 'app'
    (app / 'my_app').mkdir(parents=True)
    (app / 'my_app' / 'README').write_text('hello\n')
    tarball = tmp_path / 'my_app.tar.gz'
    subprocess.check_call(['tar', 'zcf', str(tarball), '-C', str(app), 'my_app'])
    dest = tmp_path / 'dest'
    dest.mkdir()
    script = tmp_path / 'install_app.py'
    script.write_text(INSTALL_APP)
    for p in (tmp_path, tarball, dest, script):
        os.chmod(str(p), 0o755 if p != tarball else 0o644)
    if owner:
        subprocess.check_call(['chown', owner, str(dest)])
    env = dict(os.environ, TARBALL=str(tarball), DEST=str(dest))
    p = subprocess.run([sys.executable, str(script)] + args, env=env, cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return p, dest


def test_install_app_script_local(tmp_path):
    p, dest = _install_app(tmp_path, ['local'])
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, err
    assert 'installed as uid %d' % os.getuid() in out
    assert (dest / 'my_app' / 'README').read_text() == 'hello\n'
    # tar's listing went to the program's log as the context's stdout.
    assert 'econtext.ctx.local: stdout: my_app/README' in err
    # Usage without a host: the __doc__ text, exit 1.
    p = subprocess.run([sys.executable, str(tmp_path / 'install_app.py')],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 1 and b'Install our application' in p.stdout


@pytest.fixture
def open_tmp():
    """A temporary directory other users can enter (pytest's own is root's, 0700)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix='econtext-pytest-')
    os.chmod(d, 0o755)
    yield __import__('pathlib').Path(d)
    shutil.rmtree(d)


def test_install_app_script_over_ssh(open_tmp, testenv):
    import json
    tmp_path = open_tmp
    options = json.dumps({
        'port': testenv.ssh_port, 'username': 'ectest', 'identity_file': testenv.client_key,
        'known_hosts': testenv.known_hosts, 'python_path': '/usr/bin/python3'})
    p, dest = _install_app(tmp_path, ['127.0.0.1', options], owner='ectest')
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == 0, err
    import pwd
    assert 'installed as uid %d' % pwd.getpwnam('ectest').pw_uid in out
    readme = dest / 'my_app' / 'README'
    assert readme.read_text() == 'hello\n'
    assert os.stat(str(readme)).st_uid == pwd.getpwnam('ectest').pw_uid
    assert 'stdout: my_app/README' in err


def test_main_with_an_unusable_name_is_served_under_an_alias(tmp_path):
    script = tmp_path / 'my-tool.py'
    script.write_text(textwrap.dedent('''
        import os, econtext
        def where():
            return __name__, econtext.slave
        if __name__ == '__main__':
            with econtext.Router() as r:
                print(r.local().call(where))
    '''))
    p = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout.decode().strip() == "('_econtext_main_my_tool', True)"


def test_interactive_main_is_refused_clearly():
    p = subprocess.run([sys.executable, '-c', textwrap.dedent('''
        import econtext
        def f():
            return 1
        with econtext.Router() as r:
            try:
                r.local().call(f)
            except econtext.UsageError as e:
                print(e)
    ''')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    assert 'defined in __main__, which has no source file' in p.stdout.decode()


EDITABLE_FINDER = '''
import sys
from importlib.machinery import ModuleSpec, PathFinder
from importlib.util import spec_from_file_location
from pathlib import Path

MAPPING = {'editdemo': %r}
NAMESPACES = {}


class _EditableFinder:  # the shape setuptools writes for `pip install -e` (PEP 660)
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in MAPPING:
            pkg_path = Path(MAPPING[fullname])
            return spec_from_file_location(fullname, pkg_path / '__init__.py',
                                           submodule_search_locations=[str(pkg_path)])
        parent, _, child = fullname.rpartition('.')
        if parent in MAPPING:
            return PathFinder.find_spec(fullname, path=[MAPPING[parent]])
        return None


def install():
    if not any(finder == _EditableFinder for finder in sys.meta_path):
        sys.meta_path.append(_EditableFinder)
'''


def test_an_editable_install_is_served(tmp_path, monkeypatch, router):
    """A package installed with `pip install -e` (setuptools' editable finder: the package
    is found by a meta path finder, not through sys.path)."""
    src = tmp_path / 'checkout' / 'src' / 'editdemo'
    src.mkdir(parents=True)
    (src / '__init__.py').write_text('from .impl import f\n')
    (src / 'impl.py').write_text('def f():\n    return "editable"\n')
    site = tmp_path / 'site'
    site.mkdir()
    (site / '__editable___editdemo_0_1_finder.py').write_text(EDITABLE_FINDER % str(src))
    monkeypatch.syspath_prepend(str(site))
    import __editable___editdemo_0_1_finder as finder
    finder.install()
    try:
        import editdemo
        from econtext.forward import Provider
        assert 'editdemo' in Provider().names()
        # A router made now serves it (the names are taken at start).
        r = econtext.Router()
        try:
            assert r.local().call(editdemo.f) == 'editable'
        finally:
            r.shutdown()
    finally:
        sys.meta_path.remove(finder._EditableFinder)
        for n in ('editdemo', 'editdemo.impl', '__editable___editdemo_0_1_finder'):
            sys.modules.pop(n, None)
