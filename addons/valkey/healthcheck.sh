#!/bin/bash
# Health check: PING over TLS as the `health` ACL user, whose only command is PING.
set -Eeuo pipefail
reply=$(core-data-valkey-cli health PING < /run/secrets/valkey_health_password)
[ "$reply" = PONG ] || { echo "PING answered: $reply"; exit 1; }
echo healthy
