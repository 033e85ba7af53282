//! `dump`, `restore-dump` and `dump --all`: restores into new names and over the original, refusals.

use super::*;

// ---------------------------------------------------------------- dump and restore

pub(super) fn write_known_data(t: &TestStack, database: &str) {
    let mut client = t.stack.connect(database).unwrap();
    client
        .batch_execute(
            "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, amount numeric(12,2), created timestamptz);
             INSERT INTO items (name, amount, created)
               SELECT 'item ' || g, g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
               FROM generate_series(1, 5000) g;
             CREATE TABLE places (id int PRIMARY KEY, geom geometry(Geometry, 4326));
             INSERT INTO places SELECT g, ST_SetSRID(ST_MakePoint(g * 0.01, 45 + g * 0.001), 4326) FROM generate_series(1, 500) g;
             INSERT INTO places VALUES (1001, ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326));
             CREATE INDEX places_geom ON places USING gist (geom);
             CREATE TABLE embeddings (id int PRIMARY KEY, embedding vector(3));
             INSERT INTO embeddings SELECT g, ARRAY[g, g * 0.5, -g]::real[]::vector FROM generate_series(1, 300) g;
             CREATE INDEX embeddings_hnsw ON embeddings USING hnsw (embedding vector_l2_ops);",
        )
        .unwrap();
    client
        .batch_execute(
            "LOAD 'age'; SET search_path = ag_catalog, \"$user\", public;
             SELECT create_graph('lineage');
             SELECT * FROM cypher('lineage', $$ CREATE (:Person {name: 'Ada', born: 1815})-[:KNOWS {since: 1833}]->(:Person {name: 'Charles', born: 1791}) $$) AS (v agtype);
             SELECT * FROM cypher('lineage', $$ CREATE (:City {name: 'London'}) $$) AS (v agtype);
             SELECT * FROM cypher('lineage', $$ MATCH (a:Person {name: 'Ada'}), (c:City) CREATE (a)-[:LIVED_IN]->(c) $$) AS (v agtype);",
        )
        .unwrap();
}

/// A deterministic hash over ordered rows: plain columns, EWKB geometries,
/// vectors, a sequence, and the AGE graph's vertices and edges (through agtype's
/// output function: AGE has no cast from a vertex to text).
pub(super) fn content_hash(t: &TestStack, database: &str) -> String {
    let mut client = t
        .stack
        .connect(database)
        .unwrap_or_else(|err| panic!("connect to `{database}`: {err:#}"));
    client
        .batch_execute("LOAD 'age'; SET search_path = ag_catalog, \"$user\", public")
        .unwrap();
    let parts = [
        "SELECT count(*)::text || ':' || md5(string_agg(format('%s|%s|%s|%s', id, name, amount, created), E'\\n' ORDER BY id)) FROM public.items",
        "SELECT count(*)::text || ':' || md5(string_agg(id || '|' || encode(ST_AsEWKB(geom), 'hex'), E'\\n' ORDER BY id)) FROM public.places",
        "SELECT count(*)::text || ':' || md5(string_agg(id || '|' || embedding::text, E'\\n' ORDER BY id)) FROM public.embeddings",
        "SELECT last_value::text FROM public.items_id_seq",
        "SELECT count(*)::text || ':' || md5(string_agg(format('%s', v), E'\\n' ORDER BY format('%s', v))) FROM cypher('lineage', $$ MATCH (n) RETURN n $$) AS (v agtype)",
        "SELECT count(*)::text || ':' || md5(string_agg(format('%s', e), E'\\n' ORDER BY format('%s', e))) FROM cypher('lineage', $$ MATCH ()-[r]->() RETURN r $$) AS (e agtype)",
    ];
    let hash: Vec<String> = parts
        .iter()
        .map(|sql| {
            client
                .query_one(*sql, &[])
                .unwrap_or_else(|err| panic!("`{sql}` in `{database}`: {err:?}"))
                .get(0)
        })
        .collect();
    hash.join(" ")
}

