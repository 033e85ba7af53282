//! The journals of operations that move clusters: a restore's (`restore-journal.json`
//! in the state directory, `core_data.restore.json` in the data volume) and a major
//! upgrade's (`upgrade-journal.json` in the state directory). A journal exists only
//! while its operation is unfinished; while one does, no set-aside copy is removed.
//! Journals are read as plain JSON for their `id` and `step` only, so an unreadable
//! one still counts.

use camino::Utf8PathBuf;
use serde::Serialize;

use super::names::{AsideName, Kind};
use crate::backup::restore;
use crate::paths::Paths;

/// An unfinished restore or upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// `restore` or `upgrade`.
    pub operation: Kind,
    /// Where its journal was found (a host path or a path in the data volume).
    pub journal: String,
    /// Its id; `None` when the journal could not be read.
    pub id: Option<String>,
    /// The step it stopped at, as the journal names it.
    pub step: Option<String>,
}

impl Pending {
    /// Whether this operation's own set-aside directories are `name`'s.
    pub fn refers_to(&self, name: &AsideName) -> bool {
        self.operation == name.kind && self.id.as_deref() == Some(name.id.as_str())
    }

    /// What the operator does about it.
    pub fn hint(&self) -> &'static str {
        match self.operation {
            Kind::Restore => "`cargo xtask up` finishes or rolls back an interrupted restore",
            Kind::Upgrade => "finish or roll back the upgrade first",
            Kind::Rollback => "`cargo xtask up` finishes or undoes an interrupted upgrade rollback",
        }
    }

    /// ``the unfinished restore `<id>` (step `swapping`, journal `…`)``.
    pub fn describe(&self) -> String {
        format!(
            "the unfinished {} `{}` (step `{}`, journal `{}`)",
            self.operation,
            self.id.as_deref().unwrap_or("?"),
            self.step.as_deref().unwrap_or("?"),
            self.journal
        )
    }
}

/// The journals in the state directory.
pub fn on_host(paths: &Paths) -> anyhow::Result<Vec<Pending>> {
    let mut found = Vec::new();
    for (operation, file) in [
        (Kind::Restore, restore::journal_host_file(paths)),
        (Kind::Upgrade, crate::upgrade::journal_file(paths)),
        (Kind::Rollback, crate::upgrade::rollback_journal_file(paths)),
    ] {
        if let Some(text) = read_host(&file)? {
            found.push(parse(operation, file.into_string(), &text));
        }
    }
    Ok(found)
}

/// The paths of the journals in the data volume, with their operation.
pub fn volume_files() -> [(Kind, &'static str); 1] {
    [(Kind::Restore, restore::JOURNAL_IN_VOLUME)]
}

fn read_host(file: &Utf8PathBuf) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(anyhow::anyhow!("failed to read `{file}`: {err}")),
    }
}

/// A journal's `id` and `step`; unreadable ones keep `None`.
pub fn parse(operation: Kind, journal: String, text: &str) -> Pending {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let field = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Pending {
        operation,
        journal,
        id: field("id"),
        step: field("step"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::names::parse as parse_name;
    use super::*;

    #[test]
    fn a_journal_refers_to_its_own_kind_and_id_only() {
        let pending = parse(
            Kind::Restore,
            "j".to_owned(),
            r#"{"id":"20261203T061500Z","step":"starting","set":"x"}"#,
        );
        assert_eq!(pending.id.as_deref(), Some("20261203T061500Z"));
        assert_eq!(pending.step.as_deref(), Some("starting"));
        let refers = |name: &str| pending.refers_to(&parse_name(name).unwrap());
        assert!(refers("pgdata.pre-restore-20261203T061500Z"));
        assert!(refers("pg_wal.pre-restore-20261203T061500Z"));
        assert!(!refers("pgdata.pre-upgrade-20261203T061500Z"));
        assert!(!refers("pgdata.pre-restore-20261203T061501Z"));
    }

    #[test]
    fn an_unreadable_journal_is_still_pending_but_names_nothing() {
        let pending = parse(Kind::Upgrade, "j".to_owned(), "{ half a journ");
        assert_eq!(pending.id, None);
        assert!(!pending.refers_to(&parse_name("pgdata.pre-upgrade-20261203T061500Z").unwrap()));
        assert!(pending.describe().contains("unfinished upgrade `?`"));
    }
}
