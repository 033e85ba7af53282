//! `doctor`: each prerequisite with its state and, when it fails, the fix.

use std::process::ExitCode;

use core_data_ops::config::{keys, Config};
use core_data_ops::docker::Docker;
use core_data_ops::image::base;
use core_data_ops::security::apparmor::{self, HostAppArmor};
use core_data_ops::{process, setup};

use super::Ctx;
use crate::error::CmdResult;
use crate::flags::Doctor;

const MIN_FREE_MB: u64 = 10 * 1024;

pub(crate) fn run(ctx: &Ctx, args: &Doctor) -> CmdResult {
    let mut failures = 0;
    let mut report = |ok: bool, what: &str, detail: &str| {
        println!("{} {what}: {detail}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures += 1;
        }
    };
    let config = Config::load(&ctx.paths).ok();
    let mirror = config.as_ref().map_or_else(
        || default_of("DEBIAN_MIRROR"),
        |config| config.get("DEBIAN_MIRROR").to_owned(),
    );

    let docker = Docker::connect().and_then(|docker| docker.server_version().map(|v| (docker, v)));
    let docker = match docker {
        Ok((docker, (version, api))) => {
            report(true, "docker engine", &format!("{version} (API {api})"));
            Some(docker)
        }
        Err(err) => {
            report(
                false,
                "docker engine",
                &format!("{err:#}; start Docker and make sure this user may use it"),
            );
            None
        }
    };

    if setup::compose_version().is_none() && args.fix {
        println!("fix  installing compose v2 from Debian trixie's docker-compose package");
        setup::install_compose_v2(&mirror)?;
    }
    match setup::compose_version() {
        Some(version) => report(true, "compose v2", &version),
        None => report(
            false,
            "compose v2",
            "`docker compose` is missing; run `cargo xtask doctor --fix` (as root)",
        ),
    }

    let free = setup::free_space_mb(ctx.paths.state().as_str())?;
    report(
        free >= MIN_FREE_MB,
        "disk space",
        &format!(
            "{free} MB free at {} (want {MIN_FREE_MB} MB)",
            ctx.paths.state()
        ),
    );

    let present = |image: &str| {
        docker
            .as_ref()
            .is_some_and(|d| d.image_labels(image).ok().flatten().is_some())
    };
    if !present(base::DEBIAN_IMAGE)
        && !present(base::BOOTSTRAP_IMAGE)
        && !process::on_path("mmdebstrap")
        && args.fix
    {
        println!("fix  installing mmdebstrap");
        setup::install_mmdebstrap()?;
    }
    let strategy = if present(base::DEBIAN_IMAGE) {
        Some(format!("{} is present", base::DEBIAN_IMAGE))
    } else if present(base::BOOTSTRAP_IMAGE) {
        Some(format!(
            "{} (bootstrapped earlier) is present",
            base::BOOTSTRAP_IMAGE
        ))
    } else if process::on_path("mmdebstrap") {
        Some(format!(
            "will pull {} or bootstrap it with mmdebstrap from {mirror}",
            base::DEBIAN_IMAGE
        ))
    } else {
        None
    };
    match strategy {
        Some(detail) => report(true, "base image", &detail),
        None => report(false, "base image", "no base image and no mmdebstrap to bootstrap one without a registry; run `cargo xtask doctor --fix` (as root) or `apt-get install mmdebstrap`"),
    }

    if setup::static_libc().is_none() && args.fix {
        println!("fix  installing libc6-dev (the static C library the sidecar binary links)");
        setup::install_static_libc()?;
    }
    match setup::static_libc() {
        Some(path) => report(true, "static C library", &path),
        None => report(
            false,
            "static C library",
            "`libc.a` is missing (the sidecar binary is linked statically); run `cargo xtask doctor --fix` (as root) or `apt-get install libc6-dev`",
        ),
    }

    if setup::nextest_version().is_none() && args.fix {
        println!("fix  installing cargo-nextest, the test runner (`cargo install --locked`, a few minutes)");
        setup::install_nextest()?;
    }
    match setup::nextest_version() {
        Some(version) => report(true, "test runner", &version),
        None => report(
            false,
            "test runner",
            "`cargo nextest` is missing (the README's test command runs it); run `cargo xtask doctor --fix` or `cargo install --locked cargo-nextest`",
        ),
    }

    // `--fix` installs the parser on any host: the profile compile check needs it in CI.
    if !core_data_ops::process::on_path("apparmor_parser") && args.fix {
        println!("fix  installing apparmor (apparmor_parser compiles and loads the profiles of apparmor/)");
        setup::install_apparmor_parser()?;
    }
    let host = apparmor::host();
    let wants_apparmor = config.as_ref().is_some_and(apparmor::requested);
    match parser_verdict(
        core_data_ops::process::on_path("apparmor_parser"),
        host.enabled(),
        wants_apparmor,
    ) {
        Verdict::Ok => report(
            true,
            "apparmor_parser",
            "compiles and loads the profiles of apparmor/",
        ),
        Verdict::Note => println!(
            "note apparmor_parser: not installed; needed only to load the profiles of apparmor/ \
             (`APPARMOR=enabled` on a host with AppArmor) and for their compile check; \
             `cargo xtask doctor --fix` (as root) or `apt-get install apparmor` installs it"
        ),
        Verdict::Fail => report(
            false,
            "apparmor_parser",
            "missing: `APPARMOR=enabled` on this AppArmor host, and `security apparmor-load` needs it; run `cargo xtask doctor --fix` (as root) or `apt-get install apparmor`",
        ),
    }

    // Not a prerequisite: only `APPARMOR=enabled` on a host without it is a failure.
    match host {
        HostAppArmor::Enabled => report(
            true,
            "apparmor",
            "this host has AppArmor; `sudo cargo xtask security apparmor-load` loads the profiles of apparmor/, `APPARMOR=enabled` applies them",
        ),
        HostAppArmor::Absent(why) if wants_apparmor => report(
            false,
            "apparmor",
            &format!("`APPARMOR=enabled` but this host has no AppArmor ({why}); set `APPARMOR=disabled`"),
        ),
        HostAppArmor::Absent(why) => report(
            true,
            "apparmor",
            &format!("this host has no AppArmor ({why}); the profiles of apparmor/ do not apply (seccomp, capabilities and the read-only root still do)"),
        ),
    }

    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How `doctor` reports `apparmor_parser`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    /// Missing, but nothing here needs it: said, not counted as a failure.
    Note,
    Fail,
}

/// A missing `apparmor_parser` fails `doctor` only where the profiles are to be
/// loaded: a host with AppArmor and `APPARMOR=enabled`.
fn parser_verdict(installed: bool, host_has_apparmor: bool, wants_apparmor: bool) -> Verdict {
    match (installed, host_has_apparmor && wants_apparmor) {
        (true, _) => Verdict::Ok,
        (false, true) => Verdict::Fail,
        (false, false) => Verdict::Note,
    }
}

fn default_of(key: &str) -> String {
    match keys::find(key).map(|k| k.default) {
        Some(keys::DefaultValue::Static(value)) => value.to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_apparmor_parser_fails_only_where_the_profiles_are_to_be_loaded() {
        assert_eq!(parser_verdict(false, true, true), Verdict::Fail);
        assert_eq!(parser_verdict(false, true, false), Verdict::Note);
        assert_eq!(parser_verdict(false, false, false), Verdict::Note);
        // `APPARMOR=enabled` without AppArmor fails the `apparmor` line instead.
        assert_eq!(parser_verdict(false, false, true), Verdict::Note);
        for host in [true, false] {
            for wants in [true, false] {
                assert_eq!(parser_verdict(true, host, wants), Verdict::Ok);
            }
        }
    }
}
