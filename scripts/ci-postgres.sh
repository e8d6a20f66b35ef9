#!/usr/bin/env bash
# Sourced by .ci/run (`source scripts/ci-postgres.sh`): installs PostgreSQL 15 from Debian, starts a throwaway cluster
# as the user postgres on 127.0.0.1:55432 in a temporary directory, creates a database and exports
# BRIDGE_TEST_DATABASE_URL (and BRIDGE_TEST_PG_BIN, BRIDGE_TEST_PG_DATA for the test that restarts the server).
# The cluster is stopped when the sourcing shell exits.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15
fi
BRIDGE_TEST_PG_BIN=/usr/lib/postgresql/15/bin
BRIDGE_TEST_PG_PORT=${BRIDGE_TEST_PG_PORT:-55432}
BRIDGE_TEST_PG_DATA=$(mktemp -d /tmp/bridge-pg.XXXXXX)
chown postgres: "$BRIDGE_TEST_PG_DATA"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$BRIDGE_TEST_PG_BIN/initdb" -D "$BRIDGE_TEST_PG_DATA/data" -U postgres -A trust --no-sync >/dev/null
as_postgres "$BRIDGE_TEST_PG_BIN/pg_ctl" -D "$BRIDGE_TEST_PG_DATA/data" -l "$BRIDGE_TEST_PG_DATA/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $BRIDGE_TEST_PG_PORT -c unix_socket_directories=$BRIDGE_TEST_PG_DATA -c max_connections=300 -c fsync=off" start >/dev/null
as_postgres psql -h 127.0.0.1 -p "$BRIDGE_TEST_PG_PORT" -U postgres -qc "ALTER USER postgres PASSWORD 'bridge-test'"
as_postgres psql -h 127.0.0.1 -p "$BRIDGE_TEST_PG_PORT" -U postgres -qc "CREATE DATABASE bridge_test"
export BRIDGE_TEST_PG_BIN BRIDGE_TEST_PG_DATA BRIDGE_TEST_PG_PORT
export BRIDGE_TEST_DATABASE_URL="postgres://postgres:bridge-test@127.0.0.1:$BRIDGE_TEST_PG_PORT/bridge_test?sslmode=disable"
trap 'as_postgres "$BRIDGE_TEST_PG_BIN/pg_ctl" -D "$BRIDGE_TEST_PG_DATA/data" -m fast stop >/dev/null 2>&1 || true' EXIT
echo "PostgreSQL 15 on 127.0.0.1:$BRIDGE_TEST_PG_PORT: BRIDGE_TEST_DATABASE_URL is set"
