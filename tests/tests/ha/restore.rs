//! `restore` and the other operator commands on the running cluster:
//!
//! - `audit all` and a runbook reach the leader through HAProxy;
//!   `backup verify --quick` restores the newest set into a throwaway.
//! - `restore` without `--yes` prints its plan (every node named) and exits 1.
//! - A restore that fails after the restored node leads (an injected fault
//!   before the promotion is accepted) rolls back: every node's data is back,
//!   rows written after the target time included, and the cluster settles
//!   with one leader and two streaming replicas.
//! - A restore that fails with every node stopped, before any data is set
//!   aside, removes what it staged and starts the nodes again on their data.
//! - A restore killed after every node's data was set aside is rolled back by
//!   the next `up`.
//! - `restore --target-time T --yes` brings the cluster back to T: the rows
//!   written after T are gone on every node, the ones before are there, the
//!   replicas were rebuilt from the restored node (equal content, a new
//!   timeline), writes go through HAProxy, and the old data is kept aside.

use std::time::Duration;

use core_data_runbook::engine::Grants;
use core_data_tests::{compile_script, run_runbook, xtask, xtask_env, TestStack};

use crate::cluster::{leader, node_sql, status_json, wait_settled};

const NODES: [&str; 3] = ["pg1", "pg2", "pg3"];
const HASH: &str = "SELECT coalesce(md5(string_agg(id::text || phase, ',' ORDER BY id)), '') \
                    FROM restore_probe";

/// The probe's content hash on every node, equal on all (after a moment for replay).
fn equal_everywhere(t: &TestStack, when: &str) -> String {
    std::thread::sleep(Duration::from_secs(2));
    let first = node_sql(t, NODES[0], HASH);
    for node in &NODES[1..] {
        assert_eq!(node_sql(t, node, HASH), first, "{node} differs {when}");
    }
    first
}

fn phases(t: &TestStack) -> String {
    t.query_one_string(
        "postgres",
        "SELECT string_agg(phase, ',' ORDER BY id) FROM restore_probe",
    )
}

/// A restore to `target` with a failure injected at `fault` exits 1 saying it
/// rolled back; the cluster settles with `everything` on every node.
fn rolled_back(t: &TestStack, target: &str, fault: &str, everything: &str) {
    let out = xtask_env(
        t.paths().state(),
        &["restore", "--target-time", target, "--yes"],
        &[("CORE_DATA_FAULT", fault)],
    );
    assert_eq!(out.code, Some(1), "{fault}: {out}");
    assert!(
        out.stderr.contains("rolled back") && out.stderr.contains("injected fault"),
        "{fault}: {out}"
    );
    wait_settled(t, Duration::from_secs(120));
    assert_eq!(
        phases(t),
        everything,
        "the rollback after {fault} did not bring the data back"
    );
    equal_everywhere(t, &format!("after the rollback from {fault}"));
}

