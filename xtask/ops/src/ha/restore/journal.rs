//! The journal of a restore on the `ha` topology, in the state directory
//! (`ha-restore-journal.json`), written before each step: what `up` and the
//! next `restore` read to finish or roll back a run that was killed. Every
//! directory a restore creates or sets aside is named after its `id`, so
//! recovery never guesses which are its own.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::backup::restore::workspace::{PGDATA, PGWAL};
use crate::paths::Paths;

/// The steps, in order; each is recorded before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// pgBackRest restores into staging directories in the leader's volumes; the cluster runs.
    Staging,
    /// Every node is being stopped, the replicas first.
    Stopping,
    /// The stopped leader's WAL is being copied into the staging WAL directory.
    CopyingWal,
    /// Every node's data and WAL directories are being set aside.
    SettingAside,
    /// Patroni's state in etcd is cleared and the leader's node bootstraps the
    /// cluster from the staged restore (recovery, promotion).
    Bootstrapping,
    /// The restored node leads: past the point of no return. The other nodes
    /// join it as new replicas.
    Promoted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub started: String,
    pub set: String,
    pub target_time: Option<String>,
    pub discard_old: bool,
    /// The node the backup is restored into (the leader when the restore began).
    pub leader: String,
    /// Every node of the cluster.
    pub nodes: Vec<String>,
    pub step: Step,
}

/// Where a node's volumes are mounted in the restore's workspace.
pub(super) fn node_root(node: &str) -> String {
    format!("/nodes/{node}")
}

impl Journal {
    /// The staging directories, at the paths the leader's node sees them
    /// (its volumes are also mounted at the usual paths in the workspace).
    pub fn staging_data(&self) -> String {
        format!("{PGDATA}.restore-{}", self.id)
    }
    pub fn staging_wal(&self) -> String {
        format!("{PGWAL}.restore-{}", self.id)
    }
    /// A node's live data and WAL directories in the workspace.
    pub fn live(&self, node: &str) -> (String, String) {
        let root = node_root(node);
        (format!("{root}/data/pgdata"), format!("{root}/wal/pg_wal"))
    }
    /// Where a node's data and WAL directories are set aside.
    pub fn aside(&self, node: &str) -> (String, String) {
        let (data, wal) = self.live(node);
        (
            format!("{data}.pre-restore-{}", self.id),
            format!("{wal}.pre-restore-{}", self.id),
        )
    }
    /// The other nodes, which become new replicas.
    pub fn replicas(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| **n != self.leader)
            .cloned()
            .collect()
    }
}

pub(super) fn host_file(paths: &Paths) -> Utf8PathBuf {
    paths.state().join("ha-restore-journal.json")
}

/// The journal of an unfinished restore, if any.
pub(super) fn read(paths: &Paths) -> anyhow::Result<Option<Journal>> {
    let file = host_file(paths);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "the restore journal `{file}` is unreadable ({err}); it records an interrupted \
                 restore of the `ha` cluster: do not delete it; the nodes' set-aside directories \
                 are named `*.pre-restore-<id>` in their volumes"
            )
        })?)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(anyhow::anyhow!("failed to read `{file}`: {err}")),
    }
}

pub(super) fn record(paths: &Paths, journal: &Journal) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(journal)?;
    crate::fsutil::write_atomic(&host_file(paths), json.as_bytes(), 0o600)
}

pub(super) fn clear(paths: &Paths) -> anyhow::Result<()> {
    match std::fs::remove_file(host_file(paths)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_directory_is_named_after_the_restore() {
        let journal = Journal {
            id: "20261203T200000Z".to_owned(),
            started: String::new(),
            set: "s".to_owned(),
            target_time: None,
            discard_old: false,
            leader: "pg2".to_owned(),
            nodes: vec!["pg1".to_owned(), "pg2".to_owned(), "pg3".to_owned()],
            step: Step::Staging,
        };
        assert_eq!(
            journal.staging_data(),
            "/var/lib/postgresql/data/pgdata.restore-20261203T200000Z"
        );
        assert_eq!(
            journal.aside("pg3"),
            (
                "/nodes/pg3/data/pgdata.pre-restore-20261203T200000Z".to_owned(),
                "/nodes/pg3/wal/pg_wal.pre-restore-20261203T200000Z".to_owned()
            )
        );
        assert_eq!(journal.replicas(), vec!["pg1", "pg3"]);
        assert!(Step::Bootstrapping < Step::Promoted);
    }
}
