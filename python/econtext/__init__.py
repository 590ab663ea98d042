"""econtext: Python execution contexts over ssh, sudo, su and doas, on a Rust core.

Start interpreters on other machines (or as other users, or through chains of hosts) that
need nothing but Python, and call functions there; modules, logs and output are forwarded::

    import os
    import econtext

    with econtext.Router() as router:
        bastion = router.ssh(hostname='jump-box.mycorp.com')
        account = router.sudo(via=bastion, username='app', password='sudo password')
        internal = router.ssh(via=account, hostname='billing0.internal.mycorp.com')
        internal.call(os.system, './run-nightly-billing.py')

Reference: docs/python.md. ``econtext.slave`` is False here and True inside a context.
"""
import atexit as _atexit

from econtext.errors import (  # noqa: F401
    Error, RemoteError, TimeoutError, ConnectError, Disconnected, ChannelClosed, UsageError,
    FileError)
from econtext._econtext import (  # noqa: F401
    Router, Context, CallHandle, Receiver, Sender, Select, SenderRef, ContextRef, __version__,
    _shutdown_all)

from econtext import fakessh, ssh, utils  # noqa: E402,F401  (the seed's module names)

#: True inside a context, False in the controller (the seed's
#: ``if __name__ == '__main__' and not econtext.slave:`` guard).
slave = False

# Every router still running is shut down at exit: no context outlives the program.
_atexit.register(_shutdown_all)

__all__ = [
    'Router', 'Context', 'CallHandle', 'Receiver', 'Sender', 'Select', 'SenderRef', 'ContextRef',
    'Error', 'RemoteError', 'TimeoutError', 'ConnectError', 'Disconnected', 'ChannelClosed',
    'UsageError', 'FileError', 'slave', '__version__',
]
