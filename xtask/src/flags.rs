//! Every command and flag. The `///` comments are the `--help` text. The
//! backup, restore, QA and dump commands are in `flags/backup.rs`, the
//! runbook commands in `flags/runbook.rs`, the job queue's in `flags/queue.rs`,
//! `security …` in `flags/security.rs`, `old-clusters` in `flags/old_clusters.rs`, `adopt` in
//! `flags/adopt.rs`;
//! `cmd/` defines no arguments.

mod adopt;
mod audit;
mod backup;
mod compact;
mod dashboard;
mod ha;
mod maintenance;
mod old_clusters;
mod pgbouncer;
mod queue;
mod runbook;
mod security;
mod upgrade;
mod valkey;

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) use adopt::*;
pub(crate) use audit::*;
pub(crate) use backup::*;
pub(crate) use compact::*;
pub(crate) use dashboard::*;
pub(crate) use ha::*;
pub(crate) use maintenance::*;
pub(crate) use old_clusters::*;
pub(crate) use pgbouncer::*;
pub(crate) use queue::*;
pub(crate) use runbook::*;
pub(crate) use security::*;
pub(crate) use upgrade::*;
pub(crate) use valkey::*;

/// core_data: a hardened PostgreSQL 17 platform, driven from the repository.
///
/// Start with `cargo xtask up`: it writes a default configuration with fresh
/// secrets, builds the image and brings the stack up.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, max_term_width = 100)]
pub(crate) struct Xtask {
    /// Directory holding `.env`, `secrets/`, `rendered/` and `backups/` (default: the repository root).
    #[arg(long, global = true, env = "CORE_DATA_STATE", value_name = "DIR")]
    pub(crate) state: Option<Utf8PathBuf>,

    /// Show every line of build and compose output.
    #[arg(long, short, global = true)]
    pub(crate) verbose: bool,

