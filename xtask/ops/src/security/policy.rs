//! The confinement policy, in one table, and its judgement of one inspected
//! container (a pure function: `evaluate`). Every container of the stack must
//! run as a non-root user, unprivileged, in its own network, PID, IPC, user and
//! UTS namespaces, with no host devices and the engine's masked `/proc` and
//! `/sys` paths, drop every capability and add back only what its service's
//! row allows, set no-new-privileges, have a read-only root, a pids and a
//! memory limit, run under its service's seccomp profile from `seccomp/`,
//! publish ports only on its configured bind address (or loopback), mount its
//! secrets read-only and never the Docker socket, the whole `secrets/`
//! directory or the CA key. AppArmor is judged only where the engine applies
//! it (but asking for `apparmor=unconfined` is a shortfall everywhere).

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

use super::inspect::{Inspected, MountInfo, PublishedPort};
use super::seccomp::{OurProfiles, Seccomp};

/// One service's row: what it may add back and which profiles it runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePolicy {
    pub service: &'static str,
    /// Capabilities it may add after `cap_drop: ALL` (names without `CAP_`).
    pub cap_add: &'static [&'static str],
    /// Its file in `seccomp/`.
    pub seccomp: &'static str,
    /// Its AppArmor profile when `APPARMOR=enabled` (a profile of `apparmor/`).
    pub apparmor: &'static str,
}

/// The policy. A service that is not listed gets `DEFAULT`'s row with its own
/// name: no capabilities, `seccomp/<service>.json`, `core_data_<service>`.
/// `logical_backup` and the `ha` topology's nodes `pg1…pg5` run the postgres
/// image, under postgres's profiles; the etcd members share `etcd`'s;
/// the dashboard runs on the same base image and C library under postgres's
/// seccomp profile and its own AppArmor profile.
pub const POLICY: &[ServicePolicy] = &[
    ServicePolicy {
        service: "postgres",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "logical_backup",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "dashboard",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_dashboard",
    },
    // The `ha` topology (compose/ha.yaml): the nodes run the postgres image under its
    // profiles; the etcd members share one; `haproxy` takes the default row.
    ServicePolicy {
        service: "pg1",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "pg2",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "pg3",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "pg4",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "pg5",
        cap_add: &[],
        seccomp: "postgres.json",
        apparmor: "core_data_postgres",
    },
    ServicePolicy {
        service: "etcd1",
        cap_add: &[],
        seccomp: "etcd.json",
        apparmor: "core_data_etcd",
    },
    ServicePolicy {
        service: "etcd2",
        cap_add: &[],
        seccomp: "etcd.json",
        apparmor: "core_data_etcd",
    },
    ServicePolicy {
        service: "etcd3",
        cap_add: &[],
        seccomp: "etcd.json",
        apparmor: "core_data_etcd",
    },
];

/// The row of `service`; a service outside `POLICY` (and a container that
/// is no compose service) may add no capability.
pub fn policy_of(service: Option<&str>) -> Option<ServicePolicy> {
    POLICY
        .iter()
        .find(|row| Some(row.service) == service)
        .copied()
}

/// The seccomp file and AppArmor profile `service` must run under: its row's,
/// or `<service>.json` and `core_data_<service>` for a service outside
/// `POLICY`; `None` for a container that is no compose service (then any
/// profile of ours will do).
pub fn expected_profiles(service: Option<&str>) -> Option<(String, String)> {
    match (policy_of(service), service) {
        (Some(row), _) => Some((row.seccomp.to_owned(), row.apparmor.to_owned())),
        (None, Some(service)) => Some((format!("{service}.json"), format!("core_data_{service}"))),
        (None, None) => None,
    }
}

/// What the engine does with AppArmor, and what `.env` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppArmorMode {
    /// The host (the engine) applies no AppArmor; nothing to judge.
    HostLacks,
    /// `APPARMOR=enabled`: each service must run under its own profile.
    Enabled,
    /// `APPARMOR=disabled`: anything but `unconfined` (Docker's `docker-default`).
    Disabled,
}

