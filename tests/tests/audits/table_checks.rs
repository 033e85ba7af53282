//! `audit autovacuum`, `squeeze`, `index-bloat`, `indexes` and `buffercache`:
//! each plants its problem in `shop`, asserts the finding and the exit code,
//! fixes it and asserts the finding is gone. Object names start with `audit_`
//! and each check drops what it planted.

use std::time::{Duration, Instant};

use core_data_ops::audit::{Report, Severity};
use core_data_tests::TestStack;

use super::{audit, flags, sql, with_check, DB};

/// Runs `audit NAME args` until `done` holds for its report (statistics reach
/// the server's shared memory asynchronously), for at most 20 s.
fn poll(
    t: &TestStack,
    name: &str,
    args: &[&str],
    what: &str,
    done: impl Fn(&Report) -> bool,
) -> Report {
    let start = Instant::now();
    loop {
        let (report, out) = audit(t, name, args);
        if done(&report) {
            return report;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "`audit {name}` did not show {what} within 20 s: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether `report` mentions `object` at all.
fn mentions(report: &Report, object: &str) -> bool {
    report.findings.iter().any(|f| f.object.contains(object))
}

/// A table with 15,000 dead of 20,000 tuples and autovacuum off needs vacuum;
/// after `VACUUM` it does not. Every database's age is listed and small.
pub(crate) fn dead_tuples_need_vacuum(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_av_probe (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false); \
         INSERT INTO public.audit_av_probe SELECT g, 'x' FROM generate_series(1, 20000) g; \
         DELETE FROM public.audit_av_probe WHERE id <= 15000; \
         SELECT pg_stat_force_next_flush();",
    );
    let args = ["--db", DB];
    let report = poll(t, "autovacuum", &args, "needs-vacuum", |r| {
        flags(r, "needs-vacuum", Some(DB), "public.audit_av_probe")
    });
    let finding = with_check(&report, "needs-vacuum")
        .into_iter()
        .find(|f| f.object == "public.audit_av_probe")
        .expect("the finding");
    assert_eq!(finding.severity, Severity::Warning);
    assert_eq!(finding.value, Some(15000.0));
    assert!(finding.detail.contains("75.0 %"), "{finding:?}");
    assert!(finding.detail.contains("VACUUM"), "{finding:?}");

    // Every database in scope has its age listed, and on a fresh stack it is small.
    let (all, out) = audit(t, "autovacuum", &[]);
    assert!(all.databases.len() >= 3, "{out}");
    for db in &all.databases {
        let age = all
            .findings
            .iter()
            .find(|f| f.check == "database-age" && f.database.as_deref() == Some(db))
            .unwrap_or_else(|| panic!("no database-age row for `{db}`: {out}"));
        assert_eq!(age.severity, Severity::Info);
        let value = age.value.expect("the age");
        assert!((0.0..10_000_000.0).contains(&value), "{age:?}");
    }
    assert!(with_check(&all, "xid-wraparound").is_empty(), "{out}");
    assert!(with_check(&all, "multixact-wraparound").is_empty(), "{out}");

    sql(t, DB, "VACUUM public.audit_av_probe");
    let report = poll(t, "autovacuum", &args, "the vacuum", |r| {
        !mentions(r, "audit_av_probe")
    });
    assert!(!report.failed(), "{report:#?}");
    sql(t, DB, "DROP TABLE public.audit_av_probe");
}

/// A pg_squeeze target is listed; an error pg_squeeze logged is a warning.
pub(crate) fn squeeze_targets_and_errors(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_squeeze_probe (id int PRIMARY KEY); \
         INSERT INTO squeeze.tables (tabschema, tabname, schedule) \
         VALUES ('public', 'audit_squeeze_probe', ('{30}', '{22}', NULL, NULL, '{3, 5}'));",
    );
    let args = ["--db", DB];
    let (report, out) = audit(t, "squeeze", &args);
    let target = with_check(&report, "squeeze-target")
        .into_iter()
        .find(|f| f.object == "public.audit_squeeze_probe")
        .unwrap_or_else(|| panic!("the target is not listed: {out}"));
    assert_eq!(target.severity, Severity::Info);
    assert_eq!(target.database.as_deref(), Some(DB));
    assert!(target.detail.contains("never"), "{target:?}");
    assert_eq!(out.code, Some(0), "{out}");

    // What the worker writes when a squeeze fails (a real failure needs the
    // scheduler to fire; the audit reads the same row).
    sql(
        t,
        DB,
        "INSERT INTO squeeze.errors (tabschema, tabname, sql_state, err_msg) \
         VALUES ('public', 'audit_squeeze_probe', '55000', 'audit probe failure')",
    );
    let (report, out) = audit(t, "squeeze", &args);
    assert!(
        flags(
            &report,
            "squeeze-error",
            Some(DB),
            "public.audit_squeeze_probe"
        ),
        "{out}"
    );
    assert_eq!(out.code, Some(1), "{out}");

    sql(
        t,
        DB,
        "DELETE FROM squeeze.errors WHERE tabname = 'audit_squeeze_probe'; \
         DELETE FROM squeeze.tables WHERE tabname = 'audit_squeeze_probe'; \
         DROP TABLE public.audit_squeeze_probe;",
    );
    let (report, out) = audit(t, "squeeze", &args);
    assert!(!mentions(&report, "audit_squeeze_probe"), "{out}");
    assert_eq!(out.code, Some(0), "{out}");
}

/// An index with 90 % of its entries deleted (scattered) and vacuumed is
/// bloated; after `REINDEX` it is not.
pub(crate) fn bloated_index(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_bloat_probe (id int, v int); \
         INSERT INTO public.audit_bloat_probe SELECT g, g FROM generate_series(1, 200000) g; \
         CREATE INDEX audit_bloat_probe_v_idx ON public.audit_bloat_probe (v); \
         DELETE FROM public.audit_bloat_probe WHERE id % 10 <> 0;",
    );
    sql(t, DB, "VACUUM public.audit_bloat_probe");
    let args = ["--db", DB, "--min-size-mb", "1"];
    let (report, out) = audit(t, "index-bloat", &args);
    assert!(
        flags(
            &report,
            "index-bloat",
            Some(DB),
            "public.audit_bloat_probe_v_idx"
        ),
        "{out}"
    );
    let finding = &with_check(&report, "index-bloat")[0];
    assert!(finding.value.expect("percent") > 80.0, "{finding:?}");
    assert!(
        finding.detail.contains("REINDEX INDEX CONCURRENTLY"),
        "{finding:?}"
    );
    assert_eq!(out.code, Some(1), "{out}");

    // Over the size limit it is not examined at all.
    let (report, out) = audit(t, "index-bloat", &["--db", DB, "--min-size-mb", "100"]);
    assert!(!mentions(&report, "audit_bloat_probe"), "{out}");

    sql(t, DB, "REINDEX INDEX public.audit_bloat_probe_v_idx");
    let (report, out) = audit(t, "index-bloat", &args);
    assert!(!mentions(&report, "audit_bloat_probe"), "{out}");
    assert_eq!(out.code, Some(0), "{out}");
    sql(t, DB, "DROP TABLE public.audit_bloat_probe");
}

