//! The backups part of the bundle: pgBackRest's sets (`backup info`) and the
//! newest backup proven restorable, from the records of `restore_drill`
//! (`backups/drills/drill-*.json`, written by the shipped runbook; a drill is
//! `backup verify` plus RTO/RPO). A set is only "verified" by a drill record
//! that says it passed.

use camino::Utf8Path;
use serde::Serialize;

use crate::backup::physical::BackupSet;

#[derive(Debug, Clone, Serialize)]
pub struct Backups {
    pub sets: Vec<BackupSet>,
    /// The newest passed drill's record, as the runbook wrote it.
    pub newest_verified: Option<serde_json::Value>,
    /// Drill records read (passed or not).
    pub drills_read: usize,
    pub notes: Vec<String>,
}

/// The newest drill record (by its file name, which starts with the drill's
/// UTC stamp) whose `passed` is true, and how many records there were.
pub fn newest_verified(drills: &Utf8Path) -> anyhow::Result<(Option<serde_json::Value>, usize)> {
    let entries = match drills.read_dir_utf8() {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((None, 0)),
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("failed to list `{drills}`")))
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_owned())
        .filter(|name| name.starts_with("drill-") && name.ends_with(".json"))
        .collect();
    names.sort();
    let read = names.len();
    for name in names.iter().rev() {
        let Ok(text) = std::fs::read_to_string(drills.join(name)) else {
            continue;
        };
        let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if record.get("passed").and_then(serde_json::Value::as_bool) == Some(true) {
            return Ok((Some(record), read));
        }
    }
    Ok((None, read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_passed_drill_counts() {
        let dir = tempfile::tempdir().unwrap();
        let drills = camino::Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        assert_eq!(newest_verified(&drills.join("none")).unwrap().1, 0);
        std::fs::write(
            drills.join("drill-20261201T000000Z-1.json"),
            r#"{"set":"a","passed":true}"#,
        )
        .unwrap();
        std::fs::write(
            drills.join("drill-20261202T000000Z-1.json"),
            r#"{"set":"b","passed":false}"#,
        )
        .unwrap();
        std::fs::write(
            drills.join("drill-20261203T000000Z-1.json"),
            r#"{"status":"started"}"#,
        )
        .unwrap();
        std::fs::write(drills.join("drills.csv"), "x").unwrap();
        let (record, read) = newest_verified(&drills).unwrap();
        assert_eq!(read, 3);
        assert_eq!(record.unwrap()["set"], "a");
    }
}
