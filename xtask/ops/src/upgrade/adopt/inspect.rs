//! The checks before adopt's first change (`inspect`), which change nothing:
//! the stack has no cluster (no running server; nothing in the data and WAL
//! volumes but an empty `pgdata`/`pg_wal` and what a killed adopt left; no
//! stanza in the repository); the source is a data directory of a major with an
//! image, cleanly shut down, with `pg_wal` inside it and no tablespaces, read
//! through a read-only mount by a root one-shot with only `DAC_READ_SEARCH`.

use anyhow::{bail, Context};

use super::{Source, REPO_ROOT, SOURCE, VOLUMES};
use crate::backup::oneshot::{self, Mount, ROLE_LABEL};
use crate::backup::restore::workspace::WAL_ROOT;
use crate::config::Config;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::upgrade::workspace::{DATA_ROOT, PGDATA, PGWAL};

const PROBE_ROLE: &str = "adopt-probe";

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
pub(super) fn source_config(stack: &Stack, major: u32) -> anyhow::Result<Config> {
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
