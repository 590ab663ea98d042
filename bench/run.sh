#!/usr/bin/env bash
# Side-by-side benchmark: econtext, Mitogen and execnet on the same workloads, same interpreter.
# Usage: bench/run.sh            (environment: BOOT_N=20 RT_N=5000 FAN_N=100, BENCH_PYTHON=path)
# The "ssh" section (ssh, ssh -> sudo) runs only when the test environment is up (its env file
# ${ECONTEXT_TESTENV:-/tmp/econtext-testenv}/env: run tests/env/up.sh as root first);
# environment: SSH_BOOT_N=10 SSH_RT_N=2000 SUDO_N=5 SUDO_RT_N=1000. BENCH_ONLY=local|ssh runs
# one section; BENCH_ONLY=streams the channel section (STREAM_MIB=256 PING_N=3000
# BUSY_N=2000 SLOW_MIB=1024); BENCH_ONLY=fakessh the fakessh section (FAKESSH_N=20
# FAKESSH_MIB=1024); BENCH_ONLY=containers the container methods (CTR_N=20); BENCH_ONLY=files
# put and get (FILES_MIB=512 FILES_SMALL_N=200); BENCH_ONLY=fleet N contexts at once, local
# and over ssh, plus econtext's relay fleet and route simulation (FLEET_N=100 FLEET_BIG_N=1000
# FLEET_SSH_N=100; FLEET_PEERS_BIG=0 runs the peers at FLEET_N only); BENCH_ONLY=python the
# Python binding (python/, installed into the venv) against the Rust API and the peers on the
# local and ssh workloads.
# Writes bench/results/latest.jsonl (raw JSON lines) and bench/results/latest.md (the tables).
set -euo pipefail
cd "$(dirname "$0")"
BENCH_DIR=$(pwd)
BOOT_N=${BOOT_N:-20}
RT_N=${RT_N:-5000}
FAN_N=${FAN_N:-100}
SSH_BOOT_N=${SSH_BOOT_N:-10}
SSH_RT_N=${SSH_RT_N:-2000}
SUDO_N=${SUDO_N:-5}
SUDO_RT_N=${SUDO_RT_N:-1000}
BENCH_ONLY=${BENCH_ONLY:-}
FAKESSH_N=${FAKESSH_N:-20}
FAKESSH_MIB=${FAKESSH_MIB:-1024}
TESTENV_FILE=${ECONTEXT_TESTENV:-/tmp/econtext-testenv}/env

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
(cd .. && nice -n 10 cargo build --release -q -p econtext-bench -p econtext)
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

if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = local ]; then
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
fi

# Channels (issue 10): bulk streams both ways, ping-pong, calls beside a bulk stream, memory
# under a slow consumer; over ssh when the test environment is up.
STREAM_MIB=${STREAM_MIB:-256}
PING_N=${PING_N:-3000}
BUSY_N=${BUSY_N:-2000}
SLOW_MIB=${SLOW_MIB:-1024}
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = streams ]; then
    for w in stream-down stream-up; do
        run econtext "$w" "$STREAM_MIB" "$BENCH_BIN" "$w" "$PYTHON" "$STREAM_MIB"
        run mitogen "$w" "$STREAM_MIB" "$VENV_PY" peers.py mitogen "$w" "$PYTHON" "$STREAM_MIB"
        run execnet "$w" "$STREAM_MIB" "$VENV_PY" peers.py execnet "$w" "$PYTHON" "$STREAM_MIB"
    done
    run econtext pingpong "$PING_N" "$BENCH_BIN" pingpong "$PYTHON" "$PING_N"
    run mitogen pingpong "$PING_N" "$VENV_PY" peers.py mitogen pingpong "$PYTHON" "$PING_N"
    run execnet pingpong "$PING_N" "$VENV_PY" peers.py execnet pingpong "$PYTHON" "$PING_N"
    run econtext roundtrip "$RT_N" "$BENCH_BIN" roundtrip "$PYTHON" "$RT_N"
    run econtext busy-roundtrip "$BUSY_N" "$BENCH_BIN" busy-roundtrip "$PYTHON" "$BUSY_N"
    run econtext slow-consumer "$SLOW_MIB" "$BENCH_BIN" slow-consumer "$PYTHON" "$SLOW_MIB"
    if [ -r "$TESTENV_FILE" ]; then
        run econtext ssh-stream "$STREAM_MIB" "$BENCH_BIN" ssh-stream "$PYTHON" "$STREAM_MIB"
    fi
fi

# fakessh and `run`: rsync, scp and `run -- cat` through econtext against the same tool over
# plain ssh, and the start of one fake ssh invocation against a fresh ssh login. Needs the
# test environment; Mitogen's fakessh is not run (broken upstream since 2018, see issue 11).
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = fakessh ]; then
    if [ -r "$TESTENV_FILE" ]; then
        run econtext fakessh-start "$FAKESSH_N" "$BENCH_BIN" fakessh-start "$PYTHON" "$FAKESSH_N"
        for w in fakessh-rsync fakessh-scp run-cat; do
            run econtext "$w" "$FAKESSH_MIB" "$BENCH_BIN" "$w" "$PYTHON" "$FAKESSH_MIB"
        done
    else
        echo "--- fakessh section skipped: no $TESTENV_FILE (run tests/env/up.sh as root)" >&2
    fi
