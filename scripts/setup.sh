#!/usr/bin/env bash
# Everything a fresh machine needs before `make up` or `make test`, idempotent and cached:
#   scripts/setup.sh up     the venv, Docker Engine and the local images (base, python, jupyter)
#   scripts/setup.sh test   the above plus PostgreSQL, Redis, Chromium and an SSH client (browser
#                           and SSH tests), the official client 20.9.9
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-up}

step() { printf '∙ %s\n' "$*"; }
ok()   { printf '✔ %s\n' "$*"; }
die()  { printf '✗ %s\n' "$*" >&2; exit 1; }

# --- the virtualenv: reinstalled only when pyproject.toml changed -------------------------
stamp=.venv/.pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "creating the virtualenv .venv"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python >= 3.11 is needed (python3 is $(python3 --version 2>&1))"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    # pip warns about every unused local index of this machine's pip.conf: keep only errors.
    quiet() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
    quiet .venv/bin/pip install -q -U pip >/dev/null
    quiet .venv/bin/pip install -q -e '.[dev]' || die "pip install failed"
    echo "$want" > "$stamp"
    ok "virtualenv ready"
else
    ok "virtualenv is up to date"
fi

# --- system packages the platform and its tests use ----------------------------------------
apt_missing=()
need() { dpkg -s "$1" >/dev/null 2>&1 || apt_missing+=("$1"); }
if [ "$what" = test ]; then
    need postgresql; need redis-server
    # tests/browser drives Debian's Chromium with Playwright (never `playwright install`);
    # the SSH app tests connect with ssh/scp.
    need chromium; need openssh-client
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
    step "installing ${apt_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null \
        || die "apt-get install ${apt_missing[*]} failed"
    ok "installed ${apt_missing[*]}"
fi

# --- Docker Engine and the local images ---------------------------------------------------
scripts/docker.sh
# All images in both modes: `make up` offers the jupyter image as an environment, and the
# tests use it. Each is skipped when it exists and its folder has not changed.
images/build.sh

if [ "$what" = test ]; then
    scripts/postgres.sh >/dev/null
    ok "PostgreSQL is running"
    scripts/compat-client.sh
fi
