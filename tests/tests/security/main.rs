//! Confinement you can inspect, on one real stack: `security status` passes on
//! the stack as compose starts it and fails, naming the container and the
//! property, on a container of the project started without `cap_drop`
//! (`status::walk`, which other stacks' tests call too); `APPARMOR=enabled`
//! reaches compose as each service's profile, and is refused before anything
//! changes where the host cannot apply it (`apparmor::setting`); every profile
//! of `apparmor/` compiles (`apparmor::profiles_compile`).

mod apparmor;
mod status;

use core_data_tests::{docker_available, xtask, TestStack};

#[test]
fn security_full_workflow() {
    if !docker_available("security_full_workflow") {
        return;
    }
    let mut t = TestStack::new("sec", 212);
    // Nothing runs yet: nothing to vouch for, so exit 1 (like `status`), in JSON too.
    let out = xtask(t.paths().state(), &["security", "status"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("has no running containers"), "{out}");
    let out = xtask(
        t.paths().state(),
        &["security", "status", "--format", "json"],
    );
    assert_eq!(out.code, Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["passed"], false, "{out}");
    assert_eq!(report["containers"], serde_json::json!([]), "{out}");
    t.up();
    status::walk(&t);
    apparmor::setting(&mut t);
}

#[test]
fn apparmor_profiles_compile() {
    apparmor::profiles_compile();
}
