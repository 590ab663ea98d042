"""Calls on a local context: functions by object, results, errors, timeouts, threads."""
import os
import sys
import threading
import time

import pytest

import econtext
from conftest import eventually, pid_alive


def add(a, b=0):
    return a + b


class Tools(object):
    @staticmethod
    def double(x):
        return 2 * x

    @classmethod
    def name(cls):
        return cls.__name__

    def method(self):
        return 1


def raises():
    def inner():
        raise ValueError('bad value 42')
    inner()


def where():
    return econtext.slave, __name__


def test_call_by_function_object_string_and_builtin(router):
    c = router.local()
    assert c.call(add, 1, b=2) == 3
    assert c.call('os.path.join', '/a', 'b') == '/a/b'
    assert c.call(os.getpid) != os.getpid()
    assert c.call(Tools.double, 21) == 42
    assert c.call(Tools.name) == 'Tools'
    assert c.call(where) == (True, 'test_calls')


def test_values_round_trip(router):
    c = router.local()
    values = [None, True, False, 0, -1, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -(2 ** 200), 1.5,
              float('inf'), '', 'héllo', b'\x00\xff', bytearray(b'ab'), [1, [2, []]], (1, (2,)),
              {'a': 1, 2: [3], (4, 5): None}]
    for v in values:
        got = c.call('copy.copy', v)
        want = bytes(v) if isinstance(v, bytearray) else v
        assert got == want and type(got) is type(want), (v, got)
    with pytest.raises(TypeError, match='cannot send a object'):
        c.call('copy.copy', object())
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError, match='nested deeper'):
        c.call('copy.copy', deep)


def test_refused_functions_say_why(router):
    c = router.local()
    with pytest.raises(econtext.UsageError, match='lambda'):
        c.call(lambda: 1)

    def closure():
        return 1
    with pytest.raises(econtext.UsageError, match='inside a function'):
        c.call(closure)
    with pytest.raises(econtext.UsageError, match='bound method'):
        c.call(Tools().method)
    with pytest.raises(econtext.UsageError, match='object that lives here'):
        c.call([].append, 1)
    with pytest.raises(ValueError):  # UsageError is a ValueError too
        c.call('nodots')


def test_remote_exception_carries_type_message_and_traceback(router):
    c = router.local()
    with pytest.raises(econtext.RemoteError) as e:
        c.call(raises)
    err = e.value
    assert err.type_name == 'ValueError'
    assert err.remote_message == 'bad value 42'
    assert err.kind == 'remote'
    assert 'test_calls.py' in err.remote_traceback and 'inner' in err.remote_traceback
    assert 'bad value 42' in str(err) and 'Traceback' in str(err)
    with pytest.raises(econtext.RemoteError, match='ZeroDivisionError'):
        c.call('operator.truediv', 1, 0)


def test_timeout_then_the_result(router):
    c = router.local()
    h = c.call_async(time.sleep, 0.6)
    t0 = time.time()
    with pytest.raises(econtext.TimeoutError) as e:
        h.get(timeout=0.1)
    assert e.value.kind == 'timeout' and isinstance(e.value, TimeoutError)
    assert time.time() - t0 < 0.5
    assert not h.ready()
    assert h.get(timeout=5) is None
    assert h.ready() and h.get() is None  # as often as asked


def test_call_no_reply_and_shutdown(router):
    c = router.local()
    pid = c.call(os.getpid)
    c.call_no_reply(add, 1, 2)
    c.shutdown()
    assert eventually(lambda: not pid_alive(pid))
    assert c.is_gone
    with pytest.raises(econtext.Disconnected) as e:
        c.call(os.getpid)
    assert e.value.kind == 'disconnected'


def test_many_threads_call_at_once(router):
    ctxs = [router.local(), router.local()]
    pids = [c.call(os.getpid) for c in ctxs]
    errors = []
    results = []

    def worker(i):
        try:
            for j in range(25):
                c = ctxs[(i + j) % 2]
                assert c.call(add, i, j) == i + j
                results.append(c.call(os.getpid))
        except Exception as e:  # noqa
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    # The GIL is released while they wait: this thread keeps running meanwhile.
    spins = 0
    while any(t.is_alive() for t in threads):
        spins += 1
        time.sleep(0.001)
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 200 and set(results) == set(pids)
    assert spins > 0


def test_a_slow_call_does_not_block_other_threads(router):
    a, b = router.local(), router.local()
    h = a.call_async(time.sleep, 1.0)
    t0 = time.time()
    box = []
    t = threading.Thread(target=lambda: box.append(h.get()))
    t.start()
    for _ in range(20):
        b.call(add, 1, 1)
    assert time.time() - t0 < 0.9
    t.join()


def test_router_context_manager_and_shutdown_ends_everything():
    with econtext.Router() as r:
        c = r.local()
        pid = c.call(os.getpid)
    assert eventually(lambda: not pid_alive(pid))
    with pytest.raises(RuntimeError, match='shut down'):
        r.local()


def test_interpreters_as_targets(router):
    from conftest import interpreters
    seen = set()
    for py in interpreters():
        c = router.local(python_path=py)
        v = c.call('platform.python_version')
        assert c.call('sys.version_info.__getitem__', 0) in (2, 3)
        seen.add(v)
        c.shutdown()
    assert len(seen) >= 1


def test_sys_executable_is_the_interpreter(router):
    c = router.local(python_path=sys.executable)
    assert c.call('os.path.realpath', c.call(eval, "__import__('sys').executable")) \
        == os.path.realpath(sys.executable)
