//! The job queue (`async-queue install`) on the real server: install, re-run
//! and upgrade from version 1; 8 workers on their own connections and threads
//! completing 5,000 jobs exactly once; retries with growing delays into the
//! dead-letter table; a worker whose connection is terminated mid-job losing
//! its lease to another; dedup keys, NOTIFY, the metrics view and retention;
//! a producer-only login refused `dequeue`; a hostile schema name; then the
//! guards of `queue_guards`.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use core_data_ops::maintenance::queue;
use core_data_ops::secrets;
use core_data_ops::sql::quote_ident;
use core_data_tests::TestStack;
use postgres::fallible_iterator::FallibleIterator;

use super::{cli, sql, DB};

const JOBS: i32 = 5_000;
const WORKERS: usize = 8;

pub(crate) fn job_queue(t: &TestStack) {
    install_is_idempotent_and_upgrades(t);
    concurrent_installs_serialize(t);
    workers_complete_each_job_once(t);
    failures_back_off_then_dead_letter(t);
    a_killed_worker_loses_its_lease(t);
    dedup_notify_metrics_and_retention(t);
    a_producer_cannot_dequeue(t);
    names_round_trip_and_bad_ones_are_refused(t);
    super::queue_guards::queue_guards(t);
    sql(
        t,
        DB,
        "DROP TABLE public.queue_completions; DROP SCHEMA asyncq CASCADE; \
         DROP ROLE asyncq_producer, asyncq_worker;",
    );
}

fn connect(t: &TestStack) -> postgres::Client {
    t.stack
        .connect(DB)
        .unwrap_or_else(|e| panic!("connect to {DB}: {e:#}"))
}

/// Every relation and function of `schema` with what would change if it were
/// re-created: OIDs, file nodes, bodies, grants and settings.
fn objects(client: &mut postgres::Client, schema: &str) -> String {
    client
        .query_one(
            "SELECT coalesce((SELECT string_agg(format('%s %s %s %s %s', c.oid, c.relname, c.relkind, \
                 c.relfilenode, c.relacl), E'\\n' ORDER BY c.relname) \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1), '') \
             || E'\\n' || coalesce((SELECT string_agg(format('%s %s %s %s %s %s', p.oid, \
                 p.oid::regprocedure, md5(p.prosrc), p.proacl, p.proconfig, p.prosecdef), E'\\n' \
                 ORDER BY p.oid::regprocedure::text) \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1), '')",
            &[&schema],
        )
        .unwrap()
        .get(0)
}

fn version(client: &mut postgres::Client, schema: &str) -> Option<i32> {
    queue::installed_version(client, schema).unwrap()
}