pub(super) fn database_oid(t: &TestStack, database: &str) -> Option<u32> {
    let mut client = t.stack.connect("postgres").unwrap();
    client
        .query_opt(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .unwrap()
        .map(|row| row.get(0))
}

pub(super) fn temporary_databases(t: &TestStack) -> Vec<String> {
    let mut client = t.stack.connect("postgres").unwrap();
    client
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            &[&TEMP_PREFIX],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

pub(super) fn dump_restores_into_a_new_name(t: &TestStack, original: &str) -> Utf8PathBuf {
    let dumped =
        logical::dump(&t.stack, "app", None, &Quiet).unwrap_or_else(|err| panic!("dump: {err:#}"));
    assert!(
        dumped.path.starts_with(t.paths().backups_dir()),
        "{}",
        dumped.path
    );
    assert!(
        dumped.path.as_str().ends_with(".dump")
            && dumped.path.file_name().unwrap().starts_with("app-")
    );
    assert_eq!(std::fs::metadata(&dumped.path).unwrap().len(), dumped.bytes);
    assert!(!Utf8PathBuf::from(format!("{}.partial", dumped.path)).exists());
    let err = logical::dump(&t.stack, "app", Some(dumped.path.as_path()), &Quiet).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    let err = logical::dump(&t.stack, "no_such_db", None, &Quiet).unwrap_err();
    assert!(
        format!("{err:#}").contains("database `no_such_db` does not exist"),
        "{err:#}"
    );

    let restored = logical::restore_dump(
        &t.stack,
        &dumped.path,
        "app_copy",
        &opts(false, Some(2), false),
        &Quiet,
    )
    .unwrap_or_else(|err| panic!("restore-dump into a new name: {err:#}"));
    assert!(!restored.replaced);
    assert_eq!(
        restored.jobs, 2,
        "a custom-format file under backups/ restores in parallel"
    );
    assert_eq!(
        content_hash(t, "app_copy"),
        original,
        "the restored copy must hash like the original"
    );
    let owner = t.query_one_string(
        "postgres",
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'app_copy'",
    );
    assert_eq!(
        owner, "postgres",
        "a name outside APP_DATABASES is owned by the superuser"
    );
    assert!(
        temporary_databases(t).is_empty(),
        "{:?}",
        temporary_databases(t)
    );

    let err = logical::restore_dump(
        &t.stack,
        &dumped.path,
        "app_copy",
        &opts(false, None, false),
        &Quiet,
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("already exists; add `--yes`"),
        "{err:#}"
    );
    dumped.path
}

pub(super) fn assert_failed_cleanly(
    t: &TestStack,
    file: &Utf8Path,
    expect: &str,
    original: &str,
    oid: Option<u32>,
) {
    assert_refused(t, file, &opts(true, None, true), expect, original, oid);
}

pub(super) fn assert_refused(
    t: &TestStack,
    file: &Utf8Path,
    options: &RestoreOptions,
    expect: &str,
    original: &str,
    oid: Option<u32>,
) {
    let err = logical::restore_dump(&t.stack, file, "app", options, &Quiet)
        .err()
        .unwrap_or_else(|| panic!("restoring `{file}` must fail"));
    let message = format!("{err:#}");
    eprintln!("{:>12} {message}", "Refused");
    assert!(
        message.contains(expect),
        "expected `{expect}` in: {message}"
    );
    assert_eq!(
        database_oid(t, "app"),
        oid,
        "`app` must be the very same database"
    );
    assert_eq!(
        content_hash(t, "app"),
        original,
        "`app` must be unchanged after a failed restore of `{file}`"
    );
    assert!(
        temporary_databases(t).is_empty(),
        "temporary databases left behind: {:?}",
        temporary_databases(t)
    );
}

pub(super) fn bad_files_fail_and_leave_the_target_alone(
    t: &TestStack,
    dump: &Utf8Path,
    original: &str,
) {
    let oid = database_oid(t, "app");
    let backups = t.paths().backups_dir();
    let garbage = backups.join("garbage.dump");
    std::fs::write(
        &garbage,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    assert_failed_cleanly(t, &garbage, "is not a pg_dump file", original, oid);

    let fake = backups.join("fake-header.dump");
    std::fs::write(
        &fake,
        b"PGDMP this is not really an archive, just text after a magic number",
    )
    .unwrap();
    assert_failed_cleanly(t, &fake, "is not a readable pg_dump archive", original, oid);

    let bytes = std::fs::read(dump).unwrap();
    let truncated = backups.join("truncated.dump");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    assert_failed_cleanly(t, &truncated, "`app` was not touched", original, oid);

    // Outside backups/: streamed through stdin.
    let outside = t.paths().state().join("truncated-outside.dump");
    std::fs::write(&outside, &bytes[..bytes.len() / 2]).unwrap();
    assert_failed_cleanly(t, &outside, "`app` was not touched", original, oid);

    assert_failed_cleanly(
        t,
        &backups.join("missing.dump"),
        "cannot open dump file",
        original,
        oid,
    );

    // Without `--trust`: a file with no manifest, and one that no longer matches its manifest.
    let strict = opts(true, None, false);
    assert_refused(
        t,
        &truncated,
        &strict,
        "was not written by core_data",
        original,
        oid,
    );
    std::fs::copy(
        dump_file::manifest_path(dump),
        dump_file::manifest_path(&truncated),
    )
    .unwrap();
    assert_refused(t, &truncated, &strict, "does not match", original, oid);
}

pub(super) fn restore_over_the_original_with_yes(t: &TestStack, dump: &Utf8Path, original: &str) {
    let oid = database_oid(t, "app");
    // Outside backups/, so this one is streamed through stdin with one job; its
    // manifest goes with it, so it is recognised without `--trust`.
    let outside = t.paths().state().join("app-copy.dump");
    std::fs::copy(dump, &outside).unwrap();
    std::fs::copy(
        dump_file::manifest_path(dump),
        dump_file::manifest_path(&outside),
    )
    .unwrap();
    // Database-level properties no dump carries: they must survive the replacement.
    t.stack
        .connect("postgres")
        .unwrap()
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE app FROM PUBLIC;
             GRANT CONNECT ON DATABASE app TO {backup};
             GRANT CONNECT, TEMPORARY ON DATABASE app TO shop_owner WITH GRANT OPTION;
             SET ROLE shop_owner; GRANT CONNECT ON DATABASE app TO core_data_reader; RESET ROLE;
             ALTER DATABASE app SET work_mem = '7MB';
             ALTER DATABASE app SET search_path = \"$user\", public, \"My Schema\";
             ALTER ROLE app IN DATABASE app SET statement_timeout = '42s';
             COMMENT ON DATABASE app IS 'the app''s data';
             ALTER DATABASE app CONNECTION LIMIT 50;",
            backup = core_data_ops::sql::quote_ident(BACKUP_ROLE)
        ))
        .unwrap();
    let props_before = db_props::read(&mut t.stack.connect("postgres").unwrap(), "app").unwrap();
    assert!(
        props_before.acl.as_ref().is_some_and(|acl| acl.len() >= 5),
        "{props_before:?}"
    );
    let mut session = t.stack.connect("app").unwrap();
    session
        .batch_execute("INSERT INTO items (name) VALUES ('written after the dump')")
        .unwrap();
    assert_ne!(content_hash(t, "app"), original);

    let restored =
        logical::restore_dump(&t.stack, &outside, "app", &opts(true, None, false), &Quiet)
            .unwrap_or_else(|err| panic!("restore-dump over `app`: {err:#}"));
    assert!(restored.replaced);
    let props_after = db_props::read(&mut t.stack.connect("postgres").unwrap(), "app").unwrap();
    assert_eq!(
        props_after, props_before,
        "grants, settings, comment and limits carried over"
    );
    assert!(restored.warnings.is_empty(), "{:?}", restored.warnings);
    assert!(
        restored
            .carried
            .iter()
            .any(|c| c.contains("setting(s) of role `app`")),
        "{:?}",
        restored.carried
    );
    assert_eq!(
        t.query_one_string("app", "SELECT current_setting('search_path')"),
        "\"$user\", public, \"My Schema\""
    );
    assert_eq!(
        restored.jobs, 1,
        "a file outside backups/ is streamed with one job"
    );
    assert_ne!(
        database_oid(t, "app"),
        oid,
        "`app` is the restored database now"
    );
    assert_eq!(
        content_hash(t, "app"),
        original,
        "restoring over the original brings back the dumped state"
    );
    let owner = t.query_one_string(
        "postgres",
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'app'",
    );
    assert_eq!(owner, "app", "the replaced database keeps its owner");
    assert!(
        session.simple_query("SELECT 1").is_err(),
        "sessions on the replaced database are terminated"
    );
    assert!(
        temporary_databases(t).is_empty(),
        "{:?}",
        temporary_databases(t)
    );
}

pub(super) fn plain_sql_and_dump_all(t: &TestStack, original: &str) {
    let sql = logical::dump_sql(&t.stack, "app", None, &Quiet)
        .unwrap_or_else(|err| panic!("dump-sql: {err:#}"));
    assert!(sql.path.as_str().ends_with(".sql"));
    logical::restore_dump(
        &t.stack,
        &sql.path,
        "app_from_sql",
        &opts(false, None, false),
        &Quiet,
    )
    .unwrap_or_else(|err| panic!("restore-dump of plain SQL: {err:#}"));
    assert_eq!(content_hash(t, "app_from_sql"), original);

    // Cut short mid-file, a plain dump would still replay and commit in psql: it must be refused.
    let text = std::fs::read(&sql.path).unwrap();
    let cut = t.paths().backups_dir().join("truncated.sql");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let err = logical::restore_dump(
        &t.stack,
        &cut,
        "app_from_sql",
        &opts(true, None, true),
        &Quiet,
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("incomplete plain SQL dump"),
        "{err:#}"
    );
    assert_eq!(
        content_hash(t, "app_from_sql"),
        original,
        "the target must be untouched"
    );

    let all =
        logical::dump_all(&t.stack, &Quiet).unwrap_or_else(|err| panic!("dump --all: {err:#}"));
    let names: Vec<&str> = all.databases.iter().map(|d| d.database.as_str()).collect();
    for database in ["app", "app_copy", "app_from_sql", "postgres", "shop"] {
        assert!(
            names.contains(&database),
            "`{database}` missing from dump --all: {names:?}"
        );
    }
    assert!(all
        .databases
        .iter()
        .all(|d| d.path.starts_with(&all.dir) && d.path.exists() && d.bytes > 0));
    let globals = std::fs::read_to_string(&all.globals.path).unwrap();
    assert!(globals.contains("CREATE ROLE shop_owner;"), "{globals}");
    assert!(
        !all.dir.as_str().ends_with(".partial")
            && !Utf8PathBuf::from(format!("{}.partial", all.dir)).exists()
    );
}