fi

# Container methods (issue 14): bootstrap + first call through each against the runtime's own
# `PREFIX python3 -c pass`, and Mitogen's method where it has one. Needs the containers of
# tests/env/containers.sh (run it as root first). CTR_N=20.
CTR_N=${CTR_N:-20}
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = containers ]; then
    if [ -e /run/ectx-containers/ready ]; then
        for m in docker podman lxc nspawn chroot docker-run setns-docker setns-podman setns-lxc setns-pid; do
            run econtext "ctr-$m" "$CTR_N" "$BENCH_BIN" "ctr-$m" "$PYTHON" "$CTR_N"
            case $m in
                docker|podman|lxc|setns-docker|setns-lxc)
                    run mitogen "ctr-$m" "$CTR_N" "$VENV_PY" peers.py mitogen "ctr-$m" "$PYTHON" "$CTR_N" ;;
            esac
        done
    else
        echo "--- containers section skipped: run tests/env/containers.sh up as root" >&2
    fi
fi

# Files (issue 13): put/get on a local context (in /dev/shm), `econtext put|get` over ssh
# against scp (SFTP mode) to the same sshd, a 4 KiB put against one call, a put to 4 contexts
# behind one relay as one stream against a put per target. FILES_MIB=512
# FILES_SMALL_N=200.
FILES_MIB=${FILES_MIB:-512}
FILES_SMALL_N=${FILES_SMALL_N:-200}
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = files ]; then
    run econtext files-local "$FILES_MIB" "$BENCH_BIN" files-local "$PYTHON" "$FILES_MIB"
    run econtext files-group "$FILES_MIB" "$BENCH_BIN" files-group "$PYTHON" "$FILES_MIB"
    if [ -r "$TESTENV_FILE" ]; then
        run econtext files-ssh "$FILES_MIB" "$BENCH_BIN" files-ssh "$PYTHON" "$FILES_MIB"
        run econtext files-small "$FILES_SMALL_N" "$BENCH_BIN" files-small "$PYTHON" "$FILES_SMALL_N"
        run mitogen files-ssh "$FILES_MIB" "$VENV_PY" peers.py mitogen files-ssh "$PYTHON" "$FILES_MIB"
    else
        echo "--- files over ssh skipped: no $TESTENV_FILE (run tests/env/up.sh as root)" >&2
    fi
fi

# Fleets: N contexts at once, one call each, every implementation in its best parallel form
# (the peers connect from 20 threads per CPU; execnet makegateway in a thread pool, one
# Group). Over ssh: N distinct connections (Host aliases fleet001.. to the test sshd), the
# peers at most 10 logins in flight (sshd's MaxStartups 10:30:100 drops more, and even at 10
# dropped a few once: a failed login is retried up to 4 times, counted as retries).
# The peers also run at FLEET_BIG_N: at 1000 on 2 cores Mitogen took 93-131 s (children 14 GB
# PSS), execnet 31-42 s; FLEET_PEERS_BIG=0 skips them there. fleet-relay (over ssh) and
# route-sim are econtext's alone.
FLEET_N=${FLEET_N:-100}
FLEET_BIG_N=${FLEET_BIG_N:-1000}
FLEET_SSH_N=${FLEET_SSH_N:-100}
FLEET_PEERS_BIG=${FLEET_PEERS_BIG:-1}
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = fleet ]; then
    for n in "$FLEET_N" "$FLEET_BIG_N"; do
        run econtext fleet-local "$n" "$BENCH_BIN" fleet-local "$PYTHON" "$n"
        if [ "$n" = "$FLEET_N" ] || [ "$FLEET_PEERS_BIG" = 1 ]; then
            run mitogen fleet-local "$n" "$VENV_PY" peers.py mitogen fleet-local "$PYTHON" "$n"
            run execnet fleet-local "$n" "$VENV_PY" peers.py execnet fleet-local "$PYTHON" "$n"
        fi
    done
    if [ -r "$TESTENV_FILE" ]; then
        run econtext fleet-ssh "$FLEET_SSH_N" "$BENCH_BIN" fleet-ssh "$PYTHON" "$FLEET_SSH_N"
        run mitogen fleet-ssh "$FLEET_SSH_N" "$VENV_PY" peers.py mitogen fleet-ssh "$PYTHON" "$FLEET_SSH_N"
        run execnet fleet-ssh "$FLEET_SSH_N" "$VENV_PY" peers.py execnet fleet-ssh "$PYTHON" "$FLEET_SSH_N"
        run econtext fleet-relay "$FLEET_SSH_N" "$BENCH_BIN" fleet-relay "$PYTHON" "$FLEET_SSH_N"
    else
        echo "--- fleet over ssh skipped: no $TESTENV_FILE (run tests/env/up.sh as root)" >&2
    fi
    run econtext route-sim 10000 "$BENCH_BIN" route-sim none 10000
