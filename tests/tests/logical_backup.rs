//! Logical backups end to end on one stack: the `logical_backup` sidecar
//! (dumps within its interval, pruning, status file, health through a forced
//! failure and back, prompt graceful stop), then `dump` → `restore-dump`
//! preserving a content hash over plain rows, PostGIS geometries, pgvector
//! vectors and an AGE graph (into a new name, and over the original), and
//! garbage, truncated and missing files that fail clearly while the target
//! database stays exactly as it was and no temporary database is left behind;
//! files without a matching `.sha256` manifest need `--trust`; database-level
//! grants, settings, comment and connection limit survive a replacement; psql
//! meta-commands in a plain file never run; databases whose names clean to the
//! same file name get separate files from `dump`, `dump --all` and the sidecar;
//! no write follows a symlink; postgres sees `backups/` read-only and the
//! sidecar only `backups/logical`.

use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::backup::db_props;
use core_data_ops::backup::dump_file;
use core_data_ops::backup::logical::{self, RestoreOptions, Status, TEMP_PREFIX};
use core_data_ops::progress::Quiet;
use core_data_ops::secrets::BACKUP_ROLE;
use core_data_tests::{docker_available, TestStack};

#[test]
fn logical_backup_full_workflow() {
    if !docker_available("logical_backup_full_workflow") {
        return;
    }
    let mut t = TestStack::new("logical", 204);
    t.set("LOGICAL_BACKUP_INTERVAL_SECONDS", "5");
    t.set("LOGICAL_BACKUP_RETENTION_SECONDS", "20");
    let report = t.up();
    let up_done = epoch_now();
    assert_eq!(
        report.bootstrap.service_roles,
        vec![
            BACKUP_ROLE.to_owned(),
            core_data_ops::secrets::READER_ROLE.to_owned(),
            core_data_ops::secrets::RUNBOOK_ROLE.to_owned()
        ]
    );

    backup_role_is_least_privileged(&t);
    sidecar_dumps_prunes_and_reports(&t, up_done);
    sidecar_health_follows_a_forced_failure(&t);
    mounts_are_confined(&t);
    colliding_names_get_their_own_files(&t);
    sidecar_stops_promptly(&t);

    write_known_data(&t, "app");
    let original = content_hash(&t, "app");
    let dump = dump_restores_into_a_new_name(&t, &original);
    bad_files_fail_and_leave_the_target_alone(&t, &dump, &original);
    restore_over_the_original_with_yes(&t, &dump, &original);
    plain_sql_and_dump_all(&t, &original);
    meta_commands_never_run(&t, &original);
    writes_never_follow_symlinks(&t);
}

fn opts(yes: bool, jobs: Option<u32>, trust: bool) -> RestoreOptions {
    RestoreOptions { yes, jobs, trust }
}

// ---------------------------------------------------------------- sidecar

fn backup_role_is_least_privileged(t: &TestStack) {
    let row = t
        .stack
        .connect("postgres")
        .unwrap()
        .query_one(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolcanlogin, \
                    pg_has_role(rolname, 'pg_read_all_data', 'MEMBER'), pg_has_role(rolname, 'pg_write_all_data', 'MEMBER') \
             FROM pg_roles WHERE rolname = $1",
            &[&BACKUP_ROLE],
        )
        .unwrap();
    let flags: Vec<bool> = (0..7).map(|i| row.get(i)).collect();
    assert_eq!(
        flags,
        vec![false, false, false, false, true, true, false],
        "super, createrole, createdb, replication, login, read_all, write_all"
    );
}

fn status(t: &TestStack) -> Option<Status> {
    logical::sidecar_status(&t.stack).ok()
}

fn sidecar_health(t: &TestStack) -> String {
    t.stack
        .docker
        .health(&logical::sidecar_container(&t.stack))
        .unwrap()
        .unwrap_or_else(|| "missing".to_owned())
}

