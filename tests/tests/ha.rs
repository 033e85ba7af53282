//! The high-availability topology on the real engine: three PostgreSQL nodes
//! run by Patroni, three etcd members and HAProxy, each on its own networks,
//! in synchronous mode, brought up by `cargo xtask up --ha`.
//!
//! - `up --ha` settles with one leader and two streaming replicas; `ha status`
//!   says so (exit 0), in its table and as JSON, with every etcd member healthy.
//! - A client writes through HAProxy's read-write port every 20 ms and records
//!   each acknowledged commit. (a) The leader's postmaster alone is killed with
//!   SIGKILL (Patroni alive): writes are served again within 10 s. (b) The
//!   leader's whole container is killed with SIGKILL: a new primary serves
//!   writes within `ttl + loop_wait + 5` s. After each, every acknowledged
//!   commit is on the primary (synchronous mode loses none), and the killed
//!   node, started again, rejoins as a streaming replica by itself; at the end
//!   every node holds the same content.
//! - Reads through the read-only port reach a replica.
//! The failover times are printed (they are measured, and bounded by the limits).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_tests::{docker_available, free_port, xtask, TestStack};

const TTL: u64 = 20;
const LOOP_WAIT: u64 = 2;

/// What the writer saw: each acknowledged id with when it was acknowledged,
/// and when each failed attempt happened.
#[derive(Default)]
struct Log {
    acked: Vec<(i64, Instant)>,
    failures: Vec<Instant>,
}

