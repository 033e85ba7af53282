//! `restore-dump` under injected faults, through the real CLI binary: a failure
//! and a SIGKILL at every step (temporary database created, data loaded, before
//! the swap, inside the swap's transaction, after it committed) end in one of
//! two states only: the restore completed (the target hashes like the dump) or
//! the original serves with its hash unchanged. Leftovers are then cleaned by
//! `up` (or by the next restore-dump) and reported by `dump-status`; the only
//! copy of a database is renamed back, never dropped, and a database nobody
//! can account for is reported, never dropped.

use core_data_ops::backup::logical::{self, TEMP_PREFIX};
use core_data_ops::progress::Quiet;
use core_data_tests::{docker_available, xtask, xtask_env, CliOutput, TestStack};

// The faults below exist only in builds with `fault-injection`: refuse to compile without it.
const _: () = assert!(
    core_data_ops::fault::ENABLED,
    "the test crate enables `fault-injection`"
);

const POINTS: &[&str] = &["created", "loaded", "swap", "swapping", "swapped"];

#[test]
fn restore_dump_survives_a_fault_at_every_step() {
    if !docker_available("restore_dump_survives_a_fault_at_every_step") {
        return;
    }
    let t = TestStack::new("faultslog", 200);
    t.up();
    let state = t.paths().state().to_owned();
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute(
            "CREATE TABLE ledger (id bigserial PRIMARY KEY, note text NOT NULL);
             INSERT INTO ledger (note) SELECT 'row ' || g FROM generate_series(1, 3000) g;",
        )
        .unwrap();
    let dump = logical::dump(&t.stack, "app", None, &Quiet)
        .unwrap_or_else(|err| panic!("dump: {err:#}"))
        .path;
    let dumped = hash(&t);

    for point in POINTS {
        for kill in [false, true] {
            let spec = if kill {
                format!("restore-dump:{point}:kill")
            } else {
                format!("restore-dump:{point}")
            };
            // A state distinct from the dump's, so the two outcomes can be told apart.
            t.stack
                .connect("app")
                .unwrap()
                .execute("INSERT INTO ledger (note) VALUES ($1)", &[&spec])
                .unwrap();
            let before = hash(&t);
            assert_ne!(before, dumped);
            let out = restore(&state, &dump, &spec);
            let after = hash(&t);
            eprintln!("{:>12} {spec}: exit {:?}", "Injected", out.code);
            let completed = after == dumped;
            assert!(
                completed || after == before,
                "{spec}: `app` is neither the dump's content nor the original\n{out}"
            );
            // Before the commit the original must stay; from the commit on the restore stands.
            let committed = *point == "swapped";
            assert_eq!(completed, committed, "{spec}\n{out}");
            if kill {
                assert_eq!(out.code, None, "killed by SIGKILL\n{out}");
            } else if committed {
                assert_eq!(out.code, Some(0), "{spec}: the restore completed\n{out}");
                assert!(
                    out.stdout
                        .contains("warning: the previous `app` is still there"),
                    "{out}"
                );
            } else {
                assert_eq!(out.code, Some(1), "{out}");
                assert!(out.stderr.contains("injected fault"), "{out}");
                assert!(
                    leftovers(&t).is_empty(),
                    "{spec}: a failed run cleans up after itself: {:?}",
                    leftovers(&t)
                );
            }

            if kill && *point == "loaded" {
                // Reported by dump-status, then swept by the next restore-dump.
                let status = xtask(&state, &["dump-status"]);
                assert_eq!(status.code, Some(1), "{status}");
                assert!(
                    status
                        .stdout
                        .contains("an unfinished restore-dump into `app`"),
                    "{status}"
                );
                let next = restore(&state, &dump, "");
                assert_eq!(next.code, Some(0), "{next}");
                assert!(next.stderr.contains("Dropped"), "{next}");
                assert_eq!(hash(&t), dumped);
                assert!(leftovers(&t).is_empty(), "{:?}", leftovers(&t));
                continue;
            }
            if !leftovers(&t).is_empty() {
                let up = xtask(&state, &["up"]);
                assert_eq!(up.code, Some(0), "{up}");
                assert!(up.stderr.contains("Dropped"), "{up}");
                assert!(
                    leftovers(&t).is_empty(),
                    "{spec}: `up` cleans what is safe to clean: {:?}",
                    leftovers(&t)
                );
                assert_eq!(hash(&t), after, "`up` leaves `app` as it found it");
            }
        }
    }

    only_copy_is_renamed_back(&t, &state, &dump);
    unknown_leftovers_are_reported_not_dropped(&t, &state);
}

/// The replaced database, marked `old`, whose target then disappears: the only copy.
fn only_copy_is_renamed_back(t: &TestStack, state: &camino::Utf8Path, dump: &camino::Utf8Path) {
    let mut client = t.stack.connect("app").unwrap();
    client
        .batch_execute("INSERT INTO ledger (note) VALUES ('the only copy')")
        .unwrap();
    drop(client);
    let original = hash(t);
    let out = restore(state, dump, "restore-dump:swapped:kill");
    assert_eq!(out.code, None, "{out}");
    let left = leftovers(t);
    assert_eq!(left.len(), 1, "{left:?}");
    let mut admin = t.stack.connect("postgres").unwrap();
    admin
        .batch_execute("DROP DATABASE app WITH (FORCE)")
        .unwrap();
    let status = xtask(state, &["dump-status"]);
    assert!(
        status.stdout.contains("the only copy of `app`") && status.stdout.contains("RENAME TO"),
        "{status}"
    );
    let up = xtask(state, &["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert!(up.stderr.contains("Renamed back"), "{up}");
    assert_eq!(hash(t), original, "the only copy is back under its name");
    assert!(leftovers(t).is_empty(), "{:?}", leftovers(t));
}

fn unknown_leftovers_are_reported_not_dropped(t: &TestStack, state: &camino::Utf8Path) {
    let mut admin = t.stack.connect("postgres").unwrap();
    let name = format!("{TEMP_PREFIX}old_deadbeef");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let up = xtask(state, &["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert!(
        up.stderr
            .contains(&format!("`{name}`: left by an interrupted restore-dump")),
        "{up}"
    );
    assert_eq!(
        leftovers(t),
        vec![name.clone()],
        "never dropped without a record"
    );
    let status = xtask(state, &["dump-status"]);
    assert_eq!(status.code, Some(1), "{status}");
    assert!(
        status.stdout.contains(&format!("drop-db {name} --yes")),
        "{status}"
    );
    admin
        .batch_execute(&format!("DROP DATABASE {name}"))
        .unwrap();
}

fn restore(state: &camino::Utf8Path, dump: &camino::Utf8Path, fault: &str) -> CliOutput {
    xtask_env(
        state,
        &["restore-dump", dump.as_str(), "app", "--yes"],
        &[("CORE_DATA_FAULT", fault)],
    )
}

fn hash(t: &TestStack) -> String {
    t.query_one_string(
        "app",
        "SELECT count(*)::text || ':' || md5(string_agg(id || '|' || note, E'\\n' ORDER BY id)) FROM ledger",
    )
}

fn leftovers(t: &TestStack) -> Vec<String> {
    let mut admin = t.stack.connect("postgres").unwrap();
    admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1",
            &[&TEMP_PREFIX],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}
