//! The high-availability topology on the real engine: three PostgreSQL nodes
//! run by Patroni, three etcd members and HAProxy, each on its own networks,
//! in synchronous mode, brought up by `cargo xtask up --ha`.
//!
//! - `up --ha` in a project that has a single server's data volume is refused,
//!   and `.env` is left as it was.
//! - `up --ha` settles with one leader and two streaming replicas; `ha status`
//!   says so (exit 0), in its table and as JSON, with every etcd member healthy.
//! - A client writes through HAProxy's read-write port every 20 ms (a new
//!   connection each time) and records each acknowledged commit. (a) The leader's postmaster alone is killed with
//!   SIGKILL (Patroni alive): writes are served again within 10 s. (b) The
//!   leader's whole container is killed with SIGKILL: a new primary serves
//!   writes within `ttl + loop_wait + 5` s. After each, every acknowledged
//!   commit is on the primary (synchronous mode loses none), and the killed
//!   node, started again, rejoins as a streaming replica by itself; at the end
//!   every node holds the same content.
//! - Reads through the read-only port reach a replica; `security status`
//!   finds every container confined as the policy says; etcd refuses a
//!   request without Patroni's password and lets Patroni's user at its
//!   cluster's keys only (`dcs.rs`); `status` lists every container of the
//!   topology (and, later, names a killed replica and etcd member); `psql`
//!   runs on the leader.
//!
//! - A replica (not the synchronous one) and an etcd member are killed: writes
//!   go on without an error; both come back.
//! - The leader is cut off from both networks (asynchronous mode): another
//!   node is elected, a probe writing to every node directly every 100 ms
//!   shows no two nodes ever accepting writes at once, and after reconnecting
//!   the old leader rejoins as a replica with every node's content equal.
//!
//! Then `operations.rs` (the `ha` commands) and `restore.rs` (audits, runbooks,
//! `backup verify` and `restore` with its rollbacks) run on the same cluster.
//!
//! The failover times are printed (they are measured, and bounded by the limits).

mod clients;
mod cluster;
mod dcs;
mod operations;
mod partition;
mod restore;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_tests::{docker_available, free_port, xtask, TestStack};

use clients::{outage_within, writer, Log};
use cluster::{assert_acked_present, leader, node_sql, status_json, wait_settled};

const TTL: u64 = 20;
const LOOP_WAIT: u64 = 2;

