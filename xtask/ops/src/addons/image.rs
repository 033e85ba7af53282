//! An add-on's image, `core-data/<name>:trixie`, built from `addons/<name>/`
//! on the platform's base image by `image::on_base` (skipped when its inputs
//! are unchanged); the dashboard's carries its binary from this workspace.

use super::Addon;
use crate::config::Config;
use crate::docker::Docker;
use crate::image::{build, on_base};
use crate::paths::Paths;
use crate::progress::Progress;

/// Builds `addon`'s image unless one with the same inputs exists.
pub fn ensure(
    docker: &Docker,
    paths: &Paths,
    config: &Config,
    addon: Addon,
    progress: &dyn Progress,
) -> anyhow::Result<build::Outcome> {
    on_base::ensure(
        docker,
        config,
        &addon.image(),
        &addon.source_dir(paths),
        addon.binary().map(|binary| (paths, binary)),
        progress,
    )
}
