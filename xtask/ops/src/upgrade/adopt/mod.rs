//! `adopt --from-dir PATH | --from-volume NAME`: an existing PostgreSQL data
//! directory (as the official image or a plain `initdb` leaves it, of this
//! stack's major or an older one of `postgres/suites.txt`) brought under
//! core_data, the source never written.
//!
//! 1. Check, changing nothing (`inspect`): the stack has no cluster (no
//!    running server, no `PG_VERSION`, nothing else in the data and WAL
//!    volumes, no stanza in the repository); the source is a data directory
//!    of a major with an image, not newer than `PG_MAJOR`, cleanly shut down
//!    (`pg_controldata` of its own major), with `pg_wal` inside it and no
//!    tablespaces.
//! 2. Copy (never link): the source, mounted read-only, is copied by a
//!    one-shot running as root with only `DAC_OVERRIDE`, `CHOWN` and
//!    `FOWNER` into `pgdata.adopt-<id>` in the data volume, then handed to
//!    the stack's UID.
//! 3. The install user (the role of OID 10, which pg_upgrade needs in both
//!    clusters) and whether the stack's superuser exists are read from the
//!    copy in single-user mode.
//! 4. Of an older major: initdb of the stack's major with that install user
//!    and the source's checksum setting into `pgdata.adopt-<id>-new` /
//!    `pg_wal.adopt-<id>-new`, and `pg_upgrade --link` from the copy where it
//!    is, in the upgrade image (`upgrade::image`); the copy is removed. Of the
//!    same major: the copy's `pg_wal` moves to `pg_wal.adopt-<id>` in the WAL
//!    volume.
//! 5. The stack's superuser is made (or altered to be) a superuser with the
//!    secret file's password, in single-user mode, the SCRAM verifier computed
//!    here and sent on stdin; then the cluster is renamed into place, the data
//!    directory last: until then nothing is at `pgdata`, so a killed run leaves
//!    no cluster, only id-named directories that the next adopt removes, and
//!    after it a complete cluster that `up` starts.
//! 6. `up`: the entrypoint's first boot installs the extension bundle in
//!    `template1` and `postgres` and creates the pgBackRest stanza; `up`'s
//!    bootstrap adds the roles, databases and extensions the configuration
//!    names. After an upgrade, extensions are updated and statistics rebuilt.
//!
//! Any failure after the first change rolls back: the stack's containers
//! removed, every directory named with the adopt's id removed (the live names
//! renamed to id-named ones first), the stanza the failed start created
//! removed, and the volumes adopt created removed. The source is only ever
//! mounted read-only. The source's `postgresql.conf`, `pg_hba.conf` and
//! `postgresql.auto.conf` are not used: core_data renders its own.

mod copy;
mod inspect;
mod place;
mod roles;
mod rollback;

// Each step timed as the upgrade times its own.
use super::run::timed;
use std::time::Instant;

use anyhow::{bail, Context};
use camino::Utf8PathBuf;

use super::workspace::{Workspace, DATA_ROOT};
use crate::backup::oneshot::{self, Mount};
use crate::backup::restore::workspace::WAL_ROOT;
use crate::fault;
use crate::progress::Progress;
use crate::stack::Stack;

use inspect::source_config;
pub use inspect::{inspect, Inspection};

/// Where the source is mounted (read-only) in the one-shots.
const SOURCE: &str = "/var/lib/postgresql/adopt-source";
const REPO_ROOT: &str = "/var/lib/pgbackrest";
/// The workspace's private files: an empty configuration file, hba files.
const SCRATCH: &str = "/tmp/adopt";
const ROLE: &str = "adopt-workspace";
/// Compose's labels on a volume it made; adopt makes the stack's volumes when
/// they do not exist yet, and compose then takes them as its own.
const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
const COMPOSE_VOLUME_LABEL: &str = "com.docker.compose.volume";
const VOLUMES: [&str; 3] = ["pgdata", "pgwal", "pgbackrest"];

/// The data directory to adopt.
#[derive(Debug, Clone)]
pub enum Source {
    /// A directory on the Docker host.
    Dir(Utf8PathBuf),
    /// A Docker volume (e.g. the official image's `/var/lib/postgresql/data`).
    Volume(String),
}

impl Source {
    /// A directory source, made absolute (Docker binds absolute paths only).
    pub fn dir(path: &camino::Utf8Path) -> anyhow::Result<Source> {
        let absolute = std::fs::canonicalize(path)
            .with_context(|| format!("cannot find the source directory `{path}`"))?;
        let absolute = Utf8PathBuf::from_path_buf(absolute)
            .map_err(|path| anyhow::anyhow!("`{}` is not UTF-8", path.display()))?;
        Ok(Source::Dir(absolute))
    }

