//! The snapshot file format (versioned) and reading pg_stat_statements.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::audit::snapshot_file::{server_time, utc_text};
use crate::audit::user_objects::extension_schema;
use crate::audit::Audit;

/// The format version; a file of another version is refused.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    /// The server's time when the snapshot was taken (UTC, ISO 8601).
    pub taken_at: String,
    /// When pg_stat_statements was last reset (`pg_stat_statements_info`).
    pub stats_reset: Option<String>,
    pub server_version: String,
    /// The role whose statements are left out: the auditor itself (the
    /// snapshots' and audits' own queries are not the workload).
    pub excluded_role: String,
    pub entries: Vec<Entry>,
}

/// One row of pg_stat_statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub dbid: u32,
    pub database: Option<String>,
    pub userid: u32,
    pub role: Option<String>,
    pub queryid: i64,
    pub toplevel: bool,
    /// The normalised text (constants as `$1`), as pg_stat_statements keeps it.
    pub query: String,
    pub calls: i64,
    /// Milliseconds.
    pub total_exec_time: f64,
    pub rows: i64,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
}

impl Entry {
    /// The identity of a statement across snapshots.
    pub fn key(&self) -> (u32, u32, i64, bool) {
        (self.dbid, self.userid, self.queryid, self.toplevel)
    }
}

impl Snapshot {
    pub fn check_version(&self) -> anyhow::Result<()> {
        crate::audit::snapshot_file::check_version(self.version, VERSION)
    }
}

/// Reads pg_stat_statements from `postgres` as the auditor.
pub fn take(audit: &Audit<'_>) -> anyhow::Result<Snapshot> {
    let mut client = audit.connect("postgres")?;
    let Some(schema) = extension_schema(&mut client, "pg_stat_statements")? else {
        bail!("pg_stat_statements is not installed in `postgres`; `cargo xtask up` installs it");
    };
    let taken_at = server_time(&mut client)?;
    let server_version: String = client
        .query_one("SELECT current_setting('server_version')", &[])?
        .try_get(0)?;
    let excluded_role: String = client
        .query_one("SELECT current_user::text", &[])?
        .try_get(0)?;
    let stats_reset: Option<String> = client
        .query_one(
            &format!(
                "SELECT {} FROM {schema}.pg_stat_statements_info",
                utc_text("stats_reset")
            ),
            &[],
        )
        .context("failed to read pg_stat_statements_info")?
        .try_get(0)?;
    let sql = format!(
        "SELECT s.dbid, d.datname::text, s.userid, r.rolname::text, s.queryid, s.toplevel, s.query, \
         s.calls, s.total_exec_time, s.rows, s.shared_blks_hit, s.shared_blks_read \
         FROM {schema}.pg_stat_statements(true) s \
         LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid \
         LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid \
         WHERE s.queryid IS NOT NULL AND s.userid <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
         ORDER BY s.dbid, s.userid, s.queryid, s.toplevel"
    );
    let mut entries = Vec::new();
    for row in client
        .query(&sql, &[])
        .context("failed to read pg_stat_statements")?
    {
        entries.push(Entry {
            dbid: row.try_get(0)?,
            database: row.try_get(1)?,
            userid: row.try_get(2)?,
            role: row.try_get(3)?,
            queryid: row.try_get(4)?,
            toplevel: row.try_get(5)?,
            query: redact_passwords(&row.try_get::<_, Option<String>>(6)?.unwrap_or_default()),
            calls: row.try_get(7)?,
            total_exec_time: row.try_get(8)?,
            rows: row.try_get(9)?,
            shared_blks_hit: row.try_get(10)?,
            shared_blks_read: row.try_get(11)?,
        });
    }
    Ok(Snapshot {
        version: VERSION,
        taken_at,
        stats_reset,
        server_version,
        excluded_role,
        entries,
    })
}

/// `query` with the string after every `PASSWORD` keyword replaced by
/// `'<redacted>'`. pg_stat_statements keeps utility statements as written:
/// `ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'` (how `up` sets passwords) or a
/// password typed in clear by an operator would otherwise reach every
/// snapshot file and report made from it.
pub fn redact_passwords(query: &str) -> String {
    let lower = query.to_ascii_lowercase();
    let mut out = String::with_capacity(query.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let keyword_end = from + found + "password".len();
        let literal =
            keyword_end + (lower[keyword_end..].len() - lower[keyword_end..].trim_start().len());
        from = keyword_end;
        if !lower[literal..].starts_with('\'') {
            continue;
        }
        // The literal ends at the first quote not doubled.
        let bytes = query.as_bytes();
        let mut end = literal + 1;
        while end < bytes.len() {
            if bytes[end] == b'\'' {
                if bytes.get(end + 1) == Some(&b'\'') {
                    end += 2;
                    continue;
                }
                break;
            }
            end += 1;
        }
        out.push_str(&query[copied..literal]);
        out.push_str("'<redacted>'");
        copied = (end + 1).min(query.len());
        from = copied;
    }
    out.push_str(&query[copied..]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_query_texts_are_redacted() {
        assert_eq!(
            super::redact_passwords("ALTER ROLE app PASSWORD 'SCRAM-SHA-256$4096:abc=$x:y'"),
            "ALTER ROLE app PASSWORD '<redacted>'"
        );
        assert_eq!(
            super::redact_passwords(
                "create role b login password  'it''s secret' valid until 'infinity'"
            ),
            "create role b login password  '<redacted>' valid until 'infinity'"
        );
        assert_eq!(
            super::redact_passwords("SELECT password_encryption, $1 FROM t"),
            "SELECT password_encryption, $1 FROM t"
        );
        assert_eq!(
            super::redact_passwords("ALTER ROLE x PASSWORD 'unterminated"),
            "ALTER ROLE x PASSWORD '<redacted>'"
        );
    }
}