fi

# The Python binding (issue 15): the same workloads driven from Python through `import
# econtext`, beside the Rust API and the peers, all in this one run.
if [ "$BENCH_ONLY" = python ]; then
    "$VENV_PY" -m pip install -q ../python
    for w in bootstrap roundtrip fanout; do
        case $w in
            bootstrap) n=$BOOT_N ;;
            roundtrip) n=$RT_N ;;
            fanout) n=$FAN_N ;;
        esac
        run econtext "$w" "$n" "$BENCH_BIN" "$w" "$PYTHON" "$n"
        run econtext-py "$w" "$n" "$VENV_PY" peers.py econtext-py "$w" "$PYTHON" "$n"
        run mitogen "$w" "$n" "$VENV_PY" peers.py mitogen "$w" "$PYTHON" "$n"
        run execnet "$w" "$n" "$VENV_PY" peers.py execnet "$w" "$PYTHON" "$n"
    done
    if [ -r "$TESTENV_FILE" ]; then
        for impl in econtext econtext-py mitogen execnet; do
            if [ $impl = econtext ]; then
                run econtext ssh-bootstrap "$SSH_BOOT_N" "$BENCH_BIN" ssh-bootstrap "$PYTHON" "$SSH_BOOT_N"
            else
                run $impl ssh-bootstrap "$SSH_BOOT_N" "$VENV_PY" peers.py $impl ssh-bootstrap "$PYTHON" "$SSH_BOOT_N"
            fi
        done
    else
        echo "--- ssh rows skipped: no $TESTENV_FILE (run tests/env/up.sh as root)" >&2
    fi
fi

# ssh and multi-hop: plain users on the private sshd of tests/env/up.sh (never root: root's
# .bashrc runs pyenv init, +150 ms per session). The remote interpreter is $PYTHON too.
if [ -z "$BENCH_ONLY" ] || [ "$BENCH_ONLY" = ssh ]; then
    if [ -r "$TESTENV_FILE" ]; then
        run econtext ssh-bootstrap "$SSH_BOOT_N" "$BENCH_BIN" ssh-bootstrap "$PYTHON" "$SSH_BOOT_N"
        run mitogen ssh-bootstrap "$SSH_BOOT_N" "$VENV_PY" peers.py mitogen ssh-bootstrap "$PYTHON" "$SSH_BOOT_N"
        run execnet ssh-bootstrap "$SSH_BOOT_N" "$VENV_PY" peers.py execnet ssh-bootstrap "$PYTHON" "$SSH_BOOT_N"
        run econtext ssh-roundtrip "$SSH_RT_N" "$BENCH_BIN" ssh-roundtrip "$PYTHON" "$SSH_RT_N"
        run mitogen ssh-roundtrip "$SSH_RT_N" "$VENV_PY" peers.py mitogen ssh-roundtrip "$PYTHON" "$SSH_RT_N"
        run execnet ssh-roundtrip "$SSH_RT_N" "$VENV_PY" peers.py execnet ssh-roundtrip "$PYTHON" "$SSH_RT_N"
        run econtext bytes-before-first-reply 1 "$BENCH_BIN" bytes-before-first-reply "$PYTHON" 1
        run mitogen bytes-before-first-reply 1 "$VENV_PY" peers.py mitogen bytes-before-first-reply "$PYTHON" 1
        run econtext sudo2 "$SUDO_N" "$BENCH_BIN" sudo2 "$PYTHON" "$SUDO_N" "$SUDO_RT_N"
        run mitogen sudo2 "$SUDO_N" "$VENV_PY" peers.py mitogen sudo2 "$PYTHON" "$SUDO_N" "$SUDO_RT_N"
    else
        echo "--- ssh section skipped: no $TESTENV_FILE (run tests/env/up.sh as root)" >&2
    fi
fi

PYTHON_VERSION=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
VENV_BASE=$("$VENV_PY" -c 'import sys; print(sys.base_prefix)')
"$VENV_PY" - "$JSONL" "$PYTHON" "$PYTHON_VERSION" "$VENV_PY" "$VENV_BASE" >results/latest.md <<'EOF'
import json, os, sys

path, python, pyver, venv_py, venv_base = sys.argv[1:6]
rows = [json.loads(l) for l in open(path) if l.strip()]
r = {(x["impl"], x["workload"]): x for x in rows}
# The fleet workloads run at several N: those rows by N too.
rn = {(x["impl"], x["workload"], x.get("n")): x for x in rows}


def get(impl, workload, n=None):
    if n is not None:
        return rn.get((impl, workload, n), {"error": "not run"})
    return r.get((impl, workload), {"error": "not run"})


