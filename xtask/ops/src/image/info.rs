//! `image info`: the image's labels and the package manifest recorded inside it.

use anyhow::bail;

use super::{BASE_LABEL, INPUTS_LABEL};
use crate::docker::ContainerSpec;
use crate::docker::Docker;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageInfo {
    pub image: String,
    pub base: String,
    pub inputs: String,
    /// (package, version), from /usr/share/core_data/manifest.tsv; in JSON
    /// `[{"name": …, "version": …}]`.
    #[serde(serialize_with = "packages_as_objects")]
    pub packages: Vec<(String, String)>,
}

fn packages_as_objects<S: serde::Serializer>(
    packages: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct Package<'a> {
        name: &'a str,
        version: &'a str,
    }
    serializer.collect_seq(
        packages
            .iter()
            .map(|(name, version)| Package { name, version }),
    )
}

pub fn read(docker: &Docker, image: &str) -> anyhow::Result<ImageInfo> {
    let Some(labels) = docker.image_labels(image)? else {
        bail!("image `{image}` does not exist; build it with `cargo xtask build-image`");
    };
    let manifest = ContainerSpec::unconfined(image)
        .entrypoint(&["cat"])
        .cmd(&["/usr/share/core_data/manifest.tsv"])
        .run_ok(docker)?;
    let packages = manifest
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(name, version)| (name.to_owned(), version.to_owned()))
        .collect();
    Ok(ImageInfo {
        image: image.to_owned(),
        base: labels.get(BASE_LABEL).cloned().unwrap_or_default(),
        inputs: labels.get(INPUTS_LABEL).cloned().unwrap_or_default(),
        packages,
    })
}
