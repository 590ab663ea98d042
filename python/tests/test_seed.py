"""The seed's examples through the binding, against the private sshd, sudo and the namespace
topology (bastion -> sudo -> internal)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import econtext
from conftest import eventually, interpreters, pid_alive


def test_bastion_sudo_internal_with_os_system_output_logged(testenv, records):
    with econtext.Router() as router:
        # The seed's chain: the bastion with a password (no key), sudo with a password
        # (requiretty), then ssh from there to a host only the bastion can reach.
        bastion_host = router.ssh(hostname=testenv.bastion, username='ecpass',
                                  password=testenv.pw_ecpass, identity_file='/dev/null',
                                  known_hosts=testenv.known_hosts)
        ssh_account = router.sudo(via=bastion_host, username='ectarget',
                                  password=testenv.pw_ecpass)
        internal_box = router.ssh(via=ssh_account, hostname=testenv.internal,
                                  username='ectarget', known_hosts=testenv.known_hosts)
        assert internal_box.call(os.system, 'echo nightly billing on $(hostname -I)') == 0
        assert internal_box.call('getpass.getuser') == 'ectarget'
        name = 'econtext.ctx.%s' % internal_box.name
        want = '%s stdout: nightly billing on %s' % (name, testenv.internal)
        assert eventually(lambda: any(l.startswith(want) for l in records.lines())), \
            records.lines()
        # The direct way in does not exist.
        with pytest.raises(econtext.ConnectError) as e:
            router.ssh(hostname=testenv.internal, username='ectarget',
                       identity_file=testenv.client_key, known_hosts=testenv.known_hosts,
                       connect_timeout=5)
        assert e.value.kind == 'unreachable'


def test_connect_errors_carry_their_kind(testenv, router):
    with pytest.raises(econtext.ConnectError) as e:
        router.sudo(username='ectarget', password='wrong',
                    via=testenv.ssh(router, username='ecpass', identity_file='/dev/null',
                                    password=testenv.pw_ecpass))
    assert (e.value.kind, e.value.failure) == ('auth_refused', 'wrong_password')
    assert 'wrong password' in str(e.value)
    with pytest.raises(econtext.ConnectError) as e:
        router.ssh(hostname='127.0.0.1', port=1, username='ectest', connect_timeout=5)
    assert (e.value.kind, e.value.failure) == ('unreachable', 'connection_refused')
    with pytest.raises(econtext.ConnectError) as e:
        router.ssh(hostname='no-such-host.invalid', connect_timeout=5)
    assert (e.value.kind, e.value.failure) == ('unreachable', 'unknown_host')
    with pytest.raises(econtext.ConnectError) as e:
        testenv.ssh(router, python_path='/nonexistent/python')
    assert e.value.kind == 'no_python'
    with pytest.raises(ValueError, match='not supported'):
        router.ssh(hostname='x', ssh_args=['-v'])


def test_interpreters_as_ssh_targets_and_hops(testenv, router):
    hop = testenv.ssh(router, username='root')
    for py in interpreters():
        direct = testenv.ssh(router, username='root', python_path=py)
        via = router.local(python_path=py, via=hop)
        for c in (direct, via):
            assert c.call(os.getuid) == 0
            v = c.call('platform.python_version')
            v = v.decode() if isinstance(v, bytes) else v  # Python 2's str
            assert py.endswith('/usr/bin/python3') or '/%s/' % v in py, (py, v)
        # The interpreter as an intermediate hop.
        inner = router.local(via=direct, python_path='/usr/bin/python3')
        assert inner.call(os.getppid) == direct.call(os.getpid)
        for c in (inner, via, direct):
            c.shutdown()


def tail(channel, path):
    """The seed's tail_log_file, for one pass: send what the file holds, line by line."""
    with open(path) as f:
        for line in f:
            if not channel.open():
                break
            channel.send(line.rstrip('\n'))
    return 'done'


def numbers(n):
    for i in range(n):
        yield i * i


def total(channel):
    return sum(channel)


def test_channels_receivers_streams_and_select(router, tmp_path):
    log = tmp_path / 'messages'
    log.write_text('one\ntwo\nthree\n')
    c = router.local()
    rx = c.receiver()
    call = c.call_async(tail, rx, str(log))
    assert [rx.get(timeout=10) for _ in range(3)] == ['one', 'two', 'three']
    assert call.get(timeout=10) == 'done'
    with pytest.raises(econtext.ChannelClosed):
        rx.get(timeout=10)
    assert list(c.stream(numbers, 5)) == [0, 1, 4, 9, 16]
    tx, h = c.stream_to(total)
    for i in range(100):
        tx.send(i)
    tx.close()
    assert h.get(timeout=10) == 4950
    # Select: whichever answers first.
    d = router.local()
    slow = c.call_async(time.sleep, 0.5)
    fast = d.call_async(os.getpid)
    sel = econtext.Select([slow, fast])
    assert sel.wait(timeout=10) is fast
    assert sel.wait(timeout=10) is slow
    assert sel.wait(timeout=0.05) is None


def test_a_dead_producer_is_reported(router):
    c = router.local()
    rx = c.stream('time.sleep', 30)
    c.kill()
    with pytest.raises(econtext.Disconnected):
        for _ in rx:
            pass


CTRL_C = '''
import os, sys, time, econtext
if __name__ == '__main__':
    r = econtext.Router()
    c = r.local()
    print(c.call(os.getpid), flush=True)
    c.call(time.sleep, 60)
'''


