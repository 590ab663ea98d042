#!/usr/bin/env bash
# Usage: fuzz/run.sh SECONDS [TARGET...]
# Seeds the corpora from testdata/, then runs each fuzz target (all by default) for SECONDS.
# Exits non-zero when a target crashes (the reproducer is left in fuzz/artifacts/<target>/)
# or fails to build.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decoder value_decode body_decode)

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly flags (-Zsanitizer); use the nightly toolchain when present,
# otherwise let the stable compiler accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

# ASan records the allocation stack of every live and quarantined block in a depot that never
# shrinks; the recursive value decoder produces endless distinct stacks, so with the default
# context the fuzzer's RSS grows ~250 MB per million runs and trips libFuzzer's 2 GB limit as a
# false "out-of-memory" after a few minutes. This crate has no unsafe code: no stacks needed.
export ASAN_OPTIONS="malloc_context_size=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

./seed.sh
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "== fuzz $t for ${secs}s"
    if ! "${fuzz[@]}" run "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1; then
        echo "!! fuzz target $t FAILED (see fuzz/artifacts/$t/)" >&2
        status=1
    fi
done
exit $status
