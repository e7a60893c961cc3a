#!/usr/bin/env bash
# Build the local session images (no registry needed):
#   backendai/base:debian12         debootstrap (minbase) + docker import
#   backendai/python:3.11-debian12  images/python/Dockerfile FROM the base (+ :latest)
#   backendai/python-jupyter:3.11-debian12  images/jupyter/Dockerfile FROM python (+ :latest):
#                                   Jupyter Notebook 7 and JupyterLab 4
#
# Usage: images/build.sh [--force] [base|python|jupyter ...]
#   --force   rebuild even when the image exists (a rebuilt image also rebuilds those on it)
#   names     build only these (default: all, in order)
# Env: BACKENDAI_DEBIAN_MIRROR, BACKENDAI_DEBIAN_SECURITY_MIRROR override the mirror
#      read from the host's apt sources (see images/base/sources.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# shellcheck source=base/sources.sh
. "$HERE/base/sources.sh"

CODENAME=bookworm
BASE_IMAGE=backendai/base:debian12
PYTHON_IMAGE=backendai/python:3.11-debian12
PYTHON_ALIASES=(backendai/python:latest)
JUPYTER_IMAGE=backendai/python-jupyter:3.11-debian12
JUPYTER_ALIASES=(backendai/python-jupyter:latest)

step() { printf '∙ %s\n' "$*"; }
ok()   { printf '✔ %s\n' "$*"; }
die()  { printf '✗ %s\n' "$*" >&2; exit 1; }

FORCE=0
TARGETS=()
for a in "$@"; do
    case "$a" in
        --force|-f) FORCE=1 ;;
        base|python|jupyter) TARGETS+=("$a") ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $a (try --help)" ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(base python jupyter)
