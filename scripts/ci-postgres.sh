#!/usr/bin/env bash
# Sourced by .ci/run (`source scripts/ci-postgres.sh`): installs PostgreSQL 15 from Debian, starts a throwaway cluster
# as the user postgres on 127.0.0.1:55432 in a temporary directory, creates a database and exports
# BRIDGE_TEST_DATABASE_URL (and BRIDGE_TEST_PG_BIN, BRIDGE_TEST_PG_DATA for the tests that stop and restart the
# server). The tests use that cluster when the variable is set, and otherwise start one of their own from the
# installed initdb and pg_ctl (Tests/BridgeStoreTestKit/TestPostgres.swift).
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
# The settings go in the cluster's postgresql.conf, not on pg_ctl's command line, so that the tests that stop and
# start the server (`pg_ctl -D "$BRIDGE_TEST_PG_DATA/data" -l "$BRIDGE_TEST_PG_DATA/log" start`) get the same one.
cat >>"$BRIDGE_TEST_PG_DATA/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $BRIDGE_TEST_PG_PORT
unix_socket_directories = '$BRIDGE_TEST_PG_DATA'
max_connections = 300
fsync = off
CONF
as_postgres "$BRIDGE_TEST_PG_BIN/pg_ctl" -D "$BRIDGE_TEST_PG_DATA/data" -l "$BRIDGE_TEST_PG_DATA/log" -w start >/dev/null
as_postgres psql -h 127.0.0.1 -p "$BRIDGE_TEST_PG_PORT" -U postgres -qc "ALTER USER postgres PASSWORD 'bridge-test'"
as_postgres psql -h 127.0.0.1 -p "$BRIDGE_TEST_PG_PORT" -U postgres -qc "CREATE DATABASE bridge_test"
export BRIDGE_TEST_PG_BIN BRIDGE_TEST_PG_DATA BRIDGE_TEST_PG_PORT
export BRIDGE_TEST_DATABASE_URL="postgres://postgres:bridge-test@127.0.0.1:$BRIDGE_TEST_PG_PORT/bridge_test?sslmode=disable"
trap 'as_postgres "$BRIDGE_TEST_PG_BIN/pg_ctl" -D "$BRIDGE_TEST_PG_DATA/data" -m fast stop >/dev/null 2>&1 || true' EXIT
echo "PostgreSQL 15 on 127.0.0.1:$BRIDGE_TEST_PG_PORT: BRIDGE_TEST_DATABASE_URL is set"
