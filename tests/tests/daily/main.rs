//! `daily-maintenance` on a real stack (subnet 215), through the CLI binary:
//! activity with a DDL statement pgaudit logs and a slow query, then a bundle
//! whose every file is checked for what it must hold; a second run the same day
//! beside the first (which stays byte for byte), retention, the exit codes, the
//! refusals that write nothing; `logs` showing the server's log file, and
//! `security status` passing with the log volume and the logging collector;
//! the second bundle's `index.html` in headless Chromium (`browser.rs`).

mod browser;

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::secrets;
use core_data_tests::{
    compile_script, docker_available, finish, run_runbook, xtask, xtask_command, CliOutput,
    TestStack,
};
use sha2::{Digest, Sha256};

/// Every file a complete bundle holds (index.html links all but itself).
const FILES: &[&str] = &[
    "server-log.json",
    "server-log.txt",
    "pgbadger.html",
    "pgaudit-events.csv",
    "pgaudit-summary.csv",
    "audit.json",
    "audit.csv",
    "buffercache.json",
    "pgstat.json",
    "pgstat-diff.json",
    "pgstat-diff.csv",
    "tables.csv",
    "version-status.json",
    "logical-backup-status.json",
    "backups.json",
    "index.html",
];

#[test]
fn daily_maintenance_bundle() {
    if !docker_available("daily_maintenance_bundle") {
        return;
    }
    let started = std::time::Instant::now();
    let t = TestStack::new("daily", 215);
    t.up();
    let state = t.paths().state().to_owned();
    activity(&t);
    wait_for_sidecar(&t);

    logs_show_the_server_log_file(&state);
    logs_follow_the_server_log_file(&t, &state);
    runbook_logs_include_the_server_log_file(&t);
    // The collector and the log volume leave the confinement as it was.
    let security = xtask(&state, &["security", "status"]);
    assert_eq!(security.code, Some(0), "`security status`:\n{security}");
    refusals_write_nothing(&state);

    // Nothing past a threshold (the planted dead tuples under a high floor): exit 0.
    let first = daily(&state, &["--dead-tuples-min", "1000000000"]);
    assert_eq!(first.code, Some(0), "a clean day exits 0:\n{first}");
    let run1 = index_dir(&first);
    assert!(
        run1.as_str().ends_with("/run-001"),
        "the first run of the day is run-001: {run1}"
    );
    check_bundle(&run1);
    let audit_csv = read(&run1, "audit.csv");
    let rows = csv_rows(&audit_csv);
    assert!(
        rows.iter().any(|row| row["audit"] == "buffercache"),
        "audit.csv holds the buffercache audit's rows:\n{audit_csv}"
    );
    assert!(
        !rows
            .iter()
            .any(|row| row["audit"] == "autovacuum" && row["object"].contains("daily_dead")),
        "under a high floor the planted table is no finding:\n{audit_csv}"
    );
    let before = hashes(&run1);

    // An expired dated bundle, a directory that is not a date, a link named as a date.
    let daily_dir = state.join("backups/daily");
    std::fs::create_dir_all(daily_dir.join("2000-01-01/run-001")).unwrap();
    std::fs::write(daily_dir.join("2000-01-01/run-001/index.html"), "old").unwrap();
    std::fs::create_dir_all(daily_dir.join("notes")).unwrap();
    let outside = state.join("outside-2000");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, daily_dir.join("2000-01-02")).unwrap();

    // The same day again, with a dead-tuple floor the planted table crosses: exit 1.
    let second = daily(
        &state,
        &["--dead-tuples-min", "10", "--dead-tuple-ratio", "0.01"],
    );
    assert_eq!(
        second.code,
        Some(1),
        "a finding past a threshold exits 1:\n{second}"
    );
    let run2 = index_dir(&second);
    assert_eq!(run2, run1.parent().unwrap().join("run-002"), "{second}");
    assert_eq!(hashes(&run1), before, "the first run must stay as it was");
    check_bundle(&run2);
    browser::index_renders_cleanly(&t.stack.docker, &run2);
    let audit_csv = read(&run2, "audit.csv");
    let rows = csv_rows(&audit_csv);
    assert!(
        rows.iter().any(|row| row["audit"] == "autovacuum"
            && row["object"].contains("daily_dead")
            && row["severity"] != "info"),
        "audit.csv names the planted table:\n{audit_csv}"
    );
    let index = read(&run2, "index.html");
    assert!(index.contains("daily_dead"), "index.html lists the finding");
    let diff: serde_json::Value = serde_json::from_str(&read(&run2, "pgstat-diff.json")).unwrap();
    assert!(
        index.contains("Compared with the snapshot of bundle")
            && index.contains(run1.file_name().unwrap()),
        "the second run compares with the first run's snapshot: {}",
        index
            .split("<h2>Top statements")
            .nth(1)
            .map(|rest| &rest[..rest.len().min(400)])
            .unwrap_or("(no statements section)")
    );
    assert!(diff["rows"].is_array());
    assert!(
        !daily_dir.join("2000-01-01").exists(),
        "the expired bundle is removed"
    );
    assert!(
        daily_dir.join("notes").is_dir(),
        "a directory that is not a date stays"
    );
    assert!(outside.is_dir(), "a link is never followed");
    assert!(
        daily_dir.join("2000-01-02").symlink_metadata().is_ok(),
        "a link is not removed"
    );
    logs_read_the_volume_of_a_stopped_server(&t, &state);
    eprintln!(
        "daily_maintenance_bundle: {:.0}s",
        started.elapsed().as_secs_f64()
    );
}

