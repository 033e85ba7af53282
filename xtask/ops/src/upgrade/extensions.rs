//! After an upgrade: every extension brought to the new image's default
//! version in every database. PostGIS through its own
//! `postgis_extensions_upgrade()` (it updates postgis_raster, topology and
//! tiger with it); every other one with `ALTER EXTENSION … UPDATE`, which runs
//! the package's update scripts (pg_partman's 4.x to 5.x migration included,
//! configuration table and all). Each in its own transaction; a failure is
//! reported and the others go on.

use crate::progress::Progress;
use crate::sql::quote_ident;
use crate::stack::Stack;

/// Extensions PostGIS's upgrade function updates itself.
const POSTGIS_FAMILY: &[&str] = &[
    "postgis",
    "postgis_raster",
    "postgis_topology",
    "postgis_tiger_geocoder",
    "postgis_sfcgal",
];

/// Returns (`db: name old -> new` lines, errors).
pub(super) fn update_all(
    stack: &Stack,
    progress: &dyn Progress,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let mut updated = Vec::new();
    let mut errors = Vec::new();
    let databases = super::check::databases(&mut stack.connect("postgres")?)?;
    for database in databases {
        let mut client = stack.connect(&database)?;
        let stale =
            |client: &mut postgres::Client| -> anyhow::Result<Vec<(String, String, String)>> {
                Ok(client
                    .query(
                        "SELECT e.extname::text, e.extversion, a.default_version \
                     FROM pg_extension e JOIN pg_available_extensions a ON a.name = e.extname \
                     WHERE a.default_version IS DISTINCT FROM e.extversion ORDER BY 1",
                        &[],
                    )?
                    .iter()
                    .map(|row| (row.get(0), row.get(1), row.get(2)))
                    .collect())
            };
        let before = stale(&mut client)?;
        if before.is_empty() {
            continue;
        }
        if before
            .iter()
            .any(|(name, _, _)| POSTGIS_FAMILY.contains(&name.as_str()))
        {
            progress.status("Updating", &format!("PostGIS in `{database}`"));
            if let Err(err) = client.batch_execute(
                // PostGIS refuses to change itself while pgaudit logs DDL.
                "SET pgaudit.log = 'none'; SELECT postgis_extensions_upgrade(); RESET pgaudit.log",
            ) {
                errors.push(format!("{database}: postgis_extensions_upgrade(): {err}"));
            }
        }
        for (name, _, _) in stale(&mut client)? {
            if POSTGIS_FAMILY.contains(&name.as_str()) {
                continue;
            }
            progress.status("Updating", &format!("extension `{name}` in `{database}`"));
            let statement = format!("ALTER EXTENSION {} UPDATE", quote_ident(&name));
            let mut transaction = client.transaction()?;
            let err = match transaction.batch_execute(&statement) {
                Ok(()) => {
                    transaction.commit()?;
                    continue;
                }
                Err(err) => err,
            };
            drop(transaction);
            // No update path (pgaudit's versions follow the server's major; pg_repack
            // ships none) or a script that does not run: an extension that holds no
            // data and that nothing outside it depends on is made again at the image's
            // version, in the same schema, in one transaction.
            match recreate(&mut client, &name) {
                Ok(true) => progress.status(
                    "Recreated",
                    &format!(
                        "extension `{name}` in `{database}` (ALTER EXTENSION … UPDATE failed: {})",
                        message(&err)
                    ),
                ),
                Ok(false) => errors.push(format!("{database}: {statement}: {}", message(&err))),
                Err(again) => errors.push(format!(
                    "{database}: {statement}: {}; making it again failed too: {}",
                    message(&err),
                    message_of(&again)
                )),
            }
        }
        let after = stale(&mut client)?;
        for (name, old, new) in before {
            if !after.iter().any(|(still, _, _)| *still == name) {
                updated.push(format!("{database}: {name} {old} -> {new}"));
            } else if !errors
                .iter()
                .any(|error| error.starts_with(&format!("{database}:")) && error.contains(&name))
            {
                errors.push(format!(
                    "{database}: {name} is still {old} (the image has {new})"
                ));
            }
        }
    }
    Ok((updated, errors))
}

/// The server's message of a failed statement.
fn message(err: &postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_owned())
}

fn message_of(err: &anyhow::Error) -> String {
    err.downcast_ref::<postgres::Error>()
        .map_or_else(|| format!("{err:#}"), message)
}

/// DROP and CREATE `name` in its schema in one transaction, when none of its
/// member objects holds data (a table, sequence or materialized view) and the
/// DROP needs no CASCADE. Returns whether it did.
fn recreate(client: &mut postgres::Client, name: &str) -> anyhow::Result<bool> {
    let row = client.query_one(
        "SELECT n.nspname::text, \
                EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid \
                        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e' \
                          AND c.relkind IN ('r', 'p', 'S', 'm')) \
         FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
        &[&name],
    )?;
    let (schema, holds_data): (String, bool) = (row.get(0), row.get(1));
    if holds_data {
        return Ok(false);
    }
    let mut transaction = client.transaction()?;
    transaction.batch_execute(&format!(
        "DROP EXTENSION {ext}; CREATE EXTENSION {ext} SCHEMA {schema}",
        ext = quote_ident(name),
        schema = quote_ident(&schema)
    ))?;
    transaction.commit()?;
    Ok(true)
}
