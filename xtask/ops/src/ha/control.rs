//! The operations of `cargo xtask ha` that move the leader or a node's data:
//! switchover, failover, reinit, and maintenance mode (pause, resume). Each
//! reads the cluster first and refuses, changing nothing, when its inputs do
//! not fit it (an unknown node, a candidate that is not a streaming replica,
//! the leader asked to reinitialise itself); then asks Patroni through
//! `patronictl` in a node, and waits until the cluster is settled again.
//! Patroni does the work, and a request it refuses leaves the cluster as it was.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::progress::Progress;
use crate::stack::Stack;

use super::status::{self, Member, Status};

/// What an operation did and how the cluster looked afterwards.
#[derive(Debug)]
pub struct Outcome {
    /// One sentence: what changed.
    pub did: String,
    /// From the request to a settled cluster (and, when the leader moved, a write through HAProxy).
    pub seconds: f64,
    pub status: Status,
}

/// How long Patroni may take to settle after a switchover, failover or reinit.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

/// The member named `node`, refusing a name that is not a configured node
/// or a node Patroni does not list.
pub fn member<'a>(config: &Config, now: &'a Status, node: &str) -> anyhow::Result<&'a Member> {
    let nodes = super::node_names(config);
    anyhow::ensure!(
        nodes.iter().any(|n| n == node),
        "`{node}` is not a node of this cluster; nothing was changed. Its nodes are {} (HA_NODES)",
        nodes.join(", ")
    );
    now.members.iter().find(|m| m.name == node).ok_or_else(|| {
        anyhow::anyhow!(
            "node `{node}` is not in Patroni's list (not started, or it never joined); nothing \
             was changed. `cargo xtask ha status` shows the cluster, `cargo xtask up` starts it"
        )
    })
}

/// True when Patroni runs the cluster in synchronous mode (a member is a sync standby).
fn synchronous(now: &Status) -> bool {
    now.members.iter().any(|m| m.role == "Sync Standby")
}

/// Checks a switchover's inputs against `now`; the leader and the candidate (if named).
pub fn check_switchover(
    config: &Config,
    now: &Status,
    to: Option<&str>,
) -> anyhow::Result<(String, Option<String>)> {
    anyhow::ensure!(
        now.settled(),
        "the cluster is not settled ({}); nothing was changed. A switchover needs a running \
         leader and streaming replicas; `cargo xtask ha failover --to NODE --yes` promotes a \
         replica when the leader is lost",
        now.summary()
    );
    let leader = now
        .leader()
        .expect("a settled cluster has a leader")
        .name
        .clone();
    let Some(to) = to else {
        return Ok((leader, None));
    };
    let candidate = member(config, now, to)?;
    anyhow::ensure!(
        !candidate.is_leader(),
        "`{to}` is already the leader; nothing was changed"
    );
    anyhow::ensure!(
        !synchronous(now) || candidate.role == "Sync Standby",
        "`{to}` is not the synchronous standby, and in synchronous mode only it holds every \
         acknowledged commit; nothing was changed. Switch over to {} or leave out --to",
        now.members
            .iter()
            .filter(|m| m.role == "Sync Standby")
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    );
    Ok((leader, Some(to.to_owned())))
}

/// Moves the leader to `to` (or the replica Patroni finds best) with a clean
/// shutdown of the old one, which then follows the new leader.
pub fn switchover(
    stack: &Stack,
    to: Option<&str>,
    progress: &dyn Progress,
) -> anyhow::Result<Outcome> {
    let now = status::read(&stack.docker, &stack.config)?;
    let (leader, candidate) = check_switchover(&stack.config, &now, to)?;
    progress.status(
        "Switchover",
        &format!(
            "from {leader} to {}",
            candidate.as_deref().unwrap_or("the healthiest replica")
        ),
    );
    let started = Instant::now();
    let mut args = vec!["switchover", "--leader", leader.as_str(), "--force"];
    if let Some(candidate) = &candidate {
        args.extend(["--candidate", candidate.as_str()]);
    }
    status::patronictl_within(&stack.docker, &leader_container(stack, &leader), &args, 60)?;
    let (after, writable) = settle_with_new_leader(stack, &leader, started, progress)?;
    let new = after.leader().map(|l| l.name.clone()).unwrap_or_default();
    Ok(Outcome {
        did: format!(
            "{new} is the leader (writes through HAProxy after {writable:.1}s); {leader} follows it"
        ),
        seconds: started.elapsed().as_secs_f64(),
        status: after,
    })
}

/// Checks a failover's inputs: `to` is a configured member, not the leader.
pub fn check_failover(config: &Config, now: &Status, to: &str) -> anyhow::Result<()> {
    let candidate = member(config, now, to)?;
    anyhow::ensure!(
        !candidate.is_leader(),
        "`{to}` is already the leader; nothing was changed"
    );
    anyhow::ensure!(
        matches!(candidate.state.as_str(), "streaming" | "running"),
        "`{to}` is {} and cannot be promoted; nothing was changed. Choose a streaming replica \
         (`cargo xtask ha status`)",
        candidate.state
    );
    Ok(())
}

