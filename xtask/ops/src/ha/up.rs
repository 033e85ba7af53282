//! `cargo xtask up` for the `ha` topology: the same secrets, image, rendered
//! and checked server configuration as the single server, plus the
//! topology's own files (`prepare`), then compose/ha.yaml up (etcd first, its
//! authentication turned on, then the nodes and HAProxy), a wait until
//! Patroni reports one leader and every other node streaming, a wait for a
//! write through HAProxy's read-write port, and the same bootstrap (roles,
//! databases, extensions) through that port.

use std::time::{Duration, Instant};

use crate::pg;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::{poll_until, Poll};

use super::status::Status;

/// What `up` did to the `ha` topology.
#[derive(Debug)]
pub struct Report {
    pub secrets_written: usize,
    pub images_built: bool,
    pub files_changed: bool,
    pub bootstrap: pg::bootstrap::Report,
    pub status: Status,
    /// From `compose up` to a settled cluster.
    pub settle_seconds: f64,
}

/// How long a first start may take: initdb, the extension bundle and one
/// `pg_basebackup` per replica.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

pub fn run(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Report> {
    let (paths, config) = (&stack.paths, &stack.config);
    crate::setup::ensure_compose(config.get("DEBIAN_MIRROR"), progress)?;
    refuse_single_server(stack)?;
    let ignored: Vec<&str> = crate::addons::enabled(config)
        .into_iter()
        .map(crate::addons::Addon::name)
        .collect();
    if !ignored.is_empty() {
        progress.status(
            "Skipped",
            &format!(
                "add-on profile(s) {} (the add-ons do not run with the `ha` topology yet)",
                ignored.join(", ")
            ),
        );
    }
    if let Some(recovered) = super::restore::recover_pending(stack, progress)? {
        progress.status("Recovered", &recovered.to_string());
    }
    let written = crate::secrets::ensure(paths, config, false)?;
    for file in &written {
        progress.status("Generated", file.as_str());
    }
    crate::fsutil::ensure_real_dir(&paths.backups_dir(), 0o750)?;
    crate::fsutil::hand_over(&paths.backups_dir(), config.uid(), config.gid())?;
    crate::image::build::ensure(&stack.docker, paths, config, false, progress)?;
    let images_built = super::ensure_images(&stack.docker, paths, config, progress)?;
    crate::security::apparmor::ensure_loaded(paths, config)?;
    // Check, then change: the server configuration every node includes is parsed by
    // the image's server before anything is put in place.
    let plan = crate::render::plan(paths, config)?;
    if !plan.outcome.changed_files.is_empty() {
        crate::guard::check(stack, &plan, progress)?;
    }
    let renewed = crate::tls::ensure_names(paths, config)?;
    if renewed {
        progress.status(
            "Renewed",
            "the server certificate (its names no longer matched the configuration)",
        );
    }
    let prepared = super::prepare::prepare(paths, config, progress)?;
    plan.install(paths)?;
    let files_changed = renewed || prepared.files_changed || !plan.outcome.changed_files.is_empty();

    progress.status(
        "Starting",
        &format!(
            "`ha` topology of `{}`: {} node(s), {} etcd member(s), HAProxy",
            config.project(),
            super::node_names(config).len(),
            super::etcd_names(config).len()
        ),
    );
    let mut args = vec!["up", "--detach", "--remove-orphans"];
    if files_changed {
        // Compose secrets are bind mounts of the file as it was: only a new container sees a new one.
        args.push("--force-recreate");
    }
    let started = Instant::now();
    // etcd first: its authentication is on before any node talks to it.
    let members = super::etcd_names(config);
    let mut etcd_args = args.clone();
    etcd_args.extend(members.iter().map(String::as_str));
    stack
        .compose()
        .stream(&etcd_args, |line| progress.detail(line))?;
    wait_etcd(stack, ETCD_LIMIT)?;
    let password = crate::secrets::read(&super::prepare::etcd_password_file(paths))?;
    let outcome = super::dcs::ensure_auth(
        &stack.docker,
        config,
        &password,
        prepared.etcd_password_generated,
    )?;
    progress.status(
        "etcd",
        &format!(
            "authentication {} ({} may use this cluster's keys only)",
            outcome,
            super::dcs::PATRONI_USER
        ),
    );
    let nodes = super::node_names(config);
    args.extend(nodes.iter().map(String::as_str));
    args.push("haproxy");
    stack
        .compose()
        .stream(&args, |line| progress.detail(line))?;
    let status = wait_settled(stack, SETTLE_LIMIT, progress)?;
    let settle_seconds = started.elapsed().as_secs_f64();
    progress.status(
        "Settled",
        &format!("{} in {settle_seconds:.1}s", status.summary()),
    );
    wait_writable(stack, Duration::from_secs(60))?;
    progress.status(
        "Bootstrap",
        "roles, databases and extensions (through the primary)",
    );
    let bootstrap = pg::bootstrap::run(paths, config, &|db| stack.connect(db))?;
    crate::guard::record_applied(paths)?;
    Ok(Report {
        secrets_written: written.len(),
        images_built,
        files_changed,
        bootstrap,
        status,
        settle_seconds,
    })
}

/// Refuses (changing nothing) while this project has a single-server cluster:
/// its container, or its data volume. The `ha` topology starts a new cluster
/// on volumes of its own but shares the backup repository's volume, whose
/// stanza belongs to the single server's cluster; moving a single server's
/// data into the `ha` topology is not built. Called before `.env` is changed.
pub fn refuse_single_server(stack: &Stack) -> anyhow::Result<()> {
    let config = &stack.config;
    let container = config.container_name("postgres");
    let volume = format!("{}_pgdata", config.project());
    let found = if stack.docker.inspect_container(&container)?.is_some() {
        format!("its container `{container}`")
    } else if stack.docker.volume_exists(&volume)? {
        format!("its data volume `{volume}`")
    } else {
        return Ok(());
    };
    anyhow::bail!(
        "project `{}` has a single-server cluster ({found}); nothing was changed. The `ha` \
         topology starts a new cluster and would share that cluster's backup repository, and \
         moving a single server into it is not built yet. Use another COMPOSE_PROJECT_NAME for \
         the `ha` topology, or remove the single server first (`cargo xtask down --volumes --yes` \
         deletes its data)",
        config.project()
    )
}

/// How long etcd's members may take to form their cluster.
const ETCD_LIMIT: Duration = Duration::from_secs(120);

/// Waits until every configured etcd member says it is healthy.
fn wait_etcd(stack: &Stack, limit: Duration) -> anyhow::Result<()> {
    poll_until(
        "every etcd member healthy",
        limit,
        Duration::from_millis(500),
        || {
            let members = super::status::etcd_health(&stack.docker, &stack.config);
            match members.iter().find(|m| !m.healthy) {
                None => Ok(Poll::Ready(())),
                Some(m) => Ok(Poll::Pending(format!("{}: {}", m.name, m.detail))),
            }
        },
    )
}

/// Waits until Patroni reports one leader and every configured node streaming
/// from it; the status as it was then.
pub fn wait_settled(
    stack: &Stack,
    limit: Duration,
    progress: &dyn Progress,
) -> anyhow::Result<Status> {
    super::control::wait_within(stack, limit, progress, Status::settled)
}

/// Waits until a transaction commits through HAProxy's read-write port.
pub fn wait_writable(stack: &Stack, limit: Duration) -> anyhow::Result<()> {
    poll_until(
        "a write through HAProxy's read-write port",
        limit,
        Duration::from_millis(500),
        || match stack
            .connect("postgres")
            .and_then(|mut client| Ok(client.query_one("SELECT pg_is_in_recovery()", &[])?))
        {
            Ok(row) if !row.get::<_, bool>(0) => Ok(Poll::Ready(())),
            Ok(_) => Ok(Poll::Pending("the port reached a replica".to_owned())),
            Err(err) => Ok(Poll::Pending(format!("{err:#}"))),
        },
    )
}
