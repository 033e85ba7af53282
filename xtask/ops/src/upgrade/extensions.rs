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
    let databases: Vec<String> = stack
        .connect("postgres")?
        .query(
            "SELECT datname::text FROM pg_database WHERE datallowconn ORDER BY datname",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
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
            match transaction.batch_execute(&statement) {
                Ok(()) => transaction.commit()?,
                Err(err) => {
                    drop(transaction);
                    errors.push(format!("{database}: {statement}: {err}"));
                }
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
