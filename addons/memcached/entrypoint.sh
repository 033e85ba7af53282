#!/bin/bash
# Starts memcached with the options of the rendered memcached.conf (one option
# a line, `#` comment lines and blank lines skipped), then any extra arguments.
set -Eeuo pipefail
conf=/etc/core_data/conf/memcached.conf
args=()
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in '' | '#'*) continue ;; esac
  args+=("$line")
done < "$conf"
exec memcached "${args[@]}" "$@"
