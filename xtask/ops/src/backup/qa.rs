//! QA clones: a fresh differential backup restored with `--db-include` into a
//! separate container with its own volumes and port, confined like the
//! service, archiving off (it must never write to the live repository, which
//! it mounts read-only for recovery). The live data directory is not touched.

use std::time::Duration;

use anyhow::{bail, Context};

use super::oneshot::{self, Mount};
use super::physical::{self, Kind, STANZA};
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::{poll_until, Poll};
use crate::{secrets, tls};

const LABEL: &str = "org.core-data.qa-of";
const DATABASE_LABEL: &str = "org.core-data.qa-database";
const EXPIRES_LABEL: &str = "org.core-data.qa-expires";
const NAME_LABEL: &str = "org.core-data.qa-name";

/// A running or stopped clone (serialized as runbooks' `qa::` maps).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct QaClone {
    pub name: String,
    pub container: String,
    pub database: String,
    /// Published on 127.0.0.1.
    pub port: u16,
    /// `running`, `exited`, ...
    pub state: String,
    /// When the clone is meant to be dropped (ISO 8601 UTC), empty when none was
    /// given. Recorded as a label and reported; nothing drops clones on its own.
    pub expires: String,
}

fn container_name(stack: &Stack, name: &str) -> String {
    format!("{}-qa-{name}", stack.config.project())
}

fn volumes(stack: &Stack, name: &str) -> (String, String) {
    let base = format!("{}_qa_{name}", stack.config.project());
    (format!("{base}_data"), format!("{base}_wal"))
}

fn check_clone_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        bail!("clone name `{name}`: use at most 40 characters from a-z, 0-9, `_` and `-` (it names a container)");
    }
    Ok(())
}

/// The default clone name for a database: `qa_` and the name reduced to safe characters.
pub fn default_name(database: &str) -> String {
    let safe: String = database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(36)
        .collect();
    format!("qa_{safe}")
}

/// Takes a differential backup and brings up a clone holding only `database`.
pub fn provision(
    stack: &Stack,
    database: &str,
    name: &str,
    progress: &dyn Progress,
) -> anyhow::Result<QaClone> {
    provision_expiring(stack, database, name, None, progress)
}

/// `provision`, recording when the clone should be dropped (`2026-12-01T00:00:00Z`) as a label.
pub fn provision_expiring(
    stack: &Stack,
    database: &str,
    name: &str,
    expires: Option<&str>,
    progress: &dyn Progress,
) -> anyhow::Result<QaClone> {
    check_clone_name(name)?;
    let expires = expires.unwrap_or_default();
    if expires.len() > 40
        || !expires
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'T' | 'Z' | ':' | '.' | '-'))
    {
        bail!("expiry `{expires}` of QA clone `{name}`: use an ISO 8601 UTC time like `2026-12-01T00:00:00Z`");
    }
    crate::sql::check_name("database", database)?;
    let container = container_name(stack, name);
    if stack.docker.inspect_container(&container)?.is_some() {
        bail!("QA clone `{name}` exists; drop it first with `cargo xtask qa drop {name}`");
    }
    {
        let mut client = stack.connect("postgres")?;
        if !crate::pg::bootstrap::database_exists(&mut client, database)? {
            bail!("database `{database}` does not exist in the live cluster");
        }
    }
    let set = physical::backup(stack, Some(Kind::Diff), progress)?;
    let (data, wal) = volumes(stack, name);
    let repo = oneshot::volume_name(stack, "pgbackrest");
    let restore_mounts = [
        Mount::volume(data.clone(), "/var/lib/postgresql/data", false),
        Mount::volume(wal.clone(), "/var/lib/postgresql/wal", false),
        Mount::volume(repo.clone(), "/var/lib/pgbackrest", true),
        oneshot::conf_mount(stack),
    ];
    progress.status(
        "Restoring",
        &format!("`{database}` from {} into clone `{name}`", set.label),
    );
    let result = (|| -> anyhow::Result<QaClone> {
        oneshot::run(
            stack,
            &restore_mounts,
            "install",
            &["-d", "-m", "0700", "/var/lib/postgresql/data/pgdata"],
        )?;
        let set_arg = format!("--set={}", set.label);
        let include = format!("--db-include={database}");
        oneshot::run(
            stack,
            &restore_mounts,
            "pgbackrest",
            &[
                "--stanza",
                STANZA,
                "--log-level-console=warn",
                "--link-all",
                &set_arg,
                &include,
                "--type=immediate",
                "--target-action=promote",
                "restore",
            ],
        )?;
        let port = crate::scratch::free_port()?;
        let labels = [(DATABASE_LABEL, database), (EXPIRES_LABEL, expires)];
        start_container(stack, name, &container, &restore_mounts[..3], port, &labels)?;
        let clone = QaClone {
            name: name.to_owned(),
            container: container.clone(),
            database: database.to_owned(),
            port,
            state: "running".into(),
            expires: expires.to_owned(),
        };
        let mut client = wait_ready(stack, &clone)?;
        // Databases outside --db-include were restored as empty files: drop them.
        let others: Vec<String> = crate::pg::bootstrap::databases(&mut client)?
            .into_iter()
            .filter(|other| other != "postgres" && other != database)
            .collect();
        for other in others {
            client.batch_execute(&format!(
                "DROP DATABASE {} WITH (FORCE)",
                crate::sql::quote_ident(&other)
            ))?;
        }
        Ok(clone)
    })();
    if result.is_err() {
        let _ = drop_clone(stack, name);
    }
    result
}

