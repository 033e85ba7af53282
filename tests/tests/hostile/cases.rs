//! The table of hostile inputs: each command, its arguments, the exit code and
//! the message that must come back, with nothing in the stack changed.

use super::*;

pub(super) fn cases(t: &TestStack, fx: &Fixtures) -> Vec<Case> {
    let superuser = t.stack.config.superuser().to_owned();
    let su: &'static str = Box::leak(superuser.into_boxed_str());
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let long = leak("a".repeat(64));
    let long_unicode = leak("é".repeat(32)); // 64 bytes, 32 characters
    let state = t.paths().state();
    let escape = leak(format!("{state}/backups/../../../../../../etc/passwd"));
    let inject = "x\"; DROP DATABASE app; --";
    vec![
        // ------------------------------------------------------------ identifiers
        case(
            "inject-db-name-missing-owner",
            &["create-db", inject, "nobody_here"],
            1,
            "role `nobody_here` does not exist",
        ),
        case(
            "inject-owner",
            &["create-db", "fine_name", "x\"; DROP ROLE app; --"],
            1,
            "does not exist",
        ),
        case(
            "inject-drop-db",
            &["drop-db", inject, "--yes"],
            0,
            "does not exist; nothing to do",
        ),
        case(
            "inject-drop-user",
            &["drop-user", "'; DROP ROLE app; --", "--yes"],
            0,
            "does not exist; nothing to do",
        ),
        case(
            "semicolon-owner",
            &["create-db", "semi;colon", "a;b"],
            1,
            "role `a;b` does not exist",
        ),
        case(
            "empty-db-name",
            &["create-db", "", "app"],
            1,
            "the database name is empty",
        ),
        case(
            "empty-user-name",
            &["create-user", ""],
            1,
            "the role name is empty",
        ),
        case(
            "empty-drop-user",
            &["drop-user", "", "--yes"],
            1,
            "the role name is empty",
        ),
        case(
            "long-db-name",
            &["create-db", long, "app"],
            1,
            "PostgreSQL allows at most 63",
        ),
        case(
            "long-user-name",
            &["create-user", long],
            1,
            "PostgreSQL allows at most 63",
        ),
        case(
            "long-unicode-db-name",
            &["create-db", long_unicode, "app"],
            1,
            "is 64 bytes",
        ),
        case(
            "unicode-newline-owner",
            &["create-db", "ünï\ncødé", "ø\nwner"],
            1,
            "does not exist",
        ),
        case(
            "missing-password-file",
            &[
                "create-user",
                "pwfile_user",
                "--password-file",
                "/nonexistent/pw",
            ],
            1,
            "/nonexistent/pw",
        ),
        case(
            "directory-password-file",
            &["create-user", "pwfile_user", "--password-file", "/etc"],
            1,
            "`/etc`",
        ),
        // --------------------------------------------------------- reserved names
        case(
            "drop-postgres-db",
            &["drop-db", "postgres", "--yes"],
            1,
            "belongs to PostgreSQL itself",
        ),
        case(
            "drop-template0",
            &["drop-db", "template0", "--yes"],
            1,
            "belongs to PostgreSQL itself",
        ),
        case(
            "drop-template1",
            &["drop-db", "template1", "--yes"],
            1,
            "belongs to PostgreSQL itself",
        ),
        case(
            "drop-db-without-yes",
            &["drop-db", "app"],
            1,
            "add `--yes` to confirm",
        ),
        case(
            "drop-superuser",
            &["drop-user", su, "--yes", "--force"],
            1,
            "superuser the platform connects as",
        ),
        case(
            "drop-backup-role",
            &["drop-user", "core_data_backup", "--yes", "--force"],
            1,
            "sidecar",
        ),
        case(
            "drop-reader-role",
            &["drop-user", "core_data_reader", "--yes"],
            1,
            "read-only runbooks",
        ),
        case(
            "drop-app-owner",
            &["drop-user", "app", "--yes", "--force"],
            1,
            "application database(s) `app`",
        ),
        case(
            "drop-shop-owner",
            &["drop-user", "shop_owner", "--yes"],
            1,
            "application database(s) `shop`",
        ),
        case(
            "drop-pg-role",
            &["drop-user", "pg_monitor", "--yes"],
            1,
            "`--force`",
        ),
        case(
            "drop-pg-role-read-all",
            &["drop-user", "pg_read_all_data", "--yes"],
            1,
            "`--force`",
        ),
        case(
            "drop-user-without-yes",
            &["drop-user", "someone"],
            1,
            "add `--yes` to confirm",
        ),
        case(
            "create-core-data-user",
            &["create-user", "core_data_backdoor"],
            1,
            "`core_data_`",
        ),
        case(
            "create-core-data-user-case",
            &["create-user", "CORE_DATA_backdoor"],
            1,
            "`core_data_`",
        ),
        case(
            "create-pg-user",
            &["create-user", "pg_backdoor"],
            1,
            "reserved for PostgreSQL",
        ),
        case(
            "create-core-data-db",
            &["create-db", "core_data_restore_0000", "app"],
            1,
            "`core_data_`",
        ),
        case(
            "create-pg-db",
            &["create-db", "pg_db", "app"],
            1,
            "reserved for PostgreSQL",
        ),
        case(
            "restore-dump-over-postgres",
            &["restore-dump", &fx.path("app.dump"), "postgres", "--yes"],
            1,
            "belongs to PostgreSQL itself",
        ),
        case(
            "restore-dump-over-template1",
            &["restore-dump", &fx.path("app.dump"), "template1", "--yes"],
            1,
            "belongs to PostgreSQL itself",
        ),
        case(
            "restore-dump-into-reserved",
            &["restore-dump", &fx.path("app.dump"), "core_data_restore_1"],
            1,
            "reserved for restores in progress",
        ),
        case(
            "restore-dump-over-app-without-yes",
            &["restore-dump", &fx.path("app.dump"), "app"],
            1,
            "already exists; add `--yes`",
        ),
        // ------------------------------------------------------- paths and files
        case(
            "dump-missing",
            &["restore-dump", "/nonexistent/app.dump", "hostile_new"],
            1,
            "cannot open dump file `/nonexistent/app.dump`",
        ),
        case(
            "dump-directory",
            &["restore-dump", &fx.path("a_directory.dump"), "hostile_new"],
            1,
            "directory",
        ),
        case(
            "dump-dotdot-escape",
            &["restore-dump", escape, "hostile_new"],
            1,
            "is not a pg_dump file",
        ),
        case(
            "dump-symlink",
            &["restore-dump", &fx.path("passwd_link.dump"), "hostile_new"],
            1,
            "is not a pg_dump file",
        ),
        case(
            "dump-dev-zero",
            &["restore-dump", "/dev/zero", "hostile_new"],
            1,
            "is not a pg_dump file",
        ),
        case(
            "dump-garbage",
            &["restore-dump", &fx.path("garbage.dump"), "hostile_new"],
            1,
            "is not a pg_dump file",
        ),
        case(
            "dump-empty",
            &["restore-dump", &fx.path("empty.dump"), "hostile_new"],
            1,
            "is not a pg_dump file",
        ),
        case(
            "dump-truncated",
            &["restore-dump", &fx.path("truncated.dump"), "hostile_new"],
            1,
            "truncated.dump",
        ),
        case(
            "runbook-file-missing",
            &["runbooks", "--file", "/nonexistent/x.rhai"],
            1,
            "/nonexistent/x.rhai",
        ),
        // ---------------------------------------------------- restore target times
        case(
            "time-yesterday",
            &["restore", "--target-time", "yesterday", "--yes"],
            1,
            "target time",
        ),
        case(
            "time-now",
            &["restore", "--target-time", "now", "--yes"],
            1,
            "target time",
        ),
        case(
            "time-impossible-date",
            &[
                "restore",
                "--target-time",
                "2026-13-45 00:00:00+00",
                "--yes",
            ],
            1,
            "target time",
        ),
        case(
            "time-without-zone",
            &["restore", "--target-time", "2026-11-24 07:00:00", "--yes"],
            1,
            "target time",
        ),
        case(
            "time-future",
            &[
                "restore",
                "--target-time",
                "2999-01-01 00:00:00+00",
                "--yes",
            ],
            1,
            "target time",
        ),
        case(
            "time-far-past",
            &[
                "restore",
                "--target-time",
                "1970-01-01 00:00:00+00",
                "--yes",
            ],
            1,
            "target time",
        ),
        case(
            "time-injection",
            &[
                "restore",
                "--target-time",
                "2026-01-01'; DROP DATABASE app; --",
                "--yes",
            ],
            1,
            "target time",
        ),
        // ------------------------------------------------ configuration (`init`)
        case(
            "init-bad-size",
            &[
                "init",
                "--non-interactive",
                "--set",
                "PG_SHARED_BUFFERS=lots",
            ],
            1,
            "expected a size",
        ),
        case(
            "init-unknown-key",
            &["init", "--non-interactive", "--set", "NO_SUCH_KEY=1"],
            1,
            "unknown key `NO_SUCH_KEY`",
        ),
        case(
            "init-not-key-value",
            &["init", "--non-interactive", "--set", "PG_SHARED_BUFFERS"],
            1,
            "expected KEY=VALUE",
        ),
        case(
            "init-bad-memory",
            &["init", "--non-interactive", "--memory", "lots"],
            1,
            "--memory `lots`",
        ),
        case(
            "init-zero-cpus",
            &["init", "--non-interactive", "--cpus", "0"],
            1,
            "--cpus must be at least 1",
        ),
        case(
            "init-bad-port",
            &[
                "init",
                "--non-interactive",
                "--set",
                "POSTGRES_HOST_PORT=99999",
            ],
            1,
            "POSTGRES_HOST_PORT",
        ),
        case(
            "init-tz-with-space",
            &["init", "--non-interactive", "--set", "TZ=Mars Olympus"],
            1,
            "TZ",
        ),
        // ------------------------------------------------ configuration (`.env`)
        case("env-bad-size", &["config", "show"], 1, "expected a size")
            .with_env("PG_SHARED_BUFFERS", "lots"),
        case(
            "env-unknown-key",
            &["config", "show"],
            1,
            "unknown key `PG_SHARED_BUFERS`",
        )
        .with_env("PG_SHARED_BUFERS", "1GB"),
        // The injected line is read as a key of its own, and refused as one.
        case(
            "env-injection",
            &["config", "show"],
            1,
            "unknown key `shared_preload_libraries`",
        )
        .with_env("PG_WORK_MEM", "4MB'\nshared_preload_libraries = 'evil"),
        case("env-tz-nonsense-apply", &["config", "apply"], 1, "TZ").with_env("TZ", "Mars/Olympus"),
        case("env-tz-nonsense-up", &["up"], 1, "TZ").with_env("TZ", "Mars/Olympus"),
        // ------------------------------------------------------------- runbooks
        case(
            "runbook-int-not-a-number",
            &["run", "nightly_checks", "max_transaction_seconds=abc"],
            1,
            "must be a whole number",
        ),
        case(
            "runbook-int-injection",
            &[
                "run",
                "nightly_checks",
                "max_transaction_seconds=1; DROP DATABASE app",
            ],
            1,
            "must be a whole number",
        ),
        case(
            "runbook-negative",
            &["run", "nightly_checks", "max_disk_percent=-5"],
            1,
            "must not be negative",
        ),
        case(
            "runbook-unknown-argument",
            &["run", "nightly_checks", "no_such_arg=1"],
            1,
            "unknown argument `no_such_arg`",
        ),
        case(
            "runbook-not-key-value",
            &["run", "nightly_checks", "justtext"],
            2,
            "is not `key=value`",
        ),
        case(
            "runbook-hostile-key",
            &["run", "nightly_checks", "x');DROP TABLE t;--=1"],
            2,
            "x');DROP TABLE t;--",
        ),
        case(
            "runbook-unknown",
            &["run", "no_such_runbook"],
            1,
            "there is no runbook `no_such_runbook`",
        ),
    ]
}
