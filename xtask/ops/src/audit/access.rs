//! The audits' least-privileged path. `core_data_auditor` logs in (TLS, SCRAM,
//! from the compose network only, like every service role), is a member of
//! `pg_monitor` (statistics, settings, `pgstattuple`, `pg_buffercache`,
//! `pg_stat_statements` texts) and nothing else. What needs more is reached
//! only through the functions below: each is `SECURITY DEFINER`, owned by the
//! superuser, pins `search_path = pg_catalog, pg_temp`, is revoked from PUBLIC
//! and granted to the auditor (and, by `dashboard::role`, to the dashboard's
//! login, which runs the same audits), and returns only what its audit reads.
//! They live in schema `core_data_audit` of `postgres` (everything they read
//! is cluster-wide). pg_squeeze's tables are granted per database.

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::secrets::AUDITOR_ROLE;
use crate::sql::{quote_ident, quote_literal};

/// The schema of the definer functions (in `postgres`).
pub const SCHEMA: &str = "core_data_audit";

/// Name, result columns and body of each definer function.
const FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        // Whether each role has a password and of which kind; never the verifier.
        "roles()",
        "role_name text, can_login boolean, has_password boolean, password_kind text",
        "SELECT rolname::text, rolcanlogin, rolpassword IS NOT NULL, \
         CASE WHEN rolpassword IS NULL THEN 'none' \
              WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram-sha-256' \
              WHEN rolpassword LIKE 'md5%' THEN 'md5' ELSE 'other' END \
         FROM pg_catalog.pg_authid",
    ),
    (
        // pg_hba.conf as the server parses it now (superuser-only view).
        "hba_rules()",
        "rule_number integer, file_name text, line_number integer, type text, \
         database text[], user_name text[], address text, netmask text, \
         auth_method text, options text[], error text",
        "SELECT rule_number, file_name, line_number, type, database, user_name, \
         address, netmask, auth_method, options, error FROM pg_catalog.pg_hba_file_rules",
    ),
    (
        // The configuration files' entries (incl. postgresql.auto.conf) and their errors.
        "file_settings()",
        "sourcefile text, sourceline integer, seqno integer, name text, setting text, \
         applied boolean, error text",
        "SELECT sourcefile, sourceline, seqno, name, setting, applied, error \
         FROM pg_catalog.pg_file_settings",
    ),
    (
        // Every pg_cron job (the table's row security shows each role only its own).
        "cron_jobs()",
        "jobid bigint, jobname text, schedule text, command text, database text, \
         username text, active boolean",
        "SELECT jobid, jobname::text, schedule::text, command::text, database::text, \
         username::text, active FROM cron.job",
    ),
    (
        // The postgres container's own resource counters (`dashboard::container_stats`):
        // a fixed list of cgroup and /proc files, each NULL when it does not exist.
        "container_files()",
        "path text, contents text",
        "SELECT f, pg_catalog.pg_read_file(f, true) FROM pg_catalog.unnest(ARRAY[\
         '/sys/fs/cgroup/cpu.stat', '/sys/fs/cgroup/memory.current', '/sys/fs/cgroup/io.stat', \
         '/sys/fs/cgroup/cpuacct/cpuacct.usage', '/sys/fs/cgroup/memory/memory.usage_in_bytes', \
         '/sys/fs/cgroup/blkio/blkio.throttle.io_service_bytes', '/proc/net/dev']) AS f",
    ),
    (
        // pg_cron runs started since `since`.
        "cron_runs(since timestamptz)",
        "jobid bigint, runid bigint, status text, return_message text, \
         start_time timestamptz, end_time timestamptz",
        "SELECT jobid, runid, status::text, return_message::text, start_time, end_time \
         FROM cron.job_run_details WHERE start_time >= since",
    ),
];

/// `body` as the server's `major` can run it: pg_hba_file_rules has
/// `rule_number` and `file_name` from PostgreSQL 16 on (NULL before),
/// and `pg_read_file(path, missing_ok)` is 16's (15 has it with an offset and a length).
fn body_for(body: &str, major: i32) -> String {
    if major >= 16 {
        return body.to_owned();
    }
    body.replacen("rule_number, file_name,", "NULL::integer, NULL::text,", 1)
        .replacen(
            "pg_catalog.pg_read_file(f, true)",
            "pg_catalog.pg_read_file(f, 0, 1048576, true)",
            1,
        )
}

