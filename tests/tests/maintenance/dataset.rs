//! `test-dataset install`: the dataset answers spatial, vector, routing,
//! graph, trigram and range questions; `exercise-extensions` passes in its
//! database; a second install replaces it with the same rows; a `testkit`
//! schema it did not make is refused and left alone.

use core_data_tests::TestStack;

use super::{cli, sql, DB};

const COUNTS: &str = "SELECT (SELECT count(*) FROM testkit.regions) || ',' || \
     (SELECT count(*) FROM testkit.places) || ',' || (SELECT count(*) FROM testkit.bookings) || ',' || \
     (SELECT count(*) FROM testkit.roads) || ',' || (SELECT count(*) FROM testkit.readings)";

pub(crate) fn dataset_installs_and_answers(t: &TestStack) {
    let out = cli(t, &["test-dataset", "install"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains("installed the test dataset in `testkit`"),
        "{out}"
    );
    let counts = t.query_one_string("testkit", COUNTS);
    assert_eq!(counts, "9,2000,4000,180,20160");
    // The owner owns the tables, partitions included.
    assert_eq!(
        t.query_one_string(
            "testkit",
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class \
             WHERE relnamespace = 'testkit'::regnamespace AND relkind IN ('r', 'p')"
        ),
        "testkit_owner"
    );
    let answers = [
        // pg_partman made daily partitions, 3 ahead.
        ("SELECT (count(*) >= 10)::text FROM pg_inherits WHERE inhparent = 'testkit.readings'::regclass", "true"),
        // PostGIS: places within 2 km of place 1.
        ("SELECT (count(*) > 0)::text FROM testkit.places a, testkit.places b \
          WHERE a.place_id = 1 AND b.place_id <> 1 AND ST_DWithin(a.location, b.location, 2000)", "true"),
        // pgvector: the nearest neighbour of a place's own embedding is itself.
        ("SELECT place_id::text FROM testkit.places ORDER BY embedding <-> \
          (SELECT embedding FROM testkit.places WHERE place_id = 42) LIMIT 1", "42"),
        // pgRouting: corner to corner of the grid.
        ("SELECT (max(agg_cost) > 0)::text FROM pgr_dijkstra( \
          'SELECT id, source, target, cost, reverse_cost FROM testkit.roads', 1, 100)", "true"),
        // pg_trgm and citext.
        ("SELECT name::text FROM testkit.places WHERE name = 'north garden 16'", "North Garden 16"),
        ("SELECT (similarity(name::text, 'Nort Gardn 16') > 0.3)::text FROM testkit.places WHERE place_id = 16", "true"),
        // full text and hstore.
        ("SELECT (count(*) > 0)::text FROM testkit.places WHERE search @@ to_tsquery('english', 'fjord & coffee')", "true"),
        ("SELECT count(*)::text FROM testkit.places WHERE attributes -> 'wifi' = 'true'", "1000"),
    ];
    for (query, want) in answers {
        assert_eq!(t.query_one_string("testkit", query), want, "{query}");
    }
    // btree_gist: an overlapping booking of the same place is refused.
    let mut client = t.stack.connect("testkit").unwrap();
    let err = client
        .batch_execute(
            "INSERT INTO testkit.bookings (place_id, during) VALUES \
             (1, tstzrange('2026-01-01 00:30+00', '2026-01-01 00:45+00'))",
        )
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23P01"), "{err}");
    // AGE: every graph place is IN one region.
    client
        .batch_execute("LOAD 'age'; SET search_path = ag_catalog, \"$user\", public")
        .unwrap();
    let row = client
        .query_one(
            "SELECT count(*) FROM cypher('testkit_graph', $$ MATCH (p:Place)-[:IN]->(r:Region) RETURN p.id $$) AS (id agtype)",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 100);

    let out = cli(t, &["exercise-extensions", "--db", "testkit"]);
    assert_eq!(out.code, Some(0), "{out}");

    // Again: replaced, same rows.
    let out = cli(t, &["test-dataset", "install"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("replaced the test dataset"), "{out}");
    assert_eq!(t.query_one_string("testkit", COUNTS), counts);

    // A testkit schema of someone else's is never dropped.
    sql(t, DB, "CREATE SCHEMA testkit; CREATE TABLE testkit.precious (v int); INSERT INTO testkit.precious VALUES (1)");
    let out = cli(
        t,
        &[
            "test-dataset",
            "install",
            "--db",
            DB,
            "--owner",
            "never_made",
        ],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("was not made by `test-dataset install`"),
        "{out}"
    );
    assert_eq!(
        t.query_one_string(DB, "SELECT count(*)::text FROM testkit.precious"),
        "1"
    );
    // Refused before anything was made: the owner it would have created does not exist.
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT count(*)::text FROM pg_roles WHERE rolname = 'never_made'"
        ),
        "0"
    );
    sql(t, DB, "DROP SCHEMA testkit CASCADE");
}