fn install_is_idempotent_and_upgrades(t: &TestStack) {
    let out = cli(t, &["async-queue", "install", "--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("version 0 -> 3 (applied v1, v2, v3)"),
        "{out}"
    );
    // The install scheduled the queue's nightly retention, which runs as the jobs' role.
    assert!(
        out.stdout
            .contains("scheduled core_data_queue_purge:\"shop\".\"asyncq\" (45 3 * * *)"),
        "{out}"
    );
    let command = t.query_one_string(
        "postgres",
        "SELECT command || ' ' || username FROM cron.job WHERE jobname = 'core_data_queue_purge:\"shop\".\"asyncq\"'",
    );
    assert_eq!(
        command,
        "SELECT \"asyncq\".purge_finished('7d') core_data_maintenance"
    );
    sql(
        t,
        DB,
        "SET ROLE core_data_maintenance; SELECT \"asyncq\".purge_finished('7d'); RESET ROLE",
    );
    let mut client = connect(t);
    assert_eq!(version(&mut client, "asyncq"), Some(queue::latest()));
    let before = objects(&mut client, "asyncq");
    assert!(before.contains("dequeue(text,text,interval)"), "{before}");
    assert!(before.contains("metrics v"), "{before}");

    // Again, through the original's spelling: nothing changes.
    let out = cli(t, &["async-queue", "bootstrap", "--db", DB]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("is at version 3; nothing to do"),
        "{out}"
    );
    assert_eq!(objects(&mut client, "asyncq"), before);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM asyncq.schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 3);

    // Version 1 only (no dedup key, no metrics view), with a job waiting; then upgrade.
    let report = queue::install_to(&mut client, "asyncq_old", 1).unwrap();
    assert_eq!((report.from_version, report.to_version), (0, 1));
    let v1 = objects(&mut client, "asyncq_old");
    assert!(
        !v1.contains("metrics") && !v1.contains("purge_finished"),
        "{v1}"
    );
    assert!(
        v1.contains("enqueue(text,jsonb,integer,timestamp with time zone,integer)"),
        "{v1}"
    );
    let waiting: i64 = client
        .query_one("SELECT asyncq_old.enqueue('old', '{\"v\": 1}')", &[])
        .unwrap()
        .get(0);
    let out = cli(
        t,
        &[
            "async-queue",
            "install",
            "--db",
            DB,
            "--schema",
            "asyncq_old",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("version 1 -> 3 (applied v2, v3)"),
        "{out}"
    );
    assert_eq!(version(&mut client, "asyncq_old"), Some(3));
    let v2 = objects(&mut client, "asyncq_old");
    assert!(
        v2.contains("enqueue(text,jsonb,integer,timestamp with time zone,text,integer)"),
        "{v2}"
    );
    assert!(
        !v2.contains("enqueue(text,jsonb,integer,timestamp with time zone,integer)"),
        "{v2}"
    );
    // The job enqueued under v1 survives and is served by the upgraded schema.
    let ready: i64 = client
        .query_one(
            "SELECT ready FROM asyncq_old.metrics WHERE queue = 'old'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(ready, 1);
    let taken: i64 = client
        .query_one(
            "SELECT id FROM asyncq_old.dequeue('old', 'w', '1 minute')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, waiting);
    sql(
        t,
        DB,
        "DROP SCHEMA asyncq_old CASCADE; DROP ROLE asyncq_old_producer, asyncq_old_worker;",
    );
}

/// Two installs of a new schema at once: the advisory lock makes the second
/// find each migration applied; neither fails, each version is applied once.
fn concurrent_installs_serialize(t: &TestStack) {
    let barrier = Barrier::new(2);
    let reports: Vec<queue::InstallReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let mut client = connect(t);
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    queue::install(&mut client, "asyncq_race").unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut applied: Vec<i32> = reports.iter().flat_map(|r| r.applied.clone()).collect();
    applied.sort_unstable();
    assert_eq!(applied, vec![1, 2, 3], "{reports:?}");
    let mut client = connect(t);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM asyncq_race.schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 3);
    sql(
        t,
        DB,
        "DROP SCHEMA asyncq_race CASCADE; DROP ROLE asyncq_race_producer, asyncq_race_worker;",
    );
}

fn workers_complete_each_job_once(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.queue_completions (job_id bigint PRIMARY KEY, worker text NOT NULL)",
    );
    let mut client = connect(t);
    client
        .execute(
            "SELECT asyncq.enqueue('work', jsonb_build_object('n', g)) FROM generate_series(1, $1) g",
            &[&JOBS],
        )
        .unwrap();
    let barrier = Barrier::new(WORKERS);
    let started = Instant::now();
    let per_worker: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|n| {
                let mut client = connect(t);
                let barrier = &barrier;
                scope.spawn(move || {
                    let worker = format!("worker-{n}");
                    let mut done = 0i64;
                    barrier.wait();
                    loop {
                        let row = client
                            .query_opt(
                                "SELECT id FROM asyncq.dequeue('work', $1, '5 minutes')",
                                &[&worker],
                            )
                            .unwrap();
                        let Some(row) = row else {
                            let left: i64 = client
                                .query_one(
                                    "SELECT count(*) FROM asyncq.jobs WHERE queue = 'work'",
                                    &[],
                                )
                                .unwrap()
                                .get(0);
                            if left == 0 {
                                return done;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        };
                        let id: i64 = row.get(0);
                        // The job's effect and its completion commit together.
                        let mut tx = client.transaction().unwrap();
                        tx.execute(
                            "INSERT INTO public.queue_completions (job_id, worker) VALUES ($1, $2)",
                            &[&id, &worker],
                        )
                        .unwrap();
                        tx.execute("SELECT asyncq.complete($1, $2)", &[&id, &worker])
                            .unwrap();
                        tx.commit().unwrap();
                        done += 1;
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "queue: {JOBS} jobs by {WORKERS} workers in {:.1}s, per worker {per_worker:?}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(per_worker.iter().sum::<i64>(), i64::from(JOBS));
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "every worker took jobs: {per_worker:?}"
    );
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM public.queue_completions), \
                    (SELECT count(*) FROM asyncq.done d JOIN public.queue_completions c ON c.job_id = d.id \
                     WHERE d.queue = 'work' AND d.worker = c.worker AND d.attempts = 1), \
                    (SELECT count(DISTINCT (payload->>'n')) FROM asyncq.done WHERE queue = 'work'), \
                    (SELECT count(*) FROM asyncq.jobs)",
            &[],
        )
        .unwrap();
    let (completions, matched, distinct, left): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(completions, i64::from(JOBS));
    assert_eq!(
        matched,
        i64::from(JOBS),
        "each completion matches its done row, one attempt each"
    );
    assert_eq!(distinct, i64::from(JOBS), "every enqueued job was done");
    assert_eq!(left, 0);
}

fn failures_back_off_then_dead_letter(t: &TestStack) {
    let mut client = connect(t);
    // 100 ms base, capped at 300 ms: 100, 200, 300 (not 400), 300 (not 800), then dead.
    client
        .batch_execute(
            "INSERT INTO asyncq.queues (queue, backoff_base, backoff_cap) VALUES ('flaky', '100 ms', '300 ms')",
        )
        .unwrap();
    let id: i64 = client
        .query_one(
            "SELECT asyncq.enqueue('flaky', '{}', 0, NULL, NULL, 5)",
            &[],
        )
        .unwrap()
        .get(0);
    let mut attempt = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while attempt < 5 {
        assert!(
            Instant::now() < deadline,
            "job {id} was not handed out again"
        );
        let Some(row) = client
            .query_opt(
                "SELECT id, attempt FROM asyncq.dequeue('flaky', 'w', '1 minute')",
                &[],
            )
            .unwrap()
        else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        attempt += 1;
        assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (id, attempt));
        let next: Option<String> = client
            .query_one(
                "SELECT asyncq.fail($1, 'w', $2)::text",
                &[&id, &format!("boom {attempt}")],
            )
            .unwrap()
            .get(0);
        assert_eq!(
            next.is_none(),
            attempt == 5,
            "attempt {attempt}: next run at {next:?}"
        );
    }
    // The dead letter keeps every attempt: each retry waited its delay, and ran no earlier.
    let rows = client
        .query(
            "SELECT (e->>'attempt')::int, \
                    round(extract(epoch FROM (e->>'retry_at')::timestamptz - (e->>'failed_at')::timestamptz) * 1000)::int, \
                    (SELECT (n->>'started_at')::timestamptz >= (e->>'retry_at')::timestamptz \
                     FROM jsonb_array_elements(d.errors) n WHERE (n->>'attempt')::int = (e->>'attempt')::int + 1), \
                    d.attempts, d.last_error \
             FROM asyncq.dead d, jsonb_array_elements(d.errors) e WHERE d.id = $1 ORDER BY 1",
            &[&id],
        )
        .unwrap();
    let seen: Vec<(i32, Option<i32>, Option<bool>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, Some(100), Some(true)),
            (2, Some(200), Some(true)),
            (3, Some(300), Some(true)),
            (4, Some(300), Some(true)),
            (5, None, None),
        ]
    );
    assert_eq!(rows[0].get::<_, i32>(3), 5);
    assert_eq!(rows[0].get::<_, String>(4), "boom 5");
    let left: i64 = client
        .query_one("SELECT count(*) FROM asyncq.jobs WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

fn a_killed_worker_loses_its_lease(t: &TestStack) {
    let mut rescuer = connect(t);
    let id: i64 = rescuer
        .query_one("SELECT asyncq.enqueue('crash', '{\"step\": 1}')", &[])
        .unwrap()
        .get(0);
    let mut doomed = connect(t);
    let pid: i32 = doomed
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let row = doomed
        .query_one("SELECT id, extract(epoch FROM lease_until)::float8 FROM asyncq.dequeue('crash', 'doomed', '3 seconds')", &[])
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), id);
    let lease_until: f64 = row.get(1);
    let killed: bool = rescuer
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(killed);
    assert!(
        doomed.query_one("SELECT 1", &[]).is_err(),
        "the doomed worker's connection is gone"
    );
    // Its lease still runs: nobody else may take the job yet.
    let early = rescuer
        .query_opt(
            "SELECT id FROM asyncq.dequeue('crash', 'rescuer', '1 minute')",
            &[],
        )
        .unwrap();
    assert!(
        early.is_none(),
        "a leased job was handed out before its lease ended"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let row = loop {
        assert!(
            Instant::now() < deadline,
            "the expired lease was never recovered"
        );
        if let Some(row) = rescuer
            .query_opt(
                "SELECT id, attempt, extract(epoch FROM clock_timestamp())::float8 \
                 FROM asyncq.dequeue('crash', 'rescuer', '1 minute')",
                &[],
            )
            .unwrap()
        {
            break row;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (id, 2));
    assert!(
        row.get::<_, f64>(2) >= lease_until,
        "taken again only after the lease ended"
    );
    rescuer
        .execute("SELECT asyncq.complete($1, 'rescuer')", &[&id])
        .unwrap();
    let (worker, attempts): (String, i32) = {
        let r = rescuer
            .query_one(
                "SELECT worker, attempts FROM asyncq.done WHERE id = $1",
                &[&id],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((worker.as_str(), attempts), ("rescuer", 2));

    // A worker that hangs past its lease: `recover_expired` hands the job back and
    // its late `complete` is refused (its transaction's effects roll back).
    let id: i64 = rescuer
        .query_one("SELECT asyncq.enqueue('crash', '{\"step\": 2}')", &[])
        .unwrap()
        .get(0);
    let dead_id: i64 = rescuer
        .query_one(
            "SELECT asyncq.enqueue('crash_once', '{}', 0, NULL, NULL, 1)",
            &[],
        )
        .unwrap()
        .get(0);
    rescuer
        .query_one(
            "SELECT id FROM asyncq.dequeue('crash', 'slow', '300 ms')",
            &[],
        )
        .unwrap();
    rescuer
        .query_one(
            "SELECT id FROM asyncq.dequeue('crash_once', 'slow', '300 ms')",
            &[],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let recovered: i64 = rescuer
        .query_one("SELECT asyncq.recover_expired()", &[])
        .unwrap()
        .get(0);
    assert_eq!(recovered, 2);
    let err = rescuer
        .execute("SELECT asyncq.complete($1, 'slow')", &[&id])
        .unwrap_err();
    let message = err
        .as_db_error()
        .map(|db| db.message().to_owned())
        .unwrap_or_default();
    assert!(
        message.contains(&format!("job {id} is not leased to worker slow")),
        "{err}"
    );
    let state: String = rescuer
        .query_one("SELECT state FROM asyncq.jobs WHERE id = $1", &[&id])
        .unwrap()
        .get(0);
    assert_eq!(state, "ready");
    // A job with one attempt whose lease expired is a dead letter, not retried forever.
    let last_error: String = rescuer
        .query_one(
            "SELECT last_error FROM asyncq.dead WHERE id = $1",
            &[&dead_id],
        )
        .unwrap()
        .get(0);
    assert_eq!(last_error, "lease expired (worker slow)");
    let taken: i64 = rescuer
        .query_one(
            "SELECT id FROM asyncq.dequeue('crash', 'rescuer', '1 minute')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, id);
    let until: f64 = rescuer
        .query_one(
            "SELECT extract(epoch FROM asyncq.extend_lease($1, 'rescuer', '1 hour') - now())::float8",
            &[&id],
        )
        .unwrap()
        .get(0);
    assert!((until - 3600.0).abs() < 1.0, "{until}");
    rescuer
        .execute("SELECT asyncq.complete($1, 'rescuer')", &[&id])
        .unwrap();
}

fn dedup_notify_metrics_and_retention(t: &TestStack) {
    let mut client = connect(t);
    // NOTIFY on the queue's own channel, whatever its name.
    let mut listener = connect(t);
    listener
        .batch_execute(&format!("LISTEN {}", quote_ident("Notify Me")))
        .unwrap();
    let id: i64 = client
        .query_one("SELECT asyncq.enqueue('Notify Me', '{}')", &[])
        .unwrap()
        .get(0);
    let note = listener
        .notifications()
        .timeout_iter(Duration::from_secs(10))
        .next()
        .unwrap()
        .expect("a notification for the new job");
    assert_eq!(
        (note.channel(), note.payload()),
        ("Notify Me", id.to_string().as_str())
    );

    // A dedup key still pending returns the waiting job; once done it is free again.
    let enqueue = "SELECT asyncq.enqueue('dedup', '{}', 0, NULL, 'key-1')";
    let first: i64 = client.query_one(enqueue, &[]).unwrap().get(0);
    let again: i64 = client.query_one(enqueue, &[]).unwrap().get(0);
    assert_eq!(first, again);
    let taken: i64 = client
        .query_one(
            "SELECT id FROM asyncq.dequeue('dedup', 'w', '1 minute')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, first);
    let running: i64 = client.query_one(enqueue, &[]).unwrap().get(0);
    assert_eq!(running, first, "a running job still holds its key");
    client
        .execute("SELECT asyncq.complete($1, 'w')", &[&first])
        .unwrap();
    let later: i64 = client.query_one(enqueue, &[]).unwrap().get(0);
    assert_ne!(later, first);

    // Metrics: depth by state, the oldest ready job's age, throughput.
    client
        .batch_execute(
            "SELECT asyncq.enqueue('dedup', '{}', 0, now() + interval '1 hour'); \
             UPDATE asyncq.jobs SET run_at = now() - interval '10 minutes' WHERE id IN \
               (SELECT id FROM asyncq.jobs WHERE queue = 'dedup' AND dedup_key = 'key-1')",
        )
        .unwrap();
    let row = client
        .query_one(
            "SELECT ready, scheduled, running, dead, extract(epoch FROM oldest_ready_age)::float8, \
                    completed_last_minute, completed_last_hour FROM asyncq.metrics WHERE queue = 'dedup'",
            &[],
        )
        .unwrap();
    let (ready, scheduled, running, dead): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((ready, scheduled, running, dead), (1, 1, 0, 0));
    assert!(row.get::<_, f64>(4) >= 600.0);
    assert_eq!((row.get::<_, i64>(5), row.get::<_, i64>(6)), (1, 1));
    let (work_done, flaky_dead): (i64, i64) = {
        let r = client
            .query_one(
                "SELECT (SELECT completed_last_hour FROM asyncq.metrics WHERE queue = 'work'), \
                        (SELECT dead FROM asyncq.metrics WHERE queue = 'flaky')",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((work_done, flaky_dead), (i64::from(JOBS), 1));
    let out = cli(
        t,
        &["async-queue", "status", "--db", DB, "--format", "json"],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("status is JSON");
    assert_eq!(status["version"], queue::latest(), "{status}");
    assert!(
        status["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "work" && q["completed_last_hour"] == i64::from(JOBS)),
        "{status}"
    );

    // Retention deletes finished rows older than the interval, nothing newer.
    client
        .execute(
            "UPDATE asyncq.done SET finished_at = now() - interval '2 days' WHERE queue = 'work'",
            &[],
        )
        .unwrap();
    let kept_before: i64 = client
        .query_one(
            "SELECT count(*) FROM asyncq.done WHERE queue <> 'work'",
            &[],
        )
        .unwrap()
        .get(0);
    let purged: i64 = client
        .query_one("SELECT asyncq.purge_finished('1 day')", &[])
        .unwrap()
        .get(0);
    assert_eq!(purged, i64::from(JOBS));
    let kept: i64 = client
        .query_one("SELECT count(*) FROM asyncq.done", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, kept_before);
    assert!(kept > 0);
}

fn a_producer_cannot_dequeue(t: &TestStack) {
    let login = "queue_app_login";
    let out = cli(t, &["create-user", login]);
    assert_eq!(out.code, Some(0), "{out}");
    let password = secrets::read(&secrets::role_password_file(t.paths(), login)).unwrap();
    let denied = |client: &mut postgres::Client, statement: &str| {
        let err = client.query(statement, &[]).unwrap_err();
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{statement}: {err}"));
        assert_eq!(db.code().code(), "42501", "{statement}: {}", db.message());
    };
    let mut app = t.stack.connect_as(login, &password, DB).unwrap();
    // Nothing granted: not even enqueue.
    denied(&mut app, "SELECT asyncq.enqueue('perm', '{}')");
    sql(
        t,
        DB,
        &format!("GRANT asyncq_producer TO {}", quote_ident(login)),
    );
    let mut app = t.stack.connect_as(login, &password, DB).unwrap();
    let id: i64 = app
        .query_one("SELECT asyncq.enqueue('perm', '{}')", &[])
        .unwrap()
        .get(0);
    denied(
        &mut app,
        "SELECT * FROM asyncq.dequeue('perm', 'x', '1 minute')",
    );
    denied(&mut app, "SELECT asyncq.complete(1, 'x')");
    denied(&mut app, "SELECT * FROM asyncq.jobs");
    denied(&mut app, "DELETE FROM asyncq.dead");
    denied(&mut app, "SELECT asyncq.purge_finished('0')");
    // The worker role is what dequeue takes.
    sql(
        t,
        DB,
        &format!("GRANT asyncq_worker TO {}", quote_ident(login)),
    );
    let taken: i64 = app
        .query_one(
            "SELECT id FROM asyncq.dequeue('perm', 'x', '1 minute')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, id);
    app.execute("SELECT asyncq.complete($1, 'x')", &[&taken])
        .unwrap();
    drop(app);
    let out = cli(t, &["drop-user", login, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
}

fn names_round_trip_and_bad_ones_are_refused(t: &TestStack) {
    let hostile = "q\"x";
    let out = cli(
        t,
        &["async-queue", "install", "--db", DB, "--schema", hostile],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let mut client = connect(t);
    let roles: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_namespace n, pg_roles r WHERE n.nspname = $1 \
             AND r.rolname IN ($1 || '_producer', $1 || '_worker') AND NOT r.rolcanlogin",
            &[&hostile],
        )
        .unwrap()
        .get(0);
    assert_eq!(roles, 2);
    let schema = quote_ident(hostile);
    let id: i64 = client
        .query_one(&format!("SELECT {schema}.enqueue('h', '{{}}')"), &[])
        .unwrap()
        .get(0);
    let taken: i64 = client
        .query_one(
            &format!("SELECT id FROM {schema}.dequeue('h', 'w', '1 minute')"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(taken, id);
    client
        .execute(&format!("SELECT {schema}.complete($1, 'w')"), &[&id])
        .unwrap();

    // Refused before anything changes, with the reason.
    let snapshot = |client: &mut postgres::Client| -> String {
        client
            .query_one(
                "SELECT (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace) || '|' || \
                        (SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles)",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let before = snapshot(&mut client);
    sql(t, DB, "CREATE SCHEMA not_a_queue");
    let long = "s".repeat(55);
    for (schema, expected) in [
        (long.as_str(), "at most 54 bytes"),
        ("pg_jobs", "starts with `pg_`"),
        ("public", "system schema"),
        ("not_a_queue", "is not a queue schema"),
    ] {
        let out = cli(
            t,
            &["async-queue", "install", "--db", DB, "--schema", schema],
        );
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains(expected), "{schema}: {out}");
    }
    sql(t, DB, "DROP SCHEMA not_a_queue");
    assert_eq!(snapshot(&mut client), before);
    sql(
        t,
        DB,
        &format!(
            "DROP SCHEMA {schema} CASCADE; DROP ROLE {}, {};",
            quote_ident("q\"x_producer"),
            quote_ident("q\"x_worker")
        ),
    );
}