pub(crate) fn restore(t: &TestStack) {
    let state = t.paths().state().to_owned();

    // Audits and runbooks go through HAProxy to the leader.
    let out = xtask(&state, &["audit", "all", "--format", "json"]);
    assert!(matches!(out.code, Some(0 | 1)), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("audit JSON: {e}\n{out}"));
    assert!(
        summary["reports"].as_array().is_some_and(|r| r.len() > 5),
        "{summary}"
    );
    let catalog = compile_script(
        "ha_probe.rhai",
        "/// Reads the leader.\nfn leader_check() {\n    let rows = pg::query(\"postgres\", \"SELECT pg_is_in_recovery()::text AS r\", []);\n    print(rows[0].r);\n}\n",
    );
    let ran = run_runbook(&t.stack, &catalog, "leader_check", &[], Grants::default());
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(ran.stdout.contains("ha_probe.rhai:4: false"), "{ran}");

    // Rows before the target time, a base backup, rows after it.
    t.sql(
        "postgres",
        "CREATE TABLE restore_probe (id bigserial PRIMARY KEY, phase text NOT NULL); \
         INSERT INTO restore_probe (phase) SELECT 'before' FROM generate_series(1, 50)",
    );
    let out = xtask(&state, &["backup"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = xtask(&state, &["backup", "verify", "--quick"]);
    assert_eq!(out.code, Some(0), "{out}");
    t.sql(
        "postgres",
        "INSERT INTO restore_probe (phase) SELECT 'before' FROM generate_series(1, 50)",
    );
    std::thread::sleep(Duration::from_secs(2));
    let target = t.query_one_string(
        "postgres",
        "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'",
    );
    std::thread::sleep(Duration::from_secs(2));
    t.sql(
        "postgres",
        "INSERT INTO restore_probe (phase) SELECT 'after' FROM generate_series(1, 25)",
    );
    let everything = phases(t);
    let first = leader(t);

    // The plan names every node and changes nothing.
    let out = xtask(&state, &["restore", "--target-time", &target]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains("on the `ha` topology (pg1, pg2, pg3)")
            && out.stdout.contains(&format!("start {first} alone")),
        "{out}"
    );

    // A failure once the restored node leads rolls every node back.
    rolled_back(t, &target, "ha-restore:before-promotion", &everything);
    println!("ha: restore failed before its promotion and rolled back; {first} leads again");
    assert_eq!(leader(t), first);

    // A failure with every node stopped, before any data was set aside: the
    // staged copy goes and the nodes start again on their own data.
    rolled_back(t, &target, "ha-restore:after-stop", &everything);
    for node in NODES {
        let listing = t
            .stack
            .docker
            .exec(
                &t.stack.config.container_name(node),
                &[
                    "ls",
                    "-A",
                    "/var/lib/postgresql/data",
                    "/var/lib/postgresql/wal",
                ],
                None,
            )
            .unwrap();
        assert_eq!(listing.exit_code, 0, "{node}: {}", listing.stderr);
        assert!(
            !listing.stdout.contains("restore-"),
            "{node} kept a restore's directory after the rollback:\n{}",
            listing.stdout
        );
    }
    println!("ha: restore failed with every node stopped and rolled back; nothing staged is left");

    // Killed with every node's data set aside: the next `up` rolls it back.
    let out = xtask_env(
        &state,
        &["restore", "--target-time", &target, "--yes"],
        &[("CORE_DATA_FAULT", "ha-restore:after-set-aside:kill")],
    );
    assert_eq!(out.code, None, "the restore was not killed: {out}");
    assert!(
        t.paths().state().join("ha-restore-journal.json").exists(),
        "a killed restore left no journal"
    );
    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr.contains("was rolled back") || out.stdout.contains("was rolled back"),
        "{out}"
    );
    wait_settled(t, Duration::from_secs(120));
    assert_eq!(phases(t), everything, "`up` did not bring the data back");
    equal_everywhere(t, "after `up` rolled the killed restore back");

    // The restore itself.
    let timeline_before = status_json(t)["members"][0]["timeline"].as_u64().unwrap();
    let started = std::time::Instant::now();
    let out = xtask(&state, &["restore", "--target-time", &target, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    println!(
        "ha: restore to a point in time with every replica rebuilt took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.stdout.contains("every replica streams from it"),
        "{out}"
    );
    assert!(out.stdout.contains("previous data kept at"), "{out}");
    wait_settled(t, Duration::from_secs(120));
    let restored = phases(t);
    assert!(
        !restored.contains("after") && restored.matches("before").count() == 100,
        "the cluster is not at the target time: {restored}"
    );
    equal_everywhere(t, "after the restore");
    let json = status_json(t);
    for member in json["members"].as_array().unwrap() {
        assert!(
            member["timeline"].as_u64().unwrap() > timeline_before,
            "{member} is not on a new timeline: {json}"
        );
    }
    t.sql(
        "postgres",
        "INSERT INTO restore_probe (phase) VALUES ('written after the restore')",
    );
    equal_everywhere(t, "after a write to the restored cluster");
}
