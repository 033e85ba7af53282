//! The `logical_backup` sidecar: least privilege, runs, pruning, health, stopping.

use super::*;

// ---------------------------------------------------------------- sidecar

pub(super) fn backup_role_is_least_privileged(t: &TestStack) {
    let row = t
        .stack
        .connect("postgres")
        .unwrap()
        .query_one(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolcanlogin, \
                    pg_has_role(rolname, 'pg_read_all_data', 'MEMBER'), pg_has_role(rolname, 'pg_write_all_data', 'MEMBER') \
             FROM pg_roles WHERE rolname = $1",
            &[&BACKUP_ROLE],
        )
        .unwrap();
    let flags: Vec<bool> = (0..7).map(|i| row.get(i)).collect();
    assert_eq!(
        flags,
        vec![false, false, false, false, true, true, false],
        "super, createrole, createdb, replication, login, read_all, write_all"
    );
}

pub(super) fn status(t: &TestStack) -> Option<Status> {
    logical::sidecar_status(&t.stack).ok()
}

pub(super) fn sidecar_health(t: &TestStack) -> String {
    t.stack
        .docker
        .health(&logical::sidecar_container(&t.stack))
        .unwrap()
        .unwrap_or_else(|| "missing".to_owned())
}

/// Polls `probe` until it returns `Some`, or panics after `limit` with `what` and the last sidecar state.
pub(super) fn wait_for<T>(
    t: &TestStack,
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            eprintln!(
                "{:>12} {what} after {:.1}s",
                "Observed",
                started.elapsed().as_secs_f64()
            );
            return value;
        }
        if started.elapsed() > limit {
            let logs = t
                .stack
                .docker
                .logs_tail(&logical::sidecar_container(&t.stack), 40)
                .unwrap_or_default()
                .join("\n");
            panic!(
                "timed out after {limit:?} waiting for: {what}\nhealth: {}\nstatus: {}\nsidecar log:\n{logs}",
                sidecar_health(t),
                status(t).map_or_else(|| "none".to_owned(), |s| s.to_json())
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub(super) fn run_dirs(t: &TestStack) -> Vec<String> {
    let mut names: Vec<String> = logical::sidecar_dir(&t.stack)
        .read_dir_utf8()
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub(super) fn sidecar_dumps_prunes_and_reports(t: &TestStack, up_done: i64) {
    let first = wait_for(
        t,
        "a successful sidecar run after `up`",
        Duration::from_secs(180),
        || {
            status(t).filter(|s| {
                s.last_run
                    .as_ref()
                    .is_some_and(|run| run.ok && run.started_epoch >= up_done)
            })
        },
    );
    let run = first.last_run.clone().unwrap();
    assert_eq!(first.interval_seconds, 5);
    assert_eq!(first.retention_seconds, 20);
    let names: Vec<&str> = run.databases.iter().map(|d| d.name.as_str()).collect();
    for database in ["app", "postgres", "shop"] {
        assert!(
            names.contains(&database),
            "`{database}` missing from the run: {names:?}"
        );
    }
    assert!(
        run.databases
            .iter()
            .all(|d| d.ok && d.bytes > 0 && d.error.is_none()),
        "{:?}",
        run.databases
    );
    let globals = run.globals.clone().expect("globals are dumped");
    assert!(globals.ok && globals.bytes > 0);
    let dir = logical::sidecar_dir(&t.stack).join(&run.directory);
    assert_eq!(
        first.last_success_directory.as_deref(),
        Some(run.directory.as_str())
    );
    let app_dump = dir.join("app.dump");
    let header = std::fs::read(&app_dump).unwrap_or_else(|err| panic!("`{app_dump}`: {err}"));
    assert!(
        header.starts_with(b"PGDMP"),
        "the sidecar writes custom-format dumps"
    );
    let globals_sql = std::fs::read_to_string(dir.join("globals.sql")).unwrap();
    assert!(globals_sql.contains("CREATE ROLE app;"), "{globals_sql}");
    assert!(
        !globals_sql.contains("SCRAM-SHA-256$"),
        "the globals must not carry password verifiers"
    );

    // The next run comes within the interval.
    let next = wait_for(t, "the next run", Duration::from_secs(60), || {
        status(t)
            .and_then(|s| s.last_run)
            .filter(|r| r.ok && r.started_epoch > run.started_epoch)
    });
    let gap = next.started_epoch - run.finished_epoch;
    assert!(
        (4..=8).contains(&gap),
        "the next run must start one interval (5s) after the last finished, not {gap}s"
    );

    // Runs older than the retention are pruned.
    let first_dir = run.directory.clone();
    wait_for(t, "the first run pruned", Duration::from_secs(90), || {
        (!run_dirs(t).contains(&first_dir)).then_some(())
    });
    let dirs = run_dirs(t);
    assert!(
        !dirs.is_empty() && dirs.len() <= 6,
        "retention 20s at one run per ~5s keeps a handful: {dirs:?}"
    );
    assert!(
        dirs.iter()
            .all(|d| !d.ends_with(".partial") || d == dirs.last().unwrap()),
        "{dirs:?}"
    );
    wait_for(t, "the sidecar healthy", Duration::from_secs(60), || {
        (sidecar_health(t) == "healthy").then_some(())
    });
}

pub(super) fn sidecar_health_follows_a_forced_failure(t: &TestStack) {
    let mut admin = t.stack.connect("postgres").unwrap();
    let before = Instant::now();
    let revoked_at = epoch_now();
    admin
        .batch_execute(&format!(
            "REVOKE CONNECT ON DATABASE app FROM PUBLIC; REVOKE CONNECT ON DATABASE app FROM {}",
            core_data_ops::sql::quote_ident(BACKUP_ROLE)
        ))
        .unwrap();
    let failed = wait_for(t, "a failed run recorded", Duration::from_secs(60), || {
        status(t).filter(|s| {
            s.last_run
                .as_ref()
                .is_some_and(|r| !r.ok && r.started_epoch >= revoked_at)
        })
    });
    let run = failed.last_run.clone().unwrap();
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("`app`") && error.contains("permission denied"),
        "the error must name the database and the cause: {error}"
    );
    assert_eq!(failed.last_failure_error.as_deref(), Some(error.as_str()));
    assert!(failed.last_failure_epoch.is_some_and(|at| at >= revoked_at));
    assert!(
        failed.last_success.is_some(),
        "the last success stays recorded"
    );
    let app_entry = run
        .databases
        .iter()
        .find(|d| d.name == "app")
        .expect("app is listed");
    assert!(
        !app_entry.ok
            && app_entry
                .error
                .as_deref()
                .is_some_and(|e| e.contains("permission denied")),
        "{app_entry:?}"
    );
    assert!(
        run.databases
            .iter()
            .filter(|d| d.name != "app")
            .all(|d| d.ok),
        "the other databases are still dumped"
    );
    assert!(run.directory.ends_with(".failed"), "{}", run.directory);
    assert!(failed
        .problem(epoch_now())
        .is_some_and(|p| p.contains("permission denied")));
    wait_for(t, "the sidecar unhealthy", Duration::from_secs(60), || {
        (sidecar_health(t) == "unhealthy").then_some(())
    });
    let checks = t
        .stack
        .docker
        .health_log(&logical::sidecar_container(&t.stack))
        .unwrap()
        .join("\n");
    assert!(checks.contains("last run failed"), "{checks}");
    eprintln!(
        "{:>12} failure to unhealthy in {:.1}s",
        "Measured",
        before.elapsed().as_secs_f64()
    );

    let fixed_at = epoch_now();
    admin
        .batch_execute("GRANT CONNECT ON DATABASE app TO PUBLIC")
        .unwrap();
    let recovered = wait_for(
        t,
        "a successful run after the fix",
        Duration::from_secs(60),
        || {
            status(t).filter(|s| {
                s.last_run
                    .as_ref()
                    .is_some_and(|r| r.ok && r.started_epoch >= fixed_at)
            })
        },
    );
    assert!(
        recovered.last_failure.is_some(),
        "the failure stays in the history"
    );
    wait_for(
        t,
        "the sidecar healthy again",
        Duration::from_secs(60),
        || (sidecar_health(t) == "healthy").then_some(()),
    );
}

pub(super) fn sidecar_stops_promptly(t: &TestStack) {
    t.stack
        .compose()
        .run(&["stop", logical::SIDECAR_SERVICE])
        .unwrap();
    assert_eq!(sidecar_health(t), "stopped");
    // Ended by its own SIGTERM handling, not killed when the grace period ran out
    // (timing is `bench`'s business; the state says which it was).
    let container = logical::sidecar_container(&t.stack);
    let state = t
        .stack
        .docker
        .inspect_container(&container)
        .unwrap()
        .unwrap()
        .state
        .unwrap();
    assert_eq!(
        state.exit_code,
        Some(0),
        "SIGTERM must end the sidecar cleanly (137 means Docker had to kill it): {state:?}"
    );
    let logs = t.stack.docker.logs_tail(&container, 5).unwrap();
    assert!(
        logs.last().is_some_and(|line| line.contains("stopped")),
        "the sidecar says it stopped as its last word: {logs:?}"
    );
    let partial: Vec<String> = run_dirs(t)
        .into_iter()
        .filter(|d| d.ends_with(".partial"))
        .collect();
    if !partial.is_empty() {
        let logs = t
            .stack
            .docker
            .logs_tail(&logical::sidecar_container(&t.stack), 30)
            .unwrap_or_default()
            .join("\n");
        let inside: Vec<String> = logical::sidecar_dir(&t.stack)
            .join(&partial[0])
            .read_dir_utf8()
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        panic!("a stopped run leaves no partial directory: {partial:?} holding {inside:?}\nsidecar log:\n{logs}");
    }
}

pub(super) fn epoch_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}