wants() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
# Images a rebuild replaced; removed at the end (children first) when left untagged.
STALE=()
drop_stale() {
    local i id
    for ((i = ${#STALE[@]} - 1; i >= 0; i--)); do
        id=${STALE[i]}
        [ -n "$id" ] || continue
        [ "$(docker image inspect --format '{{len .RepoTags}}' "$id" 2>/dev/null)" = 0 ] || continue
        docker rmi "$id" >/dev/null 2>&1 || true   # still used by a container: keep it
    done
}
image_size() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

# --- work dir, always cleaned up ------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/backendai-image.XXXXXX")
cleanup() {
    local m
    # A failed debootstrap can leave /proc, /sys, ... mounted inside its root.
    for m in $(awk -v d="$WORK" 'index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites -----------------------------------------------------------
need_debootstrap() { wants base && ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; }
if ! docker info >/dev/null 2>&1 || need_debootstrap; then
    "$REPO/scripts/docker.sh" || die "Docker is not available (scripts/docker.sh failed)"
fi
export PATH="$PATH:/usr/sbin:/sbin"

# --- backendai/base:debian12 -------------------------------------------------
build_base() {
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    debian_mirrors "$CODENAME"
    step "$BASE_IMAGE: debootstrap $CODENAME from $MIRROR (security: $SECURITY_MIRROR)"
    local t0=$SECONDS work root
    work="$WORK/base"; root="$work/root"; mkdir -p "$work"
    debootstrap --variant=minbase --components="${COMPONENTS// /,}" --include=ca-certificates \
        "$CODENAME" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed (mirror $MIRROR)"
    }

    # apt inside the image uses the same mirrors as the host.
    rm -f "$root/etc/apt/sources.list.d/"*
    cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $CODENAME $COMPONENTS
deb $UPDATES_MIRROR $CODENAME-updates $COMPONENTS
deb $SECURITY_MIRROR $CODENAME-security $COMPONENTS
SRC
    cat >"$root/etc/apt/apt.conf.d/90backendai" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT
    # Keep images small: no man pages, info, docs or message translations (copyright
    # files stay).  Delete this file in a derived image to get them back.
    cat >"$root/etc/dpkg/dpkg.cfg.d/90backendai-nodoc" <<'DPKG'
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
    # Package scripts must not start daemons during image builds.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"

    # Trust the host's extra CA certificates (needed for HTTPS through a proxy/mirror).
    local crts=(/usr/local/share/ca-certificates/*.crt)
    if [ -e "${crts[0]}" ]; then
        cp "${crts[@]}" "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1 || die "update-ca-certificates failed in the base root"
    fi

    # Docker provides these at run time; drop the build host's copies and caches.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
           "$root"/var/log/*.log "$root"/tmp/* "$root"/var/tmp/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    : >"$root/etc/resolv.conf"; : >"$root/etc/hostname"

    step "$BASE_IMAGE: docker import"
    STALE+=("$(image_id "$BASE_IMAGE")")
    tar --numeric-owner --xattrs -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'LABEL ai.backend.base-distro="debian12"' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase $CODENAME $MIRROR" \
        - "$BASE_IMAGE" >/dev/null || die "docker import failed"
    ok "$BASE_IMAGE built in $((SECONDS - t0)) s ($(image_size "$BASE_IMAGE"))"
}

# --- backendai/python:3.11-debian12 -----------------------------------------
build_python() {
    have_image "$BASE_IMAGE" || die "$BASE_IMAGE is missing; build it first (images/build.sh base)"
    step "$PYTHON_IMAGE: docker build (images/python/Dockerfile)"
    local t0=$SECONDS work ctx crts started
    STALE+=("$(image_id "$PYTHON_IMAGE")"); started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    # Minimal build context: the Dockerfile's own folder plus the host's extra CA certs.
    work="$WORK/python"; ctx="$work/ctx"; mkdir -p "$ctx"
    cp -a "$HERE/python/." "$ctx/"
    mkdir -p "$ctx/certs"
    crts=(/usr/local/share/ca-certificates/*.crt)
    [ -e "${crts[0]}" ] && cp "${crts[@]}" "$ctx/certs/"
    docker build --pull=false --force-rm --label "ai.backend.build-hash=$(python_hash)" \
        -t "$PYTHON_IMAGE" "$ctx" >"$work/build.log" 2>&1 || {
        tail -n 40 "$work/build.log" >&2
        die "docker build of $PYTHON_IMAGE failed"
    }
    local alias
    for alias in "${PYTHON_ALIASES[@]}"; do docker tag "$PYTHON_IMAGE" "$alias"; done
    # Builder-stage (ttyd) images from before this build; a later --force recompiles ttyd.
    docker image prune -f --filter dangling=true --filter label=ai.backend.build-stage \
        --filter "until=$started" >/dev/null 2>&1 || true
    ok "$PYTHON_IMAGE built in $((SECONDS - t0)) s ($(image_size "$PYTHON_IMAGE")), tagged ${PYTHON_ALIASES[*]}"
}

# --- backendai/python-jupyter:3.11-debian12 --------------------------------------
build_jupyter() {
    have_image "$PYTHON_IMAGE" || die "$PYTHON_IMAGE is missing; build it first (images/build.sh python)"
    step "$JUPYTER_IMAGE: docker build (images/jupyter/Dockerfile)"
    local t0=$SECONDS work hash
    STALE+=("$(image_id "$JUPYTER_IMAGE")"); hash=$(jupyter_hash)
    # The python image already trusts the host's CA certificates: the context is the folder.
    work="$WORK/jupyter"; mkdir -p "$work"
    docker build --pull=false --force-rm --label "ai.backend.build-hash=$hash" \
        -t "$JUPYTER_IMAGE" "$HERE/jupyter" >"$work/build.log" 2>&1 || {
        tail -n 40 "$work/build.log" >&2
        die "docker build of $JUPYTER_IMAGE failed"
    }
    local alias
    for alias in "${JUPYTER_ALIASES[@]}"; do docker tag "$JUPYTER_IMAGE" "$alias"; done
    ok "$JUPYTER_IMAGE built in $((SECONDS - t0)) s ($(image_size "$JUPYTER_IMAGE")), tagged ${JUPYTER_ALIASES[*]}"
}

# A digest of a folder's files: an image built from other files is rebuilt.
dir_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
python_hash() { dir_hash "$HERE/python"; }
# The jupyter image also depends on the python image it was built on: a rebuilt python image
# (a new id) makes it stale.
jupyter_hash() { printf '%s %s\n' "$(dir_hash "$HERE/jupyter")" "$(image_id "$PYTHON_IMAGE")" | sha256sum | cut -c1-16; }
build_hash() { docker image inspect --format '{{index .Config.Labels "ai.backend.build-hash"}}' "$1" 2>/dev/null; }
python_current() { [ "$(build_hash "$PYTHON_IMAGE")" = "$(python_hash)" ]; }
jupyter_current() { [ "$(build_hash "$JUPYTER_IMAGE")" = "$(jupyter_hash)" ]; }

rebuilt_base=0
if wants base; then
    if [ $FORCE -eq 0 ] && have_image "$BASE_IMAGE"; then
        ok "$BASE_IMAGE exists ($(image_size "$BASE_IMAGE")); skipped"
    else
        build_base; rebuilt_base=1
    fi
fi
if wants python; then
    if [ $FORCE -eq 0 ] && [ $rebuilt_base -eq 0 ] && have_image "$PYTHON_IMAGE" && python_current; then
        ok "$PYTHON_IMAGE exists ($(image_size "$PYTHON_IMAGE")); skipped"
        for alias in "${PYTHON_ALIASES[@]}"; do have_image "$alias" || docker tag "$PYTHON_IMAGE" "$alias"; done
    else
        have_image "$PYTHON_IMAGE" && ! python_current && step "$PYTHON_IMAGE: images/python/ changed"
        build_python
    fi
fi
if wants jupyter; then
    # jupyter_hash covers a rebuilt python image, so no flag is needed here.
    if [ $FORCE -eq 0 ] && have_image "$JUPYTER_IMAGE" && jupyter_current; then
        ok "$JUPYTER_IMAGE exists ($(image_size "$JUPYTER_IMAGE")); skipped"
        for alias in "${JUPYTER_ALIASES[@]}"; do have_image "$alias" || docker tag "$JUPYTER_IMAGE" "$alias"; done
    else
        have_image "$JUPYTER_IMAGE" && ! jupyter_current && step "$JUPYTER_IMAGE: images/jupyter/ or $PYTHON_IMAGE changed"
        build_jupyter
    fi
fi
drop_stale
