//! The operations of `cargo xtask ha` on the running cluster:
//!
//! - Refusals change nothing: an unknown node, a reinit of the leader, a
//!   failover or a reinit without `--yes` (each prints its plan, exits 1), and
//!   `config apply` and `upgrade`, built for the single server only.
//! - `ha switchover --to` and `ha restart` (rolling) while a reader goes
//!   through the read-only port and a writer through the read-write port:
//!   0 read errors, the write pause printed and held under 10 s, every
//!   acknowledged commit kept.
//! - `ha pause` / `ha resume` set and clear maintenance mode.
//! - `ha config apply` puts a changed `.env` (HA_TTL, PG_MAX_CONNECTIONS,
//!   HA_SYNCHRONOUS back on) into Patroni's dynamic configuration, and the
//!   restart max_connections needs reaches every node.
//! - `ha reinit NODE --yes` copies a replica again; `ha failover --to NODE
//!   --yes` promotes it. Every node holds the same content at the end.
//! - The operator commands find the leader: `backup` (pgBackRest from the
//!   leader into the repository every node shares), `backup info`, `dump`.
//! - With a backup set in the repository, a reinitialised replica is restored
//!   from it (Patroni's `pgbackrest` method), not copied from the leader, and
//!   catches up with the same content.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use core_data_tests::{xtask, CliOutput, TestStack};

use crate::clients::{longest_pause, reader, writer, Log};
use crate::cluster::{assert_acked_present, leader, node_sql, status_json, wait_settled};

const NODES: [&str; 3] = ["pg1", "pg2", "pg3"];

