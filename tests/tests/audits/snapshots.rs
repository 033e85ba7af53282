//! `audit schema` (a snapshot file and its comparison) and
//! `snapshot-pgstat` / `diff-pgstat`.

use std::os::unix::fs::PermissionsExt;

use camino::Utf8PathBuf;
use core_data_tests::{xtask, TestStack};

use super::{audit, sql, with_check, DB};

/// A snapshot goes to backups/audits (mode 0700) and is never replaced; a
/// column and an index added since are listed (exit 1); a snapshot
/// compared with itself has no change (exit 0).
pub(crate) fn schema_snapshot_and_compare(t: &TestStack) {
    let state = t.paths().state();
    sql(
        t,
        DB,
        "CREATE TABLE public.audit_schema_probe (id int PRIMARY KEY)",
    );
    let out = xtask(state, &["audit", "schema", "--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    let path = Utf8PathBuf::from(out.stdout.trim());
    let dir = t.paths().backups_dir().join("audits");
    assert_eq!(path.parent(), Some(dir.as_path()), "{out}");
    assert!(path.file_name().unwrap().starts_with("schema-"), "{out}");
    let mode = std::fs::metadata(&dir)
        .expect("the directory")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let before = std::fs::read_to_string(&path).expect("the snapshot");
    let json: serde_json::Value = serde_json::from_str(&before).expect("JSON");
    assert_eq!(json["version"], 1);
    assert!(
        json["databases"][DB]["tables"]["public.audit_schema_probe"].is_object(),
        "{json:#}"
    );
    assert!(
        json["databases"][DB]["extensions"]["vector"].is_string(),
        "{json:#}"
    );

    // Never replaces a file.
    let again = xtask(
        state,
        &["audit", "schema", "--db", DB, "--snapshot", path.as_str()],
    );
    assert_eq!(again.code, Some(1), "{again}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    sql(
        t,
        DB,
        "ALTER TABLE public.audit_schema_probe ADD COLUMN note text; \
         CREATE INDEX audit_schema_probe_note_idx ON public.audit_schema_probe (note);",
    );
    let (report, out) = audit(t, "schema", &["--db", DB, "--compare", path.as_str()]);
    assert_eq!(out.code, Some(1), "{out}");
    assert_eq!(report.audit, "schema");
    let added = with_check(&report, "schema-added");
    assert!(
        added
            .iter()
            .any(|f| f.object == "public.audit_schema_probe.note (column)"
                && f.database.as_deref() == Some(DB)
                && f.detail.contains("text")),
        "{out}"
    );
    assert!(
        added
            .iter()
            .any(|f| f.object == "public.audit_schema_probe_note_idx (index)"),
        "{out}"
    );
    assert_eq!(report.findings.len(), 2, "nothing else changed: {out}");

    let (report, out) = audit(t, "schema", &["--compare", path.as_str(), path.as_str()]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(report.findings.is_empty(), "{out}");

    sql(t, DB, "DROP TABLE public.audit_schema_probe");
    let (report, out) = audit(t, "schema", &["--db", DB, "--compare", path.as_str()]);
    assert!(
        with_check(&report, "schema-removed")
            .iter()
            .any(|f| f.object == "public.audit_schema_probe (table)"),
        "{out}"
    );
}

/// The probe statement run 500 times between two snapshots ranks first by
/// calls, with its normalised text; the first snapshot is not empty.
pub(crate) fn pgstat_snapshot_and_diff(t: &TestStack) {
    // A table of its own: pg_stat_statements' query ID ignores names, so a
    // probe over `generate_series` would share its entry (and first-seen text)
    // with any statement of the same shape run earlier.
    const PROBE: &str = "SELECT count(*) FROM public.audit_diff_probe WHERE n > 10";
    const NORMALISED: &str = "SELECT count(*) FROM public.audit_diff_probe WHERE n > $1";
    sql(t, DB, "CREATE TABLE public.audit_diff_probe (n int)");
    let state = t.paths().state();
    let out = xtask(state, &["snapshot-pgstat"]);
    assert_eq!(out.code, Some(0), "{out}");
    let base = Utf8PathBuf::from(out.stdout.trim());
    assert_eq!(
        base.parent(),
        Some(t.paths().backups_dir().join("pgstat").as_path()),
        "{out}"
    );
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).expect("the snapshot")).expect("JSON");
    assert_eq!(snapshot["version"], 1);
    let entries = snapshot["entries"].as_array().expect("entries");
    assert!(
        !entries.is_empty(),
        "the snapshot is empty although statements ran"
    );
    assert!(
        entries.iter().all(|e| e["role"] != "core_data_auditor"),
        "the auditor's own queries are left out"
    );

    let mut client = t.stack.connect(DB).expect("connect");
    for _ in 0..500 {
        client.batch_execute(PROBE).expect("the probe");
    }
    drop(client);
    let compare = t.paths().backups_dir().join("pgstat/compare.json");
    let out = xtask(state, &["snapshot-pgstat", "--output", compare.as_str()]);
    assert_eq!(out.code, Some(0), "{out}");
    let again = xtask(state, &["snapshot-pgstat", "--output", compare.as_str()]);
    assert_eq!(
        again.code,
        Some(1),
        "an existing snapshot is never replaced: {again}"
    );

    let out = xtask(
        state,
        &[
            "diff-pgstat",
            base.as_str(),
            compare.as_str(),
            "--sort",
            "calls",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let diff: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let first = &diff["rows"][0];
    assert_eq!(first["query"], NORMALISED, "{out}");
    assert_eq!(first["database"], DB, "{out}");
    assert!(first["calls"].as_i64().expect("calls") >= 500, "{out}");
    assert_eq!(first["rank"], 1);
    assert_eq!(diff["reset"], false, "{out}");

    let out = xtask(
        state,
        &[
            "diff-pgstat",
            base.as_str(),
            compare.as_str(),
            "--sort",
            "calls",
            "--limit",
            "3",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("audit_diff_probe"), "{out}");
    assert!(out.stdout.contains("by calls"), "{out}");

    let out = xtask(
        state,
        &[
            "diff-pgstat",
            base.as_str(),
            compare.as_str(),
            "--sort",
            "calls",
            "--limit",
            "2",
            "--format",
            "csv",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header = reader.headers().expect("header").clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert!(rows.len() <= 2 && !rows.is_empty(), "{out}");
    let query = header
        .iter()
        .position(|h| h == "query")
        .expect("a query column");
    assert_eq!(&rows[0][query], NORMALISED, "{out}");
    sql(t, DB, "DROP TABLE public.audit_diff_probe");
}
