//! The base image. `BASE_IMAGE=auto`: use `debian:trixie-slim` if it is present
//! or can be pulled; otherwise bootstrap `core-data/base:trixie` once with
//! `mmdebstrap` from the configured Debian mirror and import it (the API's `docker import`).

use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::docker::Docker;
use crate::process;
use crate::progress::Progress;

pub const DEBIAN_IMAGE: &str = "debian:trixie-slim";
pub const BOOTSTRAP_IMAGE: &str = "core-data/base:trixie";

/// Returns the base image to build on, making it available first.
pub fn ensure(docker: &Docker, config: &Config, progress: &dyn Progress) -> anyhow::Result<String> {
    let wanted = config.get("BASE_IMAGE");
    if wanted != "auto" {
        if docker.image_labels(wanted)?.is_some() || try_pull(docker, wanted, progress)? {
            return Ok(wanted.to_owned());
        }
        bail!("base image `{wanted}` is not present and cannot be pulled; set BASE_IMAGE=auto to bootstrap one from Debian packages");
    }
    if docker.image_labels(DEBIAN_IMAGE)?.is_some() {
        return Ok(DEBIAN_IMAGE.to_owned());
    }
    if docker.image_labels(BOOTSTRAP_IMAGE)?.is_some() {
        return Ok(BOOTSTRAP_IMAGE.to_owned());
    }
    if try_pull(docker, DEBIAN_IMAGE, progress)? {
        return Ok(DEBIAN_IMAGE.to_owned());
    }
    bootstrap(docker, config, progress)?;
    Ok(BOOTSTRAP_IMAGE.to_owned())
}

/// Pulls with a deadline; a registry that does not answer is not an error here.
fn try_pull(docker: &Docker, image: &str, progress: &dyn Progress) -> anyhow::Result<bool> {
    progress.status(
        "Pulling",
        &format!("{image} (falls back to a Debian bootstrap if no registry answers)"),
    );
    match docker.pull(image, Duration::from_secs(120))? {
        Ok(()) => Ok(true),
        Err(message) => {
            progress.detail(&message);
            Ok(false)
        }
    }
}

/// Builds the base image from Debian packages: mmdebstrap into a tarball, then `docker import`.
pub fn bootstrap(docker: &Docker, config: &Config, progress: &dyn Progress) -> anyhow::Result<()> {
    crate::setup::ensure_mmdebstrap(progress)?;
    let mirror = config.get("DEBIAN_MIRROR");
    progress.status(
        "Bootstrapping",
        &format!("{BOOTSTRAP_IMAGE} from {mirror} with mmdebstrap"),
    );
    // Private and unpredictable (0700): the root filesystem is imported from here as root.
    let dir = tempfile::Builder::new()
        .prefix("core_data-bootstrap-")
        .tempdir()
        .context("failed to create a private temporary directory")?;
    let tarball = dir.path().join("rootfs.tar");
    let tarball = tarball
        .to_str()
        .context("the temporary directory is not UTF-8")?
        .to_owned();
    let result = (|| {
        process::stream(
            duct::cmd(
                "mmdebstrap",
                [
                    "--variant=minbase",
                    "--include=ca-certificates",
                    "trixie",
                    &tarball,
                    mirror,
                ],
            ),
            "mmdebstrap",
            |line| progress.detail(line),
        )?;
        let label = format!("LABEL org.core-data.bootstrap-mirror={mirror}");
        docker
            .import_rootfs(
                camino::Utf8Path::new(&tarball),
                BOOTSTRAP_IMAGE,
                &["CMD [\"bash\"]", &label],
            )
            .context("failed to import the bootstrapped root filesystem")
    })();
    result
}