/// Two identical indexes (duplicate), an index never scanned (unused), a left
/// prefix of another (redundant, context only) and a failed
/// `CREATE UNIQUE INDEX CONCURRENTLY` (invalid).
pub(crate) fn duplicate_unused_and_invalid_indexes(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_idx_probe (id int PRIMARY KEY, a int, b int); \
         INSERT INTO public.audit_idx_probe SELECT g, g % 100, g FROM generate_series(1, 1000) g; \
         CREATE INDEX audit_idx_dup_1 ON public.audit_idx_probe (a); \
         CREATE INDEX audit_idx_dup_2 ON public.audit_idx_probe (a); \
         CREATE INDEX audit_idx_unused ON public.audit_idx_probe (b); \
         CREATE INDEX audit_idx_wide ON public.audit_idx_probe (b, a); \
         CREATE TABLE public.audit_invalid_probe (x int); \
         INSERT INTO public.audit_invalid_probe VALUES (1), (1); \
         ANALYZE public.audit_idx_probe;",
    );
    let mut client = t.stack.connect(DB).expect("connect");
    let error = client
        .batch_execute(
            "CREATE UNIQUE INDEX CONCURRENTLY audit_invalid_probe_x ON public.audit_invalid_probe (x)",
        )
        .expect_err("duplicate values make the unique index fail");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(
        message.contains("could not create unique index"),
        "{error:?}"
    );

    let args = ["--db", DB];
    let (report, out) = audit(t, "indexes", &args);
    assert_eq!(out.code, Some(1), "{out}");
    let duplicate = with_check(&report, "duplicate-index");
    assert_eq!(duplicate.len(), 1, "{out}");
    assert_eq!(duplicate[0].object, "public.audit_idx_dup_2");
    assert!(
        duplicate[0].detail.contains("public.audit_idx_dup_1"),
        "{out}"
    );
    assert!(
        flags(&report, "unused-index", Some(DB), "public.audit_idx_unused"),
        "{out}"
    );
    assert!(
        !mentions_check(&report, "unused-index", "audit_idx_probe_pkey"),
        "a primary key is never unused: {out}"
    );
    let redundant = with_check(&report, "redundant-index");
    assert!(
        redundant
            .iter()
            .any(|f| f.object == "public.audit_idx_unused" && f.severity == Severity::Info),
        "{out}"
    );
    assert!(
        flags(
            &report,
            "invalid-index",
            Some(DB),
            "public.audit_invalid_probe_x"
        ),
        "{out}"
    );
    assert_eq!(
        with_check(&report, "invalid-index")[0].severity,
        Severity::Critical
    );
    assert!(
        report.notes.iter().any(|n| n.contains("statistics")),
        "{out}"
    );

    // Scanned once, the index is no longer unused.
    sql(
        t,
        DB,
        "SET enable_seqscan = off; SET enable_bitmapscan = off; \
         SELECT count(*) FROM public.audit_idx_probe WHERE b = 7 AND a IS NOT NULL;",
    );
    let scanned = |r: &Report| {
        !mentions_check(r, "unused-index", "public.audit_idx_unused")
            || !mentions_check(r, "unused-index", "public.audit_idx_wide")
    };
    poll(
        t,
        "indexes",
        &args,
        "one of the indexes on b scanned",
        scanned,
    );

    sql(
        t,
        DB,
        "DROP TABLE public.audit_idx_probe; DROP TABLE public.audit_invalid_probe;",
    );
    let (report, out) = audit(t, "indexes", &args);
    assert!(!mentions(&report, "audit_idx_"), "{out}");
    assert!(!mentions(&report, "audit_invalid_probe"), "{out}");
    assert_eq!(out.code, Some(0), "{out}");
}

