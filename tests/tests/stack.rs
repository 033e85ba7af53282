//! The stack end to end against the real Docker engine: one isolated stack
//! goes through up, the extension bundle, TLS enforcement, the runtime security
//! settings read back through the Docker API, persistence across down/up, a
//! reload-only and a restart-needing configuration change, the hostile database
//! name, and idempotent `up`.

use core_data_ops::pg::{admin, bootstrap};
use core_data_ops::stack::Applied;
use core_data_ops::{secrets, tls};
use core_data_tests::{docker_available, TestStack};

#[test]
fn stack_full_workflow() {
    if !docker_available("stack_full_workflow") {
        return;
    }
    let mut t = TestStack::new("stack", 201);
    let report = t.up();
    assert!(
        report.container_changed,
        "first `up` must start the container"
    );
    assert_eq!(
        report.bootstrap.databases,
        vec!["app".to_owned(), "shop".to_owned()]
    );
    assert_eq!(
        report.bootstrap.roles,
        vec!["app".to_owned(), "shop_owner".to_owned()]
    );

    healthy_as_soon_as_up_returns(&t);
    durability_is_never_traded_for_speed(&t);
    extension_bundle_everywhere(&t);
    tls_is_enforced(&t);
    runtime_security(&t);
    hostile_database_name_round_trips(&t);
    data_survives_down_and_up(&t);
    settings_changes_are_applied(&mut t);

    let again = t.up();
    assert!(
        again.nothing_changed(),
        "a second `up` must change nothing: {again:?}"
    );
}

/// `up` returns once its own run of the health check passed, and starts the
/// services after postgres without waiting for Docker's first check: right
/// after it, the stack is healthy by the same check, and the sidecar runs.
fn healthy_as_soon_as_up_returns(t: &TestStack) {
    let docker = &t.stack.docker;
    assert_eq!(
        docker.health_now(&t.stack.container()).unwrap().as_deref(),
        Some("healthy")
    );
    let sidecar = t.stack.config.container_name("logical_backup");
    assert!(
        !matches!(
            docker.health(&sidecar).unwrap().as_deref(),
            None | Some("stopped")
        ),
        "the sidecar runs when `up` returns"
    );
}

/// Tuning never touches durability: the server runs with every setting that
/// trades durability for speed at its safe value.
fn durability_is_never_traded_for_speed(t: &TestStack) {
    for (setting, safe) in [
        ("fsync", "on"),
        ("synchronous_commit", "on"),
        ("full_page_writes", "on"),
        ("data_checksums", "on"),
        ("wal_sync_method", "fdatasync"),
    ] {
        assert_eq!(
            t.query_one_string("postgres", &format!("SHOW {setting}")),
            safe,
            "{setting}"
        );
    }
}

/// `health_now` runs the container's own check while Docker has not yet: with
/// an interval of an hour Docker says `starting` throughout, and `health_now`
/// says `healthy` exactly when the check passes.
#[test]
fn health_now_runs_the_containers_own_check() {
    if !docker_available("health_now_runs_the_containers_own_check") {
        return;
    }
    core_data_tests::ensure_image();
    let docker = core_data_ops::docker::Docker::connect().unwrap();
    let image = core_data_tests::test_config("health_now", 1, 5432)
        .image()
        .to_owned();
    let hour = std::time::Duration::from_secs(3600);
    for (check, expected) in [("true", "healthy"), ("false", "starting")] {
        let container = core_data_ops::docker::ContainerSpec::unconfined(&image)
            .entrypoint(&["sleep", "600"])
            .healthcheck(&[check], hour)
            .start(&docker)
            .unwrap();
        let name = container.name().to_owned();
        assert_eq!(
            docker.health(&name).unwrap().as_deref(),
            Some("starting"),
            "Docker has not run `{check}` yet"
        );
        assert_eq!(
            docker.health_now(&name).unwrap().as_deref(),
            Some(expected),
            "a check that runs `{check}`"
        );
    }
}

