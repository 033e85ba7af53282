//! `adopt` on a real stack: a data directory made by a plain `initdb` of
//! PostgreSQL 15 (install user `legacy_admin`, no data checksums, a table of
//! data and a login role, cleanly shut down) on the host.
//!
//! - Without `--yes`: the plan, exit 1, nothing changed.
//! - The source while its server runs is refused.
//! - A fault injected after `pg_upgrade` ran: rolled back, the stack has no
//!   cluster (no volumes left), the source unchanged. A run killed after the
//!   copy leaves only its id-named copy; the next run removes it and, with a
//!   fault once the stack runs on the adopted cluster, is rolled back: stopped,
//!   the adopted directories and the stanza removed, the volumes kept and empty.
//! - A volume that does not exist is refused.
//! - `adopt --yes`: PostgreSQL 17 serves the data with the same content hash,
//!   the stack's superuser and the source's role log in over verified TLS,
//!   `backup take` works, and every file of the source is byte for byte, mode
//!   and mtime as before.
//! - A second `adopt` into the now adopted stack is refused.
//! - After `down --volumes`, a PostgreSQL 17 cluster at the top of a volume (as
//!   the official image leaves it) is adopted without an upgrade: the same
//!   hash, the volume's files unchanged.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use camino::Utf8Path;
use core_data_ops::backup::oneshot;
use core_data_ops::docker::{ContainerSpec, Mount};
use core_data_ops::progress::Quiet;
use core_data_tests::{docker_available, xtask, xtask_env, TestStack};
use sha2::{Digest, Sha256};

const OLD: u32 = 15;

const DATA: &str = "
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, amount numeric(12, 2), seen timestamptz);
INSERT INTO items SELECT i, 'item ' || i, i * 1.25, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 minute'
  FROM generate_series(1, 20000) AS i;
CREATE INDEX items_name ON items (name);
CREATE ROLE legacy_user LOGIN PASSWORD 'legacy-user-pw-5678';
GRANT SELECT ON items TO legacy_user;
";

/// One hash over the content (the time as epoch seconds: the servers' time zones may differ).
const HASH: &str = "SELECT md5(string_agg(id || ':' || name || ':' || amount || ':' || extract(epoch FROM seen), ',' ORDER BY id)) FROM items";

/// Every entry under `root` (lstat): type and mode, owner, size, mtime in
/// nanoseconds, and a SHA-256 of a file's bytes or a link's target.
fn snapshot(root: &Utf8Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in dir.read_dir_utf8().unwrap() {
            let path = entry.unwrap().into_path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path).unwrap().display().to_string()
            } else if meta.is_dir() {
                stack.push(path.clone());
                String::new()
            } else {
                format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()))
            };
            out.insert(
                path.strip_prefix(root).unwrap().to_string(),
                format!(
                    "mode {:o} owner {}:{} size {} mtime {}.{:09} {content}",
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ),
            );
        }
    }
    let root_meta = std::fs::metadata(root).unwrap();
    out.insert(
        ".".to_owned(),
        format!(
            "mode {:o} mtime {}.{:09}",
            root_meta.mode(),
            root_meta.mtime(),
            root_meta.mtime_nsec()
        ),
    );
    out
}

/// A plain PostgreSQL 15 cluster at `dir` (a host directory the stack's UID
/// owns) with the test's data, cleanly shut down. Returns the content hash.
fn make_source(t: &TestStack, dir: &Utf8Path) -> String {
    let docker = &t.stack.docker;
    let old = t.stack.config.with_major(OLD).unwrap();
    core_data_ops::image::build::ensure(docker, t.paths(), &old, false, &Quiet)
        .unwrap_or_else(|err| panic!("the PostgreSQL {OLD} image: {err:#}"));
    let mount = Mount {
        source: Some(dir.to_string()),
        target: "/source".to_owned(),
        read_only: false,
        bind: true,
    };
    let container = ContainerSpec::confined(
        old.image(),
        t.stack.config.uid(),
        t.stack.config.gid(),
        &t.paths().seccomp_dir().join("postgres.json"),
    )
    .unwrap()
    .label(oneshot::PROJECT_LABEL, t.stack.config.project())
    .mount(mount)
    .entrypoint(&["sleep"])
    .cmd(&["infinity"])
    .start(docker)
    .unwrap();
    let bin = format!("/usr/lib/postgresql/{OLD}/bin");
    let run = |argv: &[&str]| -> String { exec_ok(docker, container.name(), argv) };
    let pgdata = "/source/pgdata";
    // A plain initdb: no checksums, an install user that is not the stack's superuser.
    run(&[
        &format!("{bin}/initdb"),
        &format!("--pgdata={pgdata}"),
        "--username=legacy_admin",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    ]);
    run(&[
        &format!("{bin}/pg_ctl"),
        &format!("--pgdata={pgdata}"),
        "--wait",
        "--silent",
        "--options=-h '' -k /tmp",
        "start",
    ]);
    let psql = |database: &str, sql: &str| -> String {
        run(&[
            &format!("{bin}/psql"),
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set=ON_ERROR_STOP=1",
            "--host=/tmp",
            "--username=legacy_admin",
            &format!("--dbname={database}"),
            &format!("--command={sql}"),
        ])
    };
    psql("postgres", "CREATE DATABASE legacy");
    psql("legacy", DATA);
    let hash = psql("legacy", HASH).trim().to_owned();
    // A running cluster is refused before anything changes.
    let running = xtask(
        t.paths().state(),
        &["adopt", "--from-dir", &format!("{dir}/pgdata"), "--yes"],
    );
    assert_eq!(running.code, Some(1), "{running}");
    assert!(
        running.stderr.contains("`in production`, not `shut down`"),
        "{running}"
    );
    run(&[
        &format!("{bin}/pg_ctl"),
        &format!("--pgdata={pgdata}"),
        "--mode=fast",
        "--wait",
        "--silent",
        "stop",
    ]);
    let control = run(&[&format!("{bin}/pg_controldata"), pgdata]);
    assert!(control.contains("shut down"), "{control}");
    hash
}

