#!/usr/bin/env bash
# Side-by-side benchmark: econtext, Mitogen and execnet on the same workloads, same interpreter.
# Usage: bench/run.sh            (environment: BOOT_N=20 RT_N=5000 FAN_N=100, BENCH_PYTHON=path)
# Writes bench/results/latest.jsonl (raw JSON lines) and bench/results/latest.md (the table).
set -euo pipefail
cd "$(dirname "$0")"
BENCH_DIR=$(pwd)
BOOT_N=${BOOT_N:-20}
RT_N=${RT_N:-5000}
FAN_N=${FAN_N:-100}

# The interpreter the contexts run on: a real binary, never a pyenv shim (+70 ms per start).
if [ -n "${BENCH_PYTHON:-}" ]; then
    PYTHON=$BENCH_PYTHON
elif [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3
else
    PYTHON="$(pyenv root)/versions/3.11.7/bin/python"
fi
[ -x "$PYTHON" ] || { echo "no interpreter at $PYTHON" >&2; exit 1; }

# The peers, from PyPI, in a venv built on the same interpreter when it can build one.
VENV_PY=$BENCH_DIR/.venv/bin/python
if [ ! -x "$VENV_PY" ]; then
    "$PYTHON" -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
if ! "$VENV_PY" -c "import mitogen, execnet" 2>/dev/null; then
    "$VENV_PY" -m pip install -q mitogen execnet
fi

# The econtext side (workspace release profile).
(cd .. && nice -n 10 cargo build --release -q -p econtext-bench)
BENCH_BIN=${CARGO_TARGET_DIR:-$BENCH_DIR/../target}/release/econtext-bench

mkdir -p results
JSONL=results/latest.jsonl
LOG=results/latest.stderr
: >"$JSONL"
: >"$LOG"

# run IMPL WORKLOAD N CMD...: append the command's JSON line, or an error line if it printed none.
run() {
    local impl=$1 workload=$2 n=$3
    shift 3
    echo "--- $impl $workload N=$n" >&2
    local out rc=0
    out=$(timeout 600 "$@" 2>>"$LOG") || rc=$?
    if [ -z "$out" ]; then
        out="{\"impl\":\"$impl\",\"workload\":\"$workload\",\"n\":$n,\"error\":\"exit status $rc, no output (see $LOG)\"}"
    fi
    echo "$out" | tee -a "$JSONL" >&2
}

for w in bootstrap roundtrip fanout; do
    case $w in
        bootstrap) n=$BOOT_N ;;
        roundtrip) n=$RT_N ;;
        fanout) n=$FAN_N ;;
    esac
    run econtext "$w" "$n" "$BENCH_BIN" "$w" "$PYTHON" "$n"
    run mitogen "$w" "$n" "$VENV_PY" peers.py mitogen "$w" "$PYTHON" "$n"
    run execnet "$w" "$n" "$VENV_PY" peers.py execnet "$w" "$PYTHON" "$n"
done

PYTHON_VERSION=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
VENV_BASE=$("$VENV_PY" -c 'import sys; print(sys.base_prefix)')
"$VENV_PY" - "$JSONL" "$PYTHON" "$PYTHON_VERSION" "$VENV_PY" "$VENV_BASE" >results/latest.md <<'EOF'
import json, os, sys

path, python, pyver, venv_py, venv_base = sys.argv[1:6]
rows = [json.loads(l) for l in open(path) if l.strip()]
r = {(x["impl"], x["workload"]): x for x in rows}


def get(impl, workload):
    return r.get((impl, workload), {"error": "not run"})


def cell(impl, workload, fmt):
    x = get(impl, workload)
    if "error" in x:
        return "error: " + x["error"].replace("|", "/")[:120]
    try:
        return fmt(x)
    except KeyError as e:
        return "missing " + str(e)


def verdict(ok):
    return " (meets)" if ok else " (**misses**)"


e_boot = get("econtext", "bootstrap")
e_rt = get("econtext", "roundtrip")
e_fan = get("econtext", "fanout")
floor = e_boot.get("floor_c_pass_median_ms")
boot_target = "<= 1.5x `python3 -c pass`" + (" = %.1f ms" % (1.5 * floor) if floor else "")

