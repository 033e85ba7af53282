//! One compose stack: bringing it up (idempotently), waiting for health,
//! applying configuration changes by reload or restart, bootstrapping, and
//! taking it down. The CLI's lifecycle commands are thin calls into this.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::compose::Compose;
use crate::config::Config;
use crate::docker::Docker;
use crate::guard;
use crate::image;
use crate::paths::Paths;
use crate::pg;
use crate::progress::Progress;
use crate::render::{self, ChangedSetting, Plan};
use crate::secrets;
use crate::tls;
use crate::wait::{poll_until, Poll};

/// How a configuration change reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Nothing to apply.
    Nothing,
    /// The container was (re)created, so it started on the new files.
    Started,
    /// `pg_reload_conf()` was enough.
    Reloaded(Vec<ChangedSetting>),
    /// Some settings need a restart; the server was restarted. Lists those settings.
    Restarted(Vec<String>),
}

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub secrets_written: usize,
    pub image: image::build::Outcome,
    /// What changed among the add-on services (images, files, removals, auth objects).
    pub addons: Vec<String>,
    pub container_changed: bool,
    pub applied: Applied,
    /// Service logins whose password was set again from `secrets/` (after a
    /// restore of an older backup or `init --force`).
    pub passwords_synced: Vec<String>,
    pub bootstrap: pg::bootstrap::Report,
    /// An interrupted restore that `up` finished or rolled back before anything else.
    pub recovered: Option<crate::backup::restore::Recovered>,
}

impl UpReport {
    /// True when the stack was already up as configured and nothing was touched.
    pub fn nothing_changed(&self) -> bool {
        self.secrets_written == 0
            && self.addons.is_empty()
            && self.recovered.is_none()
            && self.image == image::build::Outcome::UpToDate
            && !self.container_changed
            && self.applied == Applied::Nothing
            && self.passwords_synced.is_empty()
            && self.bootstrap.is_empty()
    }
}

pub struct Stack {
    pub paths: Paths,
    pub config: Config,
    pub docker: Docker,
}

impl Stack {
    pub fn new(paths: Paths, config: Config) -> anyhow::Result<Stack> {
        Ok(Stack {
            paths,
            config,
            docker: Docker::connect()?,
        })
    }

    /// Loads `.env` from the state directory and connects to Docker.
    pub fn load(paths: Paths) -> anyhow::Result<Stack> {
        let config = Config::load(&paths)?;
        Stack::new(paths, config)
    }

    pub fn compose(&self) -> Compose {
        Compose::new(&self.paths, &self.config)
    }

    /// The container of the server that takes writes: the postgres service's,
    /// or in the `ha` topology the leader's as Patroni names it (without a
    /// leader, the first node's: the command's own checks then say it is not
    /// serving).
    pub fn container(&self) -> String {
        if self.config.ha() {
            return crate::ha::status::leader_container(&self.docker, &self.config)
                .unwrap_or_else(|| self.config.container_name("pg1"));
        }
        self.config.container_name("postgres")
    }

    /// The host address clients use to reach the published port.
    pub fn host(&self) -> &str {
        self.config.client_host()
    }

    /// A superuser connection over verified TLS.
    pub fn connect(&self, database: &str) -> anyhow::Result<postgres::Client> {
        let password = secrets::read(&secrets::superuser_password_file(&self.paths))?;
        self.connect_as(self.config.superuser(), &password, database)
    }

    /// A connection as any role over verified TLS.
    pub fn connect_as(
        &self,
        user: &str,
        password: &str,
        database: &str,
    ) -> anyhow::Result<postgres::Client> {
        let ca = tls::files(&self.paths).ca_cert;
        let target = pg::Target {
            host: self.host(),
            port: self.config.host_port(),
            user,
            database,
            ca_cert: &ca,
        };
        pg::connect(&target, password)
    }

