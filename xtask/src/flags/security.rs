//! Arguments of `security status|apparmor-load`.

use clap::{Args, Subcommand};

use super::FormatArg;

#[derive(Debug, Subcommand)]
pub(crate) enum SecurityCommand {
    /// For every running container of the stack, read through the Docker API: user,
    /// privileged, the host's namespaces (network, PID, IPC, user, UTS), added devices,
    /// unmasked system paths, capabilities, no-new-privileges, read-only root, seccomp profile
    /// (and which file of `seccomp/` it is), AppArmor profile, published ports and their host
    /// addresses (each must be the service's `*_BIND_ADDRESS` or loopback), pids and memory
    /// limits, mounted secrets, and mounts of the Docker socket, the whole `secrets/`
    /// directory or the CA key. Exits 1 when a container falls short of the policy (each
    /// shortfall is printed as `container: property: detail`) or none runs. Stopped containers
    /// are listed, not inspected.
    Status(SecurityStatus),
    /// Load (or replace) every profile of `apparmor/` with `apparmor_parser -r` (needs root).
    /// On a host without AppArmor it says so and changes nothing. Set `APPARMOR=enabled` in
    /// `.env` and run `cargo xtask up` to apply them.
    ApparmorLoad,
}

#[derive(Debug, Args)]
pub(crate) struct SecurityStatus {
    #[command(flatten)]
    pub(crate) format: FormatArg,
}
