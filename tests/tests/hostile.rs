//! Hostile input, table-driven, through the real CLI against one running stack:
//! identifiers, reserved names, paths and dump files, restore target times,
//! configuration values and runbook arguments. Every case asserts the exit
//! code, that the output names the problem, and that a snapshot of databases,
//! roles (with their password verifiers), role settings, server settings and
//! the files of the state directory is exactly as before.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use camino::{Utf8Path, Utf8PathBuf};
use core_data_tests::{docker_available, xtask, CliOutput, TestStack};
use pretty_assertions::assert_eq;
use sha2::{Digest, Sha256};

struct Case {
    name: &'static str,
    args: Vec<String>,
    /// A `.env` line set for this case only (the file is restored byte for byte after).
    env: Option<(&'static str, &'static str)>,
    code: i32,
    needle: &'static str,
}

fn case(name: &'static str, args: &[&str], code: i32, needle: &'static str) -> Case {
    Case {
        name,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: None,
        code,
        needle,
    }
}

impl Case {
    fn with_env(mut self, key: &'static str, value: &'static str) -> Case {
        self.env = Some((key, value));
        self
    }
}

/// Everything a hostile command must leave alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    databases: Vec<String>,
    roles: Vec<String>,
    role_settings: Vec<String>,
    settings: Vec<String>,
    files: BTreeMap<String, String>,
}

fn strings(t: &TestStack, sql: &str) -> Vec<String> {
    let mut client = t.stack.connect("postgres").expect("connect");
    client
        .query(sql, &[])
        .unwrap_or_else(|err| panic!("`{sql}`: {err}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn snapshot(t: &TestStack) -> Snapshot {
    Snapshot {
        databases: strings(
            t,
            "SELECT datname || ' owner=' || pg_get_userbyid(datdba) || ' conn=' || datallowconn \
             || ' acl=' || coalesce(datacl::text, '') FROM pg_database ORDER BY 1",
        ),
        roles: strings(
            t,
            "SELECT rolname || ' super=' || rolsuper || ' login=' || rolcanlogin \
             || ' createdb=' || rolcreatedb || ' pw=' || coalesce(md5(rolpassword), '') \
             || ' member_of=' || coalesce((SELECT string_agg(b.rolname, ',' ORDER BY b.rolname) \
                FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = a.oid), '') \
             FROM pg_authid a ORDER BY 1",
        ),
        role_settings: strings(
            t,
            "SELECT setdatabase || '/' || setrole || ' ' || array_to_string(setconfig, ',') \
             FROM pg_db_role_setting ORDER BY 1",
        ),
        settings: strings(
            t,
            "SELECT name || '=' || coalesce(setting, '') FROM pg_settings \
             WHERE source NOT IN ('client', 'session') ORDER BY 1",
        ),
        files: files(t.paths().state()),
    }
}

/// Every entry under the state directory: kind, mode and content hash. Left
/// out: the lock file (emptied after every locking command) and
/// `backups/logical/`, which the sidecar writes on its own schedule.
fn files(state: &Utf8Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![state.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in dir.read_dir_utf8().expect("read state dir") {
            let entry = entry.unwrap();
            let path = entry.path().to_owned();
            let rel = path.strip_prefix(state).unwrap().to_string();
            if rel == core_data_ops::lock::LOCK_FILE || rel == "backups/logical" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {mode:o}")
            } else {
                let mut bytes = Vec::new();
                std::fs::File::open(&path)
                    .unwrap()
                    .read_to_end(&mut bytes)
                    .unwrap();
                format!("file {mode:o} {:x}", Sha256::digest(&bytes))
            };
            out.insert(rel, what);
        }
    }
    out
}

/// Dump files to restore: a real one and its broken relatives, outside the state directory.
struct Fixtures {
    _dir: tempfile::TempDir,
    root: Utf8PathBuf,
}

impl Fixtures {
    fn new(t: &TestStack) -> Fixtures {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        let good = root.join("app.dump");
        let out = xtask(
            t.paths().state(),
            &["dump", "app", "--output", good.as_str()],
        );
        assert_eq!(out.code, Some(0), "{out}");
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(root.join("truncated.dump"), &bytes[..bytes.len() / 2]).unwrap();
        std::fs::write(
            root.join("garbage.dump"),
            b"PGDMX this is not a dump\n\0\0\x01",
        )
        .unwrap();
        std::fs::write(root.join("empty.dump"), b"").unwrap();
        std::fs::create_dir(root.join("a_directory.dump")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd_link.dump")).unwrap();
        Fixtures { _dir: dir, root }
    }

    fn path(&self, name: &str) -> String {
        self.root.join(name).into_string()
    }
}

fn cases(t: &TestStack, fx: &Fixtures) -> Vec<Case> {
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

/// Sets (or appends) `key=value` in `.env`; returns the original bytes.
fn set_env(env: &Utf8Path, key: &str, value: &str) -> Vec<u8> {
    let original = std::fs::read(env).unwrap();
    let text = String::from_utf8(original.clone()).unwrap();
    let prefix = format!("{key}=");
    let mut found = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                found = true;
                format!("{key}={value}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !found {
        lines.push(format!("{key}={value}"));
    }
    std::fs::write(env, lines.join("\n") + "\n").unwrap();
    original
}

fn run_case(t: &TestStack, case: &Case) -> CliOutput {
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    if args[0] == "init" {
        // `init` against a fresh directory: a bad value must write nothing at all.
        let dir = tempfile::tempdir().unwrap();
        let fresh = Utf8Path::from_path(dir.path()).unwrap();
        let out = xtask(fresh, &args);
        let left: Vec<_> = std::fs::read_dir(fresh)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| name != core_data_ops::lock::LOCK_FILE)
            .collect();
        assert!(
            left.is_empty() || out.code == Some(0),
            "`{}` wrote {left:?}:\n{out}",
            case.name
        );
        return out;
    }
    match case.env {
        Some((key, value)) => {
            let env = t.paths().env_file();
            let original = set_env(&env, key, value);
            let out = xtask(t.paths().state(), &args);
            std::fs::write(&env, original).unwrap();
            out
        }
        None => xtask(t.paths().state(), &args),
    }
}

#[test]
fn hostile_input_changes_nothing() {
    if !docker_available("hostile_input_changes_nothing") {
        return;
    }
    let t = TestStack::new("hostile", 198);
    t.up();
    let fx = Fixtures::new(&t);
    let cases = cases(&t, &fx);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let before = snapshot(&t);
    assert!(
        before.databases.iter().any(|d| d.starts_with("app ")),
        "{before:?}"
    );

    let mut failures = Vec::new();
    for case in &cases {
        let out = run_case(&t, case);
        // The state is compared for every case.
        assert_eq!(
            before,
            snapshot(&t),
            "case `{}` changed the stack:\n{out}",
            case.name
        );
        let code_ok = out.code == Some(case.code);
        let named = out.stdout.contains(case.needle) || out.stderr.contains(case.needle);
        if code_ok && named {
            continue;
        }
        let report = format!(
            "case `{}`: `{}` expected exit {} and `{}`:\n{out}",
            case.name,
            case.args.join(" "),
            case.code,
            case.needle
        );
        failures.push(report);
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
