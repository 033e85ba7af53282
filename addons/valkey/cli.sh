#!/bin/bash
# valkey-cli against this container's server over TLS (the stack's CA, the
# certificate's name `valkey`) as ACL user $1; the password is the first line of
# stdin (`--askpass`), so it is never on argv or in the environment. The rest of
# stdin, if any, is valkey-cli's input (one command a line without arguments).
#   core-data-valkey-cli USER [ARG...]
set -Eeuo pipefail
[ $# -ge 1 ] || { echo "usage: core-data-valkey-cli USER [ARG...]" >&2; exit 2; }
user=$1
shift
exec valkey-cli --tls --cacert /run/secrets/ca.crt --sni valkey -h 127.0.0.1 -p 6379 \
  --no-auth-warning --user "$user" --askpass "$@"
