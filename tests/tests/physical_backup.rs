//! pgBackRest end to end on a real stack: data (PostGIS, pgvector, an AGE
//! graph) survives full + incremental backups and the loss of the data and WAL
//! volumes; point-in-time restore keeps A and drops B; `verify` passes on a
//! good backup and fails on a corrupted copy of the repository; a QA clone
//! answers on its own port while the live cluster keeps serving.

use std::time::Duration;

use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::backup::verify::{self, Depth};
use core_data_ops::backup::{oneshot, qa, restore};
use core_data_ops::progress::Quiet;
use core_data_tests::{corrupt_repository_copy, docker_available, TestStack};

const AGE_SESSION: &str = "LOAD 'age'; SET search_path = ag_catalog, \"$user\", public";

fn seed(t: &TestStack) {
    let mut client = t.stack.connect("app").unwrap();
    client
        .batch_execute(
            "CREATE TABLE places (id int PRIMARY KEY, name text, geom geometry(Point, 4326));
             INSERT INTO places SELECT g, 'place ' || g, ST_SetSRID(ST_MakePoint(g * 0.01, g * 0.02), 4326)
               FROM generate_series(1, 2000) g;
             CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));
             INSERT INTO items SELECT g, ARRAY[g, g * 2, g % 7]::real[]::vector FROM generate_series(1, 2000) g;
             CREATE INDEX ON items USING hnsw (embedding vector_l2_ops);",
        )
        .unwrap();
    client.batch_execute(AGE_SESSION).unwrap();
    client
        .batch_execute(
            "SELECT create_graph('people');
             SELECT * FROM cypher('people', $$ CREATE (:Person {name: 'ada'})-[:KNOWS]->(:Person {name: 'bob'}) $$) AS (v agtype);",
        )
        .unwrap();
}

fn write_more(t: &TestStack, from: i32) {
    let mut client = t.stack.connect("app").unwrap();
    client
        .execute(
            "INSERT INTO places SELECT g, 'more ' || g, ST_SetSRID(ST_MakePoint(g, -g), 4326) FROM generate_series($1::int, $1::int + 499) g",
            &[&from],
        )
        .unwrap();
    client.batch_execute(AGE_SESSION).unwrap();
    let statement = format!(
        "SELECT * FROM cypher('people', $$ CREATE (:Person {{name: 'p{from}'}}) $$) AS (v agtype)"
    );
    client.batch_execute(&statement).unwrap();
}

/// A hash of every row of the test data, geometry, vectors and graph included.
fn content_hash(t: &TestStack) -> String {
    let mut client = t.stack.connect("app").unwrap();
    client.batch_execute(AGE_SESSION).unwrap();
    let mut rows: Vec<String> = Vec::new();
    for sql in [
        "SELECT id || '|' || name || '|' || ST_AsEWKT(geom) FROM public.places ORDER BY id",
        "SELECT id || '|' || embedding::text FROM public.items ORDER BY id",
        "SELECT name::text FROM cypher('people', $$ MATCH (n:Person) RETURN n.name $$) AS (name agtype) ORDER BY 1",
        "SELECT a::text || '>' || b::text FROM cypher('people', $$ MATCH (x)-[:KNOWS]->(y) RETURN x.name, y.name $$) AS (a agtype, b agtype) ORDER BY 1",
    ] {
        rows.extend(client.query(sql, &[]).unwrap().iter().map(|row| row.get::<_, String>(0)));
    }
    assert!(
        rows.len() > 4000,
        "the test data is missing: {} rows",
        rows.len()
    );
    client
        .query_one("SELECT md5($1)", &[&rows.join("\n")])
        .unwrap()
        .get(0)
}

