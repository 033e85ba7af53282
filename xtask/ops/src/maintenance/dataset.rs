//! `test-dataset install`: a synthetic, deterministic dataset in schema
//! `testkit` that touches every bundle extension a demo or test needs
//! (`dataset.sql`: PostGIS, pgvector, citext, hstore, ranges with a
//! btree_gist exclusion, trigram and full-text indexes, pgRouting, a
//! pg_partman time series) plus an Apache AGE graph of regions and places.
//!
//! Re-runnable: the whole install is one transaction that first removes the
//! dataset a previous install made (recognised by the schema's comment), so
//! a failure leaves the previous dataset as it was. A `testkit` schema that
//! this command did not make is never dropped: the install refuses.

use anyhow::{bail, Context};

use crate::audit::user_objects::extension_schema;
use crate::pg::{admin, bootstrap};
use crate::progress::Progress;
use crate::secrets;
use crate::sql::{check_name, quote_ident};
use crate::stack::Stack;

const DATASET_SQL: &str = include_str!("dataset.sql");
/// The comment that marks a `testkit` schema as ours.
pub const MARKER: &str = "core_data test dataset v1 (cargo xtask test-dataset install)";
/// The AGE graph the dataset makes.
pub const GRAPH: &str = "testkit_graph";
/// Places that get a vertex (and an edge to their region) in the graph.
const GRAPH_PLACES: i32 = 100;

/// What an install made.
#[derive(Debug, Clone)]
pub struct Installed {
    pub database: String,
    pub owner: String,
    pub created_database: bool,
    pub created_owner: Option<String>,
    pub replaced: bool,
    pub rows: Vec<(String, i64)>,
}

impl std::fmt::Display for Installed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(file) = &self.created_owner {
            writeln!(
                f,
                "created role `{}`; its password is in {file}",
                self.owner
            )?;
        }
        if self.created_database {
            writeln!(
                f,
                "created database `{}` owned by `{}`",
                self.database, self.owner
            )?;
        }
        let verb = if self.replaced {
            "replaced"
        } else {
            "installed"
        };
        write!(f, "{verb} the test dataset in `{}`.testkit:", self.database)?;
        for (table, rows) in &self.rows {
            write!(f, "\n  {table:<20} {rows:>7} rows")?;
        }
        Ok(())
    }
}

/// Installs the dataset into `database` (created with the bundle when
/// missing), owned by `owner` (created, with a password file under
/// `secrets/roles/`, when missing).
pub fn install(
    stack: &Stack,
    database: &str,
    owner: &str,
    progress: &dyn Progress,
) -> anyhow::Result<Installed> {
    check_name("database", database)?;
    check_name("role", owner)?;
    let mut admin_client = stack.connect("postgres")?;
    // Check, then change: a schema or graph this command did not make is refused
    // before any role or database is created.
    let replaced = if bootstrap::database_exists(&mut admin_client, database)? {
        check_existing(&mut stack.connect(database)?)?
    } else {
        false
    };
    let mut created_owner = None;
    if !bootstrap::role_exists(&mut admin_client, owner)? {
        admin::check_new_name("role", owner)?;
        let file = secrets::role_password_file(&stack.paths, owner);
        let password = if file.exists() {
            secrets::read(&file)?
        } else {
            secrets::generate_password()
        };
        admin::create_user(&mut admin_client, owner, &password)?;
        if !file.exists() {
            secrets::write_new(&file, &password, false, &stack.config)?;
        }
        created_owner = Some(file.to_string());
    }
    progress.status(
        "Preparing",
        &format!("database `{database}` with the bundle"),
    );
    let (created_database, _) =
        admin::create_db(&mut admin_client, &stack.config, database, owner, &|db| {
            stack.connect(db)
        })?;
    let mut client = stack.connect(database)?;
    progress.status(
        "Installing",
        &format!("the test dataset in `{database}`.testkit"),
    );
    let partman = extension_schema(&mut client, "pg_partman")?.context(
        "pg_partman is not installed in the database; `cargo xtask up` installs the bundle",
    )?;
    let quoted_owner = quote_ident(owner);
    let sql = crate::sql::fill(
        DATASET_SQL,
        &[("OWNER", &quoted_owner), ("PARTMAN", &partman)],
    )?;
    let mut tx = client.transaction()?;
    if replaced {
        tx.execute(
            &format!("DELETE FROM {partman}.part_config WHERE parent_table LIKE 'testkit.%'"),
            &[],
        )?;
        tx.batch_execute("DROP SCHEMA testkit CASCADE")?;
    }
    tx.batch_execute(&sql).map_err(|e| {
        anyhow::anyhow!(
            "the dataset's SQL failed: {}",
            crate::pg::server_message(&e)
        )
    })?;
    // Partitions pg_partman made are owned by the superuser: hand them over too.
    let tables: Vec<String> = tx
        .query(
            "SELECT c.oid::regclass::text FROM pg_class c \
             WHERE c.relnamespace = 'testkit'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in tables {
        // `regclass` text is already a quoted, schema-qualified name.
        tx.batch_execute(&format!("ALTER TABLE {table} OWNER TO {quoted_owner}"))?;
    }
    build_graph(&mut tx)?;
    tx.commit().context("failed to commit the test dataset")?;
    client.batch_execute("ANALYZE testkit.regions, testkit.places, testkit.bookings, testkit.roads, testkit.readings")?;
    let mut rows = Vec::new();
    for table in ["regions", "places", "bookings", "roads", "readings"] {
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM testkit.{table}"), &[])?
            .get(0);
        rows.push((format!("testkit.{table}"), count));
    }
    let vertices: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}.\"Place\"", quote_ident(GRAPH)),
            &[],
        )?
        .get(0);
    rows.push((format!("{GRAPH} Place vertices"), vertices));
    Ok(Installed {
        database: database.to_owned(),
        owner: owner.to_owned(),
        created_database,
        created_owner,
        replaced,
        rows,
    })
}

