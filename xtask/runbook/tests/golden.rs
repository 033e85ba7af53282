//! Golden tests of runbook output and diagnostics: `tests/data/<case>.rhai`
//! runs as runbook `main` against the fake backend; its stdout and stderr
//! (with the rendered error or the exit code) must equal the insta snapshots
//! `tests/data/<case>.stdout.snap` and `<case>.stderr.snap`. A missing or
//! different snapshot fails (`.config/insta.yaml`); `INSTA_UPDATE=always cargo
//! test -p core_data_runbook --test golden` rewrites them. A first line `// grants: …`
//! lists the run's grants: `sql_writes`, `sql_as_superuser`, `exec`, `backups`,
//! `files`, `dry_run`.

mod support;

use core_data_runbook::engine::{Grants, Limits};

fn check(case: &str) {
    let dir = camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let script = dir.join(format!("{case}.rhai"));
    let text =
        std::fs::read_to_string(&script).unwrap_or_else(|err| panic!("read `{script}`: {err}"));
    let first = text.lines().next().unwrap_or_default();
    let granted: Vec<&str> = first
        .strip_prefix("// grants:")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let grants = Grants {
        sql_writes: granted.contains(&"sql_writes"),
        sql_as_superuser: granted.contains(&"sql_as_superuser"),
        exec: granted.contains(&"exec"),
        backups: granted.contains(&"backups"),
        files: granted.contains(&"files"),
        dry_run: granted.contains(&"dry_run"),
    };
    let fake = support::Fake::new();
    let ran = support::run(
        &format!("{case}.rhai"),
        &text,
        grants,
        &Limits::default(),
        &fake,
        &[],
    );
    let stdout = ran.stdout;
    let stderr = match ran.result {
        Ok(code) => format!("{}exit: {code}\n", ran.stderr),
        Err(rendered) => format!("{}{rendered}", ran.stderr),
    };
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir.as_std_path());
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(format!("{case}.stdout"), stdout);
        insta::assert_snapshot!(format!("{case}.stderr"), stderr);
    });
}

#[test]
fn parse_error() {
    check("parse_error");
}

#[test]
fn undefined_variable() {
    check("undefined_variable");
}

#[test]
fn failing_primitive() {
    check("failing_primitive");
}

#[test]
fn three_calls_deep() {
    check("three_calls_deep");
}

#[test]
fn caught_failure_map() {
    check("caught_failure_map");
}

#[test]
fn write_without_grant() {
    check("write_without_grant");
}

#[test]
fn exec_without_its_grant() {
    check("exec_without_grant");
}

#[test]
fn exec_refuses_what_is_not_on_the_allowlist() {
    check("exec_refused");
}

#[test]
fn dry_run_prints_instead_of_writing() {
    check("dry_run");
}

#[test]
fn print_and_log_carry_the_line() {
    check("output");
}

#[test]
fn backup_and_qa_primitives() {
    check("backup_qa");
}
