//! Arguments of `adopt`.

use camino::Utf8PathBuf;
use clap::Args;

/// Bring an existing PostgreSQL data directory under core_data, leaving the source as it was.
///
/// The source is a data directory as the official postgres image or a plain `initdb` leaves it,
/// of this stack's PG_MAJOR or an older major of postgres/suites.txt, cleanly shut down, with
/// its pg_wal inside it and no tablespaces. The stack must have no cluster yet (no server
/// running, empty data and WAL volumes, no stanza in the repository): adopt never replaces data.
///
/// `--yes` copies the source (mounted read-only; never linked) into the stack's volumes,
/// upgrades the copy with `pg_upgrade --link` when its major is older, makes the stack's
/// superuser a superuser with the password of its secret file, and starts the stack on it:
/// core_data's configuration, TLS, roles and databases, the pgBackRest stanza, and the
/// extension bundle in `template1`, `postgres` and the configured databases (after an upgrade
/// every extension is updated and statistics are rebuilt). The source's postgresql.conf,
/// pg_hba.conf and postgresql.auto.conf are not used. Any failure rolls back to a stack
/// without a cluster; the source is the way back and is never written. Without `--yes` it
/// checks, prints the plan and exits 1.
#[derive(Debug, Args)]
pub(crate) struct Adopt {
    /// A data directory on the Docker host (the directory holding PG_VERSION).
    #[arg(long, value_name = "PATH", required_unless_present = "from_volume")]
    pub(crate) from_dir: Option<Utf8PathBuf>,
    /// A Docker volume whose top level is the data directory (as the official image's
    /// `/var/lib/postgresql/data`).
    #[arg(long, value_name = "NAME", conflicts_with = "from_dir")]
    pub(crate) from_volume: Option<String>,
    /// Run it.
    #[arg(long)]
    pub(crate) yes: bool,
}
