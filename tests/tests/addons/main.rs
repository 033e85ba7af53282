//! The add-on services end to end on one stack with every profile on:
//! PgBouncer, ValKey and Memcached built from Debian packages, authenticated,
//! confined and under load; then a profile turned off again.

mod confined;
mod memcached;
mod pgbouncer;
#[path = "../security/apparmor.rs"]
#[allow(dead_code)]
mod security_apparmor;
#[path = "../security/status.rs"]
mod security_status;
mod valkey;

use core_data_tests::{docker_available, xtask, CliOutput, TestStack};

#[test]
fn addons_full_workflow() {
    if !docker_available("addons_full_workflow") {
        return;
    }
    let mut t = TestStack::new("addons", 213);
    // Nothing runs yet: `security status` has nothing to vouch for, so exit 1 (like `status`).
    let out = cli(&t, &["security", "status"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("has no running containers"), "{out}");
    let out = cli(&t, &["security", "status", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["passed"], false, "{out}");
    assert_eq!(report["containers"], serde_json::json!([]), "{out}");
    // The application user may touch only keys under `app:`.
    t.set("VALKEY_APP_KEY_PATTERNS", "app:*");
    // `up --profile` turns them on and records them in `.env`.
    let out = cli(
        &t,
        &[
            "up",
            "--profile",
            "pgbouncer",
            "--profile",
            "valkey",
            "--profile",
            "memcached",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    t.reload().expect("reload .env");
    assert_eq!(
        t.stack.config.get("COMPOSE_PROFILES"),
        "pgbouncer,valkey,memcached"
    );
    // Checks are added here, one line each, in the order they run.
    pgbouncer::clients_authenticate_through_the_lookup(&t);
    pgbouncer::the_auth_role_reads_only_the_lookup(&t);
    pgbouncer::a_thousand_clients_share_twenty_server_connections(&t);
    pgbouncer::commands_and_confinement(&t);
    pgbouncer::a_pool_change_is_reloaded(&mut t);
    valkey::walk(&t);
    memcached::walk(&t);
    // Every container of the stack, every add-on included, passes `security status`; one
    // started without `cap_drop` fails it; APPARMOR reaches compose and the `up` pre-check.
    security_status::walk(&t);
    security_apparmor::setting(&mut t);
    pgbouncer::turning_the_profile_off_removes_the_service(&mut t);
    down_stops_every_service_and_keeps_the_volumes(&t);
}

/// `down` stops every service, add-ons included (also one whose profile was turned
/// off since its `up`), and keeps the volumes: ValKey's data survives it.
fn down_stops_every_service_and_keeps_the_volumes(t: &TestStack) {
    let out = cli(t, &["down"]);
    assert_eq!(out.code, Some(0), "{out}");
    let project = t.stack.config.project();
    let left = t.stack.docker.project_containers(project).unwrap();
    assert!(
        left.is_empty(),
        "`down` left {} container(s): {:?}",
        left.len(),
        left.iter().map(|c| c.names.clone()).collect::<Vec<_>>()
    );
    assert!(
        t.stack
            .docker
            .volume_exists(&format!("{project}_valkey"))
            .unwrap(),
        "`down` keeps ValKey's volume"
    );
}

/// The CLI with `argv` on `t`'s state directory.
pub(crate) fn cli(t: &TestStack, argv: &[&str]) -> CliOutput {
    xtask(t.paths().state(), argv)
}
