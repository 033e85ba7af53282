//! PgBouncer: SCRAM through `auth_query`, TLS both ways, transaction pooling
//! with prepared statements, 1,000 clients over at most 20 server connections,
//! the admin console commands, the confinement, and the profile turned off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use core_data_ops::addons::pgbouncer::{self, load};
use core_data_ops::addons::Addon;
use core_data_tests::TestStack;

use super::cli;

/// A TLS-verified connection to PgBouncer's published port.
fn pooled(
    t: &TestStack,
    user: &str,
    password: &str,
    database: &str,
) -> anyhow::Result<postgres::Client> {
    let ca = core_data_ops::tls::files(t.paths()).ca_cert;
    let target = core_data_ops::pg::Target {
        host: pgbouncer::client_host(&t.stack.config),
        port: pgbouncer::host_port(&t.stack.config),
        user,
        database,
        ca_cert: &ca,
    };
    core_data_ops::pg::connect(&target, password)
}

/// The error of a connection attempt that must fail.
fn refused<E: Into<anyhow::Error>>(attempt: Result<postgres::Client, E>, what: &str) -> String {
    match attempt {
        Ok(_) => panic!("{what}: the connection was accepted"),
        Err(err) => format!("{:#}", err.into()),
    }
}

fn app_login(t: &TestStack) -> (String, String, String) {
    let db = t.stack.config.databases().remove(0);
    let password = core_data_ops::secrets::read(&core_data_ops::secrets::role_password_file(
        t.paths(),
        &db.owner,
    ))
    .unwrap();
    (db.owner, password, db.name)
}

