"""Fixtures for the binding's tests: the test environment of tests/env/up.sh (private sshd on
127.0.0.1, the bastion/internal namespaces, test accounts) and this machine's interpreters.

Without the environment the tests that need it are skipped with a note, except under CI
(CI=true), where that is a failure: ./ci.sh starts it."""
import glob
import logging
import os
import time

import pytest

import econtext

ENV_DIR = os.environ.get('ECONTEXT_TESTENV', '/tmp/econtext-testenv')


class TestEnv(object):
    def __init__(self, values):
        self.ssh_port = int(values['SSH_PORT'])
        self.client_key = values['CLIENT_KEY']
        self.known_hosts = values['KNOWN_HOSTS']
        self.pw_ecpass = values['PW_ECPASS']
        self.pw_ectarget = values['PW_ECTARGET']
        self.bastion = values['BASTION']
        self.internal = values['INTERNAL']

    def ssh(self, router, username='ectest', **kw):
        """ssh to the private sshd on 127.0.0.1."""
        kw.setdefault('identity_file', self.client_key)
        return router.ssh(hostname='127.0.0.1', port=self.ssh_port, username=username,
                          known_hosts=self.known_hosts, **kw)


@pytest.fixture(scope='session')
def testenv():
    try:
        with open(os.path.join(ENV_DIR, 'env')) as f:
            values = dict(l.strip().split('=', 1) for l in f if '=' in l)
    except OSError:
        if os.environ.get('CI'):
            pytest.fail('the ssh test environment is not running: ./ci.sh starts it')
        pytest.skip('no test environment (run tests/env/up.sh as root, or ./ci.sh)')
    return TestEnv(values)


def interpreters():
    """Every pyenv interpreter (2.7, 3.6-3.13 here) and the system python3."""
    root = os.environ.get('PYENV_ROOT') or os.path.expanduser('~/.pyenv')
    out = sorted(glob.glob(os.path.join(root, 'versions', '*', 'bin', 'python')))
    if os.path.exists('/usr/bin/python3'):
        out.append('/usr/bin/python3')
    if os.environ.get('CI') and len(out) < 2:
        raise RuntimeError('CI: expected the pyenv interpreters under %s' % root)
    return out


@pytest.fixture
def router():
    r = econtext.Router()
    yield r
    r.shutdown()


def eventually(f, seconds=10.0):
    end = time.time() + seconds
    while time.time() < end:
        v = f()
        if v:
            return v
        time.sleep(0.02)
    return f()


class Records(logging.Handler):
    """Collects records of the `econtext` loggers."""

    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def lines(self):
        return ['%s %s' % (r.name, r.getMessage()) for r in self.records]


@pytest.fixture
def records():
    h = Records()
    log = logging.getLogger('econtext')
    log.addHandler(h)
    old = log.level
    log.setLevel(logging.DEBUG)
    yield h
    log.removeHandler(h)
    log.setLevel(old)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone too.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False
