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

# The `ha` topology (compose/ha.yaml): Patroni runs this node. It initialises the
# cluster on the first node (its bootstrap, then core-data-ha-post-bootstrap),
# clones the others, and starts, stops, promotes and rewinds PostgreSQL on the
# same rendered configuration. Nothing below applies to it.
if [ "${CORE_DATA_HA:-0}" = 1 ]; then
  node=${PATRONI_NAME:?PATRONI_NAME is not set (compose/ha.yaml sets it per node)}
  [ -r "$secrets_dir/patroni.yml" ] || die "\`$secrets_dir/patroni.yml\` is missing or unreadable; run \`cargo xtask up\`"
  install -d -m 0700 "$(dirname "$PGDATA")/core_data.sockets"
  export PATRONI_RESTAPI_CONNECT_ADDRESS="$node:8008" PATRONI_POSTGRESQL_CONNECT_ADDRESS="$node:5432"
  log "starting Patroni for node $node (PostgreSQL $(postgres --version | awk '{print $3}'))"
  exec patroni "$secrets_dir/patroni.yml"
fi

server_opts=(-c "config_file=$conf_dir/postgresql.conf")
data_root=$(dirname "$PGDATA")
wal_root=$(dirname "$waldir")
repo=/var/lib/pgbackrest
initdb_marker="$data_root/core_data.initdb-in-progress"
new_cluster_marker="$data_root/core_data.allow-new-cluster"
refuse() {
  log "error: $*"
  log "nothing was changed; the server was not started"
  exit 78
}

# Decision table (ARCHITECTURE.md, "The entrypoint never guesses"):
#   restore swap marker present          -> refuse (a restore is moving directories)
#   restore journal, no signal file, the
#   control file "in archive recovery"   -> refuse (a promotion cut short; `up` rolls back)
#   initdb marker present                -> a half-finished initdb (ours: the marker is written just
#                                           before initdb and removed after): remove PGDATA and the
#                                           WAL dir only, then decide again
#   PGDATA/PG_VERSION of another major   -> refuse (`cargo xtask upgrade` moves it)
#   PGDATA/PG_VERSION non-empty          -> start the existing cluster
#   volumes hold anything else           -> refuse, listing it
#   repository holds a stanza, no marker -> refuse (restore it, or `up --new-cluster --yes`)
#   genuinely empty                      -> initdb
if [ -e "$data_root/core_data.restore-swapping" ]; then
  refuse "a restore was interrupted while it moved data directories; run \`cargo xtask up\` to finish or roll it back"
fi
# A restored cluster whose promotion was cut short (a restore journal in the data volume, no
# signal file, the control file still "in archive recovery") would start with crash recovery,
# which replays all of pg_wal, past the restore's target. Only `cargo xtask up` decides (it rolls
# the restore back).
if [ -e "$data_root/core_data.restore.json" ] && [ -s "$PGDATA/PG_VERSION" ] \
   && [ ! -e "$PGDATA/recovery.signal" ] && [ ! -e "$PGDATA/standby.signal" ] \
   && pg_controldata "$PGDATA" 2>/dev/null | grep -q '^Database cluster state: *in archive recovery$'; then
  refuse "a restored cluster was stopped while it ended recovery; starting it would replay WAL past the restore's target. Run \`cargo xtask up\` to roll the restore back"
fi
if [ -e "$initdb_marker" ]; then
  log "a previous initdb did not finish (its marker is present); removing its partial cluster"
  rm -rf -- "$PGDATA" "$waldir"
  rm -f -- "$initdb_marker"
