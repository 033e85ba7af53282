//! The images an upgrade needs: the target major's platform image (the same
//! build as `build-image`, for the target's configuration) and the upgrade
//! image `upgrade/Dockerfile` makes from it and the current one (both majors'
//! binaries), tagged `<POSTGRES_IMAGE of the target>-from-<old>`. Each is
//! built only when its inputs changed.

use anyhow::Context;
use camino::Utf8Path;

use crate::config::Config;
use crate::docker::Docker;
use crate::image::build;
use crate::paths::Paths;
use crate::progress::Progress;

/// The upgrade image's tag for `target` (a configuration of the new major) from `old`.
pub fn upgrade_image(target: &Config, old: u32) -> String {
    format!("{}-from-{old}", target.image())
}

/// Builds (when due) the platform images of both majors and the upgrade image;
/// returns the upgrade image's tag.
pub(super) fn ensure(
    docker: &Docker,
    paths: &Paths,
    current: &Config,
    target: &Config,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    build::ensure(docker, paths, current, false, progress)?;
    build::ensure(docker, paths, target, false, progress)?;
    let image = upgrade_image(target, current.pg_major());
    let old_id = docker
        .image_id(current.image())?
        .context("the current major's image vanished")?;
    let new_id = docker
        .image_id(target.image())?
        .context("the target major's image vanished")?;
    let dir = paths.repo().join("upgrade");
    let args = vec![
        ("OLD_IMAGE", current.image().to_owned()),
        ("NEW_IMAGE", target.image().to_owned()),
        ("OLD_MAJOR", current.pg_major().to_string()),
    ];
    let hash = build::inputs_hash(&dir, &[], &args, &format!("{old_id}{new_id}"))?;
    let _lock = crate::image::build_lock::acquire(&image, progress)?;
    let labels = docker.image_labels(&image)?;
    if labels
        .as_ref()
        .and_then(|labels| labels.get(crate::image::INPUTS_LABEL))
        .map(String::as_str)
        == Some(hash.as_str())
    {
        progress.status("Fresh", &format!("image {image} (inputs unchanged)"));
        return Ok(image);
    }
    build::docker_build(
        &image,
        &hash,
        target.image(),
        &args,
        Utf8Path::new(dir.as_str()),
        progress,
    )?;
    Ok(image)
}
