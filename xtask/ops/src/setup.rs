//! Host prerequisites that a fresh machine lacks, and how to install them
//! (`cargo xtask doctor --fix`, which `.ci/run` calls): compose v2 from Debian
//! trixie's `docker-compose` package (it needs only libc6 >= 2.34, so it runs
//! on bookworm hosts too), and mmdebstrap for bootstrapping the base image.

use anyhow::{bail, Context};

use crate::process;
use xshell::{cmd, Shell};

/// Where the compose v2 plugin goes; the docker CLI searches it.
pub const PLUGIN_DIR: &str = "/usr/local/lib/docker/cli-plugins";

pub use crate::compose::compose_version;

fn require_root(what: &str) -> anyhow::Result<()> {
    if !is_root() {
        bail!("installing {what} needs root; run `sudo cargo xtask doctor --fix` or install it yourself");
    }
    Ok(())
}

/// Downloads trixie's `docker-compose` package with a private apt state (the
/// host's sources stay untouched), unpacks it and installs the plugin binary.
pub fn install_compose_v2(mirror: &str) -> anyhow::Result<()> {
    require_root("compose v2")?;
    // A private (0700, unpredictable) directory: the binary installed as root
    // must not pass through a path another user could create or swap first.
    let temp = tempfile::Builder::new()
        .prefix("core_data-compose-")
        .tempdir()
        .context("failed to create a private temporary directory")?;
    let work = camino::Utf8PathBuf::from_path_buf(temp.path().to_owned())
        .map_err(|_| anyhow::anyhow!("temp dir is not UTF-8"))?;
    (|| {
        for dir in ["lists/partial", "cache/archives/partial", "extract"] {
            std::fs::create_dir_all(work.join(dir))?;
        }
        let sources = work.join("trixie.sources");
        std::fs::write(
            &sources,
            format!("Types: deb\nURIs: {mirror}\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"),
        )?;
        let apt_opts = [
            format!("-oDir::Etc::SourceList={sources}"),
            "-oDir::Etc::SourceParts=/dev/null".to_owned(),
            format!("-oDir::State::Lists={work}/lists"),
            format!("-oDir::Cache={work}/cache"),
            "-oAPT::Sandbox::User=root".to_owned(),
        ];
        let sh = Shell::new()?;
        sh.change_dir(&work);
        let opts = &apt_opts;
        process::host(cmd!(sh, "apt-get {opts...} update"))
            .context("apt-get update (trixie lists) failed")?;
        process::host(cmd!(sh, "apt-get {opts...} download docker-compose"))?;
        let deb = work
            .read_dir_utf8()?
            .filter_map(Result::ok)
            .map(|entry| entry.path().to_owned())
            .find(|path| path.extension() == Some("deb"))
            .context("apt-get download left no .deb")?;
        let extract = work.join("extract");
        process::host(cmd!(sh, "dpkg-deb -x {deb} {extract}"))?;
        std::fs::create_dir_all(PLUGIN_DIR)?;
        let target = format!("{PLUGIN_DIR}/docker-compose");
        std::fs::copy(
            work.join("extract/usr/libexec/docker/cli-plugins/docker-compose"),
            &target,
        )
        .context("the package did not contain the compose plugin")?;
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        Ok(())
    })()
}

/// Where the C compiler finds the static C library (`libc.a`), which the
/// sidecar binary is linked with; `None` when it is not installed.
pub fn static_libc() -> Option<String> {
    let sh = Shell::new().ok()?;
    let path = process::host(cmd!(sh, "cc -print-file-name=libc.a")).ok()?;
    let path = path.trim();
    // Without the archive, cc echoes the bare name back.
    (path.starts_with('/') && std::path::Path::new(path).is_file()).then(|| path.to_owned())
}

/// Installs libc6-dev (the static C library) from the host's own package sources.
pub fn install_static_libc() -> anyhow::Result<()> {
    apt_install("libc6-dev")
}

/// Installs `apparmor_parser` (Debian's `apparmor` package): `security apparmor-load`
/// loads the profiles with it, and the tests compile every profile with it.
pub fn install_apparmor_parser() -> anyhow::Result<()> {
    apt_install("apparmor")
}

/// Installs mmdebstrap from the host's own package sources.
pub fn install_mmdebstrap() -> anyhow::Result<()> {
    apt_install("mmdebstrap")
}

/// `apt-get install` of one package from the host's own sources (as root).
fn apt_install(package: &str) -> anyhow::Result<()> {
    require_root(package)?;
    let sh = Shell::new()?;
    process::host(cmd!(sh, "apt-get update -qq"))?;
    process::host(
        cmd!(
            sh,
            "apt-get install -y -qq --no-install-recommends {package}"
        )
        .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

fn is_root() -> bool {
    crate::config::sizing::current_ids().0 == 0
}

/// Makes sure `docker compose` (v2) exists: installs it when running as root
/// (as `doctor --fix` would), otherwise says exactly how to get it.
pub fn ensure_compose(
    mirror: &str,
    progress: &dyn crate::progress::Progress,
) -> anyhow::Result<()> {
    if compose_version().is_some() {
        return Ok(());
    }
    if !is_root() {
        bail!("`docker compose` (v2) is missing; run `sudo cargo xtask doctor --fix` or install the compose plugin");
    }
    progress.status(
        "Installing",
        "compose v2 from Debian trixie's docker-compose package",
    );
    install_compose_v2(mirror)?;
    compose_version()
        .context("compose v2 was installed but `docker compose version` still fails")?;
    Ok(())
}

/// Makes sure mmdebstrap exists for a base-image bootstrap: installs it when
/// running as root, otherwise says how to get it.
pub fn ensure_mmdebstrap(progress: &dyn crate::progress::Progress) -> anyhow::Result<()> {
    if process::on_path("mmdebstrap") {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "no registry answered and `mmdebstrap` is not installed, so the base image cannot be bootstrapped; \
             run `sudo cargo xtask doctor --fix` or `sudo apt-get install mmdebstrap`"
        );
    }
    progress.status(
        "Installing",
        "mmdebstrap (no registry answered; the base image is bootstrapped from Debian packages)",
    );
    install_mmdebstrap()
}

/// Free space in the file system holding `path`, in MB, from `df`.
pub fn free_space_mb(path: &str) -> anyhow::Result<u64> {
    let out = process::run("df", &["-Pk", path])?;
    let available_kb: u64 = out
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|kb| kb.parse().ok())
        .context("could not read `df` output")?;
    Ok(available_kb / 1024)
}

/// The test runner's version (`cargo nextest --version`'s first line), when installed.
pub fn nextest_version() -> Option<String> {
    let sh = Shell::new().ok()?;
    let out = cmd!(sh, "cargo nextest --version")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    out.lines().next().map(str::to_owned)
}

/// Installs the test runner the README's test command uses (`cargo install`:
/// a compile of a few minutes, once per machine; no root needed).
pub fn install_nextest() -> anyhow::Result<()> {
    let sh = Shell::new()?;
    process::host(cmd!(sh, "cargo install --locked cargo-nextest"))
        .context("`cargo install --locked cargo-nextest` failed")?;
    Ok(())
}
