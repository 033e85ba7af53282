//! `audit extensions`, `audit cron` and `audit replication` against planted
//! problems.

use std::time::{Duration, Instant};

use core_data_ops::audit::Severity;
use core_data_tests::{xtask, TestStack};

use crate::{audit, flags, sql, with_check, DB};

/// A bundle extension dropped from `shop` is missing until `up` installs it
/// again; one installed at an old version has an update available until
/// `ALTER EXTENSION … UPDATE`; one outside the bundle is listed (Info).
pub(crate) fn extensions_follow_the_bundle(t: &TestStack) {
    sql(
        t,
        DB,
        "DROP EXTENSION citext;
         DROP EXTENSION hstore; CREATE EXTENSION hstore VERSION '1.4';
         CREATE EXTENSION tablefunc;",
    );
    let (report, out) = audit(t, "extensions", &["--db", DB]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        flags(&report, "extension-missing", Some(DB), "citext"),
        "{out}"
    );
    assert!(
        flags(&report, "extension-update-available", Some(DB), "hstore"),
        "{out}"
    );
    let extra = with_check(&report, "extension-extra");
    assert!(
        extra
            .iter()
            .any(|f| f.object == "tablefunc" && f.severity == Severity::Info),
        "{out}"
    );
    assert_eq!(report.databases, [DB]);
    // `audit security` lists it as not vetted, without failing on it (no
    // SECURITY DEFINER function for PUBLIC).
    let (security, out) = audit(t, "security", &["--db", DB]);
    assert!(
        with_check(&security, "extension-grants")
            .iter()
            .any(|f| f.object == "tablefunc" && f.severity == Severity::Info),
        "{out}"
    );
    // Once it carries a SECURITY DEFINER function PUBLIC may execute, it is a warning.
    sql(
        t,
        DB,
        "CREATE FUNCTION public.audit_ext_definer() RETURNS int LANGUAGE sql SECURITY DEFINER
             SET search_path = pg_catalog, pg_temp AS 'SELECT 1';
         ALTER EXTENSION tablefunc ADD FUNCTION public.audit_ext_definer();",
    );
    let (security, out) = audit(t, "security", &["--db", DB]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        flags(&security, "extension-grants", Some(DB), "tablefunc"),
        "{out}"
    );
    assert!(
        with_check(&security, "extension-grants")
            .iter()
            .any(|f| f.detail.contains("public.audit_ext_definer")),
        "{out}"
    );
    sql(
        t,
        DB,
        "ALTER EXTENSION tablefunc DROP FUNCTION public.audit_ext_definer();
         DROP FUNCTION public.audit_ext_definer();",
    );

    let up = xtask(t.paths().state(), &["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    sql(
        t,
        DB,
        "ALTER EXTENSION hstore UPDATE; DROP EXTENSION tablefunc;",
    );
    let (report, out) = audit(t, "extensions", &["--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !report
            .findings
            .iter()
            .any(|f| ["citext", "hstore", "tablefunc"].contains(&f.object.as_str())),
        "{out}"
    );
}

/// A pg_cron job in `shop` that fails every second is `cron-job-failing`
/// with its error; once unscheduled it is not reported, although its failed
/// runs stay in `cron.job_run_details`.
pub(crate) fn failing_cron_jobs_are_flagged(t: &TestStack) {
    let version = t.query_one_string(
        "postgres",
        "SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'",
    );
    // Second schedules exist since pg_cron 1.5.
    let number: Vec<u32> = version.split('.').filter_map(|n| n.parse().ok()).collect();
    let schedule = if number >= vec![1, 5] {
        "1 seconds"
    } else {
        "* * * * *"
    };
    sql(
        t,
        "postgres",
        &format!(
            "SELECT cron.schedule_in_database('audit_failing_job', '{schedule}', \
             'SELECT 1/0', '{DB}')"
        ),
    );
    let started = Instant::now();
    loop {
        let failed = t.query_one_string(
            "postgres",
            "SELECT count(*)::text FROM cron.job_run_details d JOIN cron.job j USING (jobid) \
             WHERE j.jobname = 'audit_failing_job' AND d.status = 'failed'",
        );
        if failed != "0" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the planted cron job did not run and fail within 90 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (report, out) = audit(t, "cron", &["--db", DB]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        flags(&report, "cron-job-failing", Some(DB), "audit_failing_job"),
        "{out}"
    );
    let failing = with_check(&report, "cron-job-failing");
    assert!(failing[0].detail.contains("division by zero"), "{out}");
    assert!(failing[0].value.unwrap_or(0.0) >= 1.0);
    // Every job in scope is listed: the partition maintenance of `shop` too.
    assert!(
        with_check(&report, "cron-job")
            .iter()
            .any(|f| f.object == "core_data_partman:shop"),
        "{out}"
    );

    sql(t, "postgres", "SELECT cron.unschedule('audit_failing_job')");
    let (report, out) = audit(t, "cron", &["--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.object == "audit_failing_job"),
        "{out}"
    );
}

/// An inactive physical slot that reserved WAL is `inactive-slot` once WAL
/// moves on; dropping it clears the finding.
pub(crate) fn inactive_slots_are_flagged(t: &TestStack) {
    sql(
        t,
        DB,
        "SELECT pg_create_physical_replication_slot('audit_slot', true);
         CREATE TABLE public.audit_wal AS SELECT g AS id FROM generate_series(1, 10000) g;
         DROP TABLE public.audit_wal;
         SELECT pg_switch_wal();",
    );
    let (report, out) = audit(t, "replication", &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(flags(&report, "inactive-slot", None, "audit_slot"), "{out}");
    let slot = with_check(&report, "inactive-slot");
    assert!(slot[0].value.unwrap_or(0.0) > 0.0, "{out}");

    sql(t, DB, "SELECT pg_drop_replication_slot('audit_slot')");
    let (report, out) = audit(t, "replication", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !report.findings.iter().any(|f| f.object == "audit_slot"),
        "{out}"
    );
}
