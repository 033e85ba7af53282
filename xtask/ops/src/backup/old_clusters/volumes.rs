//! Reading and changing the stack's data and WAL volumes for `old-clusters`: a
//! confined throw-away container of the platform image (`oneshot::Throwaway`,
//! labelled `old-clusters`, named with this process's id so two listings never
//! meet; one whose process no longer runs, a killed run's, is removed by the
//! next) with the volumes mounted read-only to list and read-write to remove.
//! Works whether the server runs or not; a volume that does not exist is not
//! mounted (mounting would create it) and holds nothing.

use anyhow::bail;

use super::names::{self, AsideName, Half};
use crate::backup::oneshot::{self, Mount, Throwaway};
use crate::docker::ExecOutput;
use crate::stack::Stack;

const DATA_ROOT: &str = "/var/lib/postgresql/data";
const WAL_ROOT: &str = "/var/lib/postgresql/wal";
const ROLE: &str = "old-clusters";

/// Where `half`'s directories live.
pub(super) fn root(half: Half) -> &'static str {
    match half {
        Half::Data => DATA_ROOT,
        Half::Wal => WAL_ROOT,
    }
}

/// The absolute path of a set-aside directory (its name parsed exactly, so it stays in its volume).
pub(super) fn path(name: &AsideName) -> String {
    format!("{}/{}", root(name.half), name.dir_name())
}

/// Removes the containers killed runs left: each is named with its run's pid,
/// and one whose process no longer runs on this host is nobody's.
fn sweep_stale(stack: &Stack) -> anyhow::Result<()> {
    let project = stack.config.project();
    let labels = [
        format!("{}={project}", oneshot::PROJECT_LABEL),
        format!("{}={ROLE}", oneshot::ROLE_LABEL),
    ];
    for container in stack.docker.containers_labelled(&labels)? {
        let stale = container
            .names
            .iter()
            .flatten()
            .filter_map(|name| owner_pid(name, project))
            .any(|pid| !std::path::Path::new("/proc").join(pid.to_string()).exists());
        if let (true, Some(id)) = (stale, &container.id) {
            stack.docker.remove_container(id)?;
        }
    }
    Ok(())
}

/// The pid in a listing container's name (`/<project>-old-clusters-<pid>`).
fn owner_pid(name: &str, project: &str) -> Option<u32> {
    name.trim_start_matches('/')
        .strip_prefix(&format!("{project}-{ROLE}-"))?
        .parse()
        .ok()
}

/// The container with the volumes that exist mounted.
pub(super) struct Volumes<'a> {
    stack: &'a Stack,
    container: Option<Throwaway<'a>>,
    mounted: Vec<Half>,
}