pub(crate) fn clients_authenticate_through_the_lookup(t: &TestStack) {
    let (user, password, db) = app_login(t);
    let mut client =
        pooled(t, &user, &password, &db).expect("the app owner connects through PgBouncer");
    let row = client
        .query_one("SELECT current_user::text, inet_server_port(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), user);
    assert_eq!(row.get::<_, i32>(1), 5432, "the server side is postgres");
    assert!(row.get::<_, bool>(2), "PgBouncer reaches postgres over TLS");

    // Protocol-level prepared statements in transaction mode: prepared once, then
    // executed while another client holds the server connection it was prepared on,
    // so PgBouncer must prepare it again on another one (max_prepared_statements).
    let statement = client
        .prepare("SELECT $1::int + 1, pg_backend_pid()")
        .unwrap();
    let mut pids = std::collections::BTreeSet::new();
    let run = |client: &mut postgres::Client, i: i32| {
        let mut tx = client.transaction().unwrap();
        let row = tx.query_one(&statement, &[&i]).unwrap();
        assert_eq!(row.get::<_, i32>(0), i + 1);
        let pid: i32 = row.get(1);
        tx.commit().unwrap();
        pid
    };
    let first = run(&mut client, 0);
    pids.insert(first);
    let mut holder = pooled(t, &user, &password, &db).unwrap();
    let mut held = holder.transaction().unwrap();
    let held_pid: i32 = held
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    for i in 1..20 {
        let pid = run(&mut client, i);
        assert_ne!(pid, held_pid, "a held server connection is not shared");
        pids.insert(pid);
    }
    held.commit().unwrap();
    assert!(
        pids.len() >= 2 || held_pid == first,
        "the statement ran on one server only ({pids:?}, held {held_pid}): not proven"
    );

    // A wrong password, the superuser (the lookup never answers for one), and no TLS are refused.
    let wrong = refused(
        pooled(t, &user, "not-the-password", &db),
        "a wrong password",
    );
    assert!(wrong.contains("authentication failed"), "{wrong}");
    let su_password =
        core_data_ops::secrets::read(&core_data_ops::secrets::superuser_password_file(t.paths()))
            .unwrap();
    refused(
        pooled(t, t.stack.config.superuser(), &su_password, "postgres"),
        "a superuser through PgBouncer",
    );
    let mut plain = postgres::Config::new();
    plain
        .host(pgbouncer::client_host(&t.stack.config))
        .port(pgbouncer::host_port(&t.stack.config))
        .user(&user)
        .password(password.as_str())
        .dbname(&db)
        .ssl_mode(postgres::config::SslMode::Disable)
        .connect_timeout(Duration::from_secs(10));
    let plain_refused = refused(plain.connect(postgres::NoTls), "a client without TLS");
    assert!(
        plain_refused.to_lowercase().contains("ssl") || plain_refused.contains("TLS"),
        "{plain_refused}"
    );

    // The platform's own logins go to postgres directly, never through the pool.
    let reader_password =
        core_data_ops::secrets::read(&core_data_ops::secrets::reader_password_file(t.paths()))
            .unwrap();
    refused(
        pooled(
            t,
            core_data_ops::secrets::READER_ROLE,
            &reader_password,
            &db,
        ),
        "a core_data_ service login through PgBouncer",
    );
}

pub(crate) fn the_auth_role_reads_only_the_lookup(t: &TestStack) {
    let password = core_data_ops::secrets::read(
        &Addon::PgBouncer.secret_file(t.paths(), pgbouncer::AUTH_PASSWORD),
    )
    .unwrap();
    let (app_user, _, app_db) = app_login(t);
    let mut auth = t
        .stack
        .connect_as(pgbouncer::AUTH_ROLE, &password, "postgres")
        .expect("the auth role logs in to postgres");
    let super_or_member: (bool, i64) = {
        let row = auth
            .query_one(
                "SELECT rolsuper, (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) \
                 FROM pg_roles r WHERE rolname = current_user",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(
        super_or_member,
        (false, 0),
        "not a superuser, member of nothing"
    );
    let found = auth
        .query(pgbouncer::auth::AUTH_QUERY, &[&app_user])
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(found[0].get::<_, String>(1).starts_with("SCRAM-SHA-256$"));
    // The lookup answers for nobody who may not log in now, and never for a superuser,
    // a role that bypasses row security or replicates, or a platform login.
    t.sql(
        "postgres",
        "CREATE ROLE expired_user LOGIN PASSWORD 'Expired-pw-1' VALID UNTIL '2001-01-01'; \
         CREATE ROLE nologin_user NOLOGIN PASSWORD 'Nologin-pw-1'; \
         CREATE ROLE bypass_user LOGIN BYPASSRLS PASSWORD 'Bypass-pw-1'; \
         CREATE ROLE repl_user LOGIN REPLICATION PASSWORD 'Repl-pw-1'",
    );
    for nobody in [
        "expired_user",
        "nologin_user",
        "bypass_user",
        "repl_user",
        t.stack.config.superuser(),
        core_data_ops::secrets::BACKUP_ROLE,
        pgbouncer::AUTH_ROLE,
    ] {
        let rows = auth.query(pgbouncer::auth::AUTH_QUERY, &[&nobody]).unwrap();
        assert!(rows.is_empty(), "the lookup must not answer for `{nobody}`");
    }
    for denied in [
        "SELECT rolpassword FROM pg_authid",
        "SELECT * FROM core_data_audit.roles()",
        "SELECT pg_read_file('postgresql.conf')",
        "CREATE TABLE t (a int)",
    ] {
        let err = auth.batch_execute(denied).expect_err(denied);
        let message = core_data_ops::pg::server_message(&err);
        assert!(
            message.contains("permission denied") || message.contains("read-only transaction"),
            "`{denied}`: {message}"
        );
    }
    // pg_hba lets the auth role into `postgres` only.
    let err = refused(
        t.stack.connect_as(pgbouncer::AUTH_ROLE, &password, &app_db),
        "the auth role in an application database",
    );
    assert!(
        err.contains("pg_hba.conf") || err.contains("rejects"),
        "{err}"
    );
    // Nobody else may run the lookup: not the application owner, not PUBLIC.
    let (_, app_password, _) = app_login(t);
    let mut owner = t
        .stack
        .connect_as(&app_user, &app_password, "postgres")
        .unwrap();
    let err = owner
        .query(pgbouncer::auth::AUTH_QUERY, &[&app_user])
        .expect_err("the application owner runs the lookup");
    assert!(core_data_ops::pg::server_message(&err).contains("permission denied"));
}

pub(crate) fn a_thousand_clients_share_twenty_server_connections(t: &TestStack) {
    let (user, password, db) = app_login(t);
    let login = load::Login {
        user: &user,
        password: &password,
        database: &db,
    };
    load::pgbench(
        &t.stack,
        load::Route::Direct,
        &login,
        &["--initialize", "--quiet", "--scale=1"],
    )
    .unwrap_or_else(|err| panic!("pgbench --initialize: {err:#}"));
    // Watch the server side while the clients run: the app owner's backends.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        let mut admin = t.stack.connect("postgres").unwrap();
        let mut console = pgbouncer::admin::console(&t.stack).unwrap();
        let user = user.clone();
        std::thread::spawn(move || {
            let (mut max_servers, mut max_clients) = (0_i64, 0_i64);
            while !stop.load(Ordering::Relaxed) {
                let servers: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend'",
                        &[&user],
                    )
                    .unwrap()
                    .get(0);
                max_servers = max_servers.max(servers);
                let clients = console
                    .simple_query("SHOW POOLS")
                    .unwrap()
                    .into_iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(row)
                            if row.get("user") == Some(user.as_str()) =>
                        {
                            let n = |c: &str| {
                                row.get(c).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0)
                            };
                            Some(n("cl_active") + n("cl_waiting"))
                        }
                        _ => None,
                    })
                    .sum::<i64>();
                max_clients = max_clients.max(clients);
                std::thread::sleep(Duration::from_millis(50));
            }
            (max_servers, max_clients)
        })
    };
    let report = load::pgbench(
        &t.stack,
        load::Route::Pooled,
        &login,
        &[
            "--client=1000",
            "--jobs=2",
            "--transactions=5",
            "--builtin=simple-update",
            // Not `prepared`: pgbench prepares synchronously, so one client of a
            // thread waiting for a server connection blocks the thread's other
            // clients that hold the 20 connections mid-transaction: a deadlock of
            // the client, not of PgBouncer. Prepared statements through the
            // pool are proven by `clients_authenticate_through_the_lookup`.
            "--protocol=extended",
            "--no-vacuum",
        ],
    )
    .unwrap_or_else(|err| panic!("1000 clients through PgBouncer: {err:#}"));
    stop.store(true, Ordering::Relaxed);
    let (max_servers, max_clients) = watcher.join().unwrap();
    assert_eq!(
        load::count(&report, "number of transactions actually processed"),
        Some(5000),
        "{report}"
    );
    assert_eq!(
        load::count(&report, "number of failed transactions"),
        Some(0),
        "{report}"
    );
    assert!(
        max_servers <= 20,
        "at most 20 server connections, saw {max_servers}"
    );
    assert!(
        max_servers > 0,
        "the watcher saw no server connection at all"
    );
    assert!(
        max_clients >= 900,
        "about 1000 clients at once, saw at most {max_clients}:\n{report}"
    );
    eprintln!("pgbouncer load: {max_clients} clients at once over at most {max_servers} server connections");
}

