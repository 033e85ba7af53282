//! Runbooks against a real stack: `nightly_checks` passes on a healthy stack
//! and fails (exit 1) when a transaction held open from another connection
//! crosses `max_transaction_seconds=0`; a SQL error is reported at the
//! script's line; a SQL injection attempt through a parameter stays a value;
//! `pg::query` cannot write; SQL writes run as `core_data_runbook` (not a
//! superuser: `ALTER SYSTEM`, `CREATE ROLE … SUPERUSER` and DDL fail) unless
//! `--sql-as-superuser`; `docker::exec` runs an allowlisted program and refuses
//! others, with its output capped while read; the primitive-overhead benchmark runs.

use core_data_runbook::catalog::{self, Catalog, SourceFile};
use core_data_runbook::engine::{Captured, Grant, Grants, Limits};
use core_data_tests::{docker_available, run_runbook, Ran, TestStack};

fn run(t: &TestStack, catalog: &Catalog, name: &str, args: &[(&str, &str)], grants: Grants) -> Ran {
    run_runbook(&t.stack, catalog, name, args, grants)
}

fn shipped() -> Catalog {
    let repo = core_data_ops::paths::repo_root();
    catalog::load(&repo, &[], &Limits::default())
        .unwrap()
        .unwrap_or_else(|rendered| panic!("{rendered}"))
}

