# AppArmor profile for the core_data memcached container (optional; compose profile `memcached`).
# Load it: `sudo cargo xtask security apparmor-load` (or `sudo apparmor_parser -r apparmor/core_data_memcached.profile`).
# Use it: `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_MEMCACHED=core_data_memcached, which
# compose.yaml puts in the service's security_opt.
# It allows what memcached, its entrypoint (bash) and client script need; memcached serves TCP
# only (its UDP port is off), UDP is allowed for name resolution; writes only to /tmp.
#include <tunables/global>

profile core_data_memcached flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  network unix dgram,
  # Name resolution only (memcached's own UDP port is off, `--udp-port=0`): the image's client,
  # `core-data-memcached stats HOST`, takes a host name, which Docker's embedded DNS
  # (127.0.0.11) answers over UDP; glibc's getaddrinfo also sorts answers over UDP and netlink.
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

  # What the service writes.
  /tmp/** rwkl,

  @{PROC}/@{pid}/** r,
  /dev/null rw,
  /dev/urandom r,
  /dev/random r,
}
