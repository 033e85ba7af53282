//! The configuration keys: one table that is the parser's whitelist, the
//! documentation written into `.env`, and the source of static defaults.

/// What COMPOSE_PROFILES accepts: the add-ons' profiles and `ha`.
pub const COMPOSE_PROFILE_NAMES: &[&str] = &["pgbouncer", "valkey", "memcached", "dashboard", "ha"];

/// How a value is checked. Each kind has one parser in `config::value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A lowercase name usable as a compose project, role or database name.
    Name,
    /// A Docker image reference such as `core-data/postgres:17`.
    Image,
    /// `auto` or a Docker image reference.
    BaseImage,
    /// An `http://` or `https://` URL.
    Url,
    /// A whole number within the range given.
    Int(i64, i64),
    /// A decimal number within the range given.
    Float(f64, f64),
    /// A memory size with a unit (`kB`, `MB`, `GB`, `TB`), e.g. `512MB`.
    Size,
    /// A PostgreSQL duration: `0`, or a whole number with `ms`, `s`, `min`, `h` or `d`.
    Duration,
    /// An IPv4 address.
    Ipv4,
    /// An IPv4 network in CIDR form, e.g. `172.30.0.0/24`.
    Cidr,
    /// A TCP port, 1..=65535.
    Port,
    /// Comma-separated `database:owner` pairs.
    Databases,
    /// Free text without spaces, quotes or control characters.
    Word,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// Comma-separated lowercase names; may be empty.
    Names,
    /// A pg_cron schedule (five cron fields, or `N seconds`), or `off`.
    Schedule,
    /// Comma-separated words, each one of the listed ones; may be empty.
    Subset(&'static [&'static str]),
}

/// Where a key's default comes from when `.env` does not set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    Static(&'static str),
    /// Computed by `config::sizing`: from the host (or `init` flags), or for the
    /// keys of `sizing::TUNED_KEYS` from the memory, CPUs and workload (`auto`).
    Sized,
}

#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub default: DefaultValue,
    pub doc: &'static str,
    /// The section header `.env` groups this key under.
    pub section: &'static str,
}

const fn key(
    section: &'static str,
    name: &'static str,
    kind: Kind,
    default: DefaultValue,
    doc: &'static str,
) -> Key {
    Key {
        name,
        kind,
        default,
        doc,
        section,
    }
}

use DefaultValue::{Sized, Static};
use Kind::*;

