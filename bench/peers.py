"""The peers' side of the side-by-side benchmark: Mitogen, execnet, and econtext's own Python
binding (`econtext-py`, for the Python-controller table).

Usage: peers.py mitogen|execnet|econtext-py bootstrap|roundtrip|fanout PYTHON N
       peers.py mitogen|execnet|econtext-py ssh-bootstrap|ssh-roundtrip PYTHON N
       peers.py mitogen|execnet stream-down|stream-up PYTHON MIB
       peers.py mitogen|execnet pingpong PYTHON N
       peers.py mitogen bytes-before-first-reply PYTHON N
       peers.py mitogen sudo2 PYTHON N [ROUNDTRIPS]
       peers.py mitogen|execnet fleet-local|fleet-ssh PYTHON N

Runs the same workloads as `econtext-bench` (bench/src/main.rs) and prints one JSON line in the
same shape; a peer that fails prints an "error" field instead of numbers. PYTHON is the
interpreter the contexts run on; this script itself runs on the venv's python (which holds
mitogen and execnet). The ssh workloads use the test environment of tests/env/up.sh (its env
file: $ECONTEXT_TESTENV/env, default /tmp/econtext-testenv/env).
"""

import json
import os
import queue
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback

WARMUP = 200


def median(v):
    return pct(v, 50)