def cell(impl, workload, fmt, n=None):
    x = get(impl, workload, n)
    if "error" in x:
        return "error: " + x["error"].replace("|", "/")[:120]
    try:
        return fmt(x)
    except KeyError as e:
        return "missing " + str(e)


def verdict(ok):
    return " (meets)" if ok else " (**misses**)"


out = []
has_local = any(k[1] in ("bootstrap", "roundtrip", "fanout") for k in r)
has_ssh = any(k[1] in ("ssh-bootstrap", "ssh-roundtrip", "bytes-before-first-reply", "sudo2")
              for k in r)
out.append("### Local contexts")
out.append("")
e_boot = get("econtext", "bootstrap")
e_rt = get("econtext", "roundtrip")
e_fan = get("econtext", "fanout")
floor = e_boot.get("floor_c_pass_median_ms")
boot_target = "<= 1.5x `python3 -c pass`" + (" = %.1f ms" % (1.5 * floor) if floor else "")

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
if not has_local:
    out = []

if has_ssh:
    out.append("### ssh and multi-hop")
    out.append("")
    sb = get("econtext", "ssh-bootstrap")
    sfloor = sb.get("floor_median_ms")

    def vs_floor(x, key="median_ms"):
        return " = %.2fx floor" % (x[key] / sfloor) if sfloor else ""

    out.append("| workload | econtext | Mitogen | execnet | floor | target |")
    out.append("|---|---|---|---|---|---|")
    out.append("| ssh 127.0.0.1 (key): bootstrap + first call + shutdown, median (min) ms, N=%s "
               "| %s | %s | %s | %s | <= 1.15x floor |" % (
        sb.get("n", "?"),
        cell("econtext", "ssh-bootstrap", lambda x: "%.1f (%.1f) = %.2fx floor%s" % (
            x["median_ms"], x["min_ms"], x["ratio_to_floor"], verdict(x["ratio_to_floor"] <= 1.15))),
        cell("mitogen", "ssh-bootstrap", lambda x: "%.1f (%.1f)%s" % (
            x["median_ms"], x["min_ms"], vs_floor(x))),
        cell("execnet", "ssh-bootstrap", lambda x: "%.1f (%.1f)%s" % (
            x["median_ms"], x["min_ms"], vs_floor(x))),
        cell("econtext", "ssh-bootstrap", lambda x: "`ssh ... %s -c pass` %.1f (%.1f)" % (
            python, x["floor_median_ms"], x["floor_min_ms"])),
    ))
    up = lambda x: "%.1f (connect %.1f, first call %.2f, shutdown %.1f)" % (
        x["up_median_ms"], x["connect_median_ms"], x["first_call_median_ms"], x["shutdown_median_ms"])
    out.append("| same, up to the first reply, median ms | %s | %s | %s | | |" % (
        cell("econtext", "ssh-bootstrap", lambda x: up(x) + " = %.2fx floor" % x["up_ratio_to_floor"]),
        cell("mitogen", "ssh-bootstrap", up),
        cell("execnet", "ssh-bootstrap", up),
    ))
    rtf = lambda x: "%.1f / %.1f" % (x["median_us"], x["p99_us"])
    out.append("| ssh trivial call round trip, median / p99 us, N=%s | %s | %s | %s | %s | |" % (
        get("econtext", "ssh-roundtrip").get("n", "?"),
        cell("econtext", "ssh-roundtrip", rtf),
        cell("mitogen", "ssh-roundtrip", rtf),
        cell("execnet", "ssh-roundtrip", lambda x: rtf(x) + " per remote_exec; raw channel %.1f / %.1f" % (
            x["raw_channel_median_us"], x["raw_channel_p99_us"])),
        cell("econtext", "ssh-roundtrip", lambda x: "echo loop behind ssh %.1f / %.1f" % (
            x["floor_echo_median_us"], x["floor_echo_p99_us"])),
    ))
    out.append("| bytes written before the first reply: command line + stdin = total B | %s | %s | "
               "not measured | | |" % (
        cell("econtext", "bytes-before-first-reply", lambda x: (
            "%d + %d = **%d** (stage 2: %d deflated / %d inflated; Init + Call frames: %d)" % (
                x["command_bytes"], x["stdin_bytes"], x["total_bytes"], x["stage2_bytes"],
                x["stage2_inflated_bytes"], x["frames_bytes"]))),
        cell("mitogen", "bytes-before-first-reply", lambda x: "%d + %d = **%d**" % (
            x["command_bytes"], x["stdin_bytes"], x["total_bytes"])),
    ))
    s2 = get("econtext", "sudo2")
    boot2 = lambda x: "%.1f (%.1f); to first reply %.1f, ssh hop alone %.1f" % (
        x["boot_median_ms"], x["boot_min_ms"], x["boot_up_median_ms"], x["hop1_up_median_ms"])
    s2floor = s2.get("floor_median_ms")
    out.append("| ssh ecpass (password) -> sudo ectarget (password): bootstrap + first call + "
               "shutdown, median (min) ms, N=%s | %s | %s | cannot answer sudo | %s | |" % (
        s2.get("n", "?"),
        cell("econtext", "sudo2", lambda x: boot2(x) + " = %.2fx floor" % x["ratio_to_floor"]),
        cell("mitogen", "sudo2", lambda x: boot2(x) + (
            " = %.2fx floor" % (x["boot_median_ms"] / s2floor) if s2floor else "")),
        cell("econtext", "sudo2", lambda x: "%.1f (%s, `%s -c pass`)" % (
            x["floor_median_ms"], x["floor_kind"], python)),
    ))
    rt2 = lambda x: "%.1f / %.1f" % (x["rt_median_us"], x["rt_p99_us"])
    out.append("| same chain: trivial call round trip, median / p99 us, N=%s | %s | %s | | %s | <= 200 us |" % (
        s2.get("rt_n", "?"),
        cell("econtext", "sudo2", lambda x: rt2(x) + verdict(x["rt_median_us"] <= 200)),
        cell("mitogen", "sudo2", rt2),
        cell("econtext", "sudo2", lambda x: "echo loop behind ssh + sudo %.1f / %.1f" % (
            x["floor_echo_median_us"], x["floor_echo_p99_us"])),
    ))
    hops = lambda x: "hop 1: %d (command %d + stdin %d); hop 2: %d" % (
        x["hop1_bytes"], x["hop1_command_bytes"], x["hop1_stdin_bytes"], x["hop2_bytes"])
    out.append("| same chain: bytes the host wrote per hop, B | %s | %s | | | |" % (
        cell("econtext", "sudo2", hops),
        cell("mitogen", "sudo2", hops),
    ))
    out.append("")

