//! AppArmor: whether the host has it, the profiles of `apparmor/` (one per
//! service, `profile core_data_<service>` in `core_data_<service>.profile`),
//! loading them with `apparmor_parser -r`, what compose gets when
//! `APPARMOR=enabled`: `CORE_DATA_APPARMOR_<SERVICE>=core_data_<service>`,
//! which compose.yaml puts in the service's `security_opt`
//! (`apparmor=${CORE_DATA_APPARMOR_POSTGRES:-docker-default}`), and whether
//! the profiles `up` will apply are loaded: from securityfs when it can be
//! read (root only), otherwise by asking the Docker engine to start a one-shot
//! under each profile (anyone who may use Docker).
//!
//! Naming `docker-default` is safe on a host without AppArmor: the engine
//! ignores every AppArmor option there (moby's `saveAppArmorConfig` returns
//! early when the host lacks it, and `AppArmorProfile` stays empty), and on a
//! host with it `docker-default` is what the engine applies anyway.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use xshell::{cmd, Shell};

use crate::config::Config;
use crate::docker::{ContainerSpec, Docker};
use crate::paths::Paths;
use crate::process;

/// The kernel's switch (`Y` when AppArmor is on).
const ENABLED_PARAMETER: &str = "/sys/module/apparmor/parameters/enabled";
/// AppArmor's securityfs directory; `profiles` in it lists what is loaded.
const SECURITYFS: &str = "/sys/kernel/security/apparmor";
/// The `.env` key that applies the profiles.
pub const KEY: &str = "APPARMOR";
/// The capability `apparmor_parser` needs to load a profile.
const CAP_MAC_ADMIN: u32 = 33;

/// Whether this host confines containers with AppArmor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAppArmor {
    Enabled,
    /// Why not, in words.
    Absent(String),
}

impl HostAppArmor {
    pub fn enabled(&self) -> bool {
        *self == HostAppArmor::Enabled
    }
}

/// The host's AppArmor, by the rule runc (and so Docker) applies: the kernel
/// parameter says `Y` and the securityfs directory exists. With either
/// missing, the engine applies no AppArmor profile at all.
pub fn host() -> HostAppArmor {
    host_from(
        std::fs::read_to_string(ENABLED_PARAMETER).ok().as_deref(),
        Utf8Path::new(SECURITYFS).is_dir(),
    )
}

fn host_from(parameter: Option<&str>, securityfs: bool) -> HostAppArmor {
    match (parameter.map(str::trim), securityfs) {
        (None, _) => HostAppArmor::Absent(format!(
            "the kernel has no AppArmor module (`{ENABLED_PARAMETER}` is missing)"
        )),
        (Some(value), _) if !value.starts_with('Y') => HostAppArmor::Absent(format!(
            "AppArmor is switched off (`{ENABLED_PARAMETER}` says `{value}`)"
        )),
        (Some(_), false) => HostAppArmor::Absent(format!(
            "securityfs is not mounted (`{SECURITYFS}` is missing)"
        )),
        (Some(_), true) => HostAppArmor::Enabled,
    }
}

/// One profile file of `apparmor/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name it declares (`profile core_data_postgres …`).
    pub name: String,
    pub file: Utf8PathBuf,
}

impl Profile {
    /// The variable compose.yaml reads for this profile: `CORE_DATA_APPARMOR_POSTGRES`.
    pub fn compose_variable(&self) -> String {
        let service = self.name.strip_prefix("core_data_").unwrap_or(&self.name);
        format!("CORE_DATA_APPARMOR_{}", service.to_uppercase())
    }
}

