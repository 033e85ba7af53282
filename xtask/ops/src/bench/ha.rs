//! `bench ha`: how fast the `ha` topology recovers and what it costs, on a
//! scratch cluster of three nodes and three etcd members.
//!
//! - Failover: the leader's container killed with SIGKILL, `kills` times. A
//!   writer commits through HAProxy's read-write port every 20 ms (a new
//!   connection each time, 5 s to answer); the figure is from the kill to the
//!   end of the longest stretch without an acknowledged write. The killed node
//!   is started again and the cluster settles before the next kill.
//! - Switchover: the same writer's longest pause during `ha switchover`.
//! - Commit latency: single-row INSERTs, each its own transaction, on one
//!   connection through the read-write port, with synchronous mode on and
//!   off, next to the same on a single-server scratch stack (the floor).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::sizing::Resources;
use crate::ha::{control, status};
use crate::paths::Paths;
use crate::progress::{Progress, Quiet};
use crate::scratch::Scratch;
use crate::stack::Stack;

use super::queue::percentile;
use super::Samples;

pub struct HaFigures {
    pub ttl: u64,
    pub loop_wait: u64,
    /// Kill to the first write after the outage, per kill (s).
    pub failover: Samples,
    /// The longest write pause of each switchover (s).
    pub switchover_pause: Samples,
    /// Commit round trips (ms).
    pub commit_sync: Samples,
    pub commit_async: Samples,
    pub commit_single: Samples,
}

/// Median and p99 of `samples`.
pub fn median_p99(samples: &Samples) -> (f64, f64) {
    (samples.median(), percentile(samples, 99.0))
}

/// Commits through HAProxy's read-write port in the background; the instants
/// they were acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Instant>>>,
    handle: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(paths: &Paths, stack: &Stack) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let (paths, config) = (paths.clone(), stack.config.clone());
        let handle = {
            let (stop, acks) = (stop.clone(), acks.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let (paths, config) = (paths.clone(), config.clone());
                    std::thread::spawn(move || {
                        let ok = Stack::new(paths, config)
                            .and_then(|s| s.connect("postgres"))
                            .and_then(|mut c| {
                                Ok(c.execute("INSERT INTO bench_ha DEFAULT VALUES", &[])?)
                            })
                            .is_ok();
                        let _ = tx.send(ok);
                    });
                    if rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false) {
                        acks.lock().expect("acks").push(Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Writer { stop, acks, handle }
    }

    fn stop(self) -> Vec<Instant> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.handle.join();
        let acks = self.acks.lock().expect("acks").clone();
        acks
    }
}

/// From `from` to the end of the longest stretch without an ack until `to`.
pub fn outage(acks: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut previous = from;
    let mut end = from;
    let mut longest = Duration::ZERO;
    for at in acks.iter().filter(|at| **at >= from && **at <= to) {
        if *at - previous > longest {
            longest = *at - previous;
            end = *at;
        }
        previous = *at;
    }
    end - from
}

/// The longest stretch without an ack between `from` and `to` (up to `to`
/// itself when the last ack came before it). The `ha` test reads its writer's
/// pauses with it too.
pub fn longest_pause(acks: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut previous = from;
    let mut longest = Duration::ZERO;
    for at in acks.iter().filter(|at| **at >= from && **at <= to) {
        longest = longest.max(*at - previous);
        previous = *at;
    }
    longest.max(to.saturating_duration_since(previous))
}

/// `commits` single-row INSERT round trips on one connection (ms each).
fn commit_latency(stack: &Stack, commits: u32) -> anyhow::Result<Samples> {
    let mut client = stack.connect("postgres")?;
    let insert = client.prepare("INSERT INTO bench_ha DEFAULT VALUES")?;
    for _ in 0..20 {
        client.execute(&insert, &[])?;
    }
    let mut samples = Vec::with_capacity(commits as usize);
    for _ in 0..commits {
        let started = Instant::now();
        client.execute(&insert, &[])?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Samples(samples))
}

/// Synchronous mode on or off through Patroni, waiting until a sync standby
/// is (or is no longer) named.
fn set_synchronous(stack: &Stack, on: bool, progress: &dyn Progress) -> anyhow::Result<()> {
    let (members, _) = status::members(&stack.docker, &stack.config)?;
    let leader = members
        .iter()
        .find(|m| m.is_leader())
        .ok_or_else(|| anyhow::anyhow!("no leader"))?;
    status::patronictl(
        &stack.docker,
        &stack.config.container_name(&leader.name),
        &[
            "edit-config",
            "--set",
            &format!("synchronous_mode={on}"),
            "--force",
            "--quiet",
        ],
    )?;
    control::wait(stack, progress, |s| {
        s.settled() && s.members.iter().any(|m| m.role == "Sync Standby") == on
    })?;
    Ok(())
}

const TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_ha (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())";

pub fn ha(
    kills: u32,
    switchovers: u32,
    commits: u32,
    progress: &dyn Progress,
) -> anyhow::Result<HaFigures> {
    let scratch = Scratch::create(
        "bench_ha",
        240,
        &[
            ("COMPOSE_PROFILES", "ha"),
            ("HA_NODES", "3"),
            ("HA_ETCD_NODES", "3"),
            ("HA_SYNCHRONOUS", "true"),
            ("HA_DCS_SUBNET", "172.30.241.0/24"),
            (
                "HA_READ_ONLY_PORT",
                &crate::scratch::free_port()?.to_string(),
            ),
        ],
        Resources::from_host(),
    )?;
    let stack = &scratch.stack;
    progress.status(
        "Starting",
        "a scratch `ha` cluster: 3 nodes, 3 etcd members",
    );
    crate::ha::up::run(stack, progress)?;
    stack.connect("postgres")?.batch_execute(TABLE)?;
    let paths = stack.paths.clone();

    let mut failover = Vec::new();
    for n in 1..=kills {
        let writer = Writer::start(&paths, stack);
        std::thread::sleep(Duration::from_secs(2));
        let (members, _) = status::members(&stack.docker, &stack.config)?;
        let leader = members
            .iter()
            .find(|m| m.is_leader())
            .ok_or_else(|| anyhow::anyhow!("no leader before kill {n}"))?
            .name
            .clone();
        let container = stack.config.container_name(&leader);
        let killed = Instant::now();
        stack.docker.kill(&container, "SIGKILL")?;
        control::wait(stack, &Quiet, |s| {
            s.leader()
                .is_some_and(|l| l.name != leader && l.state == "running")
        })?;
        crate::ha::up::wait_writable(stack, Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(3));
        let acks = writer.stop();
        let took = outage(&acks, killed, Instant::now()).as_secs_f64();
        progress.status(
            "Failover",
            &format!("{n}/{kills}: {leader} killed, writes again after {took:.1}s"),
        );
        failover.push(took);
        stack.docker.start(&container)?;
        control::wait(stack, &Quiet, status::Status::settled)?;
    }

    let mut pauses = Vec::new();
    for n in 1..=switchovers {
        let writer = Writer::start(&paths, stack);
        std::thread::sleep(Duration::from_secs(2));
        let started = Instant::now();
        control::switchover(stack, None, &Quiet)?;
        let ended = Instant::now();
        std::thread::sleep(Duration::from_secs(1));
        let acks = writer.stop();
        let pause = longest_pause(&acks, started, ended).as_secs_f64();
        progress.status(
            "Switchover",
            &format!("{n}/{switchovers}: writes paused {pause:.2}s"),
        );
        pauses.push(pause);
    }

    progress.status(
        "Measuring",
        &format!("{commits} commits, synchronous mode on"),
    );
    let commit_sync = commit_latency(stack, commits)?;
    set_synchronous(stack, false, progress)?;
    progress.status(
        "Measuring",
        &format!("{commits} commits, synchronous mode off"),
    );
    let commit_async = commit_latency(stack, commits)?;
    let (ttl, loop_wait) = (
        stack.config.get("HA_TTL").parse()?,
        stack.config.get("HA_LOOP_WAIT").parse()?,
    );
    drop(scratch);

    progress.status(
        "Measuring",
        &format!("{commits} commits on a single server (the floor)"),
    );
    // The server alone: no add-on or dashboard to build or start.
    let single = Scratch::create(
        "bench_ha_single",
        242,
        &[("COMPOSE_PROFILES", "")],
        Resources::from_host(),
    )?;
    single.stack.up(&Quiet)?;
    single.stack.connect("postgres")?.batch_execute(TABLE)?;
    let commit_single = commit_latency(&single.stack, commits)?;
    Ok(HaFigures {
        ttl,
        loop_wait,
        failover: Samples(failover),
        switchover_pause: Samples(pauses),
        commit_sync,
        commit_async,
        commit_single,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outage_ends_with_the_longest_gap_after_the_kill() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let acks = [at(10), at(30), at(50), at(4050), at(4070), at(4090)];
        assert_eq!(outage(&acks, at(40), at(5000)), Duration::from_millis(4010));
        assert_eq!(
            longest_pause(&acks, at(0), at(5000)),
            Duration::from_millis(4000)
        );
    }
}
