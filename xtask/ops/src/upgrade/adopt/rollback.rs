//! The rollback of a failed adopt: back to "no cluster", the source untouched.

use super::{start_workspace, Changed, Dirs, REPO_ROOT, VOLUMES};
use crate::backup::physical::STANZA;
use crate::backup::restore::workspace::WAL_ROOT;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::upgrade::workspace::{DATA_ROOT, PGDATA, PGWAL};

/// Back to "no cluster": the stack's containers removed (when adopt started
/// them), every directory named with the id removed (the live names first
/// renamed to id-named ones), the stanza the start made removed (there was
/// none before), and the volumes adopt made removed.
pub(super) fn roll_back(
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
