//! The limits past which a finding fails an audit. Defaults come from `.env`
//! (the `AUDIT_*` keys of `config::keys`); the CLI's flags override them.

use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// A table needs vacuum with at least this many dead tuples ...
    pub dead_tuples_min: i64,
    /// ... making up at least this share of its live plus dead tuples.
    pub dead_tuple_ratio: f64,
    /// Transaction-ID or multixact age, as a percentage of the 2^31 limit.
    pub wraparound_percent: f64,
    /// WAL a replication slot may retain before it is a finding (MB).
    pub slot_retained_mb: i64,
    /// Standby replay lag before it is a finding (seconds).
    pub replication_lag_seconds: i64,
    /// Share of an index's leaf pages that may be wasted before it is bloated.
    pub index_bloat_percent: f64,
    /// Indexes smaller than this are not examined for bloat (MB).
    pub min_size_mb: i64,
    /// Whether a login role without `VALID UNTIL` is a finding.
    pub require_valid_until: bool,
    /// How far back failing pg_cron runs count (hours).
    pub cron_lookback_hours: i64,
    /// Rows `audit buffercache` lists.
    pub buffercache_limit: i64,
    /// Column names (lowercase) that mark a table as holding sensitive data.
    pub sensitive_columns: Vec<String>,
}

fn number<T: std::str::FromStr>(config: &Config, key: &str) -> anyhow::Result<T> {
    config
        .get(key)
        .parse()
        .map_err(|_| anyhow::anyhow!("`{key}` in .env is not a number"))
}

impl Thresholds {
    pub fn from_config(config: &Config) -> anyhow::Result<Thresholds> {
        Ok(Thresholds {
            dead_tuples_min: number(config, "AUDIT_DEAD_TUPLES_MIN")?,
            dead_tuple_ratio: number(config, "AUDIT_DEAD_TUPLE_RATIO")?,
            wraparound_percent: number(config, "AUDIT_WRAPAROUND_PERCENT")?,
            slot_retained_mb: number(config, "AUDIT_SLOT_RETAINED_MB")?,
            replication_lag_seconds: number(config, "AUDIT_REPLICATION_LAG_SECONDS")?,
            index_bloat_percent: number(config, "AUDIT_INDEX_BLOAT_PERCENT")?,
            min_size_mb: number(config, "AUDIT_INDEX_MIN_SIZE_MB")?,
            require_valid_until: config.get("AUDIT_VALID_UNTIL") == "require",
            cron_lookback_hours: number(config, "AUDIT_CRON_LOOKBACK_HOURS")?,
            buffercache_limit: number(config, "AUDIT_BUFFERCACHE_LIMIT")?,
            sensitive_columns: config
                .get("AUDIT_SENSITIVE_COLUMNS")
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// 2^31, the distance at which PostgreSQL refuses new transaction IDs.
    pub const WRAPAROUND_LIMIT: f64 = 2_147_483_648.0;
}
