//! The service binaries built from this workspace for the images (the
//! `logical_backup` sidecar for the platform image, the dashboard for its
//! own): statically linked (glibc's `crt-static`), so they run on the image's
//! Debian whatever the host's C library is. Built in their own target directory
//! so their flags never invalidate the CLI's build.

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::paths::Paths;
use crate::process;
use crate::progress::Progress;

/// One binary of the workspace that an image carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binary {
    /// The cargo package.
    pub package: &'static str,
    /// The binary's name, in the workspace and in the image (`/usr/local/bin`).
    pub name: &'static str,
    /// The crates it is built from, relative to the repository.
    pub crates: &'static [&'static str],
}

/// The `logical_backup` sidecar (`core_data_sidecar`).
pub const SIDECAR: Binary = Binary {
    package: "core_data_sidecar",
    name: "core-data-logical-backup",
    crates: &["xtask/sidecar"],
};

/// The dashboard service (`core_data_dashboard`, which uses `core_data_ops`).
pub const DASHBOARD: Binary = Binary {
    package: "core_data_dashboard",
    name: "core-data-dashboard",
    crates: &["xtask/dashboard", "xtask/ops", "xtask/sidecar"],
};

/// Builds `binary` (cargo skips the work when nothing changed) and returns its path.
pub fn build(
    paths: &Paths,
    binary: Binary,
    progress: &dyn Progress,
) -> anyhow::Result<Utf8PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let host = host_triple()?;
    let target_dir = paths.repo().join("target/static");
    let name = binary.name;
    progress.status("Compiling", &format!("`{name}` (static, {host})"));
    let args = [
        "build",
        "--release",
        "--package",
        binary.package,
        "--bin",
        name,
        // An explicit target keeps the flags off build scripts and proc macros.
        "--target",
        host.as_str(),
        "--target-dir",
        target_dir.as_str(),
    ];
    let build = duct::cmd(&cargo, args)
        .dir(paths.repo())
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .env_remove("RUSTFLAGS");
    process::stream(build, &format!("cargo build {name}"), |line| {
        progress.detail(line)
    })
    .with_context(|| format!("failed to build `{name}`; is the C library's static archive installed (Debian: libc6-dev)?"))?;
    Ok(target_dir.join(format!("{host}/release/{name}")))
}

/// The files `binary` is built from, named relative to the repository: its
/// crates' sources and manifests, the workspace manifest and the lock file.
pub fn sources(paths: &Paths, binary: Binary) -> anyhow::Result<Vec<(String, Utf8PathBuf)>> {
    let repo = paths.repo();
    let mut named = Vec::new();
    let mut pending: Vec<Utf8PathBuf> = binary.crates.iter().map(|dir| repo.join(dir)).collect();
    while let Some(dir) = pending.pop() {
        for entry in dir
            .read_dir_utf8()
            .with_context(|| format!("failed to read `{dir}`"))?
        {
            let entry = entry?;
            let path = entry.path().to_owned();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(repo)
                    .expect("below the repository")
                    .to_string();
                named.push((name, path));
            }
        }
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        named.push((file.to_owned(), repo.join(file)));
    }
    Ok(named)
}

/// The host's target triple, as rustc reports it.
fn host_triple() -> anyhow::Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = process::run(&rustc, &["-vV"])?;
    output
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host triple")
}
