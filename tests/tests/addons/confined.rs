//! An add-on container's confinement read back through the Docker API: its
//! own seccomp profile (the file's JSON, applied), all capabilities dropped,
//! no-new-privileges, a read-only root, the stack's UID, a pids limit, and no
//! port published on the host.

use core_data_tests::TestStack;

/// Panics naming what falls short on `service`'s running container. `published_on`:
/// `None` for a service that publishes no port, else the one host address its ports
/// may be published on.
pub(crate) fn assert_confined(t: &TestStack, service: &str, published_on: Option<&str>) {
    let container = t.stack.config.container_name(service);
    let inspect = t
        .stack
        .docker
        .inspect_container(&container)
        .unwrap()
        .unwrap_or_else(|| panic!("`{container}` does not exist"));
    let host = inspect.host_config.clone().unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.paths().seccomp_dir().join(format!("{service}.json"))).unwrap(),
    )
    .unwrap();
    let security_opt = host.security_opt.clone().unwrap_or_default();
    let applied = security_opt
        .iter()
        .find_map(|opt| opt.strip_prefix("seccomp="))
        .unwrap_or_else(|| panic!("`{container}`: no seccomp profile in {security_opt:?}"));
    let applied: serde_json::Value = serde_json::from_str(applied).unwrap();
    assert_eq!(
        applied, shipped,
        "`{container}` must run under seccomp/{service}.json"
    );
    assert!(
        security_opt
            .iter()
            .any(|opt| opt == "no-new-privileges:true" || opt == "no-new-privileges"),
        "`{container}`: {security_opt:?}"
    );
    assert_eq!(host.cap_drop.clone().unwrap_or_default(), vec!["ALL"]);
    assert!(host.cap_add.clone().unwrap_or_default().is_empty());
    assert_eq!(
        host.readonly_rootfs,
        Some(true),
        "`{container}` root must be read-only"
    );
    assert!(
        host.pids_limit.unwrap_or(0) > 0,
        "`{container}` needs a pids limit"
    );
    assert!(
        host.memory.unwrap_or(0) > 0,
        "`{container}` needs a memory limit"
    );
    let config = inspect.config.unwrap();
    assert_eq!(
        config.user.as_deref(),
        Some(format!("{}:{}", t.stack.config.uid(), t.stack.config.gid()).as_str())
    );
    let published: Vec<(String, Option<String>)> = host
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(port, bindings)| {
            bindings
                .unwrap_or_default()
                .into_iter()
                .map(move |b| (port.clone(), b.host_ip))
        })
        .collect();
    match published_on {
        None => assert!(
            published.is_empty(),
            "`{container}` must not publish a port: {published:?}"
        ),
        Some(address) => {
            assert!(!published.is_empty(), "`{container}` publishes its port");
            assert!(
                published
                    .iter()
                    .all(|(_, ip)| ip.as_deref() == Some(address)),
                "`{container}` must publish on {address} only: {published:?}"
            );
        }
    }
}
