//! `--format json` of the commands that report a running stack's state
//! (`status`, `service-urls`, `backup info`, `dump-status`), on one stack with
//! one backup: each prints one JSON document with the fields docs/json.md
//! documents, holding plausible values, and keeps its exit code. The old
//! spellings (`backup --type`, `provision-qa --list`, `dump-status --json`) still
//! work beside the new ones.

use std::time::{Duration, Instant};

use core_data_ops::secrets;
use core_data_tests::{docker_available, xtask, CliOutput, TestStack};
use serde_json::Value;

fn json(out: &CliOutput) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"))
}

#[test]
fn reports_as_json() {
    if !docker_available("reports_as_json") {
        return;
    }
    let t = TestStack::new("json", 208);
    let state = t.paths().state().to_owned();

    // Before `up`: no containers, exit 1, and still one document.
    let out = xtask(&state, &["status", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let down = json(&out);
    assert_eq!(down["containers"], Value::Array(Vec::new()), "{down}");
    assert_eq!(down["healthy"], false, "{down}");
    assert!(down["server"].is_null(), "{down}");

    t.up();
    status(&state, t.stack.config.project());
    service_urls(&t);
    let label = backup_info(&state);
    dump_status(&state);
    qa_list(&state);
    eprintln!("checked the JSON of status, service-urls, backup info ({label}) and dump-status");
}

fn status(state: &camino::Utf8Path, project: &str) {
    let out = xtask(state, &["status", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let status = json(&out);
    assert_eq!(status["project"], project, "{status}");
    assert_eq!(status["healthy"], true, "{status}");
    let containers = status["containers"].as_array().expect("`containers`");
    let postgres = containers
        .iter()
        .find(|c| c["service"] == "postgres")
        .unwrap_or_else(|| panic!("no `postgres` service: {status}"));
    assert_eq!(
        postgres["name"],
        format!("{project}-postgres"),
        "{postgres}"
    );
    assert_eq!(postgres["state"], "running", "{postgres}");
    assert_eq!(postgres["health"], "healthy", "{postgres}");
    assert!(postgres["image"].as_str().is_some_and(|i| !i.is_empty()));
    assert!(status["interrupted_restore"].is_null(), "{status}");
    let server = &status["server"];
    assert_eq!(server["reachable"], true, "{server}");
    assert!(server["error"].is_null(), "{server}");
    assert!(
        server["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("PostgreSQL 17")),
        "{server}"
    );
    assert_eq!(server["archiving_unhealthy"], false, "{server}");
    let archiving = &server["archiving"];
    assert_eq!(archiving["failing"], false, "{archiving}");
    for field in ["archived_count", "failed_count", "oldest_waiting_seconds"] {
        assert!(archiving[field].is_i64(), "`{field}`: {archiving}");
    }
    // The table is unchanged for people.
    let out = xtask(state, &["status"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.starts_with("CONTAINER"), "{out}");
    assert!(out.stdout.contains("WAL archiving: ok"), "{out}");
}

fn service_urls(t: &TestStack) {
    let state = t.paths().state();
    let password = secrets::read(&secrets::superuser_password_file(t.paths())).unwrap();
    let out = xtask(state, &["service-urls", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        !out.stdout.contains(&password),
        "no password without --show-passwords"
    );
    let urls = json(&out);
    assert_eq!(urls["passwords_included"], false, "{urls}");
    let list = urls["urls"].as_array().expect("`urls`");
    let names: Vec<&str> = list.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["SUPERUSER_URL", "DATABASE_URL_APP", "DATABASE_URL_SHOP"],
        "{urls}"
    );
    let port = t.stack.config.host_port();
    for url in list {
        let text = url["url"].as_str().expect("`url`");
        let user = url["user"].as_str().expect("`user`");
        let database = url["database"].as_str().expect("`database`");
        assert!(
            text.starts_with(&format!("postgresql://{user}@127.0.0.1:{port}/{database}?")),
            "{url}"
        );
        assert!(text.contains("sslmode=verify-full"), "{url}");
    }
    assert_eq!(list[2]["user"], "shop_owner", "{urls}");

    let out = xtask(
        state,
        &["service-urls", "--show-passwords", "--format", "json"],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let shown = json(&out);
    assert_eq!(shown["passwords_included"], true, "{shown}");
    assert!(
        shown["urls"][0]["url"]
            .as_str()
            .is_some_and(|u| u.contains(&format!(":{password}@"))),
        "the superuser's URL carries its password with --show-passwords"
    );
}

/// Takes a full backup with the new spelling and an incremental one with the old, then
/// checks `backup info --format json` lists both. Returns the full set's label.
fn backup_info(state: &camino::Utf8Path) -> String {
    let out = xtask(state, &["backup", "take", "--type", "full"]);
    assert_eq!(out.code, Some(0), "{out}");
    let label = out
        .stdout
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no label in:\n{out}"))
        .to_owned();
    let out = xtask(state, &["backup", "--type", "incr"]);
    assert_eq!(
        out.code,
        Some(0),
        "the old spelling still takes a backup:\n{out}"
    );

    let out = xtask(state, &["backup", "info", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let info = json(&out);
    assert_eq!(info["stanza"], "main", "{info}");
    let sets = info["sets"].as_array().expect("`sets`");
    assert_eq!(sets.len(), 2, "{info}");
    let full = &sets[0];
    assert_eq!(full["label"], label.as_str(), "{info}");
    assert_eq!(full["kind"], "full", "{full}");
    assert_eq!(sets[1]["kind"], "incr", "{info}");
    let started = full["started"].as_i64().expect("`started`");
    let stopped = full["stopped"].as_i64().expect("`stopped`");
    assert!(started > 1_700_000_000 && stopped >= started, "{full}");
    assert!(
        full["database_bytes"]
            .as_u64()
            .is_some_and(|b| b > 1_000_000),
        "{full}"
    );
    assert!(
        full["repo_delta_bytes"].as_u64().is_some_and(|b| b > 0),
        "{full}"
    );
    assert!(
        full["lsn_stop"].as_str().is_some_and(|l| l.contains('/')),
        "{full}"
    );
    // The text is pgBackRest's own report, as before.
    let out = xtask(state, &["backup", "info"]);
    assert!(out.stdout.contains(&label), "{out}");
    label
}

/// `dump-status --format json` once the sidecar's first run has written its status.
fn dump_status(state: &camino::Utf8Path) {
    let started = Instant::now();
    let out = loop {
        let out = xtask(state, &["dump-status", "--format", "json"]);
        if out.code == Some(0) || started.elapsed() > Duration::from_secs(300) {
            break out;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(
        out.code,
        Some(0),
        "the sidecar's first run should succeed:\n{out}"
    );
    let status = json(&out);
    assert_eq!(status["healthy"], true, "{status}");
    assert!(status["problem"].is_null(), "{status}");
    assert_eq!(status["leftovers"], Value::Array(Vec::new()), "{status}");
    assert_eq!(status["version"], 1, "{status}");
    assert_eq!(status["interval_seconds"], 86_400, "{status}");
    assert!(status["last_success"].is_string(), "{status}");
    let run = &status["last_run"];
    assert_eq!(run["ok"], true, "{run}");
    let databases: Vec<&str> = run["databases"]
        .as_array()
        .expect("`databases`")
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for database in ["app", "shop"] {
        assert!(databases.contains(&database), "{run}");
    }
    assert!(
        run["globals"]["bytes"].as_u64().is_some_and(|b| b > 0),
        "{run}"
    );

    // The old `--json` prints the same document.
    let old = xtask(state, &["dump-status", "--json"]);
    assert_eq!(old.code, Some(0), "{old}");
    assert_eq!(json(&old)["last_run"], status["last_run"]);
}

fn qa_list(state: &camino::Utf8Path) {
    for args in [&["qa", "list"][..], &["provision-qa", "--list"]] {
        let out = xtask(state, args);
        assert_eq!(out.code, Some(0), "{out}");
        assert!(out.stdout.starts_with("no QA clones of "), "{out}");
    }
}
