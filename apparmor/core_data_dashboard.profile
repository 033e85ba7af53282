# AppArmor profile for the core_data dashboard container (optional).
# Load it on the host:   sudo cargo xtask security apparmor-load (every profile of apparmor/)
# Use it:                `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_DASHBOARD=core_data_dashboard,
#                        which compose.yaml puts in the dashboard's security_opt.
# The dashboard serves HTTPS, connects to postgres by name, runs `pgbackrest info` on the
# repository (mounted read-only) and reads the backups directory (read-only): it writes
# only /tmp (pgBackRest's lock and log directories).
#include <tunables/global>

profile core_data_dashboard flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  # Name resolution: it reaches the server as `postgres`, which Docker's embedded DNS
  # (127.0.0.11) answers over UDP; glibc's getaddrinfo also uses a netlink socket.
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

  # Read-only views of the stack: the repository and the backups directory.
  /var/lib/pgbackrest/** r,
  /backups/** r,
  /tmp/** rwkl,

  @{PROC}/@{pid}/** r,
  /dev/null rw,
  /dev/urandom r,
  /dev/random r,
}
