//! The upgrade's journal (`upgrade-journal.json` in the state directory),
//! written before each step runs, so a failure or a kill is rolled back from
//! exactly what was done.

use anyhow::Context;
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use super::workspace::{PGDATA, PGWAL};
use crate::paths::Paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The server and sidecar are being stopped; nothing on the volumes changed.
    Stopping,
    /// pg_upgrade runs: the new cluster is being made beside the old one, whose
    /// `global/pg_control` pg_upgrade renames to `pg_control.old` before linking.
    Upgrading,
    /// The directories are being swapped (old aside, new in place).
    Swapping,
    /// `.env` names the new major and the new server is starting (its entrypoint
    /// upgrades the pgBackRest stanza).
    Starting,
    /// The new server is healthy: the point of no return.
    Started,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub id: String,
    pub from: u32,
    pub to: u32,
    pub started: String,
    /// The full backup taken first (the rollback point once the new server started).
    pub backup_set: String,
    /// `.env` as it was, put back by a rollback.
    pub env_before: String,
    pub step: Step,
    /// The old cluster's last checkpoint (its clean shutdown), read before pg_upgrade:
    /// `upgrade --rollback` recovers exactly to it.
    #[serde(default)]
    pub old_checkpoint: Option<String>,
}

impl Journal {
    pub fn new_data(&self) -> String {
        format!("{PGDATA}.upgrade-{}", self.id)
    }
    pub fn new_wal(&self) -> String {
        format!("{PGWAL}.upgrade-{}", self.id)
    }
    pub fn aside_data(&self) -> String {
        format!("{PGDATA}.pre-upgrade-{}", self.id)
    }
    pub fn aside_wal(&self) -> String {
        format!("{PGWAL}.pre-upgrade-{}", self.id)
    }
}

pub(crate) fn file(paths: &Paths) -> Utf8PathBuf {
    paths.state().join("upgrade-journal.json")
}

/// The record of the last completed upgrade (`upgrade --rollback` reads it).
pub(crate) fn done_file(paths: &Paths) -> Utf8PathBuf {
    paths.state().join("upgrade-done.json")
}

pub(crate) fn read(paths: &Paths) -> anyhow::Result<Option<Journal>> {
    read_at(&file(paths), "an interrupted upgrade")
}

/// The last completed upgrade, while it can still be rolled back.
pub(crate) fn read_done(paths: &Paths) -> anyhow::Result<Option<Journal>> {
    read_at(&done_file(paths), "the last completed upgrade")
}

/// A journal-like JSON file whose id names directories: refused unless the id is a UTC stamp.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Utf8PathBuf,
    what: &str,
    id: impl Fn(&T) -> &str,
) -> anyhow::Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value: T = serde_json::from_str(&text).with_context(|| {
                format!("`{path}` is unreadable; it records {what}: do not delete it, inspect the volumes")
            })?;
            // The id names the directories a rollback moves and removes: a UTC stamp only.
            let stamp = id(&value);
            if !is_stamp(stamp) {
                anyhow::bail!(
                    "`{path}` has the id `{stamp}`, which is not one core_data makes; nothing was changed: inspect it"
                );
            }
            Ok(Some(value))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("failed to read `{path}`")),
    }
}

fn read_at(path: &Utf8PathBuf, what: &str) -> anyhow::Result<Option<Journal>> {
    read_json(path, what, |journal: &Journal| journal.id.as_str())
}

/// The "Latest checkpoint location" of `pg_controldata` output, when the
/// cluster was shut down cleanly (otherwise there is no single end to recover to).
pub(crate) fn clean_checkpoint(control: &str) -> Option<String> {
    let field = |name: &str| {
        control
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.trim().to_owned())
    };
    (field("Database cluster state:").as_deref() == Some("shut down"))
        .then(|| field("Latest checkpoint location:"))
        .flatten()
}

/// `20261203T094552Z`.
pub(crate) fn is_stamp(id: &str) -> bool {
    id.len() == 16
        && id.char_indices().all(|(i, c)| match i {
            8 => c == 'T',
            15 => c == 'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Refuses while an upgrade is unfinished: `command` would act on directories
/// and a `.env` the upgrade is in the middle of changing.
pub fn refuse_if_pending(paths: &Paths, command: &str) -> anyhow::Result<()> {
    super::rollback::refuse_if_pending(paths, command)?;
    if let Some(journal) = read(paths)? {
        anyhow::bail!(
            "an upgrade from PostgreSQL {} to {} (id {}) is unfinished (step {:?}); `{command}` waits for it: run `cargo xtask up`, which finishes it or rolls it back",
            journal.from, journal.to, journal.id, journal.step
        );
    }
    Ok(())
}

pub(crate) fn write(paths: &Paths, journal: &Journal) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(journal)?;
    crate::fsutil::write_atomic(&file(paths), text.as_bytes(), 0o600)
}

pub(crate) fn remove(paths: &Paths) -> anyhow::Result<()> {
    remove_file(&file(paths))
}

/// The upgrade is over (its new server ran healthy): the journal goes and
/// becomes the record `upgrade --rollback` starts from.
pub(crate) fn complete(paths: &Paths, journal: &Journal) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(journal)?;
    crate::fsutil::write_atomic(&done_file(paths), text.as_bytes(), 0o600)?;
    remove(paths)
}

pub(crate) fn remove_file(path: &Utf8PathBuf) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::clean_checkpoint;

    #[test]
    fn only_a_clean_shutdown_gives_a_checkpoint_to_recover_to() {
        let control = |state: &str| {
            format!("pg_control version number:            1300\nDatabase cluster state:               {state}\nLatest checkpoint location:           0/17000028\n")
        };
        assert_eq!(
            clean_checkpoint(&control("shut down")).as_deref(),
            Some("0/17000028")
        );
        assert_eq!(clean_checkpoint(&control("in production")), None);
        assert_eq!(clean_checkpoint("garbage"), None);
    }
}
