#!/bin/bash
# core_data logical backup sidecar (the `logical_backup` compose service).
#
# Every LOGICAL_BACKUP_INTERVAL_SECONDS it dumps every database except templates,
# LOGICAL_BACKUP_EXCLUDE and in-flight restores (`core_data_restore_*`), plus the
# globals (`pg_dumpall --globals-only --no-role-passwords`), into
# /backups/logical/<UTC timestamp>/ (written as `.partial`, renamed when complete,
# `.failed` when any dump failed), one `<name>.dump` per database (a name with
# characters other than `A-Za-z0-9_-` gets them replaced and `.` plus 16 hex
# digits of its SHA-256 appended, so two databases never share a file) with a
# `<name>.dump.sha256` manifest beside it; prunes runs older than
# LOGICAL_BACKUP_RETENTION_SECONDS (never the newest successful one), and writes
# /backups/logical/status.json (last success, last failure and its error, sizes
# and durations of the last run).
#
# It connects over TLS (verify-full against /run/secrets/ca.crt, host `postgres`)
# as the least-privileged role `core_data_backup` (member of pg_read_all_data);
# its password reaches libpq through a passfile in the tmpfs, never env or argv.
#
# Every file is created exclusively (`set -o noclobber`): nothing is ever
# truncated or written through a planted link; replaced files are renamed over.
#
# `core-data-logical-backup health` is the container's health check: unhealthy
# when the last run failed or the last success is older than two intervals.
set -Eeuo pipefail
set -o noclobber

interval=${LOGICAL_BACKUP_INTERVAL_SECONDS:-86400}
retention=${LOGICAL_BACKUP_RETENTION_SECONDS:-604800}
exclude=${LOGICAL_BACKUP_EXCLUDE:-}
role=${LOGICAL_BACKUP_ROLE:-core_data_backup}
server=${LOGICAL_BACKUP_HOST:-postgres}
port=${LOGICAL_BACKUP_PORT:-5432}
secrets_dir=${CORE_DATA_SECRETS_DIR:-/run/secrets}
root=${LOGICAL_BACKUP_DIR:-/backups/logical}
state="$root/.state"
last_error="$root/.last_error"
status="$root/status.json"
started_file=/tmp/core_data-logical-backup.started
passfile=/tmp/core_data-logical-backup.pgpass
temp_prefix=core_data_restore_

