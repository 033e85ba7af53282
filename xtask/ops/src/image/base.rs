//! The base image of a Debian suite. `BASE_IMAGE=auto`: use `debian:<suite>-slim`
//! if it is present or can be pulled; otherwise bootstrap `core-data/base:<suite>`
//! once with `mmdebstrap` from the configured Debian mirror and import it (the
//! API's `docker import`). The platform image is built on `DEBIAN_SUITE`'s base;
//! the add-ons and the tests' browser on the newest suite's (`suites::newest`).

use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::docker::Docker;
use crate::process;
use crate::progress::Progress;

/// The newest suite's images (what the add-ons build on).
pub const DEBIAN_IMAGE: &str = "debian:trixie-slim";
pub const BOOTSTRAP_IMAGE: &str = "core-data/base:trixie";

/// Debian's own image of `suite`.
pub fn debian_image(suite: &str) -> String {
    format!("debian:{suite}-slim")
}

/// The image `bootstrap` makes for `suite`.
pub fn bootstrap_image(suite: &str) -> String {
    format!("core-data/base:{suite}")
}

/// Returns the base image of `suite` to build on, making it available first.
/// An explicit `BASE_IMAGE` is used for the configured suite only.
pub fn ensure(
    docker: &Docker,
    config: &Config,
    suite: &str,
    progress: &dyn Progress,
) -> anyhow::Result<String> {
    let wanted = config.get("BASE_IMAGE");
    if wanted != "auto" && suite == config.suite().name {
        if docker.image_labels(wanted)?.is_some() || try_pull(docker, wanted, progress)? {
            return Ok(wanted.to_owned());
        }
        bail!("base image `{wanted}` is not present and cannot be pulled; set BASE_IMAGE=auto to bootstrap one from Debian packages");
    }
    let debian = debian_image(suite);
    let bootstrapped = bootstrap_image(suite);
    let _lock = super::build_lock::acquire(&bootstrapped, progress)?;
    if docker.image_labels(&debian)?.is_some() {
        return Ok(debian);
    }
    if docker.image_labels(&bootstrapped)?.is_some() {
        return Ok(bootstrapped);
    }
    if try_pull(docker, &debian, progress)? {
        return Ok(debian);
    }
    bootstrap(docker, config, suite, progress)?;
    Ok(bootstrapped)
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
pub fn bootstrap(
    docker: &Docker,
    config: &Config,
    suite: &str,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    crate::setup::ensure_mmdebstrap(progress)?;
    let mirror = config.get("DEBIAN_MIRROR");
    let image = bootstrap_image(suite);
    progress.status(
        "Bootstrapping",
        &format!("{image} from {mirror} with mmdebstrap"),
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
                    suite,
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
                &image,
                &["CMD [\"bash\"]", &label],
            )
            .context("failed to import the bootstrapped root filesystem")
    })();
    result
}
