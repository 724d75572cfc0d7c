#!/usr/bin/env bash
# A Docker engine for `cm docker script`, started and stopped by hand, that leaves no network state behind.
#
#   sudo scripts/docker-engine.sh start    # install docker.io + debootstrap if missing, start dockerd
#   sudo scripts/docker-engine.sh base     # build the base image local/debian:bookworm (debootstrap + import)
#   export PATH=/run/mlperf-dummy-docker/bin:$PATH    # the `docker` that builds with --network=host
#   sudo scripts/docker-engine.sh stop     # stop that dockerd (by its PID), unmount what it left
#   sudo scripts/docker-engine.sh purge    # stop, then delete its images and the packages `start` installed
#
# The daemon runs with --bridge=none --iptables=false --ip-forward=false --ip-masq=false: no docker0, no iptables
# chains, no ip_forward change (the default bridge mode leaves all three after the daemon stops). Containers then
# get no network ("none"), which a run of this script does not need; image builds do (apt-get, pip), so they use
# the host's network: the wrapper client in $STATE/bin adds --network=host to `docker build`, which CM's build
# command does not pass. Images and layers live in their own data root ($DATA_ROOT), not /var/lib/docker.
#
# No image registry is needed: `base` makes the base image from a Debian mirror. Where the host trusts extra
# certificate authorities (files under /usr/local/share/ca-certificates/, e.g. a proxy's), they are copied into
# the image and pip is told to use the system store, or pip fails with CERTIFICATE_VERIFY_FAILED in the build.
#
# Settings (environment): STATE (default /run/mlperf-dummy-docker), DATA_ROOT (default
# /var/lib/mlperf-dummy-docker), BASE_IMAGE (default local/debian:bookworm), DEBIAN_SUITE (bookworm),
# DEBIAN_MIRROR (default: the host's first deb.debian.org-style source, else http://deb.debian.org/debian).
set -euo pipefail

STATE="${STATE:-/run/mlperf-dummy-docker}"
DATA_ROOT="${DATA_ROOT:-/var/lib/mlperf-dummy-docker}"
BASE_IMAGE="${BASE_IMAGE:-local/debian:bookworm}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
PIDFILE="$STATE/dockerd.pid"
SOCKET=/var/run/docker.sock
# debian-archive-keyring: debootstrap checks the mirror's signatures with it (a recommend, so named here).
PACKAGES=(docker.io debootstrap debian-archive-keyring)

say() { echo "docker-engine: $*"; }
die() { echo "docker-engine: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (sudo $0 $1)"; }

# The real client: the first `docker` on PATH that is not our wrapper.
real_docker() {
  local IFS=: dir
  for dir in $PATH; do
    [ "$dir" = "$STATE/bin" ] && continue
    [ -x "$dir/docker" ] && { echo "$dir/docker"; return; }
  done
  die "no docker client on PATH"
}

engine_up() { "$(real_docker)" info >/dev/null 2>&1; }

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} yourself"
  say "installing ${missing[*]}"
  local before="$STATE/packages.before"
  dpkg-query -W -f='${Package}\n' | sort >"$before"
  getent group docker >/dev/null || touch "$STATE/group.created"     # docker.io adds it; apt purge keeps it
  local run_before="$STATE/run.before-install"
  ls -A /run >"$run_before"
  apt-get update -qq >/dev/null
  # Without recommends: docker.io recommends needrestart (whose apt hook leaves /run/needrestart), apparmor,
  # cgroupfs-mount and more, none of which the engine needs.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Everything this install added (dependencies too), for `purge`.
  dpkg-query -W -f='${Package}\n' | sort | comm -13 "$before" - >>"$STATE/packages.installed"
  # And what the packages' hooks added to /run, which `apt-get purge` leaves behind.
  { ls -A /run | grep -vxF -f "$run_before" || true; } >>"$STATE/run.installed"
  rm -f "$before" "$run_before"
}

