//! The upgrade's container: the upgrade image (both majors' binaries) with the
//! stack's data, WAL and repository volumes, the rendered configuration and
//! the superuser's password file, confined like every one-shot and swept by
//! its role label when a run was killed. `--check` mounts the volumes
//! read-only beside the running server.

use anyhow::bail;

use crate::backup::oneshot::{self, Mount, ROLE_LABEL};
use crate::docker::Running;
use crate::stack::Stack;

pub(crate) const DATA_ROOT: &str = "/var/lib/postgresql/data";
pub(crate) const WAL_ROOT: &str = "/var/lib/postgresql/wal";
pub(crate) const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
pub(crate) const PGWAL: &str = "/var/lib/postgresql/wal/pg_wal";
/// The server's first socket directory (postgresql.conf), in the data volume.
pub(crate) const SERVER_SOCKETS: &str = "/var/lib/postgresql/data/core_data.sockets";
pub(crate) const ROLE: &str = "upgrade-workspace";

pub(crate) struct Workspace<'a> {
    /// The stack with the upgrade image as its image (the target's configuration).
    stack: &'a Stack,
    container: Running<'a>,
}

/// What a command printed, both streams, and whether it exited 0.
#[derive(Debug)]
pub(crate) struct StepOutput {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

impl<'a> Workspace<'a> {
    /// Starts the workspace from `upgrade_stack`'s image (after removing any a
    /// killed run left). `writable` mounts the volumes read-write.
    pub(crate) fn start(upgrade_stack: &'a Stack, writable: bool) -> anyhow::Result<Workspace<'a>> {
        sweep(upgrade_stack)?;
        let stack = upgrade_stack;
        let mut mounts = vec![
            Mount::volume(oneshot::volume_name(stack, "pgdata"), DATA_ROOT, !writable),
            Mount::volume(oneshot::volume_name(stack, "pgwal"), WAL_ROOT, !writable),
            Mount::volume(
                oneshot::volume_name(stack, "pgbackrest"),
                "/var/lib/pgbackrest",
                !writable,
            ),
        ];
        // The configuration (its pg_hba.conf maps the OS user to the superuser
        // by peer) and the password file initdb gives the new superuser.
        mounts.extend(
            oneshot::server_mounts(&stack.paths)
                .into_iter()
                .filter(|mount| !mount.target.ends_with(".crt") && !mount.target.ends_with(".key")),
        );
        let name = format!("{}-{ROLE}", stack.config.project());
        stack.docker.remove_container(&name)?;
        let container = oneshot::confined(stack)?
            .name(&name)
            .label(ROLE_LABEL, ROLE)
            .mounts(&mounts)
            // initdb's scratch clusters and pg_dumpall's schema file.
            .tmpfs("/tmp", "mode=1777,size=2g")
            .entrypoint(&["sleep"])
            .cmd(&["infinity"])
            .start(&stack.docker)?;
        Ok(Workspace { stack, container })
    }

    /// Runs `argv` (in /tmp, which pg_upgrade needs writable); never fails on a
    /// non-zero exit.
    pub(crate) fn try_run(&self, argv: &[&str]) -> anyhow::Result<StepOutput> {
        let mut full = vec!["env", "--chdir=/tmp"];
        full.extend_from_slice(argv);
        let output = self.stack.docker.exec(self.container.name(), &full, None)?;
        let mut text = output.stdout;
        if !output.stderr.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&output.stderr);
        }
        Ok(StepOutput {
            ok: output.exit_code == 0,
            text: text.trim_end().to_owned(),
        })
    }

    /// Runs `argv`; a failure carries everything the program printed.
    pub(crate) fn run(&self, argv: &[&str]) -> anyhow::Result<String> {
        let output = self.try_run(argv)?;
        if !output.ok {
            bail!("`{}` failed:\n{}", argv.join(" "), output.text);
        }
        Ok(output.text)
    }

    pub(crate) fn exists(&self, path: &str) -> anyhow::Result<bool> {
        Ok(self.try_run(&["test", "-e", path])?.ok)
    }

    /// Renames `from` to `to`; `to` must not exist.
    pub(crate) fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        if self.exists(to)? || self.try_run(&["test", "-L", to])?.ok {
            bail!("cannot move `{from}` to `{to}`: `{to}` already exists");
        }
        self.run(&["mv", "--no-target-directory", from, to])
            .map(drop)
    }

    /// Removes `path`, a directory this upgrade created (named by its journal's id).
    pub(crate) fn remove(&self, path: &str) -> anyhow::Result<()> {
        self.run(&["rm", "-rf", "--one-file-system", "--", path])
            .map(drop)
    }

    /// Points the symbolic link `link` at `target`.
    pub(crate) fn relink(&self, link: &str, target: &str) -> anyhow::Result<()> {
        self.run(&["ln", "-sfn", "--", target, link]).map(drop)
    }

    /// Writes `bytes` to `path` atomically (a temporary file, then a rename).
    pub(crate) fn write_file(&self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let temporary = format!("{path}.tmp");
        let of = format!("of={temporary}");
        let output = self.stack.docker.exec_with_stdin(
            self.container.name(),
            &["dd", &of, "status=none", "conv=fsync"],
            bytes,
        )?;
        if output.exit_code != 0 {
            bail!("failed to write `{path}`: {}", output.stderr.trim_end());
        }
        self.run(&["mv", "-f", "--no-target-directory", &temporary, path])
            .map(drop)
    }

    pub(crate) fn sync(&self) -> anyhow::Result<()> {
        self.run(&["sync"]).map(drop)
    }
}

/// Removes upgrade workspaces a killed run left behind.
pub(crate) fn sweep(stack: &Stack) -> anyhow::Result<usize> {
    oneshot::sweep(stack, ROLE)
}
