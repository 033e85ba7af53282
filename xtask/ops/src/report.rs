//! What the reporting commands report (`status`, `dump-status`, `backup info`),
//! gathered in one read and returned as `Serialize` structs: the CLI prints
//! them as a table or, with `--format json`, as one JSON document. The shapes
//! are documented in `docs/json.md`; a field renamed here is a breaking change
//! for scripts.

use serde::Serialize;

use crate::backup::archiver::{self, ArchiverStatus};
use crate::backup::leftovers::{self, Leftover};
use crate::backup::logical::{self, Status as SidecarStatus};
use crate::backup::physical::{self, BackupSet};
use crate::backup::restore;
use crate::stack::Stack;

/// `status`: the stack's containers, the server and its WAL archiving.
#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    pub project: String,
    pub containers: Vec<ContainerStatus>,
    /// A restore that was interrupted; `up` finishes or rolls it back.
    pub interrupted_restore: Option<InterruptedRestore>,
    /// The server as seen over TLS; `None` when the stack has no containers (not asked).
    pub server: Option<ServerStatus>,
    /// Add-on services `COMPOSE_PROFILES` turns on (on the `ha` topology: its nodes, etcd
    /// members and HAProxy) whose container is missing or not healthy.
    pub unhealthy_services: Vec<String>,
    /// Containers exist, the server answers, WAL archiving is not failing past its grace
    /// and every enabled add-on (or every service of the `ha` topology) is healthy.
    pub healthy: bool,
}

/// One container of the compose project.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    /// The compose service (`postgres`, `logical_backup`), from its label.
    pub service: Option<String>,
    /// Docker's state: `running`, `exited`, `restarting`, …
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, `none` (no health check), `stopped`, `restarting`, or empty.
    pub health: String,
    pub image: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterruptedRestore {
    pub id: String,
    /// The journal's step, as the journal names it (`staging`, `stopping`, …).
    pub step: String,
}