fn script(name: &str, text: &str) -> Catalog {
    let file = SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    Catalog::compile(vec![file], &Limits::default()).unwrap_or_else(|diag| panic!("{diag}"))
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
    sql_writes_run_as_the_runbook_role(&t);
    exec_runs_only_allowlisted_programs(&t);
    exec_output_is_capped_while_read(&t);

    let figures = core_data_runbook::bench::bench_primitive_overhead(&t.stack, 200).expect("bench");
    eprintln!("{figures}");
    assert!(
        figures.ratio() > 0.5 && figures.ratio() < 20.0,
        "implausible ratio: {figures}"
    );
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
    assert!(
        ran.stdout
            .contains("FAIL  long transactions: 1 open longer than 0s"),
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
    let catalog = script("broken.rhai", text);
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
    let catalog = script("inject.rhai", text);
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
    let catalog = script("writes.rhai", text);
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
    let catalog = script("escapes.rhai", text);
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

/// `pg::execute` connects as `core_data_runbook`: it writes rows, but superuser
/// actions, role changes and DDL are refused; `--sql-as-superuser` is the explicit way up.
fn sql_writes_run_as_the_runbook_role(t: &TestStack) {
    let mut admin = t.stack.connect("app").unwrap();
    admin
        .batch_execute("CREATE TABLE whoami (name text, superuser bool)")
        .unwrap();
    let text = r#"
/// Records who runs the writes.
fn whoami() {
    pg::execute("app", "INSERT INTO whoami SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user", []);
}

/// Tries `sql` and prints the SQLSTATE it fails with.
fn attempt(args) {
    try {
        pg::execute("app", args.sql, []);
        print("succeeded");
    } catch (e) {
        print(`failed ${e.sqlstate}`);
    }
}
"#;
    let catalog = script("writer.rhai", text);
    let writes = Grants::only(Grant::SqlWrites);
    let ran = run(t, &catalog, "whoami", &[], writes);
    assert_eq!(ran.result, Ok(0), "{ran}");
    for (sql, what) in [
        ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"),
        (
            "CREATE ROLE escalated SUPERUSER LOGIN",
            "CREATE ROLE … SUPERUSER",
        ),
        ("CREATE TABLE planted (x int)", "DDL in `public`"),
        (
            "COPY (SELECT 1) TO PROGRAM 'touch /tmp/core_data_escaped'",
            "COPY TO PROGRAM",
        ),
    ] {
        let ran = run(t, &catalog, "attempt", &[("sql", sql)], writes);
        assert!(
            ran.stdout.contains("failed 42501"),
            "{what} must be refused with insufficient_privilege:\n{ran}"
        );
    }
    let superuser = Grants {
        sql_as_superuser: true,
        ..writes
    };
    let ran = run(t, &catalog, "whoami", &[], superuser);
    assert_eq!(ran.result, Ok(0), "{ran}");

    let rows: Vec<(String, bool)> = admin
        .query("SELECT name, superuser FROM whoami ORDER BY superuser", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("core_data_runbook".to_owned(), false),
            ("postgres".to_owned(), true)
        ]
    );
    let leftovers: i64 = admin
        .query_one(
            "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = 'escalated') \
                  + (SELECT count(*) FROM pg_tables WHERE tablename = 'planted')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(leftovers, 0, "no role or table may have been created");
    let row = admin
        .query_one(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, \
                    pg_has_role(rolname, 'pg_write_all_data', 'MEMBER') \
             FROM pg_roles WHERE rolname = 'core_data_runbook'",
            &[],
        )
        .unwrap();
    let flags: Vec<bool> = (0..6).map(|i| row.get(i)).collect();
    assert_eq!(
        flags,
        vec![false, false, false, false, false, true],
        "super, createrole, createdb, replication, bypassrls, write_all"
    );
}

fn exec_runs_only_allowlisted_programs(t: &TestStack) {
    let text = r#"
/// An allowed program, then refused ones (caught), then one uncaught refusal.
fn probe() {
    let r = docker::exec("postgres", ["pg_isready", "-q"]);
    print(`pg_isready ${r.exit_code}`);
    let df = docker::exec("logical_backup", ["df", "-P", "/backups/logical"]);
    print(`df ${df.exit_code}`);
    for argv in [["bash", "-c", "touch /tmp/core_data_exec_escaped"],
                 ["touch", "/tmp/core_data_exec_escaped"],
                 ["du", "-a", "/run/secrets"]] {
        try {
            docker::exec("postgres", argv);
            print("ran");
        } catch (e) {
            print(`refused: ${e}`);
        }
    }
    docker::exec("postgres", ["cat", "/run/secrets/postgres_superuser_password"]);
}
"#;
    let catalog = script("exec.rhai", text);
    let ran = run(t, &catalog, "probe", &[], Grants::only(Grant::Exec));
    let rendered = ran.result.clone().unwrap_err();
    assert!(
        rendered.contains("names the secrets directory") && rendered.contains("exec.rhai:18:"),
        "{ran}"
    );
    assert!(ran.stdout.contains("pg_isready 0"), "{ran}");
    assert!(ran.stdout.contains("df 0"), "{ran}");
    assert!(!ran.stdout.lines().any(|l| l.ends_with(": ran")), "{ran}");
    for needle in [
        "refused: docker::exec: `-c` passes a command string",
        "refused: docker::exec: `touch` is not on the exec allowlist of service `postgres`",
        "refused: docker::exec: argument `/run/secrets` names the secrets directory",
    ] {
        assert!(ran.stdout.contains(needle), "missing `{needle}`:\n{ran}");
    }
    let escaped = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &["test", "-e", "/tmp/core_data_exec_escaped"],
            None,
        )
        .unwrap();
    assert_ne!(escaped.exit_code, 0, "no refused command may have run");

    // Without `--allow-exec` the function does not exist, whatever else is granted.
    let others = Grants {
        exec: false,
        ..Grants::ALL_WRITES
    };
    let rendered = run(t, &catalog, "probe", &[], others).result.unwrap_err();
    assert!(
        rendered.contains("Function not found: docker::exec")
            && rendered.contains("`--allow-exec`"),
        "{rendered}"
    );
}

/// `du -a /usr` prints megabytes; with a 4 KiB cap the script gets 4 KiB and the mark.
fn exec_output_is_capped_while_read(t: &TestStack) {
    let text = r#"
/// Lists every file under /usr.
fn chatty() {
    let r = docker::exec("postgres", ["du", "-a", "/usr"]);
    print(`${r.exit_code} ${r.truncated} ${r.stdout.len()}`);
    print(r.stdout.split("\n")[-2]);
    let log = docker::logs("postgres", 10000);
    print(`log ${log.len()} ${log[0]}`);
}
"#;
    let catalog = script("chatty.rhai", text);
    let limits = Limits {
        max_output_bytes: 4096,
        ..Limits::default()
    };
    let output = std::sync::Arc::new(Captured::default());
    let result = core_data_runbook::run_on_stack(
        &t.stack,
        &catalog,
        "chatty",
        &Default::default(),
        Grants::only(Grant::Exec),
        &limits,
        output.clone(),
    )
    .unwrap();
    let stdout = output.stdout.lock().unwrap().clone();
    assert_eq!(result, Ok(0), "{stdout}");
    let first = stdout.lines().next().unwrap();
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(&fields[1..3], ["0", "true"], "{stdout}");
    let len: usize = fields[3].parse().unwrap();
    assert!(
        len > 4000 && len < 4096 + 200,
        "4 KiB kept plus the mark, not {len}:\n{stdout}"
    );
    assert!(
        stdout.contains("[core_data: output truncated: ")
            && stdout.contains("the cap is 4096 bytes]"),
        "{stdout}"
    );
    // The server's log since start is longer than 4 KiB: the oldest lines are cut and marked.
    assert!(
        stdout.contains("log ") && stdout.contains("[core_data: output truncated:"),
        "{stdout}"
    );
}
