//! Images: labels and IDs, a pull that gives up when no registry answers, and
//! importing a root filesystem tarball (the bootstrapped base image).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use bollard::query_parameters::CreateImageOptionsBuilder;
use camino::Utf8Path;
use futures_util::StreamExt;

use super::{found, Docker};

impl Docker {
    /// The labels of a local image, or `None` when there is no such image.
    pub fn image_labels(&self, image: &str) -> anyhow::Result<Option<HashMap<String, String>>> {
        Ok(self.inspect_image(image)?.map(|inspect| {
            inspect
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default()
        }))
    }

    /// The ID (`sha256:…`) of a local image, or `None` when there is no such image.
    pub fn image_id(&self, image: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .inspect_image(image)?
            .map(|inspect| inspect.id.unwrap_or_default()))
    }

    fn inspect_image(&self, image: &str) -> anyhow::Result<Option<bollard::models::ImageInspect>> {
        found(
            self.runtime.block_on(self.client.inspect_image(image)),
            || format!("failed to inspect image `{image}`"),
        )
    }

    /// Pulls `image`, giving up after `limit`. `Ok(Err(message))`: the registry
    /// refused or did not answer in time, which callers treat as "not available".
    pub fn pull(&self, image: &str, limit: Duration) -> anyhow::Result<Result<(), String>> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let pulled = self.runtime.block_on(async {
            let pulling = async {
                let mut stream = self.client.create_image(Some(options), None, None);
                while let Some(step) = stream.next().await {
                    step.map_err(|err| err.to_string())?;
                }
                Ok::<(), String>(())
            };
            tokio::time::timeout(limit, pulling).await
        });
        Ok(match pulled {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
        })
    }

    /// `docker import`: makes `reference` (`repo:tag`) from a root filesystem
    /// tarball, with Dockerfile-style `changes` (`CMD …`, `LABEL …`).
    pub fn import_rootfs(
        &self,
        tarball: &Utf8Path,
        reference: &str,
        changes: &[&str],
    ) -> anyhow::Result<()> {
        let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        let what = || format!("failed to import `{tarball}` as image `{reference}`");
        let bytes = std::fs::read(tarball).with_context(what)?;
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(repo)
            .tag(tag)
            .changes(changes.iter().map(|change| (*change).to_owned()).collect())
            .build();
        self.runtime.block_on(async {
            let body = bollard::body_full(bytes.into());
            let mut stream = self.client.create_image(Some(options), Some(body), None);
            while let Some(step) = stream.next().await {
                step.with_context(what)?;
            }
            anyhow::Ok(())
        })
    }
}
