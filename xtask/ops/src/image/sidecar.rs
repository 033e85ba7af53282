//! The `logical_backup` sidecar's binary (`core_data_sidecar`), built from
//! this workspace for the image: statically linked (glibc's `crt-static`), so
//! it runs on the image's Debian whatever the host's C library is. Built in its
//! own target directory so its flags never invalidate the CLI's build.

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::paths::Paths;
use crate::process;
use crate::progress::Progress;

/// The binary's name, in the workspace and in the image (`/usr/local/bin`).
pub const BINARY: &str = "core-data-logical-backup";

/// Builds the binary (cargo skips the work when nothing changed) and returns its path.
pub fn build(paths: &Paths, progress: &dyn Progress) -> anyhow::Result<Utf8PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let host = host_triple()?;
    let target_dir = paths.repo().join("target/sidecar");
    progress.status(
        "Compiling",
        &format!("the sidecar binary `{BINARY}` (static, {host})"),
    );
    let args = [
        "build",
        "--release",
        "--package",
        "core_data_sidecar",
        "--bin",
        BINARY,
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
    process::stream(build, &format!("cargo build {BINARY}"), |line| {
        progress.detail(line)
    })
    .context("failed to build the sidecar binary; is the C library's static archive installed (Debian: libc6-dev)?")?;
    Ok(target_dir.join(format!("{host}/release/{BINARY}")))
}

/// The files the binary is built from, named relative to the repository: the
/// crate's sources and manifest, the workspace manifest and the lock file.
pub fn sources(paths: &Paths) -> anyhow::Result<Vec<(String, Utf8PathBuf)>> {
    let repo = paths.repo();
    let mut named = Vec::new();
    let mut pending = vec![repo.join("xtask/sidecar")];
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
