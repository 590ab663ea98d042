"""The peers' side of the side-by-side benchmark: Mitogen and execnet.

Usage: peers.py mitogen|execnet bootstrap|roundtrip|fanout PYTHON N
       peers.py mitogen|execnet stream-down|stream-up PYTHON MIB
       peers.py mitogen|execnet pingpong PYTHON N
       peers.py mitogen|execnet ssh-bootstrap|ssh-roundtrip PYTHON N
       peers.py mitogen bytes-before-first-reply PYTHON N
       peers.py mitogen sudo2 PYTHON N [ROUNDTRIPS]

Runs the same workloads as `econtext-bench` (bench/src/main.rs) and prints one JSON line in the
same shape; a peer that fails prints an "error" field instead of numbers. PYTHON is the
interpreter the contexts run on; this script itself runs on the venv's python (which holds
mitogen and execnet). The ssh workloads use the test environment of tests/env/up.sh (its env
file: $ECONTEXT_TESTENV/env, default /tmp/econtext-testenv/env).
"""

import json
import os
import shutil
import sys
import tempfile
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


def descendants_pss_kib():
    """Every process below this one: their count and the sum of their PSS in KiB."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    queue, count, pss = [os.getpid()], 0, 0
    while queue:
        for c in children.get(queue.pop(0), []):
            count += 1
            try:
                with open("/proc/%d/smaps_rollup" % c) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1])
                            break
            except OSError:
                pass
            queue.append(c)
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


# --- execnet -------------------------------------------------------------------------------

CODE_GETPID = "import os; channel.send(os.getpid())"
CODE_LOOP = "import os\nfor _ in channel:\n    channel.send(os.getpid())"


class Execnet:
    """makegateway("popen//python=PYTHON") + remote_exec per call (and a raw channel loop)."""

    def __init__(self, python):
        import execnet

        self.execnet = execnet
        self.spec = "popen//python=%s" % python

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


PEERS = {
    "mitogen": Mitogen,
    "execnet": Execnet,
    "mitogen-ssh": MitogenSsh,
    "execnet-ssh": ExecnetSsh,
    "mitogen-ctr": MitogenContainer,
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
}
for _w in MitogenContainer.METHODS:
    WORKLOADS[_w] = lambda peer, n, _m: bootstrap(peer, n)
# The ssh workloads run on the ssh flavour of each peer; execnet cannot answer a password.
WORKLOADS["files-ssh"] = files_ssh
SSH_WORKLOADS = {
    "files-ssh": ("mitogen",),
    "ssh-bootstrap": ("mitogen", "execnet"),
    "ssh-roundtrip": ("mitogen", "execnet"),
    "bytes-before-first-reply": ("mitogen",),
    "sudo2": ("mitogen",),
}


def main(argv):
    if len(argv) not in (5, 6) or argv[1] not in ("mitogen", "execnet") \
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
        mod = __import__(name)
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