log() { printf 'core_data-logical-backup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $interval =~ ^[0-9]+$ && $interval -gt 0 ]] || die "LOGICAL_BACKUP_INTERVAL_SECONDS=\`$interval\` is not a positive number of seconds"
[[ $retention =~ ^[0-9]+$ ]] || die "LOGICAL_BACKUP_RETENTION_SECONDS=\`$retention\` is not a number of seconds"

# --- persistent state: key=value lines (never sourced) -----------------------
declare -A st=()
read_state() {
  st=()
  [ -r "$state" ] || return 0
  local key value
  while IFS='=' read -r key value; do
    [ -n "$key" ] && st[$key]=$value
  done < "$state"
}
write_state() {
  local key
  rm -f -- "$state.tmp"
  for key in "${!st[@]}"; do printf '%s=%s\n' "$key" "${st[$key]}"; done > "$state.tmp"
  mv -f "$state.tmp" "$state"
}

# --- health check ----------------------------------------------------------
health() {
  local now started=0 success ref
  now=$(date +%s)
  read_state
  [ -r "$started_file" ] && started=$(< "$started_file")
  if [ "${st[last_result]:-}" = failed ]; then
    local error=""
    [ -r "$last_error" ] && error=$(head -c 400 "$last_error" | tr '\n' ' ')
    echo "last run failed at ${st[last_failure]:-?}: $error"
    exit 1
  fi
  success=${st[last_success_epoch]:-0}
  ref=$(( success > started ? success : started ))
  if (( now - ref > 2 * interval + 30 )); then
    echo "overdue: last success ${st[last_success]:-never}, interval ${interval}s"
    exit 1
  fi
  echo "ok: last success ${st[last_success]:-none yet}"
  exit 0
}
if [ "${1:-run}" = health ]; then health; fi
[ "${1:-run}" = run ] || die "usage: core-data-logical-backup [run|health]"
[ "$(id -u)" != 0 ] || die "refusing to run as root; set the container user to the postgres UID"

# --- signals: SIGTERM ends a sleep or a dump promptly ------------------------
stopping=0
child=0
on_term() {
  stopping=1
  if [ "$child" != 0 ]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap on_term TERM INT
# Runs a command in the background and waits, so a signal interrupts the wait.
run_bg() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  # A signal interrupts `wait`; collect the child before going on.
  if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then wait "$child" || rc=$?; fi
  child=0
  return "$rc"
}

# --- helpers ----------------------------------------------------------------
json_str() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}
json_opt() { if [ -n "${1:-}" ]; then json_str "$1"; else printf 'null'; fi; }
num_opt() { if [ -n "${1:-}" ]; then printf '%s' "$1"; else printf 'null'; fi; }
now_us() { local t=${EPOCHREALTIME//[^0-9]/}; printf '%s' "$t"; }
seconds_since() {
  local us=$(( $(now_us) - $1 ))
  printf '%d.%03d' $(( us / 1000000 )) $(( (us / 1000) % 1000 ))
}
# A libpq conninfo value: quoted, with backslashes and quotes escaped.
conninfo_db() { local s=${1//\\/\\\\}; s=${s//\'/\\\'}; printf "dbname='%s'" "$s"; }
passfile_field() { local s=${1//\\/\\\\}; s=${s//:/\\:}; printf '%s' "$s"; }
# The file name of a database: as is when it is only `A-Za-z0-9_-`, else cleaned
# byte by byte plus `.` and 16 hex digits of its SHA-256 (as `file_stem` in Rust).
file_stem() {
  local db=$1 clean
  clean=$(printf '%s' "$db" | LC_ALL=C tr -c 'A-Za-z0-9_-' '_'; printf x)
  clean=${clean%x}
  if [ "$clean" != "$db" ]; then
    clean+=".$(printf '%s' "$db" | sha256sum | cut -c1-16)"
  fi
  printf '%s' "$clean"
}
is_excluded() {
  local db=$1 name
  [[ $db == "$temp_prefix"* ]] && return 0
  for name in "${excluded[@]}"; do [ "$name" = "$db" ] && return 0; done
  return 1
}

IFS=, read -r -a excluded <<< "$exclude"

# --- connection settings: TLS verify-full, password from a tmpfs passfile ----
password_file="$secrets_dir/core_data_backup_password"
[ -r "$password_file" ] || die "\`$password_file\` is missing or unreadable; run \`cargo xtask up\` to generate it"
[ -r "$secrets_dir/ca.crt" ] || die "\`$secrets_dir/ca.crt\` is missing; run \`cargo xtask up\`"
rm -f -- "$passfile"
(
  umask 077
  password=$(< "$password_file")
  printf '%s:%s:*:%s:%s\n' "$(passfile_field "$server")" "$port" "$(passfile_field "$role")" "$(passfile_field "$password")" > "$passfile"
)
chmod 0600 "$passfile"
export PGHOST=$server PGPORT=$port PGUSER=$role PGPASSFILE=$passfile PGSSLMODE=verify-full \
  PGSSLROOTCERT=$secrets_dir/ca.crt PGCONNECT_TIMEOUT=10 PGAPPNAME=core_data_logical_backup
unset PGPASSWORD PGSERVICE

umask 027
mkdir -p "$root"
rm -f -- "$started_file"
date +%s > "$started_file"

# --- one run ----------------------------------------------------------------
run_once() {
  local ts dir started_iso started_epoch t0 ok=1 error="" db file t bytes dbs=() entries=() globals="null" list_err
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  started_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  started_epoch=$(date +%s)
  t0=$(now_us)
  dir="$root/$ts.partial"
  mkdir -- "$dir" || { log "error: cannot create \`$dir\` (it must not exist yet)"; return 1; }
  list_err="$dir/.list.err"

  if run_bg psql --no-psqlrc -XAtq --record-separator-zero --dbname="dbname=postgres" \
       --command="SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname" \
       > "$dir/.databases" 2> "$list_err"; then
    while IFS= read -r -d '' db || [ -n "$db" ]; do dbs+=("$db"); done < "$dir/.databases"
  else
    ok=0
    error="listing databases failed: $(tail -c 2000 "$list_err")"
  fi
  rm -f "$dir/.databases" "$list_err"

  for db in "${dbs[@]}"; do
    if is_excluded "$db"; then continue; fi
    [ "$stopping" = 1 ] && break
    file="$(file_stem "$db").dump"
    t=$(now_us)
    rm -f -- "$dir/.err"
    # noclobber: a taken name (never expected: names are unique) fails instead of overwriting.
    if run_bg pg_dump --format=custom --compress=zstd:3 --dbname="$(conninfo_db "$db")" 2> "$dir/.err" > "$dir/$file" \
        && (cd "$dir" && sha256sum -- "$file") > "$dir/$file.sha256"; then
      bytes=$(stat -c %s "$dir/$file")
      entries+=("{\"name\": $(json_str "$db"), \"file\": $(json_str "$file"), \"ok\": true, \"bytes\": $bytes, \"seconds\": $(seconds_since "$t"), \"error\": null}")
      log "dumped \`$db\` ($bytes bytes)"
    else
      local message
      message=$(tail -c 2000 "$dir/.err")
      [ -n "$message" ] || message="pg_dump exited with an error and printed nothing (or \`$file\` exists already and was not overwritten)"
      ok=0
      error+="${error:+; }pg_dump of \`$db\` failed: $message"
      entries+=("{\"name\": $(json_str "$db"), \"file\": null, \"ok\": false, \"bytes\": 0, \"seconds\": $(seconds_since "$t"), \"error\": $(json_str "$message")}")
      log "error: pg_dump of \`$db\` failed: $message"
    fi
  done

  if [ "$stopping" != 1 ]; then
    t=$(now_us)
    rm -f -- "$dir/.err"
    if run_bg pg_dumpall --globals-only --no-role-passwords --dbname="dbname=postgres" > "$dir/globals.sql" 2> "$dir/.err" \
        && (cd "$dir" && sha256sum -- globals.sql) > "$dir/globals.sql.sha256"; then
      bytes=$(stat -c %s "$dir/globals.sql")
      globals="{\"name\": \"globals\", \"file\": \"globals.sql\", \"ok\": true, \"bytes\": $bytes, \"seconds\": $(seconds_since "$t"), \"error\": null}"
    else
      local message
      message=$(tail -c 2000 "$dir/.err")
      ok=0
      error+="${error:+; }pg_dumpall --globals-only failed: $message"
      globals="{\"name\": \"globals\", \"file\": null, \"ok\": false, \"bytes\": 0, \"seconds\": $(seconds_since "$t"), \"error\": $(json_str "$message")}"
    fi
  fi
  rm -f "$dir/.err"

  if [ "$stopping" = 1 ]; then
    rm -rf -- "$dir"
    log "stopping: abandoned the run in progress"
    return 0
  fi

  local final_name finished_iso finished_epoch
  finished_iso=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  finished_epoch=$(date +%s)
  read_state
  if [ "$ok" = 1 ]; then
    final_name=$ts
    st[last_result]=ok
    st[last_success]=$finished_iso
    st[last_success_epoch]=$finished_epoch
    st[last_success_directory]=$final_name
  else
    final_name=$ts.failed
    st[last_result]=failed
    st[last_failure]=$finished_iso
    st[last_failure_epoch]=$finished_epoch
    rm -f -- "$last_error.tmp"
    printf '%s' "$error" > "$last_error.tmp"
    mv -f "$last_error.tmp" "$last_error"
  fi
  # -T: never into an existing directory of that name.
  mv -T -- "$dir" "$root/$final_name"
  write_state

  local joined="" entry failure_error=""
  for entry in "${entries[@]}"; do joined+="${joined:+,$'\n'    }$entry"; done
  [ -r "$last_error" ] && failure_error=$(< "$last_error")
  local excluded_json="" name
  for name in "${excluded[@]}"; do [ -n "$name" ] && excluded_json+="${excluded_json:+, }$(json_str "$name")"; done
  rm -f -- "$status.tmp"
  {
    printf '{\n'
    printf '  "version": 1,\n'
    printf '  "interval_seconds": %s,\n' "$interval"
    printf '  "retention_seconds": %s,\n' "$retention"
    printf '  "excluded": [%s],\n' "$excluded_json"
    printf '  "last_success": %s,\n' "$(json_opt "${st[last_success]:-}")"
    printf '  "last_success_epoch": %s,\n' "$(num_opt "${st[last_success_epoch]:-}")"
    printf '  "last_success_directory": %s,\n' "$(json_opt "${st[last_success_directory]:-}")"
    printf '  "last_failure": %s,\n' "$(json_opt "${st[last_failure]:-}")"
    printf '  "last_failure_epoch": %s,\n' "$(num_opt "${st[last_failure_epoch]:-}")"
    printf '  "last_failure_error": %s,\n' "$(json_opt "$failure_error")"
    printf '  "last_run": {\n'
    printf '    "ok": %s,\n' "$([ "$ok" = 1 ] && echo true || echo false)"
    printf '    "started": %s,\n' "$(json_str "$started_iso")"
    printf '    "started_epoch": %s,\n' "$started_epoch"
    printf '    "finished": %s,\n' "$(json_str "$finished_iso")"
    printf '    "finished_epoch": %s,\n' "$finished_epoch"
    printf '    "seconds": %s,\n' "$(seconds_since "$t0")"
    printf '    "directory": %s,\n' "$(json_str "$final_name")"
    printf '    "error": %s,\n' "$(json_opt "$error")"
    printf '    "databases": [\n    %s\n    ],\n' "$joined"
    printf '    "globals": %s\n' "$globals"
    printf '  }\n'
    printf '}\n'
  } > "$status.tmp"
  mv -f "$status.tmp" "$status"
  if [ "$ok" = 1 ]; then
    log "run $final_name complete in $(seconds_since "$t0")s"
  else
    log "error: run $final_name failed: $error"
  fi
  prune "$root/$final_name"
}

# Removes runs older than the retention, except the newest successful one.
prune() {
  local keep=$1 now d name modified
  now=$(date +%s)
  for d in "$root"/*/; do
    d=${d%/}
    name=${d##*/}
    [[ $name =~ ^[0-9]{8}T[0-9]{6}Z(\.partial|\.failed)?$ ]] || continue
    [ "$d" = "$keep" ] && continue
    [ "$name" = "${st[last_success_directory]:-}" ] && continue
    modified=$(stat -c %Y "$d")
    if (( now - modified > retention )); then
      rm -rf -- "$d"
      log "pruned $name (older than ${retention}s)"
    fi
  done
}

# The role is created by `cargo xtask up` after the server is healthy: wait for it.
wait_for_server() {
  local deadline=$(( $(date +%s) + 600 )) said=0
  until rm -f /tmp/core_data-logical-backup.wait && psql --no-psqlrc -XAtq --dbname="dbname=postgres" --command='SELECT 1' > /dev/null 2> /tmp/core_data-logical-backup.wait; do
    [ "$stopping" = 1 ] && exit 0
    if [ "$said" = 0 ]; then log "waiting for \`$server\` to accept \`$role\`: $(head -c 300 /tmp/core_data-logical-backup.wait)"; said=1; fi
    if (( $(date +%s) > deadline )); then log "still not reachable after 600s; trying the run anyway"; return 0; fi
    run_bg sleep 2 || true
  done
}

log "starting: every ${interval}s into $root, retention ${retention}s${exclude:+, excluding $exclude}"
wait_for_server
while [ "$stopping" != 1 ]; do
  run_once || log "error: the run stopped unexpectedly (exit $?)"
  [ "$stopping" = 1 ] && break
  # After a failure (a restart of the server, say) retry sooner than a whole interval.
  if [ "${st[last_result]:-}" = failed ] && (( interval > 300 )); then
    log "retrying in 300s after the failed run"
    run_bg sleep 300 || true
  else
    run_bg sleep "$interval" || true
  fi
done
log "stopped"