def pct(v, p):
    s = sorted(v)
    if not s:
        return 0.0
    i = max((len(s) * p + 99) // 100 - 1, 0)
    return s[min(i, len(s) - 1)]


def vm_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def process_tree():
    """{ppid: [(pid, state)]} for every process on the machine."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append((int(name), fields[0]))
    return children


def descendants():
    """Every process below this one: [(pid, state)], zombies included (state Z)."""
    children, out, todo = process_tree(), [], [os.getpid()]
    while todo:
        for c in children.get(todo.pop(0), []):
            out.append(c)
            todo.append(c[0])
    return out


def descendants_pss_kib():
    """Every process below this one: their count and the sum of their PSS in KiB."""
    children = {k: [pid for pid, _ in v] for k, v in process_tree().items()}
    todo, count, pss = [os.getpid()], 0, 0
    while todo:
        for c in children.get(todo.pop(0), []):
            count += 1
            try:
                with open("/proc/%d/smaps_rollup" % c) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1])
                            break
            except OSError:
                pass
            todo.append(c)
    return count, pss


# --- Mitogen -------------------------------------------------------------------------------


class Mitogen:
    """router.local(python_path=PYTHON) + context.call(os.getpid)."""

    def __init__(self, python):
        import mitogen.master

        self.python = python
        self.broker = mitogen.master.Broker()
        self.router = mitogen.master.Router(self.broker)

    def connect(self):
        return self.router.local(python_path=self.python)

    def call(self, ctx):
        return ctx.call(os.getpid)

    def start_call(self, ctx):
        return ctx.call_async(os.getpid)

    def finish_call(self, recv):
        return recv.get().unpickle()

    def shutdown(self, ctx):
        ctx.shutdown(wait=True)

    def close(self):
        self.broker.shutdown()
        self.broker.join()

    def roundtrip_extra(self, ctx, n):
        return {}

    # The fleet workloads: connect from many threads at once (the router is thread-safe).
    def fleet_connect(self, target):
        if target is None:
            return self.router.local(python_path=self.python)
        alias, cfg = target
        return self.router.ssh(hostname=alias, ssh_args=["-F", cfg], python_path=self.python)

    def fleet_finish(self, recv, timeout):
        return recv.get(timeout=timeout).unpickle()

    def fleet_shutdown(self):
        self.close()


class MitogenContainer(Mitogen):
    """Mitogen's container methods (docker, podman, lxc, setns) against the containers of
    tests/env/containers.sh, python3 inside."""

    METHODS = {
        "ctr-docker": lambda r: r.docker(container="ectx-docker", python_path="python3"),
        "ctr-podman": lambda r: r.podman(container="ectx-podman", python_path="python3"),
        "ctr-lxc": lambda r: r.lxc(container="ectx-lxc", python_path="python3"),
        "ctr-setns-docker": lambda r: r.setns(container="ectx-docker", kind="docker",
                                              python_path="python3"),
        "ctr-setns-lxc": lambda r: r.setns(container="ectx-lxc", kind="lxc",
                                           python_path="python3"),
    }
    workload = None

    def connect(self):
        return self.METHODS[self.workload](self.router)


# --- econtext's Python binding -----------------------------------------------------------


class EcontextPy:
    """The binding (python/, `import econtext`): the same calls as Mitogen's."""

    def __init__(self, python):
        import econtext

        self.python = python
        self.router = econtext.Router()

    def connect(self):
        return self.router.local(python_path=self.python)

    def call(self, ctx):
        return ctx.call(os.getpid)

    def start_call(self, ctx):
        return ctx.call_async(os.getpid)

    def finish_call(self, h):
        return h.get()

    def shutdown(self, ctx):
        ctx.shutdown()

    def close(self):
        self.router.shutdown()

    def roundtrip_extra(self, ctx, n):
        return {}


class EcontextPySsh(EcontextPy):
    """router.ssh(ectest@127.0.0.1, key) through the binding."""

    def __init__(self, python):
        EcontextPy.__init__(self, python)
        self.env = testenv()

    def connect(self, **kw):
        return self.router.ssh(
            hostname="127.0.0.1", port=int(self.env["SSH_PORT"]), username="ectest",
            identity_file=self.env["CLIENT_KEY"], known_hosts=self.env["KNOWN_HOSTS"],
            check_host_keys="enforce", python_path=self.python, **kw)


# --- execnet -------------------------------------------------------------------------------

CODE_GETPID = "import os; channel.send(os.getpid())"
CODE_LOOP = "import os\nfor _ in channel:\n    channel.send(os.getpid())"


class Execnet:
    """makegateway("popen//python=PYTHON") + remote_exec per call (and a raw channel loop)."""

    def __init__(self, python):
        import execnet

        self.execnet = execnet
        self.python = python
        self.spec = "popen//python=%s" % python
        self.group = execnet.Group()  # the fleet workloads' gateways

    def connect(self):
        return self.execnet.makegateway(self.spec)

    def call(self, gw):
        return gw.remote_exec(CODE_GETPID).receive()

    def start_call(self, gw):
        return gw.remote_exec(CODE_GETPID)

    def finish_call(self, ch):
        return ch.receive()

    def shutdown(self, gw):
        gw.exit()

    def close(self):
        self.execnet.default_group.terminate(timeout=2)
        self.group.terminate(timeout=2)

    # The fleet workloads: one execnet.Group, makegateway (serial per call) from many threads.
    def fleet_connect(self, target):
        if target is None:
            return self.group.makegateway(self.spec)
        alias, cfg = target
        return self.group.makegateway("ssh=-F %s %s//python=%s" % (cfg, alias, self.python))

    def fleet_finish(self, ch, timeout):
        return ch.receive(timeout=timeout)

    def fleet_shutdown(self):
        self.group.terminate(timeout=10)

    def roundtrip_extra(self, gw, n):
        """The raw-channel measure: a persistent remote loop answering each message."""
        ch = gw.remote_exec(CODE_LOOP)
        rt = []
        for i in range(WARMUP + n):
            t0 = time.perf_counter()
            ch.send(None)
            ch.receive()
            if i >= WARMUP:
                rt.append(time.perf_counter() - t0)
        ch.close()
        ch.waitclose(5)
        return {
            "raw_channel_median_us": round(median(rt) * 1e6, 1),
            "raw_channel_p99_us": round(pct(rt, 99) * 1e6, 1),
        }


# --- over ssh (the test environment of tests/env/up.sh) ------------------------------------


def testenv():
    d = os.environ.get("ECONTEXT_TESTENV", "/tmp/econtext-testenv")
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


class Counter:
    """count_stdin.py (next to this file) in front of ssh, behind an `ssh` wrapper script."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="econtext-bench-peer-")
        here = os.path.dirname(os.path.abspath(__file__))
        self.ssh_path = os.path.join(self.dir, "ssh")
        with open(self.ssh_path, "w") as f:
            f.write('#!/bin/sh\nexec %s -S %s %s ssh "$@"\n' % (
                sys.executable, os.path.join(here, "count_stdin.py"),
                os.path.join(self.dir, "count")))
        os.chmod(self.ssh_path, 0o755)

    def read(self):
        with open(os.path.join(self.dir, "count")) as f:
            c = json.load(f)
        return c["cmd"], c["stdin"]

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class MitogenSsh(Mitogen):
    """router.ssh(ectest@127.0.0.1, key) + context.call(os.getpid)."""

    def __init__(self, python):
        Mitogen.__init__(self, python)
        self.env = testenv()

    def ssh_kwargs(self, username, **kw):
        kw.update(
            hostname="127.0.0.1",
            port=int(self.env["SSH_PORT"]),
            username=username,
            check_host_keys="enforce",
            ssh_args=["-o", "UserKnownHostsFile=" + self.env["KNOWN_HOSTS"]],
            python_path=self.python,
        )
        return kw

    def connect(self, **kw):
        return self.router.ssh(**self.ssh_kwargs(
            "ectest", identity_file=self.env["CLIENT_KEY"], **kw))

    def connect_ecpass(self, **kw):
        return self.router.ssh(**self.ssh_kwargs(
            "ecpass", password=self.env["PW_ECPASS"], **kw))

    def sudo_ectarget(self, via):
        return self.router.sudo(via=via, username="ectarget", password=self.env["PW_ECPASS"],
                                python_path=self.python)


class ExecnetSsh(Execnet):
    """makegateway("ssh=-p PORT -i KEY ... ectest@127.0.0.1//python=PYTHON")."""

    def __init__(self, python):
        Execnet.__init__(self, python)
        env = testenv()
        self.spec = "ssh=-o LogLevel=ERROR -o BatchMode=yes -o StrictHostKeyChecking=yes " \
            "-o UserKnownHostsFile=%s -i %s -p %s ectest@127.0.0.1//python=%s" % (
                env["KNOWN_HOSTS"], env["CLIENT_KEY"], env["SSH_PORT"], python)


# --- workloads -----------------------------------------------------------------------------


def bootstrap(peer, n):
    total, conn, first, down = [], [], [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        ctx = peer.connect()
        t1 = time.perf_counter()
        peer.call(ctx)
        t2 = time.perf_counter()
        peer.shutdown(ctx)
        t3 = time.perf_counter()
        if i > 0:  # one discarded warm-up, as in econtext-bench
            total.append(t2 - t0)
            conn.append(t1 - t0)
            first.append(t2 - t1)
            down.append(t3 - t2)
    return {
        "median_ms": round(median(total) * 1e3, 2),
        "min_ms": round(min(total) * 1e3, 2),
        "connect_median_ms": round(median(conn) * 1e3, 2),
        "first_call_median_ms": round(median(first) * 1e3, 3),
        "shutdown_median_ms": round(median(down) * 1e3, 2),
    }


def roundtrip(peer, n):
    ctx = peer.connect()
    for _ in range(WARMUP):
        peer.call(ctx)
    rt = []
    for _ in range(n):
        t0 = time.perf_counter()
        peer.call(ctx)
        rt.append(time.perf_counter() - t0)
    out = {
        "median_us": round(median(rt) * 1e6, 1),
        "p99_us": round(pct(rt, 99) * 1e6, 1),
        "min_us": round(min(rt) * 1e6, 1),
    }
    out.update(peer.roundtrip_extra(ctx, n))
    peer.shutdown(ctx)
    return out


def fanout(peer, n):
    rss0 = vm_rss_kib()
    t0 = time.perf_counter()
    ctxs = [peer.connect() for _ in range(n)]
    t1 = time.perf_counter()
    pending = [peer.start_call(c) for c in ctxs]
    for p in pending:
        peer.finish_call(p)
    t2 = time.perf_counter()
    rss1 = vm_rss_kib()
    kids, pss = descendants_pss_kib()
    for c in ctxs:
        peer.shutdown(c)
    t3 = time.perf_counter()
    return {
        "wall_s": round(t2 - t0, 3),
        "connect_s": round(t1 - t0, 3),
        "calls_s": round(t2 - t1, 4),
        "shutdown_s": round(t3 - t2, 3),
        "host_rss_delta_kib_per_ctx": round((rss1 - rss0) / float(n), 1),
        "children": kids,
        "children_pss_kib_per_ctx": round(pss / float(n)),
        "children_pss_mib_total": round(pss / 1024.0, 1),
    }


def ssh_bootstrap(peer, n, _m):
    """Connect + first call + shutdown, as econtext-bench ssh-bootstrap."""
    total, up, conn, first, down = [], [], [], [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        ctx = peer.connect()
        t1 = time.perf_counter()
        peer.call(ctx)
        t2 = time.perf_counter()
        peer.shutdown(ctx)
        t3 = time.perf_counter()
        if i > 0:
            total.append(t3 - t0)
            up.append(t2 - t0)
            conn.append(t1 - t0)
            first.append(t2 - t1)
            down.append(t3 - t2)
    return {
        "median_ms": round(median(total) * 1e3, 1),
        "min_ms": round(min(total) * 1e3, 1),
        "up_median_ms": round(median(up) * 1e3, 1),
        "connect_median_ms": round(median(conn) * 1e3, 1),
        "first_call_median_ms": round(median(first) * 1e3, 2),
        "shutdown_median_ms": round(median(down) * 1e3, 1),
    }


def bytes_before_first_reply(peer, _n, _m):
    """What the host wrote to ssh (remote command line + stdin) before the first reply."""
    counter = Counter()
    try:
        ctx = peer.connect(ssh_path=counter.ssh_path)
        peer.call(ctx)
        cmd, stdin = counter.read()
        peer.shutdown(ctx)
    finally:
        counter.close()
    return {"total_bytes": cmd + stdin, "command_bytes": cmd, "stdin_bytes": stdin}


def sudo2(peer, n, m):
    """ssh ecpass (password) -> sudo ectarget (password): bootstrap, round trips, bytes per hop."""
    total, up, hop1 = [], [], []
    for i in range(n + 1):
        t0 = time.perf_counter()
        a = peer.connect_ecpass()
        t1 = time.perf_counter()
        b = peer.sudo_ectarget(a)
        peer.call(b)
        t2 = time.perf_counter()
        peer.shutdown(b)
        peer.shutdown(a)
        t3 = time.perf_counter()
        if i > 0:
            total.append(t3 - t0)
            up.append(t2 - t0)
            hop1.append(t1 - t0)
    a = peer.connect_ecpass()
    b = peer.sudo_ectarget(a)
    uid = b.call(os.getuid)
    for _ in range(WARMUP):
        peer.call(b)
    rt = []
    for _ in range(m):
        t0 = time.perf_counter()
        peer.call(b)
        rt.append(time.perf_counter() - t0)
    peer.shutdown(b)
    peer.shutdown(a)
    counter = Counter()
    try:
        a = peer.connect_ecpass(ssh_path=counter.ssh_path)
        cmd1, in1 = counter.read()
        b = peer.sudo_ectarget(a)
        peer.call(b)
        _, in2 = counter.read()
        peer.shutdown(b)
        peer.shutdown(a)
    finally:
        counter.close()
    return {
        "rt_n": m,
        "target_uid": uid,
        "boot_median_ms": round(median(total) * 1e3, 1),
        "boot_min_ms": round(min(total) * 1e3, 1),
        "boot_up_median_ms": round(median(up) * 1e3, 1),
        "hop1_up_median_ms": round(median(hop1) * 1e3, 1),
        "rt_median_us": round(median(rt) * 1e6, 1),
        "rt_p99_us": round(pct(rt, 99) * 1e6, 1),
        "rt_min_us": round(min(rt) * 1e6, 1),
        "hop1_command_bytes": cmd1,
        "hop1_stdin_bytes": in1,
        "hop1_bytes": cmd1 + in1,
        "hop2_bytes": in2 - in1,
    }


# --- channels: remote -> host and host -> remote bulk streams ------------------------------

CHUNK = 64 * 1024


def mitogen_chunks(sender, n, size):
    """Runs in the Mitogen child: n bytes items through a mitogen.core.Sender."""
    b = b"\0" * size
    for _ in range(n):
        sender.send(b)
    sender.close()


EXECNET_CHUNKS = "b = b'\\0' * %d\nfor _ in range(%d):\n    channel.send(b)"
EXECNET_SINK = "t = 0\nwhile 1:\n    x = channel.receive()\n    if x is None:\n        break\n    t += len(x)\nchannel.send(t)"


def down_once(peer, ctx, mib):
    n = mib * 1024 * 1024 // CHUNK
    t0 = time.perf_counter()
    got = 0
    if isinstance(peer, Mitogen):
        import mitogen.core as mc
        recv = mc.Receiver(peer.router)
        call = ctx.call_async(mitogen_chunks, recv.to_sender(), n, CHUNK)
        for msg in recv:
            got += len(msg.unpickle())
        call.get()
    else:
        ch = ctx.remote_exec(EXECNET_CHUNKS % (CHUNK, n))
        for _ in range(n):
            got += len(ch.receive())
        ch.waitclose(30)
    dt = time.perf_counter() - t0
    if got != n * CHUNK:
        raise RuntimeError("got %d of %d bytes" % (got, n * CHUNK))
    return n * CHUNK / dt / 1e9


def stream_down(peer, mib, _m):
    ctx = peer.connect()
    down_once(peer, ctx, 16)
    runs = [down_once(peer, ctx, mib) for _ in range(3)]
    peer.shutdown(ctx)
    return {"gbps": round(sorted(runs)[1], 3), "runs": [round(x, 3) for x in runs]}


def up_once(peer, ctx, mib):
    n = mib * 1024 * 1024 // CHUNK
    item = b"\0" * CHUNK
    t0 = time.perf_counter()
    ch = ctx.remote_exec(EXECNET_SINK)
    for _ in range(n):
        ch.send(item)
    ch.send(None)
    total = ch.receive()
    dt = time.perf_counter() - t0
    if total != n * CHUNK:
        raise RuntimeError("the sink counted %r" % (total,))
    return n * CHUNK / dt / 1e9


def stream_up(peer, mib, _m):
    if isinstance(peer, Mitogen):
        raise RuntimeError("not measured: Mitogen has no host -> child stream to a running function")
    ctx = peer.connect()
    up_once(peer, ctx, 16)
    runs = [up_once(peer, ctx, mib) for _ in range(3)]
    peer.shutdown(ctx)
    return {"gbps": round(sorted(runs)[1], 3), "runs": [round(x, 3) for x in runs]}


def pingpong(peer, n, _m):
    if isinstance(peer, Mitogen):
        raise RuntimeError("not measured: Mitogen has no channel pair to a running function")
    ctx = peer.connect()
    out = peer.roundtrip_extra(ctx, n)
    peer.shutdown(ctx)
    return {"median_us": out["raw_channel_median_us"], "p99_us": out["raw_channel_p99_us"]}


def _mitogen_fetch(context, path, dest):
    # Runs in the Mitogen child: pull `path` from the master's FileService.
    import mitogen.service
    with open(dest, "wb") as fp:
        ok, _meta = mitogen.service.FileService.get(context, path, fp)
    return ok


def files_ssh(peer, mib, _m):
    """Mitogen's FileService (as its Ansible plugin uses it), ssh compression off: the host
    serves a MIB MiB file, the ssh context pulls it, 3 times."""
    import shutil
    import tempfile
    import mitogen.service
    d = tempfile.mkdtemp(prefix="econtext-bench-mitogen-files-")
    try:
        os.chmod(d, 0o1777)
        src = os.path.join(d, "data")
        with open(src, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        ctx = peer.connect(compression=False)
        fs = mitogen.service.FileService(peer.router)
        pool = mitogen.service.Pool(peer.router, services=[fs])
        fs.register(src)
        runs = []
        for _ in range(3):
            dst = os.path.join(d, "dst")
            t0 = time.perf_counter()
            ok = ctx.call(_mitogen_fetch, peer.router.myself(), src, dst)
            runs.append(time.perf_counter() - t0)
            if not ok or os.path.getsize(dst) != mib << 20:
                raise RuntimeError("FileService copy incomplete")
            os.unlink(dst)
        pool.stop()
        gb = (mib << 20) / 1e9
        return {"gbps": round(gb / median(runs), 3), "runs": [round(gb / r, 3) for r in runs]}
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- fleets: N contexts at once, each peer in its best parallel form -----------------------

# Connects + first calls must be done by then (run.sh runs each workload under `timeout 600`);
# what is not counts as failed, and shutdown still runs.
FLEET_DEADLINE_S = float(os.environ.get("FLEET_DEADLINE_S", "420"))
# Connecting threads: 20 per CPU, bounded by N.
FLEET_LOCAL_WORKERS = 20 * (os.cpu_count() or 1)
# ssh: at most 10 logins in flight, AND a login that fails is retried (up to FLEET_SSH_RETRIES
# more times, 0.1 s x attempt apart). sshd's MaxStartups default (10:30:100) drops new
# connections at random (30%) once 10 are unauthenticated: 40 in flight lost 8-15 of 50. 10 in
# flight sits right at that edge, so anything else logging in to the same sshd meanwhile
# (or sshd's listener lagging behind on busy cores) still drops some: 3 and 6 of 100 were lost
# once. Retries are counted ("retries", "retried_errors") and their time is in wall_s;
# "failed" counts the logins that failed every attempt. FLEET_SSH_WORKERS in the environment
# overrides the cap.
FLEET_SSH_WORKERS = int(os.environ.get("FLEET_SSH_WORKERS", "10"))
FLEET_SSH_RETRIES = 4


def count_fds():
    return len(os.listdir("/proc/self/fd"))


def count_threads():
    return len(os.listdir("/proc/self/task"))


def cpu_s(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


class ThreadPeak:
    """This process's thread count, sampled every 5 ms on a daemon thread (not counted)."""

    def __init__(self):
        self.peak = count_threads()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.005):
            self.peak = max(self.peak, count_threads() - 1)

    def close(self):
        self.done.set()
        self.thread.join()
        return max(self.peak, count_threads())


