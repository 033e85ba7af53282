//! `old-clusters` on a real stack, through the CLI: a `restore --yes` leaves
//! `pgdata.pre-restore-<id>` and `pg_wal.pre-restore-<id>`, listed as one entry
//! (kind, id, a non-zero size, major 17) with the server running and stopped;
//! `--remove` without `--yes` exits 1 and removes nothing; the live directories,
//! other names, a missing copy and anything while a restore or upgrade journal
//! is pending are refused; `--remove NAME --yes` removes both halves and the
//! server still serves its data.

use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::progress::Quiet;
use core_data_tests::{docker_available, xtask, CliOutput, TestStack};
use serde_json::Value;

fn list(t: &TestStack) -> Value {
    let out = xtask(t.paths().state(), &["old-clusters", "--format", "json"]);
    assert_eq!(out.code, Some(0), "old-clusters --format json:\n{out}");
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"))
}

fn remove(t: &TestStack, args: &[&str]) -> CliOutput {
    let mut argv = vec!["old-clusters", "--remove"];
    argv.extend_from_slice(args);
    xtask(t.paths().state(), &argv)
}

fn refused(t: &TestStack, args: &[&str], expected: &str) {
    let out = remove(t, args);
    assert_eq!(out.code, Some(1), "`--remove {args:?}` must fail:\n{out}");
    assert!(
        out.stderr.contains(expected),
        "`--remove {args:?}` must say `{expected}`:\n{out}"
    );
}

fn rows(t: &TestStack) -> i64 {
    t.query_one_string("app", "SELECT count(*)::text FROM kept")
        .parse()
        .unwrap()
}

#[test]
fn old_clusters_lists_and_removes_what_a_restore_set_aside() {
    if !docker_available("old_clusters_lists_and_removes_what_a_restore_set_aside") {
        return;
    }
    let t = TestStack::new("oldclusters", 218);
    t.up();
    t.sql(
        "app",
        "CREATE TABLE kept (id int PRIMARY KEY, note text);
         INSERT INTO kept SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;",
    );
    let empty = list(&t);
    assert_eq!(empty["entries"], Value::Array(Vec::new()), "{empty}");
    assert_eq!(empty["total_bytes"], 0, "{empty}");
    physical::backup(&t.stack, Some(Kind::Full), &Quiet)
        .unwrap_or_else(|err| panic!("backup failed: {err:#}"));

    let out = xtask(t.paths().state(), &["restore", "--yes"]);
    assert_eq!(out.code, Some(0), "restore --yes:\n{out}");
    assert!(out.stdout.contains("pgdata.pre-restore-"), "{out}");

    // One entry, data and WAL together, with the server running.
    let report = list(&t);
    let entries = report["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{report}");
    let entry = &entries[0];
    let id = entry["id"].as_str().expect("id").to_owned();
    let name = format!("pgdata.pre-restore-{id}");
    assert_eq!(entry["name"], name.as_str(), "{report}");
    assert_eq!(entry["kind"], "restore", "{report}");
    assert_eq!(entry["pg_major"], 17, "{report}");
    assert!(entry["bytes"].as_u64().unwrap() > 1_000_000, "{report}");
    assert_eq!(
        entry["data"]["path"],
        format!("/var/lib/postgresql/data/{name}").as_str(),
        "{report}"
    );
    assert!(entry["data"]["bytes"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        entry["wal"]["name"],
        format!("pg_wal.pre-restore-{id}").as_str(),
        "{report}"
    );
    assert!(entry["in_use_by"].is_null(), "{report}");
    assert_eq!(report["pending"], Value::Array(Vec::new()), "{report}");
    let table = xtask(t.paths().state(), &["old-clusters"]);
    assert_eq!(table.code, Some(0), "{table}");
    assert!(
        table.stdout.contains(&name) && table.stdout.contains("PostgreSQL 17"),
        "{table}"
    );

    // The same with the server stopped.
    t.stack.down(false, &Quiet).unwrap();
    let stopped = list(&t);
    assert_eq!(stopped["entries"], report["entries"], "{stopped}");
    t.up();

    // Without --yes: what would go, exit 1, nothing removed.
    let out = remove(&t, &[&name]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains("would remove")
            && out
                .stdout
                .contains(&format!("/var/lib/postgresql/wal/pg_wal.pre-restore-{id}")),
        "{out}"
    );
    assert_eq!(list(&t)["entries"], report["entries"]);

    // Refusals, each changing nothing.
    refused(&t, &["pgdata", "--yes"], "live data directory");
    refused(&t, &["pg_wal", "--yes"], "live WAL directory");
    refused(
        &t,
        &[&format!("{name}/.."), "--yes"],
        "not a set-aside copy",
    );
    refused(&t, &["../pgdata", "--yes"], "not a set-aside copy");
    refused(
        &t,
        &["pgdata.pre-upgrade-20200101T000000Z", "--yes"],
        "there is no set-aside copy",
    );
    let journal = t.paths().state().join("restore-journal.json");
    std::fs::write(&journal, format!(r#"{{"id":"{id}","step":"starting"}}"#)).unwrap();
    refused(&t, &[&name, "--yes"], "still refers to it");
    std::fs::write(&journal, r#"{"id":"20200101T000000Z","step":"staging"}"#).unwrap();
    refused(&t, &[&name, "--yes"], "cannot remove anything while");
    std::fs::remove_file(&journal).unwrap();
    let upgrade = t.paths().state().join("upgrade-journal.json");
    std::fs::write(&upgrade, "not json").unwrap();
    refused(&t, &[&name, "--yes"], "unfinished upgrade");
    std::fs::remove_file(&upgrade).unwrap();
    assert_eq!(list(&t)["entries"], report["entries"]);

    // Removed, both halves.
    let out = remove(&t, &[&name, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains(&format!("removed `{name}`")), "{out}");
    let after = list(&t);
    assert_eq!(after["entries"], Value::Array(Vec::new()), "{after}");

    // The live cluster is untouched.
    let status = xtask(t.paths().state(), &["status"]);
    assert_eq!(status.code, Some(0), "status after the removal:\n{status}");
    assert_eq!(rows(&t), 5000);
}
