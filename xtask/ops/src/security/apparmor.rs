//! AppArmor: whether the host has it, the profiles of `apparmor/` (one per
//! service, `profile core_data_<service>` in `core_data_<service>.profile`),
//! loading them with `apparmor_parser -r`, and what compose gets when
//! `APPARMOR=enabled`: `CORE_DATA_APPARMOR_<SERVICE>=core_data_<service>`,
//! which compose.yaml puts in the service's `security_opt`
//! (`apparmor=${CORE_DATA_APPARMOR_POSTGRES:-docker-default}`).
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

/// The profiles the kernel has loaded (securityfs `profiles`: `name (mode)` per line).
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

/// The check `up` makes before it changes anything: with `APPARMOR=enabled`,
/// the host must have AppArmor and every profile of `apparmor/` must be
/// loaded. With `APPARMOR=disabled` there is nothing to check.
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
    let wanted = profiles(paths)?;
    let loaded = loaded().context(
        "cannot check that the AppArmor profiles are loaded; run as root, or set `APPARMOR=disabled` (nothing was changed)",
    )?;
    let missing: Vec<&str> = wanted
        .iter()
        .map(|profile| profile.name.as_str())
        .filter(|name| !loaded.contains(*name))
        .collect();
    if !missing.is_empty() {
        bail!(
            "`{KEY}=enabled` but the AppArmor profile(s) `{}` are not loaded; run \
             `sudo cargo xtask security apparmor-load` first (nothing was changed)",
            missing.join("`, `")
        );
    }
    Ok(())
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
    fn we_can_tell_whether_we_hold_a_capability() {
        // Capability 63 does not exist, so no process holds it.
        assert!(!has_capability(63));
    }
}
