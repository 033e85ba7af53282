//! Building the platform image from `postgres/` plus the sidecar binary, staged
//! together in a private build context. The build is keyed by a hash of its
//! inputs (`postgres/`, the sidecar's sources and lock file, the build
//! arguments and the base image's ID), stored as an image label: unchanged
//! inputs skip the build, and the binary is compiled only when one is due.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use super::{base, binary, BASE_LABEL, INPUTS_LABEL, MAJOR_LABEL};
use crate::config::Config;
use crate::docker::Docker;
use crate::paths::Paths;
use crate::process;
use crate::progress::Progress;

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    UpToDate,
    Built,
}

/// The build arguments, in a fixed order.
pub fn build_args(config: &Config, base_image: &str) -> Vec<(&'static str, String)> {
    let suite = config.suite();
    vec![
        ("BASE_IMAGE", base_image.to_owned()),
        ("PG_MAJOR", config.pg_major().to_string()),
        ("DEBIAN_SUITE", suite.name.clone()),
        ("LACKS", suite.lacks.join(" ")),
        ("POSTGRES_UID", config.uid().to_string()),
        ("POSTGRES_GID", config.gid().to_string()),
        ("DEBIAN_MIRROR", config.get("DEBIAN_MIRROR").to_owned()),
        (
            "DEBIAN_SECURITY_MIRROR",
            config.get("DEBIAN_SECURITY_MIRROR").to_owned(),
        ),
    ]
}

