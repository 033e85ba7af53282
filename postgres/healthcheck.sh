#!/bin/bash
# Multi-stage health check: (1) the server accepts connections, (2) it answers
# `SELECT 1`, (3) on a standby, replay lag stays under
# CORE_DATA_MAX_REPLICATION_LAG_SECONDS (0 or unset: stage skipped), (4) WAL
# archiving is not failing: unhealthy when the last archive attempt failed and
# a segment has waited longer than CORE_DATA_ARCHIVE_FAILURE_GRACE_SECONDS
# (0: stage skipped).
set -Eeuo pipefail
superuser=${POSTGRES_SUPERUSER:-postgres}
max_lag=${CORE_DATA_MAX_REPLICATION_LAG_SECONDS:-0}
archive_grace=${CORE_DATA_ARCHIVE_FAILURE_GRACE_SECONDS:-300}

pg_isready --quiet --username="$superuser" --dbname=postgres || { echo "stage 1: not accepting connections"; exit 1; }
[ "$(psql --no-psqlrc -XAtq --username="$superuser" --dbname=postgres -c 'SELECT 1')" = 1 ] \
  || { echo "stage 2: SELECT 1 failed"; exit 1; }
if [ "$max_lag" != 0 ]; then
  lag=$(psql --no-psqlrc -XAtq --username="$superuser" --dbname=postgres -c \
    "SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(floor(extract(epoch FROM now() - pg_last_xact_replay_timestamp())), 0) ELSE 0 END")
  [ "$lag" -le "$max_lag" ] || { echo "stage 3: replication lag ${lag}s exceeds ${max_lag}s"; exit 1; }
fi
if [ "$archive_grace" != 0 ]; then
  waiting=$(psql --no-psqlrc -XAtq --username="$superuser" --dbname=postgres -c \
    "SELECT COALESCE(floor(extract(epoch FROM now() - min(s.modification))), 0)::bigint
       FROM pg_ls_archive_statusdir() s, pg_stat_archiver a
      WHERE s.name LIKE '%.ready' AND a.last_failed_time IS NOT NULL
        AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time)")
  [ "${waiting:-0}" -le "$archive_grace" ] \
    || { echo "stage 4: WAL archiving is failing; the oldest segment has waited ${waiting}s (grace ${archive_grace}s); see \`cargo xtask backup check\`"; exit 1; }
fi
echo healthy