/// The top level of the stack's data volume, or `None` when it does not exist.
fn data_volume(t: &TestStack) -> Option<String> {
    let name = oneshot::volume_name(&t.stack, "pgdata");
    if !t.stack.docker.volume_exists(&name).unwrap() {
        return None;
    }
    Some(
        oneshot::run(
            &t.stack,
            &[Mount::volume(name, "/var/lib/postgresql/data", true)],
            "find",
            &[
                "/var/lib/postgresql/data",
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
            ],
        )
        .unwrap(),
    )
}

#[test]
fn a_plain_postgresql_15_directory_is_adopted_into_a_17_stack_and_left_as_it_was() {
    if !docker_available(
        "a_plain_postgresql_15_directory_is_adopted_into_a_17_stack_and_left_as_it_was",
    ) {
        return;
    }
    let t = TestStack::new("adopt", 220);
    assert_eq!(t.stack.config.pg_major(), 17);
    let scratch = tempfile::tempdir().unwrap();
    let host = Utf8Path::from_path(scratch.path()).unwrap().join("legacy");
    std::fs::create_dir(&host).unwrap();
    std::os::unix::fs::chown(
        &host,
        Some(t.stack.config.uid()),
        Some(t.stack.config.gid()),
    )
    .unwrap();
    let hash = make_source(&t, &host);
    let source = host.join("pgdata");
    let before = snapshot(&source);
    assert!(before.contains_key("PG_VERSION") && before.len() > 500);
    let state = t.paths().state().to_owned();

    // Without --yes: the checks and the plan, exit 1, nothing changed.
    let plan = xtask(&state, &["adopt", "--from-dir", source.as_str()]);
    assert_eq!(plan.code, Some(1), "{plan}");
    assert!(plan.stdout.contains("PostgreSQL 15 cluster"), "{plan}");
    assert!(plan.stdout.contains("pg_upgrade --link"), "{plan}");
    assert!(plan.stdout.contains("data checksums off"), "{plan}");
    assert_eq!(data_volume(&t), None, "the plan made no volume");

    // A fault after pg_upgrade linked the copy: rolled back to no cluster, no volume left.
    let faulted = xtask_env(
        &state,
        &["adopt", "--from-dir", source.as_str(), "--yes"],
        &[("CORE_DATA_FAULT", "adopt:after-pg-upgrade")],
    );
    assert_eq!(faulted.code, Some(1), "{faulted}");
    assert!(
        faulted
            .stderr
            .contains("injected fault at `adopt:after-pg-upgrade`"),
        "{faulted}"
    );
    assert!(faulted.stderr.contains("was rolled back"), "{faulted}");
    assert_eq!(
        data_volume(&t),
        None,
        "the rollback removed the volumes adopt made"
    );
    assert_eq!(snapshot(&source), before, "the source changed");

    // Killed after the copy: the id-named copy is left in the volumes adopt made (no
    // cluster at `pgdata`); the next adopt removes it first.
    let killed = xtask_env(
        &state,
        &["adopt", "--from-dir", source.as_str(), "--yes"],
        &[("CORE_DATA_FAULT", "adopt:after-copy:kill")],
    );
    assert_eq!(killed.code, None, "killed: {killed}");
    let listing = data_volume(&t).expect("the killed run made the volumes");
    assert!(listing.contains("/pgdata.adopt-"), "{listing}");
    assert!(!listing.contains("/pgdata\n"), "{listing}");

    // Into those volumes, with a fault once the stack is up on the adopted cluster:
    // stopped, the adopted directories and the stanza its start made removed.
    let late = xtask_env(
        &state,
        &["adopt", "--from-dir", source.as_str(), "--yes"],
        &[("CORE_DATA_FAULT", "adopt:after-start")],
    );
    assert_eq!(late.code, Some(1), "{late}");
    assert!(late.stderr.contains("was rolled back"), "{late}");
    assert!(
        late.stderr.contains("left by an adopt that was killed"),
        "{late}"
    );
    assert!(late.stderr.contains("Removing the stanza"), "{late}");
    let listing = data_volume(&t).expect("the volumes adopt did not make are kept");
    assert!(
        listing
            .lines()
            .all(|line| line.ends_with("core_data.sockets")),
        "the data volume holds no cluster and no copy: {listing}"
    );
    let repository = oneshot::run(
        &t.stack,
        &[Mount::volume(
            oneshot::volume_name(&t.stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            true,
        )],
        "find",
        &["/var/lib/pgbackrest", "-mindepth", "2", "-maxdepth", "2"],
    )
    .unwrap();
    assert!(
        !repository.contains("/main"),
        "the stanza is gone: {repository}"
    );
    assert_eq!(
        t.stack.docker.health(&t.stack.container()).unwrap(),
        None,
        "the server's container is gone"
    );
    assert_eq!(snapshot(&source), before, "the source changed");

    // A volume that does not exist is refused.
    let missing = xtask(
        &state,
        &[
            "adopt",
            "--from-volume",
            "core_data_no_such_volume",
            "--yes",
        ],
    );
    assert_eq!(missing.code, Some(1), "{missing}");
    assert!(
        missing
            .stderr
            .contains("no Docker volume `core_data_no_such_volume`"),
        "{missing}"
    );

    // The adoption.
    let started = std::time::Instant::now();
    let adopted = xtask(&state, &["adopt", "--from-dir", source.as_str(), "--yes"]);
    eprintln!(
        "adopt took {:.1}s:\n{adopted}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(adopted.code, Some(0), "{adopted}");
    assert!(
        adopted.stdout.contains("install user `legacy_admin`"),
        "{adopted}"
    );
    assert!(
        adopted.stdout.contains("superuser `postgres` created"),
        "{adopted}"
    );
    let major = t.query_one_string(
        "postgres",
        "SELECT (current_setting('server_version_num')::int / 10000)::text",
    );
    assert_eq!(major, "17");
    // The stack's superuser (`t.query_one_string` connects as it over verified TLS).
    assert_eq!(
        t.query_one_string("legacy", HASH),
        hash,
        "the content changed"
    );
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user"
        ),
        "true"
    );
    // The source's role, with its password, over verified TLS.
    let mut legacy = t
        .stack
        .connect_as("legacy_user", "legacy-user-pw-5678", "legacy")
        .expect("the source's role logs in over verified TLS");
    let count: i64 = legacy
        .query_one("SELECT count(*) FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 20000);
    let ssl: bool = legacy
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(ssl, "the session is not TLS");
    // The stack's own: the configured database, and the bundle in template1.
    assert_eq!(
        t.query_one_string(
            "postgres",
            "SELECT count(*)::text FROM pg_database WHERE datname IN ('app', 'shop', 'legacy')"
        ),
        "3"
    );
    assert_eq!(
        t.query_one_string(
            "template1",
            "SELECT count(*)::text FROM pg_extension WHERE extname = 'postgis'"
        ),
        "1"
    );
    // Backups work on the new stanza.
    let backup = xtask(&state, &["backup", "take"]);
    assert_eq!(backup.code, Some(0), "{backup}");
    // No directory of the adopt is left.
    let listing = data_volume(&t).unwrap();
    assert!(!listing.contains(".adopt-"), "{listing}");

    // The source, file by file: bytes, modes, owners and mtimes.
    let after = snapshot(&source);
    pretty_assertions::assert_eq!(after, before, "the source changed");

    // The stack has a cluster now: a second adopt is refused before any change.
    let again = xtask(&state, &["adopt", "--from-dir", source.as_str(), "--yes"]);
    assert_eq!(again.code, Some(1), "{again}");
    assert!(again.stderr.contains("never replaces"), "{again}");
    assert_eq!(t.query_one_string("legacy", HASH), hash);

    // The same major from a volume, as the official image leaves it (the data directory
    // at the volume's top): no upgrade, its pg_wal moved into the WAL volume.
    let down = xtask(&state, &["down", "--volumes", "--yes"]);
    assert_eq!(down.code, Some(0), "{down}");
    let volume = format!("{}_legacy17", t.stack.config.project());
    let _remove = VolumeGuard(&t, volume.clone());
    let (hash17, before17) = make_volume_source(&t, &volume);
    let adopted = xtask(&state, &["adopt", "--from-volume", &volume, "--yes"]);
    assert_eq!(adopted.code, Some(0), "{adopted}");
    assert!(
        !adopted.stdout.contains("pg_upgrade"),
        "no upgrade: {adopted}"
    );
    assert_eq!(t.query_one_string("legacy", HASH), hash17);
    // The source's ALTER SYSTEM setting is kept aside, not applied.
    assert_ne!(t.query_one_string("postgres", "SHOW work_mem"), "7MB");
    let layout = oneshot::run(
        &t.stack,
        &[Mount::volume(
            oneshot::volume_name(&t.stack, "pgdata"),
            "/var/lib/postgresql/data",
            true,
        )],
        "find",
        &[
            "/var/lib/postgresql/data/pgdata",
            "-maxdepth",
            "1",
            "(",
            "-name",
            "pg_wal",
            "-o",
            "-name",
            "postgresql.auto.conf*",
            ")",
            "-printf",
            "%f %l\n",
        ],
    )
    .unwrap();
    assert!(
        layout.contains("pg_wal /var/lib/postgresql/wal/pg_wal"),
        "{layout}"
    );
    assert!(layout.contains("postgresql.auto.conf.source"), "{layout}");
    pretty_assertions::assert_eq!(
        before17,
        source_listing(&t, &volume),
        "the source volume changed"
    );
}

/// Removes the test's source volume when dropped (the stack's own go with the stack).
struct VolumeGuard<'a>(&'a TestStack, String);

