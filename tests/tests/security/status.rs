//! `security status` against a running stack: exit 0 and every service under
//! its own seccomp file of `seccomp/` while the stack is as compose started it;
//! exit 1 naming the container and `capabilities` once a container of the
//! project runs without `cap_drop`; the same in `--format json`. `walk` needs
//! only a stack that is up, so a test of a larger stack (the add-on services)
//! can call it: `#[path = "../security/status.rs"] mod security_status;`.

use core_data_ops::docker::ContainerSpec;
use core_data_ops::security::policy::expected_profiles;
use core_data_tests::{xtask, CliOutput, TestStack};
use serde_json::Value;

fn json(out: &CliOutput) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"))
}

/// The report's container named `name`.
fn container<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("no `containers` array:\n{report:#}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("`{name}` is not in the report:\n{report:#}"))
}

/// Every check of `security status` on `t`, which must be up. Leaves the stack as it found it.
pub(crate) fn walk(t: &TestStack) {
    let state = t.paths().state().to_owned();
    let config = &t.stack.config;
    let postgres = config.container_name("postgres");
    let sidecar = config.container_name("logical_backup");

    // As compose started it: exit 0, both services listed under seccomp/postgres.json.
    let out = xtask(&state, &["security", "status"]);
    assert_eq!(out.code, Some(0), "{out}");
    for name in [&postgres, &sidecar] {
        let block = out
            .stdout
            .split("\n\n")
            .find(|block| block.starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("no block for `{name}`:\n{out}"));
        assert!(
            block.contains("seccomp/postgres.json (ours)"),
            "`{name}` must run under seccomp/postgres.json:\n{out}"
        );
        assert!(block.contains("drop ALL; add none"), "{out}");
    }
    assert!(!out.stdout.contains("FAIL"), "{out}");

    let out = xtask(&state, &["security", "status", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let report = json(&out);
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["project"], config.project(), "{report:#}");
    for c in report["containers"].as_array().unwrap() {
        let service = c["service"].as_str();
        let (seccomp_file, _) = expected_profiles(service).expect("a compose service");
        assert_eq!(c["seccomp"]["kind"], "ours", "{c:#}");
        assert_eq!(c["seccomp"]["file"], seccomp_file.as_str(), "{c:#}");
        assert_eq!(c["shortfalls"], Value::Array(Vec::new()), "{c:#}");
        assert_eq!(c["cap_drop"], serde_json::json!(["ALL"]), "{c:#}");
        assert_eq!(c["read_only_root"], true, "{c:#}");
        assert_eq!(c["no_new_privileges"], true, "{c:#}");
        assert!(c["pids_limit"].as_i64().is_some_and(|n| n > 0), "{c:#}");
        assert!(c["memory_limit"].as_i64().is_some_and(|n| n > 0), "{c:#}");
        let user = c["user"].as_str().unwrap();
        assert!(!user.is_empty() && !user.starts_with("0:"), "{c:#}");
        for secret in c["secrets"].as_array().unwrap() {
            assert_eq!(secret["read_only"], true, "{c:#}");
        }
        for port in c["ports"].as_array().unwrap() {
            assert_eq!(port["host_ip"], c["bind_address"], "{c:#}");
        }
    }
    let pg = container(&report, &postgres);
    assert_eq!(pg["service"], "postgres");
    assert_eq!(pg["seccomp"]["file"], "postgres.json");
    assert_eq!(
        pg["user"],
        format!("{}:{}", config.uid(), config.gid()),
        "{pg:#}"
    );
    let ports = pg["ports"].as_array().unwrap();
    assert!(!ports.is_empty(), "postgres publishes its port: {pg:#}");
    for port in ports {
        assert_eq!(port["host_ip"], config.bind_address(), "{pg:#}");
        assert_eq!(port["container_port"], "5432/tcp", "{pg:#}");
    }
    let secrets: Vec<&str> = pg["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["destination"].as_str().unwrap())
        .collect();
    for secret in [
        "/run/secrets/postgres_superuser_password",
        "/run/secrets/server.key",
    ] {
        assert!(secrets.contains(&secret), "`{secret}` in {secrets:?}");
    }
    let side = container(&report, &sidecar);
    assert_eq!(side["seccomp"]["file"], "postgres.json");
    assert_eq!(side["ports"], Value::Array(Vec::new()), "{side:#}");
    if report["host_apparmor"] == false {
        assert!(pg["apparmor"].is_null(), "{pg:#}");
        let out = xtask(&state, &["security", "status"]);
        assert!(out.stdout.contains("host has no AppArmor"), "{out}");
    }

    // A container of the project started with Docker's defaults: no cap_drop (and no
    // seccomp profile of ours, no read-only root, no limits).
    let probe = format!("{}-probe_no_cap_drop", config.project());
    let running = ContainerSpec::unconfined(config.image())
        .name(&probe)
        .label("com.docker.compose.project", config.project())
        .entrypoint(&["sleep"])
        .cmd(&["600"])
        .start(&t.stack.docker)
        .unwrap_or_else(|err| panic!("starting `{probe}` failed: {err:#}"));

    let out = xtask(&state, &["security", "status"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout
            .lines()
            .any(|line| line.starts_with(&format!("FAIL {probe}: capabilities: "))),
        "the probe's missing cap_drop must be named:\n{out}"
    );
    for property in ["read-only-root", "seccomp", "pids-limit", "memory-limit"] {
        assert!(
            out.stdout.contains(&format!("FAIL {probe}: {property}: ")),
            "`{property}` of the probe must be named:\n{out}"
        );
    }
    assert!(
        !out.stdout.contains(&format!("FAIL {postgres}:"))
            && !out.stdout.contains(&format!("FAIL {sidecar}:")),
        "only the probe falls short:\n{out}"
    );

    let out = xtask(&state, &["security", "status", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let report = json(&out);
    assert_eq!(report["passed"], false, "{report:#}");
    let bad = container(&report, &probe);
    assert_eq!(bad["service"], Value::Null, "{bad:#}");
    assert_eq!(bad["cap_drop"], Value::Array(Vec::new()), "{bad:#}");
    assert_eq!(bad["seccomp"]["kind"], "engine_default", "{bad:#}");
    let properties: Vec<&str> = bad["shortfalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["property"].as_str().unwrap())
        .collect();
    assert!(properties.contains(&"capabilities"), "{bad:#}");
    assert_eq!(
        container(&report, &postgres)["shortfalls"],
        Value::Array(Vec::new())
    );

    // Gone again: the stack passes.
    drop(running);
    let out = xtask(&state, &["security", "status"]);
    assert_eq!(out.code, Some(0), "{out}");
}
