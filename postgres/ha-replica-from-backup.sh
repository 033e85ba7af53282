#!/bin/bash
# core-data-ha-replica-from-backup: Patroni's `pgbackrest` replica method in the
# `ha` topology (postgres/ha/patroni.yml.j2, create_replica_methods). A new or
# reinitialised replica is restored from the newest backup set of the
# repository every node shares, with pg_wal linked to the node's WAL volume and
# recovery fetching archived WAL from the repository; Patroni then starts it as
# a standby of the leader, which streams only what the archive does not have.
# That spares the leader a full copy per replica. Without a backup set (a new
# cluster) it exits 1 and Patroni falls back to pg_basebackup from the leader.
set -Eeuo pipefail
stanza=${CORE_DATA_STANZA:-main}
data=/var/lib/postgresql/data/pgdata
wal=/var/lib/postgresql/wal/pg_wal
log() { printf 'core_data-ha-replica-from-backup: %s\n' "$*" >&2; }

info=$(pgbackrest --stanza="$stanza" --output=json info 2>/dev/null || true)
set_label=$(printf '%s' "$info" | python3 -c '
import json, sys
try:
    stanzas = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
sets = [b for s in stanzas for b in s.get("backup", [])]
if sets:
    print(sets[-1]["label"])
')
if [ -z "$set_label" ]; then
  log "no backup set in the repository; Patroni falls back to pg_basebackup"
  exit 1
fi
log "restoring backup set $set_label into $data (WAL at $wal)"
install -d -m 0700 "$data"
install -d -m 0700 "$wal"
pgbackrest --stanza="$stanza" --log-level-console=warn \
  --pg1-path="$data" --link-all --link-map=pg_wal="$wal" --delta \
  --set="$set_label" --type=standby \
  --recovery-option="restore_command=pgbackrest --stanza=$stanza archive-get %f \"%p\"" \
  restore
log "restored backup set $set_label; Patroni starts it as a replica"
