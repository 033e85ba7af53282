//! Tidy checks of the runbooks we ship and of the sandbox boundary:
//! `scripts.rhai` compiles in the sandbox, every runbook has help, and no
//! code outside `engine.rs` constructs a Rhai `Engine`. Also the shipped
//! runbooks' logic against the fake backend: `restore_drill` records RTO/RPO
//! and fails on a bad verification; `provision_qa_masked` masks with quoted
//! identifiers in the clone only and drops the clone when masking fails.

mod support;

use std::sync::Arc;

use core_data_runbook::catalog::{shipped, Catalog, SourceFile};
use core_data_runbook::engine::{Grants, Limits};

/// Runs the shipped file (as `scripts.rhai`) on the fake backend with default limits.
fn run(
    text: &str,
    grants: Grants,
    fake: &Arc<support::Fake>,
    args: &[(&str, &str)],
) -> support::Ran {
    support::run("scripts.rhai", text, grants, &Limits::default(), fake, args)
}

#[test]
fn shipped_runbooks_compile_and_have_help() {
    let repo = core_data_ops::paths::repo_root();
    let file = SourceFile::read(&shipped(&repo), &repo).unwrap();
    assert_eq!(file.name, "scripts.rhai");
    let catalog =
        Catalog::compile(vec![file], &Limits::default()).unwrap_or_else(|diag| panic!("{diag}"));
    let names: Vec<&str> = catalog.runbooks().iter().map(|r| r.name.as_str()).collect();
    for expected in ["nightly_checks", "restore_drill", "provision_qa_masked"] {
        assert!(names.contains(&expected), "{names:?}");
    }
    for runbook in catalog.runbooks() {
        assert!(
            !runbook.doc.is_empty(),
            "runbook `{}` needs a `///` comment: it is its help text",
            runbook.name
        );
    }
}

#[test]
fn nightly_checks_refuse_bad_arguments_before_touching_anything() {
    let repo = core_data_ops::paths::repo_root();
    let text = std::fs::read_to_string(shipped(&repo)).unwrap();
    // Run it under the name `main` through the shared helper.
    let text = text.replace("fn nightly_checks(args)", "fn main(args)");
    let fake = support::Fake::new();
    let ran = run(&text, Grants::default(), &fake, &[("max_txn", "1")]);
    let err = ran.result.unwrap_err();
    assert!(err.contains("unknown argument `max_txn`"), "{err}");
    let ran = run(
        &text,
        Grants::default(),
        &fake,
        &[("max_disk_percent", "lots")],
    );
    let err = ran.result.unwrap_err();
    assert!(
        err.contains("`max_disk_percent` must be a whole number"),
        "{err}"
    );
}