start() {
  need_root start
  mkdir -p "$STATE/bin"
  install_packages
  write_wrapper
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    say "dockerd already started (pid $(cat "$PIDFILE"))"; return
  fi
  if engine_up; then
    say "a Docker engine already answers on $SOCKET: using it (not started here, so not stopped here)"; return
  fi
  mkdir -p "$DATA_ROOT"
  # What /run holds now: the empty folders dockerd, its containerd and mount(8) add there go with `stop`.
  ls -A /run >"$STATE/run.before"
  dockerd --data-root="$DATA_ROOT" --exec-root="$STATE/exec" --pidfile="$PIDFILE" -H "unix://$SOCKET" \
    --bridge=none --iptables=false --ip-forward=false --ip-masq=false --ip6tables=false \
    >"$STATE/dockerd.log" 2>&1 &
  local pid=$! i
  for i in $(seq 1 60); do
    engine_up && { say "dockerd started (pid $pid, log $STATE/dockerd.log)"; return; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -5 "$STATE/dockerd.log" >&2
  kill "$pid" 2>/dev/null || true
  die "dockerd did not come up (log: $STATE/dockerd.log)"
}

write_wrapper() {
  local real
  real="$(real_docker)"
  cat >"$STATE/bin/docker" <<EOF
#!/bin/sh
# Written by scripts/docker-engine.sh: the daemon has no bridge network, so image builds use the host's.
if [ "\$1" = build ]; then shift; exec "$real" build --network=host "\$@"; fi
exec "$real" "\$@"
EOF
  chmod 755 "$STATE/bin" "$STATE/bin/docker"
}

base() {
  need_root base
  engine_up || die "no Docker engine answers: run '$0 start' first"
  if "$(real_docker)" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "$BASE_IMAGE exists"; return
  fi
  local mirror="${DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '($1 == "URIs:" || $1 == "deb") && $2 ~ /^https?:.*\/debian\/?$/ {print $2; exit}' || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
  fi
  local rootfs
  rootfs="$(mktemp -d /var/tmp/mlperf-dummy-rootfs.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT
  say "debootstrap $DEBIAN_SUITE from $mirror"
  debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$rootfs" "$mirror" \
    >"$STATE/debootstrap.log" 2>&1 || { tail -5 "$STATE/debootstrap.log" >&2; die "debootstrap failed"; }
  local extra=(/usr/local/share/ca-certificates/*.crt)
  if [ -e "${extra[0]}" ]; then
    say "carrying ${#extra[@]} extra CA certificate(s) into the image"
    cp "${extra[@]}" "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    # pip in a venv trusts its own bundle, not the system store, unless told.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
  fi
  # CM's Dockerfile creates its user (cmuser, with the builder's uid) with $HOME=/home/cmuser, then COPYs the CM
  # repo to $HOME/CM/repos/...: Docker's classic builder creates the missing parents of a COPY owned by root, so
  # for any builder but root `cm pull repo` then cannot write $HOME/CM/repos.json. Made here first, open to all
  # (sticky, as /tmp), they are usable by whichever uid the image's user gets.
  mkdir -p "$rootfs/home/cmuser/CM/repos"
  chmod 1777 "$rootfs/home/cmuser" "$rootfs/home/cmuser/CM" "$rootfs/home/cmuser/CM/repos"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$(real_docker)" import - "$BASE_IMAGE" >/dev/null
  say "$BASE_IMAGE built ($("$(real_docker)" image inspect -f '{{.Size}}' "$BASE_IMAGE") bytes)"
}

stop() {
  need_root stop
  if [ -f "$PIDFILE" ]; then
    local pid i
    pid="$(cat "$PIDFILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -0 "$pid" 2>/dev/null && { kill -9 "$pid"; sleep 1; }
      say "dockerd stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
  else
    say "no dockerd started by this script"
  fi
  # Mounts the daemon may leave under its roots when it dies hard, deepest first.
  awk -v a="$DATA_ROOT" -v b="$STATE" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts \
    | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # Its cgroups (cgroup v1: one "docker" folder per controller), empty once no container runs.
  find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name docker 2>/dev/null \
    | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  rm -rf "$STATE/exec" "$STATE/bin"
  # Folders the daemon (/run/docker, /run/containerd) or debootstrap's mounts (/run/mount) added to /run: removed
  # when they hold no file (a folder with a file in it is someone else's business).
  if [ -f "$STATE/run.before" ]; then
    { ls -A /run | grep -vxF -f "$STATE/run.before" || true; } | while read -r d; do
      [ "/run/$d" = "$STATE" ] && continue
      if [ -d "/run/$d" ] && [ -z "$(find "/run/$d" ! -type d -print -quit)" ]; then rm -r "/run/${d:?}"; fi
    done
    rm -f "$STATE/run.before"
  fi
}

purge() {
  stop
  rm -rf "$DATA_ROOT"
  if [ -s "$STATE/packages.installed" ]; then
    say "removing the packages start installed: $(tr '\n' ' ' <"$STATE/packages.installed")"
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $(cat "$STATE/packages.installed") >/dev/null
  fi
  if [ -f "$STATE/group.created" ]; then groupdel docker 2>/dev/null || true; fi
  if [ -s "$STATE/run.installed" ]; then
    while read -r d; do rm -rf "/run/${d:?}"; done <"$STATE/run.installed"
  fi
  rm -rf "$STATE"
}

case "${1:-}" in
  start) start ;;
  base) base ;;
  stop) stop ;;
  purge) purge ;;
  *) echo "usage: $0 start|base|stop|purge" >&2; exit 2 ;;
esac
