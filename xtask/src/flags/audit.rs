//! Arguments of the audits (`audit …`, `config check`), the pg_stat_statements
//! snapshots, `version-status`, `exercise-extensions` and `pgtap-smoke`.

use camino::Utf8PathBuf;
use clap::{Args, Subcommand, ValueEnum};

/// How a report prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Aligned text for people.
    #[default]
    Table,
    /// One row per finding with a header (`audit,database,object,check,severity,value,detail`).
    Csv,
    /// One JSON document (schema: docs/schema/audit.schema.json).
    Json,
}

/// Where and how a report goes.
#[derive(Debug, Clone, Args)]
pub(crate) struct ReportArgs {
    /// `table` for people, `csv` or `json` for machines.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub(crate) format: ReportFormat,
    /// Write the report to this file instead of stdout (replaced atomically).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<Utf8PathBuf>,
}

/// The databases a command covers.
#[derive(Debug, Clone, Args)]
pub(crate) struct DbArgs {
    /// Only this database (repeatable); default: every database that accepts connections.
    #[arg(long = "db", value_name = "NAME")]
    pub(crate) databases: Vec<String>,
}

/// Thresholds; each defaults to its `AUDIT_*` key in `.env`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Thresholds (default: the AUDIT_* keys of .env)")]
pub(crate) struct ThresholdArgs {
    /// Dead tuples a table must have to need vacuum (AUDIT_DEAD_TUPLES_MIN).
    #[arg(long, value_name = "N")]
    pub(crate) dead_tuples_min: Option<i64>,
    /// Share of dead among live plus dead tuples that needs vacuum, 0..1 (AUDIT_DEAD_TUPLE_RATIO).
    #[arg(long, value_name = "RATIO")]
    pub(crate) dead_tuple_ratio: Option<f64>,
    /// Transaction-ID or multixact age, in percent of the 2^31 limit (AUDIT_WRAPAROUND_PERCENT).
    #[arg(long, value_name = "PERCENT")]
    pub(crate) wraparound_percent: Option<f64>,
    /// WAL a replication slot may retain, in MB (AUDIT_SLOT_RETAINED_MB).
    #[arg(long, value_name = "MB")]
    pub(crate) slot_retained_mb: Option<i64>,
    /// Standby lag that is a finding, in seconds (AUDIT_REPLICATION_LAG_SECONDS).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) replication_lag_seconds: Option<i64>,
    /// Wasted leaf space of an index that is bloat, in percent (AUDIT_INDEX_BLOAT_PERCENT).
    #[arg(long, value_name = "PERCENT")]
    pub(crate) index_bloat_percent: Option<f64>,
    /// Indexes smaller than this are not examined for bloat, in MB (AUDIT_INDEX_MIN_SIZE_MB).
    #[arg(long, value_name = "MB")]
    pub(crate) min_size_mb: Option<i64>,
    /// `require`: a login role without VALID UNTIL is a finding (AUDIT_VALID_UNTIL).
    #[arg(long, value_name = "POLICY", value_parser = ["ignore", "require"])]
    pub(crate) valid_until: Option<String>,
    /// Failed pg_cron runs within this many hours are findings (AUDIT_CRON_LOOKBACK_HOURS).
    #[arg(long, value_name = "HOURS")]
    pub(crate) cron_lookback_hours: Option<i64>,
    /// Relations `audit buffercache` lists (AUDIT_BUFFERCACHE_LIMIT).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<i64>,
    /// Comma-separated column names that mark a table as sensitive (AUDIT_SENSITIVE_COLUMNS).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub(crate) sensitive_columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    pub(crate) db: DbArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
    #[command(flatten)]
    pub(crate) thresholds: ThresholdArgs,
}

