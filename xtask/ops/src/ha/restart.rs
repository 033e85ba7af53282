//! `ha restart`: a rolling restart that readers do not notice and writers
//! see as one switchover. Each replica in turn is drained from HAProxy's
//! read-only backend, restarted by Patroni, waited for until it streams again
//! and given back; then the leader is switched over to a replica, which
//! restarts the old leader as a replica (Patroni demotes it with a clean
//! shutdown and starts it again); a restart still pending on it after that is
//! done like a replica's. `pending_only` restarts only the nodes Patroni marks
//! as needing it (what `ha config apply` uses).

use std::time::{Duration, Instant};

use crate::progress::Progress;
use crate::stack::Stack;

use super::control::{self, Outcome};
use super::haproxy;
use super::status::{self, Status};

/// How long a drained replica's readers may take to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// One step of the restart, for the report.
#[derive(Debug)]
pub struct Step {
    pub node: String,
    pub what: String,
    pub seconds: f64,
}

/// The rolling restart; the steps taken, in order.
pub fn rolling(
    stack: &Stack,
    pending_only: bool,
    progress: &dyn Progress,
) -> anyhow::Result<(Outcome, Vec<Step>)> {
    let now = status::read(&stack.docker, &stack.config)?;
    anyhow::ensure!(
        now.settled(),
        "the cluster is not settled ({}); nothing was changed. A rolling restart needs a \
         running leader and streaming replicas",
        now.summary()
    );
    let started = Instant::now();
    let leader = now.leader().expect("settled").name.clone();
    let due = |s: &Status, node: &str| {
        !pending_only
            || s.members
                .iter()
                .any(|m| m.name == node && m.pending_restart)
    };
    let mut steps = Vec::new();
    let replicas: Vec<String> = now
        .members
        .iter()
        .filter(|m| !m.is_leader())
        .map(|m| m.name.clone())
        .collect();
    for node in &replicas {
        if due(&now, node) {
            steps.push(restart_replica(stack, node, progress)?);
        }
    }
    let mut after = status::read(&stack.docker, &stack.config)?;
    if due(&now, &leader) {
        let clock = Instant::now();
        let moved = control::switchover(stack, None, progress)?;
        steps.push(Step {
            node: leader.clone(),
            what: format!(
                "switched over ({}), which restarted it as a replica",
                moved.did
            ),
            seconds: clock.elapsed().as_secs_f64(),
        });
        after = moved.status;
        if after
            .members
            .iter()
            .any(|m| m.name == leader && m.pending_restart)
        {
            steps.push(restart_replica(stack, &leader, progress)?);
            after = status::read(&stack.docker, &stack.config)?;
        }
    }
    let did = if steps.is_empty() {
        "nothing to do: no node needs a restart".to_owned()
    } else {
        format!(
            "restarted {} node(s); {} is the leader",
            steps.len(),
            after.leader().map_or("none", |l| l.name.as_str())
        )
    };
    Ok((
        Outcome {
            did,
            seconds: started.elapsed().as_secs_f64(),
            status: after,
        },
        steps,
    ))
}

/// Drains `node` from the read-only backend, has Patroni restart it, waits
/// until it streams again and gives it back.
fn restart_replica(stack: &Stack, node: &str, progress: &dyn Progress) -> anyhow::Result<Step> {
    let clock = Instant::now();
    progress.status("Draining", &format!("{node} from HAProxy's read-only port"));
    haproxy::drain(stack, node, DRAIN_LIMIT, progress)?;
    progress.status("Restarting", node);
    let restarted = status::patronictl_within(
        &stack.docker,
        &stack.config.container_name(node),
        &["restart", stack.config.project(), node, "--force"],
        120,
    )
    .and_then(|_| {
        control::wait(stack, progress, |s| {
            s.settled()
                && s.members
                    .iter()
                    .any(|m| m.name == node && m.is_streaming_replica() && !m.pending_restart)
        })
    });
    // Given back whatever happened: a node left in maintenance would never serve reads again.
    let given_back = haproxy::ready(stack, node);
    restarted?;
    given_back?;
    Ok(Step {
        node: node.to_owned(),
        what: "restarted (drained from the read-only port first)".to_owned(),
        seconds: clock.elapsed().as_secs_f64(),
    })
}
