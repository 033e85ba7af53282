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

use std::time::Instant;

use anyhow::{bail, Context};
use camino::Utf8PathBuf;

use super::check;
use super::workspace::{Workspace, DATA_ROOT, PGDATA, PGWAL};
use crate::backup::oneshot::{self, Mount, ROLE_LABEL};
use crate::backup::physical::STANZA;
use crate::backup::restore::workspace::WAL_ROOT;
use crate::config::Config;
use crate::docker::Running;
use crate::fault;
use crate::progress::Progress;
use crate::sql::{quote_ident, quote_literal};
use crate::stack::Stack;

/// Where the source is mounted (read-only) in the one-shots.
const SOURCE: &str = "/var/lib/postgresql/adopt-source";
const REPO_ROOT: &str = "/var/lib/pgbackrest";
/// The workspace's private files: an empty configuration file, hba files.
const SCRATCH: &str = "/tmp/adopt";
const ROLE: &str = "adopt-workspace";
const PROBE_ROLE: &str = "adopt-probe";
const COPY_ROLE: &str = "adopt-copy";
/// Marks the lines single-user mode prints for our queries.
const MARK: &str = "core_data_adopt:";
const MARK_SUPERUSER: &str = "core_data_adopt_superuser:";
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

/// What the checks found; nothing was changed.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub source: Source,
    /// The source's major (`PG_VERSION`).
    pub major: u32,
    /// The stack's `PG_MAJOR`.
    pub to: u32,
    pub checksums: bool,
    pub system_identifier: String,
    pub bytes: u64,
    /// The stack's volumes that do not exist yet (adopt makes them).
    pub missing_volumes: Vec<String>,
    /// Directories an adopt that was killed left in the volumes (removed first).
    pub stale: Vec<String>,
}