/// Every audit reads through `core_data_auditor` (pg_monitor plus a few
/// SECURITY DEFINER functions; not a superuser) and exits 1 when a finding
/// crosses a threshold, 0 otherwise.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Login roles without a password or past VALID UNTIL, superusers, roles that can create
    /// roles or databases or bypass RLS, members of powerful predefined roles.
    Roles(AuditArgs),
    /// hba rules allowing trust/password/md5 or non-TLS, password-less logins, CREATE on
    /// `public`, sensitive-looking tables without RLS, SECURITY DEFINER functions without a
    /// pinned search_path, extensions that grant unusual rights.
    Security(AuditArgs),
    /// The bundle against each database: missing extensions, installed vs default versions.
    Extensions(AuditArgs),
    /// Dead tuples (count and ratio), last (auto)vacuum/analyze, transaction-ID and
    /// multixact wraparound age.
    Autovacuum(AuditArgs),
    /// Replication slots (lag, retained WAL, inactive) and standbys with their lag.
    Replication(AuditArgs),
    /// pg_cron jobs, their last run status and duration; failing jobs.
    Cron(AuditArgs),
    /// pg_squeeze targets, their last squeeze and errors.
    Squeeze(AuditArgs),
    /// B-tree indexes with wasted leaf space (pgstattuple), at least `--min-size-mb`.
    IndexBloat(AuditArgs),
    /// Unused, duplicate and invalid indexes.
    Indexes(AuditArgs),
    /// The relations occupying most of shared_buffers (pg_buffercache), `--limit` of them.
    Buffercache(AuditArgs),
    /// Write a schema snapshot (tables, columns, indexes, constraints, functions, extensions) or,
    /// with `--compare OLD`, list what changed since OLD (exit 1 when something did).
    Schema(SchemaArgs),
    /// `config check` and every audit above but `schema`, with one summary; exit 1 when any fails.
    All(AuditArgs),
}

impl AuditCommand {
    /// The registry name (`core_data_ops::audit::find`) and the arguments.
    pub(crate) fn parts(&self) -> (&'static str, &AuditArgs) {
        match self {
            AuditCommand::Roles(a) => ("roles", a),
            AuditCommand::Security(a) => ("security", a),
            AuditCommand::Extensions(a) => ("extensions", a),
            AuditCommand::Autovacuum(a) => ("autovacuum", a),
            AuditCommand::Replication(a) => ("replication", a),
            AuditCommand::Cron(a) => ("cron", a),
            AuditCommand::Squeeze(a) => ("squeeze", a),
            AuditCommand::IndexBloat(a) => ("index-bloat", a),
            AuditCommand::Indexes(a) => ("indexes", a),
            AuditCommand::Buffercache(a) => ("buffercache", a),
            AuditCommand::Schema(a) => ("schema", &a.audit),
            AuditCommand::All(a) => ("all", a),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SchemaArgs {
    /// Compare against this earlier snapshot: with one file, OLD against the live schema; with
    /// two, the first against the second.
    #[arg(long, value_name = "OLD", num_args = 1..=2)]
    pub(crate) compare: Vec<Utf8PathBuf>,
    /// Where the new snapshot goes (default: backups/audits/schema-<time>.json; never replaced).
    #[arg(long, value_name = "FILE")]
    pub(crate) snapshot: Option<Utf8PathBuf>,
    #[command(flatten)]
    pub(crate) audit: AuditArgs,
}

/// `config check`: the rendered configuration against the live server.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConfigCheck {
    #[command(flatten)]
    pub(crate) db: DbArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SnapshotPgstat {
    /// Where the snapshot goes (default: backups/pgstat/<time>.json; never replaced).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<Utf8PathBuf>,
}

/// What `diff-pgstat` ranks by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum PgstatSort {
    Calls,
    #[default]
    #[value(alias = "total_time")]
    TotalTime,
    #[value(alias = "mean_time")]
    MeanTime,
    Rows,
    #[value(alias = "shared_blks")]
    SharedBlks,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DiffPgstat {
    /// The earlier snapshot (from `snapshot-pgstat`).
    pub(crate) base: Utf8PathBuf,
    /// The later snapshot.
    pub(crate) compare: Utf8PathBuf,
    /// Statements listed.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// What the ranking is by.
    #[arg(long, value_enum, default_value_t = PgstatSort::TotalTime)]
    pub(crate) sort: PgstatSort,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct VersionStatus {
    /// The Docker network of the one-shot container that asks the mirror (with `none` it
    /// cannot reach it: the packages' side is reported as unknown, as on an offline host).
    #[arg(long, value_name = "NAME", default_value = "bridge")]
    pub(crate) network: String,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ExerciseExtensions {
    #[command(flatten)]
    pub(crate) db: DbArgs,
    #[command(flatten)]
    pub(crate) report: ReportArgs,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct PgtapSmoke {
    #[command(flatten)]
    pub(crate) db: DbArgs,
}