impl InterruptedRestore {
    fn new(id: String, step: impl Serialize) -> anyhow::Result<Self> {
        let step = serde_json::to_value(step)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Self { id, step })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerStatus {
    pub reachable: bool,
    /// `SELECT version()`, when reachable.
    pub version: Option<String>,
    /// Why it is not reachable.
    pub error: Option<String>,
    /// `pg_stat_archiver` and the waiting segments, when reachable.
    pub archiving: Option<ArchiverStatus>,
    /// Archiving fails and a segment has waited past `HEALTH_ARCHIVE_FAILURE_GRACE_SECONDS`.
    pub archiving_unhealthy: bool,
}

/// Reads the stack's state. Docker and journal errors are errors; an
/// unreachable server is reported in `server`.
pub fn stack_status(stack: &Stack) -> anyhow::Result<StackStatus> {
    let project = stack.config.project().to_owned();
    let mut containers = Vec::new();
    for container in stack.docker.project_containers(&project)? {
        let name = container
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map_or("", |n| n.trim_start_matches('/'))
            .to_owned();
        let health = stack.docker.health_now(&name)?.unwrap_or_default();
        containers.push(ContainerStatus {
            service: container
                .labels
                .as_ref()
                .and_then(|labels| labels.get("com.docker.compose.service"))
                .cloned(),
            state: container
                .state
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            health,
            image: container.image.clone().unwrap_or_default(),
            name,
        });
    }
    if containers.is_empty() {
        return Ok(StackStatus {
            project,
            containers,
            interrupted_restore: None,
            server: None,
            unhealthy_services: Vec::new(),
            healthy: false,
        });
    }
    let interrupted_restore = if stack.config.ha() {
        crate::ha::restore::pending_journal(&stack.paths)?
            .map(|journal| InterruptedRestore::new(journal.id, journal.step))
            .transpose()?
    } else {
        restore::pending_journal(&stack.paths)?
            .map(|journal| InterruptedRestore::new(journal.id, journal.step))
            .transpose()?
    };
    let server = match stack.connect("postgres") {
        Ok(mut client) => {
            let version: String = client.query_one("SELECT version()", &[])?.get(0);
            let archiving = archiver::status(&mut client)?;
            let grace = stack
                .config
                .get("HEALTH_ARCHIVE_FAILURE_GRACE_SECONDS")
                .parse()
                .unwrap_or(300);
            ServerStatus {
                reachable: true,
                version: Some(version),
                error: None,
                archiving_unhealthy: archiving.unhealthy(grace),
                archiving: Some(archiving),
            }
        }
        Err(err) => ServerStatus {
            reachable: false,
            version: None,
            error: Some(format!("{err:#}")),
            archiving: None,
            archiving_unhealthy: false,
        },
    };
    let unhealthy_services = unhealthy_services(&stack.config, &containers);
    Ok(StackStatus {
        project,
        containers,
        interrupted_restore,
        healthy: server.reachable && !server.archiving_unhealthy && unhealthy_services.is_empty(),
        unhealthy_services,
        server: Some(server),
    })
}

/// The services that must run healthy and do not: every add-on COMPOSE_PROFILES
/// turns on or, on the `ha` topology (where the add-ons do not run), its nodes
/// and etcd members (healthy) and HAProxy (running: it has no health check).
fn unhealthy_services(
    config: &crate::config::Config,
    containers: &[ContainerStatus],
) -> Vec<String> {
    let wanted: Vec<(String, bool)> = if config.ha() {
        crate::ha::node_names(config)
            .into_iter()
            .chain(crate::ha::etcd_names(config))
            .map(|name| (name, true))
            .chain([("haproxy".to_owned(), false)])
            .collect()
    } else {
        crate::addons::enabled(config)
            .into_iter()
            .map(|addon| (addon.name().to_owned(), true))
            .collect()
    };
    wanted
        .into_iter()
        .filter(|(service, checked)| {
            !containers.iter().any(|c| {
                c.service.as_deref() == Some(service.as_str())
                    && c.state == "running"
                    && (!checked || c.health == "healthy")
            })
        })
        .map(|(service, _)| service)
        .collect()
}

/// `dump-status`: the sidecar's `status.json` (its fields at the top level, as
/// `dump-status --json` always printed them), its health, and the databases an
/// interrupted `restore-dump` left.
#[derive(Debug, Clone, Serialize)]
pub struct DumpStatus {
    #[serde(flatten)]
    pub sidecar: SidecarStatus,
    /// No problem and nothing left over.
    pub healthy: bool,
    /// Why the sidecar is unhealthy (last run failed, or the last success is overdue).
    pub problem: Option<String>,
    pub leftovers: Vec<LeftoverReport>,
}

/// A database an interrupted `restore-dump` left, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct LeftoverReport {
    #[serde(flatten)]
    pub leftover: Leftover,
    pub description: String,
}

/// The leftovers, or the reason they could not be read (the server is down:
/// reported as a warning, the sidecar's file is still worth showing).
pub fn dump_leftovers(stack: &Stack) -> Result<Vec<LeftoverReport>, anyhow::Error> {
    let mut admin = stack.connect("postgres")?;
    Ok(leftovers::find(&mut admin)?
        .into_iter()
        .map(|leftover| LeftoverReport {
            description: leftover.describe(),
            leftover,
        })
        .collect())
}

/// Combines the sidecar's status file (read now) with the leftovers found.
pub fn dump_status(stack: &Stack, leftovers: Vec<LeftoverReport>) -> anyhow::Result<DumpStatus> {
    let sidecar = logical::sidecar_status(stack)?;
    let problem = sidecar.problem(jiff::Timestamp::now().as_second());
    Ok(DumpStatus {
        healthy: problem.is_none() && leftovers.is_empty(),
        problem,
        leftovers,
        sidecar,
    })
}

/// `backup info`: the repository's sets, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub stanza: &'static str,
    pub sets: Vec<BackupSet>,
}

pub fn backup_info(stack: &Stack) -> anyhow::Result<BackupInfo> {
    Ok(BackupInfo {
        stanza: physical::STANZA,
        sets: physical::info(stack)?,
    })
}