has_streams = any(k[1] in ("stream-down", "stream-up", "pingpong") for k in r)
if has_streams:
    out.append("### Channels")
    out.append("")
    out.append("| workload | econtext | Mitogen | execnet | floor | target |")
    out.append("|---|---|---|---|---|---|")
    gb = lambda x: "%.2f GB/s (runs %s)" % (x["gbps"], ", ".join("%.2f" % v for v in x["runs"]))
    sd = get("econtext", "stream-down")
    out.append("| remote -> host, %s MiB in 64 KiB bytes items, median of 3 | %s | %s | %s | socketpair %s | >= 2 GB/s |" % (
        sd.get("n", "?"), cell("econtext", "stream-down", gb), cell("mitogen", "stream-down", gb),
        cell("execnet", "stream-down", gb),
        "%.2f GB/s" % sd["floor_socketpair_gbps"] if "floor_socketpair_gbps" in sd else "?"))
    out.append("| host -> remote, the same | %s | %s | %s | | >= 1.5 GB/s |" % (
        cell("econtext", "stream-up", gb), cell("mitogen", "stream-up", gb), cell("execnet", "stream-up", gb)))
    pp = lambda x: "%.1f / %.1f" % (x["median_us"], x["p99_us"])
    out.append("| value ping-pong on an open channel pair, median / p99 us | %s | %s | %s (raw channel) | | <= 25 us |" % (
        cell("econtext", "pingpong", pp), cell("mitogen", "pingpong", pp), cell("execnet", "pingpong", pp)))
    out.append("| trivial call round trip, idle context, median / p99 us | %s | | | | <= 40 us |" % (
        cell("econtext", "roundtrip", pp)))
    out.append("| the same while 1 GiB streams on that context, median / p99 us | %s | | | | |" % (
        cell("econtext", "busy-roundtrip", lambda x: "%.1f / %.1f (%d bulk items meanwhile)" % (
            x["median_us"], x["p99_us"], x["bulk_items_meanwhile"]))))
    out.append("| slow consumer (1 ms per 64 KiB item), %s MiB produced: host RSS growth, producer blocked | %s | | | window %s KiB | <= window + 8 MiB |" % (
        get("econtext", "slow-consumer").get("n", "?"),
        cell("econtext", "slow-consumer", lambda x: "%d KiB; blocked %.1f s of %.1f s" % (
            x["rss_growth_kib"], x["producer_blocked_s"], x["seconds"])),
        get("econtext", "slow-consumer").get("window_kib", "?")))
    if "error" not in get("econtext", "ssh-stream") or get("econtext", "ssh-stream")["error"] != "not run":
        out.append("| remote -> host over ssh to 127.0.0.1 | %s | | | `ssh host head -c` %s | >= 90%% of the floor |" % (
            cell("econtext", "ssh-stream", lambda x: "%.2f GB/s = %.0f%% of the floor" % (x["gbps"], 100 * x["of_floor"])),
            cell("econtext", "ssh-stream", lambda x: "%.2f GB/s" % x["floor_ssh_head_gbps"])))
    out.append("")

