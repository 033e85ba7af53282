//! The add-on services end to end on one stack with every profile on:
//! PgBouncer, ValKey and Memcached built from Debian packages, authenticated,
//! confined and under load; then a profile turned off again.

mod pgbouncer;

use core_data_tests::{docker_available, xtask, CliOutput, TestStack};

#[test]
fn addons_full_workflow() {
    if !docker_available("addons_full_workflow") {
        return;
    }
    let mut t = TestStack::new("addons", 213);
    // `up --profile` turns one on and records it in `.env`.
    let out = cli(&t, &["up", "--profile", "pgbouncer"]);
    assert_eq!(out.code, Some(0), "{out}");
    t.reload().expect("reload .env");
    assert_eq!(t.stack.config.get("COMPOSE_PROFILES"), "pgbouncer");
    // Checks are added here, one line each, in the order they run.
    pgbouncer::clients_authenticate_through_the_lookup(&t);
    pgbouncer::the_auth_role_reads_only_the_lookup(&t);
    pgbouncer::a_thousand_clients_share_twenty_server_connections(&t);
    pgbouncer::commands_and_confinement(&t);
    pgbouncer::turning_the_profile_off_removes_the_service(&mut t);
}

/// The CLI with `argv` on `t`'s state directory.
pub(crate) fn cli(t: &TestStack, argv: &[&str]) -> CliOutput {
    xtask(t.paths().state(), argv)
}