/// Everything `evaluate` judges against besides the container.
#[derive(Debug, Clone)]
pub struct Context {
    /// The configured bind address of each service that has a key of its own
    /// (`PGBOUNCER_BIND_ADDRESS` for `pgbouncer`); every port the service publishes
    /// must be on it, or on loopback.
    pub bind_addresses: BTreeMap<String, String>,
    /// The address for every other container (`POSTGRES_BIND_ADDRESS`).
    pub default_bind_address: String,
    pub seccomp_profiles: OurProfiles,
    pub apparmor: AppArmorMode,
    /// The state's `secrets/` directory, each way a mount's source may spell it
    /// (as compose is given it, and canonical): no container mounts it whole.
    pub secrets_dirs: Vec<Utf8PathBuf>,
    /// The CA's key (`secrets/tls/ca.key`), likewise: no container mounts it.
    pub ca_keys: Vec<Utf8PathBuf>,
}

/// One way a container falls short of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    /// `user`, `privileged`, `namespaces`, `devices`, `system-paths`, `capabilities`,
    /// `no-new-privileges`, `read-only-root`, `seccomp`, `apparmor`, `ports`,
    /// `pids-limit`, `memory-limit`, `secrets`, `docker-socket`.
    pub property: &'static str,
    pub detail: String,
}

/// A secret mounted into the container (destination under `/run/secrets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMount {
    pub destination: String,
    pub read_only: bool,
}

/// One container's confinement and where it falls short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSecurity {
    pub name: String,
    pub service: Option<String>,
    /// The configured address its ports may be published on (loopback: loopback only).
    pub bind_address: String,
    /// `Config.User`; empty means the image's default.
    pub user: String,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub privileged: bool,
    /// The namespaces it shares with the host (`network`, `pid`, `ipc`, `user`, `uts`).
    pub host_namespaces: Vec<String>,
    /// Host devices added to it (`host path:container path`) and device cgroup rules.
    pub devices: Vec<String>,
    pub no_new_privileges: bool,
    pub read_only_root: bool,
    pub seccomp: Seccomp,
    /// The profile the engine applied, or `null` when the host has no AppArmor.
    pub apparmor: Option<String>,
    pub ports: Vec<PublishedPort>,
    /// `null` when unlimited.
    pub pids_limit: Option<i64>,
    /// Bytes; `null` when unlimited.
    pub memory_limit: Option<i64>,
    pub secrets: Vec<SecretMount>,
    /// Empty when the container meets the policy.
    pub shortfalls: Vec<Shortfall>,
}

/// A capability's name as the policy spells it: upper case, no `CAP_`.
fn capability(name: &str) -> String {
    let upper = name.trim().to_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_owned()
}

/// True for `root`, `0`, `0:…`, `root:…` and an empty user (the image's
/// default, which the policy does not trust).
fn runs_as_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default().trim();
    name.is_empty() || name == "root" || name.parse::<u64>() == Ok(0)
}

