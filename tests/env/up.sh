#!/usr/bin/env bash
# Builds the test environment for the ssh/sudo/su/doas tests and prints the path of its env
# file. Needs root. Everything lives in $ECONTEXT_TESTENV (default /tmp/econtext-testenv); only
# loopback is used; the machine's own sshd is never touched. tests/env/down.sh undoes it.
#
# Users (created when missing):
#   ectest    ssh key login; sudo to ectarget without password
#   ecpass    ssh password login (PW_ECPASS); sudo to ectarget with password, requiretty;
#             doas to ectarget with password
#   ectarget  the account hops become; su password PW_ECTARGET
#   ecnope    exists; allowed nothing
#
# Topology (network namespaces, veth pairs, addresses only inside them):
#   this process --10.231.1.0/30-- bastion (sshd 10.231.1.2:22) --10.231.2.0/30-- internal
#   (sshd 10.231.2.2:22). internal is reachable only from bastion: no route from here.
set -euo pipefail
D=${ECONTEXT_TESTENV:-/tmp/econtext-testenv}
PW_ECPASS='ecpass-pw-7'
PW_ECTARGET='ectarget-pw-3'
PW_ECTEST='ectest-pw-5'

[ "$(id -u)" = 0 ] || { echo "tests/env/up.sh: run as root" >&2; exit 1; }
for bin in /usr/sbin/sshd ssh sudo doas; do
    command -v "$bin" >/dev/null || { echo "tests/env/up.sh: $bin missing (./ci.sh deps installs it)" >&2; exit 1; }
done

"$(dirname "$0")/down.sh" >/dev/null 2>&1 || true
mkdir -p "$D" /run/sshd
chmod 755 "$D"

for u in ectest ecpass ectarget ecnope; do
    id "$u" >/dev/null 2>&1 || useradd -m -s /bin/sh "$u"
done
printf 'ecpass:%s\nectarget:%s\nectest:%s\n' "$PW_ECPASS" "$PW_ECTARGET" "$PW_ECTEST" | chpasswd

ssh-keygen -q -t ed25519 -N '' -C econtext-test-host -f "$D/host_key"
ssh-keygen -q -t ed25519 -N '' -C econtext-test-client -f "$D/client_key"
ssh-keygen -q -t ed25519 -N '' -C econtext-test-other -f "$D/other_key"
mkdir -p "$D/authorized_keys"
for u in ectest ectarget root; do cp "$D/client_key.pub" "$D/authorized_keys/$u"; done
chmod 644 "$D"/authorized_keys/* "$D/client_key.pub"
chmod 600 "$D/client_key" "$D/other_key"
# ectarget (the account a sudo hop becomes) logs in further with the same key (multi-hop).
for u in ectarget ectest; do
    install -d -o "$u" -g "$u" -m 700 "$(eval echo ~$u)/.ssh"
    install -o "$u" -g "$u" -m 600 "$D/client_key" "$(eval echo ~$u)/.ssh/id_ed25519"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'Authorized use only. Your password is logged.\n' > "$D/banner"
cat > "$D/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $D/host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys/%u
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
Banner $D/banner
PrintMotd no
Subsystem sftp internal-sftp
CONF
/usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log"

# The namespaces: bastion and internal, each with its own sshd (same config, other address).
ip netns add ec-bastion
ip netns add ec-internal
ip link add ec-h0 type veth peer name ec-b0
ip link set ec-b0 netns ec-bastion
ip link add ec-b1 type veth peer name ec-i0
ip link set ec-b1 netns ec-bastion
ip link set ec-i0 netns ec-internal
ip addr add 10.231.1.1/30 dev ec-h0
ip link set ec-h0 up
# Nothing for the test networks may leave this machine: internal is unreachable from here.
ip route add unreachable 10.231.0.0/16
ip netns exec ec-bastion sh -c 'ip link set lo up; ip addr add 10.231.1.2/30 dev ec-b0; ip link set ec-b0 up; ip addr add 10.231.2.1/30 dev ec-b1; ip link set ec-b1 up'
ip netns exec ec-internal sh -c 'ip link set lo up; ip addr add 10.231.2.2/30 dev ec-i0; ip link set ec-i0 up'
for ns in bastion internal; do
    addr=10.231.1.2
    [ $ns = internal ] && addr=10.231.2.2
    sed -e "s/^ListenAddress .*/ListenAddress $addr/" -e "s/^Port .*/Port 22/" \
        -e "s#^PidFile .*#PidFile $D/sshd-$ns.pid#" "$D/sshd_config" > "$D/sshd_config_$ns"
    ip netns exec "ec-$ns" /usr/sbin/sshd -f "$D/sshd_config_$ns" -E "$D/sshd-$ns.log"
done

# known_hosts: the right key, and one claiming another key for the same host.
hostkey=$(cut -d' ' -f1,2 "$D/host_key.pub")
{ printf '[127.0.0.1]:%s %s\n' "$port" "$hostkey"; printf '10.231.1.2 %s\n10.231.2.2 %s\n' "$hostkey" "$hostkey"; } > "$D/known_hosts"
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$D/other_key.pub")" > "$D/known_hosts_changed"
chmod 644 "$D"/known_hosts*

cat > /etc/sudoers.d/econtext-test <<'SUDO'
# econtext test environment (tests/env/up.sh); removed by tests/env/down.sh
Defaults:ecpass requiretty
ectest ALL=(ectarget) NOPASSWD: ALL
ecpass ALL=(ectarget) ALL
SUDO
chmod 440 /etc/sudoers.d/econtext-test
visudo -cq

if [ ! -e /etc/doas.conf ] || grep -q 'econtext test environment' /etc/doas.conf; then
    printf '# econtext test environment (tests/env/up.sh)\npermit ecpass as ectarget\npermit nopass ectest as ectarget\n' > /etc/doas.conf
    chmod 600 /etc/doas.conf
fi

# Wait until sshd accepts connections.
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
    sleep 0.05
done

for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('10.231.1.2', 22), 0.2)" 2>/dev/null && break
    sleep 0.05
done

cat > "$D/env" <<ENV
ECONTEXT_TESTENV=$D
SSH_PORT=$port
CLIENT_KEY=$D/client_key
KNOWN_HOSTS=$D/known_hosts
KNOWN_HOSTS_CHANGED=$D/known_hosts_changed
PW_ECPASS=$PW_ECPASS
PW_ECTARGET=$PW_ECTARGET
PW_ECTEST=$PW_ECTEST
BASTION=10.231.1.2
INTERNAL=10.231.2.2
ENV
chmod 644 "$D/env"
echo "$D/env"