fi
if [ -s "$PGDATA/PG_VERSION" ] && [ "$(cat "$PGDATA/PG_VERSION")" != "$PG_MAJOR" ]; then
  refuse "the cluster in $PGDATA is PostgreSQL $(cat "$PGDATA/PG_VERSION") and this image runs $PG_MAJOR. \
To move the data to $PG_MAJOR: \`cargo xtask upgrade --check\`, then \`cargo xtask upgrade --yes\`; \
to keep running $(cat "$PGDATA/PG_VERSION"), set PG_MAJOR=$(cat "$PGDATA/PG_VERSION") in .env"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  leftovers=$(find "$data_root" "$wal_root" -mindepth 1 -maxdepth 1 \
    ! -name lost+found ! -name core_data.allow-new-cluster ! -name core_data.sockets \
    ! \( -path "$PGDATA" -empty \) ! \( -path "$waldir" -empty \) -printf '%p ')
  if [ -n "$leftovers" ]; then
    refuse "no cluster in $PGDATA (PG_VERSION is missing or empty) but the volumes are not empty: $leftovers- \
this is not a new installation, so no new cluster is created over it. If a restore was interrupted, \
\`cargo xtask up\` finishes it; to bring a backup back, \`cargo xtask restore --yes\`; otherwise inspect the volumes"
  fi
  if [ -e "$repo/archive/$stanza/archive.info" ] || [ -e "$repo/backup/$stanza/backup.info" ]; then
    if [ ! -e "$new_cluster_marker" ]; then
      refuse "the data volume is empty but the backup repository holds stanza \`$stanza\` of an existing cluster. \
To bring that cluster back: \`cargo xtask restore --yes\`. To start a new, empty cluster that takes the repository over: \
\`cargo xtask up --new-cluster --yes\`"
    fi
    log "starting a new cluster over the existing repository, as \`cargo xtask up --new-cluster --yes\` asked"
  fi
  log "initialising a new cluster in $PGDATA (data checksums, WAL in $waldir)"
  touch "$initdb_marker"
  install -d -m 0700 "$PGDATA"
  # PostgreSQL 17's builtin C.UTF-8 provider; earlier majors use libc's C.UTF-8.
  locale_opts=(--locale=C.UTF-8)
  if [ "$PG_MAJOR" -ge 17 ]; then
    locale_opts+=(--locale-provider=builtin --builtin-locale=C.UTF-8)
  fi
  initdb --pgdata="$PGDATA" --waldir="$waldir" --data-checksums \
    --username="$superuser" --pwfile="$secrets_dir/postgres_superuser_password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    --encoding=UTF8 "${locale_opts[@]}" >&2
  sync
  rm -f -- "$initdb_marker"
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
  # template1 and postgres in parallel: each CREATE EXTENSION runs in one backend, so two
  # sessions use two cores (the bundle is most of first boot's time).
  pids=()
  for db in template1 postgres; do
    sql=$(core-data-bundle-sql "$db")
    psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --host="$first_boot_socket" --username="$superuser" --dbname="$db" <<<"$sql" >&2 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || die "first-boot SQL failed (see above); the next start runs it again"
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop >&2
  trap - EXIT
  touch "$sentinel"
  log "first boot complete"
fi

# The pgBackRest stanza exists before archiving starts: created (or checked;
# it is idempotent) from pg_control while the cluster is stopped. A stanza of
# another cluster is fatal: archiving into it would fail, and backups with it.
if ! stanza_out=$(pgbackrest --stanza="$stanza" --log-level-console=warn --no-online stanza-create 2>&1); then
  if [ -e "$new_cluster_marker" ]; then
    log "taking the repository's stanza \`$stanza\` over for the new cluster (stanza-upgrade)"
    pgbackrest --stanza="$stanza" --log-level-console=warn --no-online stanza-upgrade >&2 \
      || refuse "pgBackRest could not take stanza \`$stanza\` over for the new cluster"
  else
    printf '%s\n' "$stanza_out" >&2
    refuse "the backup repository's stanza \`$stanza\` does not match this cluster, so WAL archiving and backups would fail. \
If the data volume belongs to another installation, put the right one back; to restore this repository's cluster, \
\`cargo xtask restore --yes\`"
  fi
fi
rm -f -- "$new_cluster_marker"

# The server's first socket directory (postgresql.conf), in the data volume.
install -d -m 0700 "$data_root/core_data.sockets"
log "starting PostgreSQL $(postgres --version | awk '{print $3}')"
shift || true
exec postgres "${server_opts[@]}" "$@"