    /// When another command is changing the stack, fail at once (exit 1, naming it) instead of waiting.
    #[arg(long, global = true)]
    pub(crate) no_wait: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check prerequisites (Docker, compose v2, disk, base image strategy); `--fix` installs what is missing.
    Doctor(Doctor),
    /// Write `.env` and generate secrets (interactive on a terminal; `--non-interactive` for scripts).
    Init(Init),
    /// Build the platform image (skipped when its inputs are unchanged).
    BuildImage(BuildImage),
    /// Inspect the platform image.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Bring the stack up: configuration, secrets, image, containers, health, bootstrap. Safe to repeat.
    /// An interrupted restore is finished or rolled back first.
    Up(Up),
    /// Stop the stack. Data volumes are kept unless `--volumes --yes`.
    Down(Down),
    /// Show the stack's containers, health and server version; exits 1 when the server is
    /// unreachable or WAL archiving is failing.
    Status(Status),
    /// Show a service's log. For `postgres`: the container's own output (the entrypoint, anything
    /// before the logging collector starts), then the server's log file from the `pglog` volume
    /// (`--follow` follows it across the daily switch of files).
    Logs(Logs),
    /// Run psql inside the postgres container (on the `ha` topology, the leader's) as the
    /// superuser; arguments pass through.
    Psql(Psql),
    /// Print connection URLs (passwords only with `--show-passwords`).
    ServiceUrls(ServiceUrls),
    /// Create a login role; its password is generated into `secrets/roles/` unless `--password-file` is given.
    CreateUser(CreateUser),
    /// Drop a role (it must not own databases). Needs `--yes`; the platform's own roles are refused.
    DropUser(DropUser),
    /// Create a database owned by an existing role, with the extension bundle installed.
    CreateDb(CreateDb),
    /// Drop a database, ending its sessions first.
    DropDb(DropDb),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Dump one database (custom format, compressed) into `backups/`, or every database plus globals with `--all`.
    Dump(Dump),
    /// Dump one database as plain SQL into `backups/`.
    DumpSql(DumpSql),
    /// Restore a dump into a new database, or over an existing one with `--yes` (via a temporary database, swapped only on success).
    RestoreDump(RestoreDump),
    /// Show the `logical_backup` sidecar's last runs, sizes and errors, and databases an interrupted
    /// `restore-dump` left; exits 1 when it is unhealthy or something was left.
    DumpStatus(DumpStatus),
    /// Physical backups with pgBackRest: `take` (the default), `verify`, `info`, `check`, `expire`.
    Backup(Backup),
    /// Replace the live cluster with a backup (whole, one set, or to a point in time). Needs `--yes`.
    /// In the `ha` topology the backup goes into the leader's node and the other nodes are rebuilt
    /// as its replicas; any failure before the promotion puts every node's data back.
    Restore(Restore),
    /// The copies of replaced clusters that restores and major upgrades set aside inside the data
    /// and WAL volumes (`pgdata.pre-restore-<id>`, `pg_wal.pre-upgrade-<id>`, …): name, kind, id,
    /// size and PostgreSQL major, a data directory and its WAL directory as one entry.
    /// `--remove NAME --yes` removes one. Works whether the server runs or not.
    OldClusters(OldClusters),
    /// The high-availability topology (`ha` in COMPOSE_PROFILES, `up --ha`): `status`,
    /// `switchover`, `failover`, `reinit`, `pause`, `resume`, `restart`, `config apply`.
    #[command(subcommand)]
    Ha(HaCommand),
    /// QA clones of one database from a fresh differential backup: `create`, `list`, `drop`.
    #[command(subcommand)]
    Qa(QaCommand),
    /// The old spelling of `qa`: `provision-qa DB`, `--list`, `--drop NAME`.
    #[command(hide = true)]
    ProvisionQa(ProvisionQa),
    /// List the runbooks of `scripts.rhai` (and `--file`s) with their help.
    Runbooks(Runbooks),
    /// Run a runbook in the sandbox: `cargo xtask run <name> [key=value ...]`.
    Run(Run),
    /// Audits of the live stack (roles, security, extensions, autovacuum, indexes, …); each
    /// exits 1 when a finding crosses a threshold.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Same as `config check`.
    #[command(hide = true)]
    ConfigCheck(ConfigCheck),
    /// Reclaim space: `--level 1` reports what needs work, 2 squeezes (pg_squeeze), 3 repacks
    /// (pg_repack), 4 runs VACUUM FULL (`--yes`). Logs under `backups/maintenance/`.
    Compact(Compact),
    /// pg_partman partition sets: `show`, `maintenance` (now), `create-parent`.
    #[command(subcommand)]
    Partman(PartmanCommand),
    /// Write the daily maintenance bundle to backups/daily/<date>/run-<NNN>/ and prune old ones.
    ///
    /// The bundle: the day's server log (jsonlog and text) and pgBadger's HTML report of it, a
    /// pgaudit summary (who changed what), every audit as JSON and CSV, pg_stat_statements and
    /// buffercache snapshots with the statements ranked against the previous bundle's snapshot,
    /// table sizes and dead tuples, version status, the logical_backup sidecar's status, the
    /// backup sets and the newest restore drill that passed, and `index.html` linking it all with
    /// charts. A second run on the same day writes `run-002` beside `run-001`.
    ///
    /// Exit status: 0 when no finding crosses a threshold; 1 when one does (an audit's warning or
    /// critical finding, an unhealthy sidecar; the findings are in index.html) or when a step
    /// failed (the error names it; the bundle keeps what the other steps wrote). Available
    /// package updates are reported, not judged: `version-status` exits 1 on them.
    DailyMaintenance(DailyMaintenance),
    /// Save pg_stat_statements (every database) to a file for `diff-pgstat`.
    SnapshotPgstat(SnapshotPgstat),
    /// Rank what statements did between two `snapshot-pgstat` files.
    DiffPgstat(DiffPgstat),
    /// PostgreSQL, extensions, pgBackRest and tools: installed, in each database, and offered by
    /// the Debian mirror.
    VersionStatus(VersionStatus),
    /// A real round trip through every bundle extension in a throw-away schema; exit 1 on any failure.
    ExerciseExtensions(ExerciseExtensions),
    /// A pgTAP plan over the bundle (present at the expected version, key functions callable); TAP output.
    PgtapSmoke(PgtapSmoke),
    /// pg_cron jobs: `list` shows every job with its last run.
    #[command(subcommand)]
    Cron(CronCommand),
    /// The synthetic dataset for demos and tests: `install`.
    #[command(subcommand)]
    TestDataset(TestDatasetCommand),
    /// The job queue in SQL (install or upgrade its schema, show its metrics); API in docs/queue.md.
    #[command(subcommand)]
    AsyncQueue(AsyncQueueCommand),
    /// PgBouncer's admin console (profile `pgbouncer`): `stats`, `pools`, `clients`, `servers`,
    /// and `reload`.
    #[command(subcommand)]
    Pgbouncer(PgbouncerCommand),
    /// Confinement of the running containers (`status`) and AppArmor profiles (`apparmor-load`).
    #[command(subcommand)]
    Security(SecurityCommand),
    /// ValKey (profile `valkey`): `cli` (valkey-cli with the credentials wired in) and `bgsave`
    /// (an RDB snapshot now, waited for).
    #[command(subcommand)]
    Valkey(ValkeyCommand),
    /// Memcached (profile `memcached`): `stats`.
    #[command(subcommand)]
    Memcached(MemcachedCommand),
    /// The dashboard (profile `dashboard`, on by default): `add-user`, `remove-user`,
    /// `list-users` and `url`.
    #[command(subcommand)]
    Dashboard(DashboardCommand),
    /// Major upgrades: `--check` (changes nothing), `--yes` (pg_upgrade --link, a backup first,
    /// rolled back by itself on failure).
    Upgrade(Upgrade),
    /// Take an existing PostgreSQL data directory (`--from-dir` or `--from-volume`, same or
    /// older major) into a stack without a cluster, upgrading a copy; the source is never written.
    Adopt(Adopt),
    /// Benchmarks that print figures next to their floor and the ratio.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a shell completion script: `source <(cargo xtask completions bash)`.
    Completions(Completions),
}

