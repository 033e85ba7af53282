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

mod cases;
use cases::cases;

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
