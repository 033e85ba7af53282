//! Fault injection on the restore path, through the real CLI binary (built
//! with the `fault-injection` feature): at every step a failure or a SIGKILL
//! ends in exactly one of two states, checked by a content hash: the restore
//! completed, or the original cluster serves exactly as before. A bad
//! `--target-time` changes nothing and never stops the server.

use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::progress::Quiet;

use core_data_tests::{
    docker_available, finish, xtask, xtask_command, xtask_env, CliOutput, TestStack,
};

// The faults below exist only in builds with `fault-injection`: refuse to compile without it.
const _: () = assert!(
    core_data_ops::fault::ENABLED,
    "the test crate enables fault injection"
);

/// Every fault point of `restore`, in order, and what a failure there must leave.
const POINTS: &[(&str, Outcome)] = &[
    ("restore:before-pgbackrest", Outcome::Untouched),
    ("restore:after-pgbackrest", Outcome::Untouched),
    ("restore:after-stop", Outcome::Original),
    ("restore:after-wal-copy", Outcome::Original),
    ("restore:after-set-aside", Outcome::Original),
    ("restore:after-swap", Outcome::Original),
    ("restore:after-start", Outcome::Original),
    ("restore:before-promotion", Outcome::Original),
    ("restore:after-promotion", Outcome::Restored),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The original cluster, and the server was never stopped.
    Untouched,
    /// The original cluster (rolled back).
    Original,
    /// The restored backup.
    Restored,
}

/// A hash of the marker table, its row count and the server's identity.
fn content(t: &TestStack) -> String {
    t.query_one_string(
        "app",
        "SELECT count(*) || ':' || md5(COALESCE(string_agg(id || '=' || note, ',' ORDER BY id), '')) FROM marks",
    )
}

fn started_at(t: &TestStack) -> String {
    t.stack
        .docker
        .inspect_container(&t.stack.container())
        .unwrap()
        .and_then(|inspect| inspect.state)
        .and_then(|state| state.started_at)
        .unwrap_or_default()
}

fn mark(t: &TestStack, note: &str) {
    let mut client = t.stack.connect("app").unwrap();
    client
        .execute("INSERT INTO marks (note) VALUES ($1)", &[&note])
        .unwrap();
}

/// A stack with data, one full backup, and writes after it; returns the backup's label
/// and the content the backup holds.
fn prepared(name: &str, subnet: u8) -> (TestStack, String, String) {
    let t = TestStack::new(name, subnet);
    t.up();
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute(
            "CREATE TABLE marks (id serial PRIMARY KEY, note text NOT NULL);
             INSERT INTO marks (note) SELECT 'seed ' || g FROM generate_series(1, 500) g;",
        )
        .unwrap();
    let set = physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap_or_else(|err| {
        let logs = t
            .stack
            .docker
            .logs_tail(&t.stack.container(), 60)
            .unwrap_or_default();
        panic!(
            "the backup failed: {err:#}
server log:
{}",
            logs.join("\n")
        )
    });
    let in_backup = content(&t);
    mark(&t, "after the backup");
    (t, set.label, in_backup)
}

/// No staging or set-aside directories, no journal and no workspace container are left.
fn assert_clean(t: &TestStack, context: &str) {
    assert!(
        !t.paths().state().join("restore-journal.json").exists(),
        "{context}: the host journal must be gone"
    );
    let leftovers = t
        .stack
        .docker
        .containers_labelled(&[
            format!("org.core-data.project={}", t.stack.config.project()),
            "org.core-data.role=restore-workspace".to_owned(),
        ])
        .unwrap();
    // The check itself runs no workspace; any left is a leak.
    assert!(
        leftovers.is_empty(),
        "{context}: workspace containers left: {leftovers:?}"
    );
    let listing = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &[
                "find",
                "/var/lib/postgresql/data",
                "/var/lib/postgresql/wal",
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
            ],
            None,
        )
        .unwrap()
        .stdout;
    let mut entries: Vec<&str> = listing.lines().collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        vec![
            // The server's socket directory (postgresql.conf), made by the entrypoint.
            "/var/lib/postgresql/data/core_data.sockets",
            "/var/lib/postgresql/data/pgdata",
            "/var/lib/postgresql/wal/pg_wal"
        ],
        "{context}: only the live directories remain in the volumes"
    );
}

