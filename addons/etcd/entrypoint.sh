#!/bin/bash
# core_data etcd member: one of CORE_DATA_ETCD_NODES (1 or 3) members named
# etcd1…etcdN on the `dcs` network. TLS for clients and peers, and a client
# certificate signed by the stack's CA required of both (the nodes' Patroni
# holds one; nothing else on the network does). The data directory is the
# member's own volume; a member that has data rejoins with it.
# Authentication is on once `cargo xtask up` has run `core-data-etcd auth`: Patroni
# is the user `patroni`, which reads and writes its cluster's keys only.
# `core-data-etcd health` is the container's health check; `core-data-etcd ctl` runs etcdctl.
set -Eeuo pipefail

secrets=/run/secrets
name=${CORE_DATA_ETCD_NAME:?CORE_DATA_ETCD_NAME is not set}
nodes=${CORE_DATA_ETCD_NODES:-3}
# etcdctl here is etcd's admin user: the `etcd-admin` certificate's common name. The members'
# own certificate names no user (the gateway presents it as its client).
tls=(--cacert="$secrets/ca.crt" --cert="$secrets/etcd-admin.crt" --key="$secrets/etcd-admin.key")

if [ "${1:-}" = health ]; then
  exec etcdctl "${tls[@]}" --endpoints="https://127.0.0.1:2379" --command-timeout=3s endpoint health
fi
# `core-data-etcd ctl ARGS…`: etcdctl against this member with its certificate
# (what `cargo xtask restore` uses to clear the cluster's keys in Patroni's namespace).
if [ "${1:-}" = ctl ]; then
  shift
  exec etcdctl "${tls[@]}" --endpoints="https://127.0.0.1:2379" --command-timeout=10s "$@"
fi

# `core-data-etcd auth ADMIN PREFIX [sync]`, the `patroni` user's password on stdin:
# turns etcd's authentication on, idempotently; users and roles first, then `auth enable`:
#   - `patroni`, with the password and the role `patroni`: read and write under PREFIX
#     (this cluster's keys) and nothing else;
#   - ADMIN (the common name of the `etcd-admin` certificate, as which etcdctl here
#     authenticates) and `root` (which etcd wants before `auth enable`), both without a
#     password and with the role `root`: a user without a password can only be the common
#     name of a certificate the stack's CA signed.
# When it is on already, the password is set again only with `sync` (a new password file).
if [ "${1:-}" = auth ]; then
  admin=${2:?core-data-etcd auth: the admin user is missing}
  prefix=${3:?core-data-etcd auth: the key prefix is missing}
  sync=${4:-}
  ctl=(etcdctl "${tls[@]}" --endpoints="https://127.0.0.1:2379" --command-timeout=10s)
  IFS= read -r password || true
  if [ -z "$password" ]; then
    echo "core_data-etcd: error: no password on stdin" >&2
    exit 1
  fi
  # etcdctl ARGS, where "already exists" or "already granted" is success (a run cut short before).
  idempotent() {
    local out
    if ! out=$("${ctl[@]}" "$@" 2>&1); then
      case "$out" in
        *"already exists"*|*"already granted"*) ;;
        *) echo "core_data-etcd: error: etcdctl $1 $2: $out" >&2; return 1 ;;
      esac
    fi
  }
  set_password() {
    printf '%s\n' "$password" | "${ctl[@]}" user passwd patroni --interactive=false >/dev/null
  }
  if "${ctl[@]}" auth status | grep -q "Authentication Status: true"; then
    if [ "$sync" = sync ]; then
      set_password
      echo "on already; the password of patroni set again"
    else
      echo "on already"
    fi
    exit 0
  fi
  idempotent role add patroni
  idempotent role grant-permission patroni --prefix=true readwrite "$prefix"
  printf '%s\n' "$password" | idempotent user add patroni --interactive=false
  set_password
  idempotent user grant-role patroni patroni
  for user in root "$admin"; do
    idempotent user add "$user" --no-password
    idempotent user grant-role "$user" root
  done
  "${ctl[@]}" auth enable >/dev/null
  echo "turned on"
  exit 0
fi

case "$nodes" in 1|3) ;; *) echo "core_data-etcd: error: CORE_DATA_ETCD_NODES must be 1 or 3, not $nodes" >&2; exit 1 ;; esac
cluster=""
for i in $(seq 1 "$nodes"); do
  cluster+="${cluster:+,}etcd$i=https://etcd$i:2380"
done

exec etcd --name="$name" --data-dir=/var/lib/etcd/data \
  --listen-client-urls=https://0.0.0.0:2379 --advertise-client-urls="https://$name:2379" \
  --listen-peer-urls=https://0.0.0.0:2380 --initial-advertise-peer-urls="https://$name:2380" \
  --initial-cluster="$cluster" --initial-cluster-state=new \
  --initial-cluster-token="${CORE_DATA_ETCD_TOKEN:-core_data}" \
  --cert-file="$secrets/etcd.crt" --key-file="$secrets/etcd.key" \
  --trusted-ca-file="$secrets/ca.crt" --client-cert-auth \
  --peer-cert-file="$secrets/etcd.crt" --peer-key-file="$secrets/etcd.key" \
  --peer-trusted-ca-file="$secrets/ca.crt" --peer-client-cert-auth \
  --heartbeat-interval=100 --election-timeout=1000 \
  --logger=zap --log-level=warn
