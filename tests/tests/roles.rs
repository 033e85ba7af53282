//! Service roles and one operation at a time, through the real CLI on one
//! stack: the platform's own roles cannot be dropped (`--force` only for
//! superusers and `pg_` names), `drop-user` needs `--yes`, reserved prefixes
//! are refused; `up` puts back service passwords a restore or `init --force`
//! made stale (the superuser's included) and a second `up` changes nothing;
//! two mutating commands started together never interleave.

use std::time::{Duration, Instant};

use core_data_ops::lock;
use core_data_ops::pg::bootstrap;
use core_data_ops::secrets::{self, BACKUP_ROLE, READER_ROLE};
use core_data_tests::{docker_available, finish, xtask, xtask_command, CliOutput, TestStack};

#[test]
fn service_roles_and_the_state_lock() {
    if !docker_available("service_roles_and_the_state_lock") {
        return;
    }
    let t = TestStack::new("roles", 197);
    t.up();
    protected_roles_are_refused(&t);
    drop_user_needs_yes_and_force_where_due(&t);
    stale_service_passwords_are_synced_by_up(&t);
    a_second_command_waits_or_refuses(&t);
    two_create_dbs_at_once_do_not_interleave(&t);
}

fn state(t: &TestStack) -> &camino::Utf8Path {
    t.paths().state()
}

fn role_exists(t: &TestStack, role: &str) -> bool {
    bootstrap::role_exists(&mut t.stack.connect("postgres").unwrap(), role).unwrap()
}

fn database_exists(t: &TestStack, db: &str) -> bool {
    bootstrap::database_exists(&mut t.stack.connect("postgres").unwrap(), db).unwrap()
}

fn expect(out: &CliOutput, code: i32, needle: &str) {
    assert_eq!(out.code, Some(code), "{out}");
    assert!(
        out.stdout.contains(needle) || out.stderr.contains(needle),
        "expected `{needle}` in:\n{out}"
    );
}

fn protected_roles_are_refused(t: &TestStack) {
    let superuser = t.stack.config.superuser().to_owned();
    for (role, why) in [
        (superuser.as_str(), "superuser the platform connects as"),
        (BACKUP_ROLE, "`logical_backup` sidecar"),
        (READER_ROLE, "read-only runbooks"),
        ("app", "application database(s) `app`"),
        ("shop_owner", "application database(s) `shop`"),
    ] {
        for extra in [&["--yes"][..], &["--yes", "--force"][..]] {
            let mut args = vec!["drop-user", role];
            args.extend_from_slice(extra);
            let out = xtask(state(t), &args);
            expect(&out, 1, why);
            expect(&out, 1, "cannot be dropped");
            assert!(role_exists(t, role), "`{role}` was dropped:\n{out}");
        }
    }
    for (args, needle) in [
        (&["create-user", "core_data_evil"][..], "`core_data_`"),
        (&["create-user", "Core_Data_Evil"][..], "`core_data_`"),
        (&["create-user", "pg_evil"][..], "reserved for PostgreSQL"),
        (&["create-db", "core_data_evil", "app"][..], "`core_data_`"),
        (
            &["create-db", "pg_evil", "app"][..],
            "reserved for PostgreSQL",
        ),
    ] {
        let out = xtask(state(t), args);
        expect(&out, 1, needle);
        assert!(
            !role_exists(t, args[1]) && !database_exists(t, args[1]),
            "{out}"
        );
    }
}

fn drop_user_needs_yes_and_force_where_due(t: &TestStack) {
    expect(
        &xtask(state(t), &["create-user", "alice"]),
        0,
        "created role `alice`",
    );
    let out = xtask(state(t), &["drop-user", "alice"]);
    expect(&out, 1, "add `--yes` to confirm");
    assert!(role_exists(t, "alice"), "dropped without --yes:\n{out}");
    expect(
        &xtask(state(t), &["drop-user", "alice", "--yes"]),
        0,
        "dropped role `alice`",
    );
    assert!(!role_exists(t, "alice"));

    expect(
        &xtask(state(t), &["create-user", "boss"]),
        0,
        "created role `boss`",
    );
    t.stack
        .connect("postgres")
        .unwrap()
        .batch_execute("ALTER ROLE boss SUPERUSER")
        .unwrap();
    let out = xtask(state(t), &["drop-user", "boss", "--yes"]);
    expect(&out, 1, "is a superuser; add `--force`");
    assert!(role_exists(t, "boss"));
    expect(
        &xtask(state(t), &["drop-user", "boss", "--yes", "--force"]),
        0,
        "dropped role `boss`",
    );
    assert!(!role_exists(t, "boss"));
    // PostgreSQL's own roles: refused without --force; with it, the server still says no.
    expect(
        &xtask(state(t), &["drop-user", "pg_monitor", "--yes"]),
        1,
        "`--force`",
    );
    assert!(role_exists(t, "pg_monitor"));
}

