"""Module forwarding from this interpreter: what a context may import from the controller.

``Provider`` is the module server's source provider (``econtext.Router(provider=...)``
takes any object with the same two methods). It finds modules through this interpreter's own
import system: every ``sys.path`` entry (directories, zip files, ``.pth`` and editable
installs), packages and namespace packages, and the ``__main__`` script, served under its
file name (``install_app.py`` as ``install_app``) so its ``if __name__ == '__main__':`` block
does not run there. The standard library is never served (the context uses its own); a C
extension is served as a module that raises ImportError saying so.
"""
import importlib.machinery
import keyword
import os
import re
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))
# What a context gets for `econtext` and its pure-Python parts.
OWN = {
    'econtext': ('_remote.py', True),
    'econtext.errors': ('errors.py', False),
    'econtext.utils': ('utils.py', False),
    'econtext.ssh': ('ssh.py', False),
}


def _identifier(s):
    return s.isidentifier() and not keyword.iskeyword(s)


def _stdlib_dirs():
    out = set()
    paths = sysconfig.get_paths()
    for k in ('stdlib', 'platstdlib'):
        if paths.get(k):
            out.add(os.path.realpath(paths[k]))
    return out


def _under(path, dirs):
    real = os.path.realpath(path)
    for d in dirs:
        if real == d or real.startswith(d + os.sep):
            rest = real[len(d):]
            return 'site-packages' not in rest and 'dist-packages' not in rest
    return False


def _stdlib_names(dirs):
    names = set(sys.builtin_module_names)
    names.update(getattr(sys, 'stdlib_module_names', ()))
    if not hasattr(sys, 'stdlib_module_names'):  # before 3.10: list the stdlib directories
        for d in dirs:
            for n in _listed(d):
                names.add(n)
    names.add('__main__')
    return names


def _listed(entry):
    """Top-level names a sys.path directory holds: modules, packages, namespace packages."""
    out = []
    try:
        items = os.listdir(entry)
    except OSError:
        return out
    for n in items:
        p = os.path.join(entry, n)
        if n.endswith('.py') and _identifier(n[:-3]):
            out.append(n[:-3])
        elif _identifier(n) and not n.startswith('__') and os.path.isdir(p):
            if os.path.isfile(os.path.join(p, '__init__.py')) or _has_python(p):
                out.append(n)
    return out


def _has_python(d):
    """A namespace package: a directory with Python modules, or packages, inside."""
    try:
        for n in os.listdir(d):
            if n.endswith('.py') or os.path.isfile(os.path.join(d, n, '__init__.py')):
                return True
    except OSError:
        pass
    return False


def main_name():
    """The name ``__main__`` is imported under in a context, or None when it has no file."""
    m = sys.modules.get('__main__')
    spec = getattr(m, '__spec__', None)
    if spec is not None and spec.name and spec.name != '__main__':
        return spec.name  # python -m pkg.mod: importable as itself
    f = getattr(m, '__file__', None)
    if not f or not f.endswith('.py') or not os.path.isfile(f):
        return None
    stem = os.path.basename(f)[:-3]
    if _identifier(stem) and stem not in _stdlib_names(set()):
        return stem
    return '_econtext_main_' + re.sub(r'\W', '_', stem)


def _main_file():
    return getattr(sys.modules.get('__main__'), '__file__', None)


def _find_spec(fullname):
    """The spec the import system would use, without importing anything (a parent package
    not yet imported here is looked up by its own spec's search locations)."""
    parent, _, _ = fullname.rpartition('.')
    path = None
    if parent:
        pm = sys.modules.get(parent)
        if pm is not None:
            path = getattr(pm, '__path__', None)
        else:
            ps = _find_spec(parent)
            path = ps and ps.submodule_search_locations
        if path is None:
            return None
    else:
        m = sys.modules.get(fullname)
        if m is not None and getattr(m, '__spec__', None) is not None:
            return m.__spec__
    for finder in sys.meta_path:
        fs = getattr(finder, 'find_spec', None)
        if fs is None:
            continue
        try:
            spec = fs(fullname, path)
        except Exception:
            spec = None
        if spec is not None:
            return spec
    return None


def _raising(origin, is_package, message):
    return (origin, is_package, ('raise ImportError(%r)\n' % message).encode('utf-8'))


class Provider(object):
    """Serves this interpreter's modules (the names are taken when the router starts)."""

    def __init__(self):
        self._std_dirs = _stdlib_dirs()
        self._std = _stdlib_names(self._std_dirs)

    def names(self):
        out = set(OWN) | {'econtext'}
        for entry in sys.path:
            entry = entry or os.getcwd()
            if _under(entry, self._std_dirs):
                continue
            if os.path.isdir(entry):
                out.update(_listed(entry))
            elif os.path.isfile(entry):  # a zip file on sys.path
                try:
                    import zipimport
                    import pkgutil
                    for _, n, _ in pkgutil.iter_modules([entry]):
                        out.add(n)
                except (ImportError, OSError, zipimport.ZipImportError):
                    pass
        # Editable installs by a meta path finder (setuptools' __editable___*_finder).
        for f in sys.meta_path:
            mapping = getattr(sys.modules.get(getattr(f, '__module__', '')), 'MAPPING', None)
            if isinstance(mapping, dict):
                out.update(mapping)
        main = main_name()
        if main:
            out.add(main.partition('.')[0])
        return sorted(n for n in out
                      if '.' not in n and _identifier(n) and (n not in self._std or n == main))

    def source(self, fullname):
        """``(filename, is_package, source bytes)`` for a dotted name, or None."""
        if fullname in OWN:
            f, pkg = OWN[fullname]
            path = os.path.join(HERE, f)
            with open(path, 'rb') as fh:
                return (path, pkg, fh.read())
        if fullname.partition('.')[0] == 'econtext':
            return None
        main = main_name()
        if fullname == main and _main_file() and not fullname.count('.'):
            path = os.path.abspath(_main_file())
            with open(path, 'rb') as fh:
                return (path, False, fh.read())
        if fullname.partition('.')[0] in self._std:
            return None
        spec = _find_spec(fullname)
        if spec is None:
            return None
        is_pkg = spec.submodule_search_locations is not None
        origin = spec.origin
        if origin in (None, 'namespace') or spec.loader is None:
            return ('<namespace package %s>' % fullname, True, b'') if is_pkg else None
        if origin in ('built-in', 'frozen') or _under(origin, self._std_dirs):
            return None
        if isinstance(spec.loader, importlib.machinery.ExtensionFileLoader) or \
                origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            return _raising(origin, is_pkg, 'econtext: %s is a C extension here (%s): it cannot '
                            'be sent to a context; install it there' % (fullname, origin))
        try:
            src = spec.loader.get_source(fullname)
        except Exception:
            src = None
        if src is None and origin.endswith('.py') and os.path.isfile(origin):
            # A loader without get_source (pytest's assertion rewriter): the file itself.
            with open(origin, 'rb') as fh:
                return (origin, is_pkg, fh.read())
        if src is None:
            return _raising(origin, is_pkg, 'econtext: %s has no Python source here (%s): only '
                            'modules with source can be sent to a context' % (fullname, origin))
        return (origin, is_pkg, src.encode('utf-8'))
