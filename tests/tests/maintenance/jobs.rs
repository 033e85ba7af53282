//! The nightly pg_cron jobs: scheduled in every database (and one made by
//! `create-db`, gone after `drop-db`), unchanged by a second `up`, each
//! command runnable by hand as the jobs' role, and never cancelled by the
//! server-wide statement_timeout (while the same statement as the superuser is).

use std::time::{Duration, Instant};

use core_data_ops::maintenance::cron_list::CronJob;
use core_data_ops::maintenance::jobs::MAINTENANCE_ROLE;
use core_data_tests::TestStack;

use super::{cli, sql, DB};

const KINDS: [&str; 4] = ["analyze", "vacuum", "squeeze", "partman"];

fn cron_list(t: &TestStack) -> Vec<CronJob> {
    let out = cli(t, &["cron", "list", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("cron list JSON ({e}): {out}"))
}

fn ours_in(jobs: &[CronJob], database: &str) -> Vec<String> {
    let mut names: Vec<String> = jobs
        .iter()
        .filter(|job| job.database == database && job.username == MAINTENANCE_ROLE && job.active)
        .filter_map(|job| job.name.clone())
        .collect();
    names.sort();
    names
}

fn expected(database: &str) -> Vec<String> {
    let mut names: Vec<String> = KINDS
        .iter()
        .map(|kind| format!("core_data_{kind}:{database}"))
        .collect();
    names.sort();
    names
}

pub(crate) fn nightly_jobs_in_every_database(t: &TestStack) {
    let jobs = cron_list(t);
    for database in ["postgres", "app", DB] {
        assert_eq!(ours_in(&jobs, database), expected(database), "{jobs:#?}");
    }
    assert!(
        !jobs
            .iter()
            .any(|job| job.name.as_deref() == Some("core_data_pgstat_reset")),
        "the pg_stat_statements reset is off by default"
    );
    let table = cli(t, &["cron", "list"]);
    assert!(table.stdout.contains("core_data_vacuum:shop"), "{table}");

    // create-db schedules them, even for a long, hostile name (whose job names
    // end in a hash to fit pg_cron's 63 bytes); a second `up` changes no job;
    // drop-db removes them.
    let hostile = format!("reports 'q' \"d\" $$ x:y {}", "l".repeat(40));
    assert_eq!(hostile.len(), 63);
    let out = cli(t, &["create-user", "reports_owner"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = cli(t, &["create-db", &hostile, "reports_owner"]);
    assert_eq!(out.code, Some(0), "{out}");
    let theirs = ours_in(&cron_list(t), &hostile);
    assert_eq!(theirs.len(), 4, "{theirs:?}");
    assert!(
        theirs
            .iter()
            .all(|name| name.len() <= 63 && name.contains('~')),
        "{theirs:?}"
    );
    let report = t.up();
    assert!(
        report.bootstrap.jobs.is_empty(),
        "{:?}",
        report.bootstrap.jobs
    );
    assert_eq!(ours_in(&cron_list(t), &hostile), theirs);
    let out = cli(t, &["drop-db", &hostile, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    let left: Vec<CronJob> = cron_list(t)
        .into_iter()
        .filter(|job| job.database == hostile)
        .collect();
    assert!(
        left.is_empty(),
        "jobs of a dropped database remain: {left:#?}"
    );
    let out = cli(t, &["drop-user", "reports_owner", "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
}

pub(crate) fn job_commands_run_as_the_jobs_role(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.nightly_dead (id integer PRIMARY KEY, pad text) \
           WITH (autovacuum_enabled = false); \
         INSERT INTO public.nightly_dead SELECT i, repeat('x', 100) FROM generate_series(1, 20000) i; \
         DELETE FROM public.nightly_dead WHERE id > 2000; \
         CREATE TABLE public.nightly_keyless (v text); \
         SELECT pg_stat_force_next_flush();",
    );
    // The statistics of the delete reach pg_stat_user_tables.
    wait_for(t, "dead tuples counted", || {
        t.query_one_string(
            DB,
            "SELECT (n_dead_tup >= 18000)::text FROM pg_stat_user_tables WHERE relname = 'nightly_dead'",
        ) == "true"
    });
    let jobs = cron_list(t);
    let mut client = t.stack.connect(DB).unwrap();
    client
        .batch_execute(&format!("SET ROLE {MAINTENANCE_ROLE}"))
        .unwrap();
    for job in jobs
        .iter()
        .filter(|job| job.database == DB && job.username == MAINTENANCE_ROLE)
    {
        if job
            .command
            .starts_with("SELECT core_data_maintenance.vacuum_dead_tables")
        {
            let vacuumed: Vec<String> = client
                .query(&job.command, &[])
                .unwrap_or_else(|e| {
                    panic!(
                        "`{}` as the jobs' role: {}",
                        job.command,
                        core_data_ops::pg::server_message(&e)
                    )
                })
                .iter()
                .map(|row| row.get(0))
                .collect();
            assert!(
                vacuumed.contains(&"public.nightly_dead".to_owned()),
                "{vacuumed:?}"
            );
        } else {
            client.batch_execute(&job.command).unwrap_or_else(|e| {
                panic!(
                    "`{}` as the jobs' role: {}",
                    job.command,
                    core_data_ops::pg::server_message(&e)
                )
            });
        }
    }
    client.batch_execute("RESET ROLE").unwrap();
    assert_eq!(
        t.query_one_string(
            DB,
            "SELECT (last_vacuum IS NOT NULL)::text FROM pg_stat_user_tables WHERE relname = 'nightly_dead'"
        ),
        "true",
        "the vacuum job vacuumed the table past the threshold"
    );
    // The squeeze refresh registered the keyed table, not the keyless one.
    assert_eq!(
        t.query_one_string(
            DB,
            "SELECT string_agg(tabname, ',' ORDER BY tabname) FROM squeeze.tables \
             WHERE tabname IN ('nightly_dead', 'nightly_keyless')"
        ),
        "nightly_dead"
    );
    // The role is a login nobody can use: no password anyone knows, no superuser.
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT rolsuper::text || ',' || pg_has_role('core_data_maintenance', 'pg_maintain', 'MEMBER')::text \
             FROM pg_roles WHERE rolname = 'core_data_maintenance'"
        ),
        "false,true"
    );
    sql(
        t,
        DB,
        "DROP TABLE public.nightly_dead, public.nightly_keyless; \
         SELECT core_data_maintenance.refresh_squeeze_targets();",
    );
}

/// The real jobs, run by pg_cron in its background workers as the jobs' role:
/// the analyze job analyzes a new table, the vacuum job vacuums one past the
/// dead-tuple threshold (through its dblink loopback). Their schedules are
/// moved to every 2 seconds for the check and put back after.
pub(crate) fn the_jobs_run_in_the_background(t: &TestStack) {
    sql(
        t,
        DB,
        "CREATE TABLE public.bg_dead (id integer PRIMARY KEY, pad text) WITH (autovacuum_enabled = false); \
         INSERT INTO public.bg_dead SELECT i, repeat('x', 100) FROM generate_series(1, 20000) i; \
         DELETE FROM public.bg_dead WHERE id > 2000; \
         SELECT pg_stat_force_next_flush();",
    );
    let mut admin = t.stack.connect("postgres").unwrap();
    let mut moved = Vec::new();
    for kind in ["analyze", "vacuum"] {
        let name = format!("core_data_{kind}:{DB}");
        let row = admin
            .query_one(
                "SELECT jobid, schedule FROM cron.job WHERE jobname = $1",
                &[&name],
            )
            .unwrap();
        let (id, schedule): (i64, String) = (row.get(0), row.get(1));
        admin
            .query_one("SELECT cron.alter_job($1, schedule := '2 seconds')", &[&id])
            .unwrap();
        moved.push((id, schedule, name));
    }
    let ids: Vec<i64> = moved.iter().map(|(id, _, _)| *id).collect();
    let finished_runs = |admin: &mut postgres::Client| -> Vec<(String, String, String)> {
        admin
            .query(
                "SELECT j.jobname::text, d.status, coalesce(d.return_message, '') FROM cron.job_run_details d \
                 JOIN cron.job j USING (jobid) WHERE j.jobid = ANY($1) AND d.status IN ('succeeded', 'failed')",
                &[&ids],
            )
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    };
    let each_ran = |runs: &[(String, String, String)]| {
        moved
            .iter()
            .all(|(_, _, name)| runs.iter().any(|(job, _, _)| job == name))
    };
    let started = Instant::now();
    let (done, runs) = loop {
        let analyzed_and_vacuumed = t.query_one_string(
            DB,
            "SELECT (last_analyze IS NOT NULL)::text || ',' || (last_vacuum IS NOT NULL)::text \
             FROM pg_stat_user_tables WHERE relname = 'bg_dead'",
        );
        let runs = finished_runs(&mut admin);
        if (analyzed_and_vacuumed == "true,true" && each_ran(&runs))
            || started.elapsed() > Duration::from_secs(60)
        {
            break (analyzed_and_vacuumed, runs);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    for (id, schedule, _) in &moved {
        admin
            .query_one("SELECT cron.alter_job($1, schedule := $2)", &[id, schedule])
            .unwrap();
    }
    sql(t, DB, "DROP TABLE public.bg_dead");
    assert_eq!(
        done, "true,true",
        "the jobs did not analyze and vacuum: {runs:?}"
    );
    for (_, _, name) in &moved {
        assert!(
            runs.iter()
                .any(|(job, status, _)| job == name && status == "succeeded"),
            "{name} has no successful run: {runs:?}"
        );
    }
    assert!(
        runs.iter().all(|(_, status, _)| status == "succeeded"),
        "a background run failed: {runs:?}"
    );
}

/// With a server-wide statement_timeout of 1 s, a 2 s statement scheduled as
/// the jobs' role succeeds while the same statement scheduled as the
/// superuser is cancelled.
pub(crate) fn jobs_outlive_the_server_statement_timeout(t: &TestStack) {
    let mut admin = t.stack.connect("postgres").unwrap();
    admin
        .batch_execute("ALTER SYSTEM SET statement_timeout = '1s'")
        .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    let superuser = t.stack.config.superuser().to_owned();
    for (name, role) in [
        ("test_sleep_maintenance", MAINTENANCE_ROLE),
        ("test_sleep_superuser", superuser.as_str()),
    ] {
        admin
            .query_one(
                "SELECT cron.schedule_in_database($1, '2 seconds', 'SELECT pg_sleep(2)', $2, $3, true)",
                &[&name, &DB, &role],
            )
            .unwrap();
    }
    let finished = |client: &mut postgres::Client, name: &str| -> Option<(String, String)> {
        client
            .query_opt(
                "SELECT d.status, coalesce(d.return_message, '') FROM cron.job_run_details d \
                 JOIN cron.job j USING (jobid) WHERE j.jobname = $1 \
                 AND d.status IN ('succeeded', 'failed') ORDER BY d.runid LIMIT 1",
                &[&name],
            )
            .unwrap()
            .map(|row| (row.get(0), row.get(1)))
    };
    let started = Instant::now();
    let (maintenance, superuser_run) = loop {
        let a = finished(&mut admin, "test_sleep_maintenance");
        let b = finished(&mut admin, "test_sleep_superuser");
        if let (Some(a), Some(b)) = (&a, &b) {
            break (a.clone(), b.clone());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the test jobs did not finish: {a:?} {b:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for name in ["test_sleep_maintenance", "test_sleep_superuser"] {
        // By id: unschedule by name finds only the caller's own jobs.
        admin
            .query_one(
                "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = $1",
                &[&name],
            )
            .unwrap();
    }
    admin
        .batch_execute("ALTER SYSTEM RESET statement_timeout")
        .unwrap();
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    assert_eq!(maintenance.0, "succeeded", "{maintenance:?}");
    assert_eq!(superuser_run.0, "failed", "{superuser_run:?}");
    assert!(
        superuser_run.1.contains("statement timeout"),
        "{superuser_run:?}"
    );
}

fn wait_for(t: &TestStack, what: &str, mut ready: impl FnMut() -> bool) {
    let _ = t;
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: timed out"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
