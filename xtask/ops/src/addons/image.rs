//! An add-on's image, built from `addons/<name>/` on the platform's base image
//! (`core-data/<name>:trixie`). Like the postgres image it is keyed by a hash
//! of its inputs (the directory without its templates, the build arguments and
//! the base image's ID) stored as a label: unchanged inputs skip the build.

use anyhow::Context;

use super::Addon;
use crate::config::Config;
use crate::docker::Docker;
use crate::image::{base, build, INPUTS_LABEL};
use crate::paths::Paths;
use crate::progress::Progress;

/// The build arguments, in a fixed order.
pub fn build_args(config: &Config, base_image: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BASE_IMAGE", base_image.to_owned()),
        ("SERVICE_UID", config.uid().to_string()),
        ("SERVICE_GID", config.gid().to_string()),
        ("DEBIAN_MIRROR", config.get("DEBIAN_MIRROR").to_owned()),
        (
            "DEBIAN_SECURITY_MIRROR",
            config.get("DEBIAN_SECURITY_MIRROR").to_owned(),
        ),
    ]
}

/// Builds `addon`'s image unless one with the same inputs exists.
pub fn ensure(
    docker: &Docker,
    paths: &Paths,
    config: &Config,
    addon: Addon,
    progress: &dyn Progress,
) -> anyhow::Result<build::Outcome> {
    let base_image = base::ensure(docker, config, progress)?;
    let base_id = docker
        .image_id(&base_image)?
        .with_context(|| format!("base image `{base_image}` vanished"))?;
    let args = build_args(config, &base_image);
    let dir = addon.source_dir(paths);
    let binary = addon.binary();
    let sources = match binary {
        Some(binary) => crate::image::binary::sources(paths, binary)?,
        None => Vec::new(),
    };
    let hash = build::inputs_hash(&dir, &sources, &args, &base_id)?;
    let image = addon.image();
    let current = docker
        .image_labels(&image)?
        .and_then(|labels| labels.get(INPUTS_LABEL).cloned());
    if current.as_deref() == Some(hash.as_str()) {
        progress.status("Fresh", &format!("image {image} (inputs unchanged)"));
        return Ok(build::Outcome::UpToDate);
    }
    match binary {
        Some(binary) => {
            let built = crate::image::binary::build(paths, binary, progress)?;
            let context = build::stage_context(&dir, &built, binary.name)?;
            let context_dir = camino::Utf8Path::from_path(context.path())
                .context("the temporary directory is not UTF-8")?;
            build::docker_build(&image, &hash, &base_image, &args, context_dir, progress)?;
        }
        None => build::docker_build(&image, &hash, &base_image, &args, &dir, progress)?,
    }
    Ok(build::Outcome::Built)
}
