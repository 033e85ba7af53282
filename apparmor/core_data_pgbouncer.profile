# AppArmor profile for the core_data pgbouncer container (optional; compose profile `pgbouncer`).
# Load it: `sudo cargo xtask security apparmor-load` (or `sudo apparmor_parser -r apparmor/core_data_pgbouncer.profile`).
# Use it: `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_PGBOUNCER=core_data_pgbouncer, which
# compose.yaml puts in the service's security_opt.
# It allows what pgbouncer and its health check (pg_isready) need; writes only to /tmp (its socket).
#include <tunables/global>

profile core_data_pgbouncer flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  network unix dgram,
  # Name resolution: PgBouncer reaches the server as `host=postgres`, which Docker's embedded
  # DNS (127.0.0.11) answers over UDP (c-ares, no TCP retry); glibc's getaddrinfo (the health
  # check's libpq) also opens a UDP socket and a netlink socket to sort the addresses it gets.
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
