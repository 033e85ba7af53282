//! `restore` on the `ha` topology: the cluster replaced by a backup, whole or
//! to a point in time, as a journaled state machine (`journal.rs`) that never
//! strands it.
//!
//! 1. Check everything while nothing has changed: a leader, not paused, the
//!    set and the target time against the repository (the single server's
//!    `validate`), WAL archiving.
//! 2. `Staging`: pgBackRest restores into staging directories in the leader's
//!    volumes (the single server's `stage`); the cluster keeps running.
//! 3. `Stopping`: the replicas, then the leader (Patroni shuts PostgreSQL down
//!    cleanly and lets its leader key go).
//! 4. `CopyingWal`: the WAL the stopped leader still holds goes into the
//!    staging WAL directory, so a restore without a target replays every
//!    acknowledged commit.
//! 5. `SettingAside`: every node's data and WAL directories are renamed to
//!    `*.pre-restore-<id>` (nothing is deleted).
//! 6. `Bootstrapping`: Patroni's state in etcd is cleared (its dynamic
//!    configuration kept), `patroni.yml` gains a custom bootstrap that moves the
//!    staged directories in (postgres/ha-restore-bootstrap.sh), and the leader's
//!    node alone starts: Patroni recovers to the target, promotes and leads.
//! 7. `Promoted`: the point of no return. The usual `patroni.yml` is back; the
//!    other nodes start with empty data directories and Patroni makes them
//!    replicas (from a backup set the new timeline can follow, or
//!    pg_basebackup); the command waits until every one streams.
//!
//! Any failure before `Promoted` rolls back (`recover.rs`): the nodes' own
//! directories back, etcd cleared again, the old leader started first and then
//! the others. A run killed at any step is finished the same way by the next
//! `up` or `restore`.

mod journal;
mod recover;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::backup::oneshot::{self, Mount};
use crate::backup::physical::BackupSet;
use crate::backup::restore::workspace::{Workspace, DATA_ROOT, WAL_ROOT};
use crate::backup::restore::{self as single, target::TargetTime, Options, Staging};
use crate::fault;
use crate::progress::Progress;
use crate::stack::Stack;

pub use journal::{Journal, Step};

/// The journal of an interrupted restore of the `ha` cluster, if any (what
/// `status` reports).
pub fn pending_journal(paths: &crate::paths::Paths) -> anyhow::Result<Option<Journal>> {
    journal::read(paths)
}
pub use recover::{recover_pending, Recovered};

use super::prepare::{self, RestoreBootstrap};
use super::status::{self, Status};

/// The restore workspace's role (its container is `<project>-ha-restore-workspace`).
const ROLE: &str = "ha-restore-workspace";

/// How long recovery and promotion of the restored node may take.
const RECOVERY_LIMIT: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone)]
pub struct Report {
    pub set: BackupSet,
    pub leader: String,
    pub seconds: f64,
    /// Where every node's previous data and WAL were set aside (in its volumes), unless discarded.
    pub old_data: Vec<String>,
    pub recovered: Option<Recovered>,
    pub status: Status,
}

/// A workspace with every node's volumes at `/nodes/<node>/{data,wal}`, the
/// `leader`'s also at the usual paths (where the single server's staging and
/// checks run), the repository and the rendered configuration.
fn workspace<'a>(
    stack: &'a Stack,
    leader: &str,
    nodes: &[String],
) -> anyhow::Result<Workspace<'a>> {
    oneshot::sweep(stack, ROLE)?;
    let volume = |node: &str, kind: &str| oneshot::volume_name(stack, &format!("{node}{kind}"));
    let mut mounts = vec![
        Mount::volume(volume(leader, "data"), DATA_ROOT, false),
        Mount::volume(volume(leader, "wal"), WAL_ROOT, false),
        Mount::volume(
            oneshot::volume_name(stack, "pgbackrest"),
            "/var/lib/pgbackrest",
            false,
        ),
        oneshot::conf_mount(stack),
    ];
    for node in nodes {
        let root = journal::node_root(node);
        mounts.push(Mount::volume(
            volume(node, "data"),
            format!("{root}/data"),
            false,
        ));
        mounts.push(Mount::volume(
            volume(node, "wal"),
            format!("{root}/wal"),
            false,
        ));
    }
    Workspace::start_with(stack, ROLE, &mounts, None)
}

