//! The state of WAL archiving as the server sees it (`pg_stat_archiver` and the
//! segments still waiting in `archive_status`), for `status`, runbooks and tests.
//! The health check's stage 4 applies the same rule inside the container.

/// What `pg_stat_archiver` and the waiting segments say.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArchiverStatus {
    pub archived_count: i64,
    pub last_archived: Option<String>,
    pub failed_count: i64,
    pub last_failed: Option<String>,
    /// The last attempt failed (its failure is newer than the last success).
    pub failing: bool,
    /// Age in seconds of the oldest segment waiting to be archived (0: none waits).
    pub oldest_waiting_seconds: i64,
}

const SQL: &str = "\
SELECT a.archived_count, a.last_archived_time::text, a.failed_count, a.last_failed_time::text,
       a.last_failed_time IS NOT NULL AND (a.last_archived_time IS NULL OR a.last_failed_time > a.last_archived_time),
       COALESCE((SELECT floor(extract(epoch FROM now() - min(s.modification)))::bigint
                   FROM pg_ls_archive_statusdir() s WHERE s.name LIKE '%.ready'), 0)
  FROM pg_stat_archiver a";

/// Reads the archiver's state (needs `pg_monitor` or a superuser).
pub fn status(client: &mut postgres::Client) -> anyhow::Result<ArchiverStatus> {
    let row = client.query_one(SQL, &[])?;
    Ok(ArchiverStatus {
        archived_count: row.get(0),
        last_archived: row.get(1),
        failed_count: row.get(2),
        last_failed: row.get(3),
        failing: row.get(4),
        oldest_waiting_seconds: row.get(5),
    })
}

impl ArchiverStatus {
    /// Failing for longer than `grace_seconds` (the health check's stage 4 rule).
    pub fn unhealthy(&self, grace_seconds: i64) -> bool {
        self.failing && self.oldest_waiting_seconds > grace_seconds
    }

    /// One line for `status`.
    pub fn describe(&self) -> String {
        if self.failing {
            format!(
                "FAILING: the last attempt failed at {}, the oldest waiting segment is {}s old \
                 ({} failure(s), last success {}); see `cargo xtask backup check`",
                self.last_failed.as_deref().unwrap_or("?"),
                self.oldest_waiting_seconds,
                self.failed_count,
                self.last_archived.as_deref().unwrap_or("never")
            )
        } else {
            format!(
                "ok ({} segment(s) archived, last at {})",
                self.archived_count,
                self.last_archived.as_deref().unwrap_or("never")
            )
        }
    }
}
