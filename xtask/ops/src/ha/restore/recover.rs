//! Finishing or rolling back a restore of the `ha` topology from its journal:
//! after a failure in the same run, or for a run that was killed (from `up`
//! and the next `restore`). Before `Promoted` it rolls back; at `Promoted` it
//! finishes (the replicas). Only directories named after the journal's id are
//! removed or moved; anything else that is in the way stops it with a message.

use std::fmt;
use std::time::Duration;

use anyhow::bail;

use crate::backup::restore::workspace::{Workspace, DATA_ROOT};
use crate::progress::Progress;
use crate::stack::Stack;

use super::journal::{self, Journal, Step};
use crate::ha::status::Status;

/// How long the old leader may take to lead again after a rollback.
const LEAD_LIMIT: Duration = Duration::from_secs(300);
/// How long new replicas may take to stream (a copy each).
const REPLICA_LIMIT: Duration = Duration::from_secs(1800);

/// What recovery did with an interrupted restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    RolledBack { id: String, step: Step },
    Finished { id: String },
}

impl fmt::Display for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recovered::RolledBack { id, step } => write!(
                f,
                "an interrupted restore of the `ha` cluster (`{id}`, stopped at step {step:?}) was rolled back: every node has its data again"
            ),
            Recovered::Finished { id } => write!(
                f,
                "an interrupted restore of the `ha` cluster (`{id}`, already promoted) was finished: the replicas were rebuilt"
            ),
        }
    }
}

/// Finishes or rolls back the restore the journal records, if any.
pub fn recover_pending(
    stack: &Stack,
    progress: &dyn Progress,
) -> anyhow::Result<Option<Recovered>> {
    let Some(journal) = journal::read(&stack.paths)? else {
        return Ok(None);
    };
    progress.status(
        "Recovering",
        &format!(
            "an interrupted restore of the `ha` cluster (`{}`, step {:?})",
            journal.id, journal.step
        ),
    );
    if journal.step == Step::Promoted {
        finish(stack, &journal, progress)?;
        return Ok(Some(Recovered::Finished { id: journal.id }));
    }
    roll_back(stack, &journal, progress)?;
    Ok(Some(Recovered::RolledBack {
        id: journal.id.clone(),
        step: journal.step,
    }))
}

/// A workspace on every node's volumes, as the restore had it.
fn workspace<'a>(stack: &'a Stack, journal: &Journal) -> anyhow::Result<Workspace<'a>> {
    super::workspace(stack, &journal.leader, &journal.nodes)
}

/// Puts every node's own directories back and starts the cluster: the old
/// leader alone until it leads, then the others.
pub(super) fn roll_back(
    stack: &Stack,
    journal: &Journal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    if journal.step == Step::Staging {
        // No node was touched: only the staging directories go.
        let ws = workspace(stack, journal)?;
        ws.remove(&journal.staging_data())?;
        ws.remove(&journal.staging_wal())?;
        return journal::clear(&stack.paths);
    }
    if journal.step < Step::SettingAside {
        // Every node still has its own directories and etcd its state: remove the
        // staging directories and start the nodes again.
        {
            let ws = workspace(stack, journal)?;
            ws.remove(&journal.staging_data())?;
            ws.remove(&journal.staging_wal())?;
        }
        progress.status("Starting", "every node again, with its own data");
        start_nodes(stack, journal, &journal.nodes, progress)?;
        return journal::clear(&stack.paths);
    }
    progress.status("Stopping", "every node, to put its data back");
    let mut args = vec!["stop"];
    args.extend(journal.nodes.iter().map(String::as_str));
    stack.compose().run(&args)?;
    {
        let ws = workspace(stack, journal)?;
        ws.remove(&journal.staging_data())?;
        ws.remove(&journal.staging_wal())?;
        for node in &journal.nodes {
            let (data, wal) = journal.live(node);
            let (aside_data, aside_wal) = journal.aside(node);
            for (live, aside) in [(&data, &aside_data), (&wal, &aside_wal)] {
                if !ws.present(aside)? {
                    continue;
                }
                if ws.present(live)? {
                    // Only the restored node's bootstrap puts anything there, from the
                    // staging directories of this restore.
                    if *node != journal.leader || journal.step < Step::Bootstrapping {
                        bail!(
                            "both `{live}` and `{aside}` exist on {node}; refusing to guess which \
                             to keep. Inspect the volume and move one aside by hand"
                        );
                    }
                    ws.remove(live)?;
                }
                // The old leader's directories stay aside: its bootstrap below moves them back.
                if *node != journal.leader {
                    ws.rename(aside, live)?;
                }
            }
        }
        remove_failed_bootstraps(&ws, journal)?;
        let (aside_data, aside_wal) = journal.aside(&journal.leader);
        let (data, _) = journal.live(&journal.leader);
        if !ws.present(&aside_data)? || !ws.present(&aside_wal)? {
            if ws.present(&data)? {
                bail!(
                    "{}'s data directory is back in place but the cluster was not started from \
                     it; start it with `cargo xtask up` and check `cargo xtask ha status`",
                    journal.leader
                );
            }
            bail!(
                "{}'s set-aside data (`{aside_data}`, `{aside_wal}`) is missing; nothing was \
                 removed: look for `pgdata_*` directories in its data volume, which Patroni \
                 leaves after a failed bootstrap",
                journal.leader
            );
        }
        ws.sync()?;
    }
    // The old leader bootstraps the cluster again from its own data, on its own
    // timeline (the restore may have archived a newer one that forked before it).
    let in_node = |path: &str| {
        path.replacen(
            &super::journal::node_root(&journal.leader),
            "/var/lib/postgresql",
            1,
        )
    };
    let (aside_data, aside_wal) = journal.aside(&journal.leader);
    super::prepare::install_patroni(
        &stack.paths,
        &stack.config,
        Some(&super::prepare::RestoreBootstrap {
            id: journal.id.clone(),
            staging: in_node(&aside_data),
            staging_wal: in_node(&aside_wal),
            hold_timeline: "yes",
        }),
    )?;
    crate::ha::dcs::clear_cluster_state(&stack.docker, &stack.config)?;
    progress.status(
        "Starting",
        &format!(
            "{} alone, from its own data, until it leads again",
            journal.leader
        ),
    );
    let container = stack.config.container_name(&journal.leader);
    let restarts = super::restart_count(stack, &container)?;
    stack.compose().run(&["start", &journal.leader])?;
    super::wait_leading(stack, &journal.leader, restarts, LEAD_LIMIT, progress)?;
    super::prepare::install_patroni(&stack.paths, &stack.config, None)?;
    start_nodes(stack, journal, &journal.replicas(), progress)?;
    journal::clear(&stack.paths)
}

