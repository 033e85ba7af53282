#!/bin/bash
# core_data entrypoint: initdb once, first-boot SQL until it has succeeded once,
# then exec the server on the configuration rendered by `cargo xtask` into
# /etc/core_data/conf. Safe to run on every start: each step checks its own state.
set -Eeuo pipefail

conf_dir=${CORE_DATA_CONF_DIR:-/etc/core_data/conf}
secrets_dir=${CORE_DATA_SECRETS_DIR:-/run/secrets}
superuser=${POSTGRES_SUPERUSER:-postgres}
waldir=/var/lib/postgresql/wal/pg_wal
sentinel="$PGDATA/core_data.first_boot_done"

log() { printf 'core_data-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" != 0 ] || die "refusing to run as root; set the container user to the postgres UID"
[ "${1:-postgres}" = postgres ] || exec "$@"

for required in "$conf_dir/postgresql.conf" "$conf_dir/pg_hba.conf" "$conf_dir/pg_ident.conf" \
                "$secrets_dir/postgres_superuser_password" "$secrets_dir/server.crt" "$secrets_dir/server.key"; do
  [ -r "$required" ] || die "\`$required\` is missing or unreadable; run \`cargo xtask init\` and \`cargo xtask up\`"
done

server_opts=(-c "config_file=$conf_dir/postgresql.conf")

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initialising a new cluster in $PGDATA (data checksums, WAL in $waldir)"
  # A half-finished initdb leaves files behind that make the next one refuse.
  find "$PGDATA" -mindepth 1 -delete
  rm -rf "$waldir"
  initdb --pgdata="$PGDATA" --waldir="$waldir" --data-checksums \
    --username="$superuser" --pwfile="$secrets_dir/postgres_superuser_password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --locale-provider=builtin --builtin-locale=C.UTF-8 >&2
fi

if [ ! -e "$sentinel" ]; then
  log "running first-boot SQL (extension bundle in template1 and postgres)"
  pg_ctl --pgdata="$PGDATA" --wait --timeout=120 --silent \
    -o "${server_opts[*]} -c listen_addresses=''" start >&2
  trap 'pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop >&2 || true' EXIT
  for db in template1 postgres; do
    sql=""
    while read -r ext; do
      case "$ext" in ''|'#'*) continue ;; esac
      if [ "$ext" = pg_cron ] && [ "$db" != postgres ]; then continue; fi
      if [ "$ext" = pg_partman ]; then
        sql+="CREATE SCHEMA IF NOT EXISTS partman; CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;"$'\n'
      else
        sql+="CREATE EXTENSION IF NOT EXISTS \"$ext\" CASCADE;"$'\n'
      fi
    done < /usr/share/core_data/extensions.txt
    psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --username="$superuser" --dbname="$db" <<<"$sql" >&2
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop >&2
  trap - EXIT
  touch "$sentinel"
  log "first boot complete"
fi

log "starting PostgreSQL $(postgres --version | awk '{print $3}')"
exec postgres "${server_opts[@]}"
