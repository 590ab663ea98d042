#!/usr/bin/env bash
# Stops and removes what tests/env/up.sh started and wrote (users stay).
D=${ECONTEXT_TESTENV:-/tmp/econtext-testenv}
if [ -f "$D/sshd.pid" ]; then kill "$(cat "$D/sshd.pid")" 2>/dev/null || true; fi
rm -f /etc/sudoers.d/econtext-test
if [ -f /etc/doas.conf ] && grep -q 'econtext test environment' /etc/doas.conf; then rm -f /etc/doas.conf; fi
rm -rf "$D"
