#!/bin/bash
# core_data entrypoint: initdb once, first-boot SQL and the pgBackRest stanza
# until they have succeeded once, then exec the server on the configuration
# rendered by `cargo xtask` into /etc/core_data/conf (extra arguments after
# `postgres` are passed to the server). Safe to run on every start: each step
# checks its own state.
set -Eeuo pipefail

conf_dir=${CORE_DATA_CONF_DIR:-/etc/core_data/conf}
secrets_dir=${CORE_DATA_SECRETS_DIR:-/run/secrets}
superuser=${POSTGRES_SUPERUSER:-postgres}
waldir=/var/lib/postgresql/wal/pg_wal
stanza=${CORE_DATA_STANZA:-main}
sentinel="$PGDATA/core_data.first_boot_done"

log() { printf 'core_data-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" != 0 ] || die "refusing to run as root; set the container user to the postgres UID"
[ "${1:-postgres}" = postgres ] || exec "$@"

for required in "$conf_dir/postgresql.conf" "$conf_dir/pg_hba.conf" "$conf_dir/pg_ident.conf" "$conf_dir/pgbackrest.conf" \
                "$secrets_dir/postgres_superuser_password" "$secrets_dir/server.crt" "$secrets_dir/server.key"; do
  [ -r "$required" ] || die "\`$required\` is missing or unreadable; run \`cargo xtask init\` and \`cargo xtask up\`"
done

server_opts=(-c "config_file=$conf_dir/postgresql.conf")

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  log "initialising a new cluster in $PGDATA (data checksums, WAL in $waldir)"
  # A half-finished initdb leaves files behind that make the next one refuse.
  rm -rf "$PGDATA" "$waldir"
  install -d -m 0700 "$PGDATA"
  initdb --pgdata="$PGDATA" --waldir="$waldir" --data-checksums \
    --username="$superuser" --pwfile="$secrets_dir/postgres_superuser_password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --locale-provider=builtin --builtin-locale=C.UTF-8 >&2
fi

if [ ! -e "$sentinel" ]; then
  log "running first-boot SQL (extension bundle in template1 and postgres)"
  # No archiving while the stanza may not exist yet (nothing before it is backed
  # up anyway), and a private socket: the health check must not see this
  # temporary server and report the container healthy before first boot ends.
  first_boot_socket=/tmp/core_data-first-boot
  install -d -m 0700 "$first_boot_socket"
  pg_ctl --pgdata="$PGDATA" --wait --timeout=120 --silent \
    -o "${server_opts[*]} -c listen_addresses='' -c archive_mode=off -c unix_socket_directories=$first_boot_socket" start >&2
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
    psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --host="$first_boot_socket" --username="$superuser" --dbname="$db" <<<"$sql" >&2
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop >&2
  trap - EXIT
  touch "$sentinel"
  log "first boot complete"
fi

# The pgBackRest stanza exists before archiving starts: created (or checked;
# it is idempotent) from pg_control while the cluster is stopped.
if ! pgbackrest --stanza="$stanza" --log-level-console=warn --no-online stanza-create >&2; then
  log "warning: pgBackRest stanza \`$stanza\` could not be created or checked; WAL archiving will fail until \`cargo xtask backup check\` passes"
fi

log "starting PostgreSQL $(postgres --version | awk '{print $3}')"
shift || true
exec postgres "${server_opts[@]}" "$@"