impl Inspection {
    pub fn upgrades(&self) -> bool {
        self.major < self.to
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

fn timed<T>(
    steps: &mut Vec<(String, f64)>,
    name: &str,
    work: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let value = work()?;
    steps.push((name.to_owned(), started.elapsed().as_secs_f64()));
    Ok(value)
}

/// Everything `adopt` checks before its first change; changes nothing on the
/// stack (it builds the images it will need when due).
pub fn inspect(
    stack: &Stack,
    source: &Source,
    progress: &dyn Progress,
) -> anyhow::Result<Inspection> {
    let to = stack.config.pg_major();
    if let Source::Volume(name) = source {
        if VOLUMES
            .iter()
            .chain(&["pglog"])
            .any(|own| oneshot::volume_name(stack, own) == *name)
        {
            bail!("volume `{name}` is one of this stack's own; adopt takes a data directory from elsewhere");
        }
        if !stack.docker.volume_exists(name)? {
            bail!("there is no Docker volume `{name}` (`docker volume ls` lists them)");
        }
    }
    if let Source::Dir(path) = source {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read the source directory `{path}`"))?;
        if !meta.is_dir() {
            bail!("`{path}` is not a directory; --from-dir takes a PostgreSQL data directory");
        }
    }
    progress.status(
        "Checking",
        &format!("stack `{}` has no cluster", stack.config.project()),
    );
    let (missing_volumes, stale) = refuse_unless_no_cluster(stack)?;

    crate::image::build::ensure(&stack.docker, &stack.paths, &stack.config, false, progress)?;
    progress.status("Checking", &format!("the source {source}"));
    let version = probe_spec(stack, stack.config.image(), source)?
        .entrypoint(&["cat"])
        .cmd(&[format!("{SOURCE}/PG_VERSION")])
        .run(&stack.docker)?;
    if version.exit_code != 0 {
        bail!(
            "the source {source} is not a PostgreSQL data directory (it has no readable PG_VERSION: {}); \
             give the directory that holds PG_VERSION, base/ and global/",
            version.stderr.trim()
        );
    }
    let major: u32 = version.stdout.trim().parse().with_context(|| {
        format!(
            "the source's PG_VERSION says `{}`, not a PostgreSQL major",
            version.stdout.trim()
        )
    })?;
    let majors = crate::image::suites::majors();
    if major > to {
        bail!(
            "the source is PostgreSQL {major}, newer than this stack's PG_MAJOR={to}; a cluster is never moved to an \
             older major. Set PG_MAJOR={major} in .env if postgres/suites.txt offers it (it offers {majors:?}), then adopt"
        );
    }
    if !majors.contains(&major) {
        bail!(
            "the source is PostgreSQL {major}, for which there is no image (postgres/suites.txt offers {majors:?}); \
             upgrade it with its own binaries to one of those first, or move its data with pg_dump"
        );
    }
    let source_config = source_config(stack, major)?;
    if major != to {
        crate::image::build::ensure(&stack.docker, &stack.paths, &source_config, false, progress)?;
    }
    let probe = probe_spec(stack, source_config.image(), source)?
        .name(format!("{}-{PROBE_ROLE}", stack.config.project()))
        .entrypoint(&["sleep"])
        .cmd(&["infinity"]);
    stack
        .docker
        .remove_container(&format!("{}-{PROBE_ROLE}", stack.config.project()))?;
    let probe = probe.start(&stack.docker)?;
    let run = |argv: &[&str]| -> anyhow::Result<crate::docker::ExecOutput> {
        stack.docker.exec(probe.name(), argv, None)
    };
    let wal = format!("{SOURCE}/pg_wal");
    if run(&["test", "-L", &wal])?.exit_code == 0 {
        let target = run(&["readlink", &wal])?.stdout;
        bail!(
            "the source's pg_wal is a link to `{}`, outside the data directory, which adopt cannot follow \
             (it mounts only the source). Stop that server and make a copy whose pg_wal is a directory \
             (copy the data directory, then replace the `pg_wal` link by a copy of its target), and adopt the copy",
            target.trim()
        );
    }
    if run(&["test", "-d", &wal])?.exit_code != 0 {
        bail!("the source has no pg_wal directory; it is not a complete data directory");
    }
    let spaces = run(&[
        "find",
        &format!("{SOURCE}/pg_tblspc"),
        "-mindepth",
        "1",
        "-maxdepth",
        "1",
    ])?;
    if !spaces.stdout.trim().is_empty() {
        bail!(
            "the source uses tablespaces ({}), which live outside its data directory; move them into \
             pg_default (`ALTER TABLE … SET TABLESPACE pg_default`, then DROP TABLESPACE) and adopt again",
            spaces.stdout.split_whitespace().collect::<Vec<_>>().join(", ")
        );
    }
    let controldata = run(&[
        &format!("/usr/lib/postgresql/{major}/bin/pg_controldata"),
        SOURCE,
    ])?;
    if controldata.exit_code != 0 {
        bail!(
            "pg_controldata of PostgreSQL {major} cannot read the source: {}",
            controldata.stderr.trim()
        );
    }
    let control = parse_controldata(&controldata.stdout);
    if control.state != "shut down" {
        bail!(
            "the source cluster's state is `{}`, not `shut down`: it is running or was not stopped cleanly. \
             Start it with its own PostgreSQL and stop it with `pg_ctl stop --mode=fast` (the official image: \
             `docker stop` its container, which does that), then adopt",
            control.state
        );
    }
    let size = run(&["du", "-sb", SOURCE])?;
    drop(probe);
    Ok(Inspection {
        source: source.clone(),
        major,
        to,
        checksums: control.checksums,
        system_identifier: control.system_identifier,
        bytes: size
            .stdout
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        missing_volumes,
        stale,
    })
}

/// The stack's configuration for `major` (its image is that major's).
fn source_config(stack: &Stack, major: u32) -> anyhow::Result<Config> {
    if major == stack.config.pg_major() {
        return Ok(stack.config.clone());
    }
    stack
        .config
        .with_major(major)
        .map_err(|err| anyhow::anyhow!("PostgreSQL {major} has no configuration here: {err}"))
}

/// A one-shot of `image` that reads the source (root with only
/// `DAC_READ_SEARCH`: the source may belong to another UID), confined otherwise.
fn probe_spec(
    stack: &Stack,
    image: &str,
    source: &Source,
) -> anyhow::Result<crate::docker::ContainerSpec> {
    Ok(crate::docker::ContainerSpec::confined(
        image,
        stack.config.uid(),
        stack.config.gid(),
        &stack.paths.seccomp_dir().join("postgres.json"),
    )?
    .label(oneshot::PROJECT_LABEL, stack.config.project())
    .user("0:0")
    .cap_add(&["DAC_READ_SEARCH"])
    .label(ROLE_LABEL, PROBE_ROLE)
    .mount(source.mount()))
}

/// Refuses unless the stack has no cluster: no server container running, no
/// `PG_VERSION` and nothing else in the data and WAL volumes (an empty
/// `pgdata`/`pg_wal`, `lost+found` and the socket directory excepted), no
/// stanza in the repository; directories a killed adopt left are no cluster.
/// Returns the stack volumes that do not exist and those directories.
fn refuse_unless_no_cluster(stack: &Stack) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    if let Some(container) = stack.docker.inspect_container(&stack.container())? {
        let running = container
            .state
            .as_ref()
            .and_then(|state| state.running)
            .unwrap_or(false);
        if running {
            bail!(
                "stack `{}` runs a server (container `{}`); adopt never replaces a cluster. \
                 Adopt into a new stack (another --state directory), or remove this one's data first \
                 (`cargo xtask down --volumes --yes`, which deletes it)",
                stack.config.project(),
                stack.container()
            );
        }
    }
    let mut mounts = Vec::new();
    let mut missing = Vec::new();
    for (volume, target) in [
        ("pgdata", DATA_ROOT),
        ("pgwal", WAL_ROOT),
        ("pgbackrest", REPO_ROOT),
    ] {
        let name = oneshot::volume_name(stack, volume);
        if stack.docker.volume_exists(&name)? {
            mounts.push(Mount::volume(name, target, true));
        } else {
            missing.push(name);
        }
    }
    if mounts.is_empty() {
        return Ok((missing, Vec::new()));
    }
    let listing = oneshot::confined(stack)?
        .mounts(&mounts)
        .entrypoint(&["find"])
        .cmd(&[
            DATA_ROOT,
            WAL_ROOT,
            &format!("{REPO_ROOT}/archive"),
            &format!("{REPO_ROOT}/backup"),
            "-mindepth",
            "1",
            "-maxdepth",
            "2",
        ])
        .run(&stack.docker)?;
    // `find` exits 1 for a repository directory that does not exist: that is fine.
    let (stale, found): (Vec<String>, Vec<String>) = stack_leftovers(&listing.stdout)
        .into_iter()
        .partition(|path| is_adopt_leftover(path));
    if !found.is_empty() {
        bail!(
            "stack `{}` is not empty: {}. adopt goes only into a stack without a cluster and never replaces data; \
             adopt into a new stack (another --state directory), or, if this stack's data is not needed, \
             `cargo xtask down --volumes --yes` first (it deletes it)",
            stack.config.project(),
            found.iter().chain(&stale).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok((missing, stale))
}

/// A directory a killed adopt left (`pgdata.adopt-<id>…`, `pg_wal.adopt-<id>…`):
/// never a cluster in place, so the next adopt removes it.
fn is_adopt_leftover(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (path.starts_with(&format!("{DATA_ROOT}/")) || path.starts_with(&format!("{WAL_ROOT}/")))
        && ["pgdata.adopt-", "pg_wal.adopt-"]
            .iter()
            .any(|prefix| name.starts_with(prefix) && name.len() > prefix.len())
}

/// What in a two-level listing of the volumes means the stack is not empty,
/// each entry by its top-level name: anything but `lost+found`, the socket
/// directory and an empty live `pgdata`/`pg_wal`.
fn stack_leftovers(listing: &str) -> Vec<String> {
    let archive = format!("{REPO_ROOT}/archive");
    let backup = format!("{REPO_ROOT}/backup");
    let roots = [DATA_ROOT, WAL_ROOT, archive.as_str(), backup.as_str()];
    let mut found: Vec<String> = Vec::new();
    for line in listing.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((root, rest)) = roots.iter().find_map(|root| {
            line.strip_prefix(root)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(|rest| (*root, rest))
        }) else {
            continue;
        };
        let first = rest.split('/').next().unwrap_or(rest);
        if first == "lost+found" || first == "core_data.sockets" {
            continue;
        }
        let top = format!("{root}/{first}");
        // The live directory itself; anything inside it shows as a longer line.
        if (top == PGDATA || top == PGWAL) && rest == first {
            continue;
        }
        if !found.contains(&top) {
            found.push(top);
        }
    }
    found
}

/// The fields of `pg_controldata` adopt decides on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Control {
    pub state: String,
    pub checksums: bool,
    pub system_identifier: String,
}

pub(crate) fn parse_controldata(text: &str) -> Control {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.strip_prefix(':'))
            .map(|value| value.trim().to_owned())
            .unwrap_or_default()
    };
    Control {
        state: field("Database cluster state"),
        checksums: field("Data page checksum version")
            .parse::<u32>()
            .unwrap_or(0)
            > 0,
        system_identifier: field("Database system identifier"),
    }
}

