//! `APPARMOR` in `.env`: compose gets `docker-default` while it is `disabled`
//! and each service's profile once it is `enabled` (read back from `docker
//! compose config`, so through compose.yaml's interpolation); with it enabled,
//! the check `up` makes first (`security::apparmor::ensure_loaded`) refuses on a
//! host without AppArmor or with a profile not loaded, and `doctor` fails its
//! AppArmor line on a host without it. `security apparmor-load` on a host
//! without AppArmor says so and exits 0. Every profile of `apparmor/` compiles
//! with `apparmor_parser` (and a broken one is refused).

use camino::Utf8PathBuf;
use core_data_ops::paths::Paths;
use core_data_ops::security::apparmor::{self, HostAppArmor};
use core_data_tests::{xtask, TestStack};

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
            let loaded = apparmor::loaded().unwrap_or_default();
            if loaded.contains("core_data_postgres") {
                checked.expect("every profile is loaded");
            } else {
                let err = format!("{:#}", checked.expect_err("a profile is not loaded"));
                assert!(err.contains("security apparmor-load"), "{err}");
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