/// Whether `text` holds a SCRAM verifier (`SCRAM-SHA-256$<iterations>:…`; the
/// prefix alone also appears in the audit functions' bodies, which test for it).
fn holds_verifier(text: &str) -> bool {
    text.match_indices("SCRAM-SHA-256$").any(|(at, prefix)| {
        text[at + prefix.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// A password an operator typed in clear; no file of the bundle may hold it.
const CLEAR_PASSWORD: &str = "daily-clear-secret-42";

/// A role's DDL (pgaudit logs it), a slow statement, a table of dead tuples,
/// and a role made with a password in clear.
fn activity(t: &TestStack) {
    t.sql(
        "postgres",
        &format!("CREATE ROLE daily_probe LOGIN PASSWORD '{CLEAR_PASSWORD}'"),
    );
    let password =
        secrets::read(&secrets::role_password_file(t.paths(), "app")).expect("app's password");
    let mut app = t
        .stack
        .connect_as("app", &password, "app")
        .expect("connect as app");
    app.batch_execute(
        "CREATE TABLE daily_audited (id int PRIMARY KEY, note text);
         CREATE TABLE daily_dead (id int, pad text) WITH (autovacuum_enabled = false);
         INSERT INTO daily_dead SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;
         DELETE FROM daily_dead WHERE id > 1000;",
    )
    .expect("activity");
    app.batch_execute("SELECT pg_sleep(0.7) AS daily_slow_marker")
        .expect("slow query");
    app.batch_execute("SELECT pg_stat_force_next_flush()")
        .expect("flush statistics");
    drop(app);
    // The statistics of the DELETE reach pg_stat_user_tables when the session flushes.
    std::thread::sleep(std::time::Duration::from_secs(2));
}

/// The sidecar writes its status after its first run; the bundle reads it.
fn wait_for_sidecar(t: &TestStack) {
    let status = t.paths().backups_dir().join("logical/status.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !status.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sidecar wrote no status.json in 180 s"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    // Its first run's status says `ok` once the run has finished.
    std::thread::sleep(std::time::Duration::from_secs(2));
}

fn daily(state: &Utf8Path, extra: &[&str]) -> CliOutput {
    let mut args = vec!["daily-maintenance", "--network", "none"];
    args.extend_from_slice(extra);
    xtask(state, &args)
}

/// The run directory from the index path the command prints.
fn index_dir(out: &CliOutput) -> Utf8PathBuf {
    let line = out
        .stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no index path printed:\n{out}"));
    let index = Utf8PathBuf::from(line);
    assert!(index.is_file(), "`{index}` is not a file:\n{out}");
    index.parent().unwrap().to_owned()
}

fn read(dir: &Utf8Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|err| panic!("{dir}/{name}: {err}"))
}

fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("a CSV header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("a CSV record");
            header
                .iter()
                .zip(record.iter())
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn hashes(dir: &Utf8Path) -> BTreeMap<String, String> {
    dir.read_dir_utf8()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            (
                entry.file_name().to_owned(),
                format!("{:x}", Sha256::digest(bytes)),
            )
        })
        .collect()
}

/// Every file there and non-empty, each holding what it must.
fn check_bundle(dir: &Utf8Path) {
    for name in FILES {
        let len = std::fs::metadata(dir.join(name))
            .unwrap_or_else(|err| panic!("{dir}/{name} is missing: {err}"))
            .len();
        assert!(len > 0, "{dir}/{name} is empty");
    }

    // pgBadger's report is of the day's log and shows the slow statement.
    let badger = read(dir, "pgbadger.html");
    assert!(
        badger.contains("<html") && badger.contains("pgBadger"),
        "not pgBadger's HTML"
    );
    assert!(
        badger.contains("daily_slow_marker"),
        "pgBadger's report does not show the slow statement"
    );
    let log = read(dir, "server-log.json");
    for line in log.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("server-log.json: `{line}`: {err}"));
        assert!(value["timestamp"].is_string());
    }
    assert!(read(dir, "server-log.txt").contains("daily_slow_marker"));

    // Who changed what: the DDL and its role.
    let summary = csv_rows(&read(dir, "pgaudit-summary.csv"));
    assert!(
        summary.iter().any(|row| row["user"] == "app"
            && row["database"] == "app"
            && row["class"] == "DDL"
            && row["command"] == "CREATE TABLE"
            && row["object"].contains("daily_audited")),
        "the pgaudit summary does not name app's CREATE TABLE: {summary:?}"
    );
    // `up` set the service roles' passwords today (as SCRAM verifiers) and
    // `activity` made a role with a password in clear: neither reaches any file
    // of the bundle (pgaudit logs both, pg_stat_statements keeps both).
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        files += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !holds_verifier(&text) && !text.contains(CLEAR_PASSWORD),
            "{} holds a password or a SCRAM verifier",
            path.display()
        );
    }
    assert!(files >= 10, "the bundle holds only {files} files");
    let index = read(dir, "index.html");
    assert!(
        index.contains("the log volume holds") && !index.contains("holds unknown"),
        "the server log step reports the log volume's size"
    );
    let events = csv_rows(&read(dir, "pgaudit-events.csv"));
    assert!(events
        .iter()
        .any(|row| row["statement"].contains("CREATE TABLE daily_audited")));

    // Audits: one report per audit of `audit all`, as JSON and CSV.
    let audit: serde_json::Value = serde_json::from_str(&read(dir, "audit.json")).unwrap();
    let names: Vec<&str> = audit["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["audit"].as_str().unwrap())
        .collect();
    for wanted in [
        "config",
        "roles",
        "security",
        "autovacuum",
        "buffercache",
        "indexes",
    ] {
        assert!(
            names.contains(&wanted),
            "audit.json lacks `{wanted}`: {names:?}"
        );
    }
    assert_eq!(audit["connected_as"]["superuser"], false);
    // The same shape as `audit all --format json` (docs/schema/audit.schema.json).
    let schema_path = core_data_ops::paths::repo_root().join("docs/schema/audit.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON schema");
    let errors: Vec<String> = validator
        .iter_errors(&audit)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "audit.json does not match the schema: {errors:?}"
    );
    let audit_csv = read(dir, "audit.csv");
    assert!(audit_csv.starts_with("audit,database,object,check,severity,value,detail\n"));
    let buffercache: serde_json::Value =
        serde_json::from_str(&read(dir, "buffercache.json")).unwrap();
    assert_eq!(buffercache["audit"], "buffercache");

    // Snapshots and the diff.
    let pgstat: serde_json::Value = serde_json::from_str(&read(dir, "pgstat.json")).unwrap();
    assert!(pgstat["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["query"].as_str().unwrap_or("").contains("pg_sleep")));
    let diff: serde_json::Value = serde_json::from_str(&read(dir, "pgstat-diff.json")).unwrap();
    assert_eq!(diff["sort"], "total_time");
    assert!(csv_rows(&read(dir, "pgstat-diff.csv")).len() <= 25);

    // The tables, with the planted dead tuples.
    let tables = csv_rows(&read(dir, "tables.csv"));
    let dead = tables
        .iter()
        .find(|row| row["table"] == "public.daily_dead" && row["database"] == "app")
        .unwrap_or_else(|| panic!("tables.csv lacks app's daily_dead: {tables:?}"));
    assert!(
        dead["dead_tuples"].parse::<i64>().unwrap() >= 4000,
        "dead tuples: {dead:?}"
    );

    // Statuses.
    let versions: serde_json::Value =
        serde_json::from_str(&read(dir, "version-status.json")).unwrap();
    assert_eq!(versions["audit"], "versions");
    let sidecar: serde_json::Value =
        serde_json::from_str(&read(dir, "logical-backup-status.json")).unwrap();
    assert!(sidecar.get("healthy").is_some());
    let backups: serde_json::Value = serde_json::from_str(&read(dir, "backups.json")).unwrap();
    assert!(backups["sets"].is_array());

    check_index(dir);
}

/// index.html: balanced tags, links only to files of the bundle that exist, SVG charts.
fn check_index(dir: &Utf8Path) {
    let html = read(dir, "index.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    balanced(&html);
    let links: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert!(links.len() >= FILES.len() - 1, "too few links: {links:?}");
    for link in &links {
        assert!(
            !link.contains('/') && !link.contains(".."),
            "a link leaves the bundle: {link}"
        );
        assert!(
            dir.join(link).is_file(),
            "index.html links `{link}`, which does not exist"
        );
    }
    for name in FILES.iter().filter(|n| **n != "index.html") {
        assert!(links.contains(name), "index.html does not link {name}");
    }
    let charts = html.matches("<svg").count();
    assert!(charts >= 5, "index.html has {charts} SVG charts");
    assert_eq!(charts, html.matches("</svg>").count());
    assert!(html.contains("<rect"), "no chart draws anything");
    assert!(!html.contains("<script"), "index.html runs no script");
}

/// Every opened element is closed, in order (void elements excepted).
fn balanced(html: &str) {
    const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let end = rest.find('>').expect("an unterminated tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.starts_with('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("`</{name}>` closes nothing"));
            assert_eq!(open, name, "`</{name}>` closes `<{open}>`");
        } else if !self_closing && !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

/// `logs` prints the server's own log file (the collector's), not only Docker's.
fn logs_show_the_server_log_file(state: &Utf8Path) {
    // The marker was logged minutes ago; the sidecar's dumps log connections since, more of
    // them when other tests load the machine: a deep tail.
    let out = xtask(state, &["logs", "--tail", "5000"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr
            .contains("==> server log /var/log/postgresql/postgresql-"),
        "{out}"
    );
    assert!(
        out.stdout.contains("daily_slow_marker"),
        "`logs` does not show the slow statement from the server's log file:\n{out}"
    );
}

/// Bad input is refused before anything is written.
fn refusals_write_nothing(state: &Utf8Path) {
    let daily_dir = state.join("backups/daily");
    for (args, says) in [
        (vec!["--retention-days", "0"], "at least 1"),
        (vec!["--date", "2026-13-01"], "not a date"),
        (vec!["--date", "9999-01-01"], "in the future"),
    ] {
        let out = daily(state, &args);
        assert_eq!(out.code, Some(1), "{args:?}:\n{out}");
        assert!(
            out.stderr.contains(says),
            "{args:?} should say `{says}`:\n{out}"
        );
        assert!(!daily_dir.exists(), "{args:?} wrote something");
    }
}

/// `logs --follow` prints what the server writes after it started.
fn logs_follow_the_server_log_file(t: &TestStack, state: &Utf8Path) {
    let handle = xtask_command(state, &["logs", "--follow", "--tail", "1"])
        .start()
        .expect("start `logs --follow`");
    std::thread::sleep(std::time::Duration::from_secs(4));
    t.sql("app", "SELECT pg_sleep(0.6) AS daily_follow_marker");
    std::thread::sleep(std::time::Duration::from_secs(3));
    handle.kill().expect("stop `logs --follow`");
    let out = finish(handle);
    assert!(
        out.stdout.contains("daily_follow_marker"),
        "`logs --follow` did not print the statement logged after it started:\n{out}"
    );
}

/// With the server stopped, `logs` still shows its log file (from the volume).
fn logs_read_the_volume_of_a_stopped_server(t: &TestStack, state: &Utf8Path) {
    t.stack
        .compose()
        .run(&["stop", "postgres"])
        .expect("stop postgres");
    let out = xtask(state, &["logs", "--tail", "50"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("the server is not running"), "{out}");
    assert!(
        // The postmaster's first shutdown line: its last one ("database system is shut
        // down") can be lost, since the postmaster is PID 1 and its exit kills the
        // logging collector before it has read the pipe to the end.
        out.stdout.contains("received fast shutdown request"),
        "`logs` does not show the stopped server's last lines:\n{out}"
    );
}

/// A runbook's `docker::logs("postgres", …)` reaches the server's log file too.
fn runbook_logs_include_the_server_log_file(t: &TestStack) {
    let catalog = compile_script(
        "daily_logs.rhai",
        r#"
/// Says whether the server's log shows the slow statement.
fn server_log() {
    let log = docker::logs("postgres", 2000);
    let found = log.filter(|line| line.contains("daily_slow_marker"));
    print(`found ${found.len()}`);
}
"#,
    );
    let ran = run_runbook(&t.stack, &catalog, "server_log", &[], Default::default());
    assert_eq!(ran.result, Ok(0), "{ran}");
    assert!(
        ran.stdout.contains("found ") && !ran.stdout.contains("found 0"),
        "docker::logs(\"postgres\") does not show the server's log file:\n{ran}"
    );
}
