#!/bin/bash
# A small memcached client over bash's /dev/tcp, for the health check, the
# CLI's `memcached stats` and the tests (the image ships no other client that
# speaks memcached's ASCII authentication).
#   core-data-memcached health               authenticate, `version`
#   core-data-memcached stats [HOST [PORT]]  authenticate, print `stats`
#   core-data-memcached relay HOST PORT      stdin to the server, its replies to stdout
#                                            (end the input with `quit`; 5 s at most)
# The credentials are the first `user:password` line of the mounted auth file;
# they cross no argv and no environment.
set -Eeuo pipefail
export LC_ALL=C
auth_file=/run/secrets/memcached_auth

# The ASCII authentication command: a `set` whose data is `user password`.
auth_command() {
  local line user password token
  IFS= read -r line < "$auth_file" || [ -n "$line" ] || { echo "no credentials in $auth_file" >&2; exit 1; }
  user=${line%%:*}
  password=${line#*:}
  token="$user $password"
  printf 'set core_data_auth 0 0 %d\r\n%s\r\n' "${#token}" "$token"
}

# Sends the authentication and then `$3`, returns every reply line (without CR).
session() {
  local host=$1 port=$2 commands=$3 reply
  exec 3<>"/dev/tcp/$host/$port"
  { auth_command; printf '%b' "$commands"; } >&3
  reply=$(timeout 10 cat <&3 | tr -d '\r')
  exec 3<&-
  case "$reply" in
    STORED*) printf '%s\n' "${reply#STORED$'\n'}" ;;
    *) echo "authentication refused: ${reply%%$'\n'*}" >&2; exit 1 ;;
  esac
}

case "${1:-}" in
  health)
    version=$(session 127.0.0.1 11211 'version\r\nquit\r\n')
    case "$version" in VERSION*) echo "healthy: $version" ;; *) echo "version answered: $version"; exit 1 ;; esac
    ;;
  stats)
    session "${2:-127.0.0.1}" "${3:-11211}" 'stats\r\nquit\r\n'
    ;;
  relay)
    [ $# -eq 3 ] || { echo "usage: core-data-memcached relay HOST PORT" >&2; exit 2; }
    exec 3<>"/dev/tcp/$2/$3"
    timeout 5 cat <&3 &
    reader=$!
    cat >&3
    wait "$reader"
    ;;
  *)
    echo "usage: core-data-memcached health | stats [HOST [PORT]] | relay HOST PORT" >&2
    exit 2
    ;;
esac
