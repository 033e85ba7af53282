//! The split grants on the fake backend: each kind of change needs its own
//! grant (holding every other grant does not help), `docker::exec` runs only
//! allowlisted programs (no shells, no `-c`, nothing naming `/run/secrets`,
//! even in a dry run), and captured exec and log output is capped with the cut
//! marked. The fake records every change it is asked for, so "refused" also
//! means "nothing reached the backend".

mod support;

use core_data_runbook::engine::{Grant, Grants, Limits};

/// Every grant except `missing`.
fn all_but(missing: Grant) -> Grants {
    let mut grants = Grants::ALL_WRITES;
    match missing {
        Grant::SqlWrites => grants.sql_writes = false,
        Grant::Exec => grants.exec = false,
        Grant::Backups => grants.backups = false,
        Grant::Files => grants.files = false,
    }
    grants
}

fn run(
    body: &str,
    grants: Grants,
    limits: &Limits,
) -> (support::Ran, std::sync::Arc<support::Fake>) {
    let fake = support::Fake::new();
    let text = format!("fn main() {{\n{body}\n}}\n");
    let ran = support::run("grants.rhai", &text, grants, limits, &fake, &[]);
    (ran, fake)
}

fn refused(body: &str, grants: Grants, needles: &[&str]) {
    let (ran, fake) = run(body, grants, &Limits::default());
    let Err(rendered) = ran.result else {
        panic!("`{body}` must be refused; it exited {:?}", ran.result)
    };
    for needle in needles {
        assert!(
            rendered.contains(needle),
            "`{body}`: expected `{needle}` in:\n{rendered}"
        );
    }
    assert!(
        rendered.contains("grants.rhai:2:"),
        "the error must point at the call:\n{rendered}"
    );
    assert!(
        fake.changes().is_empty(),
        "`{body}` reached the backend: {:?}",
        fake.changes()
    );
    assert!(
        ran.stderr.is_empty(),
        "nothing may be printed: {}",
        ran.stderr
    );
}

#[test]
fn sql_writes_need_their_own_grant() {
    for call in [
        r#"pg::execute("app", "DELETE FROM sessions", [])"#,
        r#"pg::transaction("app", [["DELETE FROM sessions", []]])"#,
    ] {
        refused(
            call,
            all_but(Grant::SqlWrites),
            &["Function not found", "`--allow-sql-writes`"],
        );
    }
    let (ran, fake) = run(
        r#"let n = pg::execute("app", "DELETE FROM sessions", []); print(n);"#,
        Grants::only(Grant::SqlWrites),
        &Limits::default(),
    );
    assert_eq!(ran.result, Ok(0));
    assert_eq!(fake.changes(), vec!["execute app: DELETE FROM sessions []"]);
}

#[test]
fn a_write_refused_for_privilege_names_the_superuser_grant() {
    let body = r#"pg::execute("app", "ALTER SYSTEM SET work_mem = '1MB'", []);"#;
    let (ran, _) = run(body, Grants::only(Grant::SqlWrites), &Limits::default());
    let rendered = ran.result.unwrap_err();
    assert!(
        rendered.contains("permission denied to set parameter")
            && rendered.contains("SQL writes run as `core_data_runbook`")
            && rendered.contains("`--sql-as-superuser`")
            && rendered.contains("sqlstate: 42501"),
        "{rendered}"
    );
    let superuser = Grants {
        sql_as_superuser: true,
        ..Grants::only(Grant::SqlWrites)
    };
    let (ran, _) = run(body, superuser, &Limits::default());
    let rendered = ran.result.unwrap_err();
    assert!(!rendered.contains("core_data_runbook"), "{rendered}");
}

#[test]
fn exec_needs_its_own_grant() {
    refused(
        r#"docker::exec("postgres", ["pg_isready", "-q"])"#,
        all_but(Grant::Exec),
        &["Function not found: docker::exec", "`--allow-exec`"],
    );
}

#[test]
fn backups_and_files_need_their_own_grants() {
    refused(
        r#"backup::run(#{ type: "full" })"#,
        all_but(Grant::Backups),
        &["Function not found: backup::run", "`--allow-backups`"],
    );
    refused(
        r#"qa::provision("app", "qa_x", #{})"#,
        all_but(Grant::Backups),
        &["Function not found: qa::provision", "`--allow-backups`"],
    );
    refused(
        r#"fs::write_text("reports", "x.txt", "x")"#,
        all_but(Grant::Files),
        &["Function not found: fs::write_text", "`--allow-files`"],
    );
}

