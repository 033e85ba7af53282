# AppArmor profile for the core_data valkey container (optional; compose profile `valkey`).
# Load it: `sudo cargo xtask security apparmor-load` (or `sudo apparmor_parser -r apparmor/core_data_valkey.profile`).
# Use it: `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_VALKEY=core_data_valkey, which
# compose.yaml puts in the service's security_opt.
# It allows what valkey-server, its health check and valkey-cli need; writes only its data directory
# (AOF and RDB) and /tmp.
#include <tunables/global>

profile core_data_valkey flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  network unix dgram,
  # No UDP: valkey resolves no names (it binds `*`, replicates from no one, and its health check
  # and `core-data-valkey-cli` connect to 127.0.0.1). Add `network inet dgram, network inet6
  # dgram, network netlink raw,` (and the service to RESOLVING in security/apparmor.rs) the day
  # it must reach another container by name: Docker's embedded DNS answers over UDP.

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
  /var/lib/valkey/** rwkl,
  /tmp/** rwkl,

  @{PROC}/@{pid}/** r,
  /dev/null rw,
  /dev/urandom r,
  /dev/random r,
}
