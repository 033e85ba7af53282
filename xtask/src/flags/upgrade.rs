//! Arguments of `upgrade`.

use clap::Args;

use super::FormatArg;

/// Move the cluster to a later PostgreSQL major with `pg_upgrade --link`.
///
/// `--check` changes nothing: it builds the target's image and the upgrade image (both majors'
/// binaries) when due, then reports, beside the running server, the versions, every database's
/// extensions with their version in the target (one the target lacks blocks the upgrade),
/// `pg_upgrade --check` against the live cluster, the schema of every database loaded into a
/// scratch server of the target, the data size, the free space and a rough downtime estimate.
/// Exit 1 when something blocks the upgrade.
///
/// `--yes` runs it: the same checks, a full pgBackRest backup (the rollback point), the server
/// stopped, `pg_upgrade --link` into a new data directory in the same volume (no data copied),
/// the old cluster set aside as `pgdata.pre-upgrade-<id>` (kept: `cargo xtask old-clusters`
/// lists and removes it), `.env`'s PG_MAJOR and POSTGRES_IMAGE set to the target, the new server
/// started with the configuration rendered for it (its entrypoint upgrades the pgBackRest
/// stanza), extensions updated in every database (PostGIS's own upgrade function, `ALTER
/// EXTENSION … UPDATE` for the rest, pg_partman 4 to 5 included) and statistics rebuilt
/// (`vacuumdb --analyze-in-stages`). Any failure before the new server is healthy rolls back
/// to the old cluster by itself, as does the next `cargo xtask up` after a kill. Without
/// `--yes` or `--check` it prints the plan and exits 1.
#[derive(Debug, Args)]
pub(crate) struct Upgrade {
    /// The target major (default: the newest of postgres/suites.txt).
    #[arg(long, value_name = "MAJOR")]
    pub(crate) to: Option<u32>,
    /// Check only; change nothing.
    #[arg(long, conflicts_with = "yes")]
    pub(crate) check: bool,
    /// Run the upgrade.
    #[arg(long)]
    pub(crate) yes: bool,
    /// After an upgrade whose follow-up was cut short or reported errors: update every
    /// database's extensions to the image's versions and rebuild statistics again.
    #[arg(long, conflicts_with_all = ["yes", "check", "to"])]
    pub(crate) finish: bool,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}