impl Drop for VolumeGuard<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.0.stack.docker.remove_volume(&self.1) {
            eprintln!("warning: could not remove volume `{}`: {err:#}", self.1);
        }
    }
}

/// A plain PostgreSQL 17 cluster at the top of a new volume `name`, with the test's
/// data, stopped cleanly. Returns its content hash and the volume's listing.
fn make_volume_source(t: &TestStack, name: &str) -> (String, String) {
    let docker = &t.stack.docker;
    docker.remove_volume(name).unwrap();
    let container = oneshot::confined(&t.stack)
        .unwrap()
        .mount(Mount::volume(name, "/var/lib/postgresql/data", false))
        .entrypoint(&["sleep"])
        .cmd(&["infinity"])
        .start(docker)
        .unwrap();
    let run = |argv: &[&str]| -> String { exec_ok(docker, container.name(), argv) };
    let pgdata = "--pgdata=/var/lib/postgresql/data";
    run(&["initdb", pgdata, "--username=postgres", "--auth=trust"]);
    run(&[
        "pg_ctl",
        pgdata,
        "--wait",
        "--silent",
        "--options=-h '' -k /tmp",
        "start",
    ]);
    let psql = |database: &str, sql: &str| -> String {
        run(&[
            "psql",
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set=ON_ERROR_STOP=1",
            "--host=/tmp",
            "--username=postgres",
            &format!("--dbname={database}"),
            &format!("--command={sql}"),
        ])
    };
    psql("postgres", "CREATE DATABASE legacy");
    psql("legacy", DATA);
    psql("postgres", "ALTER SYSTEM SET work_mem = '7MB'");
    let hash = psql("legacy", HASH).trim().to_owned();
    run(&[
        "pg_ctl",
        pgdata,
        "--mode=fast",
        "--wait",
        "--silent",
        "stop",
    ]);
    drop(container);
    (hash, source_listing(t, name))
}

/// Every entry of volume `name`: path, mode, owner, size, mtime, link target, and
/// each file's MD5 (read in a one-shot).
fn source_listing(t: &TestStack, name: &str) -> String {
    let mount = [Mount::volume(name, "/source", true)];
    let meta = oneshot::run(
        &t.stack,
        &mount,
        "find",
        &["/source", "-printf", "%p %m %U:%G %s %T@ %l\n"],
    )
    .unwrap();
    let sums = oneshot::run(
        &t.stack,
        &mount,
        "find",
        &["/source", "-type", "f", "-exec", "md5sum", "{}", "+"],
    )
    .unwrap();
    let mut lines: Vec<&str> = meta.lines().chain(sums.lines()).collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `argv` in `container`; its stdout, or a panic with both streams when it fails.
fn exec_ok(docker: &core_data_ops::docker::Docker, container: &str, argv: &[&str]) -> String {
    let output = docker.exec(container, argv, None).unwrap();
    assert_eq!(
        output.exit_code,
        0,
        "`{}`:\n{}\n{}",
        argv.join(" "),
        output.stdout,
        output.stderr
    );
    output.stdout
}