/// How a command that reports state prints it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document on stdout (the shapes are in docs/json.md).
    Json,
}

/// `--format` of the commands that report state.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct FormatArg {
    /// `table` for people, `json` for scripts (one document on stdout; shapes in docs/json.md).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

impl FormatArg {
    pub(crate) fn json(self) -> bool {
        self.format == Format::Json
    }
}

#[derive(Debug, Args)]
pub(crate) struct Status {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct Completions {
    /// The shell to complete for; the script completes a command named `xtask`.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct Doctor {
    /// Install what is missing (compose v2 from Debian trixie's package, mmdebstrap); needs root.
    #[arg(long)]
    pub(crate) fix: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Init {
    /// Never prompt; take defaults, `--set` values and sizing flags.
    #[arg(long)]
    pub(crate) non_interactive: bool,
    /// Rewrite an existing `.env` and regenerate existing secrets.
    #[arg(long)]
    pub(crate) force: bool,
    /// Memory budget for the container (e.g. 4GB); default: a quarter of host RAM.
    #[arg(long, value_name = "SIZE")]
    pub(crate) memory: Option<String>,
    /// CPU cores for the container; default: all host cores.
    #[arg(long, value_name = "N")]
    pub(crate) cpus: Option<u32>,
    /// What the server mostly does: web, oltp, dw, mixed (the default) or desktop; chooses the
    /// pgtune-style formulas of the tuning keys (`PG_WORKLOAD` in `.env`).
    #[arg(long, value_name = "WORKLOAD")]
    pub(crate) workload: Option<String>,
    /// Set any configuration key (repeatable), e.g. `--set POSTGRES_HOST_PORT=15432`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BuildImage {
    /// Build even when the inputs are unchanged.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Print the image's base, inputs hash and installed package versions.
    Info(ImageInfo),
}

#[derive(Debug, Args)]
pub(crate) struct ImageInfo {
    /// Only list packages whose name contains this text.
    #[arg(long)]
    pub(crate) filter: Option<String>,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct Up {
    /// Start a new, empty cluster although the backup repository holds another cluster's
    /// stanza (the data volume must be empty). The repository's stanza is upgraded to the new
    /// cluster; its old backups stay listed. Needs `--yes`. To get the old data back, use
    /// `cargo xtask restore` instead.
    #[arg(long)]
    pub(crate) new_cluster: bool,
    /// Confirm `--new-cluster`.
    #[arg(long, requires = "new_cluster")]
    pub(crate) yes: bool,
    /// Turn an add-on service on: `pgbouncer`, `valkey` or `memcached` (repeatable). It is
    /// added to COMPOSE_PROFILES in `.env`, so it stays on; remove it there to turn it off.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(core_data_ops::addons::PROFILES))]
    pub(crate) profile: Vec<String>,
    /// Run the high-availability topology (compose/ha.yaml): HA_NODES PostgreSQL nodes run by
    /// Patroni, HA_ETCD_NODES etcd members and HAProxy (read-write on POSTGRES_HOST_PORT,
    /// read-only on HA_READ_ONLY_PORT). Adds `ha` to COMPOSE_PROFILES in `.env`, so it stays on.
    /// It starts a new cluster on its own volumes; `cargo xtask ha status` shows it.
    #[arg(long, conflicts_with = "new_cluster")]
    pub(crate) ha: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Down {
    /// Also delete the data, WAL and backup-repository volumes.
    #[arg(long)]
    pub(crate) volumes: bool,
    /// Confirm a destructive action.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Logs {
    /// The compose service: `postgres`, `logical_backup`, or an add-on (`pgbouncer`,
    /// `valkey`, `memcached`).
    #[arg(default_value = "postgres")]
    pub(crate) service: String,
    /// Keep following the log.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// Number of lines from the end.
    #[arg(long, default_value_t = 200)]
    pub(crate) tail: u32,
}

#[derive(Debug, Args)]
pub(crate) struct Psql {
    /// Database to connect to (default: the first application database).
    #[arg(long, short)]
    pub(crate) database: Option<String>,
    /// Arguments passed to psql unchanged (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServiceUrls {
    /// Include passwords in the URLs.
    #[arg(long)]
    pub(crate) show_passwords: bool,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct CreateUser {
    /// Role name (any text; it is quoted); `core_data_` and `pg_` prefixes are reserved.
    pub(crate) name: String,
    /// Read the password from this file instead of generating one.
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DropUser {
    /// Role name. The superuser, `core_data_backup`, `core_data_reader` and the owners
    /// of `APP_DATABASES` are never dropped.
    pub(crate) name: String,
    /// Confirm dropping it.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Also drop a role with SUPERUSER or a `pg_` name (refused otherwise).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CreateDb {
    /// Database name (any text; it is quoted); `core_data_` and `pg_` prefixes are reserved.
    pub(crate) name: String,
    /// Owning role; it must exist.
    pub(crate) owner: String,
}

#[derive(Debug, Args)]
pub(crate) struct DropDb {
    /// Database name.
    pub(crate) name: String,
    /// Confirm dropping it.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Re-render the configuration and reload or restart the server as the changes require.
    Apply,
    /// Check `.env` and print the rendered postgresql.conf without applying it; `--diff` prints
    /// only the settings `config apply` would change (with `--workload W`, what changing
    /// `PG_WORKLOAD` to W would change).
    Show(ConfigShow),
    /// Compare the rendered configuration with the live server (settings and their sources,
    /// ALTER SYSTEM overrides, file errors, pending restarts, hba rules, preload libraries, the
    /// bundle in each database); exit 1 on drift. `config apply` fixes it.
    Check(ConfigCheck),
}

#[derive(Debug, Args)]
pub(crate) struct ConfigShow {
    /// Print only the settings that differ from the installed configuration (old -> new).
    #[arg(long)]
    pub(crate) diff: bool,
    /// Preview another workload (web, oltp, dw, mixed, desktop): its `auto` tuning values
    /// instead of the current ones; `.env` is not changed. Set `PG_WORKLOAD` in `.env` and run
    /// `cargo xtask config apply` to apply it.
    #[arg(long, value_name = "WORKLOAD")]
    pub(crate) workload: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Time from `up` (image present, fresh volumes) to healthy-and-bootstrapped, next to a bare
    /// `docker run` of the same image (initdb, then the server) to `pg_isready`, each with where
    /// the time went; with 1 and 20 application databases.
    Up(BenchUp),
    /// Our tuning against stock tuning with the same features, and the cost of the hardening
    /// features, on pgbench read-write and read-only; TPS, checkpoints, WAL and the ratios.
    #[command(long_about = None, after_long_help = TUNING_WORKLOAD)]
    Tuning(BenchTuning),
    /// A full pgBackRest backup of a generated database next to `tar | <its compressor>` (same
    /// algorithm, level and processes) and a plain `tar` read, then `backup --verify` next to the
    /// backup; at each size.
    Backup(BenchBackup),
    /// A whole-cluster restore of a generated database (per step) and the rollback after a
    /// failure injected once the restored server is healthy, next to a plain restart.
    Restore(BenchRestore),
    /// The downtime of `upgrade --yes` (link mode) from the oldest major of `suites.txt` on a
    /// generated database, per step, next to initdb and a plain `pg_upgrade --link` of the same
    /// cluster run by hand (the floor); one fresh stack per size. Link mode copies no data, so
    /// both should stay nearly flat as the size grows.
    Upgrade(BenchUpgrade),
    /// Overhead of a runbook primitive: `pg::query("SELECT 1")` from Rhai vs from Rust; median, p95, ratio.
    Runbook(BenchRunbook),
    /// `audit all` on a scratch stack with many databases (one with many tables), next to the
    /// server time of the statements it ran (pg_stat_statements); at 1, half and all databases.
    /// The floor leaves out connections and round trips, which is what the ratio shows.
    Audit(BenchAudit),
    /// Job queue throughput (jobs/s for 1, 4 and 8 workers, empty payloads) next to a bare
    /// `INSERT` + `DELETE … RETURNING` loop on a plain table, and dequeue latency on a vacuumed
    /// `jobs` table versus after a million jobs passed through it with no VACUUM since.
    Queue(BenchQueue),
    /// pgbench through PgBouncer next to pgbench straight at postgres, at each client count: a new
    /// connection per transaction (`-C`, where pooling should win) and steady connections (where
    /// it should cost little); TPS and the ratio. Runs on a scratch stack with the profile on.
    Pgbouncer(BenchPgbouncer),
    /// The `ha` topology on a scratch cluster (3 nodes, 3 etcd members): failover time over
    /// `--kills` SIGKILLs of the leader's container (kill to the first write acknowledged through
    /// HAProxy; median and max), the write pause of `--switchovers` switchovers, and commit
    /// latency through the read-write port with synchronous mode on and off next to a single
    /// server (the floor; median, p99 and the ratios).
    Ha(BenchHa),
}

#[derive(Debug, Args)]
pub(crate) struct BenchHa {
    /// Leader kills measured.
    #[arg(long, default_value_t = 5)]
    pub(crate) kills: u32,
    /// Switchovers measured.
    #[arg(long, default_value_t = 3)]
    pub(crate) switchovers: u32,
    /// Commits per latency measurement.
    #[arg(long, default_value_t = 1000)]
    pub(crate) commits: u32,
}

#[derive(Debug, Args)]
pub(crate) struct BenchAudit {
    /// Databases created (each with the extension bundle).
    #[arg(long, default_value_t = 10)]
    pub(crate) databases: u32,
    /// Tables (each with a key and an index) in the first database.
    #[arg(long, default_value_t = 1000)]
    pub(crate) tables: u32,
    /// Measured runs per scope (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: u32,
}

#[derive(Debug, Args)]
pub(crate) struct BenchUp {
    /// Repetitions of each measurement (configurations and the floor alternate).
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: u32,
    /// Application databases configured (`APP_DATABASES`), one configuration per count.
    #[arg(long, value_delimiter = ',', default_value = "1,20")]
    pub(crate) databases: Vec<u32>,
}

/// `bench tuning --help`: the workload and why it shows what tuning does.
const TUNING_WORKLOAD: &str = "The workload: pgbench's TPC-B-like read-write transactions and its read-only \
--select-only, alternating between three scratch stacks with the same image, limits, preload libraries, \
archiving and checksums: stock tuning (every tuning setting at the server's built-in default, \
pg_settings.boot_val), ours, and ours without hardening (archiving, pgaudit logging, pg_stat_statements and \
auto_explain off). The data (by default two thirds of our shared_buffers) is larger than stock shared_buffers \
(128 MB) and smaller than ours, so the buffer pool matters; read-write runs of a minute write more WAL than \
the stock checkpoint distance (max_wal_size 1 GB), so checkpoint and WAL settings matter. Each run reports \
its checkpoints and the WAL it wrote; figures are medians with the spread (max - min over the median).";

#[derive(Debug, Args)]
pub(crate) struct BenchTuning {
    /// pgbench scale factor (about 15 MB per unit); default: two thirds of our shared_buffers.
    #[arg(long)]
    pub(crate) scale: Option<u32>,
    /// Seconds per pgbench run.
    #[arg(long, default_value_t = 60)]
    pub(crate) seconds: u32,
    /// pgbench client connections.
    #[arg(long, default_value_t = 8)]
    pub(crate) clients: u32,
    /// Runs per configuration and mode (alternating, the order rotating each run).
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: u32,
}

#[derive(Debug, Args)]
pub(crate) struct BenchRestore {
    /// Size of the generated database in MB.
    #[arg(long, default_value_t = 256)]
    pub(crate) size_mb: u32,
}

#[derive(Debug, Args)]
pub(crate) struct BenchUpgrade {
    /// Sizes of the generated database in MB, one fresh stack each.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096")]
    pub(crate) size_mb: Vec<u32>,
    /// The target major (default: the newest of postgres/suites.txt).
    #[arg(long, value_name = "MAJOR")]
    pub(crate) to: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchBackup {
    /// Sizes of the generated database in MB, one fresh stack each (shows how time grows).
    #[arg(long, value_delimiter = ',', default_value = "1024,4096")]
    pub(crate) size_mb: Vec<u32>,
}
