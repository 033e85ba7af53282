//! `APPARMOR` in `.env`: compose gets `docker-default` while it is `disabled`
//! and each service's profile once it is `enabled` (read back from `docker
//! compose config`, so through compose.yaml's interpolation); with it enabled,
//! the check `up` makes first (`security::apparmor::ensure_loaded`) refuses on a
//! host without AppArmor or with a profile not loaded, without needing root
//! (the Docker engine answers for anyone who may use it), and `doctor` fails
//! its AppArmor line on a host without it. `security apparmor-load` on a host
//! without AppArmor says so and exits 0. The engine's answer itself
//! (`engine_probe`): the option reaches the engine, `docker-default` is
//! applied, and a profile nobody loaded is refused where the host has
//! AppArmor. Every profile of `apparmor/` compiles with `apparmor_parser`
//! (and a broken one is refused).

use std::collections::BTreeSet;

use camino::Utf8PathBuf;
use core_data_ops::docker::{ContainerSpec, Docker};
use core_data_ops::paths::Paths;
use core_data_ops::security::apparmor::{self, HostAppArmor};
use core_data_tests::{ensure_image, test_config, xtask, TestStack};

/// The profiles the services of `t`'s compose project name when APPARMOR is enabled, sorted:
/// `core_data_postgres` for postgres and logical_backup, `core_data_<name>` for each add-on on.
fn expected_entries(t: &TestStack) -> Vec<String> {
    let mut entries = vec!["core_data_postgres".to_owned(); 2];
    entries.extend(
        core_data_ops::addons::enabled(&t.stack.config)
            .into_iter()
            .map(|addon| format!("core_data_{addon}")),
    );
    entries.sort();
    entries
}

/// The `apparmor=` entries of the rendered compose file, sorted.
fn apparmor_entries(t: &TestStack) -> Vec<String> {
    let text = t
        .stack
        .compose()
        .run(&["config"])
        .unwrap_or_else(|err| panic!("`docker compose config` failed: {err:#}"));
    let mut entries = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- apparmor="))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    entries.sort();
    entries
}

