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
use crate::backup::restore::{self, Step};
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
    /// Add-on services `COMPOSE_PROFILES` turns on whose container is missing or not healthy.
    pub unhealthy_services: Vec<String>,
    /// Containers exist, the server answers, WAL archiving is not failing past its grace
    /// and every enabled add-on is healthy.
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
    pub step: Step,
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
    let interrupted_restore =
        restore::pending_journal(&stack.paths)?.map(|journal| InterruptedRestore {
            id: journal.id,
            step: journal.step,
        });
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
    // Every add-on COMPOSE_PROFILES turns on must be running and healthy.
    let unhealthy_services: Vec<String> = crate::addons::enabled(&stack.config)
        .into_iter()
        .filter(|addon| {
            !containers
                .iter()
                .any(|c| c.service.as_deref() == Some(addon.name()) && c.health == "healthy")
        })
        .map(|addon| addon.name().to_owned())
        .collect();
    Ok(StackStatus {
        project,
        containers,
        interrupted_restore,
        healthy: server.reachable && !server.archiving_unhealthy && unhealthy_services.is_empty(),
        unhealthy_services,
        server: Some(server),
    })
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