/// What a failover would do, for the plan printed without `--yes`.
pub fn failover_plan(now: &Status, to: &str) -> String {
    let leader = now.leader().map_or_else(
        || "there is no leader now".to_owned(),
        |l| format!("the leader {} is demoted without waiting for it", l.name),
    );
    format!(
        "promote {to} at once ({leader}). Commits it has not received are lost unless synchronous \
         mode is on; prefer `cargo xtask ha switchover` while a leader runs."
    )
}

/// Promotes `to` whatever the leader's state: what an operator does when the
/// leader is lost and Patroni does not promote by itself (a replica lagging
/// past `maximum_lag_on_failover`, or maintenance mode).
pub fn failover(stack: &Stack, to: &str, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    let (members, missing) = status::members(&stack.docker, &stack.config)?;
    let now = Status {
        members,
        missing,
        etcd: Vec::new(),
    };
    check_failover(&stack.config, &now, to)?;
    let old = now.leader().map(|l| l.name.clone()).unwrap_or_default();
    progress.status("Failover", &format!("promoting {to}"));
    let started = Instant::now();
    status::patronictl_within(
        &stack.docker,
        &stack.config.container_name(to),
        &["failover", "--candidate", to, "--force"],
        60,
    )?;
    let after = wait(stack, progress, |s| {
        s.settled() && s.leader().is_some_and(|l| l.name == to)
    })?;
    Ok(Outcome {
        did: if old.is_empty() {
            format!("{to} is the leader")
        } else {
            format!("{to} is the leader; {old} follows it")
        },
        seconds: started.elapsed().as_secs_f64(),
        status: after,
    })
}

/// Checks a reinit's inputs: `node` is a member and not the leader.
pub fn check_reinit(config: &Config, now: &Status, node: &str) -> anyhow::Result<()> {
    let target = member(config, now, node)?;
    anyhow::ensure!(
        !target.is_leader(),
        "`{node}` is the leader, and reinitialising it would delete the cluster's only \
         up-to-date copy; nothing was changed. Switch over first (`cargo xtask ha switchover`)"
    );
    anyhow::ensure!(
        now.leader().is_some_and(|l| l.state == "running"),
        "there is no running leader to copy `{node}` from; nothing was changed"
    );
    Ok(())
}

/// Deletes `node`'s data and copies it again from the leader (Patroni's reinit).
pub fn reinit(stack: &Stack, node: &str, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    let now = status::read(&stack.docker, &stack.config)?;
    check_reinit(&stack.config, &now, node)?;
    let leader = now.leader().expect("checked").name.clone();
    progress.status("Reinit", &format!("{node}: a new copy from {leader}"));
    let started = Instant::now();
    status::patronictl_within(
        &stack.docker,
        &leader_container(stack, &leader),
        // Reinit names the cluster first (its scope, the project), then the member.
        &["reinit", stack.config.project(), node, "--force", "--wait"],
        SETTLE_LIMIT.as_secs(),
    )?;
    let after = wait(stack, progress, |s| {
        s.settled()
            && s.members
                .iter()
                .any(|m| m.name == node && m.is_streaming_replica())
    })?;
    Ok(Outcome {
        did: format!("{node} was copied again from {leader} and streams from it"),
        seconds: started.elapsed().as_secs_f64(),
        status: after,
    })
}

/// Maintenance mode on (`pause`) or off: while paused Patroni neither fails
/// over nor restarts a stopped server, so an operator can work on a node.
pub fn set_paused(stack: &Stack, paused: bool, progress: &dyn Progress) -> anyhow::Result<Outcome> {
    let now = status::read(&stack.docker, &stack.config)?;
    let leader = now.leader().map(|l| l.name.clone()).ok_or_else(|| {
        anyhow::anyhow!(
            "the cluster has no leader ({}); nothing was changed",
            now.summary()
        )
    })?;
    let started = Instant::now();
    let verb = if paused { "pause" } else { "resume" };
    if status::paused(&stack.docker, &leader_container(stack, &leader))? == paused {
        return Ok(Outcome {
            did: format!(
                "nothing to do: the cluster was already {}",
                state_word(paused)
            ),
            seconds: 0.0,
            status: now,
        });
    }
    progress.status(
        if paused { "Pausing" } else { "Resuming" },
        "Patroni's automatic failover",
    );
    status::patronictl_within(
        &stack.docker,
        &leader_container(stack, &leader),
        &[verb, "--wait"],
        60,
    )?;
    Ok(Outcome {
        did: format!("the cluster is {}", state_word(paused)),
        seconds: started.elapsed().as_secs_f64(),
        status: status::read(&stack.docker, &stack.config)?,
    })
}

fn state_word(paused: bool) -> &'static str {
    if paused {
        "paused (maintenance mode: no automatic failover until `cargo xtask ha resume`)"
    } else {
        "managed by Patroni (automatic failover on)"
    }
}

pub(super) fn leader_container(stack: &Stack, leader: &str) -> String {
    stack.config.container_name(leader)
}

