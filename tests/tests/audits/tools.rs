//! `config check`, `exercise-extensions`, `pgtap-smoke` and `version-status`.

use core_data_tests::{xtask, TestStack};

use crate::{flags, read_csv, sql, DB};

/// Clean after `up`; an `ALTER SYSTEM` override and a hand-edited hba rule are
/// drift (exit 1); clean again after `config apply` and `ALTER SYSTEM RESET`.
pub(crate) fn config_check_reports_drift_until_applied(t: &TestStack) {
    let state = t.paths().state();
    let check = |args: &[&str]| -> (core_data_ops::audit::Report, core_data_tests::CliOutput) {
        crate::json_report(t, &[&["config", "check"], args].concat())
    };
    let (report, out) = check(&[]);
    assert_eq!(out.code, Some(0), "clean after up: {out}");
    assert_eq!(report.problems(), 0, "{report:#?}");

    sql(t, "postgres", "ALTER SYSTEM SET work_mem = '7MB'");
    sql(t, "postgres", "SELECT pg_reload_conf()");
    let hba = core_data_ops::render::output_dir(t.paths()).join("pg_hba.conf");
    let original = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("{original}hostssl all all 10.99.0.0/16 scram-sha-256\n"),
    )
    .unwrap();
    sql(t, "postgres", "SELECT pg_reload_conf()");

    let (report, out) = check(&[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        flags(&report, "alter-system-override", None, "work_mem"),
        "{report:#?}"
    );
    assert!(
        flags(&report, "rendered-file-drift", None, "pg_hba.conf"),
        "{report:#?}"
    );
    // The hidden spelling the original's users know gives the same verdict.
    let legacy = xtask(state, &["config-check"]);
    assert_eq!(legacy.code, Some(1), "{legacy}");
    assert!(legacy.stdout.contains("alter-system-override"), "{legacy}");

    let apply = xtask(state, &["config", "apply"]);
    assert_eq!(apply.code, Some(0), "{apply}");
    assert_eq!(std::fs::read_to_string(&hba).unwrap(), original);
    let (report, out) = check(&[]);
    assert!(
        !flags(&report, "rendered-file-drift", None, "pg_hba.conf"),
        "{report:#?}"
    );
    assert_eq!(out.code, Some(1), "the override is still there: {out}");
    sql(t, "postgres", "ALTER SYSTEM RESET work_mem");
    sql(t, "postgres", "SELECT pg_reload_conf()");
    let (report, out) = check(&[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(report.problems(), 0, "{report:#?}");
}

/// Both pass on the stack, and fail naming the extension (exit 1) when one
/// extension is dropped from one database; pass again once it is back.
pub(crate) fn exercise_and_pgtap_fail_on_a_dropped_extension(t: &TestStack) {
    let state = t.paths().state();
    let bundle = core_data_ops::pg::bootstrap::extensions_for(DB);

    let exercised = xtask(state, &["exercise-extensions", "--format", "csv"]);
    assert_eq!(exercised.code, Some(0), "{exercised}");
    let rows = read_csv(&exercised.stdout);
    for extension in &bundle {
        assert!(
            rows.iter()
                .any(|r| &r[1] == DB && &r[2] == *extension && &r[3] == "exercised"),
            "`{extension}` was not exercised in `{DB}`: {exercised}"
        );
    }
    let databases =
        core_data_ops::pg::bootstrap::databases(&mut t.stack.connect("postgres").unwrap()).unwrap();
    assert_eq!(
        rows.len(),
        databases.len() * bundle.len() + 1,
        "pg_cron only in postgres"
    );

    let tap = xtask(state, &["pgtap-smoke", "--db", DB]);
    assert_eq!(tap.code, Some(0), "{tap}");
    assert!(
        tap.stdout.contains(&format!("1..{}", bundle.len() * 3)),
        "{tap}"
    );
    assert!(!tap.stdout.contains("not ok"), "{tap}");

    sql(t, DB, "DROP EXTENSION pg_trgm");
    let exercised = xtask(state, &["exercise-extensions", "--format", "csv"]);
    assert_eq!(exercised.code, Some(1), "{exercised}");
    let failed: Vec<_> = read_csv(&exercised.stdout)
        .into_iter()
        .filter(|r| &r[3] != "exercised")
        .collect();
    assert_eq!(failed.len(), 1, "{exercised}");
    assert_eq!(
        (&failed[0][1], &failed[0][2], &failed[0][3]),
        (DB, "pg_trgm", "exercise-failed")
    );
    let tap = xtask(state, &["pgtap-smoke"]);
    assert_eq!(tap.code, Some(1), "{tap}");
    assert!(
        tap.stdout.contains("not ok") && tap.stdout.contains("pg_trgm is installed"),
        "{tap}"
    );

    sql(t, DB, "CREATE EXTENSION pg_trgm");
    assert_eq!(
        xtask(state, &["exercise-extensions", "--db", DB]).code,
        Some(0)
    );
    assert_eq!(xtask(state, &["pgtap-smoke"]).code, Some(0));
    // Nothing was left behind: every exercise ran in a rolled-back transaction.
    assert_eq!(
        t.query_one_string(
            DB,
            "SELECT count(*)::text FROM pg_namespace WHERE nspname LIKE 'core_data_exercise%'"
        ),
        "0"
    );
}

/// The mirror's candidates through a container on the default bridge, and
/// "unknown" with the reason when the container cannot reach the mirror.
pub(crate) fn version_status_online_and_offline(t: &TestStack) {
    let state = t.paths().state();
    let online = xtask(state, &["version-status", "--format", "csv"]);
    assert!(matches!(online.code, Some(0 | 1)), "{online}");
    let rows = read_csv(&online.stdout);
    let server = rows
        .iter()
        .find(|r| &r[2] == "postgresql-17")
        .unwrap_or_else(|| panic!("{online}"));
    assert!(
        ["package-current", "package-update-available"].contains(&&server[3]),
        "{online}"
    );
    assert!(
        rows.iter()
            .any(|r| &r[1] == DB && &r[2] == "postgis" && &r[3] == "extension-current"),
        "{online}"
    );

    let offline = xtask(
        state,
        &["version-status", "--network", "none", "--format", "csv"],
    );
    assert_eq!(offline.code, Some(0), "offline is not a failure: {offline}");
    let rows = read_csv(&offline.stdout);
    let unknown = rows
        .iter()
        .find(|r| &r[3] == "mirror-unknown")
        .unwrap_or_else(|| panic!("{offline}"));
    assert!(unknown[6].contains("could not be reached"), "{offline}");
    assert!(
        !rows.iter().any(|r| &r[3] == "package-current"),
        "{offline}"
    );
}

/// A database whose name needs quoting everywhere (a quote, a space, a
/// backslash) is exercised and audited like any other.
pub(crate) fn a_hostile_database_name_is_just_a_name(t: &TestStack) {
    let state = t.paths().state();
    let name = "we'ird \\ db";
    assert_eq!(
        xtask(state, &["create-db", name, "shop_owner"]).code,
        Some(0)
    );
    let exercised = xtask(
        state,
        &["exercise-extensions", "--db", name, "--format", "csv"],
    );
    assert_eq!(exercised.code, Some(0), "{exercised}");
    let rows = read_csv(&exercised.stdout);
    assert!(
        rows.iter().all(|r| &r[1] == name && &r[3] == "exercised"),
        "{exercised}"
    );
    let (summary, out) = crate::audit_all(t, &["--db", name]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(summary
        .reports
        .iter()
        .all(|r| r.databases.is_empty() || r.databases == [name]));
    assert_eq!(xtask(state, &["drop-db", name, "--yes"]).code, Some(0));
}