fn check_outcome(t: &TestStack, expected: Outcome, before: &str, in_backup: &str, context: &str) {
    let now = content(t);
    match expected {
        Outcome::Untouched | Outcome::Original => {
            assert_eq!(
                now, before,
                "{context}: the original cluster must serve exactly as before"
            );
        }
        Outcome::Restored => {
            assert_eq!(now, in_backup, "{context}: the restore must have completed");
        }
    }
    assert_eq!(
        t.stack
            .docker
            .health_now(&t.stack.container())
            .unwrap()
            .as_deref(),
        Some("healthy"),
        "{context}"
    );
    assert_clean(t, context);
}

fn restore_cli(t: &TestStack, set: &str, fault: Option<&str>) -> CliOutput {
    let args = ["restore", "--set", set, "--discard-old", "--yes"];
    match fault {
        Some(fault) => xtask_env(t.paths().state(), &args, &[("CORE_DATA_FAULT", fault)]),
        None => xtask(t.paths().state(), &args),
    }
}

#[test]
fn a_failure_at_any_restore_step_rolls_back_or_completes() {
    if !docker_available("a_failure_at_any_restore_step_rolls_back_or_completes") {
        return;
    }
    let (t, set, in_backup) = prepared("faults_fail", 190);

    // Bad target times: refused before anything changes; the server is never stopped.
    let before = content(&t);
    let since = started_at(&t);
    for bad in [
        "yesterday",
        "now",
        "2026-11-24 07:00:00",
        "2026-13-45 07:00:00+00",
        "2999-01-01 00:00:00+00",
        "1999-01-01 00:00:00+00",
        "",
    ] {
        let out = xtask(
            t.paths().state(),
            &["restore", "--target-time", bad, "--yes"],
        );
        assert_eq!(out.code, Some(1), "`{bad}` must fail:\n{out}");
        assert!(
            out.stderr.contains("target time"),
            "`{bad}`: the message names the target time:\n{out}"
        );
        assert_eq!(content(&t), before, "`{bad}` changed the data");
        assert_eq!(started_at(&t), since, "`{bad}` restarted the server");
        assert_clean(&t, bad);
    }
    // Without --yes: the plan names the set, and nothing changes.
    let plan = xtask(t.paths().state(), &["restore", "--set", &set]);
    assert_eq!(plan.code, Some(1), "{plan}");
    assert!(
        plan.stdout.contains(&set),
        "the plan names the set:\n{plan}"
    );
    assert_eq!(started_at(&t), since);

    for (index, (point, expected)) in POINTS.iter().enumerate() {
        mark(&t, &format!("before {point}"));
        let before = content(&t);
        let since = started_at(&t);
        let out = restore_cli(&t, &set, Some(point));
        assert_eq!(
            out.code,
            Some(1),
            "{point}: the injected failure must fail the command:\n{out}"
        );
        assert!(
            out.stderr.contains(&format!("injected fault at `{point}`")),
            "{point}: the cause is shown:\n{out}"
        );
        match expected {
            Outcome::Untouched => {
                assert!(
                    out.stderr.contains("nothing was changed"),
                    "{point}:\n{out}"
                );
                assert_eq!(
                    started_at(&t),
                    since,
                    "{point}: the server must not have been stopped"
                );
            }
            Outcome::Original => {
                assert!(
                    out.stderr.contains("rolled back: your data is as it was"),
                    "{point}:\n{out}"
                );
            }
            Outcome::Restored => {
                assert!(out.stderr.contains("completed"), "{point}:\n{out}");
                // The journal is past the point of no return: `up` finishes the rest.
                let up = xtask(t.paths().state(), &["up"]);
                assert_eq!(up.code, Some(0), "{point}: up after the failure:\n{up}");
            }
        }
        check_outcome(
            &t,
            *expected,
            &before,
            &in_backup,
            &format!("fail at {point} (case {index})"),
        );
    }

    // And without a fault the same command restores.
    mark(&t, "before the clean restore");
    let out = restore_cli(&t, &set, None);
    assert_eq!(out.code, Some(0), "{out}");
    check_outcome(&t, Outcome::Restored, "", &in_backup, "clean restore");

    mutating_commands_never_interleave(&t, &set, &in_backup);
}

