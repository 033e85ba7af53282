#!/bin/bash
# core-data-bundle-sql DB: prints the SQL that installs the extension bundle
# (/usr/share/core_data/extensions.txt, the image's own list) into database DB.
# Used by the entrypoint's first boot and by the `ha` topology's post-bootstrap.
set -Eeuo pipefail
db=${1:?usage: core-data-bundle-sql DATABASE}
while read -r ext; do
  case "$ext" in ''|'#'*) continue ;; esac
  if [ "$ext" = pg_cron ] && [ "$db" != postgres ]; then continue; fi
  if [ "$ext" = pg_partman ]; then
    printf '%s\n' "CREATE SCHEMA IF NOT EXISTS partman; CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;"
  elif [ "${ext#postgis}" != "$ext" ]; then
    # PostGIS 3.3 (PostgreSQL 15's) refuses to install while pgaudit logs DDL.
    printf '%s\n' "SET pgaudit.log = 'none'; CREATE EXTENSION IF NOT EXISTS \"$ext\" CASCADE; RESET pgaudit.log;"
  else
    printf '%s\n' "CREATE EXTENSION IF NOT EXISTS \"$ext\" CASCADE;"
  fi
done < /usr/share/core_data/extensions.txt