impl<'a> Volumes<'a> {
    /// Mounts the data and WAL volumes (read-only unless `writable`); starts no
    /// container when neither exists.
    pub(super) fn open(stack: &'a Stack, writable: bool) -> anyhow::Result<Volumes<'a>> {
        let mut mounts = Vec::new();
        let mut mounted = Vec::new();
        for (half, volume) in [(Half::Data, "pgdata"), (Half::Wal, "pgwal")] {
            let volume = oneshot::volume_name(stack, volume);
            if stack.docker.volume_exists(&volume)? {
                mounts.push(Mount::volume(volume, root(half), !writable));
                mounted.push(half);
            }
        }
        sweep_stale(stack)?;
        let container = if mounts.is_empty() {
            None
        } else {
            let name = format!("{}-{ROLE}-{}", stack.config.project(), std::process::id());
            Some(Throwaway::start(stack, &name, ROLE, &mounts)?)
        };
        Ok(Volumes {
            stack,
            container,
            mounted,
        })
    }

    fn exec(&self, argv: &[&str]) -> anyhow::Result<Option<ExecOutput>> {
        match &self.container {
            None => Ok(None),
            Some(container) => Ok(Some(self.stack.docker.exec(
                container.name(),
                argv,
                None,
            )?)),
        }
    }

    /// Every set-aside directory (real directories only, not links) in the mounted volumes.
    pub(super) fn set_aside(&self) -> anyhow::Result<Vec<AsideName>> {
        let mut found = Vec::new();
        for half in &self.mounted {
            let root = root(*half);
            let argv = [
                "find",
                root,
                "-mindepth",
                "1",
                "-maxdepth",
                "1",
                "-type",
                "d",
                "-printf",
                "%f\\n",
            ];
            let Some(output) = self.exec(&argv)? else {
                continue;
            };
            if output.exit_code != 0 {
                bail!("failed to list `{root}`: {}", output.stderr.trim_end());
            }
            found.extend(
                output
                    .stdout
                    .lines()
                    .filter_map(|line| names::parse(line).ok())
                    .filter(|name| name.half == *half),
            );
        }
        Ok(found)
    }

    /// Disk usage in bytes of each directory (`du`), measured after the live
    /// directory of its volume in the same run, so files a set-aside copy shares
    /// with the live cluster (an upgrade's hard links) count for the live one:
    /// each figure is what removing that directory frees. A directory missing
    /// from the answer is `None`.
    pub(super) fn sizes(&self, dirs: &[AsideName]) -> anyhow::Result<Vec<Option<u64>>> {
        let mut sizes = vec![None; dirs.len()];
        for half in &self.mounted {
            let live = format!("{}/{}", root(*half), half.live());
            let paths: Vec<(usize, String)> = dirs
                .iter()
                .enumerate()
                .filter(|(_, dir)| dir.half == *half)
                .map(|(i, dir)| (i, path(dir)))
                .collect();
            if paths.is_empty() {
                continue;
            }
            let mut argv = vec!["du", "--summarize", "--block-size=1", "--", live.as_str()];
            argv.extend(paths.iter().map(|(_, path)| path.as_str()));
            // A running server adds and removes files while du walks: its complaints
            // about vanished files (and the missing live directory) do not matter,
            // the totals it prints do.
            let Some(output) = self.exec(&argv)? else {
                continue;
            };
            for line in output.stdout.lines() {
                let Some((bytes, dir)) = line.split_once('\t') else {
                    continue;
                };
                if let Some((i, _)) = paths.iter().find(|(_, path)| path == dir) {
                    sizes[*i] = bytes.trim().parse().ok();
                }
            }
        }
        Ok(sizes)
    }

    /// The major version in a data directory's `PG_VERSION`, if it has one.
    pub(super) fn pg_major(&self, data: &AsideName) -> anyhow::Result<Option<u32>> {
        let file = format!("{}/PG_VERSION", path(data));
        Ok(self
            .exec(&["cat", "--", &file])?
            .filter(|output| output.exit_code == 0)
            .and_then(|output| output.stdout.trim().parse().ok()))
    }

    /// The contents of a file in a mounted volume, or `None` when it is absent.
    pub(super) fn read(&self, file: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .exec(&["cat", "--", file])?
            .filter(|output| output.exit_code == 0)
            .map(|output| output.stdout))
    }

    /// Whether anything (a link included) is at `path`.
    pub(super) fn present(&self, path: &str) -> anyhow::Result<bool> {
        for test in ["-e", "-L"] {
            if self
                .exec(&["test", test, path])?
                .is_some_and(|output| output.exit_code == 0)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Removes a set-aside directory (the volumes must have been opened writable).
    pub(super) fn remove(&self, name: &AsideName) -> anyhow::Result<()> {
        let path = path(name);
        let Some(output) = self.exec(&["rm", "-rf", "--one-file-system", "--", &path])? else {
            bail!("the volume of `{path}` does not exist");
        };
        if output.exit_code != 0 {
            bail!(
                "`rm -rf {path}` failed (exit {}): {}",
                output.exit_code,
                output.stderr.trim_end()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn only_this_projects_listing_names_carry_a_pid() {
        assert_eq!(owner_pid("/shop-old-clusters-4242", "shop"), Some(4242));
        assert_eq!(owner_pid("shop-old-clusters-7", "shop"), Some(7));
        assert_eq!(owner_pid("/shop2-old-clusters-7", "shop"), None);
        assert_eq!(owner_pid("/shop-old-clusters-x7", "shop"), None);
        assert_eq!(owner_pid("/shop-restore-workspace", "shop"), None);
    }
}
