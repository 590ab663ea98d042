#!/usr/bin/env bash
# Stops and removes what tests/env/up.sh started and wrote (users stay).
D=${ECONTEXT_TESTENV:-/tmp/econtext-testenv}
for f in "$D"/sshd*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
done
ip netns del ec-bastion 2>/dev/null
ip netns del ec-internal 2>/dev/null
ip link del ec-h0 2>/dev/null
ip route del unreachable 10.231.0.0/16 2>/dev/null
rm -f /etc/sudoers.d/econtext-test
if [ -f /etc/doas.conf ] && grep -q 'econtext test environment' /etc/doas.conf; then rm -f /etc/doas.conf; fi
rm -rf "$D"