/// A node with `role` (`Replica`, `Sync Standby`), if any.
fn with_role(t: &TestStack, role: &str) -> Option<String> {
    status_json(t)["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == role)
        .map(|m| m["name"].as_str().unwrap().to_owned())
}

/// Runs `args` while a reader uses the read-only port and a writer the
/// read-write one; asserts no read failed and every acknowledged commit is
/// kept; prints and returns the longest write pause.
fn under_traffic(
    t: &TestStack,
    read_only: &str,
    what: &str,
    args: &[&str],
) -> (CliOutput, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let writing = writer(t, stop.clone(), log.clone());
    let reading = reader(t, read_only, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let out = xtask(t.paths().state(), args);
    let ended = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    writing.join().unwrap();
    let reads = reading.join().unwrap();
    assert_eq!(out.code, Some(0), "{what}: {out}");
    let pause = longest_pause(&log, started, ended);
    println!(
        "ha: {what}: {:.1}s, longest write pause {:.2}s, {} reads through the read-only port, {} failed",
        (ended - started).as_secs_f64(),
        pause.as_secs_f64(),
        reads.ok,
        reads.errors.len()
    );
    assert!(
        reads.errors.is_empty(),
        "{what}: {} read(s) failed through the read-only port, first: {}",
        reads.errors.len(),
        reads.errors[0]
    );
    assert!(reads.ok > 20, "{what}: only {} reads", reads.ok);
    assert_acked_present(t, &log, what);
    (out, pause)
}

pub(crate) fn operations(t: &mut TestStack, read_only: &str) {
    let state = t.paths().state().to_owned();
    let first = leader(t);
    let replica = with_role(t, "Replica").expect("a replica");

    // Refusals change nothing.
    let out = xtask(&state, &["ha", "switchover", "--to", "pg9"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("`pg9` is not a node") && out.stderr.contains("nothing was changed"),
        "{out}"
    );
    let out = xtask(&state, &["ha", "reinit", &first, "--yes"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("is the leader"), "{out}");
    let out = xtask(&state, &["ha", "failover", "--to", &replica]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains(&format!("would promote {replica}")),
        "{out}"
    );
    let out = xtask(&state, &["ha", "reinit", &replica]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("would delete"), "{out}");
    // Commands built for the single server only are refused on the topology, changing nothing.
    for (args, hint) in [
        (&["config", "apply"][..], "ha config apply"),
        (&["upgrade", "--yes"][..], "upgrade the leader"),
    ] {
        let out = xtask(&state, args);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(
            out.stderr.contains("not built for the `ha` topology") && out.stderr.contains(hint),
            "{out}"
        );
    }
    assert_eq!(leader(t), first, "a refused command moved the leader");

    // Switchover: readers see nothing, writers one short pause.
    let (out, pause) = under_traffic(
        t,
        read_only,
        &format!("switchover {first} -> {replica}"),
        &["ha", "switchover", "--to", &replica],
    );
    assert!(
        out.stdout.contains(&format!("{replica} is the leader")),
        "{out}"
    );
    // The command's own figure, from its request to a write through HAProxy, printed: it
    // includes its polls (a `patronictl list` exec each, about 1 s), so the bound is held on
    // the pause the writer saw.
    let writable: f64 = out
        .stdout
        .split("writes through HAProxy after ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time to writable: {out}"));
    println!("ha: switchover: the command saw writes through HAProxy after {writable:.1}s");
    assert!(
        pause < Duration::from_secs(10),
        "switchover paused writes {pause:?}"
    );
    wait_settled(t, Duration::from_secs(60));
    assert_eq!(leader(t), replica);

    // Rolling restart: every node restarted, the leader by a switchover.
    let (out, pause) = under_traffic(t, read_only, "rolling restart", &["ha", "restart"]);
    for node in NODES {
        assert!(
            out.stdout.contains(&format!("{node}: ")),
            "{node} not restarted: {out}"
        );
    }
    assert!(
        pause < Duration::from_secs(10),
        "the rolling restart paused writes {pause:?}"
    );
    let after_restart = leader(t);
    assert_ne!(
        after_restart, replica,
        "the restart's switchover did not move the leader"
    );

    // Maintenance mode.
    let container = t.stack.config.container_name(&after_restart);
    let paused = || core_data_ops::ha::status::paused(&t.stack.docker, &container).unwrap();
    let out = xtask(&state, &["ha", "pause"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("the cluster is paused"), "{out}");
    assert!(paused());
    let out = xtask(&state, &["ha", "resume"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!paused());

    // config apply: .env into the running cluster (the partition test turned synchronous mode off).
    let connections: u32 = node_sql(t, &after_restart, "SHOW max_connections")
        .parse()
        .unwrap();
    let wanted = (connections + 7).to_string();
    t.set("HA_TTL", "24");
    t.set("PG_MAX_CONNECTIONS", &wanted);
    let out = xtask(&state, &["ha", "config", "apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    for line in [
        "set ttl: 20 -> 24".to_owned(),
        format!("set postgresql.parameters.max_connections: {connections} -> {wanted}"),
        "set synchronous_mode: false -> true".to_owned(),
    ] {
        assert!(out.stdout.contains(&line), "`{line}` missing: {out}");
    }
    wait_settled(t, Duration::from_secs(120));
    for node in NODES {
        assert_eq!(node_sql(t, node, "SHOW max_connections"), wanted, "{node}");
    }
    let dynamic = core_data_ops::ha::status::dynamic_config(&t.stack.docker, &container).unwrap();
    assert_eq!(dynamic["ttl"].as_u64(), Some(24), "{dynamic:?}");
    let out = xtask(&state, &["ha", "config", "apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains("nothing to change"),
        "a second apply changed something: {out}"
    );

    // reinit of a replica, then a failover to the synchronous standby.
    let target = with_role(t, "Replica").expect("an asynchronous replica");
    let out = xtask(&state, &["ha", "reinit", &target, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout.contains(&format!("{target} was copied again")),
        "{out}"
    );
    let sync = with_role(t, "Sync Standby").expect("a sync standby");
    let out = xtask(&state, &["ha", "failover", "--to", &sync, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    wait_settled(t, Duration::from_secs(120));
    assert_eq!(leader(t), sync);

    let hash = "SELECT md5(string_agg(id::text, ',' ORDER BY id)) FROM ha_probe";
    std::thread::sleep(Duration::from_secs(2));
    let primary_hash = node_sql(t, &sync, hash);
    for node in NODES {
        assert_eq!(
            node_sql(t, node, hash),
            primary_hash,
            "{node} differs after the operations"
        );
    }

    // The operator commands run against the leader.
    let out = xtask(&state, &["backup"]);
    assert_eq!(out.code, Some(0), "{out}");
    let out = xtask(&state, &["backup", "info"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("full"), "{out}");
    let out = xtask(&state, &["dump", "app"]);
    assert_eq!(out.code, Some(0), "{out}");

    // With a backup set, a replica is restored from the repository.
    let target = with_role(t, "Replica").expect("an asynchronous replica");
    t.sql("postgres", "INSERT INTO ha_probe DEFAULT VALUES");
    let out = xtask(&state, &["ha", "reinit", &target, "--yes"]);
    assert_eq!(out.code, Some(0), "{out}");
    let log = t
        .stack
        .docker
        .logs_tail(&t.stack.config.container_name(&target), 400)
        .unwrap()
        .join("\n");
    assert!(
        log.contains("core_data-ha-replica-from-backup: restored backup set"),
        "{target} was not restored from the backup:\n{log}"
    );
    wait_settled(t, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    let primary_hash = node_sql(t, &sync, hash);
    assert_eq!(
        node_sql(t, &target, hash),
        primary_hash,
        "{target} after its restore"
    );
}
