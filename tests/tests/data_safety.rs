//! The data path under stress, on real stacks: every acknowledged commit
//! survives a restore to the latest point and a `kill -9` of the server; the
//! entrypoint refuses (and leaves the data untouched) when PG_VERSION is gone,
//! when the data belongs to another cluster than the repository, and when the
//! data volume is empty next to an existing repository; archiving failures
//! make the server unhealthy and show in `status`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use core_data_ops::backup::oneshot::{self, Mount};
use core_data_ops::backup::physical::{self, Kind};
use core_data_ops::backup::restore;
use core_data_ops::progress::Quiet;
use core_data_tests::{docker_available, xtask, TestStack};

/// Inserts consecutive ids, one autocommit transaction each, until stopped or
/// the server goes away; returns every id whose commit was acknowledged.
fn writer(t: &TestStack, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<i64>> {
    let mut client = t.stack.connect("app").unwrap();
    std::thread::spawn(move || {
        let mut acknowledged = Vec::new();
        let mut id = 0_i64;
        while !stop.load(Ordering::Relaxed) {
            id += 1;
            match client.execute("INSERT INTO acks (id) VALUES ($1)", &[&id]) {
                Ok(_) => acknowledged.push(id),
                Err(_) => break,
            }
        }
        acknowledged
    })
}

fn missing(t: &TestStack, acknowledged: &[i64]) -> i64 {
    let mut client = t.stack.connect("app").unwrap();
    client
        .query_one(
            "SELECT count(*) FROM unnest($1::bigint[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM acks WHERE acks.id = a.id)",
            &[&acknowledged],
        )
        .unwrap()
        .get(0)
}

#[test]
fn acknowledged_commits_survive_restore_to_latest_and_kill_9() {
    if !docker_available("acknowledged_commits_survive_restore_to_latest_and_kill_9") {
        return;
    }
    let t = TestStack::new("acks", 192);
    t.up();
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute("CREATE TABLE acks (id bigint PRIMARY KEY)")
        .unwrap();
    physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap();

    // A client writes until the restore stops the server; the restore then replays everything.
    let stop = Arc::new(AtomicBool::new(false));
    let handle = writer(&t, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let options = restore::Options {
        discard_old: true,
        ..restore::Options::default()
    };
    let report = restore::restore(&t.stack, &options, &Quiet)
        .unwrap_or_else(|err| panic!("restore to the latest point failed: {err:#}"));
    stop.store(true, Ordering::Relaxed);
    let acknowledged = handle.join().unwrap();
    assert!(
        acknowledged.len() > 200,
        "the writer made too few commits to prove anything: {}",
        acknowledged.len()
    );
    assert_eq!(
        missing(&t, &acknowledged),
        0,
        "every commit acknowledged before the restore stopped the server must be present ({} acknowledged, restore of {})",
        acknowledged.len(),
        report.set.label
    );

    // kill -9 of the server under the same kind of workload.
    let stop = Arc::new(AtomicBool::new(false));
    let handle = writer(&t, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    t.stack.docker.kill(&t.stack.container(), "KILL").unwrap();
    let acknowledged_before_kill = handle.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let out = xtask(t.paths().state(), &["up"]);
    assert_eq!(out.code, Some(0), "`up` after kill -9:\n{out}");
    assert_eq!(
        missing(&t, &acknowledged_before_kill),
        0,
        "kill -9 lost acknowledged commits"
    );
}

fn hash(t: &TestStack) -> String {
    t.query_one_string(
        "app",
        "SELECT count(*) || ':' || md5(COALESCE(string_agg(id::text || note, ',' ORDER BY id), '')) FROM safe",
    )
}

/// Runs `argv` in a one-shot container on the stack's volumes (stack stopped).
fn on_volumes(t: &TestStack, argv: &[&str]) -> String {
    let mounts = [
        Mount::volume(
            oneshot::volume_name(&t.stack, "pgdata"),
            "/var/lib/postgresql/data",
            false,
        ),
        Mount::volume(
            oneshot::volume_name(&t.stack, "pgwal"),
            "/var/lib/postgresql/wal",
            false,
        ),
        Mount::volume(
            oneshot::volume_name(&t.stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            false,
        ),
        oneshot::conf_mount(&t.stack),
    ];
    oneshot::run(&t.stack, &mounts, argv[0], &argv[1..])
        .unwrap_or_else(|err| panic!("`{}` failed: {err:#}", argv.join(" ")))
}

fn stop(t: &TestStack) {
    t.stack.compose().run(&["stop"]).unwrap();
}

/// `up` must fail, showing the entrypoint's refusal; the container is then stopped again.
fn up_refuses(t: &TestStack, expected: &str) {
    let out = xtask(t.paths().state(), &["up"]);
    assert_eq!(out.code, Some(1), "`up` must refuse:\n{out}");
    assert!(
        out.stderr.contains(expected),
        "`up` must show `{expected}`:\n{out}"
    );
    assert!(!out.stdout.contains("is up"), "{out}");
    stop(t);
}

#[test]
fn the_entrypoint_never_guesses_and_archiving_failures_show() {
    if !docker_available("the_entrypoint_never_guesses_and_archiving_failures_show") {
        return;
    }
    let mut t = TestStack::new("entrypoint", 193);
    t.set("HEALTH_ARCHIVE_FAILURE_GRACE_SECONDS", "5");
    t.up();
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute(
            "CREATE TABLE safe (id int PRIMARY KEY, note text);
             INSERT INTO safe SELECT g, md5(g::text) FROM generate_series(1, 1000) g;",
        )
        .unwrap();
    physical::backup(&t.stack, Some(Kind::Full), &Quiet).unwrap();
    let before = hash(&t);

    archiving_failure_is_unhealthy(&t);

    // PG_VERSION missing, then empty: refused, data untouched.
    stop(&t);
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/data/pgdata/PG_VERSION",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.hidden",
        ],
    );
    up_refuses(&t, "PG_VERSION is missing or empty");
    on_volumes(
        &t,
        &[
            "cp",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.hidden",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.saved",
        ],
    );
    on_volumes(
        &t,
        &[
            "truncate",
            "--size=0",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.hidden",
        ],
    );
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.hidden",
            "/var/lib/postgresql/data/pgdata/PG_VERSION",
        ],
    );
    up_refuses(&t, "PG_VERSION is missing or empty");
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/data/pgdata/PG_VERSION.saved",
            "/var/lib/postgresql/data/pgdata/PG_VERSION",
        ],
    );
    t.up();
    assert_eq!(
        hash(&t),
        before,
        "the data must be untouched after the refusals"
    );

    // Another cluster's data next to this repository: refused by the stanza check.
    stop(&t);
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/data/pgdata",
            "/var/lib/postgresql/data/pgdata.mine",
        ],
    );
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/wal/pg_wal",
            "/var/lib/postgresql/wal/pg_wal.mine",
        ],
    );
    on_volumes(
        &t,
        &[
            "initdb",
            "--pgdata=/var/lib/postgresql/data/pgdata",
            "--waldir=/var/lib/postgresql/wal/pg_wal",
            "--username=postgres",
            "--auth=trust",
            "--no-sync",
        ],
    );
    up_refuses(&t, "does not match this cluster");
    on_volumes(
        &t,
        &[
            "rm",
            "-rf",
            "/var/lib/postgresql/data/pgdata",
            "/var/lib/postgresql/wal/pg_wal",
        ],
    );
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/data/pgdata.mine",
            "/var/lib/postgresql/data/pgdata",
        ],
    );
    on_volumes(
        &t,
        &[
            "mv",
            "/var/lib/postgresql/wal/pg_wal.mine",
            "/var/lib/postgresql/wal/pg_wal",
        ],
    );
    t.up();
    assert_eq!(hash(&t), before, "this cluster's data must be untouched");

    // Empty data volumes next to the repository: refused; `--new-cluster --yes` is the explicit way.
    t.stack.down(false, &Quiet).unwrap();
    for volume in ["pgdata", "pgwal"] {
        t.stack
            .docker
            .remove_volume(&oneshot::volume_name(&t.stack, volume))
            .unwrap();
    }
    up_refuses(&t, "holds stanza `main` of an existing cluster");
    let out = xtask(t.paths().state(), &["up", "--new-cluster"]);
    assert_eq!(out.code, Some(1), "`--new-cluster` needs `--yes`:\n{out}");
    let out = xtask(t.paths().state(), &["up", "--new-cluster", "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    let tables = t.query_one_string(
        "app",
        "SELECT count(*)::text FROM pg_tables WHERE tablename = 'safe'",
    );
    assert_eq!(tables, "0", "the new cluster is empty");
    physical::check(&t.stack)
        .unwrap_or_else(|err| panic!("archiving into the taken-over stanza: {err:#}"));
    // And `--new-cluster` refuses volumes that hold data.
    let out = xtask(t.paths().state(), &["up", "--new-cluster", "--yes"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("only on empty volumes"), "{out}");
}

/// Archiving into a repository directory the server cannot write: unhealthy after the
/// grace, `status` says so and exits 1; healthy again once it is fixed.
fn archiving_failure_is_unhealthy(t: &TestStack) {
    // pgBackRest writes into per-timeline subdirectories: make every one of them read-only.
    let chmod = |mode: &str| {
        let out = t
            .stack
            .docker
            .exec(
                &t.stack.container(),
                &[
                    "find",
                    "/var/lib/pgbackrest/archive/main",
                    "-mindepth",
                    "1",
                    "-type",
                    "d",
                    "-exec",
                    "chmod",
                    mode,
                    "{}",
                    "+",
                ],
                None,
            )
            .unwrap();
        assert_eq!(out.exit_code, 0, "{out:?}");
    };
    chmod("0500");
    let mut client = t.stack.connect("app").unwrap();
    client
        .batch_execute("INSERT INTO safe VALUES (100000, 'wal'); SELECT pg_switch_wal()")
        .unwrap();
    let started = Instant::now();
    loop {
        let health = t
            .stack
            .docker
            .health(&t.stack.container())
            .unwrap()
            .unwrap_or_default();
        if health == "unhealthy" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "archiving has failed for 2 minutes but the server is `{health}`"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let log = t
        .stack
        .docker
        .health_log(&t.stack.container())
        .unwrap()
        .join("\n");
    assert!(log.contains("stage 4: WAL archiving is failing"), "{log}");
    let status = xtask(t.paths().state(), &["status"]);
    assert_eq!(status.code, Some(1), "{status}");
    assert!(status.stdout.contains("WAL archiving: FAILING"), "{status}");

    chmod("0750");
    let started = Instant::now();
    while t
        .stack
        .docker
        .health(&t.stack.container())
        .unwrap()
        .as_deref()
        != Some("healthy")
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "archiving works again but the server stays unhealthy"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let status = xtask(t.paths().state(), &["status"]);
    assert_eq!(status.code, Some(0), "{status}");
    assert!(status.stdout.contains("WAL archiving: ok"), "{status}");
    client
        .batch_execute("DELETE FROM safe WHERE id = 100000")
        .unwrap();
}