has_fakessh = any(k[1] in ("fakessh-rsync", "fakessh-scp", "run-cat", "fakessh-start") for k in r)
if has_fakessh:
    out.append("### fakessh and run")
    out.append("")
    out.append("| workload | econtext | direct over ssh | ratio | target |")
    out.append("|---|---|---|---|---|")
    tp = lambda x: "%.3f GB/s (runs %s)" % (x["gbps"], ", ".join("%.3f" % v for v in x["runs"]))
    dp = lambda x: "%.3f GB/s (runs %s)" % (x["direct_gbps"], ", ".join("%.3f" % v for v in x["direct_runs"]))
    for w, what, target in (("fakessh-rsync", "`econtext rsync` vs `rsync -e ssh`", 0.8),
                            ("fakessh-scp", "`econtext scp` vs `scp` (SFTP)", 0.8),
                            ("run-cat", "`econtext run -- cat` vs `ssh host cat` (up and back)", 0.9)):
        x = get("econtext", w)
        out.append("| %s, %s MiB, median of 3 | %s | %s | %s | >= %.1fx |" % (
            what, x.get("n", "?"), cell("econtext", w, tp), cell("econtext", w, dp),
            cell("econtext", w, lambda x: "%.2fx%s" % (x["of_direct"], verdict(x["of_direct"] >= target))),
            target))
    st = get("econtext", "fakessh-start")
    out.append("| one invocation (`true`) on an existing connection, median (min) ms, N=%s | host way back %s; from a context (memfd client) %s | fresh `ssh ... true` %s | %s | far below ssh |" % (
        st.get("n", "?"),
        cell("econtext", "fakessh-start", lambda x: "%.1f (%.1f)" % (x["host_median_ms"], x["host_min_ms"])),
        cell("econtext", "fakessh-start", lambda x: "%.1f (%.1f)" % (x["context_median_ms"], x["context_min_ms"])),
        cell("econtext", "fakessh-start", lambda x: "%.1f (%.1f)" % (x["ssh_median_ms"], x["ssh_min_ms"])),
        cell("econtext", "fakessh-start", lambda x: "%.0fx faster" % (x["ssh_median_ms"] / x["host_median_ms"])),
    ))
    out.append("")

ctr = [k[1] for k in r if k[0] == "econtext" and k[1].startswith("ctr-")]
if ctr:
    out.append("### Container methods")
    out.append("")
    out.append("| method, N=%s | econtext median (min) ms | Mitogen median (min) ms | floor: `PREFIX python3 -c pass` median (min) ms | econtext / floor |" % get("econtext", ctr[0]).get("n", "?"))
    out.append("|---|---|---|---|---|")
    mm = lambda x: "%.1f (%.1f)" % (x["median_ms"], x["min_ms"])
    for w in ctr:
        out.append("| `%s` | %s | %s | %s | %s |" % (
            w[4:].replace("setns-pid", "setns:PID (ectx-docker's)").replace("setns-", "setns:"),
            cell("econtext", w, mm),
            cell("mitogen", w, mm) if ("mitogen", w) in r else "no such method",
            cell("econtext", w, lambda x: "%.1f (%.1f): `%s`" % (x["floor_median_ms"], x["floor_min_ms"], x["floor"])),
            cell("econtext", w, lambda x: "%.2fx" % x["ratio_to_floor"]),
        ))
    out.append("")

