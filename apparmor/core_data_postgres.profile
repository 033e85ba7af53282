# AppArmor profile for the core_data postgres container (optional).
# Load it on the host:   sudo cargo xtask security apparmor-load (every profile of apparmor/)
# Use it:                `APPARMOR=enabled` in .env; the CLI sets CORE_DATA_APPARMOR_POSTGRES=core_data_postgres,
#                        which compose.yaml puts in the security_opt of postgres and logical_backup.
# It allows what the server, initdb, psql and pgBackRest need and denies writes
# outside the data, WAL, repository, backup and temporary directories.
#include <tunables/global>

profile core_data_postgres flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  network inet stream,
  network inet6 stream,
  network unix stream,
  network unix dgram,
  # Name resolution: logical_backup reaches the server as `postgres`, which Docker's embedded
  # DNS (127.0.0.11) answers over UDP; glibc's getaddrinfo also opens a UDP socket and a
  # netlink socket to sort the addresses it gets back.
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

  # Data the server owns.
  /var/lib/postgresql/** rwkl,
  /var/lib/pgbackrest/** rwkl,
  /backups/** rwkl,
  # The logging collector's files (the `pglog` volume).
  /var/log/postgresql/** rwkl,
  /tmp/** rwkl,
  /dev/shm/** rwkl,

  # The container's own cgroup counters (the dashboard's system page).
  /sys/fs/cgroup/** r,
  @{PROC}/@{pid}/** r,
  /dev/null rw,
  /dev/urandom r,
  /dev/random r,
}
