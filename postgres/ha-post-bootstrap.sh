#!/bin/bash
# core-data-ha-post-bootstrap: Patroni's `post_bootstrap` in the `ha` topology,
# run once on the node that initialised the cluster, with the new server up
# (Patroni passes a connection string; we use the socket as the OS user
# `postgres`). Installs the extension bundle in template1 and postgres (the
# entrypoint's first boot, for one server), then creates the pgBackRest stanza
# in the repository every node shares. A failure fails the bootstrap: Patroni
# removes the new cluster and the next start tries again.
set -Eeuo pipefail
superuser=${POSTGRES_SUPERUSER:-postgres}
stanza=${CORE_DATA_STANZA:-main}
log() { printf 'core_data-ha-post-bootstrap: %s\n' "$*" >&2; }

log "installing the extension bundle in template1 and postgres"
for db in template1 postgres; do
  core-data-bundle-sql "$db" \
    | psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --host=/tmp --username="$superuser" --dbname="$db" >&2
done
log "creating pgBackRest stanza \`$stanza\`"
pgbackrest --stanza="$stanza" --log-level-console=warn stanza-create >&2
log "done"
