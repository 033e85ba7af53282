#!/bin/bash
# Multi-stage health check: (1) the server accepts connections, (2) it answers
# `SELECT 1`, (3) on a standby, replay lag stays under
# CORE_DATA_MAX_REPLICATION_LAG_SECONDS (0 or unset: stage skipped).
set -Eeuo pipefail
superuser=${POSTGRES_SUPERUSER:-postgres}
max_lag=${CORE_DATA_MAX_REPLICATION_LAG_SECONDS:-0}

pg_isready --quiet --username="$superuser" --dbname=postgres || { echo "stage 1: not accepting connections"; exit 1; }
[ "$(psql --no-psqlrc -XAtq --username="$superuser" --dbname=postgres -c 'SELECT 1')" = 1 ] \
  || { echo "stage 2: SELECT 1 failed"; exit 1; }
if [ "$max_lag" != 0 ]; then
  lag=$(psql --no-psqlrc -XAtq --username="$superuser" --dbname=postgres -c \
    "SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp())), 0) ELSE 0 END")
  [ "$lag" -le "$max_lag" ] || { echo "stage 3: replication lag ${lag}s exceeds ${max_lag}s"; exit 1; }
fi
echo healthy