/// Hashes every file under `postgres/` except the config templates (they are
/// rendered on the host, not baked in), the `sources` the sidecar binary is
/// built from (named, so the binary is compiled only when the image must be
/// rebuilt), the build arguments and the base ID.
pub fn inputs_hash(
    postgres_dir: &Utf8Path,
    sources: &[(String, Utf8PathBuf)],
    args: &[(&str, String)],
    base_id: &str,
) -> anyhow::Result<String> {
    let mut files = Vec::new();
    collect_files(postgres_dir, postgres_dir, &mut files)?;
    let mut named: Vec<(String, Utf8PathBuf)> = files
        .into_iter()
        .map(|relative| {
            let path = postgres_dir.join(&relative);
            (relative, path)
        })
        .chain(sources.iter().cloned())
        .collect();
    named.sort();
    let mut hasher = Sha256::new();
    for (name, path) in named {
        let bytes = std::fs::read(&path).with_context(|| format!("failed to read `{path}`"))?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    for (name, value) in args {
        hasher.update(format!("{name}={value}\0").as_bytes());
    }
    hasher.update(base_id.as_bytes());
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn collect_files(root: &Utf8Path, dir: &Utf8Path, out: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in dir
        .read_dir_utf8()
        .with_context(|| format!("failed to read `{dir}`"))?
    {
        let entry = entry?;
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .expect("below root")
            .as_str()
            .to_owned();
        if relative == "conf" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(root, path, out)?;
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

/// A private copy of an image's directory (`postgres/`, `addons/<name>/`; its
/// templates left out: they are rendered on the host) with `binary` (built from
/// this workspace) beside the Dockerfile as `name`.
pub fn stage_context(
    postgres_dir: &Utf8Path,
    binary: &Utf8Path,
    name: &str,
) -> anyhow::Result<tempfile::TempDir> {
    let context = tempfile::Builder::new()
        .prefix("core_data-image-")
        .tempdir()
        .context("failed to create a private build context")?;
    let root =
        Utf8Path::from_path(context.path()).context("the temporary directory is not UTF-8")?;
    let mut files = Vec::new();
    collect_files(postgres_dir, postgres_dir, &mut files)?;
    for relative in files {
        let target = root.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(postgres_dir.join(&relative), &target)
            .with_context(|| format!("failed to stage `{relative}`"))?;
    }
    std::fs::copy(binary, root.join(name))
        .with_context(|| format!("failed to stage the binary `{binary}`"))?;
    Ok(context)
}

/// Builds the image unless one with the same inputs exists. `force` always builds.
pub fn ensure(
    docker: &Docker,
    paths: &Paths,
    config: &Config,
    force: bool,
    progress: &dyn Progress,
) -> anyhow::Result<Outcome> {
    let base_image = base::ensure(docker, config, &config.suite().name, progress)?;
    let base_id = docker
        .image_id(&base_image)?
        .with_context(|| format!("base image `{base_image}` vanished"))?;
    let args = build_args(config, &base_image);
    let sources = binary::sources(paths, binary::SIDECAR)?;
    let hash = inputs_hash(&paths.postgres_dir(), &sources, &args, &base_id)?;
    let image = config.image();
    let _lock = super::build_lock::acquire(image, progress)?;
    let current = docker
        .image_labels(image)?
        .and_then(|labels| labels.get(INPUTS_LABEL).cloned());
    if !force && current.as_deref() == Some(hash.as_str()) {
        progress.status("Fresh", &format!("image {image} (inputs unchanged)"));
        return Ok(Outcome::UpToDate);
    }
    let binary = binary::build(paths, binary::SIDECAR, progress)?;
    let context = stage_context(&paths.postgres_dir(), &binary, binary::SIDECAR.name)?;
    let context_dir =
        Utf8Path::from_path(context.path()).context("the temporary directory is not UTF-8")?;
    docker_build(image, &hash, &base_image, &args, context_dir, progress)?;
    Ok(Outcome::Built)
}

/// `docker build` of `context` as `image`, labelled with its inputs' `hash`
/// and base, with the build arguments; the build's output streams as detail.
pub fn docker_build(
    image: &str,
    hash: &str,
    base_image: &str,
    args: &[(&str, String)],
    context: &Utf8Path,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    progress.status("Building", &format!("image {image} on {base_image}"));
    let started = std::time::Instant::now();
    let mut cmd: Vec<String> = vec!["build".into(), "--tag".into(), image.to_owned()];
    cmd.extend(["--label".into(), format!("{INPUTS_LABEL}={hash}")]);
    cmd.extend(["--label".into(), format!("{BASE_LABEL}={base_image}")]);
    if let Some((_, major)) = args.iter().find(|(name, _)| *name == "PG_MAJOR") {
        cmd.extend(["--label".into(), format!("{MAJOR_LABEL}={major}")]);
    }
    for (name, value) in args {
        cmd.extend(["--build-arg".into(), format!("{name}={value}")]);
    }
    cmd.push(context.as_str().to_owned());
    process::stream(
        duct::cmd("docker", &cmd),
        &format!("docker build {image}"),
        |line| progress.detail(line),
    )
    .with_context(|| format!("failed to build image `{image}` from `{context}`"))?;
    progress.status(
        "Built",
        &format!("image {image} in {:.0}s", started.elapsed().as_secs_f64()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_follows_files_and_arguments_but_not_templates() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        std::fs::create_dir(root.join("conf")).unwrap();
        std::fs::write(root.join("conf/postgresql.conf.j2"), "a\n").unwrap();
        let args = vec![("POSTGRES_UID", "999".to_owned())];
        let first = inputs_hash(root, &[], &args, "sha256:1").unwrap();
        assert_eq!(first, inputs_hash(root, &[], &args, "sha256:1").unwrap());

        std::fs::write(root.join("conf/postgresql.conf.j2"), "b\n").unwrap();
        assert_eq!(
            first,
            inputs_hash(root, &[], &args, "sha256:1").unwrap(),
            "templates must not trigger a rebuild"
        );

        assert_ne!(
            first,
            inputs_hash(root, &[], &args, "sha256:2").unwrap(),
            "a new base must rebuild"
        );
        let other_uid = vec![("POSTGRES_UID", "1000".to_owned())];
        assert_ne!(
            first,
            inputs_hash(root, &[], &other_uid, "sha256:1").unwrap()
        );
        let source = root.join("../sidecar-main.rs");
        std::fs::write(&source, "fn main() {}\n").unwrap();
        let sources = vec![("xtask/sidecar/src/main.rs".to_owned(), source.clone())];
        let with_source = inputs_hash(root, &sources, &args, "sha256:1").unwrap();
        assert_ne!(first, with_source, "the sidecar's sources count");
        std::fs::write(&source, "fn main() { }\n").unwrap();
        assert_ne!(
            with_source,
            inputs_hash(root, &sources, &args, "sha256:1").unwrap()
        );
        std::fs::remove_file(&source).unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM y\n").unwrap();
        assert_ne!(first, inputs_hash(root, &[], &args, "sha256:1").unwrap());
    }
}
