"""The name a function object is called by in a context: ``module.qualname``."""
import inspect
import types

from econtext.errors import UsageError


def function_name(fn):
    """``module.qualname`` of ``fn``, or a UsageError saying why it cannot be called there."""
    if isinstance(fn, str):
        return fn
    owner = getattr(fn, '__self__', None)
    if inspect.ismethod(fn) and not inspect.isclass(owner):
        raise UsageError(
            'cannot call the bound method %r in a context: its object lives here. Call a '
            'module-level function, a staticmethod or a classmethod instead' % (fn,))
    if isinstance(fn, types.BuiltinMethodType) and owner is not None \
            and not isinstance(owner, types.ModuleType) and not inspect.isclass(owner):
        raise UsageError(
            'cannot call %r in a context: it is a method of an object that lives here' % (fn,))
    module = getattr(fn, '__module__', None)
    qualname = getattr(fn, '__qualname__', None) or getattr(fn, '__name__', None)
    if not callable(fn) or not module or not qualname:
        raise UsageError(
            'cannot call %r in a context: it has no importable name (give a module-level '
            'function, or a dotted name such as "os.getpid")' % (fn,))
    if '<lambda>' in qualname:
        raise UsageError(
            'cannot call the lambda %s.%s in a context: a lambda has no importable name; '
            'define it with def at module level' % (module, qualname))
    if '<locals>' in qualname:
        raise UsageError(
            'cannot call %s.%s in a context: it is defined inside a function (a closure), so '
            'it has no importable name; move it to module level' % (module, qualname))
    if module == '__main__':
        from econtext import forward
        module = forward.main_name()
        if module is None:
            raise UsageError(
                'cannot call %s in a context: it is defined in __main__, which has no source '
                'file here (an interactive session or python -c); put it in a module' % qualname)
    return module + '.' + qualname