    /// Read-only, always: the source is the rollback.
    fn mount(&self) -> Mount {
        match self {
            Source::Dir(path) => Mount::bind(path.as_str(), SOURCE),
            Source::Volume(name) => Mount::volume(name.clone(), SOURCE, true),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Dir(path) => write!(f, "directory `{path}`"),
            Source::Volume(name) => write!(f, "volume `{name}`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub inspection: Inspection,
    pub id: String,
    /// The role of OID 10 in the source.
    pub install_user: String,
    /// Whether the stack's superuser role was created (else it existed and was altered).
    pub superuser_created: bool,
    /// Each step's name and seconds.
    pub steps: Vec<(String, f64)>,
    pub total_seconds: f64,
    pub extensions_updated: Vec<String>,
    pub extension_errors: Vec<String>,
}

/// The directories of one adopt, all named with its id.
struct Dirs {
    id: String,
    copy: String,
    copy_wal: String,
    new: String,
    new_wal: String,
}

impl Dirs {
    fn new(id: &str) -> Dirs {
        Dirs {
            id: id.to_owned(),
            copy: format!("{DATA_ROOT}/pgdata.adopt-{id}"),
            copy_wal: format!("{WAL_ROOT}/pg_wal.adopt-{id}"),
            new: format!("{DATA_ROOT}/pgdata.adopt-{id}-new"),
            new_wal: format!("{WAL_ROOT}/pg_wal.adopt-{id}-new"),
        }
    }
}

/// What has been changed so far (what the rollback undoes).
#[derive(Default)]
struct Changed {
    volumes_created: Vec<String>,
    /// The live names hold this adopt's directories.
    placed: bool,
    started: bool,
}

/// Adopts `source` into the stack (see the module comment).
pub fn adopt(stack: &Stack, source: &Source, progress: &dyn Progress) -> anyhow::Result<Report> {
    let began = Instant::now();
    let inspection = inspect(stack, source, progress)?;
    let source_config = source_config(stack, inspection.major)?;
    // The upgrade image (both majors' binaries), built when due; before any change.
    let work_stack = if inspection.upgrades() {
        let source_stack = Stack::new(stack.paths.clone(), source_config)?;
        let (target, upgrade_stack, _image) =
            super::run::prepare(&source_stack, inspection.to, progress)?;
        if target.image() != stack.config.image() {
            bail!(
                "the upgrade's target image `{}` is not this stack's `{}`",
                target.image(),
                stack.config.image()
            );
        }
        upgrade_stack
    } else {
        Stack::new(stack.paths.clone(), stack.config.clone())?
    };
    // Every secret is read before the first change.
    let password = crate::secrets::read(&crate::secrets::superuser_password_file(&stack.paths))
        .context("the superuser's password file is needed (run `cargo xtask init`)")?;

    let dirs = Dirs::new(&crate::clock::utc_stamp(std::time::SystemTime::now()));
    let mut changed = Changed::default();
    let mut steps = Vec::new();
    let result = forward(
        stack,
        &work_stack,
        &inspection,
        &dirs,
        &password,
        &mut changed,
        &mut steps,
        progress,
    );
    let (install_user, superuser_created) = match result {
        Ok(done) => done,
        Err(err) => {
            progress.status("Rolling back", &format!("adopt failed: {err:#}"));
            rollback::roll_back(stack, &dirs, &changed, progress).with_context(|| {
                format!(
                    "adopt failed ({err:#}) and so did its rollback; the source is untouched. Remove what is \
                     named `*.adopt-{}` in the stack's volumes (or the whole stack: `cargo xtask down --volumes --yes`)",
                    dirs.id
                )
            })?;
            return Err(err.context(format!(
                "adopt failed and was rolled back: stack `{}` has no cluster, as before; the source {source} was never written",
                stack.config.project()
            )));
        }
    };
    let (extensions_updated, extension_errors) = if inspection.upgrades() {
        timed(&mut steps, "extensions and statistics", || {
            super::run::finish(stack, progress)
        })?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Report {
        inspection,
        id: dirs.id,
        install_user,
        superuser_created,
        steps,
        total_seconds: began.elapsed().as_secs_f64(),
        extensions_updated,
        extension_errors,
    })
}

/// Every change, in order (see the module comment), each recorded in `changed`
/// for the rollback; returns the install user and whether the stack's superuser
/// was created.
#[allow(clippy::too_many_arguments)]
fn forward(
    stack: &Stack,
    work_stack: &Stack,
    inspection: &Inspection,
    dirs: &Dirs,
    password: &str,
    changed: &mut Changed,
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<(String, bool)> {
    for name in &inspection.missing_volumes {
        let volume = name
            .strip_prefix(&format!("{}_", stack.config.project()))
            .unwrap_or(name);
        stack.docker.create_volume(
            name,
            &[
                (COMPOSE_PROJECT_LABEL, stack.config.project()),
                (COMPOSE_VOLUME_LABEL, volume),
            ],
        )?;
        changed.volumes_created.push(name.clone());
    }
    fault::point("adopt:after-volumes")?;

    let superuser = stack.config.superuser();
    progress.status(
        "Copying",
        &format!(
            "the source {} ({} MB) into {}",
            inspection.source,
            inspection.bytes / 1_048_576,
            dirs.copy
        ),
    );
    timed(steps, "copy", || copy::copy(stack, inspection, dirs))?;
    fault::point("adopt:after-copy")?;

    let ws = start_workspace(work_stack)?;
    for path in &inspection.stale {
        progress.status(
            "Removing",
            &format!("{path} (left by an adopt that was killed)"),
        );
        ws.remove(path)?;
    }
    let from_bin = format!("/usr/lib/postgresql/{}/bin", inspection.major);
    let to_bin = format!("/usr/lib/postgresql/{}/bin", inspection.to);
    ws.run(&["install", "-d", "-m", "0700", SCRATCH])?;
    ws.write_file(&format!("{SCRATCH}/empty.conf"), b"")?;
    // Only processes of this one-shot (no network) reach the socket directory (0700).
    ws.write_file(&format!("{SCRATCH}/pg_hba.conf"), b"local all all trust\n")?;
    ws.write_file(&format!("{SCRATCH}/pg_ident.conf"), b"")?;
    // The source's ALTER SYSTEM settings would override the rendered configuration
    // (and may name libraries this image lacks): kept beside it, not read.
    let auto = format!("{}/postgresql.auto.conf", dirs.copy);
    if ws.exists(&auto)? {
        ws.rename(&auto, &format!("{auto}.source"))?;
    }

    let (install_user, superuser_exists) =
        roles::read_roles(&ws, &from_bin, &dirs.copy, superuser, steps, progress)?;

    // The cluster to put in place, with its WAL directory: both id-named until the end.
    let (cluster, cluster_wal) = if inspection.upgrades() {
        place::upgrade(&ws, stack, inspection, dirs, &install_user, steps, progress)?;
        (&dirs.new, &dirs.new_wal)
    } else {
        place::move_wal(&ws, dirs, steps)?;
        (&dirs.copy, &dirs.copy_wal)
    };
    fault::point("adopt:after-upgrade")?;

    progress.status(
        "Superuser",
        &format!("`{superuser}`: a superuser with the password of its secret file"),
    );
    let statement = roles::superuser_statement(superuser, superuser_exists, password);
    timed(steps, "superuser", || {
        roles::single_user(&ws, &to_bin, cluster, &statement).map(drop)
    })?;

    // Last: the live names. Until the data directory's rename nothing is at
    // `pgdata`, so a run killed before it leaves no cluster (only id-named
    // directories, which the next adopt removes); one killed after it leaves a
    // complete cluster that `up` starts.
    place::place(&ws, cluster, cluster_wal, changed, steps)?;
    drop(ws);
    fault::point("adopt:before-start")?;

    // `up` looks for an interrupted restore in the data volume, which exists now, with
    // the rendered configuration mounted: on a stack that never ran, `up` renders into it.
    crate::fsutil::ensure_dir(&crate::render::output_dir(&stack.paths), 0o755)?;
    progress.status(
        "Starting",
        &format!("PostgreSQL {} on the adopted data", inspection.to),
    );
    changed.started = true;
    timed(steps, "start (first boot, stanza, bootstrap)", || {
        stack.up(progress).map(drop)
    })?;
    fault::point("adopt:after-start")?;
    Ok((install_user, !superuser_exists))
}

/// The workspace of `work_stack`'s image (the upgrade image, or the stack's)
/// on the stack's volumes; nothing of the host is mounted.
fn start_workspace(work_stack: &Stack) -> anyhow::Result<Workspace<'_>> {
    oneshot::sweep(work_stack, ROLE)?;
    let mounts = [
        Mount::volume(oneshot::volume_name(work_stack, "pgdata"), DATA_ROOT, false),
        Mount::volume(oneshot::volume_name(work_stack, "pgwal"), WAL_ROOT, false),
        Mount::volume(
            oneshot::volume_name(work_stack, "pgbackrest"),
            REPO_ROOT,
            false,
        ),
    ];
    Workspace::start_with(work_stack, ROLE, &mounts, Some("mode=1777,size=2g"))
}