    /// Brings the stack to the configured state. Safe to repeat.
    pub fn up(&self, progress: &dyn Progress) -> anyhow::Result<UpReport> {
        crate::setup::ensure_compose(self.config.get("DEBIAN_MIRROR"), progress)?;
        let written = secrets::ensure(&self.paths, &self.config, false)?;
        for file in &written {
            progress.status("Generated", file.as_str());
        }
        // Real directories (never symlinks), made before compose would create them as root:
        // `backups/` for postgres (read-only) and `backups/logical` for the sidecar.
        for dir in [
            self.paths.backups_dir(),
            crate::backup::logical::sidecar_dir(self),
        ] {
            crate::fsutil::ensure_real_dir(&dir, 0o750)?;
            crate::fsutil::hand_over(&dir, self.config.uid(), self.config.gid())?;
        }
        let image = image::build::ensure(&self.docker, &self.paths, &self.config, false, progress)?;
        let addon_images_built = crate::addons::lifecycle::ensure_images(self, progress)?;
        // APPARMOR=enabled on a host that cannot apply the profiles changes nothing on the
        // stack (asked after the images exist: a non-root check starts a one-shot of one).
        crate::security::apparmor::ensure_loaded(&self.paths, &self.config)?;
        // Before anything starts: a restore killed half-way is finished or rolled back.
        let recovered = crate::backup::restore::recover_pending(self, progress)?;
        let swept = crate::backup::oneshot::sweep(self, crate::backup::verify::VERIFY_ROLE)?;
        if swept > 0 {
            progress.status(
                "Removed",
                &format!("{swept} verify container(s) left by an interrupted run"),
            );
        }
        if let Some(recovered) = &recovered {
            progress.status("Recovered", &recovered.to_string());
        }
        // Check, then change: the new set is parsed by the image's server before
        // anything is put in place.
        let plan = render::plan(&self.paths, &self.config)?;
        if !plan.outcome.changed_files.is_empty() {
            guard::check(self, &plan, progress)?;
        }
        let mut renewed = tls::ensure_names(&self.paths, &self.config)?;
        if renewed {
            progress.status(
                "Renewed",
                "the server certificate (its names no longer matched the configuration)",
            );
        }
        let enabled_addons: Vec<&str> = crate::addons::enabled(&self.config)
            .into_iter()
            .filter(|addon| addon.serves_tls())
            .map(crate::addons::Addon::name)
            .collect();
        if !enabled_addons.is_empty()
            && tls::ensure_ca_key(&self.paths, &self.config, &enabled_addons)?
        {
            progress.status(
                "Renewed",
                "the CA and server certificate (the add-on services' certificates need the CA's key, \
                 which an older version did not keep): replace copies of `secrets/tls/ca.crt` \
                 that clients hold",
            );
            renewed = true;
        }
        let addons_changed = crate::addons::prepare(&self.paths, &self.config, progress)?;
        plan.install(&self.paths)?;
        for name in &plan.outcome.changed_files {
            progress.status(
                "Rendered",
                &format!("{}", render::output_dir(&self.paths).join(name)),
            );
        }
        // A failed start rolls back only to a set that ran before.
        let can_roll_back = plan.had_previous()
            && (!plan.outcome.changed_files.is_empty() || self.env_differs_from_applied());

        let before = self.container_state()?;
        progress.status("Starting", &format!("stack `{}`", self.config.project()));
        // postgres first, waited for with our own diagnostics; then the services that depend on it.
        // New TLS files reach a container only when it is created.
        let mut args = vec!["up", "--detach", "--remove-orphans"];
        if renewed {
            args.push("--force-recreate");
        }
        let started = self
            .compose()
            .stream(&[args.as_slice(), &["postgres"]].concat(), |line| {
                progress.detail(line)
            })
            .and_then(|()| self.container_state());
        let after = match started {
            Ok(after) => after,
            Err(err) if can_roll_back => {
                return Err(guard::roll_back(self, &plan, true, err, progress))
            }
            Err(err) => return Err(err),
        };
        let container_changed =
            before != after || !before.as_ref().is_some_and(|(_, running)| *running);
        if let Err(err) = self.wait_healthy(Duration::from_secs(600), progress) {
            if can_roll_back && container_changed {
                return Err(guard::roll_back(self, &plan, true, err, progress));
            }
            return Err(err);
        }
        // Before anything logs in with a password (the superuser's included).
        let passwords_synced = pg::passwords::sync(self)?;
        for role in &passwords_synced {
            progress.status(
                "Synced",
                &format!("the password of role `{role}` from `secrets/`"),
            );
        }
        // A failure from here on leaves the add-ons' new files written but not applied:
        // `rendered/<name>.pending` makes the next `up` apply them.
        crate::fault::point("up:addon-files-written")?;
        let addons_removed = crate::addons::lifecycle::remove_disabled(self, progress)?;
        let addons_running = crate::addons::lifecycle::running(self)?;
        self.compose().stream(&args, |line| progress.detail(line))?;
        crate::addons::lifecycle::apply_changes(
            self,
            &addons_changed,
            &addons_running,
            renewed,
            progress,
        )?;
        if passwords_synced
            .iter()
            .any(|role| role == secrets::BACKUP_ROLE)
        {
            // A rewritten secret file is a new inode; the running sidecar still
            // sees the old one until it is recreated.
            self.compose().stream(
                &["up", "--detach", "--force-recreate", "logical_backup"],
                |line| progress.detail(line),
            )?;
        }

        let applied = if container_changed {
            Applied::Started
        } else if plan.outcome.changed_files.is_empty() {
            Applied::Nothing
        } else {
            self.apply_to_running(&plan, progress)?
        };
        guard::record_applied(&self.paths)?;

        // Databases an interrupted `restore-dump` left: cleaned when safe, else reported.
        // Before the bootstrap, which would create an empty database under a name whose
        // only copy is still aside.
        if let Err(err) = crate::backup::leftovers::sweep(self, progress) {
            progress.status(
                "Warning",
                &format!(
                    "could not check for databases left by an interrupted restore-dump: {err:#}"
                ),
            );
        }
        progress.status("Bootstrap", "roles, databases and extensions");
        let bootstrap = pg::bootstrap::run(&self.paths, &self.config, &|db| self.connect(db))?;
        for role in &bootstrap.roles {
            progress.status("Created", &format!("role `{role}`"));
        }
        for db in &bootstrap.databases {
            progress.status("Created", &format!("database `{db}`"));
        }
        if !bootstrap.extensions.is_empty() {
            progress.status(
                "Installed",
                &format!("{} extension(s)", bootstrap.extensions.len()),
            );
        }
        let mut addons: Vec<String> = addons_changed
            .recreate
            .iter()
            .map(|a| format!("{a}: files changed"))
            .chain(
                addons_changed
                    .reload
                    .iter()
                    .map(|a| format!("{a}: configuration reloaded")),
            )
            .chain(addons_removed.iter().map(|a| format!("{a}: removed")))
            .collect();
        if addon_images_built {
            addons.push("add-on image(s) built".to_owned());
        }
        addons.extend(crate::addons::pgbouncer::auth::sync(self, progress)?);
        addons.extend(crate::dashboard::role::sync(self, progress)?);
        crate::addons::lifecycle::wait_healthy(self, progress)?;
        Ok(UpReport {
            addons,
            secrets_written: written.len(),
            image,
            container_changed,
            applied,
            passwords_synced,
            bootstrap,
            recovered,
        })
    }

