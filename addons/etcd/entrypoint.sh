#!/bin/bash
# core_data etcd member: one of CORE_DATA_ETCD_NODES (1 or 3) members named
# etcd1…etcdN on the `dcs` network. TLS for clients and peers, and a client
# certificate signed by the stack's CA required of both (the nodes' Patroni
# holds one; nothing else on the network does). The data directory is the
# member's own volume; a member that has data rejoins with it.
# `core-data-etcd health` is the container's health check; `core-data-etcd ctl` runs etcdctl.
set -Eeuo pipefail

secrets=/run/secrets
name=${CORE_DATA_ETCD_NAME:?CORE_DATA_ETCD_NAME is not set}
nodes=${CORE_DATA_ETCD_NODES:-3}
tls=(--cacert="$secrets/ca.crt" --cert="$secrets/etcd.crt" --key="$secrets/etcd.key")

if [ "${1:-}" = health ]; then
  exec etcdctl "${tls[@]}" --endpoints="https://127.0.0.1:2379" --command-timeout=3s endpoint health
fi
# `core-data-etcd ctl ARGS…`: etcdctl against this member with its certificate
# (what `cargo xtask restore` uses to clear the cluster's keys in Patroni's namespace).
if [ "${1:-}" = ctl ]; then
  shift
  exec etcdctl "${tls[@]}" --endpoints="https://127.0.0.1:2379" --command-timeout=10s "$@"
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
