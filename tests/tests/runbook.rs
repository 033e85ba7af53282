//! Runbooks against a real stack: `nightly_checks` passes on a healthy stack
//! and fails (exit 1) when a transaction held open from another connection
//! crosses `max_transaction_seconds=0`; a SQL error is reported at the
//! script's line; a SQL injection attempt through a parameter stays a value;
//! `pg::query` cannot write; the primitive-overhead benchmark's calls all reach
//! the server as the reader. The split
//! write grants on a real stack are in `runbook_grants.rs`.

use core_data_runbook::catalog::{self, Catalog};
use core_data_runbook::engine::{Grant, Grants, Limits};
use core_data_tests::{compile_script, docker_available, run_runbook, Ran, TestStack};

fn run(t: &TestStack, catalog: &Catalog, name: &str, args: &[(&str, &str)], grants: Grants) -> Ran {
    run_runbook(&t.stack, catalog, name, args, grants)
}

fn shipped() -> Catalog {
    let repo = core_data_ops::paths::repo_root();
    catalog::load(&repo, &[], &Limits::default())
        .unwrap()
        .unwrap_or_else(|rendered| panic!("{rendered}"))
}

#[test]
fn runbooks_on_a_real_stack() {
    if !docker_available("runbooks_on_a_real_stack") {
        return;
    }
    let t = TestStack::new("runbook", 203);
    t.up();
    wait_until_no_container_is_starting(&t);

    nightly_checks_pass_then_trip_on_a_long_transaction(&t);
    sql_errors_point_at_the_script_line(&t);
    sql_injection_through_a_parameter_is_a_value(&t);
    query_cannot_write_and_execute_needs_the_grant(&t);
    query_runs_as_a_reader_not_a_superuser(&t);
    column_types_reach_scripts_as_text_and_floats(&t);

    bench_calls_reach_the_server_as_the_reader(&t);
}

/// NUMERIC (rust_decimal), TIMESTAMPTZ/TIMESTAMP/DATE (postgres-types with
/// jiff) as scripts see them: FLOATs, ISO 8601 text to the millisecond
/// (truncated, also before 1970), `infinity` for the infinities.
fn column_types_reach_scripts_as_text_and_floats(t: &TestStack) {
    let text = r#"
fn types() {
    let row = pg::query("app", "SELECT 12.34::numeric AS n, -0.5::numeric AS neg, 'NaN'::numeric AS nan, " +
        "'-Infinity'::numeric AS ninf, '2024-05-01 12:00:00.1239+00'::timestamptz AS tz, " +
        "'1969-12-31 23:59:59.9999+00'::timestamptz AS before_1970, " +
        "'2024-05-01 12:00:00.5'::timestamp AS ts, '2000-02-29'::date AS d, " +
        "'infinity'::timestamptz AS inf, '-infinity'::date AS dinf", [])[0];
    for column in ["n", "neg", "nan", "ninf", "tz", "before_1970", "ts", "d", "inf", "dinf"] {
        print(`${column}=${row[column]} (${type_of(row[column])})`);
    }
}
"#;
    let catalog = compile_script("types.rhai", text);
    let ran = run(t, &catalog, "types", &[], Grants::default());
    assert_eq!(ran.result, Ok(0), "{ran}");
    let expected: String = [
        "n=12.34 (f64)",
        "neg=-0.5 (f64)",
        "nan=NaN (f64)",
        "ninf=-inf (f64)",
        "tz=2024-05-01T12:00:00.123Z (string)",
        "before_1970=1969-12-31T23:59:59.999Z (string)",
        "ts=2024-05-01T12:00:00.500 (string)",
        "d=2000-02-29 (string)",
        "inf=infinity (string)",
        "dinf=-infinity (string)",
    ]
    .iter()
    .map(|line| format!("types.rhai:9: {line}\n"))
    .collect();
    pretty_assertions::assert_eq!(ran.stdout, expected);
}

/// The primitive-overhead bench runs its Rhai path and its Rust path through
/// the same backend: each call (warm-up included) reaches the server once, as
/// `core_data_reader`. How fast is for `cargo xtask bench runbook`, not a test.
fn bench_calls_reach_the_server_as_the_reader(t: &TestStack) {
    let calls = 200;
    let warm_up = 50;
    let before = reader_select_calls(t);
    let figures =
        core_data_runbook::bench::bench_primitive_overhead(&t.stack, calls).expect("bench");
    eprintln!("{figures}");
    assert_eq!(
        reader_select_calls(t) - before,
        i64::try_from(2 * (calls + warm_up)).unwrap(),
        "every Rhai and Rust call of the bench runs `SELECT 1` as the reader:\n{figures}"
    );
    assert_eq!(figures.calls, calls);
    for (median, p95) in [figures.rhai, figures.rust, figures.bare] {
        assert!(
            median <= p95,
            "a median above its 95th percentile:\n{figures}"
        );
    }
}

