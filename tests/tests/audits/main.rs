//! Audits end to end on one stack. Each check plants a real problem (in a
//! database other than `postgres`), runs the audit through the CLI, asserts
//! the finding and exit code 1, fixes the problem and asserts the finding is
//! gone. Every JSON report is validated against docs/schema/audit.schema.json
//! and every CSV report is read back with a CSV reader. The audits connect as
//! a role that is not a superuser.

use core_data_ops::audit::{Finding, Report, Summary};
use core_data_tests::{docker_available, xtask, CliOutput, TestStack};

mod access_checks;
mod catalog_checks;
mod schema_check;
mod snapshots;
mod table_checks;
mod tools;

/// The application database problems are planted in (not `postgres`).
pub(crate) const DB: &str = "shop";

#[test]
fn audits_full_workflow() {
    if !docker_available("audits_full_workflow") {
        return;
    }
    let t = TestStack::new("audits", 209);
    t.up();

    everything_is_clean_after_up(&t);
    access_checks::the_auditor_is_least_privileged(&t);
    access_checks::roles_are_flagged(&t);
    access_checks::security_problems_are_flagged(&t);
    catalog_checks::extensions_follow_the_bundle(&t);
    catalog_checks::failing_cron_jobs_are_flagged(&t);
    catalog_checks::inactive_slots_are_flagged(&t);

    tools::config_check_reports_drift_until_applied(&t);
    tools::exercise_and_pgtap_fail_on_a_dropped_extension(&t);
    tools::version_status_online_and_offline(&t);
    tools::a_hostile_database_name_is_just_a_name(&t);

    table_checks::dead_tuples_need_vacuum(&t);
    table_checks::squeeze_targets_and_errors(&t);
    table_checks::bloated_index(&t);
    table_checks::duplicate_unused_and_invalid_indexes(&t);
    table_checks::buffercache_lists_a_read_table(&t);
    snapshots::schema_snapshot_and_compare(&t);
    snapshots::pgstat_snapshot_and_diff(&t);

    // Every check removed what it planted: the stack is as clean as after `up`.
    everything_is_clean_after_up(&t);
}

/// `audit all` on a fresh stack: no problem, exit 0, as the auditor (not a
/// superuser), JSON valid against the schema, CSV readable.
fn everything_is_clean_after_up(t: &TestStack) {
    let (summary, out) = audit_all(t, &[]);
    let problems: Vec<&Finding> = summary
        .reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.severity.fails())
        .collect();
    assert!(
        problems.is_empty(),
        "a fresh stack has problems: {problems:#?}"
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        summary.connected_as.role,
        core_data_ops::secrets::AUDITOR_ROLE
    );
    assert!(!summary.connected_as.superuser);
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT rolsuper::text FROM pg_roles WHERE rolname = 'core_data_auditor'"
        ),
        "false"
    );
    let csv = xtask(t.paths().state(), &["audit", "all", "--format", "csv"]);
    assert_eq!(csv.code, Some(0), "{csv}");
    let rows = read_csv(&csv.stdout);
    let findings: usize = summary.reports.iter().map(|r| r.findings.len()).sum();
    assert_eq!(rows.len(), findings, "one CSV row per finding");
}

/// `argv` with `--format json` through the CLI: the document (validated
/// against the schema, then parsed) and the CLI's output, whose exit code must
/// be 0 or 1.
pub(crate) fn json_report<T: serde::de::DeserializeOwned>(
    t: &TestStack,
    argv: &[&str],
) -> (T, CliOutput) {
    let mut argv = argv.to_vec();
    argv.extend_from_slice(&["--format", "json"]);
    let out = xtask(t.paths().state(), &argv);
    assert!(matches!(out.code, Some(0 | 1)), "{out}");
    let value: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    schema_check::validate(&value);
    let parsed = serde_json::from_value(value).unwrap_or_else(|e| panic!("shape ({e}): {out}"));
    (parsed, out)
}

/// `audit all` with `args`: the summary and the CLI's output; the exit code
/// follows the summary.
pub(crate) fn audit_all(t: &TestStack, args: &[&str]) -> (Summary, CliOutput) {
    let (summary, out): (Summary, CliOutput) = json_report(t, &[&["audit", "all"], args].concat());
    assert_eq!(
        out.code == Some(1),
        summary.failed,
        "exit code follows the findings: {out}"
    );
    (summary, out)
}

/// `audit NAME` with `args`: the report and the CLI's output; the exit code
/// follows the findings.
pub(crate) fn audit(t: &TestStack, name: &str, args: &[&str]) -> (Report, CliOutput) {
    let (report, out): (Report, CliOutput) = json_report(t, &[&["audit", name], args].concat());
    assert_eq!(
        out.code == Some(1),
        report.failed(),
        "exit code follows the findings: {out}"
    );
    (report, out)
}

/// The findings of `report` with this check name.
pub(crate) fn with_check<'a>(report: &'a Report, check: &str) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect()
}

/// Whether `report` has a failing finding `check` on an object containing `object` in `database`.
pub(crate) fn flags(report: &Report, check: &str, database: Option<&str>, object: &str) -> bool {
    report.findings.iter().any(|f| {
        f.check == check
            && f.severity.fails()
            && f.database.as_deref() == database
            && f.object.contains(object)
    })
}

/// Runs SQL as the superuser in `database` (`TestStack::sql`).
pub(crate) fn sql(t: &TestStack, database: &str, statements: &str) {
    t.sql(database, statements);
}

pub(crate) fn read_csv(text: &str) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader
            .headers()
            .expect("CSV header")
            .iter()
            .collect::<Vec<_>>(),
        ["audit", "database", "object", "check", "severity", "value", "detail"]
    );
    reader.records().map(|r| r.expect("CSV row")).collect()
}
