//! The confinement policy, in one table, and its judgement of one inspected
//! container (a pure function: `evaluate`). Every container of the stack must
//! run as a non-root user, drop every capability and add back only what its
//! service's row allows, set no-new-privileges, have a read-only root, a pids
//! and a memory limit, run under its service's seccomp profile from `seccomp/`,
//! publish ports only on loopback when the configured bind address is
//! loopback, and mount its secrets read-only. AppArmor is judged only where
//! the engine applies it.

use std::collections::BTreeMap;

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
/// `logical_backup` runs the postgres image's sidecar, under postgres's profiles.
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
    /// (`PGBOUNCER_BIND_ADDRESS` for `pgbouncer`); when it is loopback, every port
    /// the service publishes must be too.
    pub bind_addresses: BTreeMap<String, String>,
    /// The address for every other container (`POSTGRES_BIND_ADDRESS`).
    pub default_bind_address: String,
    pub seccomp_profiles: OurProfiles,
    pub apparmor: AppArmorMode,
}

/// One way a container falls short of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortfall {
    /// `user`, `privileged`, `capabilities`, `no-new-privileges`, `read-only-root`,
    /// `seccomp`, `apparmor`, `ports`, `pids-limit`, `memory-limit`, `secrets`.
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
        AppArmorMode::HostLacks => None,
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
    if is_loopback(&bind_address) {
        for port in &container.ports {
            if !is_loopback(&port.host_ip) {
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

    ContainerSecurity {
        name: container.name.clone(),
        service: container.service.clone(),
        bind_address,
        user: container.user.clone(),
        cap_drop: container.cap_drop.clone(),
        cap_add: container.cap_add.clone(),
        privileged: container.privileged,
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
                    destination: "/run/secrets/server.key".to_owned(),
                    read_only: true,
                },
                MountInfo {
                    destination: "/var/lib/postgresql/data".to_owned(),
                    read_only: false,
                },
            ],
        }
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
