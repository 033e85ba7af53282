//! The dashboard as the stack runs it (profile `dashboard`): its image built
//! with the binary from this workspace, the confined container healthy over
//! TLS from the stack's CA, its least-privileged role and schema, the users
//! file `dashboard add-user` writes, and the keys that grant and revoke its
//! optional rights; then the profile turned off again. One stack (subnet 217).

mod browser;
#[path = "../security/status.rs"]
mod security_status;

use core_data_ops::dashboard::{settings::ROLE, users};
use core_data_tests::{docker_available, finish, xtask, xtask_command, CliOutput, TestStack};

/// The member roles of `role`, as the server has them.
fn memberships(t: &TestStack) -> Vec<String> {
    let list = t.query_one_string(
        "postgres",
        &format!(
            "SELECT coalesce(string_agg(b.rolname, ',' ORDER BY b.rolname), '') \
             FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member \
             JOIN pg_roles b ON b.oid = m.roleid WHERE r.rolname = '{ROLE}'"
        ),
    );
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `dashboard add-user NAME --password-stdin` with `password` on stdin.
fn add_user(t: &TestStack, name: &str, password: &str, extra: &[&str]) -> CliOutput {
    let mut args = vec!["dashboard", "add-user", name, "--password-stdin"];
    args.extend_from_slice(extra);
    let handle = xtask_command(t.paths().state(), &args)
        .stdin_bytes(format!("{password}\n"))
        .start()
        .expect("start `dashboard add-user`");
    finish(handle)
}

#[test]
fn dashboard_deployment() {
    if !docker_available("dashboard_deployment") {
        return;
    }
    let mut t = TestStack::new("dashboard", 217);
    t.set("COMPOSE_PROFILES", "dashboard");
    t.set("DASHBOARD_ALLOW_SIGNAL", "true");
    t.set("DASHBOARD_CAPTURE_INTERVAL_SECONDS", "10");
    let state = t.paths().state().to_owned();
    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    let container = t.stack.config.container_name("dashboard");
    assert_eq!(
        t.stack.docker.health_now(&container).unwrap().as_deref(),
        Some("healthy"),
        "the dashboard's own probe (/health over TLS, as its role) must pass"
    );

    // Its role: a login that is not a superuser, with pg_monitor and the optional rights
    // its keys grant, owning its schema.
    let attributes = t.query_one_string(
        "postgres",
        &format!(
            "SELECT concat_ws(',', rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, \
             rolbypassrls, rolreplication) FROM pg_roles WHERE rolname = '{ROLE}'"
        ),
    );
    assert_eq!(attributes, "t,f,f,f,f,f");
    assert_eq!(
        memberships(&t),
        ["pg_monitor", "pg_read_all_data", "pg_signal_backend"]
    );
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace \
             WHERE nspname = 'core_data_dashboard'"
        ),
        ROLE
    );
    // The same audits as the CLI: it may call the definer functions.
    assert_eq!(
        t.query_one_string(
            "postgres",
            &format!(
                "SELECT bool_and(has_function_privilege('{ROLE}', p.oid, 'EXECUTE'))::text \
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = 'core_data_audit'"
            )
        ),
        "true"
    );

    // Confinement as the policy says (the dashboard under postgres's seccomp profile).
    security_status::walk(&t);
    let out = xtask(&state, &["security", "status"]);
    assert!(
        out.stdout.contains(&format!("{container} (dashboard)")),
        "{out}"
    );

    // Users: refused inputs change nothing; the file holds Argon2id hashes only.
    let users_file = core_data_ops::dashboard::users_file(t.paths());
    let out = add_user(&t, "alice", "too short", &[]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("at least 12 characters"), "{out}");
    assert!(
        !users_file.exists(),
        "a refused password wrote the users file"
    );
    let out = add_user(&t, "alice", "correct horse battery", &[]);
    assert_eq!(out.code, Some(0), "{out}");
    let text = std::fs::read_to_string(&users_file).unwrap();
    assert!(!text.contains("correct horse battery"), "{text}");
    let listed = users::parse(&text).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(users::verify(&listed[0].hash, "correct horse battery"));
    let out = add_user(&t, "alice", "another long password", &[]);
    assert_eq!(
        out.code,
        Some(1),
        "an existing user is refused without --replace: {out}"
    );
    assert_eq!(std::fs::read_to_string(&users_file).unwrap(), text);
    let out = add_user(&t, "alice", "another long password", &["--replace"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = xtask(&state, &["dashboard", "remove-user", "bob"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("the users are: alice"), "{out}");
    let out = xtask(&state, &["dashboard", "list-users"]);
    assert_eq!(out.stdout.trim(), "alice", "{out}");
    let out = xtask(&state, &["dashboard", "url"]);
    let port = t.stack.config.get("DASHBOARD_HOST_PORT");
    assert_eq!(
        out.stdout.trim(),
        format!("https://127.0.0.1:{port}/"),
        "{out}"
    );
    let out = xtask(&state, &["service-urls"]);
    assert!(
        out.stdout
            .contains(&format!("DASHBOARD_URL=https://127.0.0.1:{port}/")),
        "{out}"
    );

    // The pages in a real browser, with a statement for the queries page to show
    // (captured within the capture interval, lowered here to its minimum).
    t.sql("app", "SELECT pg_sleep(0.3) AS dashboard_browser_marker");
    std::thread::sleep(std::time::Duration::from_secs(12));
    browser::every_page_in_chromium(&t, "alice", "another long password");

    // A key turned off revokes its right; the profile turned off removes the container
    // and the role may no longer log in.
    t.set("DASHBOARD_ALLOW_SIGNAL", "false");
    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(memberships(&t), ["pg_monitor", "pg_read_all_data"]);
    t.set("COMPOSE_PROFILES", "");
    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        t.stack.docker.health_now(&container).unwrap().is_none(),
        "the dashboard still runs with its profile off"
    );
    assert_eq!(
        t.query_one_string(
            "postgres",
            &format!("SELECT rolcanlogin::text FROM pg_roles WHERE rolname = '{ROLE}'")
        ),
        "false"
    );
}
