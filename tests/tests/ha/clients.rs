//! The test's clients: a writer through HAProxy's read-write port that
//! records every acknowledged commit, a reader through the read-only port
//! that counts errors, and the outages and pauses read from their logs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_tests::TestStack;

/// One connection (a new one) and one query returning a bigint, with 5 s for
/// both. (The driver's connect timeout covers the TCP connect only; a TLS
/// handshake HAProxy holds while no node is primary would wait for ever.)
fn one_query(
    paths: &core_data_ops::paths::Paths,
    config: &core_data_ops::config::Config,
    sql: &'static str,
) -> Result<i64, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (paths, config) = (paths.clone(), config.clone());
    std::thread::spawn(move || {
        let result = core_data_ops::stack::Stack::new(paths, config)
            .and_then(|stack| stack.connect("postgres"))
            .and_then(|mut client| Ok(client.query_one(sql, &[])?))
            .map(|row| row.get::<_, i64>(0));
        let _ = tx.send(result.map_err(|e| format!("{e:#}")));
    });
    rx.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| Err("no answer in 5 s".to_owned()))
}

/// What the writer saw: each acknowledged id with when it was acknowledged,
/// and when each failed attempt happened.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) acked: Vec<(i64, Instant)>,
    pub(crate) failures: Vec<Instant>,
}

/// Writes through the read-write port until `stop`, 20 ms apart: each write a
/// new connection and one INSERT ([`one_query`]), as a pooled client's retry would.
pub(crate) fn writer(
    t: &TestStack,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) -> std::thread::JoinHandle<()> {
    let paths = t.paths().clone();
    let config = t.stack.config.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let result = one_query(
                &paths,
                &config,
                "INSERT INTO ha_probe DEFAULT VALUES RETURNING id",
            );
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
pub(crate) fn outage_within(log: &Mutex<Log>, killed: Instant, limit: Duration, what: &str) {
    let outage = wait_outage(log, killed, limit + Duration::from_secs(30), what);
    println!("ha: {what} after {:.2}s", outage.as_secs_f64());
    assert!(outage <= limit, "{what} after {outage:?}, over {limit:?}");
}

/// What the reader saw: reads answered, and each failed read's error.
#[derive(Default)]
pub(crate) struct Reads {
    pub(crate) ok: usize,
    pub(crate) errors: Vec<String>,
}

/// Reads through the read-only port (`port`) until `stop`, as the writer
/// writes: a new connection and one query each time, 5 s to answer, 20 ms apart.
pub(crate) fn reader(
    t: &TestStack,
    port: &str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Reads> {
    let paths = t.paths().clone();
    let config = t
        .stack
        .config
        .with_value("POSTGRES_HOST_PORT", port)
        .unwrap();
    std::thread::spawn(move || {
        let mut reads = Reads::default();
        while !stop.load(Ordering::SeqCst) {
            match one_query(&paths, &config, "SELECT count(*) FROM ha_probe") {
                Ok(_) => reads.ok += 1,
                Err(err) => reads.errors.push(err),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        reads
    })
}

/// The longest stretch without an acknowledged write between `from` and `to`
/// (the writer commits every 20 ms, so a longer one is a pause).
pub(crate) fn longest_pause(log: &Mutex<Log>, from: Instant, to: Instant) -> Duration {
    let acks: Vec<Instant> = log
        .lock()
        .unwrap()
        .acked
        .iter()
        .map(|(_, at)| *at)
        .collect();
    core_data_ops::bench::ha::longest_pause(&acks, from, to)
}
