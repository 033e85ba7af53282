//! The restore workspace: one labelled throw-away container from the platform
//! image with the stack's data, WAL and repository volumes mounted, in which
//! every restore step on the volumes runs (pgBackRest, renames, the journal).
//! Confined like every one-shot; swept by label when a run was killed. The
//! upgrade's workspace is the same type started with other mounts
//! (`start_with`, from `upgrade::workspace`).

use anyhow::bail;

use crate::backup::oneshot::{self, Mount, Throwaway};
use crate::stack::Stack;

pub(crate) const DATA_ROOT: &str = "/var/lib/postgresql/data";
pub(crate) const WAL_ROOT: &str = "/var/lib/postgresql/wal";
/// The live data directory and WAL directory (`pgdata/pg_wal` links to the latter).
pub(crate) const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
pub(crate) const PGWAL: &str = "/var/lib/postgresql/wal/pg_wal";
const ROLE: &str = "restore-workspace";

pub(crate) struct Workspace<'a> {
    stack: &'a Stack,
    container: Throwaway<'a>,
}

/// Output of a step: both streams, since pgBackRest writes its errors to stdout.
#[derive(Debug)]
pub(crate) struct StepOutput {
    pub(crate) ok: bool,
    pub(crate) text: String,
}

impl StepOutput {
    fn of(output: crate::docker::ExecOutput) -> StepOutput {
        let mut text = output.stdout;
        if !output.stderr.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&output.stderr);
        }
        StepOutput {
            ok: output.exit_code == 0,
            text: text.trim_end().to_owned(),
        }
    }
}

impl<'a> Workspace<'a> {
    /// Starts the workspace (after removing any left behind by a killed run).
    pub(crate) fn start(stack: &'a Stack) -> anyhow::Result<Workspace<'a>> {
        sweep(stack)?;
        let mounts = [
            Mount::volume(oneshot::volume_name(stack, "pgdata"), DATA_ROOT, false),
            Mount::volume(oneshot::volume_name(stack, "pgwal"), WAL_ROOT, false),
            Mount::volume(
                oneshot::volume_name(stack, "pgbackrest"),
                "/var/lib/pgbackrest",
                false,
            ),
            oneshot::conf_mount(stack),
        ];
        Workspace::start_with(stack, ROLE, &mounts, None)
    }

    /// A workspace of `role` (named `<project>-<role>`) with `mounts` and, when
    /// given, its `/tmp` mounted with `tmp_options`; the caller sweeps first.
    pub(crate) fn start_with(
        stack: &'a Stack,
        role: &str,
        mounts: &[Mount],
        tmp_options: Option<&str>,
    ) -> anyhow::Result<Workspace<'a>> {
        let name = format!("{}-{role}", stack.config.project());
        let container = Throwaway::start_with_tmp(stack, &name, role, mounts, tmp_options)?;
        Ok(Workspace { stack, container })
    }

    /// Copies every file directly in `from` (WAL segments, the partial last one,
    /// history files; not `archive_status/`) into `to`, keeping what is there.
    pub(crate) fn copy_wal_files(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.run(&[
            "find",
            from,
            "-mindepth",
            "1",
            "-maxdepth",
            "1",
            "-type",
            "f",
            "-exec",
            "cp",
            "--no-clobber",
            "--preserve=timestamps",
            "--target-directory",
            to,
            "{}",
            "+",
        ])?;
        self.sync()
    }

    /// Runs `argv`; never fails on a non-zero exit (the caller decides).
    pub(crate) fn try_run(&self, argv: &[&str]) -> anyhow::Result<StepOutput> {
        let output = self.stack.docker.exec(self.container.name(), argv, None)?;
        Ok(StepOutput::of(output))
    }

    /// `try_run` with `input` on stdin (SQL that carries a password verifier: never in argv).
    pub(crate) fn try_run_with_stdin(
        &self,
        argv: &[&str],
        input: &[u8],
    ) -> anyhow::Result<StepOutput> {
        let output = self
            .stack
            .docker
            .exec_with_stdin(self.container.name(), argv, input)?;
        Ok(StepOutput::of(output))
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

    /// A symlink or anything else at `path` (`test -e` follows links).
    pub(crate) fn present(&self, path: &str) -> anyhow::Result<bool> {
        Ok(self.exists(path)? || self.try_run(&["test", "-L", path])?.ok)
    }

    /// Renames `from` to `to`; `to` must not exist (never merges into a directory).
    pub(crate) fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        if self.present(to)? {
            bail!("cannot move `{from}` to `{to}`: `{to}` already exists");
        }
        self.run(&["mv", "--no-target-directory", from, to])
            .map(drop)
    }

    /// Points the symbolic link `link` at `target`.
    pub(crate) fn relink(&self, link: &str, target: &str) -> anyhow::Result<()> {
        self.run(&["ln", "-sfn", "--no-target-directory", target, link])
            .map(drop)
    }

    /// Removes `path` (a directory this restore created, by the journal's record).
    pub(crate) fn remove(&self, path: &str) -> anyhow::Result<()> {
        self.run(&["rm", "-rf", "--one-file-system", "--", path])
            .map(drop)
    }

    /// Writes `bytes` to `path` atomically (a temporary file, then a rename).
    pub(crate) fn write_file(&self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let temporary = format!("{path}.tmp");
        if bytes.is_empty() {
            // No stdin at all for an empty file: an exec whose stdin is closed before its
            // process starts can miss the end of input and wait for ever (seen here once).
            self.run(&["truncate", "--size=0", &temporary])?;
            self.run(&["sync", "--", &temporary])?;
            return self
                .run(&["mv", "-f", "--no-target-directory", &temporary, path])
                .map(drop);
        }
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

    /// The contents of `path`, or `None` when it does not exist.
    pub(crate) fn read_file(&self, path: &str) -> anyhow::Result<Option<String>> {
        if !self.exists(path)? {
            return Ok(None);
        }
        self.run(&["cat", path]).map(Some)
    }

    /// Flushes the volumes' file systems so renames survive a host crash.
    pub(crate) fn sync(&self) -> anyhow::Result<()> {
        self.run(&["sync"]).map(drop)
    }
}

/// Removes restore workspaces of this stack left behind by a killed run (and
/// anything still running in them, such as an interrupted pgBackRest).
pub(crate) fn sweep(stack: &Stack) -> anyhow::Result<usize> {
    oneshot::sweep(stack, ROLE)
}
