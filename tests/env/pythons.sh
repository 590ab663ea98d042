#!/usr/bin/env bash
# The interpreters beyond pyenv's (2.7, 3.6-3.13) for the test matrix, under
# /opt/extra-pythons/X.Y/ (../shared/pythons/README.md): 2.4, 2.5, 2.6 and 3.5 built offline
# from source (must succeed; 45-75 s each), 3.14 and 3.15 unpacked from Debian unstable's packages (the suite moves: a failure
# leaves /opt/extra-pythons/unavailable-X.Y with the reason, and those tests skip visibly).
# Each is installed once per machine and reused. Run as root; idempotent.
set -euo pipefail
cd "$(dirname "$0")"
SHARED=$(cd ../../.. && pwd)/shared/pythons
[ -d "$SHARED" ] || { echo "pythons.sh: $SHARED not found" >&2; exit 1; }
mkdir -p /opt/extra-pythons
for v in 3.14 3.15; do
    if [ -x /opt/extra-pythons/$v/bin/python ]; then
        continue
    fi
    if out=$("$SHARED/install-debian-python.sh" "$v" 2>&1); then
        rm -f /opt/extra-pythons/unavailable-$v
    else
        printf '%s\n' "$out" | tail -5 >/opt/extra-pythons/unavailable-$v
        echo "pythons.sh: python $v unavailable (tests skip it): $(tail -1 /opt/extra-pythons/unavailable-$v)" >&2
    fi
done
for v in 2.4.6 2.5.6 2.6.9 3.5.10; do
    [ -x /opt/extra-pythons/${v%.*}/bin/python ] || "$SHARED/build-old-python.sh" "$v"
done