fn spawn(t: &TestStack, args: &[&str]) -> duct::Handle {
    xtask_command(t.paths().state(), args).start().unwrap()
}

/// A restore and a backup, then two restores, started together: the second of each
/// pair waits for the first (and says for whom), and both complete as if run in turn.
fn mutating_commands_never_interleave(t: &TestStack, set: &str, in_backup: &str) {
    let sets_before = physical::info(&t.stack).unwrap().len();
    mark(t, "before restore + backup");
    let restore = spawn(t, &["restore", "--set", set, "--discard-old", "--yes"]);
    let backup = spawn(t, &["backup", "--type", "incr"]);
    let (restore, backup) = (finish(restore), finish(backup));
    assert_eq!(
        (restore.code, backup.code),
        (Some(0), Some(0)),
        "{restore}\n{backup}"
    );
    let waited = [&restore, &backup]
        .iter()
        .filter(|out| out.stderr.contains("Waiting for "))
        .count();
    assert_eq!(
        waited, 1,
        "exactly one waits for the other:\n{restore}\n{backup}"
    );
    assert_eq!(
        physical::info(&t.stack).unwrap().len(),
        sets_before + 1,
        "the backup was taken"
    );
    // In either order the restored set is what serves: a backup changes no data.
    check_outcome(t, Outcome::Restored, "", in_backup, "restore + backup");

    mark(t, "before two restores");
    let first = spawn(t, &["restore", "--set", set, "--discard-old", "--yes"]);
    let second = spawn(t, &["restore", "--set", set, "--discard-old", "--yes"]);
    let (first, second) = (finish(first), finish(second));
    assert_eq!(
        (first.code, second.code),
        (Some(0), Some(0)),
        "{first}\n{second}"
    );
    assert!(
        [&first, &second]
            .iter()
            .filter(|out| out.stderr.contains("Waiting for "))
            .count()
            == 1,
        "exactly one restore waits for the other:\n{first}\n{second}"
    );
    check_outcome(t, Outcome::Restored, "", in_backup, "two restores");
}

#[test]
fn a_restore_killed_at_any_step_is_finished_by_the_next_up() {
    if !docker_available("a_restore_killed_at_any_step_is_finished_by_the_next_up") {
        return;
    }
    let (t, set, in_backup) = prepared("faults_kill", 191);
    for (point, expected) in POINTS {
        mark(&t, &format!("before {point}"));
        let before = content(&t);
        let fault = format!("{point}:kill");
        let out = restore_cli(&t, &set, Some(&fault));
        assert_eq!(
            out.code, None,
            "{point}: the CLI must have died by SIGKILL:\n{out}"
        );
        let up = xtask(t.paths().state(), &["up"]);
        assert_eq!(up.code, Some(0), "{point}: `up` after the kill:\n{up}");
        let now = content(&t);
        // Killed once the restored server was starting, either outcome is correct (it
        // may have promoted before `up` looked); before that, only the original.
        let allowed: Vec<&str> = match (point, expected) {
            (_, Outcome::Restored) => vec![&in_backup],
            (&"restore:after-start" | &"restore:before-promotion", _) => vec![&before, &in_backup],
            _ => vec![&before],
        };
        if !allowed.contains(&now.as_str()) {
            // The server's own account of what it recovered, and from where.
            let log = t
                .stack
                .docker
                .logs_tail(&t.stack.container(), 300)
                .unwrap_or_default()
                .join("\n");
            panic!(
                "{point}: after kill + up the data is neither the original nor the restore: {now} (original {before}, backup {in_backup})\n{up}\n--- server log\n{log}"
            );
        }
        if !up.stderr.contains("Recovered") && !up.stdout.contains("interrupted restore") {
            panic!("{point}: `up` must say that it recovered an interrupted restore:\n{up}");
        }
        assert_eq!(
            t.stack
                .docker
                .health_now(&t.stack.container())
                .unwrap()
                .as_deref(),
            Some("healthy"),
            "{point}"
        );
        assert_clean(&t, &format!("kill at {point}"));
    }
}
