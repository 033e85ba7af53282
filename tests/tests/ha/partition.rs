//! The leader partitioned from the other nodes and etcd.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_tests::TestStack;

use crate::cluster::{leader, node_sql, status_json, wait_settled};

/// The leader cut off from both networks: it stops accepting writes, another
/// node is elected, and at no moment do two nodes accept writes (a probe on
/// every node writes to it directly every 100 ms). Asynchronous mode, so a
/// cut-off leader could still commit alone if nothing stopped it. After
/// reconnecting, the old leader rejoins as a replica and every node matches.
pub(crate) fn partition(t: &TestStack) {
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