/// The statements that create the schema and functions, in order, for a server of `major`.
fn definitions(major: i32) -> Vec<String> {
    let auditor = quote_ident(AUDITOR_ROLE);
    let mut sql = vec![
        format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}"),
        format!("REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC"),
        format!("GRANT USAGE ON SCHEMA {SCHEMA} TO {auditor}"),
    ];
    for (signature, columns, body) in FUNCTIONS {
        sql.push(format!(
            "CREATE OR REPLACE FUNCTION {SCHEMA}.{signature} RETURNS TABLE({columns}) \
             LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp \
             AS {body}",
            body = quote_literal(&body_for(body, major))
        ));
        sql.push(format!(
            "REVOKE ALL ON FUNCTION {SCHEMA}.{signature} FROM PUBLIC"
        ));
        sql.push(format!(
            "GRANT EXECUTE ON FUNCTION {SCHEMA}.{signature} TO {auditor}"
        ));
    }
    sql
}

/// A fingerprint of the definitions, kept as the schema's comment: `up`
/// recreates the functions only when it differs.
fn fingerprint(sql: &[String]) -> String {
    let digest = Sha256::digest(sql.join(";\n").as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("core_data audit functions {}", &hex[..16])
}

/// Creates or updates the definer functions in `postgres` (`admin` is a
/// superuser connection there). Returns whether it changed anything.
pub fn ensure_functions(admin: &mut postgres::Client) -> anyhow::Result<bool> {
    let major: i32 = admin
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )?
        .get(0);
    let sql = definitions(major);
    let wanted = fingerprint(&sql);
    let current: Option<String> = admin
        .query_one(
            "SELECT (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace \
             WHERE nspname = $1)",
            &[&SCHEMA],
        )?
        .get(0);
    if current.as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    let mut tx = admin.transaction()?;
    for statement in &sql {
        tx.batch_execute(statement)
            .with_context(|| format!("failed to set up the audit functions: {statement}"))?;
    }
    tx.batch_execute(&format!(
        "COMMENT ON SCHEMA {SCHEMA} IS {}",
        quote_literal(&wanted)
    ))?;
    tx.commit()?;
    Ok(true)
}

/// Grants the auditor what it reads in one database beyond `pg_monitor`:
/// pg_squeeze's target, log and error tables. Checks first; returns whether
/// it granted anything.
pub fn grant_in_database(client: &mut postgres::Client) -> anyhow::Result<bool> {
    let missing: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'squeeze' AND c.relname IN ('tables', 'log', 'errors') \
             AND NOT has_table_privilege($1, c.oid, 'SELECT'))",
            &[&AUDITOR_ROLE],
        )?
        .get(0);
    if !missing {
        return Ok(false);
    }
    let auditor = quote_ident(AUDITOR_ROLE);
    client
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA squeeze TO {auditor}; \
             GRANT SELECT ON squeeze.tables, squeeze.log, squeeze.errors TO {auditor}"
        ))
        .context("failed to grant the auditor pg_squeeze's tables")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_is_a_pinned_definer_granted_only_to_the_auditor() {
        let sql = definitions(17);
        for (signature, _, _) in FUNCTIONS {
            let create = sql
                .iter()
                .find(|s| s.contains(&format!("FUNCTION {SCHEMA}.{signature} RETURNS")))
                .unwrap();
            assert!(create.contains("SECURITY DEFINER SET search_path = pg_catalog, pg_temp"));
            assert!(sql.contains(&format!(
                "REVOKE ALL ON FUNCTION {SCHEMA}.{signature} FROM PUBLIC"
            )));
        }
        assert_eq!(fingerprint(&sql), fingerprint(&definitions(17)));
        // The definer reads exactly the files the parser knows.
        let container = FUNCTIONS
            .iter()
            .find(|(signature, _, _)| *signature == "container_files()")
            .unwrap();
        for file in crate::dashboard::container_stats::FILES {
            assert!(container.2.contains(&format!("'{file}'")), "{file}");
        }
        assert_eq!(
            container.2.matches("'/").count(),
            crate::dashboard::container_stats::FILES.len()
        );
    }
}