/// Waits until a node other than `old` leads and a write commits through
/// HAProxy (the seconds since `started` then), and then until the cluster is
/// settled (the old leader streams from the new one).
fn settle_with_new_leader(
    stack: &Stack,
    old: &str,
    started: Instant,
    progress: &dyn Progress,
) -> anyhow::Result<(Status, f64)> {
    wait(stack, progress, |s| {
        s.leader()
            .is_some_and(|l| l.name != old && l.state == "running")
    })?;
    super::up::wait_writable(stack, Duration::from_secs(60))?;
    let writable = started.elapsed().as_secs_f64();
    let after = wait(stack, progress, |s| {
        s.settled() && s.leader().is_some_and(|l| l.name != old)
    })?;
    Ok((after, writable))
}

/// Polls the members until `done`; the status then, with etcd's health.
pub fn wait(
    stack: &Stack,
    progress: &dyn Progress,
    done: impl Fn(&Status) -> bool,
) -> anyhow::Result<Status> {
    wait_within(stack, SETTLE_LIMIT, progress, done)
}

/// [`wait`] with its own limit (a first start copies every replica).
pub fn wait_within(
    stack: &Stack,
    limit: Duration,
    progress: &dyn Progress,
    done: impl Fn(&Status) -> bool,
) -> anyhow::Result<Status> {
    let mut last = String::new();
    let reached = crate::wait::poll_until(
        "the `ha` cluster to have a leader and every replica streaming",
        limit,
        Duration::from_millis(500),
        || {
            let now = match status::members(&stack.docker, &stack.config) {
                Ok((members, missing)) => Status {
                    members,
                    missing,
                    etcd: Vec::new(),
                },
                Err(err) => return Ok(crate::wait::Poll::Pending(format!("{err:#}"))),
            };
            let summary = now.summary();
            if summary != last {
                progress.detail(&summary);
                last = summary.clone();
            }
            Ok(if done(&now) {
                crate::wait::Poll::Ready(now)
            } else {
                crate::wait::Poll::Pending(summary)
            })
        },
    )?;
    Ok(Status {
        etcd: status::etcd_health(&stack.docker, &stack.config),
        ..reached
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let overrides = std::collections::BTreeMap::from([
            ("COMPOSE_PROFILES".to_owned(), "ha".to_owned()),
            ("HA_NODES".to_owned(), "3".to_owned()),
        ]);
        Config::from_overrides(
            &overrides,
            crate::config::sizing::Resources {
                memory_mb: 1024,
                cpus: 2,
            },
        )
        .unwrap()
    }

    fn member(name: &str, role: &str, state: &str) -> Member {
        Member {
            name: name.into(),
            role: role.into(),
            state: state.into(),
            timeline: Some(2),
            lag_mb: None,
            pending_restart: false,
        }
    }

    /// pg1 leads, pg2 is the sync standby, pg3 an asynchronous replica.
    fn synchronous_cluster() -> Status {
        Status {
            members: vec![
                member("pg1", "Leader", "running"),
                member("pg2", "Sync Standby", "streaming"),
                member("pg3", "Replica", "streaming"),
            ],
            missing: Vec::new(),
            etcd: Vec::new(),
        }
    }

    fn refused(result: anyhow::Result<impl std::fmt::Debug>, says: &str) {
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains(says), "{err}");
        assert!(err.contains("nothing was changed"), "{err}");
    }

    #[test]
    fn a_switchover_checks_its_candidate() {
        let (config, now) = (config(), synchronous_cluster());
        assert_eq!(
            check_switchover(&config, &now, None).unwrap(),
            ("pg1".to_owned(), None)
        );
        assert_eq!(
            check_switchover(&config, &now, Some("pg2")).unwrap().1,
            Some("pg2".to_owned())
        );
        refused(check_switchover(&config, &now, Some("pg9")), "not a node");
        refused(
            check_switchover(&config, &now, Some("pg1")),
            "already the leader",
        );
        refused(
            check_switchover(&config, &now, Some("pg3")),
            "not the synchronous standby",
        );
        let mut unsettled = now.clone();
        unsettled.members[2].state = "starting".into();
        refused(check_switchover(&config, &unsettled, None), "not settled");
    }

    #[test]
    fn failover_and_reinit_check_their_node() {
        let (config, now) = (config(), synchronous_cluster());
        check_failover(&config, &now, "pg3").unwrap();
        refused(check_failover(&config, &now, "pg1"), "already the leader");
        let mut stopped = now.clone();
        stopped.members[2].state = "stopped".into();
        refused(
            check_failover(&config, &stopped, "pg3"),
            "cannot be promoted",
        );
        let mut absent = now.clone();
        absent.members.pop();
        refused(
            check_failover(&config, &absent, "pg3"),
            "not in Patroni's list",
        );

        check_reinit(&config, &now, "pg3").unwrap();
        refused(check_reinit(&config, &now, "pg1"), "is the leader");
        let mut leaderless = now.clone();
        leaderless.members[0].state = "stopped".into();
        refused(
            check_reinit(&config, &leaderless, "pg3"),
            "no running leader",
        );
    }
}