#[test]
fn ha_cluster_fails_over_without_losing_a_commit() {
    if !docker_available("ha_cluster_fails_over_without_losing_a_commit") {
        return;
    }
    let mut t = TestStack::new("ha", 252);
    // A project with a single server's data volume is refused, and `.env` is left as it was.
    let single = format!("{}_pgdata", t.stack.config.project());
    t.stack.docker.create_volume(&single, &[]).unwrap();
    let env_before = std::fs::read_to_string(t.paths().env_file()).unwrap();
    let out = xtask(t.paths().state(), &["up", "--ha"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("single-server cluster") && out.stderr.contains(&single),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(t.paths().env_file()).unwrap(),
        env_before,
        "a refused `up --ha` changed .env"
    );
    t.stack.docker.remove_volume(&single).unwrap();

    let read_only = free_port().to_string();
    // The `dcs` network beside the stack's (`CORE_DATA_TEST_NET` moves both).
    let dcs = format!(
        "172.{}.253.0/24",
        std::env::var("CORE_DATA_TEST_NET").unwrap_or_else(|_| "30".to_owned())
    );
    for (key, value) in [
        ("HA_NODES", "3"),
        ("HA_ETCD_NODES", "3"),
        ("HA_SYNCHRONOUS", "true"),
        ("HA_READ_ONLY_PORT", read_only.as_str()),
        ("HA_DCS_SUBNET", dcs.as_str()),
    ] {
        t.set(key, value);
    }
    let out = xtask(t.paths().state(), &["up", "--ha"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("leader: pg"), "{out}");
    assert!(
        std::fs::read_to_string(t.paths().env_file())
            .unwrap()
            .contains("COMPOSE_PROFILES=ha"),
        "`up --ha` records the topology in .env"
    );

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

    // Every container of the topology is confined as the policy says.
    let out = xtask(t.paths().state(), &["security", "status"]);
    assert_eq!(out.code, Some(0), "{out}");
    for name in ["pg1", "etcd3", "haproxy"] {
        assert!(
            out.stdout.contains(&t.stack.config.container_name(name)),
            "{out}"
        );
    }

    // etcd takes Patroni's password, and only for this cluster's keys.
    dcs::etcd_auth(&t);
    // `status` reads the topology (every node, etcd member and HAProxy, the server through
    // HAProxy); `psql` runs on the leader.
    let table = status_settles(&t);
    for name in ["pg1", "pg2", "pg3", "etcd1", "etcd3", "haproxy"] {
        assert!(
            table.contains(&t.stack.config.container_name(name)),
            "{table}"
        );
    }
    assert!(table.contains("server: PostgreSQL 17"), "{table}");
    let out = xtask(
        t.paths().state(),
        &["psql", "--", "-XAt", "--command=SELECT pg_is_in_recovery()"],
    );
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout.trim(),
        "f",
        "psql did not reach the leader: {out}"
    );

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
    let pid = t
        .stack
        .docker
        .exec(
            &container,
            &[
                "head",
                "-1",
                "/var/lib/postgresql/data/pgdata/postmaster.pid",
            ],
            None,
        )
        .unwrap();
    let pid = pid.stdout.trim().to_owned();
    assert!(pid.parse::<u32>().is_ok(), "postmaster.pid: {pid:?}");
    let killed = Instant::now();
    let out = t
        .stack
        .docker
        .exec(&container, &["kill", "-KILL", &pid], None)
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", out.stderr);
    outage_within(
        &log,
        killed,
        Duration::from_secs(10),
        &format!("postmaster SIGKILL on {first}: writes served again"),
    );
    wait_settled(&t, Duration::from_secs(60));
    assert_acked_present(&t, &log, "after the postmaster kill");

    // (b) The whole leader container, SIGKILL.
    std::thread::sleep(Duration::from_secs(2));
    let second = leader(&t);
    let container = t.stack.config.container_name(&second);
    let killed = Instant::now();
    t.stack.docker.kill(&container, "SIGKILL").unwrap();
    outage_within(
        &log,
        killed,
        Duration::from_secs(TTL + LOOP_WAIT + 5),
        &format!("container SIGKILL of leader {second}: a new primary served writes"),
    );
    let third = leader(&t);
    assert_ne!(third, second, "the killed node is still the leader");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    let acked = log.lock().unwrap().acked.len();
    assert!(acked > 100, "the writer acknowledged only {acked} commits");
    assert_acked_present(&t, &log, "after the container kill");

    // The killed node, started again, rejoins as a replica by itself.
    t.stack.docker.start(&container).unwrap();
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

    // A replica (not the synchronous one) and an etcd member killed: writes go on without an error.
    let json = status_json(&t);
    let replica = json["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "Replica")
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no asynchronous replica: {json}"));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let handle = writer(&t, stop.clone(), log.clone());
    std::thread::sleep(Duration::from_secs(2));
    let killed = Instant::now();
    for name in [replica.as_str(), "etcd2"] {
        t.stack
            .docker
            .kill(&t.stack.config.container_name(name), "SIGKILL")
            .unwrap();
    }
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    {
        let log = log.lock().unwrap();
        let after = log.acked.iter().filter(|(_, at)| *at > killed).count();
        let failed = log.failures.iter().filter(|at| **at > killed).count();
        println!("ha: replica {replica} and etcd2 killed: {after} writes acknowledged in 10 s, {failed} failed");
        assert_eq!(
            failed, 0,
            "writes failed after a replica and an etcd member were killed"
        );
        assert!(after > 50, "only {after} writes in 10 s after the kills");
    }
    // `status` names what is down, and says the stack is not healthy.
    let out = xtask(t.paths().state(), &["status"]);
    assert_eq!(out.code, Some(1), "{out}");
    for name in [replica.as_str(), "etcd2"] {
        assert!(
            out.stdout.contains(&format!(
                "{name}: enabled in COMPOSE_PROFILES but not running healthy"
            )),
            "{out}"
        );
    }
    for name in [replica.as_str(), "etcd2"] {
        t.stack
            .docker
            .start(&t.stack.config.container_name(name))
            .unwrap();
    }
    wait_settled(&t, Duration::from_secs(120));

    partition::partition(&t);
    operations::operations(&mut t, &read_only);
    restore::restore(&t);
}

/// `status`, once it exits 0 (Docker's health checks report a started
/// container healthy within seconds); its output.
fn status_settles(t: &TestStack) -> String {
    let started = Instant::now();
    loop {
        let out = xtask(t.paths().state(), &["status"]);
        if out.code == Some(0) {
            return out.stdout;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "`status` did not report the topology healthy:\n{out}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
