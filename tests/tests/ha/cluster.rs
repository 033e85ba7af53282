//! The cluster as the test reads it: `ha status`, the leader, a settled
//! wait, SQL in a node's container, and every acknowledged commit present.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use core_data_tests::{xtask, TestStack};

use crate::clients::Log;

pub(crate) fn status_json(t: &TestStack) -> serde_json::Value {
    let out = xtask(t.paths().state(), &["ha", "status", "--format", "json"]);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("ha status JSON: {e}\n{out}"))
}

pub(crate) fn leader(t: &TestStack) -> String {
    let json = status_json(t);
    json["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "Leader")
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no leader: {json}"))
}

/// Waits until `ha status` exits 0: one leader, every node streaming, etcd healthy.
pub(crate) fn wait_settled(t: &TestStack, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let out = xtask(t.paths().state(), &["ha", "status"]);
        if out.code == Some(0) {
            return out.stdout;
        }
        assert!(
            started.elapsed() < limit,
            "the cluster did not settle in {limit:?}:\n{out}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `psql` in a node's container over its socket.
pub(crate) fn node_sql(t: &TestStack, node: &str, sql: &str) -> String {
    let container = t.stack.config.container_name(node);
    let command = format!("--command={sql}");
    let argv = [
        "psql", "-XAtq", "-U", "postgres", "-d", "postgres", &command,
    ];
    let out = t.stack.docker.exec(&container, &argv, None).unwrap();
    assert_eq!(out.exit_code, 0, "{node}: {sql}: {}", out.stderr);
    out.stdout.trim().to_owned()
}

/// Every id the writer saw acknowledged is on the primary (reached through the
/// read-write port; a connection refused while HAProxy catches up is retried).
pub(crate) fn assert_acked_present(t: &TestStack, log: &Mutex<Log>, when: &str) {
    let ids: Vec<i64> = log
        .lock()
        .unwrap()
        .acked
        .iter()
        .map(|(id, _)| *id)
        .collect();
    let started = Instant::now();
    let mut client = loop {
        match t.stack.connect("postgres") {
            Ok(client) => break client,
            Err(err) if started.elapsed() < Duration::from_secs(20) => {
                eprintln!("{when}: connecting: {err:#}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(err) => panic!("{when}: no connection to the primary: {err:#}"),
        }
    };
    let present: i64 = client
        .query_one("SELECT count(*) FROM ha_probe WHERE id = ANY($1)", &[&ids])
        .unwrap()
        .get(0);
    assert_eq!(
        present,
        ids.len() as i64,
        "{when}: {} of {} acknowledged commit(s) missing on the primary",
        ids.len() as i64 - present,
        ids.len()
    );
}