pub(crate) fn commands_and_confinement(t: &TestStack) {
    let out = cli(t, &["pgbouncer", "pools"]);
    assert_eq!(out.code, Some(0), "{out}");
    let (user, _, db) = app_login(t);
    assert!(
        out.stdout
            .lines()
            .any(|line| line.contains(&db) && line.contains(&user) && line.contains("transaction")),
        "{out}"
    );
    let out = cli(t, &["pgbouncer", "stats", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let stats: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(stats["command"], "SHOW STATS");
    assert!(stats["columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "total_xact_count"));
    let out = cli(t, &["pgbouncer", "clients"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = cli(t, &["pgbouncer", "reload"]);
    assert_eq!(out.code, Some(0), "{out}");
    std::thread::sleep(Duration::from_secs(1));
    let out = cli(t, &["status"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("pgbouncer"), "{out}");
    let out = cli(t, &["service-urls"]);
    assert_eq!(out.code, Some(0), "{out}");
    let port = pgbouncer::host_port(&t.stack.config).to_string();
    assert!(
        out.stdout.lines().any(|l| l
            .starts_with(&format!("POOLED_DATABASE_URL_{}", db.to_uppercase()))
            && l.contains(&port)),
        "{out}"
    );
    let out = cli(t, &["logs", "pgbouncer", "--tail", "20"]);
    assert_eq!(out.code, Some(0), "{out}");

    // The confinement, read back through the Docker API: its own seccomp profile applied,
    // published on the configured address only.
    super::confined::assert_confined(
        t,
        "pgbouncer",
        Some(t.stack.config.get("PGBOUNCER_BIND_ADDRESS")),
    );
}

pub(crate) fn turning_the_profile_off_removes_the_service(t: &mut TestStack) {
    t.set("COMPOSE_PROFILES", "");
    let out = cli(t, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    let container = t.stack.config.container_name("pgbouncer");
    assert!(
        t.stack
            .docker
            .inspect_container(&container)
            .unwrap()
            .is_none(),
        "the pgbouncer container is removed when its profile is off"
    );
    let out = cli(t, &["status"]);
    assert_eq!(out.code, Some(0), "{out}");
}

/// A pool setting changed in `.env` reaches PgBouncer by a reload on the next `up`:
/// the container (and its clients) stay, the new size is in effect; an `up` that
/// fails after writing the file leaves the reload to the next one.
pub(crate) fn a_pool_change_is_reloaded(t: &mut TestStack) {
    let container = t.stack.config.container_name("pgbouncer");
    let id = |t: &TestStack| {
        t.stack
            .docker
            .inspect_container(&container)
            .unwrap()
            .and_then(|c| c.id)
            .unwrap()
    };
    let before = id(t);
    t.set("PGBOUNCER_DEFAULT_POOL_SIZE", "17");
    // An `up` that fails after writing the new pgbouncer.ini (fault injected) does not
    // apply it; the next `up` does, although the file it renders is already in place.
    let out = core_data_tests::xtask_env(
        t.paths().state(),
        &["up"],
        &[("CORE_DATA_FAULT", "up:addon-files-written")],
    );
    assert_ne!(out.code, Some(0), "the injected fault fails `up`:\n{out}");
    assert!(
        std::fs::read_to_string(t.paths().rendered_dir().join("pgbouncer/pgbouncer.ini"))
            .unwrap()
            .contains("default_pool_size = 17"),
        "the failed run wrote the file"
    );
    let out = cli(t, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("Reloaded"), "{out}");
    assert_eq!(
        id(t),
        before,
        "a pool change must not re-create the container"
    );
    assert_eq!(
        pool_size_in_effect(t, "17").as_deref(),
        Some("17"),
        "PgBouncer runs with the new pool size"
    );
    let out = cli(t, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("nothing changed"),
        "a second up changes nothing:\n{out}"
    );

    // `pgbouncer reload` makes PgBouncer read the file as it is now; the next `up`
    // renders `.env`'s value back and reloads again.
    let ini = t.paths().rendered_dir().join("pgbouncer/pgbouncer.ini");
    let text = std::fs::read_to_string(&ini).unwrap();
    std::fs::write(
        &ini,
        text.replace("default_pool_size = 17", "default_pool_size = 16"),
    )
    .unwrap();
    let out = cli(t, &["pgbouncer", "reload"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(pool_size_in_effect(t, "16").as_deref(), Some("16"));
    let out = cli(t, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("Reloaded"), "{out}");
    assert_eq!(pool_size_in_effect(t, "17").as_deref(), Some("17"));
    assert_eq!(id(t), before, "still the same container");
}

/// PgBouncer's `default_pool_size` as `SHOW CONFIG` reports it, waiting up to 5 s
/// for it to become `want` (a reload is asynchronous).
fn pool_size_in_effect(t: &TestStack, want: &str) -> Option<String> {
    let mut console = pgbouncer::admin::console(&t.stack).unwrap();
    let mut seen = None;
    for _ in 0..50 {
        seen = console
            .simple_query("SHOW CONFIG")
            .unwrap()
            .into_iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row)
                    if row.get("key") == Some("default_pool_size") =>
                {
                    row.get("value").map(str::to_owned)
                }
                _ => None,
            });
        if seen.as_deref() == Some(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}