if ("econtext", "files-local") in r or ("econtext", "files-ssh") in r:
    out.append("### Files")
    out.append("")
    out.append("| workload | econtext | peer | ratio | target |")
    out.append("|---|---|---|---|---|")
    fl = get("econtext", "files-local")
    out.append("| local context put / get, %s MiB in /dev/shm, median of 3 | %s | | | >= 1 GB/s |" % (
        fl.get("n", "?"),
        cell("econtext", "files-local", lambda x: "put %.2f GB/s (runs %s), --no-verify %.2f GB/s (runs %s), get %.2f GB/s (runs %s); host sha256 %.2f GB/s" % (
            x["put_gbps"], ", ".join("%.2f" % v for v in x["put_runs"]),
            x["put_noverify_gbps"], ", ".join("%.2f" % v for v in x["put_noverify_runs"]), x["get_gbps"],
            ", ".join("%.2f" % v for v in x["get_runs"]), x["host_sha256_gbps"]))))
    fs = get("econtext", "files-ssh")
    for d in ("put", "get", "put_noverify", "get_noverify"):
        out.append("| `econtext %s` vs `scp` (SFTP) over ssh to 127.0.0.1, %s MiB, each with its connection, median of 3 | %s | %s | %s | >= 1.0x |" % (
            d.replace("_noverify", " --no-verify"), fs.get("n", "?"),
            cell("econtext", "files-ssh", lambda x: "%.3f GB/s (runs %s)" % (x[d]["gbps"], ", ".join("%.3f" % v for v in x[d]["runs"]))),
            cell("econtext", "files-ssh", lambda x: "scp %.3f GB/s (runs %s)" % (x[d]["direct_gbps"], ", ".join("%.3f" % v for v in x[d]["direct_runs"]))),
            cell("econtext", "files-ssh", lambda x: "%.2fx%s" % (x[d]["of_direct"], verdict(x[d]["of_direct"] >= 1.0))),
        ))
    out.append("| on a live ssh context (library, no connect): host -> remote (put) / remote -> host (get) vs Mitogen FileService (master -> child, as put; compression off), %s MiB, median of 3 | %s | %s | %s | |" % (
        fs.get("n", "?"),
        cell("econtext", "files-ssh", lambda x: "put %.3f / get %.3f GB/s" % (x["live_put_gbps"], x["live_get_gbps"])),
        cell("mitogen", "files-ssh", lambda x: "Mitogen %.3f GB/s (runs %s)" % (x["gbps"], ", ".join("%.3f" % v for v in x["runs"])))
        if ("mitogen", "files-ssh") in r else "not run",
        cell("econtext", "files-ssh", lambda x: "put %.2fx Mitogen" % (x["live_put_gbps"] / get("mitogen", "files-ssh")["gbps"]))
        if "gbps" in get("mitogen", "files-ssh") else ""))
    out.append("| put to 4 local contexts behind one relay context, %s MiB in /dev/shm, median of 3: one stream (the relay copies it) / a put per target | %s | | | bytes over each link once |" % (
        get("econtext", "files-group").get("n", "?"),
        cell("econtext", "files-group", lambda x: "%.0f / %.0f ms; the relay read %.1f / %.1f MiB" % (
            x["stream_ms"], x["each_ms"], x["stream_relay_read_mib"], x["each_relay_read_mib"]))))
    out.append("| 4 KiB put on a live ssh context, median ms, N=%s | %s | | | one round trip |" % (
        get("econtext", "files-small").get("n", "?"),
        cell("econtext", "files-small", lambda x: "%.2f ms (one call: %.2f ms)" % (x["put_median_ms"], x["call_median_ms"]))))
    out.append("")

has_fleet = any(k[1].startswith("fleet-") or k[1] == "route-sim" for k in r)
if has_fleet:
    out.append("### Fleets")
    out.append("")
    out.append("| workload | econtext | Mitogen | execnet |")
    out.append("|---|---|---|---|")
    impls = ("econtext", "mitogen", "execnet")

    def failed(x):
        return "".join((
            " (%d logins retried)" % x["retries"] if x.get("retries") else "",
            " (**%d of %d failed**)" % (x["failed"], x["n"]) if x.get("failed") else ""))

    # Only wall_s is required; the other fields show when the implementation reports them.
    wall = lambda x: "%.2f%s%s" % (x["wall_s"], " (shutdown %.2f)" % x["shutdown_s"]
                                   if "shutdown_s" in x else "", failed(x))

    def per(x):
        v = []
        if "host_rss_delta_kib_per_ctx" in x or "fds_per_ctx" in x:
            v.append("%s / %s" % (x.get("host_rss_delta_kib_per_ctx", "?"), x.get("fds_per_ctx", "?")))
        if "threads" in x:
            v.append("%d threads" % x["threads"])
        if "children" in x:
            v.append("%d children" % x["children"])
        return "; ".join(v) or "not reported"
    for n in sorted({k[2] for k in rn if k[1] == "fleet-local"}):
        out.append("| %s local contexts at once, one call each: wall s (shutdown s) | %s |" % (
            n, " | ".join(cell(i, "fleet-local", wall, n) for i in impls)))
        out.append("| same: host RSS KiB / fds per context; controller threads at peak; child processes | %s |" % (
            " | ".join(cell(i, "fleet-local", per, n) for i in impls)))
    for n in sorted({k[2] for k in rn if k[1] == "fleet-ssh"}):
        out.append("| %s ssh logins at once (distinct connections to 127.0.0.1), one call each: wall s (shutdown s) | %s |" % (
            n, " | ".join(cell(i, "fleet-ssh", wall, n) for i in impls)))
        out.append("| same: controller CPU s (this process + its ssh clients) | %s |" % (
            " | ".join(cell(i, "fleet-ssh", lambda x: "%.2f" % x["controller_cpu_s"], n) for i in impls)))
        out.append("| same: host RSS KiB / fds per context; controller threads at peak; child processes | %s |" % (
            " | ".join(cell(i, "fleet-ssh", per, n) for i in impls)))

    # econtext alone.
    if ("econtext", "fleet-relay") in r:
        out.append("| %s ssh targets through %s relays (ssh contexts running the targets' ssh clients): wall s; "
                   "controller CPU s (ms per target); fds | %s | | |" % (
                       get("econtext", "fleet-relay").get("n", "?"), get("econtext", "fleet-relay").get("relays", "?"),
                       cell("econtext", "fleet-relay", lambda x: "%.2f%s; %.2f (%.2f); %d" % (
                           x["wall_s"], failed(x), x["controller_cpu_s"], x["controller_cpu_ms_per_target"], x["fds"]))))
    if ("econtext", "route-sim") in r:
        def rs(x, k):
            return " / ".join("%s" % x.get("%s_%s" % (k, sz), "?") for sz in ("1k", "10k", "100k"))
        out.append("| routing table in core (simulation), 1k / 10k / 100k contexts: bytes per route; ns per "
                   "frame routed, all direct / behind 10 relays / a relay's own table; us to drop one of 10 "
                   "relays' routes | %s | | |" % cell("econtext", "route-sim", lambda x: "%s B; %s ns / %s ns / %s ns; %s us" % (
                       rs(x, "k0_bytes_per_route"), rs(x, "k0_ns_per_frame"), rs(x, "k10_ns_per_frame"),
                       rs(x, "relay_ns_per_frame"), rs(x, "k10_remove_relay_us"))))
    out.append("")