/// The checks that need only Patroni: a running leader, and not maintenance mode.
fn leader_of(stack: &Stack) -> anyhow::Result<(Status, String)> {
    let now = status::read(&stack.docker, &stack.config)?;
    let Some(leader) = now.leader().filter(|l| l.state == "running") else {
        bail!(
            "the `ha` cluster has no running leader ({}); nothing was changed. A restore copies \
             the leader's last WAL so nothing acknowledged is lost: start the cluster \
             (`cargo xtask up`) and check `cargo xtask ha status` first",
            now.summary()
        );
    };
    let leader = leader.name.clone();
    if status::paused(&stack.docker, &stack.config.container_name(&leader))? {
        bail!(
            "the `ha` cluster is in maintenance mode; nothing was changed. Run `cargo xtask ha \
             resume` first: a restore needs Patroni to start and promote the restored node"
        );
    }
    Ok((now, leader))
}

/// What `restore` would do on the `ha` topology, for the operator to read before `--yes`.
pub fn plan(stack: &Stack, options: &Options) -> anyhow::Result<String> {
    let pending = journal::read(&stack.paths)?;
    let (_, leader) = leader_of(stack)?;
    let nodes = super::node_names(&stack.config);
    let ws = workspace(stack, &leader, &nodes)?;
    let checked = single::validate(stack, options, &ws)?;
    let target = match &checked.target {
        Some(time) => format!("replays WAL up to {time} and promotes"),
        None if options.set.is_some() => {
            "stops at the set's consistent point and promotes".to_owned()
        }
        None => {
            "replays all archived WAL and the WAL the stopped leader still holds, then promotes"
                .to_owned()
        }
    };
    let mut text = String::new();
    if let Some(pending) = pending {
        text.push_str(&format!(
            "an interrupted restore (`{}`, step {:?}) will first be finished or rolled back\n",
            pending.id, pending.step
        ));
    }
    let replicas: Vec<&String> = nodes.iter().filter(|n| **n != leader).collect();
    text.push_str(&format!(
        "restore would, on the `ha` topology ({nodes}):\n  \
         1. restore backup set `{label}` ({kind}, {size:.1} MB) into staging directories in {leader}'s \
         volumes (the cluster keeps running; a pgBackRest failure changes nothing)\n  \
         2. stop {replicas}, then {leader}, and copy the WAL {leader} still holds into the staging directory\n  \
         3. set every node's data and WAL aside in its volumes as `*.pre-restore-<id>`\n  \
         4. clear the cluster's state in etcd (its dynamic configuration is kept) and start {leader} alone: \
         Patroni bootstraps it from the staged restore, {target}, and it leads\n  \
         5. start {replicas}, which Patroni makes new replicas of {leader}, and wait until each streams{discard}\n  \
         any failure before the promotion puts every node's data back and starts the cluster again",
        nodes = nodes.join(", "),
        replicas = replicas.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        label = checked.set.label,
        kind = checked.set.kind,
        size = checked.set.database_bytes as f64 / 1e6,
        discard = if options.discard_old {
            "; then delete the set-aside data"
        } else {
            "; the set-aside data is kept"
        },
    ));
    Ok(text)
}

