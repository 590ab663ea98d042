"""Helpers for programs: ``run_with_router(main)`` and logging set-up."""
import logging

FORMAT = '%(asctime)s %(levelname).1s %(name)s: %(message)s'


def log_to_stderr(level=logging.INFO):
    """Print log records (the contexts' forwarded logs and output lines included) on stderr
    as ``HH:MM:SS L econtext.ctx.<context>: stdout: <line>``."""
    logging.basicConfig(level=level, format=FORMAT, datefmt='%H:%M:%S')


def run_with_router(main, *args, **kwargs):
    """Run ``main(router, *args, **kwargs)`` with a new Router, and shut every context down
    when it returns, raises, or is interrupted (Ctrl-C). Sets up logging to stderr when the
    program has not configured logging itself."""
    from econtext import Router
    if not logging.getLogger().handlers:
        log_to_stderr()
    router = Router()
    try:
        return main(router, *args, **kwargs)
    finally:
        router.shutdown()


# The seed's name (2007: a "broker" was what the router is now).
run_with_broker = run_with_router
