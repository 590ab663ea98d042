"""econtext's exceptions. Every one is an ``econtext.Error`` with ``.kind``, the name of what
failed (``unreachable``, ``auth_refused``, ``host_key``, ``no_python``, ``bootstrap``,
``timeout``, ``remote``, ``disconnected``, ``too_large``, ``protocol``, ``usage``,
``local_resource``, ``file``, ``closed``), so a program can match on it.

This module is also served to contexts (it runs on Python 2.7 and 3.6+ there)."""
try:
    import builtins as _b
except ImportError:  # Python 2, in a context
    import __builtin__ as _b


class Error(Exception):
    """Base of econtext's errors; ``kind`` says what failed."""

    def __init__(self, message, kind='protocol'):
        Exception.__init__(self, message)
        self.kind = kind


class RemoteError(Error):
    """The remote function raised. ``type_name`` is the remote exception's qualified type
    (``builtins.ZeroDivisionError``), ``remote_message`` its ``str()``, ``remote_traceback``
    the remote traceback as text (also part of ``str()``)."""

    def __init__(self, type_name, message, traceback=''):
        Error.__init__(self, '%s: %s' % (type_name, message), 'remote')
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = traceback

    def __str__(self):
        s = '%s: %s' % (self.type_name, self.remote_message)
        if self.remote_traceback:
            s += '\n' + self.remote_traceback.rstrip('\n')
        return s

    def __reduce__(self):
        return (RemoteError, (self.type_name, self.remote_message, self.remote_traceback))


class TimeoutError(Error, getattr(_b, 'TimeoutError', OSError)):
    """No answer within the timeout (the call goes on there)."""

    def __init__(self, message, kind='timeout'):
        Error.__init__(self, message, kind)


class ConnectError(Error):
    """A context did not come up. ``kind`` is the broad reason (``unreachable``,
    ``auth_refused``, ``host_key``, ``no_python``, ``bootstrap``...); ``failure`` the exact one
    the connecting program reported (``wrong_password``, ``password_required``,
    ``host_key_unknown``, ``host_key_changed``, ``unknown_host``, ``connection_refused``,
    ``not_allowed``, ``unknown_user``, ``no_python``...), or None."""

    def __init__(self, message, kind='unreachable', failure=None):
        Error.__init__(self, message, kind)
        self.failure = failure


class Disconnected(Error):
    """The context went away (exited, was killed, its connection broke, its heartbeat went
    silent)."""

    def __init__(self, message, kind='disconnected'):
        Error.__init__(self, message, kind)


class ChannelClosed(Error):
    """The channel was closed (a clean end where an item was expected)."""

    def __init__(self, message, kind='closed'):
        Error.__init__(self, message, kind)


class FileError(Error):
    """A put or get failed. ``file_kind`` says why (``not_found``, ``permission_denied``,
    ``is_a_directory``, ``not_a_directory``, ``no_space``, ``exists``, ``symlink``,
    ``bad_path``, ``read_only``, ``not_regular``, ``unknown_user``, ``checksum``,
    ``incomplete``, ``io``), ``path`` which path, ``context`` where (``local``: this
    machine)."""

    def __init__(self, message, file_kind='io', path='', context='', kind='file'):
        Error.__init__(self, message, kind)
        self.file_kind = file_kind
        self.path = path
        self.context = context


class UsageError(Error, ValueError):
    """A bad argument, function name or option: the message says what to fix."""

    def __init__(self, message, kind='usage'):
        Error.__init__(self, message, kind)