/// Restores the `ha` cluster. On failure before the promotion, every node's
/// data is back and the cluster serves again, and the error says so.
pub fn restore(
    stack: &Stack,
    options: &Options,
    progress: &dyn Progress,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let recovered = recover_pending(stack, progress)?;
    let (_, leader) = leader_of(stack)?;
    let nodes = super::node_names(&stack.config);
    let ws = workspace(stack, &leader, &nodes)?;
    let checked = single::validate(stack, options, &ws)?;
    single::check_archiving(stack, options.force, progress)?;
    let mut journal = Journal {
        id: crate::clock::utc_stamp(std::time::SystemTime::now()),
        started: jiff::Timestamp::now().to_string(),
        set: checked.set.label.clone(),
        target_time: checked.target.as_ref().map(TargetTime::for_postgres),
        discard_old: options.discard_old,
        leader,
        nodes,
        step: Step::Staging,
    };
    journal::record(&stack.paths, &journal)?;
    let staging = Staging {
        data: journal.staging_data(),
        wal: journal.staging_wal(),
    };
    let staged = single::stage(
        &ws,
        &staging,
        journal.target_time.as_deref(),
        &checked,
        progress,
    );
    if let Err(err) = staged {
        let cleanup = ws
            .remove(&staging.data)
            .and_then(|()| ws.remove(&staging.wal))
            .and_then(|()| journal::clear(&stack.paths));
        return Err(match cleanup {
            Ok(()) => err.context(
                "the restore failed while staging; nothing was changed and no node was stopped",
            ),
            Err(cleanup_err) => err.context(format!(
                "the restore failed while staging; no node was touched, but cleaning up failed \
                 ({cleanup_err:#}); `cargo xtask up` finishes the cleanup"
            )),
        });
    }
    if let Err(err) = switch_over(stack, &ws, &mut journal, progress) {
        progress.status("Rolling back", &format!("{err:#}"));
        drop(ws);
        return Err(match recover::roll_back(stack, &journal, progress) {
            Ok(()) => err.context(
                "the restore failed; rolled back: every node's data is as it was and the cluster \
                 is serving",
            ),
            Err(rollback_err) => err.context(format!(
                "the restore failed and rolling back failed too ({rollback_err:#}); the journal \
                 is kept: run `cargo xtask up` to finish the rollback"
            )),
        });
    }
    drop(ws);
    let (status, old_data) = recover::finish(stack, &journal, progress).with_context(|| {
        format!(
            "the restore of `{}` completed ({} is promoted and serving), but rebuilding the \
             replicas failed; the journal is kept: `cargo xtask up` finishes it",
            journal.set, journal.leader
        )
    })?;
    super::up::wait_writable(stack, Duration::from_secs(60))?;
    progress.status(
        "Bootstrap",
        "roles and passwords as `secrets/` has them (the backup may hold older ones)",
    );
    crate::pg::bootstrap::run(&stack.paths, &stack.config, &|db| stack.connect(db))?;
    // The members as the wait saw them, with etcd's health.
    let status = Status {
        etcd: status::etcd_health(&stack.docker, &stack.config),
        ..status
    };
    Ok(Report {
        set: checked.set,
        leader: journal.leader.clone(),
        seconds: started.elapsed().as_secs_f64(),
        old_data,
        recovered,
        status,
    })
}

