//! `doctor` on a host whose PATH has no `apparmor_parser`: a note while nothing
//! needs it, a failure only with `APPARMOR=enabled` on a host with AppArmor.
//! The real binary with a PATH from which every directory holding the parser
//! is removed; the stack's configuration only, nothing started.

use core_data_ops::security::apparmor;
use core_data_tests::{xtask_env, TestStack};

pub(crate) fn without_the_parser() {
    let mut t = TestStack::new("sec_doctor", 233);
    let state = t.paths().state().to_owned();
    let path = std::env::var("PATH").unwrap_or_default();
    let path = std::env::split_paths(&path)
        .filter(|dir| !dir.join("apparmor_parser").exists())
        .map(|dir| dir.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    for setting in ["disabled", "enabled"] {
        t.set("APPARMOR", setting);
        let out = xtask_env(&state, &["doctor"], &[("PATH", &path)]);
        let line = out
            .stdout
            .lines()
            .find(|line| line.contains(" apparmor_parser: "))
            .unwrap_or_else(|| panic!("no apparmor_parser line:\n{out}"))
            .to_owned();
        if setting == "enabled" && apparmor::host().enabled() {
            assert!(line.starts_with("FAIL "), "{line}\n{out}");
            assert_eq!(out.code, Some(1), "{out}");
        } else {
            assert!(
                line.starts_with("note ") && line.contains("not installed"),
                "APPARMOR={setting}: {line}\n{out}"
            );
        }
    }
}