fn stale_service_passwords_are_synced_by_up(t: &TestStack) {
    let superuser = t.stack.config.superuser().to_owned();
    // An older backup's passwords: the server no longer matches the secret files.
    t.stack
        .connect("postgres")
        .unwrap()
        .batch_execute(&format!(
            "ALTER ROLE {BACKUP_ROLE} PASSWORD 'from-an-older-backup'; \
             ALTER ROLE \"{superuser}\" PASSWORD 'from-an-older-backup'"
        ))
        .unwrap();
    // `init --force`: a new secret file the server has never seen.
    let reader_file = secrets::reader_password_file(t.paths());
    let rotated = secrets::generate_password();
    secrets::write_new(&reader_file, &rotated, true, &t.stack.config).unwrap();
    let out = xtask(state(t), &["status"]);
    assert_eq!(out.code, Some(1), "the CLI must be locked out now:\n{out}");
    let sidecar = format!("{}-logical_backup", t.stack.config.project());
    let sidecar_before = t
        .stack
        .docker
        .inspect_container(&sidecar)
        .unwrap()
        .unwrap()
        .id;

    let out = xtask(state(t), &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    for role in [superuser.as_str(), BACKUP_ROLE, READER_ROLE] {
        assert!(
            out.stderr
                .contains(&format!("the password of role `{role}`")),
            "`{role}` not synced:\n{out}"
        );
    }
    assert!(
        !out.stderr.contains("role `app`"),
        "`app` was in sync:\n{out}"
    );
    t.stack
        .connect("postgres")
        .expect("the superuser logs in again");
    let backup_password = secrets::read(&secrets::backup_password_file(t.paths())).unwrap();
    t.stack
        .connect_as(BACKUP_ROLE, &backup_password, "app")
        .expect("the sidecar's role logs in with its secret");
    t.stack
        .connect_as(READER_ROLE, &rotated, "app")
        .expect("the reader logs in with the rotated secret");
    let sidecar_after = t
        .stack
        .docker
        .inspect_container(&sidecar)
        .unwrap()
        .unwrap()
        .id;
    assert_ne!(
        sidecar_before, sidecar_after,
        "the sidecar must be recreated to see its secret"
    );

    let out = xtask(state(t), &["up"]);
    expect(&out, 0, "nothing changed");
    assert!(!out.stderr.contains("Synced"), "{out}");
}

fn a_second_command_waits_or_refuses(t: &TestStack) {
    let backup = xtask_command(state(t), &["backup", "--type", "full"])
        .start()
        .unwrap();
    let pid = backup.pids()[0];
    let started = Instant::now();
    while lock::holder(t.paths()).is_none_or(|h| h.pid != pid) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "`backup` never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let holder = format!("`backup` (pid {pid}, started ");

    let refused = xtask(state(t), &["--no-wait", "create-db", "lockdb", "app"]);
    expect(&refused, 1, &holder);
    expect(&refused, 1, "--no-wait");
    assert!(!database_exists(t, "lockdb"));

    let waited = finish(
        xtask_command(state(t), &["create-db", "lockdb", "app"])
            .start()
            .unwrap(),
    );
    expect(&waited, 0, "created `lockdb`");
    expect(&waited, 0, &format!("Waiting for {holder}"));
    let backup = finish(backup);
    assert_eq!(backup.code, Some(0), "{backup}");
    assert!(backup.stdout.contains("backup `"), "{backup}");
    assert!(database_exists(t, "lockdb"));
    assert_eq!(
        lock::holder(t.paths()),
        None,
        "both released the lock cleanly"
    );
}

fn two_create_dbs_at_once_do_not_interleave(t: &TestStack) {
    let spawn = || {
        xtask_command(state(t), &["create-db", "race", "shop_owner"])
            .start()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (finish(a), finish(b));
    assert_eq!((a.code, b.code), (Some(0), Some(0)), "{a}\n{b}");
    let outs = [&a, &b];
    let created = outs
        .iter()
        .filter(|o| o.stdout.contains("created `race`"))
        .count();
    let existed = outs
        .iter()
        .filter(|o| o.stdout.contains("database already existed"))
        .count();
    assert_eq!((created, existed), (1, 1), "one after the other:\n{a}\n{b}");
    // The second waited, naming the holder, or, when it looked in the instant between the
    // holder's lock and its record, saying so.
    assert!(
        outs.iter()
            .any(|o| o.stderr.contains("Waiting for `create-db`")
                || o.stderr
                    .contains("Waiting for a command that has not yet written its record")),
        "{a}\n{b}"
    );
    let owner = t.query_one_string(
        "postgres",
        "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'race'",
    );
    assert_eq!(owner, "shop_owner");
}