pub const KEYS: &[Key] = &[
    key("Stack", "COMPOSE_PROJECT_NAME", Name, Static("core_data"), "Compose project name; prefixes containers, volumes and the network."),
    key("Stack", "PG_MAJOR", Int(10, 99), Static("17"), "PostgreSQL major of the image; one that DEBIAN_SUITE carries (postgres/suites.txt: trixie 17, bookworm 15). Change it with `cargo xtask upgrade`, not by hand: a data directory of another major does not start."),
    key("Stack", "DEBIAN_SUITE", Word, Static("auto"), "Debian suite the image is built from: `auto` is the suite of postgres/suites.txt that carries PG_MAJOR; a named one must carry it. Bundle packages the suite lacks are left out (`cargo xtask image info` lists them)."),
    key("Stack", "POSTGRES_IMAGE", Image, Static("core-data/postgres:17"), "Tag of the platform image built by `cargo xtask build-image`; the tag starts with PG_MAJOR (default core-data/postgres:<PG_MAJOR>). An upgrade builds the target major's image under the same tag with the major replaced."),
    key("Stack", "BASE_IMAGE", BaseImage, Static("auto"), "Base image: `auto` uses debian:trixie-slim if present or pullable, else bootstraps core-data/base:trixie with mmdebstrap."),
    key("Stack", "DEBIAN_MIRROR", Url, Static("http://deb.debian.org/debian"), "Debian mirror for the base bootstrap and the image's packages."),
    key("Stack", "DEBIAN_SECURITY_MIRROR", Url, Static("http://deb.debian.org/debian-security"), "Debian security mirror used inside the image."),
    key("Stack", "POSTGRES_UID", Int(1, 2_147_483_647), Sized, "UID the server runs as (never 0)."),
    key("Stack", "POSTGRES_GID", Int(1, 2_147_483_647), Sized, "GID the server runs as (never 0)."),
    key("Stack", "NETWORK_SUBNET", Cidr, Static("172.30.0.0/24"), "Subnet of the stack's bridge network."),
    key("Stack", "POSTGRES_BIND_ADDRESS", Ipv4, Static("127.0.0.1"), "Host address the PostgreSQL port is published on."),
    key("Stack", "POSTGRES_HOST_PORT", Port, Static("5432"), "Host port PostgreSQL is published on."),
    key("Stack", "COMPOSE_PROFILES", Subset(COMPOSE_PROFILE_NAMES), Static("dashboard"), "Services to run besides postgres, comma-separated: dashboard (on by default), pgbouncer, valkey, memcached (`cargo xtask up --profile NAME` adds one). Removing one here and running `up` stops and removes its container; its volume is kept. `ha` runs the high-availability topology instead of the single server (compose/ha.yaml: Patroni nodes, etcd, HAProxy; `cargo xtask up --ha`); the add-ons do not run with it yet."),
    key("Stack", "TZ", Word, Static("UTC"), "Time zone of the server and its logs."),
    key("Stack", "LOG_MAX_SIZE", Word, Static("10m"), "Docker `local` log driver: size of one log file."),
    key("Stack", "LOG_MAX_FILE", Int(1, 100), Static("5"), "Docker `local` log driver: number of rotated files kept."),
    key("Stack", "APPARMOR", Choice(&["enabled", "disabled"]), Static("disabled"), "`enabled` runs each service under its AppArmor profile from apparmor/ (`core_data_<service>`; load them first with `sudo cargo xtask security apparmor-load`; `up` refuses while one is not loaded, and on a host without AppArmor); `disabled` leaves Docker's `docker-default`."),
    key("Stack", "HEALTH_MAX_REPLICATION_LAG_SECONDS", Int(0, 86_400), Static("0"), "Health check stage 3: unhealthy when a standby lags more (0: off)."),
    key("Stack", "HEALTH_ARCHIVE_FAILURE_GRACE_SECONDS", Int(0, 86_400), Static("300"), "Health check stage 4: unhealthy when WAL archiving fails and a segment has waited longer (0: off)."),
    key("Roles and databases", "POSTGRES_SUPERUSER", Name, Static("postgres"), "Name of the superuser role (password in secrets/postgres_superuser_password)."),
    key("Roles and databases", "APP_DATABASES", Databases, Static("app:app"), "Application databases to create as `db:owner` pairs, comma-separated; each owner gets a generated password in secrets/roles/."),
    key("Resources", "POSTGRES_MEMORY_LIMIT", Size, Sized, "Container memory limit."),
    key("Resources", "POSTGRES_CPU_LIMIT", Float(0.1, 1024.0), Sized, "Container CPU limit (cores)."),
    key("Resources", "POSTGRES_SHM_SIZE", Size, Sized, "Size of /dev/shm (parallel query uses it)."),
    key("Tuning", "PG_WORKLOAD", Choice(&["web", "oltp", "dw", "mixed", "desktop"]), Static("mixed"), "What the server mostly does (pgtune's profiles): web, oltp, dw (data warehouse), mixed or desktop. Chooses the `auto` values below; preview a change with `cargo xtask config show --diff --workload W`."),
    key("Tuning", "PG_STORAGE", Choice(&["ssd", "hdd", "san"]), Static("ssd"), "What the data volume is on: ssd, hdd or san. Chooses the `auto` random_page_cost and effective_io_concurrency."),
    key("Tuning", "PG_MAX_CONNECTIONS", Int(10, 10_000), Sized, "max_connections (auto: web 200, oltp 300, dw 40, mixed 100, desktop 20)."),
    key("Tuning", "PG_SHARED_BUFFERS", Size, Sized, "shared_buffers (restart)."),
    key("Tuning", "PG_EFFECTIVE_CACHE_SIZE", Size, Sized, "effective_cache_size."),
    key("Tuning", "PG_WORK_MEM", Size, Sized, "work_mem."),
    key("Tuning", "PG_MAINTENANCE_WORK_MEM", Size, Sized, "maintenance_work_mem."),
    key("Tuning", "PG_WAL_BUFFERS", Size, Sized, "wal_buffers (restart)."),
    key("Tuning", "PG_MAX_WAL_SIZE", Size, Sized, "max_wal_size."),
    key("Tuning", "PG_MIN_WAL_SIZE", Size, Sized, "min_wal_size."),
    key("Tuning", "PG_DEFAULT_STATISTICS_TARGET", Int(1, 10_000), Sized, "default_statistics_target."),
    key("Tuning", "PG_MAX_WORKER_PROCESSES", Int(8, 1024), Sized, "max_worker_processes (restart)."),
    key("Tuning", "PG_MAX_PARALLEL_WORKERS", Int(0, 1024), Sized, "max_parallel_workers."),
    key("Tuning", "PG_MAX_PARALLEL_WORKERS_PER_GATHER", Int(0, 1024), Sized, "max_parallel_workers_per_gather."),
    key("Tuning", "PG_MAX_PARALLEL_MAINTENANCE_WORKERS", Int(0, 1024), Sized, "max_parallel_maintenance_workers."),
    key("Tuning", "PG_RANDOM_PAGE_COST", Float(0.1, 100.0), Sized, "random_page_cost (auto: from PG_STORAGE)."),
    key("Tuning", "PG_EFFECTIVE_IO_CONCURRENCY", Int(0, 1000), Sized, "effective_io_concurrency (auto: from PG_STORAGE)."),
    key("Tuning", "PG_STATEMENT_TIMEOUT", Duration, Static("0"), "statement_timeout for every session (0: none; a server-wide limit breaks maintenance)."),
    key("Tuning", "PG_LOCK_TIMEOUT", Duration, Static("0"), "lock_timeout."),
    key("Tuning", "PG_IDLE_IN_TRANSACTION_SESSION_TIMEOUT", Duration, Static("10min"), "idle_in_transaction_session_timeout."),
    key("Tuning", "PG_LOG_MIN_DURATION_STATEMENT", Duration, Static("500ms"), "Log statements slower than this."),
    key("Tuning", "PG_AUTO_EXPLAIN_MIN_DURATION", Duration, Static("2s"), "auto_explain: log plans of statements slower than this."),
    key("Tuning", "PG_PGAUDIT_LOG", Word, Static("ddl,role"), "pgaudit.log classes."),
    key("Tuning", "PG_LOG_FILE_CYCLE", Choice(&["week", "month"]), Static("week"), "Server log files in the `pglog` volume (text for `cargo xtask logs`, jsonlog for pgBadger): one pair per weekday (`week`, seven days kept) or per day of the month (`month`, up to 31 days kept); a day's files are truncated when their name comes round again."),
    key("Physical backups", "PGBACKREST_RETENTION_FULL", Int(1, 100), Static("2"), "pgBackRest: full backups kept (older ones and their WAL expire)."),
    key("Physical backups", "PGBACKREST_RETENTION_DIFF", Int(1, 100), Static("7"), "pgBackRest: differential backups kept."),
    key("Physical backups", "PGBACKREST_COMPRESS_TYPE", Choice(&["zst", "lz4", "gz", "bz2", "none"]), Static("zst"), "pgBackRest compression: zst, lz4, gz, bz2 or none."),
    key("Physical backups", "PGBACKREST_PROCESS_MAX", Int(1, 64), Static("2"), "pgBackRest parallel processes for backup and restore."),
    key("Logical backups", "LOGICAL_BACKUP_INTERVAL_SECONDS", Int(5, 604_800), Static("86400"), "Sidecar: seconds between logical dumps of every database."),
    key("Logical backups", "LOGICAL_BACKUP_RETENTION_SECONDS", Int(10, 31_536_000), Static("604800"), "Sidecar: dumps older than this are pruned."),
    key("Logical backups", "LOGICAL_BACKUP_EXCLUDE", Names, Static(""), "Sidecar: databases not dumped, comma-separated."),
    key("Maintenance", "MAINTENANCE_ANALYZE_SCHEDULE", Schedule, Static("30 2 * * *"), "pg_cron schedule (server time zone) of `ANALYZE (SKIP_LOCKED)` in every database; `off` disables it."),
    key("Maintenance", "MAINTENANCE_VACUUM_SCHEDULE", Schedule, Static("0 3 * * *"), "Schedule of `VACUUM (ANALYZE, SKIP_LOCKED)` on each table past AUDIT_DEAD_TUPLES_MIN and AUDIT_DEAD_TUPLE_RATIO, in every database; `off` disables it."),
    key("Maintenance", "MAINTENANCE_SQUEEZE_SCHEDULE", Schedule, Static("15 3 * * *"), "Schedule of the pg_squeeze target refresh (tables with a primary key or replica identity) in every database; `off` disables it."),
    key("Maintenance", "MAINTENANCE_PARTMAN_SCHEDULE", Schedule, Static("17 * * * *"), "Schedule of pg_partman maintenance (new partitions, retention) in every database; `off` disables it."),
    key("Maintenance", "MAINTENANCE_PGSTAT_RESET_SCHEDULE", Schedule, Static("off"), "Schedule of `pg_stat_statements_reset()` (in `postgres`); off by default: a reset breaks `diff-pgstat` across it."),
    key("Maintenance", "MAINTENANCE_QUEUE_PURGE_SCHEDULE", Schedule, Static("45 3 * * *"), "Schedule of the retention of each job queue (`async-queue install`): completed jobs older than MAINTENANCE_QUEUE_RETENTION are deleted; `off` disables it."),
    key("Maintenance", "MAINTENANCE_QUEUE_RETENTION", Duration, Static("7d"), "How long a job queue keeps completed jobs (dead letters are kept until you remove them)."),
    key("Maintenance", "MAINTENANCE_LOCK_TIMEOUT", Duration, Static("5s"), "lock_timeout of the maintenance jobs' role (their statement_timeout is always 0)."),
    key("PgBouncer", "PGBOUNCER_POOL_MODE", Choice(&["transaction", "session", "statement"]), Static("transaction"), "PgBouncer pool_mode: `transaction` (a server connection per transaction; prepared statements work through max_prepared_statements), `session` or `statement`."),
    key("PgBouncer", "PGBOUNCER_DEFAULT_POOL_SIZE", Int(1, 10_000), Static("20"), "PgBouncer default_pool_size: server connections per database and user pair."),
    key("PgBouncer", "PGBOUNCER_MIN_POOL_SIZE", Int(0, 10_000), Static("0"), "PgBouncer min_pool_size: server connections kept open per pool."),
    key("PgBouncer", "PGBOUNCER_RESERVE_POOL_SIZE", Int(0, 10_000), Static("0"), "PgBouncer reserve_pool_size: extra server connections a waiting pool may use."),
    key("PgBouncer", "PGBOUNCER_MAX_DB_CONNECTIONS", Int(0, 10_000), Static("0"), "PgBouncer max_db_connections: server connections per database across users (0: no limit besides the pools)."),
    key("PgBouncer", "PGBOUNCER_MAX_CLIENT_CONN", Int(1, 8_000), Static("2000"), "PgBouncer max_client_conn: client connections it accepts (at most 8000: the container's open-file limit is 8192)."),
    key("PgBouncer", "PGBOUNCER_MAX_PREPARED_STATEMENTS", Int(0, 100_000), Static("200"), "PgBouncer max_prepared_statements: protocol-level prepared statements tracked per server connection (0 turns the support off)."),
    key("PgBouncer", "PGBOUNCER_BIND_ADDRESS", Ipv4, Static("127.0.0.1"), "Host address PgBouncer's port is published on."),
    key("PgBouncer", "PGBOUNCER_HOST_PORT", Port, Static("6432"), "Host port PgBouncer is published on."),
    key("PgBouncer", "PGBOUNCER_MEMORY_LIMIT", Size, Static("256MB"), "PgBouncer container memory limit."),
    key("PgBouncer", "PGBOUNCER_CPU_LIMIT", Float(0.1, 1024.0), Static("1"), "PgBouncer container CPU limit (cores; PgBouncer uses one)."),
    key("Audits", "AUDIT_DEAD_TUPLES_MIN", Int(0, 1_000_000_000_000), Static("1000"), "`audit autovacuum`: a table needs vacuum with at least this many dead tuples ..."),
    key("Audits", "AUDIT_DEAD_TUPLE_RATIO", Float(0.0, 1.0), Static("0.2"), "... that are at least this share of its live plus dead tuples."),
    key("Audits", "AUDIT_WRAPAROUND_PERCENT", Float(0.1, 100.0), Static("40"), "`audit autovacuum`: transaction-ID or multixact age, in percent of the 2^31 limit, that is a finding."),
    key("Audits", "AUDIT_SLOT_RETAINED_MB", Int(0, 100_000_000), Static("1024"), "`audit replication`: WAL a slot may retain before it is a finding (an inactive slot retaining any WAL always is)."),
    key("Audits", "AUDIT_REPLICATION_LAG_SECONDS", Int(0, 86_400), Static("300"), "`audit replication`: standby lag that is a finding."),
    key("Audits", "AUDIT_INDEX_BLOAT_PERCENT", Float(1.0, 100.0), Static("30"), "`audit index-bloat`: percent of an index's leaf space that may be wasted before it is a finding."),
    key("Audits", "AUDIT_INDEX_MIN_SIZE_MB", Int(0, 100_000_000), Static("1"), "`audit index-bloat`: indexes smaller than this are not examined (`--min-size-mb`)."),
    key("Audits", "AUDIT_VALID_UNTIL", Choice(&["ignore", "require"]), Static("ignore"), "`audit roles`: `require` makes a login role without VALID UNTIL a finding (one past it always is)."),
    key("Audits", "AUDIT_CRON_LOOKBACK_HOURS", Int(1, 8_760), Static("24"), "`audit cron`: failed pg_cron runs within this many hours are findings."),
    key("Audits", "AUDIT_BUFFERCACHE_LIMIT", Int(1, 10_000), Static("20"), "`audit buffercache`: relations listed (`--limit`)."),
    key("Audits", "AUDIT_SENSITIVE_COLUMNS", Names, Static("email,ssn,password,passwd,token,secret,api_key,credit_card,card_number,iban,phone,date_of_birth"), "`audit security`: column names that mark a table as sensitive (it should have row-level security)."),
    key("Daily maintenance", "DAILY_RETENTION_DAYS", Int(1, 3_650), Static("30"), "`daily-maintenance`: bundles under backups/daily/<date>/ older than this many days are removed (`--retention-days`)."),
    key("Daily maintenance", "DAILY_PGSTAT_LIMIT", Int(1, 10_000), Static("25"), "`daily-maintenance`: statements kept in the pg_stat_statements diff against the previous bundle and in its chart."),
    key("Dashboard", "DASHBOARD_BIND_ADDRESS", Ipv4, Static("127.0.0.1"), "Dashboard (profile `dashboard`): host address its HTTPS port is published on."),
    key("Dashboard", "DASHBOARD_HOST_PORT", Port, Static("8443"), "Host port of the dashboard's HTTPS (`cargo xtask dashboard url`)."),
    key("Dashboard", "DASHBOARD_ALLOW_SIGNAL", Choice(&["true", "false"]), Static("false"), "`true` grants the dashboard's role `pg_signal_backend`: its live-queries page can cancel and terminate backends (never a superuser's)."),
    key("Dashboard", "DASHBOARD_ALLOW_EXPLAIN", Choice(&["true", "false"]), Static("true"), "`true` grants the dashboard's role `pg_read_all_data`: EXPLAIN and HypoPG's index suggestions need SELECT on the tables (it never writes). `false` leaves it `pg_monitor` only; those pages then say why they cannot run."),
    key("Dashboard", "DASHBOARD_CAPTURE_INTERVAL_SECONDS", Int(10, 3_600), Static("60"), "How often the dashboard captures pg_stat_statements, sizes and activity into its history (schema `core_data_dashboard`; it never resets pg_stat_statements)."),
    key("Dashboard", "DASHBOARD_HISTORY_DAYS", Int(1, 365), Static("14"), "Days of captured history the dashboard keeps."),
    key("Dashboard", "DASHBOARD_LOGIN_ATTEMPTS_PER_MINUTE", Int(1, 100), Static("5"), "Failed logins allowed per client address and per user name in a minute; more are refused (HTTP 429)."),
    key("Dashboard", "DASHBOARD_SESSION_IDLE_MINUTES", Int(1, 1_440), Static("30"), "A dashboard session ends after this many minutes without a request."),
    key("Dashboard", "DASHBOARD_MEMORY_LIMIT", Size, Static("256MB"), "Dashboard container memory limit."),
    key("HA", "HA_NODES", Int(2, 5), Static("3"), "With `ha` in COMPOSE_PROFILES: the PostgreSQL nodes pg1…pgN, each run by Patroni (2 to 5)."),
    key("HA", "HA_ETCD_NODES", Int(1, 3), Static("3"), "With `ha`: etcd members (1 or 3; 3 survives the loss of one)."),
    key("HA", "HA_SYNCHRONOUS", Choice(&["true", "false"]), Static("false"), "`true`: Patroni's synchronous mode; a commit is acknowledged only once a replica has it, so a failover loses no acknowledged commit (each commit waits a round trip to a replica)."),
    key("HA", "HA_SYNCHRONOUS_STRICT", Choice(&["true", "false"]), Static("false"), "`true` (with HA_SYNCHRONOUS): writes stop when no synchronous replica is left, rather than going on unreplicated. The cost is availability: with one node down in a 2-node cluster, nothing commits."),
    key("HA", "HA_TTL", Int(20, 3600), Static("20"), "Patroni's leader key TTL in seconds: a leader that cannot renew it for this long loses it (at least 20; `HA_LOOP_WAIT + 2 * HA_RETRY_TIMEOUT` at most)."),
    key("HA", "HA_LOOP_WAIT", Int(1, 600), Static("2"), "Seconds between Patroni's checks of each node (its own tests use 2)."),
    key("HA", "HA_RETRY_TIMEOUT", Int(1, 1800), Static("9"), "Seconds Patroni retries etcd and PostgreSQL before a leader demotes itself."),
    key("HA", "HA_READ_ONLY_PORT", Port, Static("5433"), "Host port of HAProxy's read-only port (the replicas); the read-write port (the primary) is POSTGRES_HOST_PORT."),
    key("HA", "HA_DCS_SUBNET", Cidr, Static("172.31.0.0/24"), "Subnet of the `dcs` network etcd and the nodes share (internal, never published)."),
    key("ValKey", "VALKEY_MAXMEMORY", Size, Static("256MB"), "ValKey (profile `valkey`): `maxmemory`, the data set's ceiling; what happens there is VALKEY_MAXMEMORY_POLICY."),
    key("ValKey", "VALKEY_MAXMEMORY_POLICY", Choice(&["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]), Static("noeviction"), "ValKey `maxmemory-policy`: `noeviction` refuses writes at the ceiling (a store); an `allkeys-*` policy evicts (a cache)."),
    key("ValKey", "VALKEY_MAX_CLIENTS", Int(16, 60_000), Static("1000"), "ValKey `maxclients` (it lowers this to the container's open-file limit, which comes from the Docker daemon, less 32)."),
    key("ValKey", "VALKEY_APP_KEY_PATTERNS", Word, Static("*"), "Keys the application user `app` may touch: comma-separated glob patterns, e.g. `app:*,jobs:*` (`*`: every key)."),
    key("ValKey", "VALKEY_MEMORY_LIMIT", Size, Static("512MB"), "ValKey container memory limit; more than VALKEY_MAXMEMORY (a snapshot's fork copies the pages written meanwhile: up to twice is safe)."),
    key("ValKey", "VALKEY_CPU_LIMIT", Float(0.1, 1024.0), Static("1"), "ValKey container CPU limit (cores)."),
    key("Memcached", "MEMCACHED_MEMORY_MB", Int(16, 1_048_576), Static("64"), "Memcached (profile `memcached`): item memory in megabytes (`--memory-limit`)."),
    key("Memcached", "MEMCACHED_MAX_CONNECTIONS", Int(16, 60_000), Static("1024"), "Memcached simultaneous connections (`--conn-limit`); must stay below the container's open-file limit (the Docker daemon's), or memcached does not start."),
    key("Memcached", "MEMCACHED_THREADS", Int(1, 64), Static("4"), "Memcached worker threads (`--threads`)."),
    key("Memcached", "MEMCACHED_MEMORY_LIMIT", Size, Static("128MB"), "Memcached container memory limit; at least MEMCACHED_MEMORY_MB plus 32MB for connections and hash tables."),
    key("Memcached", "MEMCACHED_CPU_LIMIT", Float(0.1, 1024.0), Static("1"), "Memcached container CPU limit (cores)."),
];

/// Looks a key up by name.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_unique() {
        let mut names: Vec<_> = KEYS.iter().map(|key| key.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a key is declared twice");
    }
}
