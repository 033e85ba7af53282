//! `status.json`: what the sidecar writes after every run and `dump-status`
//! reads, and the health rule both apply.

use serde::{Deserialize, Serialize};

/// The layout's version; a reader refuses others.
pub const VERSION: u32 = 1;

/// The sidecar's machine-readable status (`backups/logical/status.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub file: Option<String>,
    pub ok: bool,
    pub bytes: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

impl Status {
    /// A status before any run.
    pub fn new(interval_seconds: u64, retention_seconds: u64, excluded: Vec<String>) -> Status {
        Status {
            version: VERSION,
            interval_seconds,
            retention_seconds,
            excluded,
            last_success: None,
            last_success_epoch: None,
            last_success_directory: None,
            last_failure: None,
            last_failure_epoch: None,
            last_failure_error: None,
            last_run: None,
        }
    }

    /// The status as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status always serializes")
    }

    /// Parses a status file; another layout version is an error.
    pub fn from_json(text: &str) -> Result<Status, String> {
        let status: Status = serde_json::from_str(text).map_err(|err| err.to_string())?;
        if status.version != VERSION {
            return Err(format!(
                "layout version {} (this version reads {VERSION})",
                status.version
            ));
        }
        Ok(status)
    }

    /// How long a success stays fresh: two intervals and half a minute.
    pub fn fresh_for(&self) -> i64 {
        2 * i64::try_from(self.interval_seconds).unwrap_or(i64::MAX / 4) + 30
    }

    /// `problem_since` for a reader that does not know when the sidecar started.
    pub fn problem(&self, now: i64) -> Option<String> {
        self.problem_since(now, None)
    }

    /// Why the sidecar is unhealthy at `now` (seconds since the epoch), or
    /// `None`: the last run failed, or the last success is older than
    /// `fresh_for`. `started` (when the sidecar process started) gives a
    /// fresh sidecar that long before its first success is overdue.
    pub fn problem_since(&self, now: i64, started: Option<i64>) -> Option<String> {
        if let Some(run) = self.last_run.as_ref().filter(|run| !run.ok) {
            return Some(format!(
                "the last run failed at {}: {}",
                run.finished,
                run.error.as_deref().unwrap_or("no error text recorded")
            ));
        }
        let reference = self.last_success_epoch.max(started);
        match reference {
            Some(at) if now - at > self.fresh_for() => Some(format!(
                "the last success ({}) is older than two intervals ({}s)",
                self.last_success.as_deref().unwrap_or("never"),
                self.interval_seconds
            )),
            None => Some("no run has succeeded yet".to_owned()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        let text = r#"{"version":1,"interval_seconds":5,"retention_seconds":20,"excluded":[],
            "last_success":"2025-01-01T00:00:00Z","last_success_epoch":1000,"last_success_directory":"x",
            "last_failure":null,"last_failure_epoch":null,"last_failure_error":null,
            "last_run":{"ok":true,"started":"s","started_epoch":990,"finished":"f","finished_epoch":1000,"seconds":1.5,
            "directory":"x","error":null,"databases":[{"name":"app","file":"app.dump","ok":true,"bytes":10,"seconds":0.5,"error":null}],
            "globals":{"name":"globals","file":"globals.sql","ok":true,"bytes":3,"seconds":0.1,"error":null}}}"#;
        Status::from_json(text).unwrap()
    }

    #[test]
    fn reports_failure_and_staleness() {
        let mut status = status();
        assert_eq!(status.problem_since(1010, None), None);
        assert_eq!(
            status.problem_since(1040, None),
            None,
            "2 × 5 s + 30 s is still fresh"
        );
        assert!(status
            .problem_since(1041, None)
            .unwrap()
            .contains("older than two intervals"));
        // A sidecar started after the last success gets a fresh grace period.
        assert_eq!(status.problem_since(1100, Some(1090)), None);
        let run = status.last_run.as_mut().unwrap();
        run.ok = false;
        run.error = Some("pg_dump of `app` failed: permission denied".to_owned());
        assert!(status
            .problem_since(1001, None)
            .unwrap()
            .contains("permission denied"));
    }

    #[test]
    fn a_new_sidecar_is_healthy_until_overdue_and_the_layout_round_trips() {
        let fresh = Status::new(5, 20, vec!["scratch".into()]);
        assert_eq!(fresh.problem_since(100, Some(90)), None);
        assert!(fresh.problem_since(141, Some(100)).is_some());
        assert_eq!(
            fresh.problem_since(100, None).as_deref(),
            Some("no run has succeeded yet")
        );
        let status = status();
        assert_eq!(Status::from_json(&status.to_json()).unwrap(), status);
        let mut other = status.clone();
        other.version = 2;
        assert!(Status::from_json(&other.to_json())
            .unwrap_err()
            .contains("version 2"));
    }
}