fn mentions_check(report: &Report, check: &str, object: &str) -> bool {
    report
        .findings
        .iter()
        .any(|f| f.check == check && f.object == object)
}

/// A table read fully is among the relations occupying shared_buffers, in
/// its database; `--limit` caps the rows.
pub(crate) fn buffercache_lists_a_read_table(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_cache_probe (id int, v text); \
         INSERT INTO public.audit_cache_probe SELECT g, repeat('x', 40) FROM generate_series(1, 100000) g; \
         SELECT count(*) FROM public.audit_cache_probe;",
    );
    let (report, out) = audit(t, "buffercache", &["--db", DB, "--limit", "5"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(report.findings.len(), 5, "{out}");
    assert!(report.findings.iter().all(|f| f.severity == Severity::Info));
    let probe = report
        .findings
        .iter()
        .find(|f| f.object == "public.audit_cache_probe")
        .unwrap_or_else(|| panic!("the table read is not listed: {out}"));
    assert_eq!(probe.database.as_deref(), Some(DB));
    assert_eq!(probe.check, "cached-relation");
    assert!(probe.value.expect("buffers") > 100.0, "{probe:?}");
    assert!(probe.detail.contains("% of shared_buffers"), "{probe:?}");

    // Across every database the limit still holds.
    let (all, out) = audit(t, "buffercache", &["--limit", "3"]);
    assert_eq!(all.findings.len(), 3, "{out}");
    sql(t, DB, "DROP TABLE public.audit_cache_probe");
}
