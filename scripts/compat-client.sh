#!/usr/bin/env bash
# Install Backend.AI's official client (backend.ai-client==20.9.9) into
# <repo>/.venv-compat, using Python 3.8. Idempotent and non-interactive:
# does nothing when .venv-compat/bin/backend.ai exists and the package imports.
#
# Usage: scripts/compat-client.sh        (then: .venv-compat/bin/backend.ai ...)
# Env:   COMPAT_PYTHON  interpreter to use (default: python3.8, via pyenv 3.8.18 if present)
set -euo pipefail

CLIENT_SPEC="backend.ai-client==20.9.9"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv-compat"

info() { printf '∙ %s\n' "$*"; }
ok()   { printf '✔ %s\n' "$*"; }
fail() { printf '✗ %s\n' "$*" >&2; exit 1; }

client_ok() {
    [ -x "$VENV/bin/backend.ai" ] &&
        "$VENV/bin/python" -c 'import ai.backend.client' >/dev/null 2>&1
}

if client_ok; then
    ok "$CLIENT_SPEC already installed in $VENV"
    exit 0
fi

# Pick the interpreter. pyenv's shim runs 3.8 only when asked, so pin the version
# when pyenv has 3.8.18 and nothing else was requested.
PY="${COMPAT_PYTHON:-python3.8}"
# pyenv's own 3.8 binary, when there is one: no shim, no rehash lock to trip over.
pyenv_py="${PYENV_ROOT:-$HOME/.pyenv}/versions/3.8.18/bin/python3.8"
if [ -z "${COMPAT_PYTHON:-}" ] && [ -x "$pyenv_py" ]; then
    PY="$pyenv_py"
fi
if [ -z "${COMPAT_PYTHON:-}" ] && [ -z "${PYENV_VERSION:-}" ] && command -v pyenv >/dev/null 2>&1 &&
    pyenv versions --bare 2>/dev/null | grep -qx '3\.8\.18'; then
    export PYENV_VERSION=3.8.18
fi
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import sys; assert sys.version_info[:2] in ((3, 8), (3, 9))' >/dev/null 2>&1; then
    fail "$PY (Python 3.8 or 3.9) not found; $CLIENT_SPEC needs it (aiohttp 3.7 does not build on newer Pythons). Install it (e.g. 'pyenv install 3.8.18') or set COMPAT_PYTHON."
fi
info "using $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# (Re)create the venv when it is missing or broken.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    info "creating $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV" || fail "could not create $VENV"
fi

info "installing $CLIENT_SPEC into $VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install --quiet "$CLIENT_SPEC" || fail "pip install $CLIENT_SPEC failed"

client_ok || fail "$CLIENT_SPEC installed but 'import ai.backend.client' or $VENV/bin/backend.ai is missing"
ok "$CLIENT_SPEC installed: $VENV/bin/backend.ai ($("$VENV/bin/python" -c 'import ai.backend.client as c; print(c.__version__)'))"
