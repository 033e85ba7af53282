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
//!   finds every container confined as the policy says.
//!
//! - A replica (not the synchronous one) and an etcd member are killed: writes
//!   go on without an error; both come back.
//! - The leader is cut off from both networks (asynchronous mode): another
//!   node is elected, a probe writing to every node directly every 100 ms
//!   shows no two nodes ever accepting writes at once, and after reconnecting
//!   the old leader rejoins as a replica with every node's content equal.
//!
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

/// Writes through the read-write port until `stop`: each write a new
/// connection and one INSERT, as a pooled client's retry would, with 5 s to
/// finish. (The driver's connect timeout covers the TCP connect only; a TLS
/// handshake HAProxy holds while no node is primary would wait for ever.)
fn writer(
    t: &TestStack,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) -> std::thread::JoinHandle<()> {
    let paths = t.paths().clone();
    let config = t.stack.config.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let (tx, rx) = std::sync::mpsc::channel();
            let (paths, config) = (paths.clone(), config.clone());
            std::thread::spawn(move || {
                let result = core_data_ops::stack::Stack::new(paths, config)
                    .and_then(|stack| stack.connect("postgres"))
                    .and_then(|mut client| {
                        Ok(client
                            .query_one("INSERT INTO ha_probe DEFAULT VALUES RETURNING id", &[])?)
                    })
                    .map(|row| row.get::<_, i64>(0));
                let _ = tx.send(result.map_err(|e| format!("{e:#}")));
            });
            let result = rx
                .recv_timeout(Duration::from_secs(5))
                .unwrap_or_else(|_| Err("no answer in 5 s".to_owned()));
            let now = Instant::now();
            match result {
                Ok(id) => log.lock().unwrap().acked.push((id, now)),
                Err(_) => log.lock().unwrap().failures.push(now),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

/// The outage a kill caused: from `killed` to the end of the longest stretch
/// without an acknowledged write after it (the writer commits every 20 ms, so
/// any longer stretch is the interruption). Waits until writes have flowed
/// for 3 s after the last failed attempt, so the outage is over when measured.
fn wait_outage(log: &Mutex<Log>, killed: Instant, give_up: Duration, what: &str) -> Duration {
    let calm = Duration::from_secs(3);
    loop {
        {
            let log = log.lock().unwrap();
            let last_failure = log.failures.iter().rev().find(|f| **f >= killed).copied();
            let since = last_failure.unwrap_or(killed);
            let flowing = log.acked.last().is_some_and(|(_, at)| *at > since + calm);
            if flowing {
                let mut previous = killed;
                let mut longest = (Duration::ZERO, killed);
                for (_, at) in log.acked.iter().filter(|(_, at)| *at >= killed) {
                    if *at - previous > longest.0 {
                        longest = (*at - previous, *at);
                    }
                    previous = *at;
                }
                return longest.1 - killed;
            }
        }
        assert!(
            killed.elapsed() < give_up,
            "writes did not flow again for {calm:?} after {what} within {give_up:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the outage `killed` caused to end (giving up 30 s past `limit`),
/// prints it and fails when it lasted longer than `limit`.
fn outage_within(log: &Mutex<Log>, killed: Instant, limit: Duration, what: &str) {
    let outage = wait_outage(log, killed, limit + Duration::from_secs(30), what);
    println!("ha: {what} after {:.2}s", outage.as_secs_f64());
    assert!(outage <= limit, "{what} after {outage:?}, over {limit:?}");
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
fn assert_acked_present(t: &TestStack, log: &Mutex<Log>, when: &str) {
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
    for (key, value) in [
        ("HA_NODES", "3"),
        ("HA_ETCD_NODES", "3"),
        ("HA_SYNCHRONOUS", "true"),
        ("HA_READ_ONLY_PORT", read_only.as_str()),
        ("HA_DCS_SUBNET", "172.30.253.0/24"),
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
    for name in [replica.as_str(), "etcd2"] {
        t.stack
            .docker
            .start(&t.stack.config.container_name(name))
            .unwrap();
    }
    wait_settled(&t, Duration::from_secs(120));

    partition(&t);
}

/// The leader cut off from both networks: it stops accepting writes, another
/// node is elected, and at no moment do two nodes accept writes (a probe on
/// every node writes to it directly every 100 ms). Asynchronous mode, so a
/// cut-off leader could still commit alone if nothing stopped it. After
/// reconnecting, the old leader rejoins as a replica and every node matches.
fn partition(t: &TestStack) {
    let first = leader(t);
    let container = t.stack.config.container_name(&first);
    core_data_ops::ha::status::patronictl(
        &t.stack.docker,
        &container,
        &["edit-config", "--set", "synchronous_mode=false", "--force"],
    )
    .unwrap();
    let started = Instant::now();
    while status_json(t)["members"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "Sync Standby")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "synchronous mode did not turn off"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    t.sql(
        "postgres",
        "CREATE TABLE split_probe (id bigserial PRIMARY KEY, node text NOT NULL)",
    );
    std::thread::sleep(Duration::from_secs(1));

    let stop = Arc::new(AtomicBool::new(false));
    let probes: Vec<(String, std::thread::JoinHandle<Vec<Instant>>)> = ["pg1", "pg2", "pg3"]
        .into_iter()
        .map(|node| (node.to_owned(), probe(t, node, stop.clone())))
        .collect();
    std::thread::sleep(Duration::from_secs(3));

    let networks = ["core_data", "dcs"].map(|n| format!("{}_{n}", t.stack.config.project()));
    let cut = Instant::now();
    for network in &networks {
        t.stack
            .docker
            .disconnect_network(network, &container)
            .unwrap();
    }
    let new = loop {
        let json = status_json(t);
        let leader = json["members"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .find(|m| m["role"] == "Leader" && m["state"] == "running")
            })
            .and_then(|m| m["name"].as_str())
            .map(str::to_owned);
        if let Some(leader) = leader.filter(|l| *l != first) {
            break leader;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(90),
            "no new leader after the partition: {json}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    println!(
        "ha: partition of {first}: {new} leads after {:.1}s",
        cut.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    for network in &networks {
        t.stack
            .docker
            .connect_network(network, &container, &[&first])
            .unwrap();
    }
    let table = wait_settled(t, Duration::from_secs(180));
    stop.store(true, Ordering::SeqCst);
    let acks: Vec<(String, Vec<Instant>)> = probes
        .into_iter()
        .map(|(node, handle)| (node, handle.join().unwrap()))
        .collect();
    println!("{table}");
    assert_eq!(leader(t), new, "the reconnected node took the lead back");

    // Each node's accepting interval, from its first to its last acknowledged write.
    let mut intervals: Vec<(String, Instant, Instant)> = acks
        .iter()
        .filter_map(|(node, times)| Some((node.clone(), *times.first()?, *times.last()?)))
        .collect();
    intervals.sort_by_key(|(_, start, _)| *start);
    let describe: Vec<String> = intervals
        .iter()
        .map(|(node, start, end)| {
            let at = |i: &Instant| {
                if *i >= cut {
                    (*i - cut).as_secs_f64()
                } else {
                    -(cut - *i).as_secs_f64()
                }
            };
            format!("{node} {:+.2}s..{:+.2}s", at(start), at(end))
        })
        .collect();
    println!(
        "ha: accepting intervals relative to the cut: {}",
        describe.join(", ")
    );
    assert!(
        intervals.iter().any(|(node, _, _)| *node == first)
            && intervals.iter().any(|(node, _, _)| *node == new),
        "both the old and the new leader must have accepted writes: {describe:?}"
    );
    for pair in intervals.windows(2) {
        assert!(
            pair[1].1 > pair[0].2,
            "two nodes accepted writes at the same time: {describe:?}"
        );
    }

    // After rejoining, every node holds the same content.
    let hash = "SELECT md5(string_agg(id || ':' || node, ',' ORDER BY id)) FROM split_probe";
    std::thread::sleep(Duration::from_secs(2));
    let primary_hash = node_sql(t, &new, hash);
    for node in ["pg1", "pg2", "pg3"] {
        assert_eq!(
            node_sql(t, node, hash),
            primary_hash,
            "{node} differs from the primary after the partition"
        );
    }
}

/// Writes to `node` directly (psql over its socket in its container, so it
/// works while the node is cut off from every network) every 100 ms until
/// `stop`; the instants its writes were acknowledged. A psql that ends (the
/// node's server restarted) is started again.
fn probe(
    t: &TestStack,
    node: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Instant>> {
    let container = t.stack.config.container_name(node);
    let node = node.to_owned();
    std::thread::spawn(move || {
        let docker = core_data_ops::docker::Docker::connect().unwrap();
        let acks = Arc::new(Mutex::new(Vec::new()));
        while !stop.load(Ordering::SeqCst) {
            let feed_stop = stop.clone();
            let statement =
                format!("INSERT INTO split_probe (node) VALUES ('{node}') RETURNING 1;\n");
            let feed: core_data_ops::docker::Feed = Box::new(move |stdin| {
                while !feed_stop.load(Ordering::SeqCst) {
                    stdin.write_all(statement.as_bytes())?;
                    stdin.flush()?;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Ok(())
            });
            let mut stamps = Stamps {
                line: Vec::new(),
                acks: acks.clone(),
            };
            let mut errors = std::io::sink();
            let io = core_data_ops::docker::ExecIo {
                user: None,
                stdin: Some(feed),
                stdout: &mut stamps,
                stderr: Some(&mut errors),
                tick: None,
            };
            let argv = ["psql", "-XAtq", "-U", "postgres", "-d", "postgres"];
            if docker.exec_io(&container, &argv, io).is_err() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let acks = acks.lock().unwrap().clone();
        acks
    })
}

/// Stamps each line `1` (an acknowledged `RETURNING 1`) with the instant it arrived.
struct Stamps {
    line: Vec<u8>,
    acks: Arc<Mutex<Vec<Instant>>>,
}

impl std::io::Write for Stamps {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for byte in buf {
            if *byte == b'\n' {
                if self.line == b"1" {
                    self.acks.lock().unwrap().push(Instant::now());
                }
                self.line.clear();
            } else {
                self.line.push(*byte);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