has_py = any(k[0] == "econtext-py" for k in r)
if has_py:
    if has_local:  # the local table above counts Rust only; the Python one replaces it
        out = []
    out.append("### Python controller (the binding)")
    out.append("")
    out.append("| workload | econtext, Rust API | econtext, Python binding | binding over Rust | Mitogen "
               "| execnet | binding vs Mitogen (target >= 3x) |")
    out.append("|---|---|---|---|---|---|---|")

    def pyrow(label, workload, key, unit, fmt):
        e, p_, m_, x_ = (get(i, workload) for i in ("econtext", "econtext-py", "mitogen", "execnet"))
        def v(x):
            return ("error: " + x["error"].replace("|", "/")[:80]) if "error" in x else (fmt % x[key]) + unit
        over = speed = ""
        if not any("error" in x for x in (e, p_)):
            over = fmt.replace("%", "%+") % (p_[key] - e[key]) + unit + " (%.2fx)" % (p_[key] / e[key])
        if not any("error" in x for x in (p_, m_)):
            ratio = m_[key] / p_[key]
            speed = "%.1fx%s" % (ratio, verdict(ratio >= 3))
        out.append("| %s, N=%s | %s | %s | %s | %s | %s | %s |" % (
            label, p_.get("n", "?"), v(e), v(p_), over, v(m_), v(x_), speed))

    pyrow("local bootstrap + first call, median", "bootstrap", "median_ms", " ms", "%.1f")
    pyrow("trivial call round trip, median", "roundtrip", "median_us", " us", "%.1f")
    pyrow("local contexts, one call each, wall", "fanout", "wall_s", " s", "%.2f")
    pyrow("ssh bootstrap + first call + shutdown, median", "ssh-bootstrap", "median_ms", " ms", "%.1f")
    out.append("")

m = next((y for y in rows if y["impl"] == "mitogen" and "version" in y), {})
x = next((y for y in rows if y["impl"] == "execnet" and "version" in y), {})
out.append("Notes:")
if has_local:
    out.append("- Contexts run on `%s` (Python %s) for all three; Mitogen `router.local(python_path=%s)`, "
               "execnet `popen//python=%s`." % (python, pyver, python, python))
out.append("- Peers run on the venv python `%s` (base `%s`); Mitogen %s, execnet %s." % (
    venv_py, venv_base, m.get("version", "?"), x.get("version", "?")))
out.append("- PYTHONUNBUFFERED=%s in the environment (Mitogen reads its bootstrap byte by byte when set)." % (
    os.environ.get("PYTHONUNBUFFERED", "unset")))
out.append("- econtext built with the workspace release profile (opt-level z, lto). Medians over N after "
           "one discarded warm-up (bootstrap) or 200 warm-up calls (round trip); fan-out connects one by one "
           "then spawns one call per context and waits for all.")
if has_fleet:
    out.append("- Fleets: the peers connect from a pool of 20 threads per CPU (Mitogen `router.local` / "
               "`router.ssh` then `call_async`; execnet `makegateway` on one `Group` then `remote_exec`), "
               "over ssh at most 10 logins in flight (sshd's MaxStartups 10:30:100 drops more), a failed "
               "login retried up to 4 times (counted), each login a distinct Host alias of one ssh config. "
               "Host RSS, fds and children "
               "after the last reply against before the start; threads: peak of the controller "
               "process; shutdown: until no live process is left below it.")
if has_ssh:
    out.append("- ssh: users `ectest` (key) and `ecpass` (password) on the private sshd of "
               "tests/env/up.sh (127.0.0.1); the remote interpreter is `%s` too (econtext "
               "`Ssh::python`, Mitogen `python_path`, execnet `//python=`). Byte counts: "
               "bench/count_stdin.py stands in front of ssh in a separate, untimed connection; "
               "the floors run the same interpreter (Python %s)." % (python, pyver))
out.append("- Raw numbers: bench/results/latest.jsonl; peer stderr: bench/results/latest.stderr.")
print("\n".join(out))
EOF
cat results/latest.md
