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

# The newest set a replica of the current timeline can start from: the newest
# timeline is the one with the highest history file in the archive (where a
# promotion puts it, and what recovery_target_timeline=latest follows). A set
# of that timeline will do; a set of an older timeline only when it ended
# before the newest timeline's history left that timeline (a set taken on a
# timeline past the point a failover or a restore forked from cannot become a
# replica of the fork). None fits: exit 1, and Patroni uses pg_basebackup.
info=$(pgbackrest --stanza="$stanza" --output=json info 2>/dev/null || true)
history_dir=$(mktemp -d)
trap 'rm -rf "$history_dir"' EXIT
newest_history=$(pgbackrest --stanza="$stanza" --output=json --recurse --filter='\.history$' repo-ls archive/"$stanza" 2>/dev/null \
  | python3 -c '
import json, re, sys
try:
    names = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
tls = [int(m.group(1), 16) for n in names for m in [re.search(r"(?:^|/)([0-9A-F]{8})\.history$", n)] if m]
if tls:
    print("%08X.history" % max(tls))
' || true)
if [ -n "$newest_history" ]; then
  pgbackrest --stanza="$stanza" --log-level-console=warn archive-get "$newest_history" "$history_dir/newest.history" || true
fi
set_label=$(printf '%s' "$info" | HISTORY="$history_dir/newest.history" NEWEST="$newest_history" python3 -c '
import json, os, sys

def lsn(text):
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)

try:
    stanzas = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
newest = int(os.environ["NEWEST"][:8], 16) if os.environ.get("NEWEST") else 1
ended = {}
try:
    with open(os.environ["HISTORY"]) as history:
        for line in history:
            fields = line.split()
            if len(fields) >= 2 and fields[0].isdigit():
                ended[int(fields[0])] = lsn(fields[1])
except OSError:
    pass
sets = [b for s in stanzas for b in s.get("backup", [])]
for b in reversed(sets):
    timeline = int(b["archive"]["stop"][:8], 16)
    stop = lsn(b["lsn"]["stop"])
    if timeline == newest or (timeline in ended and stop <= ended[timeline]):
        print(b["label"])
        break
')
if [ -z "$set_label" ]; then
  log "no backup set in the repository that the newest timeline ${newest_history:-1} can follow; Patroni falls back to pg_basebackup"
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
