//! `security status` on a container that is confined the usual way (non-root,
//! `cap_drop: ALL`, no-new-privileges, read-only root, our seccomp profile,
//! limits) but escapes in ways those do not cover: the host's network
//! namespace, a socket named `docker.sock` and the state's whole `secrets/`
//! directory mounted. Read through the real engine and the real CLI, so the
//! inspect mapping (`HostConfig.NetworkMode`, `Mounts[].Source`) and the state's
//! paths are what is judged. Needs no running stack: the stack's configuration
//! and secrets only.

use core_data_ops::docker::{ContainerSpec, Mount};
use core_data_tests::{xtask, TestStack};
use serde_json::Value;

pub(crate) fn escapes_are_named() {
    let t = TestStack::new("sec_escapes", 232);
    let config = &t.stack.config;
    let state = t.paths().state().to_owned();
    // A regular file is enough: the policy goes by the mount's source, and this test
    // has no reason to hand the real engine socket to a container.
    let socket = state.join("docker.sock");
    std::fs::write(&socket, "").unwrap();
    let probe = format!("{}-probe_escapes", config.project());
    let running = ContainerSpec::confined(
        config.image(),
        config.uid(),
        config.gid(),
        &t.paths().seccomp_dir().join("postgres.json"),
    )
    .unwrap()
    .name(&probe)
    .label("com.docker.compose.project", config.project())
    .label("com.docker.compose.service", "postgres")
    .network("host")
    .mount(Mount::bind(socket.as_str(), "/run/docker.sock"))
    .mount(Mount::bind(
        t.paths().secrets_dir().as_str(),
        "/mnt/secrets",
    ))
    .limits(None, Some(256), None)
    .entrypoint(&["sleep"])
    .cmd(&["600"])
    .start(&t.stack.docker)
    .unwrap_or_else(|err| panic!("starting `{probe}` failed: {err:#}"));

    let out = xtask(&state, &["security", "status", "--format", "json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"));
    let container = report["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == probe.as_str())
        .unwrap_or_else(|| panic!("`{probe}` is not in the report:\n{report:#}"));
    let mut properties: Vec<&str> = container["shortfalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["property"].as_str().unwrap())
        .collect();
    properties.sort();
    // Everything else about it meets the policy, so these three are all it is short of.
    assert_eq!(
        properties,
        ["docker-socket", "namespaces", "secrets"],
        "{container:#}"
    );
    assert_eq!(
        container["host_namespaces"],
        serde_json::json!(["network"]),
        "{container:#}"
    );

    let out = xtask(&state, &["security", "status"]);
    assert_eq!(out.code, Some(1), "{out}");
    for property in ["namespaces", "docker-socket", "secrets"] {
        assert!(
            out.stdout
                .lines()
                .any(|line| line.starts_with(&format!("FAIL {probe}: {property}: "))),
            "`{property}` of the probe must be named:\n{out}"
        );
    }
    assert!(out.stdout.contains("the whole secrets directory"), "{out}");
    drop(running);
}