#[test]
fn physical_backup_restore_verify_and_qa() {
    if !docker_available("physical_backup_restore_verify_and_qa") {
        return;
    }
    let t = TestStack::new("physical", 205);
    t.up();
    seed(&t);
    let full = physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap();
    assert_eq!(full.kind, "full");
    write_more(&t, 10_000);
    let incr = physical::backup(&t.stack, Some(Kind::Incr), &Quiet).unwrap();
    assert_eq!(incr.kind, "incr");
    assert!(
        incr.repo_delta_bytes < full.repo_delta_bytes,
        "an incremental stores less than the full"
    );
    let at_last_backup = content_hash(&t);

    // Lose the data and WAL volumes; the repository survives.
    t.stack.down(false, &Quiet).unwrap();
    for volume in ["pgdata", "pgwal"] {
        t.stack
            .docker
            .remove_volume(&oneshot::volume_name(&t.stack, volume))
            .unwrap();
    }
    let options = restore::Options {
        set: Some(incr.label.clone()),
        target_time: None,
        discard_old: true,
        ..restore::Options::default()
    };
    let report = restore::restore(&t.stack, &options, &Quiet)
        .unwrap_or_else(|err| panic!("restore failed: {err:#}"));
    assert!(report.old_data.is_empty());
    assert_eq!(
        content_hash(&t),
        at_last_backup,
        "the restored data must equal the state at the last backup"
    );
    let wal = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &["readlink", "/var/lib/postgresql/data/pgdata/pg_wal"],
            None,
        )
        .unwrap();
    assert_eq!(
        wal.stdout.trim(),
        "/var/lib/postgresql/wal/pg_wal",
        "after a restore, WAL stays in its own volume"
    );

    point_in_time(&t);
    verify_good_and_corrupted(&t);
    verify_depth(&t);
    qa_clone(&t);
}

fn point_in_time(t: &TestStack) {
    physical::backup(&t.stack, None, &Quiet).unwrap();
    let mut client = t.stack.connect("app").unwrap();
    client
        .batch_execute("CREATE TABLE pitr (label text); INSERT INTO pitr VALUES ('A')")
        .unwrap();
    let target: String = client
        .query_one("SELECT clock_timestamp()::text", &[])
        .unwrap()
        .get(0);
    std::thread::sleep(Duration::from_millis(1500));
    client
        .batch_execute("INSERT INTO pitr VALUES ('B')")
        .unwrap();
    drop(client);
    // A backup after B: the target lies before the latest set, so the restore must start from an older one.
    physical::backup(&t.stack, Some(Kind::Incr), &Quiet).unwrap();

    let options = restore::Options {
        set: None,
        target_time: Some(target.clone()),
        discard_old: false,
        ..restore::Options::default()
    };
    let report = restore::restore(&t.stack, &options, &Quiet)
        .unwrap_or_else(|err| panic!("PITR restore failed: {err:#}"));
    assert_eq!(
        report.old_data.len(),
        2,
        "the previous data and WAL are set aside: {:?}",
        report.old_data
    );
    let mut client = t.stack.connect("app").unwrap();
    let labels: Vec<String> = client
        .query("SELECT label FROM pitr ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        labels,
        vec!["A".to_owned()],
        "restoring to {target} keeps A and not B"
    );
}

fn verify_good_and_corrupted(t: &TestStack) {
    let set = physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap();
    let good = verify::verify(&t.stack, Some(&set.label), None, Depth::Thorough, &Quiet).unwrap();
    assert!(
        good.passed(),
        "verify must pass on a good backup: {good:#?}"
    );
    let counts = good
        .counts
        .as_ref()
        .expect("row counts were recorded at backup time");
    assert!(
        counts.tables >= 3 && counts.mismatches.is_empty(),
        "{counts:?}"
    );
    assert!(
        good.checksums.contains("Bad checksums:  0"),
        "{}",
        good.checksums
    );
    let steps: Vec<&str> = good.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        steps,
        [
            "restore",
            "recovery",
            "pg_amcheck and row counts",
            "stop",
            "pg_checksums"
        ],
        "verify reports where its time went"
    );
    let restore = &good.steps[0];
    assert!(
        restore.seconds > 0.0 && restore.cpu_seconds.is_some_and(|cpu| cpu > 0.0),
        "the restore step has its wall and CPU time: {restore:?}"
    );

    // A copy of the repository with bytes flipped in one file of the set.
    let corrupt = corrupt_repository_copy(&t.stack, &set.label);
    let bad = verify::verify(
        &t.stack,
        Some(&set.label),
        Some(&corrupt),
        Depth::Thorough,
        &Quiet,
    )
    .unwrap();
    t.stack.docker.remove_volume(&corrupt).unwrap();
    assert!(
        !bad.passed(),
        "verify must fail on a corrupted repository copy"
    );
    eprintln!(
        "verify on the corrupted copy failed as it should: {:?}",
        bad.failures
    );
}

