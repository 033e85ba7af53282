//! Confinement you can inspect (`cargo xtask security …`): every running
//! container of the stack read back through the Docker API (`inspect`) and
//! judged against the policy (`policy`, one table), the seccomp profiles of
//! `seccomp/` recognised by content (`seccomp`), and AppArmor: the host, the
//! profiles of `apparmor/`, loading them and the check `up` makes
//! (`apparmor`).

pub mod apparmor;
pub mod inspect;
pub mod policy;
pub mod seccomp;

use anyhow::Context as _;
use camino::Utf8PathBuf;
use serde::Serialize;

use crate::stack::Stack;

pub use inspect::Inspected;
pub use policy::{evaluate, AppArmorMode, ContainerSecurity, Context, Shortfall, POLICY};
pub use seccomp::{OurProfiles, Seccomp};

/// What `security status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct SecurityReport {
    /// `COMPOSE_PROJECT_NAME`.
    pub project: String,
    /// `POSTGRES_BIND_ADDRESS`, the bind address of every container whose service has
    /// no `<SERVICE>_BIND_ADDRESS` key of its own (each container reports its own).
    pub bind_address: String,
    /// Whether the engine applies AppArmor (its `SecurityOptions` name `apparmor`).
    pub host_apparmor: bool,
    /// `APPARMOR` of `.env`: `enabled` or `disabled`.
    pub apparmor_setting: String,
    /// Every running container of the project, by name.
    pub containers: Vec<ContainerSecurity>,
    /// Containers of the project that are not running (not inspected).
    pub not_running: Vec<String>,
    /// True when at least one container runs and none falls short.
    pub passed: bool,
}

impl SecurityReport {
    /// `(container, shortfall)` for every shortfall.
    pub fn shortfalls(&self) -> impl Iterator<Item = (&ContainerSecurity, &Shortfall)> {
        self.containers
            .iter()
            .flat_map(|c| c.shortfalls.iter().map(move |s| (c, s)))
    }
}

fn container_name(summary: &bollard::models::ContainerSummary) -> String {
    summary
        .names
        .as_ref()
        .and_then(|names| names.first())
        .map_or("", |name| name.trim_start_matches('/'))
        .to_owned()
}

/// `path` as a mount's source may spell it: absolute as given (compose makes
/// `CORE_DATA_STATE` absolute, it does not resolve links), and canonical when that differs.
fn spellings(path: Utf8PathBuf) -> Vec<Utf8PathBuf> {
    let absolute = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => {
            Utf8PathBuf::from_path_buf(cwd.join(&path)).unwrap_or(path)
        }
        _ => path,
    };
    let mut all = vec![absolute.clone()];
    if let Ok(canonical) = absolute.canonicalize_utf8() {
        if canonical != absolute {
            all.push(canonical);
        }
    }
    all
}

/// Reads every running container of the stack's compose project and judges it.
pub fn status(stack: &Stack) -> anyhow::Result<SecurityReport> {
    let project = stack.config.project().to_owned();
    let docker = &stack.docker;
    let host_apparmor = docker
        .security_options()?
        .iter()
        .any(|option| option == "name=apparmor" || option.starts_with("name=apparmor,"));
    let apparmor = match (host_apparmor, apparmor::requested(&stack.config)) {
        (false, _) => AppArmorMode::HostLacks,
        (true, true) => AppArmorMode::Enabled,
        (true, false) => AppArmorMode::Disabled,
    };
    let bind_address = stack.config.bind_address().to_owned();
    // `POSTGRES_BIND_ADDRESS` for postgres, `PGBOUNCER_BIND_ADDRESS` for pgbouncer, ….
    let bind_addresses = crate::config::keys::KEYS
        .iter()
        .filter_map(|key| {
            let service = key.name.strip_suffix("_BIND_ADDRESS")?.to_lowercase();
            Some((service, stack.config.get(key.name).to_owned()))
        })
        .collect();
    let context = Context {
        bind_addresses,
        default_bind_address: bind_address.clone(),
        seccomp_profiles: OurProfiles::read(&stack.paths.seccomp_dir())?,
        apparmor,
        secrets_dirs: spellings(stack.paths.secrets_dir()),
        ca_keys: spellings(crate::tls::files(&stack.paths).ca_key),
    };
    let running = docker.running_project_containers(&project)?;
    let mut containers = Vec::new();
    for summary in &running {
        let name = container_name(summary);
        // A container that vanished since the listing is simply not reported.
        let Some(inspect) = docker
            .inspect_container(&name)
            .with_context(|| format!("failed to read the confinement of `{name}`"))?
        else {
            continue;
        };
        containers.push(evaluate(&Inspected::from_inspect(&inspect), &context));
    }
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut not_running: Vec<String> = docker
        .project_containers(&project)?
        .iter()
        .map(container_name)
        .filter(|name| !containers.iter().any(|c| c.name == *name))
        .collect();
    not_running.sort();
    let passed = !containers.is_empty() && containers.iter().all(|c| c.shortfalls.is_empty());
    Ok(SecurityReport {
        project,
        bind_address,
        host_apparmor,
        apparmor_setting: stack.config.get(apparmor::KEY).to_owned(),
        containers,
        not_running,
        passed,
    })
}