def one_line(e):
    msg = "%s: %s" % (type(e).__name__, e)
    return " / ".join(l.strip() for l in msg.splitlines() if l.strip())[:300]


def fleet(peer, n, targets, workers, retries=0):
    """Connect len(targets) contexts from `workers` threads, one os.getpid call on each as
    soon as it is up, every result collected; then one shutdown of everything. A connect
    that raises is tried again up to `retries` times (0.1 s x attempt later).

    wall_s: start to the last result. host RSS, fds and children: after the last result
    against before the start. threads: the peak of this process during connect + calls.
    shutdown_s: until the peer's shutdown returned and no live process is left below this
    one (`left_after_shutdown` counts those still running 30 s later; zombies a peer left
    unreaped are counted, then reaped here so RUSAGE_CHILDREN covers them)."""
    todo = queue.Queue()
    for t in targets:
        todo.put(t)
    done = queue.Queue()
    retried = []  # the errors that were retried (list.append is atomic)

    def worker():
        while True:
            try:
                t = todo.get_nowait()
            except queue.Empty:
                return
            for attempt in range(retries + 1):
                try:
                    ctx = peer.fleet_connect(t)
                    done.put((True, peer.start_call(ctx)))
                    break
                except Exception as e:
                    if attempt == retries:
                        done.put((False, one_line(e)))
                    else:
                        retried.append(one_line(e))
                        time.sleep(0.1 * (attempt + 1))

    fd0, rss0 = count_fds(), vm_rss_kib()
    self0, kids0 = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN)
    peak = ThreadPeak()
    t0 = time.perf_counter()
    deadline = t0 + FLEET_DEADLINE_S
    # Daemon threads, not a ThreadPoolExecutor: a connect that never returns must not hold
    # the interpreter's exit.
    for _ in range(min(workers, n)):
        threading.Thread(target=worker, daemon=True).start()
    ok, errors = 0, []
    for _ in range(n):
        try:
            good, x = done.get(timeout=max(deadline - time.perf_counter(), 0.001))
        except queue.Empty:
            errors.append("connect + call not done within %d s" % FLEET_DEADLINE_S)
            break
        if not good:
            errors.append(x)
            continue
        try:
            peer.fleet_finish(x, max(deadline - time.perf_counter(), 0.001))
            ok += 1
        except Exception as e:
            errors.append("call: " + one_line(e))
    t1 = time.perf_counter()
    fd1, rss1 = count_fds(), vm_rss_kib()
    threads_up = count_threads() - 1
    threads = peak.close()
    kids, pss = descendants_pss_kib()
    per = float(max(ok, 1))

    t2 = time.perf_counter()
    peer.fleet_shutdown()
    t_shut = time.perf_counter()
    while True:
        live = [pid for pid, state in descendants() if state != "Z"]
        if not live or time.perf_counter() - t_shut > 30:
            break
        time.sleep(0.01)
    t3 = time.perf_counter()
    zombies = [pid for pid, state in descendants() if state == "Z"]
    for pid in zombies:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    self1, kids1 = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN)

    def distinct(v):
        out = []
        for e in v:
            if e not in out:
                out.append(e)
        return out[:5]

    return {
        "workers": min(workers, n),
        "ok": ok,
        "failed": n - ok,
        "errors": distinct(errors),
        "retries": len(retried),
        "retried_errors": distinct(retried),
        "wall_s": round(t1 - t0, 3),
        "host_rss_delta_kib_per_ctx": round((rss1 - rss0) / per, 1),
        "fds_per_ctx": round((fd1 - fd0) / per, 2),
        "threads": threads,
        "threads_after_calls": threads_up,
        "children": kids,
        "children_pss_kib_per_ctx": round(pss / per),
        "shutdown_s": round(t3 - t2, 3),
        "shutdown_call_s": round(t_shut - t2, 3),
        "left_after_shutdown": len(live),
        "zombies_after_shutdown": len(zombies),
        "self_cpu_s": round(self1 - self0, 2),
        "children_cpu_s": round(kids1 - kids0, 2),
    }