/// While first boot runs its private server, the health check (Docker's or
/// ours through `health_now`) cannot see it: the container turns healthy only
/// after the entrypoint handed over to the real server.
#[test]
fn first_boot_is_never_reported_healthy() {
    if !docker_available("first_boot_is_never_reported_healthy") {
        return;
    }
    let t = TestStack::new("first_boot", 214);
    // Everything rendered and the image present; then fresh volumes, and the
    // container started by compose alone, watched as it boots.
    t.up();
    t.stack.down(true, &core_data_ops::progress::Quiet).unwrap();
    t.stack
        .compose()
        .run(&["up", "--detach", "postgres"])
        .unwrap();
    let container = t.stack.container();
    let docker = &t.stack.docker;
    let started = std::time::Instant::now();
    let mut seen_starting = 0;
    loop {
        let health = docker.health_now(&container).unwrap();
        let log = docker.logs_tail(&container, 10_000).unwrap().join("\n");
        match health.as_deref() {
            Some("healthy") => {
                assert!(
                    log.contains("core_data-entrypoint: first boot complete")
                        && log.contains("core_data-entrypoint: starting PostgreSQL"),
                    "healthy before the entrypoint handed over:\n{log}"
                );
                break;
            }
            Some("starting") => seen_starting += 1,
            other => panic!("unexpected health {other:?}:\n{log}"),
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(180),
            "not healthy after 180 s:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        seen_starting > 0,
        "the container was never seen starting: the probe came too late to test anything"
    );
    eprintln!(
        "first_boot_is_never_reported_healthy: healthy after {:.1}s ({seen_starting} probes said starting); Docker's own status then: {:?}",
        started.elapsed().as_secs_f64(),
        docker.health(&container).unwrap()
    );
    t.stack.down(true, &core_data_ops::progress::Quiet).unwrap();
}

/// (database, extension) → version for every bundle name, or a failure naming what is missing.
fn installed(t: &TestStack, database: &str) -> Vec<(String, String)> {
    let mut client = t.stack.connect(database).unwrap();
    client
        .query(
            "SELECT extname::text, extversion FROM pg_extension ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

fn assert_bundle(t: &TestStack, database: &str) {
    let have = installed(t, database);
    for ext in bootstrap::extensions_for(database) {
        let version = have
            .iter()
            .find(|(name, _)| name == ext)
            .map(|(_, v)| v.as_str());
        assert!(
            version.is_some_and(|v| !v.is_empty()),
            "extension `{ext}` is missing in `{database}`; installed: {have:?}"
        );
    }
    let has_cron = have.iter().any(|(name, _)| name == "pg_cron");
    assert_eq!(
        has_cron,
        database == "postgres",
        "pg_cron must be installed only in `postgres` (checked `{database}`)"
    );
    eprintln!(
        "{database}: {} extensions, e.g. {:?}",
        have.len(),
        have.iter().find(|(n, _)| n == "postgis")
    );
}

fn extension_bundle_everywhere(t: &TestStack) {
    assert_eq!(bootstrap::extensions_for("app").len(), 29);
    for database in ["app", "shop", "template1", "postgres"] {
        assert_bundle(t, database);
    }
    let partman_schema = t.query_one_string(
        "app",
        "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_partman'",
    );
    assert_eq!(partman_schema, "partman");

    let mut admin_client = t.stack.connect("postgres").unwrap();
    admin::create_user(
        &mut admin_client,
        "reporting",
        &secrets::generate_password(),
    )
    .unwrap();
    let (created, _) = admin::create_db(
        &mut admin_client,
        &t.stack.config,
        "reports",
        "reporting",
        &|db| t.stack.connect(db),
    )
    .unwrap();
    assert!(created);
    assert_bundle(t, "reports");
    let owner = t.query_one_string(
        "postgres",
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'reports'",
    );
    assert_eq!(owner, "reporting");

    // Partition maintenance: one pg_cron job per database, and its command works there.
    let jobs: Vec<(String, String, String)> = admin_client
        .query("SELECT jobname, database, command FROM cron.job WHERE jobname LIKE 'core_data_partman:%' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let databases: Vec<&str> = jobs.iter().map(|(_, db, _)| db.as_str()).collect();
    assert_eq!(
        databases,
        vec!["app", "postgres", "reports", "shop"],
        "{jobs:?}"
    );
    let command = &jobs[0].2;
    t.stack
        .connect("app")
        .unwrap()
        .batch_execute(command)
        .unwrap_or_else(|err| panic!("`{command}` failed: {err}"));
    let preload = t.query_one_string("postgres", "SHOW shared_preload_libraries");
    assert!(!preload.contains("pg_partman_bgw"), "{preload}");
}

fn tls_is_enforced(t: &TestStack) {
    let port = t.stack.config.host_port();
    let password = secrets::read(&secrets::superuser_password_file(t.paths())).unwrap();

    let plain = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable password={password}");
    let Err(err) = postgres::Client::connect(&plain, postgres::NoTls) else {
        panic!("a non-TLS connection must be refused")
    };
    let message = format!("{err:?}");
    assert!(
        message.contains("no encryption") || message.contains("pg_hba.conf"),
        "unexpected refusal: {message}"
    );

    let mut client = t
        .stack
        .connect("postgres")
        .expect("TLS with the generated credentials");
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the connection must be encrypted");

    let Err(err) = t.stack.connect_as("postgres", "wrong-password", "postgres") else {
        panic!("a wrong password must fail")
    };
    assert!(
        format!("{err:#}").contains("password authentication failed"),
        "{err:#}"
    );

    let app_password = secrets::read(&secrets::role_password_file(t.paths(), "app")).unwrap();
    let mut app = t
        .stack
        .connect_as("app", &app_password, "app")
        .expect("the app role logs in with its secret");
    let user: String = app
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(user, "app");
    assert!(tls::files(t.paths()).ca_cert.exists());
}

fn runtime_security(t: &TestStack) {
    let inspect = t
        .stack
        .docker
        .inspect_container(&t.stack.container())
        .unwrap()
        .expect("container exists");
    let host = inspect.host_config.expect("host config");
    let cap_drop = host.cap_drop.unwrap_or_default();
    assert_eq!(
        cap_drop,
        vec!["ALL".to_owned()],
        "CapDrop must be exactly ALL"
    );
    assert!(
        host.cap_add.unwrap_or_default().is_empty(),
        "no capability may be added back"
    );
    assert_ne!(host.privileged, Some(true));
    assert_eq!(
        host.readonly_rootfs,
        Some(true),
        "the root filesystem must be read-only"
    );
    let security_opt = host.security_opt.unwrap_or_default();
    assert!(
        security_opt
            .iter()
            .any(|opt| opt == "no-new-privileges:true" || opt == "no-new-privileges"),
        "{security_opt:?}"
    );
    let seccomp = security_opt
        .iter()
        .find_map(|opt| opt.strip_prefix("seccomp="))
        .unwrap_or_else(|| panic!("no seccomp profile in {security_opt:?}"));
    let applied: serde_json::Value =
        serde_json::from_str(seccomp).expect("seccomp option holds the profile JSON");
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.paths().seccomp_dir().join("postgres.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        applied, shipped,
        "the container must run under seccomp/postgres.json"
    );
    assert_eq!(applied["defaultAction"], "SCMP_ACT_ERRNO");

    let uid = t.stack.config.uid().to_string();
    let status = t
        .stack
        .docker
        .exec(&t.stack.container(), &["cat", "/proc/1/status"], None)
        .unwrap();
    let uid_line = status
        .stdout
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .expect("Uid line")
        .to_owned();
    assert!(
        uid_line.split_whitespace().skip(1).all(|id| id == uid),
        "server must run as {uid}: {uid_line}"
    );
    assert_ne!(uid, "0");
    let cmdline = t
        .stack
        .docker
        .exec(&t.stack.container(), &["cat", "/proc/1/cmdline"], None)
        .unwrap();
    assert!(
        cmdline.stdout.starts_with("postgres"),
        "PID 1 must be the server: {:?}",
        cmdline.stdout
    );
    let port = t.stack.config.host_port().to_string();
    let bindings = host.port_bindings.unwrap_or_default();
    let published = bindings
        .get("5432/tcp")
        .cloned()
        .flatten()
        .unwrap_or_default();
    assert!(
        published
            .iter()
            .all(|b| b.host_ip.as_deref() == Some("127.0.0.1")
                && b.host_port.as_deref() == Some(port.as_str())),
        "the port must be published on 127.0.0.1 only: {published:?}"
    );
}

fn hostile_database_name_round_trips(t: &TestStack) {
    let hostile = "x\"; DROP DATABASE postgres; --";
    let mut client = t.stack.connect("postgres").unwrap();
    let (created, installed) =
        admin::create_db(&mut client, &t.stack.config, hostile, "app", &|db| {
            t.stack.connect(db)
        })
        .unwrap();
    assert!(created);
    assert!(
        installed.is_empty(),
        "the template already carries the bundle: {installed:?}"
    );
    let names: Vec<String> = client
        .query("SELECT datname::text FROM pg_database ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(names.contains(&hostile.to_owned()), "{names:?}");
    assert!(
        names.contains(&"postgres".to_owned()),
        "`postgres` must survive: {names:?}"
    );
    assert_bundle(t, hostile);
    let job = core_data_ops::maintenance::jobs::job_name("partman", hostile);
    let scheduled: i64 = client
        .query_one("SELECT count(*) FROM cron.job WHERE jobname = $1", &[&job])
        .unwrap()
        .get(0);
    assert_eq!(
        scheduled, 1,
        "create-db schedules partition maintenance for the new database"
    );
    assert!(admin::drop_db(&mut client, hostile).unwrap());
    let scheduled: i64 = client
        .query_one("SELECT count(*) FROM cron.job WHERE jobname = $1", &[&job])
        .unwrap()
        .get(0);
    assert_eq!(scheduled, 0, "drop-db removes the database's job");
    assert!(
        !admin::drop_db(&mut client, hostile).unwrap(),
        "dropping twice is a no-op"
    );
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&hostile],
        )
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
    assert!(
        admin::drop_db(&mut client, "postgres").is_err(),
        "`postgres` is protected"
    );
}

fn data_survives_down_and_up(t: &TestStack) {
    let mut client = t.stack.connect("app").unwrap();
    client.batch_execute("CREATE TABLE survivors (id int PRIMARY KEY, note text); INSERT INTO survivors VALUES (1, 'kept')").unwrap();
    drop(client);
    t.stack
        .down(false, &core_data_ops::progress::Quiet)
        .unwrap();
    assert_eq!(
        t.stack.docker.health(&t.stack.container()).unwrap(),
        None,
        "down removes the container"
    );
    let report = t.up();
    assert!(report.container_changed);
    assert!(
        report.bootstrap.is_empty(),
        "bootstrap after restart must find everything in place: {:?}",
        report.bootstrap
    );
    assert_eq!(
        t.query_one_string("app", "SELECT note FROM survivors WHERE id = 1"),
        "kept"
    );
}

fn settings_changes_are_applied(t: &mut TestStack) {
    t.set("PG_WORK_MEM", "24MB");
    let report = t.up();
    assert!(
        !report.container_changed,
        "a reloadable change must not recreate the container"
    );
    match &report.applied {
        Applied::Reloaded(changed) => {
            assert!(changed.iter().any(|c| c.name == "work_mem"), "{changed:?}")
        }
        other => panic!("work_mem must be applied by reload, got {other:?}"),
    }
    assert_eq!(t.query_one_string("postgres", "SHOW work_mem"), "24MB");

    t.set("PG_SHARED_BUFFERS", "160MB");
    let report = t.up();
    match &report.applied {
        Applied::Restarted(settings) => assert!(
            settings.contains(&"shared_buffers".to_owned()),
            "{settings:?}"
        ),
        other => panic!("shared_buffers must be applied by a restart, got {other:?}"),
    }
    assert_eq!(
        t.query_one_string("postgres", "SHOW shared_buffers"),
        "160MB"
    );
}