/// Whether a `testkit` schema of ours exists (to be replaced); refuses one
/// that is not ours, and an AGE graph of the dataset's name without it.
fn check_existing(client: &mut postgres::Client) -> anyhow::Result<bool> {
    let row = client.query_opt(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'testkit'",
        &[],
    )?;
    let ours = match row {
        None => false,
        Some(row) if row.get::<_, Option<String>>(0).as_deref() == Some(MARKER) => true,
        Some(_) => bail!(
            "schema `testkit` exists and was not made by `test-dataset install` (its comment \
             is not the dataset's); nothing was changed. Rename or drop it, or install into \
             another database with `--db`"
        ),
    };
    let graph: bool = client
        .query_one(
            "SELECT to_regclass('ag_catalog.ag_graph') IS NOT NULL \
             AND EXISTS (SELECT 1 FROM ag_catalog.ag_graph WHERE name = $1)",
            &[&GRAPH],
        )?
        .get(0);
    if graph && !ours {
        bail!(
            "an AGE graph `{GRAPH}` exists but the dataset's schema does not; it was not made \
             by this command, so it is left alone and nothing was changed: drop it \
             (`SELECT drop_graph('{GRAPH}', true)`) or install into another database with `--db`"
        );
    }
    Ok(ours)
}

/// The AGE graph: a `Region` vertex per region, a `Place` vertex for the
/// first places, and `IN` edges from each place to the region that covers it.
fn build_graph(tx: &mut postgres::Transaction<'_>) -> anyhow::Result<()> {
    tx.batch_execute("LOAD 'age'; SET LOCAL search_path = ag_catalog, \"$user\", public")?;
    let exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM ag_catalog.ag_graph WHERE name = $1)",
            &[&GRAPH],
        )?
        .get(0);
    // `check_existing` refused a graph that is not the dataset's.
    if exists {
        tx.execute("SELECT ag_catalog.drop_graph($1, true)", &[&GRAPH])?;
    }
    tx.execute("SELECT ag_catalog.create_graph($1)", &[&GRAPH])?;
    // cypher() takes its query as a constant: the statements are built here from
    // the dataset's own integer ids and generated names (JSON-quoted).
    tx.batch_execute(&format!(
        "DO $$ DECLARE r record; BEGIN \
           FOR r IN SELECT region_id, to_json(name)::text AS name FROM testkit.regions LOOP \
             EXECUTE format('SELECT * FROM ag_catalog.cypher(''{GRAPH}'', $c$ CREATE (:Region {{id: %s, name: %s}}) $c$) AS (v ag_catalog.agtype)', r.region_id, r.name); \
           END LOOP; \
           FOR r IN SELECT p.place_id, to_json(p.name::text)::text AS name, g.region_id \
                      FROM testkit.places p JOIN testkit.regions g ON ST_Covers(g.boundary, p.location::geometry) \
                     WHERE p.place_id <= {GRAPH_PLACES} LOOP \
             EXECUTE format('SELECT * FROM ag_catalog.cypher(''{GRAPH}'', $c$ MATCH (g:Region {{id: %s}}) CREATE (:Place {{id: %s, name: %s}})-[:IN]->(g) $c$) AS (v ag_catalog.agtype)', r.region_id, r.place_id, r.name); \
           END LOOP; END $$"
    ))
    .map_err(|e| anyhow::anyhow!("building the AGE graph failed: {}", crate::pg::server_message(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_the_comment_the_sql_sets() {
        assert!(DATASET_SQL.contains(&format!("COMMENT ON SCHEMA testkit IS '{MARKER}'")));
    }
}
