//! An image built from a directory's `Dockerfile` on the platform's base image:
//! the add-ons (`addons/<name>/`) and the tests' browser (`tests/browser/`),
//! optionally with a binary of this workspace staged beside the Dockerfile
//! (the dashboard's). Like the postgres image it is keyed by a hash of its
//! inputs (the directory without its templates, the binary's sources, the
//! build arguments and the base image's ID) stored as a label: unchanged
//! inputs skip the build, and the binary is compiled only for a build.

use anyhow::Context;
use camino::Utf8Path;

use super::binary::{self, Binary};
use super::{base, build, INPUTS_LABEL};
use crate::config::Config;
use crate::docker::Docker;
use crate::paths::Paths;
use crate::progress::Progress;

/// The build arguments, in a fixed order: the base, the account's UID/GID
/// (the stack's) and the Debian mirrors.
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

/// Builds `image` from `dir` (its `Dockerfile` and the files beside it) on the
/// base image, unless an image of that name with the same inputs exists.
pub fn ensure(
    docker: &Docker,
    config: &Config,
    image: &str,
    dir: &Utf8Path,
    with_binary: Option<(&Paths, Binary)>,
    progress: &dyn Progress,
) -> anyhow::Result<build::Outcome> {
    let base_image = base::ensure(docker, config, &super::suites::newest().name, progress)?;
    let base_id = docker
        .image_id(&base_image)?
        .with_context(|| format!("base image `{base_image}` vanished"))?;
    let args = build_args(config, &base_image);
    let sources = match with_binary {
        Some((paths, binary)) => binary::sources(paths, binary)?,
        None => Vec::new(),
    };
    let hash = build::inputs_hash(dir, &sources, &args, &base_id)?;
    let _lock = super::build_lock::acquire(image, progress)?;
    let current = docker
        .image_labels(image)?
        .and_then(|labels| labels.get(INPUTS_LABEL).cloned());
    if current.as_deref() == Some(hash.as_str()) {
        progress.status("Fresh", &format!("image {image} (inputs unchanged)"));
        return Ok(build::Outcome::UpToDate);
    }
    match with_binary {
        Some((paths, binary)) => {
            let built = binary::build(paths, binary, progress)?;
            let context = build::stage_context(dir, &built, binary.name)?;
            let context_dir = Utf8Path::from_path(context.path())
                .context("the temporary directory is not UTF-8")?;
            build::docker_build(image, &hash, &base_image, &args, context_dir, progress)?;
        }
        None => build::docker_build(image, &hash, &base_image, &args, dir, progress)?,
    }
    Ok(build::Outcome::Built)
}
