//! The restore journal: written before each step, in the data volume (where
//! the entrypoint and the next run see it) and in the state directory (so
//! `up` knows to look without starting a container). Its directory names
//! derive from its `id`, so recovery can tell the restore's own directories
//! from everything else and never guesses.

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use super::workspace::{Workspace, PGDATA, PGWAL};
use crate::paths::Paths;

/// Where the journal lives in the data volume.
pub(crate) const VOLUME_FILE: &str = "/var/lib/postgresql/data/core_data.restore.json";
/// Present while directories are being swapped (either way): the entrypoint
/// refuses to start a server while it exists.
pub(crate) const SWAP_MARKER: &str = "/var/lib/postgresql/data/core_data.restore-swapping";

/// The steps of a restore, in order. Each is recorded before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// pgBackRest restores into the staging directories; the live cluster is untouched (and may run).
    Staging,
    /// The server and the sidecar are being stopped.
    Stopping,
    /// The stopped cluster's WAL is being copied into the staging WAL directory.
    CopyingWal,
    /// The live directories are being set aside and the staging ones moved in.
    Swapping,
    /// The restored cluster is starting and recovering.
    Starting,
    /// The restored cluster has promoted: past the point of no return.
    Promoted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub started: String,
    pub set: String,
    pub target_time: Option<String>,
    pub discard_old: bool,
    /// Whether a data directory / WAL directory existed when the restore began.
    pub had_data: bool,
    pub had_wal: bool,
    /// Whether the data directory held a cluster (`PG_VERSION`) to go back to.
    pub had_cluster: bool,
    pub step: Step,
}

impl Journal {
    pub fn staging_data(&self) -> String {
        format!("{PGDATA}.restore-{}", self.id)
    }
    pub fn staging_wal(&self) -> String {
        format!("{PGWAL}.restore-{}", self.id)
    }
    pub fn aside_data(&self) -> String {
        format!("{PGDATA}.pre-restore-{}", self.id)
    }
    pub fn aside_wal(&self) -> String {
        format!("{PGWAL}.pre-restore-{}", self.id)
    }
}

pub(crate) fn host_file(paths: &Paths) -> Utf8PathBuf {
    paths.state().join("restore-journal.json")
}

/// The journal the state directory knows of, if any.
pub(crate) fn read_host(paths: &Paths) -> anyhow::Result<Option<Journal>> {
    let file = host_file(paths);
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!("the restore journal `{file}` is unreadable ({err}); it records an interrupted restore: do not delete it, inspect the volumes with `cargo xtask status`")
        })?)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(anyhow::anyhow!("failed to read `{file}`: {err}")),
    }
}

/// The journal in the data volume, if any (authoritative).
pub(crate) fn read_volume(workspace: &Workspace<'_>) -> anyhow::Result<Option<Journal>> {
    match workspace.read_file(VOLUME_FILE)? {
        None => Ok(None),
        Some(text) => Ok(Some(serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "the restore journal `{VOLUME_FILE}` in the data volume is unreadable ({err})"
            )
        })?)),
    }
}

/// Records `journal` (its step included) in both places: the host first, so
/// `up` always knows to look.
pub(crate) fn record(
    paths: &Paths,
    workspace: &Workspace<'_>,
    journal: &Journal,
) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(journal)?;
    crate::fsutil::write_atomic(&host_file(paths), json.as_bytes(), 0o600)?;
    workspace.write_file(VOLUME_FILE, json.as_bytes())
}

/// Removes the journal: the volume's first, then the host's.
pub(crate) fn clear(paths: &Paths, workspace: &Workspace<'_>) -> anyhow::Result<()> {
    workspace.remove(VOLUME_FILE)?;
    workspace.remove(SWAP_MARKER)?;
    workspace.sync()?;
    match std::fs::remove_file(host_file(paths)) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err.into()),
    }
}