/// The values single-user mode printed for our marked queries: `(mark, value)`.
pub(crate) fn marked_values(output: &str) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for line in output.lines() {
        for mark in [MARK_SUPERUSER, MARK] {
            let quoted = format!("\"{mark}");
            if let Some(at) = line.find(&quoted) {
                let rest = &line[at + quoted.len()..];
                if let Some(end) = rest.rfind('"') {
                    values.push((mark.to_owned(), rest[..end].to_owned()));
                }
                break;
            }
        }
    }
    values
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
            roll_back(stack, &dirs, &changed, progress).with_context(|| {
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
    timed(steps, "copy", || copy(stack, inspection, dirs))?;
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

    let roles = timed(steps, "read roles", || {
        single_user(
            &ws,
            &from_bin,
            &dirs.copy,
            &format!(
                "SELECT '{MARK}' || rolname AS adopt FROM pg_authid WHERE oid = 10;\n\
                 SELECT '{MARK_SUPERUSER}' || rolsuper::text AS adopt FROM pg_authid WHERE rolname = {};\n",
                quote_literal(superuser)
            ),
        )
    })?;
    let values = marked_values(&roles);
    let install_user = values
        .iter()
        .find(|(mark, _)| mark == MARK)
        .map(|(_, value)| value.clone())
        .with_context(|| format!("single-user mode did not name the install user:\n{roles}"))?;
    let superuser_exists = values.iter().any(|(mark, _)| mark == MARK_SUPERUSER);
    progress.status(
        "Found",
        &format!(
            "install user `{install_user}`; the stack's superuser `{superuser}` {}",
            if superuser_exists {
                "exists"
            } else {
                "does not exist yet"
            }
        ),
    );

    // The cluster to put in place, with its WAL directory: both id-named until the end.
    let (cluster, cluster_wal) = if inspection.upgrades() {
        upgrade(&ws, stack, inspection, dirs, &install_user, steps, progress)?;
        (&dirs.new, &dirs.new_wal)
    } else {
        timed(steps, "move the WAL", || {
            ws.run(&[
                "cp",
                "-a",
                "--no-target-directory",
                &format!("{}/pg_wal", dirs.copy),
                &dirs.copy_wal,
            ])?;
            ws.remove(&format!("{}/pg_wal", dirs.copy))?;
            ws.relink(&format!("{}/pg_wal", dirs.copy), &dirs.copy_wal)
        })?;
        (&dirs.copy, &dirs.copy_wal)
    };
    fault::point("adopt:after-upgrade")?;

    progress.status(
        "Superuser",
        &format!("`{superuser}`: a superuser with the password of its secret file"),
    );
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    let statement = format!(
        "{} ROLE {} WITH SUPERUSER LOGIN PASSWORD {};\n",
        if superuser_exists { "ALTER" } else { "CREATE" },
        quote_ident(superuser),
        quote_literal(&verifier)
    );
    timed(steps, "superuser", || {
        single_user(&ws, &to_bin, cluster, &statement).map(drop)
    })?;

    // Last: the live names. Until the data directory's rename nothing is at
    // `pgdata`, so a run killed before it leaves no cluster (only id-named
    // directories, which the next adopt removes); one killed after it leaves a
    // complete cluster that `up` starts.
    timed(steps, "place", || {
        for live in [PGDATA, PGWAL] {
            // An empty live directory (the inspection allowed only that) goes; rmdir removes nothing else.
            if ws.present(live)? {
                ws.run(&["rmdir", live])?;
            }
        }
        changed.placed = true;
        ws.rename(cluster_wal, PGWAL)?;
        ws.relink(&format!("{cluster}/pg_wal"), PGWAL)?;
        ws.sync()?;
        ws.rename(cluster, PGDATA)
    })?;
    ws.sync()?;
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

/// initdb of the stack's major and `pg_upgrade --link` from the copy into
/// `dirs.new` / `dirs.new_wal`; the copy is removed afterwards (its files are
/// hard links of the new cluster's; the source is the way back).
fn upgrade(
    ws: &Workspace<'_>,
    stack: &Stack,
    inspection: &Inspection,
    dirs: &Dirs,
    install_user: &str,
    steps: &mut Vec<(String, f64)>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let to_bin = format!("/usr/lib/postgresql/{}/bin", inspection.to);
    timed(steps, "initdb", || {
        ws.run(&["install", "-d", "-m", "0700", &dirs.new])?;
        // pg_upgrade needs the same install user and checksum setting in both
        // clusters; the new cluster's own hba file is never used (core_data renders
        // its own), so it rejects everything and needs no password.
        let mut init: Vec<String> =
            check::initdb_args(&to_bin, &dirs.new, install_user, Some(&dirs.new_wal))
                .into_iter()
                .filter(|arg| {
                    !arg.starts_with("--pwfile=")
                        && !arg.starts_with("--auth-")
                        && (inspection.checksums || arg != "--data-checksums")
                })
                .collect();
        init.push("--auth=reject".to_owned());
        let init: Vec<&str> = init.iter().map(String::as_str).collect();
        ws.run(&init).map(drop)
    })?;
    fault::point("adopt:before-pg-upgrade")?;
    let sockets = format!("{SCRATCH}/sockets");
    ws.run(&["install", "-d", "-m", "0700", &sockets])?;
    let preload = crate::render::preload_libraries(&stack.config);
    let hba = format!("-c hba_file={SCRATCH}/pg_hba.conf -c ident_file={SCRATCH}/pg_ident.conf");
    // The old server runs on an empty configuration: the source's postgresql.conf
    // may name libraries or files this image lacks.
    let old_options = format!("-c config_file={SCRATCH}/empty.conf {hba}");
    let new_options = format!("{hba} -c shared_preload_libraries={}", preload.join(","));
    let argv = check::pg_upgrade_argv_with(
        &check::PgUpgrade {
            mode: "--link",
            from: inspection.major,
            to: inspection.to,
            new_data: &dirs.new,
            superuser: install_user,
            old_port: "50431",
            sockets: &sockets,
            preload: &preload,
        },
        &dirs.copy,
        &old_options,
        &new_options,
    );
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    progress.status(
        "Upgrading",
        &format!(
            "the copy from PostgreSQL {} to {} (pg_upgrade --link)",
            inspection.major, inspection.to
        ),
    );
    let output = timed(steps, "pg_upgrade --link", || ws.run(&argv))?;
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        progress.detail(line);
    }
    fault::point("adopt:after-pg-upgrade")?;
    ws.remove(&dirs.copy)
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

/// Runs `sql` (one statement a line, on stdin: never in argv) in a
/// single-user backend of `bin` on `data` (in `template1`), on an empty
/// configuration; statements are never echoed into its log. Fails on any
/// `ERROR`.
fn single_user(ws: &Workspace<'_>, bin: &str, data: &str, sql: &str) -> anyhow::Result<String> {
    let postgres = format!("{bin}/postgres");
    let data_arg = format!("-D{data}");
    let config = format!("--config_file={SCRATCH}/empty.conf");
    let output = ws.try_run_with_stdin(
        &[
            &postgres,
            "--single",
            &data_arg,
            &config,
            "--log_min_error_statement=panic",
            "--log_min_messages=warning",
            "template1",
        ],
        sql.as_bytes(),
    )?;
    if !output.ok || output.text.contains("ERROR:") || output.text.contains("FATAL:") {
        bail!(
            "single-user PostgreSQL on `{data}` failed:\n{}",
            output.text
        );
    }
    Ok(output.text)
}

/// The source copied into `dirs.copy` by a root one-shot that may read any
/// owner's files and hand the copy to the stack's UID; the source is mounted read-only.
fn copy(stack: &Stack, inspection: &Inspection, dirs: &Dirs) -> anyhow::Result<()> {
    let name = format!("{}-{COPY_ROLE}", stack.config.project());
    stack.docker.remove_container(&name)?;
    let container: Running<'_> = oneshot::confined(stack)?
        .user("0:0")
        // Read files of any owner, write into the volume's directory, and hand the copy over.
        .cap_add(&["DAC_OVERRIDE", "CHOWN", "FOWNER"])
        .name(&name)
        .label(ROLE_LABEL, COPY_ROLE)
        .mount(inspection.source.mount())
        .mount(Mount::volume(
            oneshot::volume_name(stack, "pgdata"),
            DATA_ROOT,
            false,
        ))
        .entrypoint(&["sleep"])
        .cmd(&["infinity"])
        .start(&stack.docker)?;
    let owner = format!("{}:{}", stack.config.uid(), stack.config.gid());
    for argv in [
        vec!["cp", "-a", "--no-target-directory", SOURCE, &dirs.copy],
        vec!["chown", "-R", "--no-dereference", &owner, &dirs.copy],
        vec!["chmod", "0700", &dirs.copy],
        vec!["sync"],
    ] {
        let output = stack.docker.exec(container.name(), &argv, None)?;
        if output.exit_code != 0 {
            bail!(
                "`{}` failed while copying the source:\n{}{}",
                argv.join(" "),
                output.stdout,
                output.stderr.trim_end()
            );
        }
    }
    Ok(())
}

/// Back to "no cluster": the stack's containers removed (when adopt started
/// them), every directory named with the id removed (the live names first
/// renamed to id-named ones), the stanza the start made removed (there was
/// none before), and the volumes adopt made removed.
fn roll_back(
    stack: &Stack,
    dirs: &Dirs,
    changed: &Changed,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    if changed.started {
        stack.down(false, progress)?;
    }
    let created_all = changed.volumes_created.len() == VOLUMES.len();
    if !created_all {
        let ws = start_workspace(stack)?;
        if changed.placed {
            for (live, aside) in [
                (
                    PGDATA,
                    format!("{DATA_ROOT}/pgdata.adopt-{}-rollback", dirs.id),
                ),
                (
                    PGWAL,
                    format!("{WAL_ROOT}/pg_wal.adopt-{}-rollback", dirs.id),
                ),
            ] {
                if ws.present(live)? {
                    ws.rename(live, &aside)?;
                }
            }
        }
        let pattern = format!("*.adopt-{}*", dirs.id);
        let found = ws.run(&[
            "find",
            DATA_ROOT,
            WAL_ROOT,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-name",
            &pattern,
        ])?;
        for path in found.lines().map(str::trim).filter(|line| !line.is_empty()) {
            progress.status("Removing", path);
            ws.remove(path)?;
        }
        if changed.started {
            for dir in [
                format!("{REPO_ROOT}/archive/{STANZA}"),
                format!("{REPO_ROOT}/backup/{STANZA}"),
            ] {
                if ws.present(&dir)? {
                    progress.status(
                        "Removing",
                        &format!("the stanza the failed start created: {dir}"),
                    );
                    ws.remove(&dir)?;
                }
            }
        }
        ws.sync()?;
    }
    for name in &changed.volumes_created {
        progress.status("Removing", &format!("volume `{name}` (adopt made it)"));
        stack.docker.remove_volume(name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controldata_gives_the_state_checksums_and_identifier() {
        let text = "pg_control version number:            1300\n\
                    Database system identifier:           7412345678901234567\n\
                    Database cluster state:               shut down\n\
                    Data page checksum version:           0\n";
        assert_eq!(
            parse_controldata(text),
            Control {
                state: "shut down".to_owned(),
                checksums: false,
                system_identifier: "7412345678901234567".to_owned(),
            }
        );
        let running = "Database cluster state:               in production\n\
                       Data page checksum version:           1\n";
        let control = parse_controldata(running);
        assert_eq!(control.state, "in production");
        assert!(control.checksums);
    }

    #[test]
    fn single_user_output_gives_the_marked_values() {
        let text = "PostgreSQL stand-alone backend 15.10\n\
                    backend> \t 1: adopt\t(typeid = 25, len = -1, typmod = -1, byval = f)\n\
                    \t----\n\
                    \t 1: adopt = \"core_data_adopt:legacy admin\"\t(typeid = 25, len = -1, typmod = -1, byval = f)\n\
                    \t----\n\
                    backend> \t 1: adopt = \"core_data_adopt_superuser:false\"\t(typeid = 25, len = -1, typmod = -1, byval = f)\n";
        assert_eq!(
            marked_values(text),
            vec![
                (MARK.to_owned(), "legacy admin".to_owned()),
                (MARK_SUPERUSER.to_owned(), "false".to_owned()),
            ]
        );
    }

    #[test]
    fn only_id_named_directories_are_an_adopt_s_leftovers() {
        assert!(is_adopt_leftover(&format!(
            "{DATA_ROOT}/pgdata.adopt-20261203T100811Z"
        )));
        assert!(is_adopt_leftover(&format!(
            "{WAL_ROOT}/pg_wal.adopt-20261203T100811Z-new"
        )));
        assert!(!is_adopt_leftover(PGDATA));
        assert!(!is_adopt_leftover(&format!("{DATA_ROOT}/pgdata.adopt-")));
        assert!(!is_adopt_leftover(&format!(
            "{DATA_ROOT}/pgdata.pre-restore-x"
        )));
        assert!(!is_adopt_leftover(&format!(
            "{REPO_ROOT}/archive/pgdata.adopt-x"
        )));
    }

    #[test]
    fn only_empty_live_directories_and_the_socket_directory_are_no_cluster() {
        let listing =
            format!("{DATA_ROOT}/lost+found\n{DATA_ROOT}/core_data.sockets\n{PGDATA}\n{PGWAL}\n");
        assert!(stack_leftovers(&listing).is_empty());
        let listing = format!(
            "{PGDATA}\n{PGDATA}/PG_VERSION\n{PGDATA}/base\n{PGDATA}.pre-restore-x\n\
             {PGDATA}.pre-restore-x/base\n{REPO_ROOT}/archive/main\n{REPO_ROOT}/archive/main/archive.info\n"
        );
        assert_eq!(
            stack_leftovers(&listing),
            vec![
                PGDATA.to_owned(),
                format!("{PGDATA}.pre-restore-x"),
                format!("{REPO_ROOT}/archive/main")
            ]
        );
    }
}
