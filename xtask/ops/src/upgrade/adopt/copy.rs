//! The root one-shot copy of the source (mounted read-only) into
//! `pgdata.adopt-<id>`, handed to the stack's UID.

use anyhow::bail;

use super::{Dirs, Inspection, SOURCE};
use crate::backup::oneshot::{self, Mount, ROLE_LABEL};
use crate::docker::Running;
use crate::stack::Stack;
use crate::upgrade::workspace::DATA_ROOT;

const COPY_ROLE: &str = "adopt-copy";

/// The source copied into `dirs.copy` by a root one-shot that may read any
/// owner's files and hand the copy to the stack's UID; the source is mounted read-only.
pub(super) fn copy(stack: &Stack, inspection: &Inspection, dirs: &Dirs) -> anyhow::Result<()> {
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
