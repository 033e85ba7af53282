//! Arguments of `ha …`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum HaCommand {
    /// The cluster as Patroni and etcd see it: each node's role (leader, replica, sync standby),
    /// state, timeline and replication lag, and each etcd member's health. Exits 1 when no node
    /// is the leader, a configured node is not streaming from it, or an etcd member is unhealthy.
    Status(HaStatus),
}

#[derive(Debug, Args)]
pub(crate) struct HaStatus {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}