/// An index that lacks entries for its table's rows: only the thorough check
/// (every heap tuple looked up in the index) finds it; `--quick` does not look
/// and passes. Made the way it happens in life: an expression index over a
/// function declared IMMUTABLE that is not, whose meaning then changed.
fn verify_depth(t: &TestStack) {
    t.sql("postgres", "CREATE DATABASE skewed_index");
    t.sql(
        "skewed_index",
        "CREATE TABLE knob (k int NOT NULL); INSERT INTO knob VALUES (0);
         CREATE FUNCTION shifted(int) RETURNS int IMMUTABLE LANGUAGE sql
           AS 'SELECT $1 + (SELECT k FROM public.knob)';
         CREATE TABLE t (x int NOT NULL);
         INSERT INTO t SELECT g FROM generate_series(1, 1000) g;
         CREATE INDEX t_shifted ON t (shifted(x));
         UPDATE knob SET k = 1000000;",
    );
    let set = physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap();
    let thorough =
        verify::verify(&t.stack, Some(&set.label), None, Depth::Thorough, &Quiet).unwrap();
    let quick = verify::verify(&t.stack, Some(&set.label), None, Depth::Quick, &Quiet).unwrap();
    t.sql("postgres", "DROP DATABASE skewed_index");
    assert!(
        !thorough.passed() && thorough.failures.iter().any(|f| f.contains("t_shifted")),
        "the thorough check finds the index that lacks its rows: {:?}",
        thorough.failures
    );
    assert!(
        quick.passed() && quick.depth == Depth::Quick,
        "--quick checks the index structure only, which is sound: {:?}",
        quick.failures
    );
    assert!(
        quick.amcheck.contains("--quick"),
        "the report says what was not checked: {}",
        quick.amcheck
    );
}

fn qa_clone(t: &TestStack) {
    let clone = qa::provision(&t.stack, "app", "qa_app", &Quiet)
        .unwrap_or_else(|err| panic!("provision-qa failed: {err:#}"));
    assert_ne!(clone.port, t.stack.config.host_port());
    let mut qa_client = qa::connect(&t.stack, &clone, "app").unwrap();
    let live_hash = content_hash(t);
    let qa_places: i64 = qa_client
        .query_one("SELECT count(*) FROM places", &[])
        .unwrap()
        .get(0);
    let live_places: i64 = t
        .stack
        .connect("app")
        .unwrap()
        .query_one("SELECT count(*) FROM places", &[])
        .unwrap()
        .get(0);
    assert_eq!(qa_places, live_places);
    qa_client
        .batch_execute("INSERT INTO places VALUES (-1, 'only in qa', NULL)")
        .unwrap();
    assert_eq!(
        content_hash(t),
        live_hash,
        "writes to the clone must not reach the live cluster"
    );
    let databases: Vec<String> = qa::connect(&t.stack, &clone, "postgres")
        .unwrap()
        .query(
            "SELECT datname::text FROM pg_database WHERE NOT datistemplate ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        databases,
        vec!["app".to_owned(), "postgres".to_owned()],
        "the clone holds only the cloned database"
    );
    assert_eq!(qa::list(&t.stack).unwrap().len(), 1);
    assert!(qa::drop_clone(&t.stack, "qa_app").unwrap());
    assert!(qa::list(&t.stack).unwrap().is_empty());
}