/// `SELECT 1` statements `core_data_reader` has run, from pg_stat_statements.
fn reader_select_calls(t: &TestStack) -> i64 {
    let mut client = t.stack.connect("postgres").unwrap();
    client
        .query_one(
            "SELECT coalesce(sum(s.calls), 0)::int8 FROM pg_stat_statements s \
             JOIN pg_roles r ON r.oid = s.userid \
             WHERE r.rolname = $1 AND s.query = 'SELECT $1'",
            &[&core_data_ops::secrets::READER_ROLE],
        )
        .unwrap()
        .get(0)
}

/// `up` waits for postgres only; sidecars may still be in their health check's start period.
fn wait_until_no_container_is_starting(t: &TestStack) {
    let started = std::time::Instant::now();
    loop {
        let containers = t
            .stack
            .docker
            .project_containers(t.stack.config.project())
            .unwrap();
        let starting: Vec<String> = containers
            .iter()
            .filter_map(|c| {
                c.names
                    .as_ref()?
                    .first()
                    .map(|n| n.trim_start_matches('/').to_owned())
            })
            .filter(|name| t.stack.docker.health(name).unwrap().as_deref() == Some("starting"))
            .collect();
        if starting.is_empty() {
            return;
        }
        assert!(
            started.elapsed().as_secs() < 180,
            "still starting after 180s: {starting:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

fn nightly_checks_pass_then_trip_on_a_long_transaction(t: &TestStack) {
    let catalog = shipped();
    let ran = run(t, &catalog, "nightly_checks", &[], Grants::default());
    assert_eq!(
        ran.result,
        Ok(0),
        "nightly_checks must pass on a fresh stack:\n{ran}"
    );
    for check in [
        "containers",
        "disk /var/lib/postgresql/data",
        "replication lag",
        "long transactions",
        "connections",
    ] {
        assert!(
            ran.stdout.contains(&format!("ok    {check}")),
            "missing `{check}`:\n{ran}"
        );
    }

    // Hold a transaction open from a second connection.
    let mut holder = t.stack.connect("app").unwrap();
    let mut tx = holder.transaction().unwrap();
    tx.query("SELECT txid_current()", &[]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let ran = run(
        t,
        &catalog,
        "nightly_checks",
        &[("max_transaction_seconds", "0")],
        Grants::default(),
    );
    assert_eq!(
        ran.result,
        Ok(1),
        "a transaction open past the threshold must fail the checks:\n{ran}"
    );
    // The sidecar's pg_dump may be open too on a slow host: look for ours by its user.
    assert!(
        ran.stdout.contains("FAIL  long transactions: ") && ran.stdout.contains("(postgres@app, "),
        "{ran}"
    );
    assert!(
        ran.stderr.contains("1 check(s) crossed a threshold"),
        "{ran}"
    );
    tx.rollback().unwrap();

    // A report needs the write grant, and lands under backups/reports/.
    let ran = run(
        t,
        &catalog,
        "nightly_checks",
        &[("report", "true")],
        Grants::default(),
    );
    let err = ran.result.clone().unwrap_err();
    assert!(
        err.contains("Function not found: fs::write_json") && err.contains("`--allow-files`"),
        "{ran}"
    );
    let files = Grants::only(Grant::Files);
    let ran = run(t, &catalog, "nightly_checks", &[("report", "true")], files);
    assert_eq!(ran.result, Ok(0), "{ran}");
    let reports: Vec<_> = std::fs::read_dir(t.paths().backups_dir().join("reports"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(reports.len(), 1, "one report expected");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports[0].path()).unwrap()).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
}

fn sql_errors_point_at_the_script_line(t: &TestStack) {
    let text =
        "/// Fails in SQL on line 4.\nfn broken() {\n    log::info(\"about to fail\");\n    \
                let rows = pg::query(\"postgres\", \"SELEC 1\", []);\n    rows.len()\n}\n";
    let catalog = compile_script("broken.rhai", text);
    let ran = run(t, &catalog, "broken", &[], Grants::default());
    let rendered = ran.result.unwrap_err();
    let expected = "error: pg::query: syntax error at or near \"SELEC\"\n --> broken.rhai:4:20\n  |\n\
                    4 |     let rows = pg::query(\"postgres\", \"SELEC 1\", []);\n  |                    ^\n  \
                    = kind: sql, sqlstate: 42601\n";
    pretty_assertions::assert_eq!(rendered, expected);
}

fn sql_injection_through_a_parameter_is_a_value(t: &TestStack) {
    let mut admin = t.stack.connect("app").unwrap();
    admin
        .batch_execute("CREATE TABLE victims (id int); INSERT INTO victims VALUES (1), (2)")
        .unwrap();
    let text = r#"
/// Looks a name up with a hostile value.
fn lookup() {
    let hostile = "x'; DROP TABLE victims; --";
    let rows = pg::query("app", "SELECT $1::text AS echoed, count(*) AS n FROM victims WHERE 'a' <> $1", [hostile]);
    print(rows[0].echoed);
    print(rows[0].n);
    let names = pg::query("app", "SELECT relname::text AS t FROM pg_class WHERE relname = $1", ["victims' OR '1'='1"]);
    print(names.len());
}
"#;
    let catalog = compile_script("inject.rhai", text);
    let ran = run(t, &catalog, "lookup", &[], Grants::default());
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(
        ran.stdout
            .contains("inject.rhai:6: x'; DROP TABLE victims; --\n"),
        "{ran}"
    );
    assert!(ran.stdout.contains("inject.rhai:7: 2\n"), "{ran}");
    assert!(
        ran.stdout.contains("inject.rhai:9: 0\n"),
        "a quote in a parameter must not widen the match:\n{ran}"
    );
    let count: i64 = admin
        .query_one("SELECT count(*) FROM victims", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "the table and its rows must be intact");
}

fn query_cannot_write_and_execute_needs_the_grant(t: &TestStack) {
    let text = r#"
/// Tries to write through the read-only primitive.
fn sneaky() {
    pg::query("app", "DROP TABLE victims", []);
}

/// Writes with the grant.
fn honest() {
    let n = pg::execute("app", "INSERT INTO victims VALUES ($1)", [3]);
    let counts = pg::transaction("app", [
        ["INSERT INTO victims VALUES ($1)", [4]],
        #{ sql: "DELETE FROM victims WHERE id = $1", params: [1] },
    ]);
    print(`${n} ${counts}`);
}
"#;
    let catalog = compile_script("writes.rhai", text);
    let ran = run(t, &catalog, "sneaky", &[], Grants::default());
    let rendered = ran.result.unwrap_err();
    assert!(
        rendered.contains("cannot execute DROP TABLE in a read-only transaction"),
        "{rendered}"
    );
    assert!(rendered.contains("sqlstate: 25006"), "{rendered}");

    let ran = run(t, &catalog, "honest", &[], Grants::default());
    assert!(ran
        .result
        .unwrap_err()
        .contains("Function not found: pg::execute"));
    let ran = run(
        t,
        &catalog,
        "honest",
        &[],
        Grants {
            dry_run: true,
            ..Grants::default()
        },
    );
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(
        ran.stderr
            .contains("dry-run: pg::execute(\"app\", \"INSERT INTO victims VALUES ($1)\", [3])"),
        "{ran}"
    );
    let mut admin = t.stack.connect("app").unwrap();
    let ids = |admin: &mut postgres::Client| -> Vec<i32> {
        admin
            .query("SELECT id FROM victims ORDER BY id", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert_eq!(ids(&mut admin), vec![1, 2], "a dry run changes nothing");
    let ran = run(t, &catalog, "honest", &[], Grants::only(Grant::SqlWrites));
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(ran.stdout.contains("1 [1, 1]"), "{ran}");
    assert_eq!(ids(&mut admin), vec![2, 3, 4]);
}

/// A READ ONLY transaction does not stop a superuser's `COPY … TO PROGRAM` or
/// `dblink_exec`; `pg::query` therefore connects as `core_data_reader`.
fn query_runs_as_a_reader_not_a_superuser(t: &TestStack) {
    let text = r#"
/// Runs a shell command through COPY.
fn program() {
    pg::query("app", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/core_data_escaped'", []);
}

/// Writes through a loopback dblink.
fn remote() {
    pg::query("app", "SELECT dblink_exec('host=/tmp dbname=postgres', 'CREATE TABLE escaped (x int)')", []);
}

/// Who runs the queries.
fn whoami() {
    let rows = pg::query("app", "SELECT current_user::text AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user", []);
    print(`${rows[0].name} ${rows[0].superuser}`);
}

/// A session-wide statement_timeout change must not outlive its statement.
fn untimeout() {
    pg::query("app", "SELECT set_config('statement_timeout', '0', false)", []);
    let rows = pg::query("app", "SELECT current_setting('statement_timeout') AS timeout", []);
    print(`timeout ${rows[0].timeout}`);
}
"#;
    let catalog = compile_script("escapes.rhai", text);
    let rendered = run(t, &catalog, "program", &[], Grants::default())
        .result
        .unwrap_err();
    assert!(
        rendered.contains("sqlstate: 42501"),
        "COPY TO PROGRAM must be refused: {rendered}"
    );
    let rendered = run(t, &catalog, "remote", &[], Grants::default())
        .result
        .unwrap_err();
    assert!(
        rendered.contains("dblink"),
        "dblink_exec must be refused: {rendered}"
    );
    let ran = run(t, &catalog, "whoami", &[], Grants::default());
    assert!(ran.stdout.contains("core_data_reader false"), "{ran}");
    let ran = run(t, &catalog, "untimeout", &[], Grants::default());
    assert!(
        ran.result.is_ok() && !ran.stdout.contains("timeout 0"),
        "{ran}"
    );

    let touched = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &["test", "-e", "/tmp/core_data_escaped"],
            None,
        )
        .unwrap();
    assert_ne!(touched.exit_code, 0, "the COPY command must not have run");
    let escaped: i64 = t
        .stack
        .connect("postgres")
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'escaped'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(escaped, 0, "dblink_exec must not have created a table");
}