/// Polls `probe` until it returns `Some`, or panics after `limit` with `what` and the last sidecar state.
fn wait_for<T>(
    t: &TestStack,
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            eprintln!(
                "{:>12} {what} after {:.1}s",
                "Observed",
                started.elapsed().as_secs_f64()
            );
            return value;
        }
        if started.elapsed() > limit {
            let logs = t
                .stack
                .docker
                .logs_tail(&logical::sidecar_container(&t.stack), 40)
                .unwrap_or_default()
                .join("\n");
            panic!(
                "timed out after {limit:?} waiting for: {what}\nhealth: {}\nstatus: {}\nsidecar log:\n{logs}",
                sidecar_health(t),
                status(t).map_or_else(|| "none".to_owned(), |s| s.to_json())
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn run_dirs(t: &TestStack) -> Vec<String> {
    let mut names: Vec<String> = logical::sidecar_dir(&t.stack)
        .read_dir_utf8()
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sidecar_dumps_prunes_and_reports(t: &TestStack, up_done: i64) {
    let first = wait_for(
        t,
        "a successful sidecar run after `up`",
        Duration::from_secs(180),
        || {
            status(t).filter(|s| {
                s.last_run
                    .as_ref()
                    .is_some_and(|run| run.ok && run.started_epoch >= up_done)
            })
        },
    );
    let run = first.last_run.clone().unwrap();
    assert_eq!(first.interval_seconds, 5);
    assert_eq!(first.retention_seconds, 20);
    let names: Vec<&str> = run.databases.iter().map(|d| d.name.as_str()).collect();
    for database in ["app", "postgres", "shop"] {
        assert!(
            names.contains(&database),
            "`{database}` missing from the run: {names:?}"
        );
    }
    assert!(
        run.databases
            .iter()
            .all(|d| d.ok && d.bytes > 0 && d.error.is_none()),
        "{:?}",
        run.databases
    );
    let globals = run.globals.clone().expect("globals are dumped");
    assert!(globals.ok && globals.bytes > 0);
    let dir = logical::sidecar_dir(&t.stack).join(&run.directory);
    assert_eq!(
        first.last_success_directory.as_deref(),
        Some(run.directory.as_str())
    );
    let app_dump = dir.join("app.dump");
    let header = std::fs::read(&app_dump).unwrap_or_else(|err| panic!("`{app_dump}`: {err}"));
    assert!(
        header.starts_with(b"PGDMP"),
        "the sidecar writes custom-format dumps"
    );
    let globals_sql = std::fs::read_to_string(dir.join("globals.sql")).unwrap();
    assert!(globals_sql.contains("CREATE ROLE app;"), "{globals_sql}");
    assert!(
        !globals_sql.contains("SCRAM-SHA-256$"),
        "the globals must not carry password verifiers"
    );

    // The next run comes within the interval.
    let next = wait_for(t, "the next run", Duration::from_secs(60), || {
        status(t)
            .and_then(|s| s.last_run)
            .filter(|r| r.ok && r.started_epoch > run.started_epoch)
    });
    let gap = next.started_epoch - run.finished_epoch;
    assert!(
        (4..=8).contains(&gap),
        "the next run must start one interval (5s) after the last finished, not {gap}s"
    );

    // Runs older than the retention are pruned.
    let first_dir = run.directory.clone();
    wait_for(t, "the first run pruned", Duration::from_secs(90), || {
        (!run_dirs(t).contains(&first_dir)).then_some(())
    });
    let dirs = run_dirs(t);
    assert!(
        !dirs.is_empty() && dirs.len() <= 6,
        "retention 20s at one run per ~5s keeps a handful: {dirs:?}"
    );
    assert!(
        dirs.iter()
            .all(|d| !d.ends_with(".partial") || d == dirs.last().unwrap()),
        "{dirs:?}"
    );
    wait_for(t, "the sidecar healthy", Duration::from_secs(60), || {
        (sidecar_health(t) == "healthy").then_some(())
    });
}

fn sidecar_health_follows_a_forced_failure(t: &TestStack) {
    let mut admin = t.stack.connect("postgres").unwrap();
    let before = Instant::now();
    let revoked_at = epoch_now();
    admin
        .batch_execute(&format!(
            "REVOKE CONNECT ON DATABASE app FROM PUBLIC; REVOKE CONNECT ON DATABASE app FROM {}",
            core_data_ops::sql::quote_ident(BACKUP_ROLE)
        ))
        .unwrap();
    let failed = wait_for(t, "a failed run recorded", Duration::from_secs(60), || {
        status(t).filter(|s| {
            s.last_run
                .as_ref()
                .is_some_and(|r| !r.ok && r.started_epoch >= revoked_at)
        })
    });
    let run = failed.last_run.clone().unwrap();
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("`app`") && error.contains("permission denied"),
        "the error must name the database and the cause: {error}"
    );
    assert_eq!(failed.last_failure_error.as_deref(), Some(error.as_str()));
    assert!(failed.last_failure_epoch.is_some_and(|at| at >= revoked_at));
    assert!(
        failed.last_success.is_some(),
        "the last success stays recorded"
    );
    let app_entry = run
        .databases
        .iter()
        .find(|d| d.name == "app")
        .expect("app is listed");
    assert!(
        !app_entry.ok
            && app_entry
                .error
                .as_deref()
                .is_some_and(|e| e.contains("permission denied")),
        "{app_entry:?}"
    );
    assert!(
        run.databases
            .iter()
            .filter(|d| d.name != "app")
            .all(|d| d.ok),
        "the other databases are still dumped"
    );
    assert!(run.directory.ends_with(".failed"), "{}", run.directory);
    assert!(failed
        .problem(epoch_now())
        .is_some_and(|p| p.contains("permission denied")));
    wait_for(t, "the sidecar unhealthy", Duration::from_secs(60), || {
        (sidecar_health(t) == "unhealthy").then_some(())
    });
    let checks = t
        .stack
        .docker
        .health_log(&logical::sidecar_container(&t.stack))
        .unwrap()
        .join("\n");
    assert!(checks.contains("last run failed"), "{checks}");
    eprintln!(
        "{:>12} failure to unhealthy in {:.1}s",
        "Measured",
        before.elapsed().as_secs_f64()
    );

    let fixed_at = epoch_now();
    admin
        .batch_execute("GRANT CONNECT ON DATABASE app TO PUBLIC")
        .unwrap();
    let recovered = wait_for(
        t,
        "a successful run after the fix",
        Duration::from_secs(60),
        || {
            status(t).filter(|s| {
                s.last_run
                    .as_ref()
                    .is_some_and(|r| r.ok && r.started_epoch >= fixed_at)
            })
        },
    );
    assert!(
        recovered.last_failure.is_some(),
        "the failure stays in the history"
    );
    wait_for(
        t,
        "the sidecar healthy again",
        Duration::from_secs(60),
        || (sidecar_health(t) == "healthy").then_some(()),
    );
}

fn sidecar_stops_promptly(t: &TestStack) {
    let started = Instant::now();
    t.stack
        .compose()
        .run(&["stop", logical::SIDECAR_SERVICE])
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM must end the sidecar promptly (grace period 30s), took {took:?}"
    );
    assert_eq!(sidecar_health(t), "stopped");
    let partial: Vec<String> = run_dirs(t)
        .into_iter()
        .filter(|d| d.ends_with(".partial"))
        .collect();
    if !partial.is_empty() {
        let logs = t
            .stack
            .docker
            .logs_tail(&logical::sidecar_container(&t.stack), 30)
            .unwrap_or_default()
            .join("\n");
        let inside: Vec<String> = logical::sidecar_dir(&t.stack)
            .join(&partial[0])
            .read_dir_utf8()
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        panic!("a stopped run leaves no partial directory: {partial:?} holding {inside:?}\nsidecar log:\n{logs}");
    }
}

fn epoch_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

// ---------------------------------------------------------------- dump and restore

fn write_known_data(t: &TestStack, database: &str) {
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
fn content_hash(t: &TestStack, database: &str) -> String {
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

fn database_oid(t: &TestStack, database: &str) -> Option<u32> {
    let mut client = t.stack.connect("postgres").unwrap();
    client
        .query_opt(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .unwrap()
        .map(|row| row.get(0))
}

fn temporary_databases(t: &TestStack) -> Vec<String> {
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

fn dump_restores_into_a_new_name(t: &TestStack, original: &str) -> Utf8PathBuf {
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

fn assert_failed_cleanly(
    t: &TestStack,
    file: &Utf8Path,
    expect: &str,
    original: &str,
    oid: Option<u32>,
) {
    assert_refused(t, file, &opts(true, None, true), expect, original, oid);
}

fn assert_refused(
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

fn bad_files_fail_and_leave_the_target_alone(t: &TestStack, dump: &Utf8Path, original: &str) {
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

fn restore_over_the_original_with_yes(t: &TestStack, dump: &Utf8Path, original: &str) {
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

fn plain_sql_and_dump_all(t: &TestStack, original: &str) {
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

// ---------------------------------------------------------------- confinement and names

fn mounts_are_confined(t: &TestStack) {
    let postgres = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &["touch", "/backups/written-by-postgres"],
            None,
        )
        .unwrap();
    assert_ne!(postgres.exit_code, 0, "postgres must not write to /backups");
    assert!(
        postgres.stderr.contains("Read-only file system"),
        "{postgres:?}"
    );
    let sidecar = t
        .stack
        .docker
        .exec(
            &logical::sidecar_container(&t.stack),
            &["ls", "-A", "/backups"],
            None,
        )
        .unwrap();
    assert_eq!(
        sidecar.stdout.trim(),
        "logical",
        "the sidecar sees only its directory"
    );
}

fn colliding_names_get_their_own_files(t: &TestStack) {
    let names = ["a b", "a_b", "a.b"];
    let mut admin = t.stack.connect("postgres").unwrap();
    for name in names {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                core_data_ops::sql::quote_ident(name)
            ))
            .unwrap();
        t.stack
            .connect(name)
            .unwrap()
            .execute("CREATE TABLE who AS SELECT $1::text AS name", &[&name])
            .unwrap();
    }
    let created = epoch_now();
    // `dump` in the same second: three files, none overwritten.
    let paths: Vec<Utf8PathBuf> = names
        .iter()
        .map(|name| logical::dump(&t.stack, name, None, &Quiet).unwrap().path)
        .collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{paths:?}");
    for path in &paths {
        assert!(
            path.exists() && dump_file::manifest_path(path).exists(),
            "{path}"
        );
    }

    // The sidecar: one file per database, each with its manifest, each restoring its own database.
    let run = wait_for(
        t,
        "a sidecar run with the new databases",
        Duration::from_secs(90),
        || {
            status(t)
                .and_then(|s| s.last_run)
                .filter(|r| r.ok && r.started_epoch > created)
        },
    );
    let dir = logical::sidecar_dir(&t.stack).join(&run.directory);
    // Copied out at once: the 20s retention prunes the run while we restore from it.
    let kept = t.paths().backups_dir().join("sidecar-copy");
    std::fs::create_dir(&kept).unwrap();
    for entry in dir.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let copy = kept.join(entry.file_name());
        std::fs::copy(entry.path(), &copy).unwrap();
        core_data_ops::fsutil::hand_over(&copy, t.stack.config.uid(), t.stack.config.gid())
            .unwrap();
    }
    core_data_ops::fsutil::hand_over(&kept, t.stack.config.uid(), t.stack.config.gid()).unwrap();
    let dir = kept;
    let mut files = Vec::new();
    for name in names {
        let entry = run
            .databases
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("`{name}` missing from {:?}", run.databases));
        let file = entry.file.clone().expect("dumped");
        assert_eq!(
            file,
            format!("{}.dump", logical::file_stem(name)),
            "same names as the CLI"
        );
        files.push(file.clone());
        let path = dir.join(&file);
        assert!(dump_file::manifest_path(&path).exists(), "{path}");
        let target = format!("check_{}", files.len());
        logical::restore_dump(&t.stack, &path, &target, &opts(false, None, false), &Quiet)
            .unwrap_or_else(|err| panic!("restoring the sidecar's `{path}`: {err:#}"));
        assert_eq!(t.query_one_string(&target, "SELECT name FROM who"), name);
    }
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 3, "{files:?}");
}

fn meta_commands_never_run(t: &TestStack, original: &str) {
    let oid = database_oid(t, "app");
    let sql = logical::dump_sql(&t.stack, "app", None, &Quiet).unwrap();
    let text = std::fs::read_to_string(&sql.path).unwrap();
    let own_key = text
        .lines()
        .find_map(|line| line.strip_prefix("\\restrict "))
        .expect("pg_dump 17.6+ brackets plain dumps with \\restrict")
        .to_owned();
    let first_set = text.find("\nSET ").expect("a SET statement") + 1;
    let pwned = "/tmp/core_data_pwned";
    let evil = |payload: &str| {
        let mut evil = text.clone();
        evil.insert_str(first_set, payload);
        evil
    };
    let shell = format!("\\! touch {pwned}\n");
    let backups = t.paths().backups_dir();

    let plain = backups.join("evil.sql");
    std::fs::write(&plain, evil(&shell)).unwrap();
    assert_refused(
        t,
        &plain,
        &opts(true, None, false),
        "was not written by core_data",
        original,
        oid,
    );
    dump_file::write_manifest(&plain, &dump_file::manifest_path(&plain), "evil.sql").unwrap();
    assert_refused(
        t,
        &plain,
        &opts(true, None, false),
        "a psql meta-command",
        original,
        oid,
    );
    // `--trust` skips the early check; psql still refuses, restricted by a key the file cannot know.
    assert_refused(
        t,
        &plain,
        &opts(true, None, true),
        "restricted",
        original,
        oid,
    );
    let sneaky = backups.join("evil-unrestrict.sql");
    std::fs::write(&sneaky, evil(&format!("\\unrestrict {own_key}\n{shell}"))).unwrap();
    assert_refused(
        t,
        &sneaky,
        &opts(true, None, true),
        "unrestrict",
        original,
        oid,
    );

    let ran = t
        .stack
        .docker
        .exec(&t.stack.container(), &["test", "-e", pwned], None)
        .unwrap();
    assert_ne!(
        ran.exit_code, 0,
        "`\\!` ran a shell command in the postgres container"
    );
}

fn writes_never_follow_symlinks(t: &TestStack) {
    let state = t.paths().state();
    let victim = state.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = state.join("out.dump");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let err = logical::dump(&t.stack, "app", Some(&link), &Quiet).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    let output = state.join("planted.dump");
    std::os::unix::fs::symlink(&victim, state.join("planted.dump.partial")).unwrap();
    let err = logical::dump(&t.stack, "app", Some(&output), &Quiet).unwrap_err();
    assert!(format!("{err:#}").contains("must not exist yet"), "{err:#}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!output.exists());

    // A symlinked backups/ is refused, not written through.
    let backups = t.paths().backups_dir();
    let real = state.join("backups-real");
    std::fs::rename(&backups, &real).unwrap();
    std::os::unix::fs::symlink(&real, &backups).unwrap();
    let result = logical::dump(&t.stack, "app", None, &Quiet);
    std::fs::remove_file(&backups).unwrap();
    std::fs::rename(&real, &backups).unwrap();
    let err = result.unwrap_err();
    assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
}
