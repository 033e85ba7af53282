//! The add-ons in `up`: their images, their removal when their profile is
//! turned off (the volume is kept), re-creation when their files changed, and
//! the wait for their health checks.

use std::time::Duration;

use anyhow::Context;

use super::Addon;
use crate::progress::Progress;
use crate::stack::Stack;
use crate::wait::{poll_until, Poll};

/// Builds the image of every enabled add-on whose inputs changed.
pub fn ensure_images(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<bool> {
    let mut built = false;
    for addon in super::enabled(&stack.config) {
        let outcome =
            super::image::ensure(&stack.docker, &stack.paths, &stack.config, addon, progress)?;
        built |= outcome == crate::image::build::Outcome::Built;
    }
    Ok(built)
}

/// Brings the new files of `changed` add-ons to their containers that were `running`
/// before `up`'s compose run: secrets and certificates by re-creating the container
/// (unless `up` already re-created every container, `recreated_all`), configuration
/// by SIGHUP. Then records every enabled add-on as settled (see `super::settle`).
pub fn apply_changes(
    stack: &Stack,
    changed: &super::Prepared,
    running: &[Addon],
    recreated_all: bool,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let recreate: Vec<&str> = changed
        .recreate
        .iter()
        .filter(|a| running.contains(a))
        .map(|a| a.name())
        .collect();
    if !recreate.is_empty() && !recreated_all {
        stack.compose().stream(
            &[&["up", "--detach", "--force-recreate"], recreate.as_slice()].concat(),
            |line| progress.detail(line),
        )?;
    }
    for addon in changed.reload.iter().filter(|a| running.contains(a)) {
        reload(stack, *addon)?;
        progress.status(
            "Reloaded",
            &format!("{addon} (its rendered configuration changed)"),
        );
    }
    super::settle(&stack.paths, &stack.config)
}

/// Sends SIGHUP to `addon`'s container: a service that [`Addon::reloads_on_sighup`]
/// re-reads `rendered/<name>/` (a file it cannot parse is logged, the running
/// settings kept).
pub fn reload(stack: &Stack, addon: Addon) -> anyhow::Result<()> {
    let container = stack.config.container_name(addon.name());
    stack.docker.kill(&container, "SIGHUP").with_context(|| {
        format!("failed to signal `{container}`; is it running (`cargo xtask status`)?")
    })
}

/// The add-ons whose container is running now.
pub fn running(stack: &Stack) -> anyhow::Result<Vec<Addon>> {
    let mut running = Vec::new();
    for addon in Addon::ALL {
        let container = stack.config.container_name(addon.name());
        if !matches!(
            stack.docker.health(&container)?.as_deref(),
            None | Some("stopped")
        ) {
            running.push(addon);
        }
    }
    Ok(running)
}

/// Stops and removes the container of every add-on whose profile is off;
/// its named volume stays. Returns the add-ons removed.
pub fn remove_disabled(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Vec<Addon>> {
    let enabled = super::enabled(&stack.config);
    let containers = stack.docker.project_containers(stack.config.project())?;
    let mut removed = Vec::new();
    for addon in Addon::ALL.into_iter().filter(|a| !enabled.contains(a)) {
        let present = containers.iter().any(|c| {
            c.labels
                .as_ref()
                .and_then(|labels| labels.get("com.docker.compose.service"))
                .is_some_and(|service| service == addon.name())
        });
        if !present {
            continue;
        }
        progress.status(
            "Removing",
            &format!("{addon} (its profile is off in COMPOSE_PROFILES; its volume is kept)"),
        );
        stack
            .compose()
            .all_profiles()
            .stream(&["rm", "--stop", "--force", addon.name()], |line| {
                progress.detail(line)
            })
            .with_context(|| format!("failed to remove the `{addon}` service"))?;
        removed.push(addon);
    }
    Ok(removed)
}

/// Waits until every enabled add-on's container reports healthy; a container
/// that exits ends the wait with its last log lines.
pub fn wait_healthy(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<()> {
    for addon in super::enabled(&stack.config) {
        let container = stack.config.container_name(addon.name());
        progress.status("Waiting", &format!("for {addon} to be healthy"));
        poll_until(
            &format!("`{container}`"),
            Duration::from_secs(120),
            Duration::from_millis(250),
            || match stack.docker.health_now(&container)?.as_deref() {
                Some("healthy") => Ok(Poll::Ready(())),
                Some("stopped") | None => {
                    let logs = stack.docker.logs_tail(&container, 20).unwrap_or_default();
                    anyhow::bail!(
                        "`{container}` is not running; its last log lines:\n{}",
                        logs.join("\n")
                    )
                }
                Some(other) => Ok(Poll::Pending(format!("health {other}"))),
            },
        )?;
    }
    Ok(())
}