    /// Re-renders, checks and applies to the running server (`config apply`).
    pub fn apply(&self, progress: &dyn Progress) -> anyhow::Result<Applied> {
        let plan = render::plan(&self.paths, &self.config)?;
        if plan.outcome.changed_files.is_empty() {
            return Ok(Applied::Nothing);
        }
        if self.docker.health_now(&self.container())?.as_deref() != Some("healthy") {
            bail!("the stack is not running, so nothing was changed; `cargo xtask up` checks the new configuration and starts on it");
        }
        guard::check(self, &plan, progress)?;
        plan.install(&self.paths)?;
        self.apply_to_running(&plan, progress)
    }

    /// Reloads, or restarts when a changed setting needs it. A set the server
    /// refuses on reload, or a restart that does not become healthy, puts the
    /// previous files back (and the server on them).
    fn apply_to_running(&self, plan: &Plan, progress: &dyn Progress) -> anyhow::Result<Applied> {
        let changed = plan.outcome.changed_settings.clone();
        let mut client = self.connect("postgres")?;
        client
            .batch_execute("SELECT pg_reload_conf()")
            .context("failed to reload the configuration")?;
        // The reload is asynchronous: the postmaster re-reads the files when it handles SIGHUP.
        std::thread::sleep(Duration::from_millis(500));
        let mut client = self.connect("postgres")?;
        let errors: Vec<String> = client
            // Restart-only settings show as "setting could not be applied": that is
            // pending_restart, handled below, not a rejection.
            .query(
                "SELECT name, error FROM pg_file_settings \
                 WHERE error IS NOT NULL AND error <> 'setting could not be applied'",
                &[],
            )?
            .iter()
            .map(|row| {
                format!(
                    "{}: {}",
                    row.get::<_, Option<String>>(0).unwrap_or_default(),
                    row.get::<_, String>(1)
                )
            })
            .collect();
        if !errors.is_empty() {
            plan.restore(&self.paths)?;
            client
                .batch_execute("SELECT pg_reload_conf()")
                .context("failed to reload the previous configuration")?;
            bail!(
                "the server rejected the new configuration on reload, so the previous files were put back and reloaded: {}",
                errors.join("; ")
            );
        }
        let pending: Vec<String> = client
            .query(
                "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if pending.is_empty() {
            progress.status("Reloaded", &describe(&changed));
            return Ok(Applied::Reloaded(changed));
        }
        drop(client);
        progress.status(
            "Restarting",
            &format!("postgres: {} need(s) a restart", pending.join(", ")),
        );
        let restarted = self
            .compose()
            .run(&["restart", "postgres"])
            .and_then(|_| self.wait_healthy(Duration::from_secs(300), progress));
        if let Err(err) = restarted {
            return Err(guard::roll_back(self, plan, false, err, progress));
        }
        Ok(Applied::Restarted(pending))
    }