/// Writes through the read-write port until `stop`, reconnecting after any error.
fn writer(
    t: &TestStack,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) -> std::thread::JoinHandle<()> {
    let paths = t.paths().clone();
    let config = t.stack.config.clone();
    std::thread::spawn(move || {
        let stack = core_data_ops::stack::Stack::new(paths, config).expect("stack");
        let mut client: Option<postgres::Client> = None;
        while !stop.load(Ordering::SeqCst) {
            if client.is_none() {
                client = stack.connect("postgres").ok();
            }
            let result = match client.as_mut() {
                Some(c) => c
                    .query_one("INSERT INTO ha_probe DEFAULT VALUES RETURNING id", &[])
                    .map(|row| row.get::<_, i64>(0))
                    .map_err(|e| e.to_string()),
                None => Err("no connection".to_owned()),
            };
            let now = Instant::now();
            match result {
                Ok(id) => log.lock().unwrap().acked.push((id, now)),
                Err(_) => {
                    log.lock().unwrap().failures.push(now);
                    client = None;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// From `killed` to the first acknowledged write after the first failure
/// that followed it (zero when no write failed).
fn outage(log: &Log, killed: Instant) -> Option<Duration> {
    let Some(first_failure) = log.failures.iter().find(|f| **f >= killed) else {
        return Some(Duration::ZERO);
    };
    log.acked
        .iter()
        .find(|(_, at)| at > first_failure)
        .map(|(_, at)| *at - killed)
}

fn status_json(t: &TestStack) -> serde_json::Value {
    let out = xtask(t.paths().state(), &["ha", "status", "--format", "json"]);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("ha status JSON: {e}\n{out}"))
}

fn leader(t: &TestStack) -> String {
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
fn wait_settled(t: &TestStack, limit: Duration) -> String {
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
fn node_sql(t: &TestStack, node: &str, sql: &str) -> String {
    let container = t.stack.config.container_name(node);
    let out = t
        .stack
        .docker
        .exec(
            &container,
            &[
                "psql", "-XAtq", "-U", "postgres", "-d", "postgres", "-c", sql,
            ],
            None,
        )
        .unwrap();
    assert_eq!(out.exit_code, 0, "{node}: {sql}: {}", out.stderr);
    out.stdout.trim().to_owned()
}

fn assert_acked_present(t: &TestStack, log: &Log, when: &str) {
    let ids: Vec<i64> = log.acked.iter().map(|(id, _)| *id).collect();
    let mut client = t.stack.connect("postgres").unwrap();
    let present: i64 = client
        .query_one("SELECT count(*) FROM ha_probe WHERE id = ANY($1)", &[&ids])
        .unwrap()
        .get(0);
    assert_eq!(
        present,
        ids.len() as i64,
        "{when}: {} acknowledged commit(s) missing on the new primary",
        ids.len() as i64 - present
    );
}

#[test]
fn ha_cluster_fails_over_without_losing_a_commit() {
    if !docker_available("ha_cluster_fails_over_without_losing_a_commit") {
        return;
    }
    let mut t = TestStack::new("ha", 252);
    let read_only = free_port().to_string();
    for (key, value) in [
        ("COMPOSE_PROFILES", "ha"),
        ("HA_NODES", "3"),
        ("HA_ETCD_NODES", "3"),
        ("HA_SYNCHRONOUS", "true"),
        ("HA_READ_ONLY_PORT", read_only.as_str()),
        ("HA_DCS_SUBNET", "172.30.253.0/24"),
    ] {
        t.set(key, value);
    }
    let out = xtask(t.paths().state(), &["up"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("leader: pg"), "{out}");

    let table = wait_settled(&t, Duration::from_secs(60));
    for node in ["pg1", "pg2", "pg3"] {
        assert!(table.contains(node), "{table}");
    }
    let json = status_json(&t);
    let members = json["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{json}");
    assert_eq!(
        members.iter().filter(|m| m["role"] == "Leader").count(),
        1,
        "{json}"
    );
    assert_eq!(
        members
            .iter()
            .filter(|m| m["role"] == "Sync Standby")
            .count(),
        1,
        "synchronous mode names one sync standby: {json}"
    );
    assert!(
        json["etcd"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["healthy"] == true),
        "{json}"
    );
    assert_eq!(json["etcd"].as_array().unwrap().len(), 3, "{json}");

    t.sql(
        "postgres",
        "CREATE TABLE ha_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
    );
    // The read-only port reaches a replica.
    {
        let config = t
            .stack
            .config
            .with_value("POSTGRES_HOST_PORT", &read_only)
            .unwrap();
        let ro = core_data_ops::stack::Stack::new(t.paths().clone(), config).unwrap();
        let mut client = ro.connect("postgres").unwrap();
        let in_recovery: bool = client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .unwrap()
            .get(0);
        assert!(in_recovery, "the read-only port reached the primary");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let handle = writer(&t, stop.clone(), log.clone());
    std::thread::sleep(Duration::from_secs(3));

    // (a) The postmaster alone, SIGKILL; Patroni stays.
    let first = leader(&t);
    let container = t.stack.config.container_name(&first);
    let killed = Instant::now();
    let out = t
        .stack
        .docker
        .exec(
            &container,
            &[
                "bash",
                "-c",
                "kill -KILL \"$(head -1 /var/lib/postgresql/data/pgdata/postmaster.pid)\"",
            ],
            None,
        )
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    let limit_a = Duration::from_secs(10);
    let a = loop {
        if let Some(outage) = outage(&log.lock().unwrap(), killed) {
            if log
                .lock()
                .unwrap()
                .acked
                .last()
                .is_some_and(|(_, at)| *at > killed)
            {
                break outage;
            }
        }
        assert!(
            killed.elapsed() < limit_a + Duration::from_secs(20),
            "no write after the postmaster kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "ha: postmaster SIGKILL on {first}: writes served again after {:.2}s",
        a.as_secs_f64()
    );
    assert!(
        a <= limit_a,
        "postmaster kill: writes resumed after {a:?}, over {limit_a:?}"
    );
    wait_settled(&t, Duration::from_secs(60));
    assert_acked_present(&t, &log.lock().unwrap(), "after the postmaster kill");

    // (b) The whole leader container, SIGKILL.
    std::thread::sleep(Duration::from_secs(2));
    let second = leader(&t);
    let container = t.stack.config.container_name(&second);
    let killed = Instant::now();
    t.stack.docker.kill(&container, "SIGKILL").unwrap();
    let limit_b = Duration::from_secs(TTL + LOOP_WAIT + 5);
    let b = loop {
        {
            let log = log.lock().unwrap();
            if log.acked.last().is_some_and(|(_, at)| *at > killed) {
                if let Some(outage) = outage(&log, killed) {
                    break outage;
                }
            }
        }
        assert!(
            killed.elapsed() < limit_b + Duration::from_secs(30),
            "no write after the container kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "ha: container SIGKILL of leader {second}: a new primary served writes after {:.2}s",
        b.as_secs_f64()
    );
    assert!(
        b <= limit_b,
        "container kill: writes resumed after {b:?}, over {limit_b:?}"
    );
    let third = leader(&t);
    assert_ne!(third, second, "the killed node is still the leader");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    let log = log.lock().unwrap();
    assert!(
        log.acked.len() > 100,
        "the writer acknowledged only {} commits",
        log.acked.len()
    );
    assert_acked_present(&t, &log, "after the container kill");

    // The killed node, started again, rejoins as a replica by itself.
    let out = duct::cmd("docker", ["start", &container])
        .stderr_to_stdout()
        .unchecked()
        .run()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let table = wait_settled(&t, Duration::from_secs(120));
    println!("{table}");
    assert_eq!(leader(&t), third, "the rejoined node took the lead back");

    // Every node holds the same content.
    let hash = "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM ha_probe";
    let primary_hash = node_sql(&t, &third, hash);
    std::thread::sleep(Duration::from_secs(2));
    for node in ["pg1", "pg2", "pg3"] {
        assert_eq!(
            node_sql(&t, node, hash),
            primary_hash,
            "{node} differs from the primary"
        );
    }
}