out = []
out.append("| workload | econtext | Mitogen | execnet | floor | target |")
out.append("|---|---|---|---|---|---|")
out.append("| local bootstrap + first call, median (min) ms, N=%s | %s | %s | %s | %s | %s |" % (
    e_boot.get("n", "?"),
    cell("econtext", "bootstrap", lambda x: "%.1f (%.1f) = %.2fx floor%s" % (
        x["median_ms"], x["min_ms"], x["ratio_to_floor"], verdict(x["ratio_to_floor"] <= 1.5))),
    cell("mitogen", "bootstrap", lambda x: "%.1f (%.1f)" % (x["median_ms"], x["min_ms"])),
    cell("execnet", "bootstrap", lambda x: "%.1f (%.1f)" % (x["median_ms"], x["min_ms"])),
    cell("econtext", "bootstrap", lambda x: "`-c pass` %.1f; `-S -c pass` %.1f" % (
        x["floor_c_pass_median_ms"], x["floor_S_c_pass_median_ms"])),
    boot_target,
))
out.append("| trivial call round trip, median / p99 us, N=%s | %s | %s | %s | %s | <= 60 us |" % (
    e_rt.get("n", "?"),
    cell("econtext", "roundtrip", lambda x: "%.1f / %.1f%s" % (
        x["median_us"], x["p99_us"], verdict(x["median_us"] <= 60))),
    cell("mitogen", "roundtrip", lambda x: "%.1f / %.1f" % (x["median_us"], x["p99_us"])),
    cell("execnet", "roundtrip", lambda x: "%.1f / %.1f per remote_exec; raw channel %.1f / %.1f" % (
        x["median_us"], x["p99_us"], x["raw_channel_median_us"], x["raw_channel_p99_us"])),
    cell("econtext", "roundtrip", lambda x: "socketpair echo %.1f / %.1f" % (
        x["floor_echo_median_us"], x["floor_echo_p99_us"])),
))
fan = lambda x: "%.2f (connect %.2f, calls %.3f)" % (x["wall_s"], x["connect_s"], x["calls_s"])
out.append("| %s local contexts, one call each: wall s | %s | %s | %s | %s | <= 1.5 s |" % (
    e_fan.get("n", "?"),
    cell("econtext", "fanout", lambda x: fan(x) + verdict(x["wall_s"] <= 1.5)),
    cell("mitogen", "fanout", fan),
    cell("execnet", "fanout", fan),
    cell("econtext", "fanout", lambda x: "%.2f (bare `-c` starts, one by one)" % x["floor_wall_s"]),
))
out.append("| same: host RSS delta per context, KiB | %s | %s | %s | | <= 100 KiB |" % (
    cell("econtext", "fanout", lambda x: "%.1f%s" % (
        x["host_rss_delta_kib_per_ctx"], verdict(x["host_rss_delta_kib_per_ctx"] <= 100))),
    cell("mitogen", "fanout", lambda x: "%.1f" % x["host_rss_delta_kib_per_ctx"]),
    cell("execnet", "fanout", lambda x: "%.1f" % x["host_rss_delta_kib_per_ctx"]),
))
pss = lambda x: "%d (%.0f MiB total, %d procs)" % (
    x["children_pss_kib_per_ctx"], x["children_pss_mib_total"], x["children"])
out.append("| same: children PSS per context, KiB | %s | %s | %s | %s | |" % (
    cell("econtext", "fanout", pss),
    cell("mitogen", "fanout", pss),
    cell("execnet", "fanout", pss),
    cell("econtext", "fanout", lambda x: "%.0f MiB total" % x["floor_pss_mib_total"]),
))
out.append("")
m = get("mitogen", "bootstrap")
x = get("execnet", "bootstrap")
out.append("Notes:")
out.append("- Contexts run on `%s` (Python %s) for all three; Mitogen `router.local(python_path=%s)`, "
           "execnet `popen//python=%s`." % (python, pyver, python, python))
out.append("- Peers run on the venv python `%s` (base `%s`); Mitogen %s, execnet %s." % (
    venv_py, venv_base, m.get("version", "?"), x.get("version", "?")))
out.append("- PYTHONUNBUFFERED=%s in the environment (Mitogen reads its bootstrap byte by byte when set)." % (
    os.environ.get("PYTHONUNBUFFERED", "unset")))
out.append("- econtext built with the workspace release profile (opt-level z, lto). Medians over N after "
           "one discarded warm-up (bootstrap) or 200 warm-up calls (round trip); fan-out connects one by one "
           "then spawns one call per context and waits for all.")
out.append("- Raw numbers: bench/results/latest.jsonl; peer stderr: bench/results/latest.stderr.")
print("\n".join(out))
EOF
cat results/latest.md