fn start_container(
    stack: &Stack,
    name: &str,
    container: &str,
    mounts: &[Mount],
    port: u16,
    labels: &[(&str, &str)],
) -> anyhow::Result<()> {
    let shm_mb = crate::config::value::parse_size_mb(stack.config.get("POSTGRES_SHM_SIZE"));
    let mut spec = oneshot::confined(stack)?
        .name(container)
        .label(LABEL, stack.config.project())
        .label(NAME_LABEL, name)
        .publish("127.0.0.1", port, 5432)
        // The stack's network: pg_hba admits the superuser only from its subnet, and a
        // connection through the published port arrives from the network's gateway.
        .network(format!("{}_core_data", stack.config.project()))
        .env("POSTGRES_SUPERUSER", stack.config.superuser())
        .limits(shm_mb, None, None)
        .mounts(mounts)
        .mounts(&oneshot::server_mounts(&stack.paths))
        .cmd(&[
            "postgres",
            "--archive_mode=off",
            "--cron.launch_active_jobs=off",
            // The clone has no log volume (its root is read-only): it logs to
            // stderr, its container's log, and jsonlog falls back to stderr too.
            "--logging_collector=off",
        ]);
    for (key, value) in labels {
        spec = spec.label(key, value);
    }
    // The clone outlives this command: `qa drop` removes it.
    spec.start(&stack.docker)
        .with_context(|| format!("failed to start QA clone `{name}`"))?
        .keep();
    Ok(())
}

/// Connects to a clone over verified TLS, waiting for it to finish recovery.
pub fn connect(stack: &Stack, clone: &QaClone, database: &str) -> anyhow::Result<postgres::Client> {
    let password = secrets::read(&secrets::superuser_password_file(&stack.paths))?;
    let ca = tls::files(&stack.paths).ca_cert;
    let target = crate::pg::Target {
        host: "127.0.0.1",
        port: clone.port,
        user: stack.config.superuser(),
        database,
        ca_cert: &ca,
    };
    crate::pg::connect(&target, &password)
}

fn wait_ready(stack: &Stack, clone: &QaClone) -> anyhow::Result<postgres::Client> {
    let waited = poll_until(
        &format!("QA clone `{}`", clone.name),
        Duration::from_secs(600),
        Duration::from_millis(500),
        || {
            // Refused connections are expected while it starts.
            let mut client = match connect(stack, clone, "postgres") {
                Ok(client) => client,
                Err(err) => return Ok(Poll::Pending(format!("{err:#}"))),
            };
            Ok(match crate::pg::bootstrap::promoted(&mut client)? {
                Poll::Ready(()) => Poll::Ready(client),
                Poll::Pending(why) => Poll::Pending(why),
            })
        },
    );
    waited.map_err(|err| {
        let logs = stack
            .docker
            .logs_tail(&clone.container, 30)
            .map(|lines| lines.join("\n"))
            .unwrap_or_default();
        err.context(format!("last log lines of `{}`:\n{logs}", clone.container))
    })
}

/// The clones of this stack.
pub fn list(stack: &Stack) -> anyhow::Result<Vec<QaClone>> {
    let containers = stack
        .docker
        .containers_labelled(&[format!("{LABEL}={}", stack.config.project())])?;
    Ok(containers
        .into_iter()
        .filter_map(|summary| {
            let labels = summary.labels.unwrap_or_default();
            let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
            let container = summary.names?.first()?.trim_start_matches('/').to_owned();
            let port = summary
                .ports
                .unwrap_or_default()
                .iter()
                .find(|port| port.ip.as_deref() == Some("127.0.0.1"))
                .and_then(|port| port.public_port)
                .unwrap_or(0);
            Some(QaClone {
                name: label(NAME_LABEL),
                container,
                // Clones made before these labels existed report them empty.
                database: label(DATABASE_LABEL),
                port,
                state: summary.state.map(|s| s.to_string()).unwrap_or_default(),
                expires: label(EXPIRES_LABEL),
            })
        })
        .collect())
}

/// Removes a clone's container and volumes. Returns false when there was none.
pub fn drop_clone(stack: &Stack, name: &str) -> anyhow::Result<bool> {
    check_clone_name(name)?;
    let container = container_name(stack, name);
    let existed = stack.docker.inspect_container(&container)?.is_some();
    stack.docker.remove_container(&container)?;
    let (data, wal) = volumes(stack, name);
    for volume in [data, wal] {
        stack.docker.remove_volume(&volume)?;
    }
    Ok(existed)
}