/// Patroni sets a data directory whose bootstrap failed aside as
/// `pgdata_<time>`; those holding this restore's mark are its own copies.
fn remove_failed_bootstraps(ws: &Workspace<'_>, journal: &Journal) -> anyhow::Result<()> {
    let listing = ws.try_run(&[
        "find",
        DATA_ROOT,
        "-mindepth",
        "2",
        "-maxdepth",
        "2",
        "-path",
        &format!("{DATA_ROOT}/pgdata_*/core_data.ha-restore-id"),
    ])?;
    for mark in listing.text.lines().filter(|l| !l.trim().is_empty()) {
        if ws.read_file(mark)?.map(|id| id.trim().to_owned()) == Some(journal.id.clone()) {
            let dir = mark.trim_end_matches("/core_data.ha-restore-id");
            ws.remove(dir)?;
        }
    }
    Ok(())
}

/// Starts `nodes` (a running one is left alone) and waits until the cluster
/// is settled: one leader, every other node streaming from it.
fn start_nodes(
    stack: &Stack,
    journal: &Journal,
    nodes: &[String],
    progress: &dyn Progress,
) -> anyhow::Result<Status> {
    if !nodes.is_empty() {
        progress.status(
            "Starting",
            &format!(
                "{}; waiting until the cluster has a leader and every replica streams",
                nodes.join(", ")
            ),
        );
        let mut args = vec!["start"];
        args.extend(nodes.iter().map(String::as_str));
        stack.compose().run(&args)?;
    }
    let status = crate::ha::control::wait_within(stack, REPLICA_LIMIT, progress, Status::settled)?;
    progress.status(
        "Settled",
        &format!("{} (restore `{}`)", status.summary(), journal.id),
    );
    Ok(status)
}

/// After the promotion: the usual Patroni configuration back, the other nodes
/// started as new replicas, the set-aside directories listed (or removed with
/// `--discard-old`), the journal cleared.
pub(super) fn finish(
    stack: &Stack,
    journal: &Journal,
    progress: &dyn Progress,
) -> anyhow::Result<(Status, Vec<String>)> {
    super::prepare::install_patroni(&stack.paths, &stack.config, None)?;
    // Every node: after a killed run the restored node may be stopped too.
    let status = start_nodes(stack, journal, &journal.nodes, progress)?;
    let mut old = Vec::new();
    {
        let ws = workspace(stack, journal)?;
        for node in &journal.nodes {
            let (aside_data, aside_wal) = journal.aside(node);
            for aside in [aside_data, aside_wal] {
                if ws.present(&aside)? {
                    let in_volume = aside.replacen(&journal::node_root(node), node, 1);
                    if journal.discard_old {
                        ws.remove(&aside)?;
                    } else {
                        old.push(in_volume);
                    }
                }
            }
        }
        let (data, _) = journal.live(&journal.leader);
        ws.remove(&format!("{data}/core_data.ha-restore-id"))?;
    }
    journal::clear(&stack.paths)?;
    Ok((status, old))
}
