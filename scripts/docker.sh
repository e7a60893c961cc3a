#!/usr/bin/env bash
# Make sure a local Docker Engine (and debootstrap, used by images/build.sh) is
# installed and running.  Idempotent and non-interactive; safe to run repeatedly.
#
#   scripts/docker.sh          # install docker.io + debootstrap if missing, start dockerd
#
# Env: DOCKERD_LOG (default /var/log/dockerd.log), DOCKERD_WAIT (seconds, default 60).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKERD_WAIT=${DOCKERD_WAIT:-60}

step() { printf '∙ %s\n' "$*"; }
ok()   { printf '✔ %s\n' "$*"; }
die()  { printf '✗ %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"; fi
}

# --- 1. packages -------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)

if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
    # apt-get update only when some package has no install candidate yet.
    need_update=0
    for p in "${missing[@]}"; do
        apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || need_update=1
    done
    if [ $need_update -eq 1 ]; then
        step "apt-get update"
        as_root apt-get update -qq || die "apt-get update failed"
    fi
    step "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
    ok "installed ${missing[*]}"
else
    ok "dockerd and debootstrap are installed"
fi

command -v docker >/dev/null 2>&1 || die "docker CLI not found (expected from the docker.io package)"
export PATH="$PATH:/usr/sbin:/sbin"

# --- 2. daemon ---------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    ok "dockerd is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

step "starting dockerd (log: $DOCKERD_LOG)"
# Detached in its own session so it outlives the calling shell.
as_root setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
disown 2>/dev/null || true

for _ in $(seq 1 "$DOCKERD_WAIT"); do
    if docker info >/dev/null 2>&1; then
        ok "dockerd is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
        exit 0
    fi
    sleep 1
done
tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
die "dockerd did not answer on /var/run/docker.sock within ${DOCKERD_WAIT}s (see $DOCKERD_LOG)"