def fleet_local(peer, n, _m):
    out = fleet(peer, n, [None] * n, FLEET_LOCAL_WORKERS)
    if out["ok"] == 0:
        raise RuntimeError("no context came up: %s" % "; ".join(out["errors"]))
    return out


def user_pids(user):
    """The live processes of `user` (zombies left out: sshd reaps its sessions late)."""
    import pwd
    uid = pwd.getpwnam(user).pw_uid
    pids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid != uid:
                    continue
                with open("/proc/%s/stat" % name) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.add(int(name))
            except OSError:
                pass
    return pids


def fleet_ssh(peer, n, _m):
    """N distinct ssh connections (Host aliases fleet001.. in one ssh config, all to the
    test sshd as ectest) at most FLEET_SSH_WORKERS logins at a time, a failed login retried
    up to FLEET_SSH_RETRIES times (see there). controller_cpu_s: this
    process plus its reaped children (the ssh clients), user + sys, start to after shutdown.
    remote_gone_after_s: after shutdown_s, until no live process of ectest started meanwhile
    is left (sshd sessions, interpreters); remote_left: those still there 30 s later."""
    env = testenv()
    d = tempfile.mkdtemp(prefix="econtext-bench-fleet-")
    try:
        cfg = os.path.join(d, "ssh_config")
        width = max(3, len(str(n)))
        aliases = ["fleet%0*d" % (width, i + 1) for i in range(n)]
        # Mitogen passes `-o StrictHostKeyChecking yes` (its check_host_keys="enforce") on the
        # command line, over this file: the known_hosts file holds the key, both pass.
        with open(cfg, "w") as f:
            for a in aliases:
                f.write("Host %s\n    HostName 127.0.0.1\n    Port %s\n    User ectest\n"
                        "    IdentityFile %s\n    UserKnownHostsFile %s\n"
                        "    StrictHostKeyChecking no\n    BatchMode yes\n"
                        "    LogLevel ERROR\n" % (
                            a, env["SSH_PORT"], env["CLIENT_KEY"], env["KNOWN_HOSTS"]))
        before = user_pids("ectest")
        out = fleet(peer, n, [(a, cfg) for a in aliases], FLEET_SSH_WORKERS, FLEET_SSH_RETRIES)
        # The far side (sshd sessions, interpreters) goes after the ssh clients: how long.
        t0 = time.perf_counter()
        while True:
            left = user_pids("ectest") - before
            if not left or time.perf_counter() - t0 > 30:
                break
            time.sleep(0.01)
        out["remote_gone_after_s"] = round(time.perf_counter() - t0, 3)
        out["remote_left"] = len(left)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    out["controller_cpu_s"] = round(out["self_cpu_s"] + out["children_cpu_s"], 2)
    if out["ok"] == 0:
        raise RuntimeError("no context came up: %s" % "; ".join(out["errors"]))
    return out


