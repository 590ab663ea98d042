"""The seed's spelling: ``econtext.ssh.connect(router, hostname, **kwargs)``."""


def connect(router, hostname, **kwargs):
    """``router.ssh(hostname=hostname, **kwargs)``."""
    return router.ssh(hostname=hostname, **kwargs)
