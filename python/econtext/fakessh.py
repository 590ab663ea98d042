"""SSH client emulation (the seed's fakessh): tools that run ssh (rsync, scp, sftp, git)
reach another context over econtext's own connections, through any chain of hops, to any
account (sudo with requiretty and a password included), with nothing written to disk.

    fileserver.call(econtext.fakessh.run, webapp,
                    ['rsync', 'appdata', 'appserver:appdata'])

runs rsync on ``fileserver``; every ssh it starts reaches ``webapp`` whatever host it names.
The same as ``fileserver.fakessh(webapp, argv)``. Returns the tool's exit status. See the
repository's docs/fakessh.md for what the fake ssh accepts."""


def run(dest, args):
    """Run ``args`` in the calling context with ssh redirected to ``dest``: call it through a
    context, ``ctx.call(econtext.fakessh.run, dest, args)``."""
    from econtext.errors import UsageError
    raise UsageError('call it through a context: ctx.call(econtext.fakessh.run, dest, argv)')


run._econtext_fakessh = True
