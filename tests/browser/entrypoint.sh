#!/bin/bash
# The test browser's entrypoint: trusts the CA mounted at $CA (if any) in the
# NSS database Chromium reads ($HOME/.pki/nssdb), then runs chromedriver on
# port 9515, accepting connections from the container's default gateway only:
# that is where a port published on the host's 127.0.0.1 arrives from.
set -euo pipefail

readonly CA=/etc/core_data/browser/ca.crt

nssdb="$HOME/.pki/nssdb"
mkdir -p "$nssdb"
chmod 0700 "$HOME/.pki" "$nssdb"
if [[ -f "$CA" ]]; then
    certutil -d "sql:$nssdb" -N --empty-password
    # "C,,": a CA trusted to issue server certificates, nothing else.
    certutil -d "sql:$nssdb" -A -t "C,," -n core_data-test-ca -i "$CA"
    echo "core-data-browser: trusting the CA in $CA"
fi

# The default route's gateway, from /proc/net/route (hex, little-endian).
gateway=""
while read -r _iface destination hex _rest; do
    if [[ "$destination" == "00000000" ]]; then
        gateway=$(printf '%d.%d.%d.%d' "0x${hex:6:2}" "0x${hex:4:2}" "0x${hex:2:2}" "0x${hex:0:2}")
        break
    fi
done < /proc/net/route
if [[ -z "$gateway" ]]; then
    echo "core-data-browser: no default route; the container needs a bridge network to publish chromedriver's port" >&2
    exit 1
fi
echo "core-data-browser: chromedriver accepts connections from $gateway only"
exec chromedriver --port=9515 --allowed-ips="$gateway" --log-level=WARNING