fn is_loopback(host_ip: &str) -> bool {
    host_ip
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// An address that stands for every interface: `0.0.0.0`, `::`, or none given.
fn is_unspecified(ip: &str) -> bool {
    ip.is_empty()
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
}

/// True when a port published on `host_ip` is reachable only where the configured
/// `bind_address` allows: loopback always is, anything is when the configured address
/// is a wildcard, otherwise only that address itself.
fn within_bind_address(host_ip: &str, bind_address: &str) -> bool {
    let same = match (
        host_ip.parse::<std::net::IpAddr>(),
        bind_address.parse::<std::net::IpAddr>(),
    ) {
        (Ok(published), Ok(configured)) => published == configured,
        _ => host_ip == bind_address,
    };
    is_loopback(host_ip) || is_unspecified(bind_address) || same
}

/// True when a mount of `source` gives the container `path` (the path itself or a
/// directory above it).
fn mount_holds(source: &str, path: &Utf8Path) -> bool {
    !source.is_empty() && path.starts_with(source)
}

/// True when a mount of `source` gives the container the Docker engine's socket: a
/// socket file named `…docker.sock`, or a directory holding the engine's default one.
fn exposes_docker_socket(source: &str) -> bool {
    source.trim_end_matches('/').ends_with("docker.sock")
        || ["/run/docker.sock", "/var/run/docker.sock"]
            .iter()
            .any(|socket| mount_holds(source, Utf8Path::new(socket)))
}

fn is_secret(mount: &MountInfo) -> bool {
    mount.destination == "/run/secrets" || mount.destination.starts_with("/run/secrets/")
}

/// Judges one container against its service's row of `POLICY`.
pub fn evaluate(container: &Inspected, context: &Context) -> ContainerSecurity {
    let mut shortfalls = Vec::new();
    let mut fall_short = |property: &'static str, detail: String| {
        shortfalls.push(Shortfall { property, detail });
    };
    let service = container.service.as_deref();
    let allowed: &[&str] = policy_of(service).map_or(&[], |row| row.cap_add);
    let (seccomp_file, apparmor_profile) = expected_profiles(service).unzip();

    if runs_as_root(&container.user) {
        fall_short(
            "user",
            if container.user.is_empty() {
                "no user is set (the image's default); the policy wants a non-root `uid:gid`"
                    .to_owned()
            } else {
                format!("runs as `{}` (root)", container.user)
            },
        );
    }
    if container.privileged {
        fall_short("privileged", "runs privileged".to_owned());
    }
    let host_namespaces: Vec<String> = [
        ("network", "NetworkMode", &container.network_mode),
        ("pid", "PidMode", &container.pid_mode),
        ("ipc", "IpcMode", &container.ipc_mode),
        ("user", "UsernsMode", &container.userns_mode),
        ("uts", "UTSMode", &container.uts_mode),
    ]
    .into_iter()
    .filter(|(_, _, mode)| mode.as_str() == "host")
    .map(|(namespace, field, _)| {
        fall_short(
            "namespaces",
            format!("shares the host's {namespace} namespace ({field}: host)"),
        );
        namespace.to_owned()
    })
    .collect();
    let devices: Vec<String> = container
        .devices
        .iter()
        .chain(&container.device_cgroup_rules)
        .cloned()
        .collect();
    for device in &container.devices {
        fall_short("devices", format!("has the host device `{device}`"));
    }
    for rule in &container.device_cgroup_rules {
        fall_short("devices", format!("has the device cgroup rule `{rule}`"));
    }
    let unconfined_paths = container
        .security_opt
        .iter()
        .any(|opt| opt == "systempaths=unconfined")
        || [&container.masked_paths, &container.readonly_paths]
            .iter()
            .any(|paths| paths.as_ref().is_some_and(Vec::is_empty));
    if unconfined_paths && !container.privileged {
        fall_short(
            "system-paths",
            "runs with `systempaths=unconfined`: /proc and /sys are not masked or read-only"
                .to_owned(),
        );
    }
    let dropped: Vec<String> = container.cap_drop.iter().map(|c| capability(c)).collect();
    if !dropped.iter().any(|cap| cap == "ALL") {
        fall_short(
            "capabilities",
            format!(
                "does not drop ALL capabilities (CapDrop: [{}])",
                container.cap_drop.join(", ")
            ),
        );
    }
    let extra: Vec<String> = container
        .cap_add
        .iter()
        .map(|c| capability(c))
        .filter(|cap| !allowed.contains(&cap.as_str()))
        .collect();
    if !extra.is_empty() {
        fall_short(
            "capabilities",
            format!(
                "adds {}; the policy allows {} {}",
                extra.join(", "),
                service.map_or_else(
                    || "a container of no service".to_owned(),
                    |service| format!("`{service}`")
                ),
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
        );
    }
    let no_new_privileges = container.security_opt.iter().any(|opt| {
        matches!(
            opt.as_str(),
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
        )
    });
    if !no_new_privileges {
        fall_short(
            "no-new-privileges",
            "no-new-privileges is not set".to_owned(),
        );
    }
    if !container.readonly_rootfs {
        fall_short(
            "read-only-root",
            "the root filesystem is writable".to_owned(),
        );
    }
    let seccomp = Seccomp::of(&container.security_opt, &context.seccomp_profiles);
    let wanted = seccomp_file.as_ref().map_or_else(
        || "a profile of seccomp/".to_owned(),
        |file| format!("seccomp/{file}"),
    );
    match (&seccomp, &seccomp_file) {
        (Seccomp::Ours(file), Some(expected)) if file == expected => {}
        (Seccomp::Ours(_), None) => {}
        (other, _) => fall_short(
            "seccomp",
            format!("runs under {other}; the policy says {wanted}"),
        ),
    }
    let apparmor = match context.apparmor {
        AppArmorMode::HostLacks => {
            // Ignored by this engine, applied by one on a host with AppArmor.
            if let Some(opt) = container
                .security_opt
                .iter()
                .find(|opt| matches!(opt.as_str(), "apparmor=unconfined" | "apparmor:unconfined"))
            {
                fall_short(
                    "apparmor",
                    format!("asks for `{opt}` (this host applies no AppArmor; one with it would run the container unconfined)"),
                );
            }
            None
        }
        mode => {
            let applied = container.apparmor_profile.clone();
            if applied.is_empty() || applied == "unconfined" {
                fall_short(
                    "apparmor",
                    format!("runs without an AppArmor profile (`{applied}`)"),
                );
            } else if let Some(expected) = apparmor_profile
                .as_ref()
                .filter(|expected| mode == AppArmorMode::Enabled && applied != **expected)
            {
                fall_short(
                    "apparmor",
                    format!("runs under `{applied}`; with APPARMOR=enabled the policy says `{expected}`"),
                );
            }
            Some(applied)
        }
    };
    let bind_address = service
        .and_then(|service| context.bind_addresses.get(service))
        .unwrap_or(&context.default_bind_address)
        .clone();
    for port in &container.ports {
        if !within_bind_address(&port.host_ip, &bind_address) {
            let address = if port.host_ip.is_empty() {
                "every address"
            } else {
                port.host_ip.as_str()
            };
            fall_short(
                "ports",
                format!(
                    "{} is published on {address}:{}; the configured bind address is {bind_address}",
                    port.container_port, port.host_port
                ),
            );
        }
    }
    let pids_limit = container.pids_limit.filter(|limit| *limit > 0);
    if pids_limit.is_none() {
        fall_short("pids-limit", "no pids limit".to_owned());
    }
    let memory_limit = container.memory.filter(|bytes| *bytes > 0);
    if memory_limit.is_none() {
        fall_short("memory-limit", "no memory limit".to_owned());
    }
    let secrets: Vec<SecretMount> = container
        .mounts
        .iter()
        .filter(|mount| is_secret(mount))
        .map(|mount| SecretMount {
            destination: mount.destination.clone(),
            read_only: mount.read_only,
        })
        .collect();
    for secret in secrets.iter().filter(|secret| !secret.read_only) {
        fall_short(
            "secrets",
            format!("`{}` is mounted writable", secret.destination),
        );
    }
    for mount in &container.mounts {
        let source = mount.source.as_str();
        if exposes_docker_socket(source) {
            fall_short(
                "docker-socket",
                format!(
                    "mounts `{source}` at `{}`: the Docker engine's socket (root on the host)",
                    mount.destination
                ),
            );
        }
        if let Some(dir) = context
            .secrets_dirs
            .iter()
            .find(|dir| mount_holds(source, dir))
        {
            fall_short(
                "secrets",
                format!(
                    "mounts `{source}` at `{}`: the whole secrets directory `{dir}`",
                    mount.destination
                ),
            );
        } else if let Some(key) = context.ca_keys.iter().find(|key| mount_holds(source, key)) {
            fall_short(
                "secrets",
                format!(
                    "mounts `{source}` at `{}`: the CA key `{key}` (no container holds it)",
                    mount.destination
                ),
            );
        }
    }

    ContainerSecurity {
        name: container.name.clone(),
        service: container.service.clone(),
        bind_address,
        user: container.user.clone(),
        cap_drop: container.cap_drop.clone(),
        cap_add: container.cap_add.clone(),
        privileged: container.privileged,
        host_namespaces,
        devices,
        no_new_privileges,
        read_only_root: container.readonly_rootfs,
        seccomp,
        apparmor,
        ports: container.ports.clone(),
        pids_limit,
        memory_limit,
        secrets,
        shortfalls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}"#;

    fn context(apparmor: AppArmorMode) -> Context {
        Context {
            bind_addresses: BTreeMap::from([
                ("postgres".to_owned(), "127.0.0.1".to_owned()),
                ("pgbouncer".to_owned(), "0.0.0.0".to_owned()),
            ]),
            default_bind_address: "127.0.0.1".to_owned(),
            seccomp_profiles: OurProfiles::from_texts(&[
                ("postgres.json", PROFILE),
                (
                    "valkey.json",
                    r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [1]}"#,
                ),
            ]),
            apparmor,
            secrets_dirs: vec![
                Utf8PathBuf::from("/srv/core_data/secrets"),
                Utf8PathBuf::from("/mnt/disk/core_data/secrets"),
            ],
            ca_keys: vec![
                Utf8PathBuf::from("/srv/core_data/secrets/tls/ca.key"),
                Utf8PathBuf::from("/mnt/disk/core_data/secrets/tls/ca.key"),
            ],
        }
    }

    /// A postgres container as compose starts it.
    fn confined() -> Inspected {
        Inspected {
            name: "core_data-postgres".to_owned(),
            service: Some("postgres".to_owned()),
            user: "999:999".to_owned(),
            cap_add: Vec::new(),
            cap_drop: vec!["ALL".to_owned()],
            security_opt: vec![
                "no-new-privileges:true".to_owned(),
                format!("seccomp={PROFILE}"),
            ],
            readonly_rootfs: true,
            privileged: false,
            apparmor_profile: String::new(),
            ports: vec![PublishedPort {
                container_port: "5432/tcp".to_owned(),
                host_ip: "127.0.0.1".to_owned(),
                host_port: "5432".to_owned(),
            }],
            pids_limit: Some(1024),
            memory: Some(1 << 30),
            mounts: vec![
                MountInfo {
                    source: "/srv/core_data/secrets/tls/server.key".to_owned(),
                    destination: "/run/secrets/server.key".to_owned(),
                    read_only: true,
                },
                MountInfo {
                    source: "/var/lib/docker/volumes/core_data_pgdata/_data".to_owned(),
                    destination: "/var/lib/postgresql/data".to_owned(),
                    read_only: false,
                },
            ],
            network_mode: "core_data_core_data".to_owned(),
            pid_mode: String::new(),
            ipc_mode: "private".to_owned(),
            userns_mode: String::new(),
            uts_mode: String::new(),
            devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
            masked_paths: Some(vec!["/proc/kcore".to_owned(), "/sys/firmware".to_owned()]),
            readonly_paths: Some(vec!["/proc/sys".to_owned()]),
        }
    }

    /// The shortfalls of `confined()` after `change`, by property.
    fn with(change: &dyn Fn(&mut Inspected)) -> Vec<&'static str> {
        let mut container = confined();
        change(&mut container);
        properties(&container, AppArmorMode::HostLacks)
    }

    fn properties(container: &Inspected, mode: AppArmorMode) -> Vec<&'static str> {
        evaluate(container, &context(mode))
            .shortfalls
            .iter()
            .map(|s| s.property)
            .collect()
    }

    #[test]
    fn a_confined_container_meets_the_policy() {
        let report = evaluate(&confined(), &context(AppArmorMode::HostLacks));
        assert_eq!(report.shortfalls, Vec::new());
        assert_eq!(report.seccomp, Seccomp::Ours("postgres.json".to_owned()));
        assert_eq!(report.apparmor, None);
        assert_eq!(
            report.secrets,
            vec![SecretMount {
                destination: "/run/secrets/server.key".to_owned(),
                read_only: true
            }]
        );
    }

    #[test]
    fn each_property_falls_short_on_its_own() {
        let mode = AppArmorMode::HostLacks;
        let with = |change: &dyn Fn(&mut Inspected)| {
            let mut container = confined();
            change(&mut container);
            properties(&container, mode)
        };
        for user in ["", "0", "root", "0:0", "root:999", "00"] {
            assert_eq!(
                with(&|c| c.user = user.to_owned()),
                ["user"],
                "user `{user}`"
            );
        }
        assert_eq!(
            with(&|c| c.user = "postgres".to_owned()),
            Vec::<&str>::new()
        );
        assert_eq!(with(&|c| c.privileged = true), ["privileged"]);
        assert_eq!(with(&|c| c.cap_drop.clear()), ["capabilities"]);
        assert_eq!(
            with(&|c| c.cap_drop = vec!["NET_RAW".to_owned()]),
            ["capabilities"]
        );
        assert_eq!(
            with(&|c| c.cap_drop = vec!["cap_all".to_owned()]),
            Vec::<&str>::new()
        );
        assert_eq!(
            with(&|c| c.cap_add = vec!["CAP_NET_ADMIN".to_owned()]),
            ["capabilities"]
        );
        assert_eq!(
            with(&|c| drop(c.security_opt.remove(0))),
            ["no-new-privileges"]
        );
        assert_eq!(with(&|c| c.readonly_rootfs = false), ["read-only-root"]);
        assert_eq!(with(&|c| c.security_opt.truncate(1)), ["seccomp"]);
        assert_eq!(
            with(&|c| c.security_opt[1] = "seccomp=unconfined".to_owned()),
            ["seccomp"]
        );
        // Ours, but another service's profile.
        assert_eq!(
            with(&|c| c.security_opt[1] =
                r#"seccomp={"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [1]}"#.to_owned()),
            ["seccomp"]
        );
        assert_eq!(
            with(&|c| c.ports[0].host_ip = "0.0.0.0".to_owned()),
            ["ports"]
        );
        assert_eq!(with(&|c| c.ports[0].host_ip = "::".to_owned()), ["ports"]);
        assert_eq!(
            with(&|c| c.ports[0].host_ip = "::1".to_owned()),
            Vec::<&str>::new()
        );
        assert_eq!(with(&|c| c.pids_limit = Some(-1)), ["pids-limit"]);
        assert_eq!(with(&|c| c.pids_limit = None), ["pids-limit"]);
        assert_eq!(with(&|c| c.memory = Some(0)), ["memory-limit"]);
        assert_eq!(with(&|c| c.mounts[0].read_only = false), ["secrets"]);
        // A writable mount elsewhere is no secret.
        assert_eq!(with(&|c| c.mounts[1].read_only = false), Vec::<&str>::new());
    }

    #[test]
    fn wildcard_ports_are_fine_when_the_services_bind_address_is_not_loopback() {
        let mut container = confined();
        container.ports[0].host_ip = "0.0.0.0".to_owned();
        let mut open = context(AppArmorMode::HostLacks);
        open.bind_addresses
            .insert("postgres".to_owned(), "0.0.0.0".to_owned());
        assert_eq!(evaluate(&container, &open).shortfalls, Vec::new());
        // A service with its own key is judged by it; the others by the default.
        let mut pgbouncer = container.clone();
        pgbouncer.service = Some("pgbouncer".to_owned());
        pgbouncer.security_opt[1] = "seccomp=unconfined".to_owned();
        let report = evaluate(&pgbouncer, &context(AppArmorMode::HostLacks));
        assert_eq!(report.bind_address, "0.0.0.0");
        assert!(
            report.shortfalls.iter().all(|s| s.property != "ports"),
            "{report:?}"
        );
        let mut sidecar = container;
        sidecar.service = Some("logical_backup".to_owned());
        let report = evaluate(&sidecar, &context(AppArmorMode::HostLacks));
        assert_eq!(report.bind_address, "127.0.0.1");
        assert_eq!(report.shortfalls.len(), 1, "{report:?}");
        assert_eq!(report.shortfalls[0].property, "ports");
    }

    #[test]
    fn a_host_namespace_falls_short() {
        let host = || "host".to_owned();
        assert_eq!(with(&|c| c.network_mode = host()), ["namespaces"]);
        assert_eq!(with(&|c| c.pid_mode = host()), ["namespaces"]);
        assert_eq!(with(&|c| c.ipc_mode = host()), ["namespaces"]);
        assert_eq!(with(&|c| c.userns_mode = host()), ["namespaces"]);
        assert_eq!(with(&|c| c.uts_mode = host()), ["namespaces"]);
        // The network and PID namespaces together: one shortfall each, both reported.
        let mut container = confined();
        container.network_mode = host();
        container.pid_mode = host();
        let report = evaluate(&container, &context(AppArmorMode::HostLacks));
        assert_eq!(report.host_namespaces, ["network", "pid"]);
        assert_eq!(report.shortfalls.len(), 2, "{report:?}");
        assert!(report.shortfalls[0].detail.contains("NetworkMode"));
        // Its own namespaces, or another container's network (a sidecar's), are fine.
        assert_eq!(
            with(&|c| c.network_mode = "container:core_data-postgres".to_owned()),
            Vec::<&str>::new()
        );
        assert_eq!(
            with(&|c| c.ipc_mode = "shareable".to_owned()),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn an_added_device_falls_short() {
        assert_eq!(
            with(&|c| c.devices = vec!["/dev/sda:/dev/sda".to_owned()]),
            ["devices"]
        );
        assert_eq!(
            with(&|c| c.device_cgroup_rules = vec!["c 1:3 mr".to_owned()]),
            ["devices"]
        );
        let mut container = confined();
        container.devices = vec!["/dev/fuse:/dev/fuse".to_owned()];
        let report = evaluate(&container, &context(AppArmorMode::HostLacks));
        assert_eq!(report.devices, ["/dev/fuse:/dev/fuse"]);
        assert!(report.shortfalls[0].detail.contains("/dev/fuse"));
    }

    #[test]
    fn unmasked_system_paths_fall_short() {
        // What `--security-opt systempaths=unconfined` leaves (the CLI and compose turn it
        // into empty lists; the engine itself refuses the option).
        assert_eq!(
            with(&|c| {
                c.masked_paths = Some(Vec::new());
                c.readonly_paths = Some(Vec::new());
            }),
            ["system-paths"]
        );
        assert_eq!(
            with(&|c| c.masked_paths = Some(Vec::new())),
            ["system-paths"]
        );
        assert_eq!(
            with(&|c| c.security_opt.push("systempaths=unconfined".to_owned())),
            ["system-paths"]
        );
        // An engine that does not report them (before API 1.40) is not judged on them.
        assert_eq!(
            with(&|c| {
                c.masked_paths = None;
                c.readonly_paths = None;
            }),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn asking_for_no_apparmor_falls_short_on_any_host() {
        assert_eq!(
            with(&|c| c.security_opt.push("apparmor=unconfined".to_owned())),
            ["apparmor"]
        );
        assert_eq!(
            with(&|c| c.security_opt.push("apparmor=docker-default".to_owned())),
            Vec::<&str>::new()
        );
        // Where the engine applies AppArmor, it is judged by the profile it applied.
        let mut container = confined();
        container
            .security_opt
            .push("apparmor=unconfined".to_owned());
        container.apparmor_profile = "unconfined".to_owned();
        assert_eq!(properties(&container, AppArmorMode::Disabled), ["apparmor"]);
        // And `seccomp=unconfined` is the seccomp check's.
        assert_eq!(
            with(&|c| c.security_opt[1] = "seccomp=unconfined".to_owned()),
            ["seccomp"]
        );
    }

    #[test]
    fn mounting_the_docker_socket_falls_short() {
        let mount = |source: &str| MountInfo {
            source: source.to_owned(),
            destination: "/var/run/docker.sock".to_owned(),
            read_only: true,
        };
        for source in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/user/1000/docker.sock",
            "/run",
            "/var/run/",
        ] {
            assert_eq!(
                with(&|c| c.mounts.push(mount(source))),
                ["docker-socket"],
                "{source}"
            );
        }
        assert_eq!(
            with(&|c| c.mounts.push(mount("/run/postgresql"))),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn mounting_the_secrets_directory_or_the_ca_key_falls_short() {
        let mount = |source: &str| MountInfo {
            source: source.to_owned(),
            destination: "/mnt/x".to_owned(),
            read_only: true,
        };
        for source in [
            "/srv/core_data/secrets",
            "/srv/core_data/secrets/",
            "/srv/core_data",
            // The canonical spelling of the same directory.
            "/mnt/disk/core_data/secrets",
            "/srv/core_data/secrets/tls",
            "/srv/core_data/secrets/tls/ca.key",
            "/mnt/disk/core_data/secrets/tls/ca.key",
        ] {
            assert_eq!(
                with(&|c| c.mounts.push(mount(source))),
                ["secrets"],
                "{source}"
            );
        }
        let mut container = confined();
        container
            .mounts
            .push(mount("/srv/core_data/secrets/tls/ca.key"));
        let report = evaluate(&container, &context(AppArmorMode::HostLacks));
        assert!(report.shortfalls[0].detail.contains("CA key"), "{report:?}");
        // A service's own files are fine, and so is a name that only starts the same.
        for source in [
            "/srv/core_data/secrets/tls/ca.crt",
            "/srv/core_data/secrets/postgres_superuser_password",
            "/srv/core_data/secrets-old",
            "/srv/core_data/secrets/tls/ca.key.old",
            "/srv/core_data/rendered",
        ] {
            assert_eq!(
                with(&|c| c.mounts.push(mount(source))),
                Vec::<&str>::new(),
                "{source}"
            );
        }
        // Mounting `/` hands over everything.
        assert_eq!(
            with(&|c| c.mounts.push(mount("/"))),
            ["docker-socket", "secrets"]
        );
    }

    #[test]
    fn a_port_off_the_configured_bind_address_falls_short() {
        // The shortfalls of postgres publishing on `host_ip` when configured for `bind`.
        let judged = |bind: &str, host_ip: &str| {
            let mut context = context(AppArmorMode::HostLacks);
            context
                .bind_addresses
                .insert("postgres".to_owned(), bind.to_owned());
            let mut container = confined();
            container.ports[0].host_ip = host_ip.to_owned();
            evaluate(&container, &context)
                .shortfalls
                .iter()
                .map(|s| s.property)
                .collect::<Vec<_>>()
        };
        assert_eq!(judged("10.0.0.5", "10.0.0.5"), Vec::<&str>::new());
        assert_eq!(judged("10.0.0.5", "127.0.0.1"), Vec::<&str>::new());
        for wider in ["0.0.0.0", "::", "", "10.0.0.6"] {
            assert_eq!(judged("10.0.0.5", wider), ["ports"], "`{wider}`");
        }
        // A wildcard bind address allows every address.
        assert_eq!(judged("0.0.0.0", "::"), Vec::<&str>::new());
        assert_eq!(judged("0.0.0.0", "10.0.0.6"), Vec::<&str>::new());
        // An IPv6 address in another spelling is the same address.
        assert_eq!(judged("fd00::5", "fd00:0::5"), Vec::<&str>::new());
        assert_eq!(judged("fd00::5", "fd00::6"), ["ports"]);
    }

    #[test]
    fn apparmor_is_judged_only_where_the_engine_applies_it() {
        let mut container = confined();
        container.apparmor_profile = "unconfined".to_owned();
        assert_eq!(
            properties(&container, AppArmorMode::HostLacks),
            Vec::<&str>::new()
        );
        assert_eq!(properties(&container, AppArmorMode::Disabled), ["apparmor"]);
        container.apparmor_profile = "docker-default".to_owned();
        assert_eq!(
            properties(&container, AppArmorMode::Disabled),
            Vec::<&str>::new()
        );
        assert_eq!(properties(&container, AppArmorMode::Enabled), ["apparmor"]);
        container.apparmor_profile = "core_data_postgres".to_owned();
        assert_eq!(
            properties(&container, AppArmorMode::Enabled),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn a_service_outside_the_table_gets_its_own_profiles_and_no_capabilities() {
        assert_eq!(
            expected_profiles(Some("valkey")),
            Some(("valkey.json".to_owned(), "core_data_valkey".to_owned()))
        );
        assert_eq!(
            expected_profiles(Some("logical_backup")),
            Some(("postgres.json".to_owned(), "core_data_postgres".to_owned()))
        );
        assert_eq!(expected_profiles(None), None);
        let mut container = confined();
        container.service = Some("valkey".to_owned());
        container.security_opt[1] =
            r#"seccomp={"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [1]}"#.to_owned();
        assert_eq!(
            properties(&container, AppArmorMode::HostLacks),
            Vec::<&str>::new()
        );
        container.cap_add = vec!["SETUID".to_owned()];
        assert_eq!(
            properties(&container, AppArmorMode::HostLacks),
            ["capabilities"]
        );
    }
}
