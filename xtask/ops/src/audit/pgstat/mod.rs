//! `snapshot-pgstat` and `diff-pgstat`: pg_stat_statements (cluster-wide,
//! read as the auditor from `postgres`; `pg_read_all_stats` shows every
//! query's text) saved to a versioned JSON file, and the ranked deltas
//! between two such files.

pub mod diff;
pub mod render;
pub mod snapshot;

pub use diff::{diff, Diff, SortKey};
pub use snapshot::{take, Snapshot};
