//! Arguments of `ha …`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum HaCommand {
    /// The cluster as Patroni and etcd see it: each node's role (leader, replica, sync standby),
    /// state, timeline and replication lag, and each etcd member's health. Exits 1 when no node
    /// is the leader, a configured node is not streaming from it, or an etcd member is unhealthy.
    Status(HaStatus),
    /// Move the leader to another node with a clean shutdown of the old one (no commit is lost;
    /// writes pause for a few seconds, reads through the read-only port go on). The old leader
    /// follows the new one. Refused unless the cluster is settled.
    Switchover(HaSwitchover),
    /// Promote NODE at once, whatever the leader's state: for a leader that is lost when Patroni
    /// does not promote by itself (maintenance mode, a replica past the lag limit). Without
    /// `--yes` it prints what it would do and exits 1.
    Failover(HaFailover),
    /// Delete a replica's data and copy it again from the leader (for a replica that cannot
    /// follow: diverged, corrupted). The leader is refused. Without `--yes` it prints the plan.
    Reinit(HaReinit),
    /// Maintenance mode: Patroni stops failing over and restarting servers until `ha resume`.
    Pause,
    /// Leave maintenance mode: automatic failover is on again.
    Resume,
    /// Rolling restart: each replica in turn (drained from the read-only port first), then a
    /// switchover, which restarts the old leader as a replica. Readers see no error; writers
    /// see one switchover's pause.
    Restart(HaRestart),
    /// Patroni's cluster-wide configuration.
    #[command(subcommand)]
    Config(HaConfigCommand),
}

#[derive(Debug, Args)]
pub(crate) struct HaStatus {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct HaSwitchover {
    /// The node to make the leader (in synchronous mode, the sync standby); by default the
    /// replica Patroni finds healthiest.
    #[arg(long, value_name = "NODE")]
    pub(crate) to: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct HaFailover {
    /// The node to promote.
    #[arg(long, value_name = "NODE")]
    pub(crate) to: String,
    /// Run it.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HaReinit {
    /// The replica to copy again (pg1…pgN).
    pub(crate) node: String,
    /// Run it.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct HaRestart {
    /// Only the nodes Patroni marks as needing a restart (a setting changed that needs one).
    #[arg(long)]
    pub(crate) pending: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HaConfigCommand {
    /// Put what `.env` says into the running cluster: the server configuration files are checked
    /// and installed, Patroni's dynamic configuration (timing, synchronous mode, the settings
    /// Patroni owns such as max_connections) is patched where it differs, every node reloads,
    /// and nodes that need a restart get a rolling one. Prints each change.
    Apply,
}