pub(crate) fn setting(t: &mut TestStack) {
    let state = t.paths().state().to_owned();
    // Every running service names `docker-default` while APPARMOR is disabled.
    let services = expected_entries(t);
    assert_eq!(
        apparmor_entries(t),
        vec!["docker-default".to_owned(); services.len()]
    );
    apparmor::ensure_loaded(t.paths(), &t.stack.config).expect("nothing to check when disabled");

    t.set("APPARMOR", "enabled");
    // postgres and logical_backup both name postgres's profile; each add-on its own.
    assert_eq!(apparmor_entries(t), expected_entries(t));
    let checked = apparmor::ensure_loaded(t.paths(), &t.stack.config);
    match apparmor::host() {
        HostAppArmor::Absent(_) => {
            let err = format!("{:#}", checked.expect_err("no AppArmor here"));
            assert!(
                err.contains("this host has no AppArmor") && err.contains("APPARMOR=disabled"),
                "{err}"
            );
            let out = xtask(&state, &["doctor"]);
            assert!(
                out.stdout.contains("FAIL apparmor: `APPARMOR=enabled`"),
                "{out}"
            );
            let out = xtask(&state, &["security", "apparmor-load"]);
            assert_eq!(out.code, Some(0), "{out}");
            assert!(
                out.stdout.contains("this host has no AppArmor")
                    && out.stdout.contains("nothing changed"),
                "{out}"
            );
        }
        HostAppArmor::Enabled => {
            // The profiles `up` applies here: postgres's and each enabled add-on's.
            let wanted: BTreeSet<String> = expected_entries(t).into_iter().collect();
            let missing: Vec<String> = match apparmor::loaded() {
                // Root: the kernel's list says what the check must answer.
                Ok(loaded) => wanted.into_iter().filter(|p| !loaded.contains(p)).collect(),
                // Anyone else: the engine answers, so the check needs no root.
                Err(_) => wanted
                    .into_iter()
                    .filter(|profile| {
                        !apparmor::engine_applies(
                            &t.stack.docker,
                            t.paths(),
                            &t.stack.config,
                            profile,
                        )
                        .unwrap_or_else(|err| panic!("the engine did not answer: {err:#}"))
                    })
                    .collect(),
            };
            if missing.is_empty() {
                checked.expect("every profile is loaded");
            } else {
                let err = format!("{:#}", checked.expect_err("a profile is not loaded"));
                assert!(err.contains("security apparmor-load"), "{err}");
                for profile in &missing {
                    assert!(err.contains(profile.as_str()), "`{profile}` in: {err}");
                }
            }
        }
    }
    // The running containers are judged as before (they were started with `disabled`).
    let out = xtask(&state, &["security", "status", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["apparmor_setting"], "enabled", "{out}");

    t.set("APPARMOR", "disabled");
    assert_eq!(
        apparmor_entries(t),
        vec!["docker-default".to_owned(); services.len()]
    );
}

/// What the engine answers when `ensure_loaded` cannot read securityfs (every
/// user but root): a confined one-shot with `apparmor=<profile>` starts or not.
pub(crate) fn engine_probe() {
    ensure_image();
    let docker = Docker::connect().expect("docker");
    let paths = Paths::from_repo(None);
    let config = test_config("apparmor_probe", 1, 5432);
    // The option reaches the engine next to the confinement's own.
    let seccomp = paths.seccomp_dir().join("postgres.json");
    let running = ContainerSpec::confined(config.image(), config.uid(), config.gid(), &seccomp)
        .unwrap()
        .security_opt("apparmor=docker-default")
        .entrypoint(&["sleep"])
        .cmd(&["60"])
        .start(&docker)
        .unwrap_or_else(|err| panic!("{err:#}"));
    let inspect = docker.inspect_container(running.name()).unwrap().unwrap();
    let options = inspect
        .host_config
        .unwrap()
        .security_opt
        .unwrap_or_default();
    assert!(
        options.iter().any(|o| o == "apparmor=docker-default")
            && options.iter().any(|o| o == "no-new-privileges:true")
            && options.iter().any(|o| o.starts_with("seccomp=")),
        "{options:?}"
    );
    drop(running);
    // The engine loads `docker-default` itself whenever it is named.
    assert!(
        apparmor::engine_applies(&docker, &paths, &config, "docker-default")
            .unwrap_or_else(|err| panic!("{err:#}"))
    );
    let unknown = apparmor::engine_applies(&docker, &paths, &config, "core_data_no_such_profile");
    match apparmor::host() {
        HostAppArmor::Enabled => assert!(
            !unknown.unwrap_or_else(|err| panic!("{err:#}")),
            "the runtime must refuse a profile the kernel has not loaded"
        ),
        // The engine ignores every AppArmor option here, which is why `ensure_loaded`
        // asks `host()` first.
        HostAppArmor::Absent(why) => {
            eprintln!("no AppArmor here ({why}): the engine ignores the profile's name");
            assert!(unknown.unwrap_or_else(|err| panic!("{err:#}")));
        }
    }
}

/// Every profile of `apparmor/` compiles; a copy with one broken rule does not.
/// Needs `apparmor_parser` (package `apparmor`): without it the check fails in
/// CI (`CI` or `CORE_DATA_REQUIRE_DOCKER` set; `doctor --fix` installs it) and is skipped
/// loudly elsewhere.
pub(crate) fn profiles_compile() {
    if !core_data_ops::process::on_path("apparmor_parser") {
        if std::env::var_os("CI").is_some()
            || std::env::var_os("CORE_DATA_REQUIRE_DOCKER").is_some()
        {
            panic!("`apparmor_parser` is required in CI (apt-get install apparmor)");
        }
        eprintln!("\n!!!!! SKIPPING the AppArmor profile compile check: `apparmor_parser` is not installed (apt-get install apparmor).\n");
        return;
    }
    let repo = Paths::from_repo(None);
    let profiles = apparmor::check_syntax(&repo).unwrap_or_else(|err| panic!("{err:#}"));
    assert!(
        profiles.iter().any(|p| p.name == "core_data_postgres"),
        "{profiles:?}"
    );

    let copy = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(copy.path().to_owned()).unwrap();
    std::fs::create_dir(root.join("apparmor")).unwrap();
    let text = std::fs::read_to_string(repo.repo().join("apparmor/core_data_postgres.profile"))
        .unwrap()
        .replace("/usr/** rmix,", "/usr/** rmixq,");
    std::fs::write(root.join("apparmor/core_data_postgres.profile"), text).unwrap();
    let err = apparmor::check_syntax(&Paths::new(root.clone(), root))
        .expect_err("a profile with a bad permission must not compile");
    assert!(format!("{err:#}").contains("does not compile"), "{err:#}");
}
