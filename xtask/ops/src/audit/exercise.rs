//! `exercise-extensions`: a real round trip through every bundle extension,
//! one transaction each, in a throw-away schema. Every transaction is rolled
//! back, so nothing is left behind, even when the command is interrupted
//! (the schema, graph, topology, foreign server and cron job never commit).
//! Runs as the superuser: it creates objects, loads AGE and schedules a job.

use std::time::Instant;

use super::{Finding, Report, Severity};
use crate::pg::bootstrap;
use crate::progress::Progress;
use crate::sql::quote_literal;
use crate::stack::Stack;
use core_data_sidecar::names::conninfo_dbname;

/// The statements that exercise one extension. `{s}` is the throw-away
/// schema's name (generated, a plain lowercase name), `{db}` the database's
/// name as a quoted SQL literal and `{conninfo}` a quoted libpq conninfo for
/// it over the socket (`run_one` fills them in; any database name stays a
/// name). The last statement must return one row whose first column is
/// `true` when the round trip worked.
pub struct Exercise {
    pub extension: &'static str,
    pub what: &'static str,
    pub sql: &'static [&'static str],
}

pub const EXERCISES: &[Exercise] = &[
    Exercise { extension: "age", what: "a Cypher CREATE and MATCH through AGE", sql: &[
        "LOAD 'age'",
        "SET LOCAL search_path = ag_catalog, \"$user\", public",
        "SELECT create_graph('{s}_graph')",
        "SELECT * FROM cypher('{s}_graph', $$ CREATE (:City {name: 'Oslo'})-[:ROAD {km: 463}]->(:City {name: 'Bergen'}) $$) AS (v agtype)",
        "SELECT count(*) = 1 FROM cypher('{s}_graph', $$ MATCH (a:City)-[r:ROAD]->(b:City {name: 'Bergen'}) RETURN r.km $$) AS (km agtype)",
    ]},
    Exercise { extension: "btree_gin", what: "a GIN index over an integer column", sql: &[
        "CREATE TABLE {s}.gin_t AS SELECT g AS n FROM generate_series(1, 1000) g",
        "CREATE INDEX ON {s}.gin_t USING gin (n)",
        "SELECT count(*) = 1 FROM {s}.gin_t WHERE n = 500",
    ]},
    Exercise { extension: "btree_gist", what: "a range exclusion constraint refusing an overlap", sql: &[
        "CREATE TABLE {s}.booking (room int, during tstzrange, EXCLUDE USING gist (room WITH =, during WITH &&))",
        "INSERT INTO {s}.booking VALUES (1, tstzrange('2026-01-01 10:00Z', '2026-01-01 11:00Z'))",
        "SELECT {s}.refused($q$INSERT INTO {s}.booking VALUES (1, tstzrange('2026-01-01 10:30Z', '2026-01-01 12:00Z'))$q$, '23P01')",
    ]},
    Exercise { extension: "citext", what: "case-insensitive equality and a unique index", sql: &[
        "CREATE TABLE {s}.people (email citext UNIQUE)",
        "INSERT INTO {s}.people VALUES ('Ada@Example.org')",
        "SELECT {s}.refused($q$INSERT INTO {s}.people VALUES ('ada@example.ORG')$q$, '23505')",
    ]},
    Exercise { extension: "dblink", what: "a query through a second connection", sql: &[
        "SELECT x = 42 FROM dblink({conninfo}, 'SELECT 42') AS t(x int)",
    ]},
    Exercise { extension: "hstore", what: "hstore keys and lookups", sql: &[
        "SELECT ('colour=>blue, size=>XL'::hstore -> 'size') = 'XL' AND akeys('a=>1, b=>2'::hstore) @> ARRAY['a', 'b']",
    ]},
    Exercise { extension: "fuzzystrmatch", what: "levenshtein, soundex and metaphone", sql: &[
        "SELECT levenshtein('kitten', 'sitting') = 3 AND soundex('Robert') = soundex('Rupert') AND metaphone('Thompson', 10) = '0MPSN'",
    ]},
    Exercise { extension: "bloom", what: "a bloom index used by the planner", sql: &[
        "CREATE TABLE {s}.bloom_t AS SELECT g AS a, g % 7 AS b FROM generate_series(1, 5000) g",
        "CREATE INDEX bloom_idx ON {s}.bloom_t USING bloom (a, b)",
        "ANALYZE {s}.bloom_t",
        "SET LOCAL enable_seqscan = off",
        "SELECT {s}.plan_uses('SELECT * FROM {s}.bloom_t WHERE a = 70 AND b = 0', 'bloom_idx') AND (SELECT count(*) = 1 FROM {s}.bloom_t WHERE a = 70 AND b = 0)",
    ]},
    Exercise { extension: "pg_buffercache", what: "reading shared_buffers", sql: &[
        "SELECT count(*) > 0 FROM pg_buffercache WHERE relfilenode IS NOT NULL",
    ]},
    Exercise { extension: "pg_cron", what: "a job scheduled and unscheduled", sql: &[
        "SELECT cron.schedule('{s}', '0 3 * * *', 'SELECT 1') > 0",
        "SELECT cron.unschedule('{s}')",
    ]},
    Exercise { extension: "pg_partman", what: "a partman parent with premade daily partitions", sql: &[
        "CREATE TABLE {s}.events (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)",
        "SELECT partman.create_parent(p_parent_table := '{s}.events', p_control := 'at', p_interval := '1 day', p_premake := 3)",
        "INSERT INTO {s}.events VALUES (1, now())",
        "SELECT count(*) >= 7 FROM pg_inherits WHERE inhparent = '{s}.events'::regclass",
    ]},
    Exercise { extension: "hypopg", what: "a hypothetical index that changes a plan", sql: &[
        "CREATE TABLE {s}.hypo AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g",
        "ANALYZE {s}.hypo",
        "SELECT NOT {s}.plan_uses('SELECT * FROM {s}.hypo WHERE id = 42', 'hypo')",
        "SELECT indexrelid > 0 FROM hypopg_create_index('CREATE INDEX ON {s}.hypo (id)')",
        "SELECT {s}.plan_uses('SELECT * FROM {s}.hypo WHERE id = 42', '<')",
    ]},
    Exercise { extension: "pg_repack", what: "the SQL side's version matching the extension", sql: &[
        "SELECT repack.version() IS NOT NULL AND repack.version_sql() IS NOT NULL",
    ]},
    Exercise { extension: "pg_squeeze", what: "a table registered as a squeeze target", sql: &[
        "CREATE TABLE {s}.sq (id int PRIMARY KEY, v text)",
        "INSERT INTO squeeze.tables (tabschema, tabname, schedule) VALUES ('{s}', 'sq', ('{30}', '{22}', NULL, NULL, '{3, 5}'))",
        "SELECT count(*) = 1 FROM squeeze.tables WHERE tabschema = '{s}' AND tabname = 'sq'",
    ]},
    Exercise { extension: "pg_stat_statements", what: "a statement counted", sql: &[
        // A table of its own, so the statement's query ID is new (names are not part of it).
        "CREATE TABLE {s}.pss_probe (n int)",
        "SELECT count(*) FROM {s}.pss_probe WHERE n > 3",
        "SELECT count(*) = 1 FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM {s}.pss_probe WHERE n > $1' AND calls = 1 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    ]},
    Exercise { extension: "pg_trgm", what: "a trigram similarity search with a GIN index", sql: &[
        "CREATE TABLE {s}.words AS SELECT w FROM unnest(ARRAY['postgres', 'postgis', 'pgrouting', 'citus']) w",
        "CREATE INDEX ON {s}.words USING gin (w gin_trgm_ops)",
        "SELECT array_agg(w ORDER BY w) = ARRAY['postgis', 'postgres'] FROM {s}.words WHERE w % 'postgre'",
    ]},
    Exercise { extension: "pgcrypto", what: "bcrypt, digests and symmetric encryption", sql: &[
        "SELECT crypt('secret', h) = h AND encode(digest('abc', 'sha256'), 'hex') LIKE 'ba7816bf%' AND pgp_sym_decrypt(pgp_sym_encrypt('data', 'k'), 'k') = 'data' FROM (SELECT crypt('secret', gen_salt('bf', 4)) AS h) s",
    ]},
    Exercise { extension: "pgstattuple", what: "tuple and index statistics of a table", sql: &[
        "CREATE TABLE {s}.st (id int PRIMARY KEY)",
        "INSERT INTO {s}.st SELECT generate_series(1, 1000)",
        "SELECT (SELECT tuple_count FROM pgstattuple('{s}.st')) = 1000 AND (SELECT leaf_pages FROM pgstatindex('{s}.st_pkey')) > 0",
    ]},
    Exercise { extension: "pgtap", what: "a pgTAP plan that passes", sql: &[
        "SELECT plan(2)",
        "SELECT ok(true, 'truth')",
        "SELECT is(1 + 1, 2, 'arithmetic')",
        "SELECT count(*) = 0 FROM finish() f WHERE f LIKE 'not ok%' OR f LIKE '# Looks like%'",
    ]},
    Exercise { extension: "pgaudit", what: "the audit settings loaded", sql: &[
        "SET LOCAL pgaudit.log = 'read'",
        "SELECT current_setting('pgaudit.log') = 'read'",
    ]},
    Exercise { extension: "postgres_fdw", what: "a foreign table read through a loopback server", sql: &[
        "CREATE SERVER {s}_srv FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '/tmp', dbname {db})",
        "CREATE USER MAPPING FOR CURRENT_USER SERVER {s}_srv",
        "CREATE FOREIGN TABLE {s}.remote_db (datname name) SERVER {s}_srv OPTIONS (schema_name 'pg_catalog', table_name 'pg_database')",
        "SELECT count(*) > 0 FROM {s}.remote_db WHERE datname = {db}",
    ]},
    Exercise { extension: "postgis", what: "a spatial query through a GiST index", sql: &[
        "CREATE TABLE {s}.places (id int, geom geometry(Point, 4326))",
        "INSERT INTO {s}.places SELECT g, ST_SetSRID(ST_MakePoint(g % 100, g / 100), 4326) FROM generate_series(1, 5000) g",
        "CREATE INDEX places_geom ON {s}.places USING gist (geom)",
        "ANALYZE {s}.places",
        "SELECT {s}.plan_uses('SELECT id FROM {s}.places WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint(10, 10), 4326), 1.5)', 'places_geom') AND (SELECT count(*) BETWEEN 5 AND 9 FROM {s}.places WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint(10, 10), 4326), 1.5))",
    ]},
    Exercise { extension: "postgis_raster", what: "a raster with a value set and read back", sql: &[
        "SELECT ST_Value(ST_SetValue(ST_AddBand(ST_MakeEmptyRaster(10, 10, 0, 0, 1), '8BUI'::text, 0), 3, 4, 200), 3, 4) = 200",
    ]},
    Exercise { extension: "postgis_topology", what: "a topology with an edge", sql: &[
        "SELECT topology.CreateTopology('{s}_topo', 4326) > 0",
        "SELECT topology.TopoGeo_AddLineString('{s}_topo', ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326)) IS NOT NULL",
        "SELECT count(*) = 1 FROM {s}_topo.edge_data",
    ]},
    Exercise { extension: "address_standardizer", what: "a US address standardised", sql: &[
        "SELECT house_num = '1' AND name = 'MAIN' FROM standardize_address('us_lex', 'us_gaz', 'us_rules', '1 Main Street', 'Boston, MA 02101')",
    ]},
    Exercise { extension: "address_standardizer_data_us", what: "the US lexicon present", sql: &[
        "SELECT count(*) > 1000 FROM us_lex",
    ]},
    Exercise { extension: "postgis_tiger_geocoder", what: "a geocoder address normalisation", sql: &[
        "SET LOCAL search_path = public, tiger",
        "SELECT (a).streetname = 'Main' AND (a).stateabbrev = 'MA' AND (a).zip = '02101' FROM (SELECT tiger.normalize_address('1 Main St, Boston, MA 02101') AS a) n",
    ]},
    Exercise { extension: "pgrouting", what: "a shortest path with pgr_dijkstra", sql: &[
        "CREATE TABLE {s}.edges (id bigint, source bigint, target bigint, cost float8)",
        "INSERT INTO {s}.edges VALUES (1, 1, 2, 1), (2, 2, 3, 1), (3, 1, 3, 5)",
        "SELECT max(agg_cost) = 2 FROM pgr_dijkstra('SELECT id, source, target, cost FROM {s}.edges', 1, 3)",
    ]},
    Exercise { extension: "uuid-ossp", what: "version 4 and version 5 UUIDs", sql: &[
        "SELECT substr(uuid_generate_v4()::text, 15, 1) = '4' AND uuid_generate_v5(uuid_ns_url(), 'x') = uuid_generate_v5(uuid_ns_url(), 'x')",
    ]},
    Exercise { extension: "vector", what: "a nearest-neighbour search through an HNSW index", sql: &[
        "CREATE TABLE {s}.items (id int, embedding vector(3))",
        "INSERT INTO {s}.items SELECT g, ARRAY[g, g * 2, g * 3]::vector FROM generate_series(1, 2000) g",
        "CREATE INDEX items_hnsw ON {s}.items USING hnsw (embedding vector_l2_ops)",
        "SET LOCAL enable_seqscan = off",
        "SELECT {s}.plan_uses('SELECT id FROM {s}.items ORDER BY embedding <-> ''[10,20,30]'' LIMIT 3', 'items_hnsw') AND (SELECT id = 10 FROM {s}.items ORDER BY embedding <-> '[10,20,30]' LIMIT 1)",
    ]},
];

/// Helpers every exercise may call, created in the throw-away schema.
const HELPERS: &[&str] = &[
    // Whether `statement` fails with SQLSTATE `state` (run in a subtransaction).
    "CREATE FUNCTION {s}.refused(statement text, state text) RETURNS boolean LANGUAGE plpgsql AS $f$ \
     BEGIN EXECUTE statement; RETURN false; \
     EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE = state; END $f$",
    // Whether the plan of `query` mentions `needle` (an index name).
    "CREATE FUNCTION {s}.plan_uses(query text, needle text) RETURNS boolean LANGUAGE plpgsql AS $f$ \
     DECLARE line text; BEGIN \
     FOR line IN EXECUTE 'EXPLAIN ' || query LOOP \
       IF position(needle IN line) > 0 THEN RETURN true; END IF; END LOOP; \
     RETURN false; END $f$",
];

/// The throw-away schema's name: unique per run, a plain lowercase name.
fn schema_name() -> String {
    format!("core_data_exercise_{}", std::process::id())
}

/// One extension's round trip in its own transaction, always rolled back.
fn run_one(
    client: &mut postgres::Client,
    database: &str,
    schema: &str,
    exercise: &Exercise,
) -> anyhow::Result<()> {
    let conninfo = quote_literal(&format!("host=/tmp {}", conninfo_dbname(database)));
    let fill = |text: &str| {
        text.replace("{s}", schema)
            .replace("{db}", &quote_literal(database))
            .replace("{conninfo}", &conninfo)
    };
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
    for helper in HELPERS {
        tx.batch_execute(&fill(helper))?;
    }
    let (last, steps) = exercise
        .sql
        .split_last()
        .ok_or_else(|| anyhow::anyhow!("no statements"))?;
    for step in steps {
        tx.batch_execute(&fill(step))
            .map_err(|e| anyhow::anyhow!("`{}`: {}", fill(step), crate::pg::server_message(&e)))?;
    }
    let row = tx
        .query_one(&fill(last), &[])
        .map_err(|e| anyhow::anyhow!("`{}`: {}", fill(last), crate::pg::server_message(&e)))?;
    let ok: Option<bool> = row.try_get(0)?;
    tx.rollback()?;
    if ok != Some(true) {
        anyhow::bail!("the check returned {ok:?}: `{}`", fill(last));
    }
    Ok(())
}

/// Exercises every bundle extension of each database in `databases`.
pub fn run(stack: &Stack, databases: &[String], progress: &dyn Progress) -> anyhow::Result<Report> {
    let mut report = Report::new("exercise-extensions");
    let schema = schema_name();
    for database in databases {
        report.databases.push(database.clone());
        progress.status(
            "Exercising",
            &format!("the extension bundle in `{database}`"),
        );
        let mut client = stack.connect(database)?;
        for extension in bootstrap::extensions_for(database) {
            let Some(exercise) = EXERCISES.iter().find(|e| e.extension == extension) else {
                report.push(Finding::new(
                    Some(database),
                    extension,
                    "exercise-missing",
                    Severity::Critical,
                    "no exercise is defined for this bundle extension",
                ));
                continue;
            };
            let installed = client
                .query_opt(
                    "SELECT 1 FROM pg_extension WHERE extname = $1",
                    &[&extension],
                )?
                .is_some();
            let started = Instant::now();
            let outcome = if installed {
                run_one(&mut client, database, &schema, exercise)
            } else {
                Err(anyhow::anyhow!(
                    "the extension is not installed in `{database}`; `cargo xtask up` installs the bundle"
                ))
            };
            let millis = started.elapsed().as_secs_f64() * 1000.0;
            let finding = match outcome {
                Ok(()) => Finding::new(
                    Some(database),
                    extension,
                    "exercised",
                    Severity::Info,
                    format!("{} ({millis:.0} ms)", exercise.what),
                ),
                Err(error) => Finding::new(
                    Some(database),
                    extension,
                    "exercise-failed",
                    Severity::Critical,
                    format!("{}: {error:#}", exercise.what),
                ),
            };
            report.push(finding.with_value((millis * 10.0).round() / 10.0));
            if client.is_closed() {
                client = stack.connect(database)?;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundle_extension_has_one_exercise_ending_in_a_check() {
        for extension in bootstrap::extensions() {
            let found: Vec<_> = EXERCISES
                .iter()
                .filter(|e| e.extension == extension)
                .collect();
            assert_eq!(found.len(), 1, "{extension}");
            assert!(found[0]
                .sql
                .last()
                .unwrap()
                .trim_start()
                .starts_with("SELECT"));
        }
        assert_eq!(EXERCISES.len(), bootstrap::extensions().len());
    }
}
