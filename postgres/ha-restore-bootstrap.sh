#!/bin/bash
# core-data-ha-restore-bootstrap: Patroni's custom bootstrap method during
# `cargo xtask restore` on the `ha` topology. The command has already restored
# the backup set with pgBackRest into staging directories beside the node's
# (set-aside) data and WAL directories, with the recovery settings (target,
# restore_command) pgBackRest writes; this moves them into place. Patroni then
# keeps those settings (keep_existing_recovery_conf), starts the server, waits
# for the end of recovery and the promotion, and makes this node the leader of
# a cluster the other nodes join as new replicas.
# When a failed restore rolls back (--hold_timeline=yes), the "staged" directories
# are the old leader's own, set aside: they are moved back with recovery on their
# current timeline (restore_command from the archive, recovery.signal), so the
# server replays what it has, promotes to a new timeline and leads again. A
# standby following `latest` would refuse the newer timeline the failed restore
# may have archived ("requested timeline is not a child").
# Arguments (Patroni's): --scope=… --datadir=… --staging=… --staging_wal=… --id=… --hold_timeline=yes|no
set -Eeuo pipefail
log() { printf 'core_data-ha-restore-bootstrap: %s\n' "$*" >&2; }
data="" staging="" staging_wal="" id="" hold=no
for arg in "$@"; do
  case "$arg" in
    --datadir=*) data=${arg#*=} ;;
    --staging=*) staging=${arg#*=} ;;
    --staging_wal=*) staging_wal=${arg#*=} ;;
    --id=*) id=${arg#*=} ;;
    --hold_timeline=*) hold=${arg#*=} ;;
  esac
done
wal=/var/lib/postgresql/wal/pg_wal
if [ -z "$data" ] || [ -z "$staging" ] || [ -z "$staging_wal" ] || [ -z "$id" ]; then
  log "error: --datadir, --staging, --staging_wal and --id are required"
  exit 1
fi
if [ ! -d "$staging" ] || [ ! -d "$staging_wal" ]; then
  log "error: the staged restore ($staging, $staging_wal) is not there; nothing to bootstrap from"
  exit 1
fi
for live in "$data" "$wal"; do
  if [ -e "$live" ] && [ -n "$(ls -A "$live")" ]; then
    log "error: $live is not empty; refusing to move the restore over it"
    exit 1
  fi
  if [ -d "$live" ]; then rmdir "$live"; fi
done
if [ "$hold" = yes ]; then
  # The old leader's own data: never marked (the mark means "this restore's copy").
  printf '%s\n' "# Added by core-data-ha-restore-bootstrap (rollback of restore $id)" \
    "restore_command = 'pgbackrest --stanza=${CORE_DATA_STANZA:-main} archive-get %f \"%p\"'" \
    "recovery_target_timeline = 'current'" >> "$staging/postgresql.auto.conf"
  : > "$staging/recovery.signal"
else
  # Marks the directory as this restore's: if Patroni sets it aside after a failed
  # recovery (as ${data}_<time>), the rollback knows it for its own.
  printf '%s\n' "$id" > "$staging/core_data.ha-restore-id"
fi
mv --no-target-directory "$staging_wal" "$wal"
mv --no-target-directory "$staging" "$data"
sync
log "restore $id moved into place ($data, WAL at $wal); Patroni starts its recovery"