#[test]
fn exec_refuses_shells_and_command_strings() {
    let exec = Grants::only(Grant::Exec);
    refused(
        r#"docker::exec("postgres", ["bash", `-c`, "cat /run/secrets/postgres_superuser_password"])"#,
        exec,
        &["docker::exec: argument", "secrets directory"],
    );
    refused(
        r#"docker::exec("postgres", ["bash", `-c`, "id"])"#,
        exec,
        &["docker::exec: `-c` passes a command string"],
    );
    for shell in ["sh", "/bin/bash", "env", "su", "psql"] {
        refused(
            &format!(r#"docker::exec("postgres", ["{shell}"])"#),
            exec,
            &[
                "is a shell or runs other programs",
                "pg_isready, pgbackrest",
            ],
        );
    }
}

#[test]
fn exec_refuses_programs_and_options_not_on_the_list() {
    let exec = Grants::only(Grant::Exec);
    refused(
        r#"docker::exec("postgres", ["cat", "/etc/passwd"])"#,
        exec,
        &["`cat` is not on the exec allowlist of service `postgres`"],
    );
    refused(
        r#"docker::exec("postgres", ["rm", "-rf", "/var/lib/postgresql/data"])"#,
        exec,
        &["`rm` is not on the exec allowlist"],
    );
    refused(
        r#"docker::exec("postgres", ["pgbackrest", "--stanza=main", "stanza-delete"])"#,
        exec,
        &["`pgbackrest` runs only as `pgbackrest info|check`"],
    );
    refused(
        r#"docker::exec("postgres", ["du", "--files0-from=/etc/shadow"])"#,
        exec,
        &["option `--files0-from` is not allowed for `du`"],
    );
}

#[test]
fn exec_refuses_any_argument_naming_the_secrets_directory() {
    let exec = Grants::only(Grant::Exec);
    for path in [
        "/run/secrets",
        "/run/secrets/core_data_runbook_password",
        "/proc/1/root/run/secrets",
    ] {
        refused(
            &format!(r#"docker::exec("postgres", ["du", "-a", "{path}"])"#),
            exec,
            &["names the secrets directory; runbooks cannot read `/run/secrets`"],
        );
    }
    // The read-only primitive that runs `df` goes through the same check.
    refused(
        r#"docker::disk_usage("postgres", "/run/secrets")"#,
        Grants::default(),
        &["docker::disk_usage: argument `/run/secrets` names the secrets directory"],
    );
}

#[test]
fn a_dry_run_still_refuses_what_the_allowlist_refuses() {
    let dry = Grants {
        dry_run: true,
        ..Grants::default()
    };
    refused(
        r#"docker::exec("postgres", ["bash", `-c`, "id"])"#,
        dry,
        &["command string"],
    );
}

#[test]
fn an_allowed_program_runs() {
    let (ran, fake) = run(
        r#"let r = docker::exec("postgres", ["pg_isready", "-q"]); print(`${r.exit_code} ${r.truncated}`);"#,
        Grants::only(Grant::Exec),
        &Limits::default(),
    );
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "grants.rhai:2: 0 false\n");
    assert_eq!(
        fake.changes(),
        vec![r#"exec fake-postgres: ["pg_isready", "-q"]"#]
    );
}

#[test]
fn exec_output_is_capped_and_the_cut_marked() {
    let limits = Limits {
        max_output_bytes: 1000,
        ..Limits::default()
    };
    // The fake's `du` prints 3 MiB to stdout and one short line to stderr.
    let body = r#"let r = docker::exec("postgres", ["du", "-a", "/var/lib/postgresql/data"]);
print(r.stdout.len());
print(r.truncated);
print(r.stdout.split("\n")[-2]);
print(r.stderr);"#;
    let (ran, _) = run(body, Grants::only(Grant::Exec), &limits);
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    let full = 34 * (3 << 20 >> 5);
    let mark = format!(
        "[core_data: output truncated: {} more byte(s) dropped; the cap is 1000 bytes]",
        full - 1000
    );
    // 1000 bytes kept, a newline, then the mark and its newline.
    assert_eq!(
        lines[0],
        format!("grants.rhai:3: {}", 1000 + 1 + mark.len() + 1)
    );
    assert_eq!(lines[1], "grants.rhai:4: true");
    assert_eq!(lines[2], format!("grants.rhai:5: {mark}"));
    assert_eq!(
        lines[3], "grants.rhai:6: du: cannot read directory",
        "stderr is under the cap"
    );
}

#[test]
fn log_output_is_capped_to_the_newest_lines() {
    let limits = Limits {
        max_output_bytes: 4096,
        ..Limits::default()
    };
    // The fake's lines are 1 KiB each (1025 bytes with the newline): three fit in 4096.
    let body = r#"let log = docker::logs("postgres", 100);
print(log.len());
print(log[0]);
print(log[-1].sub_string(0, 14));"#;
    let (ran, _) = run(body, Grants::default(), &limits);
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], "grants.rhai:3: 4");
    assert_eq!(
        lines[1],
        format!(
            "grants.rhai:4: [core_data: output truncated: {} more byte(s) dropped; the cap is 4096 bytes]",
            97 * 1025
        )
    );
    assert_eq!(lines[2], "grants.rhai:5: log line 0099 ");
}