    /// True when `.env` differs from the one the server was last brought up with.
    fn env_differs_from_applied(&self) -> bool {
        let applied = std::fs::read(guard::applied_env(&self.paths)).ok();
        applied.is_some() && applied != std::fs::read(self.paths.env_file()).ok()
    }

    /// The container's ID and whether it runs, or `None` when it does not exist.
    fn container_state(&self) -> anyhow::Result<Option<(String, bool)>> {
        Ok(self
            .docker
            .inspect_container(&self.container())?
            .map(|inspect| {
                (
                    inspect.id.unwrap_or_default(),
                    inspect
                        .state
                        .and_then(|state| state.running)
                        .unwrap_or(false),
                )
            }))
    }

    fn restart_count(&self) -> anyhow::Result<i64> {
        Ok(self
            .docker
            .inspect_container(&self.container())?
            .and_then(|inspect| inspect.restart_count)
            .unwrap_or(0))
    }

    /// Polls the container's health until healthy; on failure shows the health
    /// checks' output and the server's last log lines.
    pub fn wait_healthy(&self, limit: Duration, progress: &dyn Progress) -> anyhow::Result<()> {
        let container = self.container();
        let started = Instant::now();
        let mut last = String::new();
        // A server that exits is started again by the restart policy; a growing
        // count means a crash loop, which health alone shows only as `starting`.
        let restarts = self.restart_count()?;
        // `Ready(Err(state))`: a state no wait can change; the diagnostics follow.
        // The limit is checked here, so running out of time also ends with the diagnostics.
        let outcome = poll_until(
            &container,
            Duration::MAX,
            Duration::from_millis(200),
            || {
                let health = self
                    .docker
                    .health_now(&container)?
                    .unwrap_or_else(|| "missing".to_owned());
                if health != last {
                    progress.status("Health", &format!("{container}: {health}"));
                    last.clone_from(&health);
                }
                if health != "healthy" && self.restart_count()? > restarts {
                    last = format!("{health}, restarted by Docker after its server exited");
                    return Ok(Poll::Ready(Err(())));
                }
                Ok(match health.as_str() {
                    "healthy" => Poll::Ready(Ok(())),
                    "unhealthy" | "stopped" | "missing" | "restarting" => Poll::Ready(Err(())),
                    _ if started.elapsed() > limit => Poll::Ready(Err(())),
                    _ => Poll::Pending(health),
                })
            },
        );
        if outcome?.is_ok() {
            return Ok(());
        }
        let checks = self
            .docker
            .health_log(&container)
            .unwrap_or_default()
            .join("\n");
        let mut logs = self
            .compose()
            .run(&["logs", "--no-color", "--tail", "40", "postgres"])
            .unwrap_or_default();
        // What the server wrote after its logging collector started is in the log volume.
        let server_log = crate::server_log::tail(self, 40)
            .or_else(|_| crate::server_log::tail_stopped(self, 40));
        if let Ok(Some((path, lines))) = server_log {
            logs.push_str(&format!("\n--- {path}\n{}", lines.join("\n")));
        }
        bail!(
            "`{container}` did not become healthy (last state: {last}) after {:.0}s\nhealth checks:\n{}\nlast log lines:\n{}\n\
             see `cargo xtask logs` and `cargo xtask status`",
            started.elapsed().as_secs_f64(),
            checks.trim_end(),
            logs.trim_end()
        )
    }

    /// Stops the stack; with `volumes`, deletes its data volumes too.
    pub fn down(&self, volumes: bool, progress: &dyn Progress) -> anyhow::Result<()> {
        progress.status("Stopping", &format!("stack `{}`", self.config.project()));
        let mut args = vec!["down", "--remove-orphans"];
        if volumes {
            args.push("--volumes");
        }
        // Every profile: an add-on turned off since its `up` is still stopped.
        self.compose()
            .all_profiles()
            .stream(&args, |line| progress.detail(line))
    }
}

fn describe(changed: &[ChangedSetting]) -> String {
    if changed.is_empty() {
        return "configuration (no setting values changed)".to_owned();
    }
    changed
        .iter()
        .map(|c| format!("{} = {}", c.name, c.new.as_deref().unwrap_or("(default)")))
        .collect::<Vec<_>>()
        .join(", ")
}