/// Stop, copy the WAL, set aside, bootstrap the restored node. Each step is
/// journaled first; an error leaves the journal at the step that failed.
fn switch_over(
    stack: &Stack,
    ws: &Workspace<'_>,
    journal: &mut Journal,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    step(stack, journal, Step::Stopping)?;
    let replicas = journal.replicas();
    progress.status(
        "Stopping",
        &format!("{}, then {}", replicas.join(", "), journal.leader),
    );
    let mut args = vec!["stop"];
    args.extend(replicas.iter().map(String::as_str));
    stack.compose().run(&args)?;
    stack.compose().run(&["stop", &journal.leader])?;
    fault::point("ha-restore:after-stop")?;

    step(stack, journal, Step::CopyingWal)?;
    progress.status(
        "Copying",
        &format!(
            "the WAL {} still holds, so every acknowledged commit is replayed",
            journal.leader
        ),
    );
    let (_, leader_wal) = journal.live(&journal.leader);
    if ws.present(&leader_wal)? {
        ws.copy_wal_files(&leader_wal, &journal.staging_wal())?;
    }

    step(stack, journal, Step::SettingAside)?;
    progress.status(
        "Setting aside",
        "every node's data and WAL directories (`*.pre-restore-<id>`, in its volumes)",
    );
    for node in &journal.nodes {
        let (data, wal) = journal.live(node);
        let (aside_data, aside_wal) = journal.aside(node);
        for (live, aside) in [(&wal, &aside_wal), (&data, &aside_data)] {
            if ws.present(live)? {
                ws.rename(live, aside)?;
            }
        }
    }
    ws.sync()?;
    fault::point("ha-restore:after-set-aside")?;

    step(stack, journal, Step::Bootstrapping)?;
    let cleared = super::dcs::clear_cluster_state(&stack.docker, &stack.config)?;
    progress.status(
        "Cleared",
        &format!(
            "{} key(s) of the cluster's state in etcd (its dynamic configuration is kept)",
            cleared.len()
        ),
    );
    prepare::install_patroni(
        &stack.paths,
        &stack.config,
        Some(&RestoreBootstrap {
            id: journal.id.clone(),
            staging: journal.staging_data(),
            staging_wal: journal.staging_wal(),
            hold_timeline: "no",
        }),
    )?;
    fault::point("ha-restore:before-bootstrap")?;
    progress.status(
        "Starting",
        &format!(
            "{} alone: Patroni bootstraps it from the restored backup, recovers and promotes",
            journal.leader
        ),
    );
    let container = stack.config.container_name(&journal.leader);
    let restarts = restart_count(stack, &container)?;
    stack.compose().run(&["start", &journal.leader])?;
    wait_leading(stack, &journal.leader, restarts, RECOVERY_LIMIT, progress)?;
    fault::point("ha-restore:before-promotion")?;
    step(stack, journal, Step::Promoted)?;
    Ok(())
}

fn step(stack: &Stack, journal: &mut Journal, step: Step) -> anyhow::Result<()> {
    journal.step = step;
    journal::record(&stack.paths, journal)
}

fn restart_count(stack: &Stack, container: &str) -> anyhow::Result<i64> {
    Ok(stack
        .docker
        .inspect_container(container)?
        .and_then(|c| c.restart_count)
        .unwrap_or(0))
}

/// Waits until `node` leads and its server runs as a primary. Patroni exits
/// when a bootstrap fails (and Docker restarts it): a restart of the container
/// since `restarts` is a failure, with the node's last log lines.
fn wait_leading(
    stack: &Stack,
    node: &str,
    restarts: i64,
    limit: Duration,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let container = stack.config.container_name(node);
    let mut last = String::new();
    crate::wait::poll_until(
        &format!("{node} to lead the restored cluster"),
        limit,
        Duration::from_millis(1000),
        || {
            if restart_count(stack, &container)? > restarts {
                let logs = stack
                    .docker
                    .logs_tail(&container, 30)
                    .unwrap_or_default()
                    .join("\n");
                bail!("Patroni on {node} could not bootstrap the restored cluster and exited; its last lines:\n{logs}");
            }
            let summary =
                match status::patronictl(&stack.docker, &container, &["list", "--format", "json"])
                    .and_then(|json| status::parse_members(&json, &[node.to_owned()]))
                {
                    Ok((members, _)) => {
                        if members
                            .iter()
                            .any(|m| m.name == node && m.is_leader() && m.state == "running")
                        {
                            return Ok(crate::wait::Poll::Ready(()));
                        }
                        members
                            .iter()
                            .map(|m| format!("{} {} {}", m.name, m.role.to_lowercase(), m.state))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                    Err(err) => format!("{err:#}"),
                };
            if summary != last {
                progress.detail(&summary);
                last = summary.clone();
            }
            Ok(crate::wait::Poll::Pending(summary))
        },
    )
}
