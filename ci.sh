#!/usr/bin/env bash
# The one test command: installs what it needs when missing, then runs every check.
# Usage: ./ci.sh [JOB...]   jobs: deps fmt clippy test nostd doc python binding fuzz size
#                            (default: all)
# Environment: FUZZ_SECONDS (default 30) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=never
jobs=("$@")
[ ${#jobs[@]} -gt 0 ] || jobs=(deps fmt clippy test nostd doc python binding fuzz size)
declare -A results=()
passed=0
failed=0

step() { echo; echo "=== $*"; }

job_deps() {
    # Debian packages the tests drive for real. Installed only when missing.
    local want=(openssh-server openssh-client sudo opendoas bubblewrap iproute2 procps util-linux python3
        rsync openssh-sftp-server python3-venv gcc make zlib1g-dev xz-utils)
    local missing=()
    command -v git >/dev/null 2>&1 || want+=(git)
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q || true
            apt-get install -y -q --no-install-recommends "${missing[@]}"
        else
            echo "missing packages (run as root to install): ${missing[*]}" >&2
            return 1
        fi
    fi
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    # The interpreters beyond pyenv's: 2.4, 2.5, 2.6 and 3.5 built from source (~70 s each,
    # once), the relocatable 3.14 and 3.15 (cached under /opt/extra-pythons; a 3.14/3.15
    # download that fails is skipped visibly).
    if [ "$(id -u)" = 0 ]; then
        tests/env/pythons.sh
    fi
}

job_fmt() { cargo fmt --all -- --check; }

job_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }

job_test() {
    # The ssh/sudo/su/doas tests need the private sshd and test accounts (root only).
    # The container tests need docker, podman, lxc, nspawn and the rootfs (installed and
    # cached by containers.sh: packages, /srv/pyroot.tar, /srv/rootfs and the images stay).
    if [ "$(id -u)" = 0 ]; then
        tests/env/up.sh >/dev/null
        tests/env/containers.sh up >/dev/null
        trap 'tests/env/down.sh; tests/env/containers.sh down' EXIT
    else
        echo "not root: the ssh/sudo/su/doas and container tests will be skipped" >&2
    fi
    local rc=0
    cargo test --workspace || rc=$?
    if [ "$(id -u)" = 0 ]; then
        tests/env/down.sh
        tests/env/containers.sh down
    fi
    trap - EXIT
    return $rc
}

job_nostd() {
    # core is #![no_std]: it must build without std, and no dependency may enable std.
    cargo build -p econtext-core
    if cargo tree -p econtext-core -e normal,features --prefix none | grep -E '^(serde|serde_core|postcard|heapless)[^ ]* feature "std"'; then
        echo "a dependency of econtext-core enables std" >&2
        return 1
    fi
}

job_doc() { RUSTDOCFLAGS='-D warnings' cargo doc --no-deps -p econtext -p econtext-core -p econtext-stub; }

job_python() { python3 tests/python/run_matrix.py; }

controllers() {
    # Every CPython >= 3.8 here (pyenv's and Debian's): the binding's controllers.
    local root="${PYENV_ROOT:-$HOME/.pyenv}" py
    for py in "$root"/versions/*/bin/python /usr/bin/python3; do
        [ -x "$py" ] || continue
        "$py" -c 'import sys; sys.exit(sys.version_info < (3, 8))' 2>/dev/null && echo "$py"
    done
}

job_binding() {
    # The Python binding (python/, its own cargo workspace): checked like the rest, built
    # once into an abi3 wheel the way `pip install ./python` builds it, installed into a venv
    # per controller interpreter, and its pytest suite run under each against the test
    # environment (targets: every interpreter here).
    cargo fmt --manifest-path python/Cargo.toml -- --check
    cargo clippy --manifest-path python/Cargo.toml -- -D warnings
    local work=target/binding rc=0 py v n=0
    rm -rf "$work" && mkdir -p "$work/wheel"
    python3 -m venv "$work/build"
    "$work/build/bin/pip" install -q --upgrade pip
    "$work/build/bin/pip" wheel -q --no-deps -w "$work/wheel" ./python
    if [ "$(id -u)" = 0 ]; then
        tests/env/up.sh >/dev/null
        trap 'tests/env/down.sh' EXIT
    fi
    for py in $(controllers); do
        v=$("$py" -c 'import platform; print(platform.python_version())')
        step "binding: controller $v ($py)"
        "$py" -m venv "$work/venv-$v"
        "$work/venv-$v/bin/pip" install -q pytest "$work"/wheel/econtext-*.whl
        # From another directory: ./python/econtext must not shadow the installed package.
        (cd "$work" && "venv-$v/bin/pytest" -q -p no:cacheprovider ../../python/tests) || rc=1
        n=$((n + 1))
    done
    if [ "$(id -u)" = 0 ]; then
        tests/env/down.sh
        trap - EXIT
    fi
    [ "$n" -gt 0 ] || { echo "no CPython >= 3.8 to run the binding's tests" >&2; return 1; }
    return $rc
}

job_fuzz() { fuzz/run.sh "${FUZZ_SECONDS:-30}"; }

job_size() {
    # Budgets for the static binary an operator carries (glibc, static, non-PIE) and for the
    # default dynamically linked release binary (our own code).
    RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
        cargo build --release -p econtext --target x86_64-unknown-linux-gnu --target-dir target/static
    cargo build --release -p econtext
    cargo run -q -p size-report -- --static target/static/x86_64-unknown-linux-gnu/release/econtext \
        --dynamic target/release/econtext
}

for j in "${jobs[@]}"; do
    step "$j"
    if "job_$j"; then
        results[$j]=ok
        passed=$((passed + 1))
    else
        results[$j]=FAILED
        failed=$((failed + 1))
    fi
done

step summary
for j in "${jobs[@]}"; do printf '%-8s %s\n' "$j" "${results[$j]}"; done
echo "ci: $passed passed, $failed failed"
[ "$failed" = 0 ]