def test_ctrl_c_during_a_call_interrupts_and_leaves_no_process(tmp_path):
    script = tmp_path / 'ctrlc.py'
    script.write_text(CTRL_C)
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        pid = int(p.stdout.readline())
        time.sleep(0.3)
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
        assert time.time() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert b'KeyboardInterrupt' in err, err
    assert p.returncode != 0
    assert eventually(lambda: not pid_alive(pid)), 'the context outlived its program'


def test_run_with_router_shuts_down_on_error(tmp_path):
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent('''
        import os, econtext, econtext.utils
        def main(router):
            print(router.local().call(os.getpid), flush=True)
            raise SystemExit(3)
        if __name__ == '__main__' and not econtext.slave:
            econtext.utils.run_with_router(main)
    '''))
    p = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 3, p.stderr
    assert not pid_alive(int(p.stdout))


def test_logging_records_from_the_context(router, records):
    c = router.local()
    c.call('logging.warning', 'disk %s is %d%% full', '/var', 91)
    line = 'econtext.ctx.local root: disk /var is 91% full'
    assert eventually(lambda: line in records.lines()), records.lines()
    rec = [r for r in records.records if r.getMessage() == 'root: disk /var is 91% full'][0]
    assert rec.levelname == 'WARNING'


def test_connect_takes_the_command_lines_targets(testenv, router):
    import pwd
    c = router.connect('local:/usr/bin/python3')
    assert c.call('sys.executable.__str__') == '/usr/bin/python3'
    chain = router.connect('sudo:ectest/local')
    assert chain.call(os.getuid) == pwd.getpwnam('ectest').pw_uid
    assert chain.name.startswith('sudo:ectest/')
    via = router.connect('sudo:ectarget', via=testenv.ssh(router))
    assert via.call('getpass.getuser') == 'ectarget'
    with pytest.raises(ValueError, match='nosuch'):
        router.connect('nosuch:thing')
    with pytest.raises(econtext.ConnectError) as e:
        router.connect('sudo:no-such-user-x')
    assert e.value.kind == 'auth_refused'


def send_later(channel, delay):
    time.sleep(delay)
    channel.send('late')


def test_a_timed_out_wait_leaves_select_watching(router):
    # Regression: get()/rx.get() used to take over the watch a Select had set, so the
    # Select never reported the call or receiver after a timed-out get.
    c, d = router.local(), router.local()
    h = c.call_async(time.sleep, 0.3)
    rx = d.receiver()
    sel = econtext.Select([h, rx])
    sender = d.call_async(send_later, rx, 0.2)
    with pytest.raises(econtext.TimeoutError):
        h.get(timeout=0.05)
    with pytest.raises(econtext.TimeoutError):
        rx.get(timeout=0.05)
    # Both are still reported (the receiver once for its item, once for its end).
    fired = []
    while not (any(x is h for x in fired) and any(x is rx for x in fired)):
        x = sel.wait(timeout=30)
        assert x is not None, fired
        fired.append(x)
    assert rx.get(timeout=5) == 'late'
    assert h.get() is None
    assert sender.get(timeout=5) is None


def test_a_log_handler_may_call_a_context(router):
    # The handler runs on the binding's log thread: a call from there must not wait for
    # that thread to deliver its own record.
    import logging
    c = router.local()
    got = []

    class Calls(logging.Handler):
        def emit(self, record):
            got.append(c.call(os.getpid))
    log = logging.getLogger('econtext.ctx.local')
    h = Calls()
    log.addHandler(h)
    try:
        c.call('logging.warning', 'ping')
        assert eventually(lambda: got, 10) == [c.call(os.getpid)]
    finally:
        log.removeHandler(h)


def test_fakessh_rsync_between_two_contexts(testenv, router):
    """The seed's SSH client emulation: rsync runs on one context (the bastion, as ectest),
    every ssh it starts reaches another (sudo to ectarget there)."""
    import pwd
    import shutil
    import tempfile
    if not shutil.which('rsync'):
        pytest.fail('rsync is not installed (./ci.sh deps installs it)')
    top = tempfile.mkdtemp(prefix='econtext-pytest-')
    try:
        os.chmod(top, 0o755)
        src, dst = os.path.join(top, 'appdata'), os.path.join(top, 'dst')
        os.mkdir(src)
        for i in range(5):
            with open(os.path.join(src, 'f%d' % i), 'wb') as f:
                f.write(os.urandom(1000 * (i + 1)))
        os.chmod(src, 0o755)
        for n in os.listdir(src):
            os.chmod(os.path.join(src, n), 0o644)
        os.mkdir(dst)
        shutil.chown(dst, 'ectarget')
        bastion = router.ssh(hostname=testenv.bastion, username='ectest',
                             identity_file=testenv.client_key, known_hosts=testenv.known_hosts)
        fileserver = bastion
        webapp = router.sudo(via=bastion, username='ectarget')
        status = fileserver.call(econtext.fakessh.run, webapp,
                                 ['rsync', '-a', src + '/', 'appserver:' + dst + '/'])
        assert status == 0
        uid = pwd.getpwnam('ectarget').pw_uid
        for i in range(5):
            p = os.path.join(dst, 'f%d' % i)
            assert open(p, 'rb').read() == open(os.path.join(src, 'f%d' % i), 'rb').read()
            assert os.stat(p).st_uid == uid
        # A failing tool's status comes back.
        assert fileserver.fakessh(webapp, ['rsync', 'appserver:/nonexistent/x', dst]) != 0
        with pytest.raises(econtext.UsageError):
            econtext.fakessh.run(webapp, ['true'])
    finally:
        shutil.rmtree(top)