/// The profiles of `apparmor/` (`*.profile`), sorted by name.
pub fn profiles(paths: &Paths) -> anyhow::Result<Vec<Profile>> {
    let dir = paths.repo().join("apparmor");
    let mut profiles = Vec::new();
    let entries = dir
        .read_dir_utf8()
        .with_context(|| format!("cannot list the AppArmor profiles in `{dir}`"))?;
    for entry in entries {
        let file = entry?.into_path();
        if file.extension() != Some("profile") {
            continue;
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read the AppArmor profile `{file}`"))?;
        let name = declared_name(&text)
            .with_context(|| format!("`{file}` declares no `profile NAME {{`"))?;
        profiles.push(Profile { name, file });
    }
    profiles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(profiles)
}

/// The name of the first `profile NAME …` line.
fn declared_name(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix("profile "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

/// The profiles the kernel has loaded (securityfs `profiles`: `name (mode)` per
/// line). The kernel lets only root open that file (`aa_policy_view_capable`),
/// so for anyone else this is an error; `ensure_loaded` then asks the engine.
pub fn loaded() -> anyhow::Result<BTreeSet<String>> {
    let list = format!("{SECURITYFS}/profiles");
    let text = std::fs::read_to_string(&list).with_context(|| {
        format!("cannot read the loaded AppArmor profiles from `{list}` (it needs root)")
    })?;
    Ok(parse_loaded(&text))
}

fn parse_loaded(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            // The name may contain spaces; the mode in parentheses ends the line.
            let line = line.trim_end();
            let name = match line.rfind(" (") {
                Some(at) if line.ends_with(')') => &line[..at],
                _ => line,
            };
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

/// True when `APPARMOR=enabled` in the configuration.
pub fn requested(config: &Config) -> bool {
    config.get(KEY) == "enabled"
}

/// What `docker compose` gets for each profile of `apparmor/`: the profile's
/// name when `APPARMOR=enabled`, otherwise `None` (the variable is removed from
/// the environment, so compose.yaml falls back to `docker-default`). A profile
/// directory that cannot be read gives nothing here; `ensure_loaded`, which
/// `up` calls first, reports it.
pub fn compose_env(paths: &Paths, config: &Config) -> Vec<(String, Option<String>)> {
    let enabled = requested(config);
    profiles(paths)
        .unwrap_or_default()
        .into_iter()
        .map(|profile| {
            let variable = profile.compose_variable();
            (variable, enabled.then_some(profile.name))
        })
        .collect()
}

/// The profiles the services `up` starts run under: postgres's (which
/// `logical_backup` shares) and each enabled add-on's, those of `apparmor/`.
fn in_use(paths: &Paths, config: &Config) -> anyhow::Result<Vec<Profile>> {
    let services = ["postgres", "logical_backup"]
        .into_iter()
        .chain(crate::addons::enabled(config).into_iter().map(|a| a.name()));
    let names: BTreeSet<String> = services
        .filter_map(|service| super::policy::expected_profiles(Some(service)))
        .map(|(_, apparmor)| apparmor)
        .collect();
    Ok(profiles(paths)?
        .into_iter()
        .filter(|profile| names.contains(&profile.name))
        .collect())
}

/// The check `up` makes before it changes anything: with `APPARMOR=enabled`,
/// the host must have AppArmor and the profile of every service `up` starts
/// must be loaded. Root reads the kernel's list; anyone else who may use
/// Docker gets the engine's answer (`engine_applies`), so `up` needs no root.
/// With `APPARMOR=disabled` there is nothing to check.
pub fn ensure_loaded(paths: &Paths, config: &Config) -> anyhow::Result<()> {
    if !requested(config) {
        return Ok(());
    }
    if let HostAppArmor::Absent(why) = host() {
        bail!(
            "`{KEY}=enabled` in `{}`, but this host has no AppArmor ({why}), so the profiles of \
             apparmor/ cannot be applied; set `{KEY}=disabled` or run on a host with AppArmor \
             (nothing was changed)",
            paths.env_file()
        );
    }
    let wanted = in_use(paths, config)?;
    let missing: Vec<&str> = match loaded() {
        Ok(loaded) => wanted
            .iter()
            .map(|profile| profile.name.as_str())
            .filter(|name| !loaded.contains(*name))
            .collect(),
        Err(_) => {
            let docker = Docker::connect()?;
            let mut missing = Vec::new();
            for profile in &wanted {
                if !engine_applies(&docker, paths, config, &profile.name)? {
                    missing.push(profile.name.as_str());
                }
            }
            missing
        }
    };
    if !missing.is_empty() {
        bail!(
            "`{KEY}=enabled` but the AppArmor profile(s) `{}` are not loaded; run \
             `sudo cargo xtask security apparmor-load` first (nothing was changed)",
            missing.join("`, `")
        );
    }
    Ok(())
}

/// The images a probe may start, most likely present first: the platform
/// image, then the base images it is built from.
fn probe_image(docker: &Docker, config: &Config) -> anyhow::Result<Option<String>> {
    for image in [
        config.image(),
        crate::image::base::DEBIAN_IMAGE,
        crate::image::base::BOOTSTRAP_IMAGE,
    ] {
        if docker.image_id(image)?.is_some() {
            return Ok(Some(image.to_owned()));
        }
    }
    Ok(None)
}

/// Whether the engine can run a container under the AppArmor profile
/// `profile`, asked without root: it starts a confined one-shot (`true`, no
/// network, the stack's UID, `seccomp/postgres.json`) with
/// `apparmor=<profile>`. The engine accepts any name when it creates a
/// container; the runtime refuses to start one whose profile the kernel has
/// not loaded (runc: "apparmor failed to apply profile: write
/// /proc/thread-self/attr/apparmor/exec: no such file or directory"), which is
/// `Ok(false)`. Any other refusal is an error. On a host without AppArmor the
/// engine ignores the option and this is always `Ok(true)`: ask `host` first.
pub fn engine_applies(
    docker: &Docker,
    paths: &Paths,
    config: &Config,
    profile: &str,
) -> anyhow::Result<bool> {
    let Some(image) = probe_image(docker, config)? else {
        bail!(
            "cannot check without root that the AppArmor profile `{profile}` is loaded: the \
             check starts a one-shot container under it, and there is no image to start yet \
             (`{}`); run `cargo xtask build-image` first, or this command as root, or set \
             `{KEY}=disabled` (nothing was changed)",
            config.image()
        );
    };
    let seccomp = paths.seccomp_dir().join("postgres.json");
    let probe = ContainerSpec::confined(&image, config.uid(), config.gid(), &seccomp)?
        .security_opt(format!("apparmor={profile}"))
        .label("core_data.probe", "apparmor")
        .entrypoint(&["true"]);
    match probe.run(docker) {
        Ok(_) => Ok(true),
        Err(err) if says_not_loaded(&format!("{err:#}")) => Ok(false),
        Err(err) => Err(err).with_context(|| {
            format!(
                "cannot check through the Docker engine whether the AppArmor profile `{profile}` \
                 is loaded (a one-shot of `{image}` under it did not start); run \
                 `sudo cargo xtask security apparmor-load`, or set `{KEY}=disabled` (nothing was \
                 changed)"
            )
        }),
    }
}

/// True when the runtime's refusal to start a container says its AppArmor
/// profile is not loaded: writing the profile's name to the process's
/// `attr/apparmor/exec` (`attr/exec` on older kernels) failed with ENOENT.
fn says_not_loaded(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("apparmor") && message.contains("no such file or directory")
}

/// What `apparmor-load` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The host has no AppArmor (why); nothing was loaded or changed.
    NoAppArmor(String),
    /// These profiles were loaded (or replaced).
    Profiles(Vec<Profile>),
}

/// Loads (or replaces) every profile of `apparmor/` with `apparmor_parser -r`.
/// On a host without AppArmor it changes nothing.
pub fn load_all(paths: &Paths) -> anyhow::Result<Loaded> {
    if let HostAppArmor::Absent(why) = host() {
        return Ok(Loaded::NoAppArmor(why));
    }
    let profiles = profiles(paths)?;
    if !process::on_path("apparmor_parser") {
        bail!("`apparmor_parser` is not installed; install it (`apt-get install apparmor`) and run this again");
    }
    if !has_capability(CAP_MAC_ADMIN) {
        bail!("loading AppArmor profiles needs root (CAP_MAC_ADMIN); run `sudo cargo xtask security apparmor-load`");
    }
    let sh = Shell::new()?;
    for profile in &profiles {
        let file = &profile.file;
        process::host(cmd!(sh, "apparmor_parser -r {file}")).with_context(|| {
            format!(
                "failed to load the AppArmor profile `{}` from `{file}`",
                profile.name
            )
        })?;
    }
    Ok(Loaded::Profiles(profiles))
}

/// Compiles every profile of `apparmor/` with `apparmor_parser -Q -K` (no
/// kernel load, no cache): a syntax check that changes nothing and needs
/// neither root nor a host with AppArmor, only `apparmor_parser`.
pub fn check_syntax(paths: &Paths) -> anyhow::Result<Vec<Profile>> {
    let profiles = profiles(paths)?;
    let sh = Shell::new()?;
    for profile in &profiles {
        let file = &profile.file;
        process::host(cmd!(sh, "apparmor_parser -Q -K {file}"))
            .with_context(|| format!("the AppArmor profile `{file}` does not compile"))?;
    }
    Ok(profiles)
}

/// True when this process holds capability number `cap` (`CapEff` of /proc/self/status).
fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << cap) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_rule_is_runcs() {
        assert!(host_from(Some("Y\n"), true).enabled());
        assert!(!host_from(Some("N\n"), true).enabled());
        assert!(!host_from(Some("Y\n"), false).enabled());
        assert!(!host_from(None, false).enabled());
    }

    #[test]
    fn loaded_profiles_are_parsed_with_their_mode_removed() {
        let text = "docker-default (enforce)\ncore_data_postgres (complain)\n/usr/bin/man (enforce)\nodd name (enforce)\n";
        let loaded = parse_loaded(text);
        assert!(loaded.contains("docker-default"));
        assert!(loaded.contains("core_data_postgres"));
        assert!(loaded.contains("odd name"));
        assert_eq!(loaded.len(), 4);
    }

    #[test]
    fn every_profile_file_declares_the_name_of_its_file() {
        let paths = Paths::from_repo(None);
        let profiles = profiles(&paths).unwrap();
        assert!(
            profiles.iter().any(|p| p.name == "core_data_postgres"),
            "{profiles:?}"
        );
        for profile in &profiles {
            assert_eq!(
                profile.file.file_stem(),
                Some(profile.name.as_str()),
                "`{}` must declare `profile {}`",
                profile.file,
                profile.file.file_stem().unwrap_or_default()
            );
            assert!(profile.name.starts_with("core_data_"), "{profile:?}");
        }
        let postgres = profiles
            .iter()
            .find(|p| p.name == "core_data_postgres")
            .unwrap();
        assert_eq!(postgres.compose_variable(), "CORE_DATA_APPARMOR_POSTGRES");
    }

    /// The profiles whose service reaches another container by name: `logical_backup` (under
    /// postgres's profile) connects to `postgres`, PgBouncer to `host=postgres`, and memcached's
    /// client takes a host name. Docker's embedded DNS (127.0.0.11) answers over UDP, and
    /// `abstractions/base` allows no network at all.
    const RESOLVING: &[&str] = &[
        "core_data_postgres",
        "core_data_pgbouncer",
        "core_data_memcached",
    ];

    /// True when the profile's rules allow a DNS query over UDP (both families).
    fn allows_name_resolution(text: &str) -> bool {
        let rules: Vec<&str> = text.lines().map(str::trim).collect();
        let has = |rule: &str| rules.contains(&rule);
        has("#include <abstractions/nameservice>")
            || has("include <abstractions/nameservice>")
            || (has("network inet dgram,") && has("network inet6 dgram,"))
    }

    #[test]
    fn profiles_of_services_that_resolve_names_allow_dns_over_udp() {
        assert!(!allows_name_resolution(
            "profile p {\n  network inet stream,\n  network unix dgram,\n}\n"
        ));
        assert!(!allows_name_resolution(
            "profile p {\n  # network inet dgram,\n  network inet6 dgram,\n}\n"
        ));
        assert!(allows_name_resolution(
            "profile p {\n  #include <abstractions/nameservice>\n}\n"
        ));
        let paths = Paths::from_repo(None);
        let profiles = profiles(&paths).unwrap();
        for name in RESOLVING {
            let profile = profiles
                .iter()
                .find(|p| p.name == *name)
                .unwrap_or_else(|| panic!("no profile `{name}` in apparmor/"));
            let text = std::fs::read_to_string(&profile.file).unwrap();
            assert!(
                allows_name_resolution(&text),
                "`{}` must allow `network inet dgram,` and `network inet6 dgram,` (or include \
                 abstractions/nameservice): its service resolves names through Docker's DNS",
                profile.file
            );
        }
    }

    #[test]
    fn the_runtimes_refusal_of_a_profile_that_is_not_loaded_is_recognised() {
        // runc 1.1+ on a kernel with the per-LSM attr directory, then an older one.
        assert!(says_not_loaded(
            "failed to start a container of `core-data/postgres:17`: Docker responded with status \
             code 500: failed to create task for container: failed to create shim task: OCI \
             runtime create failed: runc create failed: unable to start container process: error \
             during container init: apparmor failed to apply profile: write \
             /proc/thread-self/attr/apparmor/exec: no such file or directory: unknown"
        ));
        assert!(says_not_loaded(
            "OCI runtime create failed: container_linux.go:349: starting container process caused \
             \"process_linux.go:449: container init caused \\\"apply apparmor profile: apparmor \
             failed to apply profile: write /proc/self/attr/exec: no such file or directory\\\"\""
        ));
        // Not loaded is ENOENT; a confined daemon that may not switch is another matter.
        assert!(!says_not_loaded(
            "apparmor failed to apply profile: write /proc/self/attr/exec: permission denied"
        ));
        assert!(!says_not_loaded(
            "exec: \"true\": executable file not found in $PATH: unknown"
        ));
    }

    #[test]
    fn up_checks_only_the_profiles_of_the_services_it_starts() {
        let paths = Paths::from_repo(None);
        let names = |config: &Config| -> Vec<String> {
            in_use(&paths, config)
                .unwrap()
                .into_iter()
                .map(|p| p.name)
                .collect()
        };
        let config = |profiles: &str| {
            let overrides = [("COMPOSE_PROFILES".to_owned(), profiles.to_owned())].into();
            let resources = crate::config::sizing::Resources {
                memory_mb: 1024,
                cpus: 2,
            };
            Config::from_overrides(&overrides, resources).unwrap()
        };
        assert_eq!(names(&config("")), ["core_data_postgres"]);
        let pooled = config("pgbouncer");
        assert_eq!(
            names(&pooled),
            ["core_data_pgbouncer", "core_data_postgres"]
        );
    }

    #[test]
    fn we_can_tell_whether_we_hold_a_capability() {
        // Capability 63 does not exist, so no process holds it.
        assert!(!has_capability(63));
    }
}
