//! The split runbook grants on a real stack: SQL writes run as
//! `core_data_runbook` (`SELECT current_user` says so; `ALTER SYSTEM`,
//! `CREATE ROLE … SUPERUSER`, DDL and `COPY … TO PROGRAM` fail with 42501)
//! unless the run adds `--sql-as-superuser`; `docker::exec` runs allowlisted
//! programs in both services and refuses a shell, an unlisted program and
//! `/run/secrets` before anything runs; without `--allow-exec` it does not
//! exist; exec and log output are capped while read, with the cut marked.

use std::sync::Arc;

use core_data_runbook::catalog::Catalog;
use core_data_runbook::engine::{Captured, Grant, Grants, Limits};
use core_data_tests::{compile_script, docker_available, run_runbook, Ran, TestStack};

fn run(t: &TestStack, catalog: &Catalog, name: &str, args: &[(&str, &str)], grants: Grants) -> Ran {
    run_runbook(&t.stack, catalog, name, args, grants)
}

#[test]
fn runbook_grants_on_a_real_stack() {
    if !docker_available("runbook_grants_on_a_real_stack") {
        return;
    }
    let t = TestStack::new("rbgrants", 199);
    t.up();

    sql_writes_run_as_the_runbook_role(&t);
    exec_runs_only_allowlisted_programs(&t);
    exec_output_is_capped_while_read(&t);
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
    let n = pg::execute("app", "INSERT INTO whoami SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user", []);
    print(`${n} row`);
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
    let catalog = compile_script("writer.rhai", text);
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
    for argv in [["bash", `-c`, "touch /tmp/core_data_exec_escaped"],
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
    let catalog = compile_script("exec.rhai", text);
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
    let catalog = compile_script("chatty.rhai", text);
    let limits = Limits {
        max_output_bytes: 4096,
        ..Limits::default()
    };
    let output = Arc::new(Captured::default());
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
