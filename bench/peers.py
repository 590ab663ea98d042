"""The peers' side of the side-by-side benchmark: Mitogen and execnet.

Usage: peers.py mitogen|execnet bootstrap|roundtrip|fanout PYTHON N

Runs the same workloads as `econtext-bench` (bench/src/main.rs) and prints one JSON line in the
same shape; a peer that fails prints an "error" field instead of numbers. PYTHON is the
interpreter the contexts run on; this script itself runs on the venv's python (which holds
mitogen and execnet).
"""

import json
import os
import sys
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


PEERS = {"mitogen": Mitogen, "execnet": Execnet}
WORKLOADS = {"bootstrap": bootstrap, "roundtrip": roundtrip, "fanout": fanout}


def main(argv):
    if len(argv) != 5 or argv[1] not in PEERS or argv[2] not in WORKLOADS:
        sys.stderr.write(__doc__)
        return 2
    name, workload, python, n = argv[1], argv[2], argv[3], int(argv[4])
    out = {"impl": name, "workload": workload, "python": python, "n": n}
    peer = None
    try:
        peer = PEERS[name](python)
        mod = __import__(name)
        version = getattr(mod, "__version__", None)
        if isinstance(version, tuple):  # mitogen: (0, 3, 54)
            version = ".".join(map(str, version))
        out["version"] = version
        out["host_python"] = sys.executable
        out.update(WORKLOADS[workload](peer, n))
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
