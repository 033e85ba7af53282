# AppArmor profile for the core_data HAProxy container (optional; the `ha` topology, compose/ha.yaml).
# Load it: `sudo cargo xtask security apparmor-load` (or `sudo apparmor_parser -r apparmor/core_data_haproxy.profile`).
# Use it: `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_HAPROXY=core_data_haproxy, which
# ha.yaml puts in the service's security_opt.
# It allows what HAProxy needs to route TCP and check the nodes over TLS; writes only /tmp.
#include <tunables/global>

profile core_data_haproxy flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  network unix dgram,
  # Name resolution of the nodes: HAProxy's own resolver asks Docker's embedded DNS over UDP.
  network inet dgram,
  network inet6 dgram,
  network netlink raw,

  deny mount,
  deny umount,
  deny pivot_root,
  deny ptrace,
  deny @{PROC}/sys/kernel/** w,
  deny /sys/** w,

  # Programs and libraries: read and map, never write.
  /usr/** rmix,
  /bin/** rmix,
  /lib/** rm,
  /etc/** r,
  /run/secrets/** r,
  /etc/core_data/conf/** r,

  # What the service writes, and its runtime API's socket (/tmp/haproxy-admin.sock, reached by
  # `socat` run in the container).
  /tmp/** rwkl,

  @{PROC}/@{pid}/** r,
  /dev/null rw,
  /dev/urandom r,
  /dev/random r,
}
