//! What one container's confinement is, read from the Docker API's inspect data
//! (`Config.User`, `HostConfig` with its namespace modes, devices and masked
//! paths, `AppArmorProfile`, `Mounts`, `NetworkSettings.Ports`) into plain data
//! the policy can judge without Docker.

use bollard::models::ContainerInspectResponse;
use serde::Serialize;

/// A published port: the container's port and where on the host it is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    /// `5432/tcp`.
    pub container_port: String,
    /// The host address (`127.0.0.1`, `0.0.0.0`, `::`); empty means every address.
    pub host_ip: String,
    pub host_port: String,
}

/// A mount of the container: where it comes from, where it is and whether the
/// container may write it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MountInfo {
    /// The host path (a bind mount's, or a volume's data directory); empty for tmpfs.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// One container's confinement as the engine reports it.
#[derive(Debug, Clone, Default)]
pub struct Inspected {
    /// The container's name, without Docker's leading `/`.
    pub name: String,
    /// Its compose service (label `com.docker.compose.service`), if any.
    pub service: Option<String>,
    /// `Config.User` as given (`999:999`, `postgres`, empty for the image's default).
    pub user: String,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `HostConfig.SecurityOpt`: `no-new-privileges:true`, `seccomp=<profile JSON>`, `apparmor=…`.
    pub security_opt: Vec<String>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    /// `AppArmorProfile`: empty when the engine applies none (a host without AppArmor).
    pub apparmor_profile: String,
    pub ports: Vec<PublishedPort>,
    /// `HostConfig.PidsLimit`; 0, -1 or absent mean unlimited.
    pub pids_limit: Option<i64>,
    /// `HostConfig.Memory` in bytes; 0 or absent mean unlimited.
    pub memory: Option<i64>,
    pub mounts: Vec<MountInfo>,
    /// `HostConfig.NetworkMode`, `PidMode`, `IpcMode`, `UsernsMode`, `UTSMode`:
    /// `host` shares that namespace with the host.
    pub network_mode: String,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub userns_mode: String,
    pub uts_mode: String,
    /// `HostConfig.Devices` as `host path:container path`, and `DeviceCgroupRules`.
    pub devices: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    /// `HostConfig.MaskedPaths` and `ReadonlyPaths`: the engine fills in its defaults
    /// (`/proc/kcore`, `/proc/sys`, …); `systempaths=unconfined` leaves both empty.
    /// `None` when the engine does not say (before API 1.40).
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

impl Inspected {
    /// Plain data from the engine's inspect response.
    pub fn from_inspect(inspect: &ContainerInspectResponse) -> Inspected {
        let host = inspect.host_config.clone().unwrap_or_default();
        let config = inspect.config.clone().unwrap_or_default();
        let mut ports: Vec<PublishedPort> = inspect
            .network_settings
            .as_ref()
            .and_then(|settings| settings.ports.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|(container_port, bindings)| {
                bindings.iter().flatten().map(move |binding| PublishedPort {
                    container_port: container_port.clone(),
                    host_ip: binding.host_ip.clone().unwrap_or_default(),
                    host_port: binding.host_port.clone().unwrap_or_default(),
                })
            })
            .collect();
        ports.sort_by(|a, b| {
            (&a.container_port, &a.host_ip, &a.host_port).cmp(&(
                &b.container_port,
                &b.host_ip,
                &b.host_port,
            ))
        });
        let mut mounts: Vec<MountInfo> = inspect
            .mounts
            .iter()
            .flatten()
            .map(|mount| MountInfo {
                source: mount.source.clone().unwrap_or_default(),
                destination: mount.destination.clone().unwrap_or_default(),
                // The engine says `RW`; a mount it does not describe counts as writable.
                read_only: mount.rw == Some(false),
            })
            .collect();
        mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
        Inspected {
            name: inspect
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            service: config
                .labels
                .as_ref()
                .and_then(|labels| labels.get("com.docker.compose.service"))
                .cloned(),
            user: config.user.unwrap_or_default(),
            cap_add: host.cap_add.unwrap_or_default(),
            cap_drop: host.cap_drop.unwrap_or_default(),
            security_opt: host.security_opt.unwrap_or_default(),
            readonly_rootfs: host.readonly_rootfs.unwrap_or(false),
            privileged: host.privileged.unwrap_or(false),
            apparmor_profile: inspect.app_armor_profile.clone().unwrap_or_default(),
            ports,
            pids_limit: host.pids_limit,
            memory: host.memory,
            mounts,
            network_mode: host.network_mode.unwrap_or_default(),
            pid_mode: host.pid_mode.unwrap_or_default(),
            ipc_mode: host.ipc_mode.unwrap_or_default(),
            userns_mode: host.userns_mode.unwrap_or_default(),
            uts_mode: host.uts_mode.unwrap_or_default(),
            devices: host
                .devices
                .unwrap_or_default()
                .into_iter()
                .map(|device| {
                    format!(
                        "{}:{}",
                        device.path_on_host.unwrap_or_default(),
                        device.path_in_container.unwrap_or_default()
                    )
                })
                .collect(),
            device_cgroup_rules: host.device_cgroup_rules.unwrap_or_default(),
            masked_paths: host.masked_paths,
            readonly_paths: host.readonly_paths,
        }
    }
}
