//! The jobs' `SECURITY DEFINER` functions (`functions.sql`) in schema
//! `core_data_maintenance` of a database, what that database has for them
//! (extensions, job queues), and the refusal of a schema someone else owns.

use anyhow::Context;

use super::Available;
use crate::audit::user_objects::{extension_schema, not_extension_relation, USER_SCHEMA};
use crate::sql::quote_ident;

const FUNCTIONS_SQL: &str = include_str!("functions.sql");

/// Installs (or replaces) the jobs' functions in the database `client` is
/// connected to, lets the jobs' role run each job queue's retention, and
/// reports which extensions and queues it has.
pub fn install_functions(client: &mut postgres::Client) -> anyhow::Result<Available> {
    check_schema_owner(client)?;
    let dblink = extension_schema(client, "dblink")?;
    let squeeze = extension_schema(client, "pg_squeeze")?;
    let partman = extension_schema(client, "pg_partman")?;
    let pgss = extension_schema(client, "pg_stat_statements")?;
    // A job queue of `async-queue install`: the schema, its version table and its
    // SECURITY DEFINER retention function all owned by a superuser. A schema
    // that only looks like one is not run by the jobs.
    let queues: Vec<String> = client
        .query(
            "SELECT n.nspname::text FROM pg_catalog.pg_namespace n \
             JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner AND o.rolsuper \
             JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = 'purge_finished' \
                  AND p.proargtypes = '1186' AND p.prosecdef \
             JOIN pg_catalog.pg_roles po ON po.oid = p.proowner AND po.rolsuper \
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = 'schema_version' \
             JOIN pg_catalog.pg_roles co ON co.oid = c.relowner AND co.rolsuper \
             ORDER BY 1",
            &[],
        )
        .context("failed to look for job queues")?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // And nothing else in the schema owned by anyone else (`async-queue install`'s own rule).
    let mut owned = Vec::new();
    for schema in queues {
        if crate::maintenance::queue::check_owners(client, &schema).is_ok() {
            owned.push(schema);
        }
    }
    let queues = owned;
    let available = Available {
        dblink: dblink.is_some(),
        squeeze: squeeze.is_some(),
        partman: partman.is_some(),
        pg_stat_statements: pgss.is_some(),
        queues: queues.clone(),
    };
    // A missing extension's functions are still created (plpgsql resolves
    // names when called) but its job is not scheduled.
    let dblink = dblink.unwrap_or_else(|| "public".to_owned());
    let squeeze = squeeze.unwrap_or_else(|| "squeeze".to_owned());
    let partman = partman.unwrap_or_else(|| "partman".to_owned());
    let pgss = pgss.unwrap_or_else(|| "public".to_owned());
    let not_extension = not_extension_relation("c.oid");
    let mut sql = crate::sql::fill(
        FUNCTIONS_SQL,
        &[
            ("DBLINK", &dblink),
            ("SQUEEZE", &squeeze),
            ("PARTMAN", &partman),
            ("PGSS", &pgss),
            ("USER_SCHEMA", USER_SCHEMA),
            ("NOT_EXTENSION", &not_extension),
        ],
    )?;
    for schema in &queues {
        let schema = quote_ident(schema);
        sql.push_str(&format!(
            "\nGRANT USAGE ON SCHEMA {schema} TO core_data_maintenance;\n\
             GRANT EXECUTE ON FUNCTION {schema}.purge_finished(interval) TO core_data_maintenance;\n"
        ));
    }
    client
        .batch_execute(&format!("BEGIN; {sql}; COMMIT"))
        .context("failed to install the maintenance functions (schema core_data_maintenance)")?;
    Ok(available)
}

/// Refuses a `core_data_maintenance` schema, or anything in it, that a
/// superuser does not own: its owner could replace what the jobs run as the
/// superuser (CREATE OR REPLACE keeps a function's owner).
fn check_schema_owner(client: &mut postgres::Client) -> anyhow::Result<()> {
    let foreign = crate::maintenance::tables::not_superuser_owned(client, "core_data_maintenance")?;
    if !foreign.is_empty() {
        anyhow::bail!(
            "{} not owned by a superuser; the nightly jobs run these functions with the \
             superuser's rights, so core_data will not use them. Drop the schema \
             (`DROP SCHEMA core_data_maintenance CASCADE`) and run `cargo xtask up`",
            foreign.join(", ")
        );
    }
    Ok(())
}
