//! QA clones: a fresh differential backup restored with `--db-include` into a
//! separate container with its own volumes and port, confined like the
//! service, archiving off (it must never write to the live repository, which
//! it mounts read-only for recovery). The live data directory is not touched.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::oneshot::{self, Mount};
use super::physical::{self, Kind, STANZA};
use crate::process;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::{secrets, tls};

const LABEL: &str = "org.core-data.qa-of";
const DATABASE_LABEL: &str = "org.core-data.qa-database";
const EXPIRES_LABEL: &str = "org.core-data.qa-expires";

/// A running or stopped clone (serialized as runbooks' `qa::` maps).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Clone {
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
) -> anyhow::Result<Clone> {
    provision_expiring(stack, database, name, None, progress)
}

/// `provision`, recording when the clone should be dropped (`2026-12-01T00:00:00Z`) as a label.
pub fn provision_expiring(
    stack: &Stack,
    database: &str,
    name: &str,
    expires: Option<&str>,
    progress: &dyn Progress,
) -> anyhow::Result<Clone> {
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
        bail!(
            "QA clone `{name}` exists; drop it first with `cargo xtask provision-qa --drop {name}`"
        );
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
    let result = (|| -> anyhow::Result<Clone> {
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
        let labels = [
            format!("{DATABASE_LABEL}={database}"),
            format!("{EXPIRES_LABEL}={expires}"),
        ];
        start_container(stack, name, &container, &restore_mounts[..3], port, &labels)?;
        let clone = Clone {
            name: name.to_owned(),
            container: container.clone(),
            database: database.to_owned(),
            port,
            state: "running".into(),
            expires: expires.to_owned(),
        };
        let mut client = wait_ready(stack, &clone)?;
        // Databases outside --db-include were restored as empty files: drop them.
        let others: Vec<String> = client
            .query("SELECT datname::text FROM pg_database WHERE NOT datistemplate AND datname NOT IN ('postgres', $1)", &[&database])?
            .iter()
            .map(|row| row.get(0))
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
    labels: &[String],
) -> anyhow::Result<()> {
    let tls_files = tls::files(&stack.paths);
    let secret = |path: &camino::Utf8Path, target: &str| {
        format!("--mount=type=bind,src={path},dst={target},readonly")
    };
    let mut argv: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        format!("--name={container}"),
        "--label".into(),
        format!("{LABEL}={}", stack.config.project()),
        "--label".into(),
        format!("org.core-data.qa-name={name}"),
        format!("--publish=127.0.0.1:{port}:5432"),
        // The stack's network: pg_hba admits the superuser only from its subnet, and a
        // connection through the published port arrives from the network's gateway.
        format!("--network={}_core_data", stack.config.project()),
        format!("--env=POSTGRES_SUPERUSER={}", stack.config.superuser()),
        format!("--shm-size={}", stack.config.get("POSTGRES_SHM_SIZE")),
        "--pids-limit=512".into(),
    ];
    for label in labels {
        argv.extend(["--label".to_owned(), label.clone()]);
    }
    argv.extend(oneshot::confinement(stack));
    for mount in mounts {
        let kind = if mount.bind { "bind" } else { "volume" };
        let ro = if mount.read_only { ",readonly" } else { "" };
        argv.push(format!(
            "--mount=type={kind},src={},dst={}{ro}",
            mount.source.as_deref().unwrap_or_default(),
            mount.target
        ));
    }
    argv.push(format!(
        "--mount=type=bind,src={},dst=/etc/core_data/conf,readonly",
        crate::render::output_dir(&stack.paths)
    ));
    argv.push(secret(
        &secrets::superuser_password_file(&stack.paths),
        "/run/secrets/postgres_superuser_password",
    ));
    argv.push(secret(&tls_files.server_cert, "/run/secrets/server.crt"));
    argv.push(secret(&tls_files.server_key, "/run/secrets/server.key"));
    argv.push(secret(&tls_files.ca_cert, "/run/secrets/ca.crt"));
    argv.extend([
        stack.config.image().to_owned(),
        "postgres".into(),
        "--archive_mode=off".into(),
        "--cron.launch_active_jobs=off".into(),
    ]);
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    process::run("docker", &refs).with_context(|| format!("failed to start QA clone `{name}`"))?;
    Ok(())
}

/// Connects to a clone over verified TLS, waiting for it to finish recovery.
pub fn connect(stack: &Stack, clone: &Clone, database: &str) -> anyhow::Result<postgres::Client> {
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

fn wait_ready(stack: &Stack, clone: &Clone) -> anyhow::Result<postgres::Client> {
    let started = Instant::now();
    loop {
        let attempt = connect(stack, clone, "postgres").and_then(|mut client| {
            let in_recovery: bool = client.query_one("SELECT pg_is_in_recovery()", &[])?.get(0);
            if in_recovery {
                bail!("still in recovery")
            } else {
                Ok(client)
            }
        });
        match attempt {
            Ok(client) => return Ok(client),
            Err(err) if started.elapsed() > Duration::from_secs(600) => {
                let logs = process::capture("docker", &["logs", "--tail", "30", &clone.container])
                    .map(|o| o.stderr)
                    .unwrap_or_default();
                bail!(
                    "QA clone `{}` did not become ready: {err:#}\nlast log lines:\n{logs}",
                    clone.name
                );
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The clones of this stack.
pub fn list(stack: &Stack) -> anyhow::Result<Vec<Clone>> {
    let filter = format!("label={LABEL}={}", stack.config.project());
    let out = process::run(
        "docker",
        &[
            "ps",
            "--all",
            "--filter",
            &filter,
            "--format",
            "{{.Names}}\t{{.Label \"org.core-data.qa-name\"}}\t{{.State}}\t{{.Ports}}\t\
         {{.Label \"org.core-data.qa-database\"}}\t{{.Label \"org.core-data.qa-expires\"}}",
        ],
    )?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let container = fields.next()?.to_owned();
            let name = fields.next()?.to_owned();
            let state = fields.next()?.to_owned();
            let port = fields
                .next()
                .and_then(|ports| ports.split("127.0.0.1:").nth(1))
                .and_then(|rest| rest.split("->").next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            // Clones made before these labels existed report them empty.
            let database = fields.next().unwrap_or_default().to_owned();
            let expires = fields.next().unwrap_or_default().to_owned();
            Some(Clone {
                name,
                container,
                database,
                port,
                state,
                expires,
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
        let _ = process::capture("docker", &["volume", "rm", "--force", &volume]);
    }
    Ok(existed)
}