PEERS = {
    "mitogen": Mitogen,
    "execnet": Execnet,
    "mitogen-ssh": MitogenSsh,
    "execnet-ssh": ExecnetSsh,
    "mitogen-ctr": MitogenContainer,
    "econtext-py": EcontextPy,
    "econtext-py-ssh": EcontextPySsh,
}
WORKLOADS = {
    "bootstrap": lambda peer, n, _m: bootstrap(peer, n),
    "roundtrip": lambda peer, n, _m: roundtrip(peer, n),
    "fanout": lambda peer, n, _m: fanout(peer, n),
    "ssh-bootstrap": ssh_bootstrap,
    "ssh-roundtrip": lambda peer, n, _m: roundtrip(peer, n),
    "bytes-before-first-reply": bytes_before_first_reply,
    "sudo2": sudo2,
    "stream-down": stream_down,
    "stream-up": stream_up,
    "pingpong": pingpong,
    "fleet-local": fleet_local,
    "fleet-ssh": fleet_ssh,
}
for _w in MitogenContainer.METHODS:
    WORKLOADS[_w] = lambda peer, n, _m: bootstrap(peer, n)
# The ssh workloads run on the ssh flavour of each peer; execnet cannot answer a password.
WORKLOADS["files-ssh"] = files_ssh
SSH_WORKLOADS = {
    "files-ssh": ("mitogen",),
    "ssh-bootstrap": ("mitogen", "execnet", "econtext-py"),
    "ssh-roundtrip": ("mitogen", "execnet", "econtext-py"),
    "bytes-before-first-reply": ("mitogen",),
    "sudo2": ("mitogen",),
}