#[test]
fn only_the_sandbox_constructor_builds_an_engine() {
    let repo = core_data_ops::paths::repo_root();
    let mut offenders = Vec::new();
    let mut stack = vec![repo.join("xtask"), repo.join("tests")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = camino::Utf8PathBuf::from_path_buf(entry.path()).unwrap();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension() == Some("rs") && !path.ends_with("runbook/src/engine.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let needle = ["Engine::", "new("].concat();
                let raw = ["Engine::", "new_raw("].concat();
                if text.contains(&needle) || text.contains(&raw) {
                    offenders.push(path);
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only xtask/runbook/src/engine.rs may construct a Rhai Engine: {offenders:?}"
    );
}

const WRITES: Grants = Grants::ALL_WRITES;

/// `scripts.rhai` with runbook `name` renamed `main`, for the shared helper.
fn shipped_as_main(name: &str) -> String {
    let repo = core_data_ops::paths::repo_root();
    let text = std::fs::read_to_string(shipped(&repo)).unwrap();
    let from = format!("fn {name}(args)");
    assert!(text.contains(&from), "no `{from}` in scripts.rhai");
    text.replace(&from, "fn main(args)")
}

fn drill_records(fake: &support::Fake) -> Vec<serde_json::Value> {
    let dir = fake.backups.path().join("drills");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter(|n| n.starts_with("drill-") && n.ends_with(".json"))
        .map(|n| serde_json::from_slice(&std::fs::read(dir.join(n)).unwrap()).unwrap())
        .collect()
}

#[test]
fn restore_drill_records_rto_and_rpo() {
    let text = shipped_as_main("restore_drill");
    let fake = support::Fake::new();
    let ran = run(&text, WRITES, &fake, &[("take", "full")]);
    assert_eq!(
        ran.result,
        Ok(0),
        "stdout:\n{}stderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    assert_eq!(fake.changes(), vec!["backup full".to_owned()]);
    let records = drill_records(&fake);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["status"], "passed", "{r:#}");
    assert_eq!(r["passed"], true);
    assert_eq!(
        r["set"], "20240501-130000F_20240501-140000I",
        "the drill verifies the set it took"
    );
    assert_eq!(r["rto_seconds"], 4.0, "restore 2.5 s + recovery 1.5 s");
    // The fake set stopped at 14:00 UTC, after the fake archiver's 13:30: the set is the newest point.
    assert_eq!(
        r["newest_recoverable_at"], "2024-05-01T14:00:00.000Z",
        "{r:#}"
    );
    assert!(r["rpo_seconds"].as_f64().unwrap() > 1e7, "{r:#}");
    assert_eq!(r["databases_checked"], 3);
    assert_eq!(r["tables_compared"], 4);
    let csv = std::fs::read_to_string(fake.backups.path().join("drills/drills.csv")).unwrap();
    assert!(
        csv.starts_with("drill,set,set_type,passed,rto_seconds,rpo_seconds,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(ran.stdout.contains("= RTO 4.0s"), "{}", ran.stdout);

    // Without `take`, the latest set; the archiver (13:30) is newer than its stop time (13:00).
    let ran = run(&text, WRITES, &fake, &[]);
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    let records = drill_records(&fake);
    assert_eq!(records.len(), 2, "each drill has its own record");
    let latest = records
        .iter()
        .find(|r| r["set"] == "20240501-120000F_20240501-130000I")
        .expect("second record");
    assert_eq!(
        latest["newest_recoverable_at"], "2024-05-01T13:30:00.000Z",
        "{latest:#}"
    );
}

#[test]
fn restore_drill_fails_when_verification_fails() {
    let text = shipped_as_main("restore_drill");
    let fake = support::Fake::new();
    let args = [("set", "20240501-120000F"), ("repo_copy", "corrupt")];
    let ran = run(&text, WRITES, &fake, &args);
    assert_eq!(
        ran.result,
        Ok(1),
        "stdout:\n{}stderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stdout.contains("FAIL  restore failed"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("the drill of 20240501-120000F FAILED"),
        "{}",
        ran.stderr
    );
    let records = drill_records(&fake);
    assert_eq!(records[0]["passed"], false);
    assert_eq!(records[0]["status"], "failed");
    assert_eq!(records[0]["repo_copy"], "corrupt");
    assert!(
        fake.changes().is_empty(),
        "verifying an existing set changes nothing: {:?}",
        fake.changes()
    );
}

#[test]
fn restore_drill_refuses_before_doing_anything() {
    let text = shipped_as_main("restore_drill");
    let fake = support::Fake::new();
    // Without the grant it stops at the first write (the record), before taking a backup.
    let ran = run(&text, Grants::default(), &fake, &[("take", "full")]);
    let err = ran.result.unwrap_err();
    assert!(
        err.contains("Function not found: fs::write_json") && err.contains("`--allow-files`"),
        "{err}"
    );
    assert!(fake.changes().is_empty());
    for (args, needle) in [
        (
            &[("take", "full"), ("set", "x")][..],
            "pass `take` (drill a new backup) or `set`",
        ),
        (
            &[("set", "20240101-000000F")][..],
            "no backup set `20240101-000000F`",
        ),
        (
            &[("take", "weekly")][..],
            "backup::run: backup type `weekly`",
        ),
        (
            &[("repo_copy", "../etc")][..],
            "backup::verify: `repo_copy` `../etc`",
        ),
        (
            &[("sett", "x")][..],
            "restore_drill: unknown argument `sett`",
        ),
    ] {
        let ran = run(&text, WRITES, &fake, args);
        let err = ran.result.unwrap_err();
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in:\n{err}"
        );
    }
    assert!(fake.changes().is_empty(), "{:?}", fake.changes());
}

#[test]
fn provision_qa_masked_masks_quoted_columns_in_the_clone_only() {
    let text = shipped_as_main("provision_qa_masked");
    let fake = support::Fake::new();
    let args = [
        ("db", "app"),
        (
            "columns",
            "users.email, public.users.full_name,users.ssn:null",
        ),
        ("name", "qa1"),
    ];
    let ran = run(&text, WRITES, &fake, &args);
    assert_eq!(
        ran.result,
        Ok(0),
        "stdout:\n{}stderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    let changes = fake.changes();
    assert_eq!(changes[0], "qa provision qa1 of app");
    assert_eq!(
        changes[1],
        "qa execute qa1/app: UPDATE \"users\" SET \"email\" = 'u' || left(md5($1 || \"email\"::text), 12) || \
         '@example.invalid' WHERE \"email\" IS NOT NULL (1 param(s))"
    );
    assert!(
        changes[2].starts_with(
            "qa execute qa1/app: UPDATE \"public\".\"users\" SET \"full_name\" = 'Name '"
        ),
        "{changes:?}"
    );
    assert_eq!(changes[3], "qa execute qa1/app: UPDATE \"users\" SET \"ssn\" = NULL WHERE \"ssn\" IS NOT NULL (0 param(s))");
    assert_eq!(changes.len(), 4, "nothing else is changed: {changes:?}");
    assert!(
        !changes
            .iter()
            .any(|c| c.starts_with("execute ") || c.starts_with("transaction ")),
        "the live cluster is not written"
    );
    assert!(
        ran.stdout
            .contains("is up on 127.0.0.1:54321 with 3 column(s) masked"),
        "{}",
        ran.stdout
    );

    // A hostile column name is one quoted identifier.
    let fake = support::Fake::new();
    let args = [
        ("db", "app"),
        ("columns", "users.x\"; DROP TABLE users; --:hash"),
    ];
    let ran = run(&text, WRITES, &fake, &args);
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    assert!(fake.changes()[1].contains("SET \"x\"\"; DROP TABLE users; --\" = md5($1 || \"x\"\"; DROP TABLE users; --\"::text)"), "{:?}", fake.changes());
}

#[test]
fn provision_qa_masked_drops_the_clone_when_masking_fails() {
    let text = shipped_as_main("provision_qa_masked");
    let fake = support::Fake::new();
    let args = [("db", "app"), ("columns", "users.email,users.missing")];
    let ran = run(&text, WRITES, &fake, &args);
    let err = ran.result.unwrap_err();
    assert!(
        err.contains("column \"missing\" of relation \"users\" does not exist"),
        "{err}"
    );
    assert!(
        ran.stderr
            .contains("masking failed; dropping QA clone qa_app_masked"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        fake.changes().last().map(String::as_str),
        Some("qa drop qa_app_masked"),
        "{:?}",
        fake.changes()
    );

    // Bad arguments fail before anything is cloned.
    for (args, needle) in [
        (&[("columns", "users.email")][..], "pass `db=NAME`"),
        (&[("db", "app")][..], "pass `columns=table.col,...`"),
        (
            &[("db", "app"), ("columns", "email")][..],
            "`email` is not table.col",
        ),
        (
            &[("db", "app"), ("columns", "users.email:rot13")][..],
            "mask method `rot13`",
        ),
        (
            &[("db", "app"), ("columns", "users.email"), ("name", "../x")][..],
            "qa::provision: clone name `../x`",
        ),
    ] {
        let fake = support::Fake::new();
        let ran = run(&text, WRITES, &fake, args);
        let err = ran.result.unwrap_err();
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in:\n{err}"
        );
        assert!(fake.changes().is_empty(), "{args:?}: {:?}", fake.changes());
    }
}
