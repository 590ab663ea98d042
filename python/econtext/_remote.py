"""``econtext`` inside a context (served in place of the controller's package, whose core is
a C extension): ``econtext.slave`` is True, and the exception classes are there."""
slave = True
from econtext.errors import (  # noqa: E402
    Error, RemoteError, TimeoutError, ConnectError, Disconnected, ChannelClosed, UsageError,
    FileError)