def main(argv):
    if len(argv) not in (5, 6) or argv[1] not in ("mitogen", "execnet", "econtext-py") \
            or argv[2] not in WORKLOADS or (len(argv) == 6 and argv[2] != "sudo2") \
            or (argv[2] in SSH_WORKLOADS and argv[1] not in SSH_WORKLOADS[argv[2]]) \
            or (argv[2].startswith("ctr-") and argv[1] != "mitogen"):
        sys.stderr.write(__doc__)
        return 2
    name, workload, python, n = argv[1], argv[2], argv[3], int(argv[4])
    m = int(argv[5]) if len(argv) == 6 else 1000
    out = {"impl": name, "workload": workload, "python": python, "n": n}
    peer = None
    try:
        if workload.startswith("ctr-"):
            peer = PEERS["mitogen-ctr"](python)
            peer.workload = workload
        else:
            peer = PEERS[name + "-ssh" if workload in SSH_WORKLOADS else name](python)
        mod = __import__("econtext" if name == "econtext-py" else name)
        version = getattr(mod, "__version__", None)
        if isinstance(version, tuple):  # mitogen: (0, 3, 54)
            version = ".".join(map(str, version))
        out["version"] = version
        out["host_python"] = sys.executable
        out.update(WORKLOADS[workload](peer, n, m))
        rc = 0
    except BaseException as e:  # report any failure, keep the benchmark going
        out["error"] = "%s: %s" % (type(e).__name__, e)
        sys.stderr.write(traceback.format_exc())
        rc = 1
    finally:
        if peer is not None:
            try:
                peer.close()
            except Exception:
                pass
    print(json.dumps(out))
    sys.stdout.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
