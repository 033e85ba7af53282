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
///
/// `--rehearse` runs the upgrade on a clone and reports its measured downtime and each step's
/// time; the live cluster is not touched. The same checks first (a blocked upgrade is a blocked
/// rehearsal, exit 1); the clone is the newest backup set restored from the repository into
/// volumes of its own and recovered to the end of the archived WAL; then stop, initdb,
/// `pg_upgrade --link`, the swap and the start as the upgrade runs them; the clone is removed.
///
/// `--rollback --yes`, after a completed upgrade: the old major back with the data as the
/// upgrade found it. The upgrade's full backup is restored with the old major's pgBackRest
/// beside the running server, then the new major stops, the archived WAL and the WAL the old
/// cluster left in its set-aside directory are replayed, and the old major starts and takes the
/// backup repository's stanza back. Writes made on the new major since the upgrade are not
/// carried back (its cluster is kept aside as `pgdata.pre-rollback-<id>`). A failure before the
/// old server is promoted puts the new major back. Without `--yes` it prints the plan and exits 1.
#[derive(Debug, Args)]
pub(crate) struct Upgrade {
    /// The target major (default: the newest of postgres/suites.txt).
    #[arg(long, value_name = "MAJOR")]
    pub(crate) to: Option<u32>,
    /// Check only; change nothing.
    #[arg(long, conflicts_with = "yes")]
    pub(crate) check: bool,
    /// Run the whole upgrade on a clone of the newest backup set and report the measured
    /// downtime; the live cluster is not touched.
    #[arg(long, conflicts_with_all = ["yes", "check"])]
    pub(crate) rehearse: bool,
    /// Run the upgrade.
    #[arg(long)]
    pub(crate) yes: bool,
    /// After an upgrade whose follow-up was cut short or reported errors: update every
    /// database's extensions to the image's versions and rebuild statistics again.
    #[arg(long, conflicts_with_all = ["yes", "check", "to", "rehearse"])]
    pub(crate) finish: bool,
    /// Undo the last completed upgrade: restore its pre-upgrade backup into the old major
    /// (with `--yes`; alone, print the plan and exit 1).
    #[arg(long, conflicts_with_all = ["check", "to", "finish", "rehearse"])]
    pub(crate) rollback: bool,
    #[command(flatten)]
    pub(crate) format: FormatArg,
}
