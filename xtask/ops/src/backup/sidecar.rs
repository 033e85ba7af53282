//! The `logical_backup` sidecar as the CLI sees it: its container, its
//! directory under `backups/`, and `status.json` (the layout the sidecar writes
//! and `dump-status` reads, with the health rule both apply).

use anyhow::{bail, Context};
use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::stack::Stack;

/// The compose service of the logical backup sidecar.
pub const SIDECAR_SERVICE: &str = "logical_backup";

/// The sidecar's machine-readable status (`backups/logical/status.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: u32,
    pub interval_seconds: u64,
    pub retention_seconds: u64,
    #[serde(default)]
    pub excluded: Vec<String>,
    pub last_success: Option<String>,
    pub last_success_epoch: Option<i64>,
    pub last_success_directory: Option<String>,
    pub last_failure: Option<String>,
    pub last_failure_epoch: Option<i64>,
    pub last_failure_error: Option<String>,
    pub last_run: Option<Run>,
}

/// One sidecar run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub ok: bool,
    pub started: String,
    pub started_epoch: i64,
    pub finished: String,
    pub finished_epoch: i64,
    pub seconds: f64,
    /// The run's directory under `backups/logical/` (`<timestamp>` or `<timestamp>.failed`).
    pub directory: String,
    pub error: Option<String>,
    pub databases: Vec<FileEntry>,
    pub globals: Option<FileEntry>,
}

/// One file of a sidecar run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub file: Option<String>,
    pub ok: bool,
    pub bytes: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

impl Status {
    /// The status as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status always serializes")
    }

    /// Why the sidecar is unhealthy at `now` (seconds since the epoch), or `None`:
    /// the last run failed, or the last success is older than two intervals.
    pub fn problem(&self, now: i64) -> Option<String> {
        if let Some(run) = self.last_run.as_ref().filter(|run| !run.ok) {
            return Some(format!(
                "the last run ({}) failed: {}",
                run.finished,
                run.error.as_deref().unwrap_or("no error text recorded")
            ));
        }
        let limit = 2 * i64::try_from(self.interval_seconds).unwrap_or(i64::MAX / 4) + 30;
        match self.last_success_epoch {
            Some(at) if now - at > limit => Some(format!(
                "the last success ({}) is older than two intervals ({}s)",
                self.last_success.as_deref().unwrap_or("?"),
                self.interval_seconds
            )),
            None => Some("no run has succeeded yet".to_owned()),
            _ => None,
        }
    }
}

/// The sidecar's container name.
pub fn sidecar_container(stack: &Stack) -> String {
    format!("{}-{SIDECAR_SERVICE}", stack.config.project())
}

/// Where the sidecar writes its runs on the host.
pub fn sidecar_dir(stack: &Stack) -> Utf8PathBuf {
    stack.paths.backups_dir().join("logical")
}

/// Reads the sidecar's `status.json` from the host's backups directory.
pub fn sidecar_status(stack: &Stack) -> anyhow::Result<Status> {
    let path = sidecar_dir(stack).join("status.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "no sidecar status at `{path}` yet; the `{SIDECAR_SERVICE}` service writes it after its first run \
             (see `docker logs {}`)",
            sidecar_container(stack)
        ),
        Err(err) => return Err(err).with_context(|| format!("failed to read `{path}`")),
    };
    serde_json::from_str(&String::from_utf8_lossy(&bytes))
        .with_context(|| format!("`{path}` is not a status file this version understands"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_failure_and_staleness() {
        let text = r#"{"version":1,"interval_seconds":5,"retention_seconds":20,"excluded":[],
            "last_success":"2025-01-01T00:00:00Z","last_success_epoch":1000,"last_success_directory":"x",
            "last_failure":null,"last_failure_epoch":null,"last_failure_error":null,
            "last_run":{"ok":true,"started":"s","started_epoch":990,"finished":"f","finished_epoch":1000,"seconds":1.5,
            "directory":"x","error":null,"databases":[{"name":"app","file":"app.dump","ok":true,"bytes":10,"seconds":0.5,"error":null}],
            "globals":{"name":"globals","file":"globals.sql","ok":true,"bytes":3,"seconds":0.1,"error":null}}}"#;
        let mut status: Status = serde_json::from_str(text).unwrap();
        assert_eq!(status.problem(1010), None);
        assert!(status
            .problem(1100)
            .unwrap()
            .contains("older than two intervals"));
        let run = status.last_run.as_mut().unwrap();
        run.ok = false;
        run.error = Some("pg_dump of `app` failed: permission denied".to_owned());
        assert!(status.problem(1001).unwrap().contains("permission denied"));
    }
}
