#!/usr/bin/env bash
# Make sure a local PostgreSQL is installed and running, with the role and the database the
# tests use.  Idempotent and non-interactive; safe to run repeatedly.
#
#   scripts/postgres.sh      # prints postgresql://backendai:backendai@127.0.0.1:PORT/backendai_test
#
# Status lines go to stderr; the URL is the last line on stdout, so callers can do
# URL=$(scripts/postgres.sh | tail -n1).
# Env: PG_VERSION (default 15), PG_CLUSTER (default main), PG_WAIT (seconds, default 30),
#      PG_ROLE / PG_PASSWORD (default backendai), PG_DATABASE (default backendai_test).
set -euo pipefail

PG_VERSION=${PG_VERSION:-15}
PG_CLUSTER=${PG_CLUSTER:-main}
PG_WAIT=${PG_WAIT:-30}
PG_ROLE=${PG_ROLE:-backendai}
PG_PASSWORD=${PG_PASSWORD:-backendai}
PG_DATABASE=${PG_DATABASE:-backendai_test}

step() { printf '∙ %s\n' "$*" >&2; }
ok()   { printf '✔ %s\n' "$*" >&2; }
die()  { printf '✗ %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"; fi
}

export PATH="$PATH:/usr/sbin:/sbin"

# --- 1. packages -------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install postgresql by hand"
    step "apt-get update"
    as_root apt-get update -qq >&2 || die "apt-get update failed"
    step "installing postgresql"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
        || die "apt-get install postgresql failed"
    ok "installed postgresql"
else
    ok "postgresql is installed"
fi

# --- 2. cluster --------------------------------------------------------------
cluster_field() {  # $1: column of `pg_lsclusters -h` (3 = port, 4 = status)
    pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" -v f="$1" \
        '$1 == v && $2 == c { print $f }'
}

if [ -z "$(cluster_field 2)" ]; then
    step "creating cluster $PG_VERSION/$PG_CLUSTER"
    as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >&2 \
        || die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
fi
PG_PORT=$(cluster_field 3)

if [ "$(cluster_field 4)" != "online" ]; then
    step "starting cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT"
    as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2 \
        || die "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed (see /var/log/postgresql/)"
fi

for _ in $(seq 1 "$PG_WAIT"); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$PG_PORT" \
    || die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${PG_WAIT}s"
ok "cluster $PG_VERSION/$PG_CLUSTER is running on port $PG_PORT"

# --- 3. role and database ----------------------------------------------------
# SQL goes in on stdin (no shell quoting of SQL); `cd /` because the postgres user cannot
# read most working directories and psql would warn about it.
psql_admin() {
    (cd / && as_root su postgres -s /bin/sh -c \
        "psql -X -q -t -A -v ON_ERROR_STOP=1 -p $PG_PORT -d postgres")
}

if [ "$(echo "SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE'" | psql_admin)" = "1" ]; then
    # Re-assert the password and CREATEDB: the test fixtures create a database per test.
    echo "ALTER ROLE \"$PG_ROLE\" WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" | psql_admin \
        || die "could not update role $PG_ROLE"
    ok "role $PG_ROLE exists"
else
    step "creating role $PG_ROLE"
    echo "CREATE ROLE \"$PG_ROLE\" WITH LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" | psql_admin \
        || die "could not create role $PG_ROLE"
fi

# Lets the fixtures' DROP DATABASE ... WITH (FORCE) end an autovacuum worker on the test
# database (a no-op notice when already granted).
echo "GRANT pg_signal_backend TO \"$PG_ROLE\"" | psql_admin 2>/dev/null \
    || die "could not grant pg_signal_backend to $PG_ROLE"

if [ "$(echo "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" | psql_admin)" = "1" ]
then
    ok "database $PG_DATABASE exists"
else
    step "creating database $PG_DATABASE"
    echo "CREATE DATABASE \"$PG_DATABASE\" OWNER \"$PG_ROLE\"" | psql_admin \
        || die "could not create database $PG_DATABASE"
fi

echo "postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE"
