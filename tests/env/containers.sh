#!/usr/bin/env bash
# Container fixtures for the connection-method tests (tests/tests/containers.rs), from the
# team's shared fixture (../shared/containers/ectx-containers.sh); ./ci.sh test runs it.
# Adds: `up` ends by touching $PIDS/ready (the tests look for it), `down` removes it.
# Container fixtures for exec-transport tests on the Debian 12 test VM.
# VM facts this works around: root but no CAP_SYS_RESOURCE (hard rlimits cannot be raised),
# PID 1 is not systemd (no system D-Bus, no machined), cgroup v1 + a cgroup2 "unified" mount
# that holds a controller (crun refuses), /run is on disk (not tmpfs), no image registry.
# Usage: ectx-containers.sh up | down        (idempotent; `up` twice is fine)
set -euo pipefail
ROOTFS=${ROOTFS:-/srv/rootfs}          # plain dir: chroot, unshare, systemd-nspawn, lxc
TAR=${TAR:-/srv/pyroot.tar}            # same tree as a tarball: podman/docker import
IMG=localhost/pyroot
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || { echo "no Debian mirror in /etc/apt/sources.list.d/debian.sources" >&2; exit 1; }
PIDS=/run/ectx-containers; mkdir -p "$PIDS"
NSPAWN="systemd-nspawn -q --register=no --keep-unit --pipe --read-only --timezone=off -D $ROOTFS"
t() { local s=$SECONDS; "$@"; echo "  [$((SECONDS-s)) s] $*" >&2; }

up() {
  # 1. packages: ~27 s on a fresh VM, ~97 MB download, ~370 MiB installed (26 packages)
  export DEBIAN_FRONTEND=noninteractive
  local pkgs=(mmdebstrap podman runc docker.io systemd-container lxc) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    t apt-get update -qq
    t apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi

  # 2. Debian rootfs with full python3 (python3-minimal lacks json, pty, termios, shlex, ctypes): 11-18 s
  if [ ! -s "$TAR" ]; then
    t mmdebstrap --quiet --variant=essential --include=python3 \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      bookworm /srv/pyroot.part.tar "$MIRROR"      # output format follows the file name: keep .tar
    mv /srv/pyroot.part.tar "$TAR"
  fi
  [ -x "$ROOTFS/usr/bin/python3" ] || { mkdir -p "$ROOTFS"; t tar -C "$ROOTFS" -xf "$TAR"; }

  # 3. podman: runc (crun: "cgroups in hybrid mode not supported"), explicit ulimits
  #    (default nofile/nproc 1048576 -> "setrlimit RLIMIT_NOFILE: Operation not permitted";
  #     nproc must be <= 32768, podman's own hard limit here). A --ulimit on the command line
  #     replaces the whole default list, so pass both nofile and nproc if you pass one.
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=20000:20000"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  podman image exists $IMG || t podman import -q "$TAR" $IMG >/dev/null
  podman rm -f -t 0 ectx-podman >/dev/null 2>&1 || true
  t podman run -d --name ectx-podman --network none $IMG sleep infinity >/dev/null

  # 4. docker: no systemd, so start dockerd by hand (it starts its own containerd); ~0.2 s.
  #    --iptables=false --bridge=none: no docker0, no FORWARD/NAT rules (tests use --network none).
  if ! docker info >/dev/null 2>&1; then
    setsid dockerd --iptables=false --bridge=none --pidfile "$PIDS/dockerd.pid" >/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  docker image inspect $IMG >/dev/null 2>&1 || t docker import "$TAR" $IMG >/dev/null
  docker rm -f ectx-docker >/dev/null 2>&1 || true
  t docker run -d --name ectx-docker --network none $IMG sleep infinity >/dev/null

  # 5. systemd-nspawn: --register=no --keep-unit (no D-Bus), --pipe (else it allocates a pty
  #    and `python3 -` goes interactive), --read-only (else one nspawn per dir: "currently busy"),
  #    --timezone=off (rootfs has no /etc/localtime; read-only -> "Failed to mount /etc/localtime"),
  #    tmpfs on /run/systemd/nspawn (else "Attempted to remove disk file system" on every exit).
  mountpoint -q /run/systemd/nspawn || { mkdir -p /run/systemd/nspawn; mount -t tmpfs tmpfs /run/systemd/nspawn; }
  if ! { [ -f "$PIDS/nspawn.pid" ] && kill -0 "$(cat "$PIDS/nspawn.pid")" 2>/dev/null; }; then
    setsid $NSPAWN -M ectx-nspawn sleep infinity </dev/null >/var/log/ectx-nspawn.log 2>&1 &
    echo $! > "$PIDS/nspawn.pid"
  fi

  # 6. lxc: dir rootfs, no network, no apparmor. NEVER `lxc-destroy` it: that deletes $ROOTFS.
  mkdir -p /var/lib/lxc/ectx-lxc
  cat > /var/lib/lxc/ectx-lxc/config <<EOF
lxc.include = /usr/share/lxc/config/common.conf
lxc.arch = x86_64
lxc.uts.name = ectx-lxc
lxc.rootfs.path = dir:$ROOTFS
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.init.cmd = /bin/sleep infinity
EOF
  [ "$(lxc-info -n ectx-lxc -sH 2>/dev/null)" = RUNNING ] || t lxc-start -n ectx-lxc -d

  # 7. wait for the long-lived ones, then print the exec prefixes the tests can use
  local np="" _
  for _ in $(seq 50); do
    np=$(pgrep -P "$(cat "$PIDS/nspawn.pid")" | head -1)
    [ -n "$np" ] && break; sleep 0.1
  done
  touch "$PIDS/ready"
  cat <<EOF
docker exec -i ectx-docker
podman exec -i ectx-podman
lxc-attach -n ectx-lxc --
$NSPAWN
nsenter -t $np -a
nsenter -t $(docker inspect -f '{{.State.Pid}}' ectx-docker) -a
nsenter -t $(podman inspect -f '{{.State.Pid}}' ectx-podman) -a
chroot $ROOTFS
unshare --fork --pid --mount-proc --root=$ROOTFS
unshare --user --map-root-user --fork --pid --mount-proc --root=$ROOTFS
EOF
}

down() {   # stops containers by name (and dockerd); keeps packages, images, $ROOTFS, $TAR
  rm -f "$PIDS/ready"
  podman rm -f -t 0 ectx-podman >/dev/null 2>&1 || true
  docker rm -f ectx-docker >/dev/null 2>&1 || true
  lxc-stop -n ectx-lxc -k >/dev/null 2>&1 || true
  rm -rf /var/lib/lxc/ectx-lxc                     # config only; not lxc-destroy (see above)
  local f; for f in "$PIDS/nspawn.pid" "$PIDS/dockerd.pid"; do   # only what up started, by pid
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"
  done                                             # dockerd's containerd exits with it
}

"${1:-up}"
