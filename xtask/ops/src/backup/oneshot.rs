//! One-shot and throw-away containers from the platform image, on the stack's
//! volumes (or fresh ones), confined like the service: `confined` is the
//! stack's `ContainerSpec` (its UID, the postgres seccomp profile, the project
//! label, no network); everything here is a thin use of it.

use anyhow::bail;

pub use crate::docker::Mount;
use crate::docker::{ContainerSpec, Running};
use crate::paths::Paths;
use crate::stack::Stack;

/// The label every container we start carries, with the project as its value.
pub const PROJECT_LABEL: &str = "org.core-data.project";
/// The label naming what a throw-away container is for (swept by it).
pub const ROLE_LABEL: &str = "org.core-data.role";

/// The stack's named volume `name` as compose names it.
pub fn volume_name(stack: &Stack, name: &str) -> String {
    format!("{}_{name}", stack.config.project())
}

/// The rendered configuration (for pgbackrest.conf and pg_hba.conf), read-only.
pub fn conf_mount(stack: &Stack) -> Mount {
    conf_bind(&stack.paths)
}

fn conf_bind(paths: &Paths) -> Mount {
    Mount::bind(
        crate::render::output_dir(paths).into_string(),
        "/etc/core_data/conf",
    )
}

/// What a server container needs beyond its volumes, all read-only: the
/// rendered configuration, the superuser's password file and the TLS files.
/// (compose.yaml declares the same for the service.)
pub fn server_mounts(paths: &Paths) -> Vec<Mount> {
    let tls_files = crate::tls::files(paths);
    let bind = |path: &camino::Utf8Path, target: &str| Mount::bind(path.as_str(), target);
    vec![
        conf_bind(paths),
        bind(
            &crate::secrets::superuser_password_file(paths),
            "/run/secrets/postgres_superuser_password",
        ),
        bind(&tls_files.server_cert, "/run/secrets/server.crt"),
        bind(&tls_files.server_key, "/run/secrets/server.key"),
        bind(&tls_files.ca_cert, "/run/secrets/ca.crt"),
    ]
}

/// A container of the stack's image, confined like the service and labelled with the project.
pub fn confined(stack: &Stack) -> anyhow::Result<ContainerSpec> {
    Ok(ContainerSpec::confined(
        stack.config.image(),
        stack.config.uid(),
        stack.config.gid(),
        &stack.paths.seccomp_dir().join("postgres.json"),
    )?
    .label(PROJECT_LABEL, stack.config.project()))
}

/// Runs `entrypoint args…` in a container that is removed afterwards; returns stdout.
pub fn run(
    stack: &Stack,
    mounts: &[Mount],
    entrypoint: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    confined(stack)?
        .mounts(mounts)
        .entrypoint(&[entrypoint])
        .cmd(args)
        .run_ok(&stack.docker)
}

/// A long-lived container (`sleep infinity`) for work done in several `exec`
/// steps, labelled with its `role`; removed with its anonymous volumes when dropped.
pub struct Throwaway<'a> {
    container: Running<'a>,
}

impl<'a> Throwaway<'a> {
    pub fn start(
        stack: &'a Stack,
        name: &str,
        role: &str,
        mounts: &[Mount],
    ) -> anyhow::Result<Throwaway<'a>> {
        Throwaway::start_with_tmp(stack, name, role, mounts, None)
    }

    /// `start` with its private `/tmp` mounted with `tmp_options` (e.g. a larger `size=`).
    pub fn start_with_tmp(
        stack: &'a Stack,
        name: &str,
        role: &str,
        mounts: &[Mount],
        tmp_options: Option<&str>,
    ) -> anyhow::Result<Throwaway<'a>> {
        // A throw-away of this name is only ever left by a killed run of the same step.
        stack.docker.remove_container(name)?;
        let mut spec = confined(stack)?;
        if let Some(options) = tmp_options {
            spec = spec.tmpfs("/tmp", options);
        }
        let container = spec
            .name(name)
            .label(ROLE_LABEL, role)
            .mounts(mounts)
            .entrypoint(&["sleep"])
            .cmd(&["infinity"])
            .start(&stack.docker)?;
        Ok(Throwaway { container })
    }

    pub fn name(&self) -> &str {
        self.container.name()
    }

    /// Runs `argv` in the container; a failure carries its output.
    pub fn exec(&self, stack: &Stack, argv: &[&str]) -> anyhow::Result<String> {
        let output = stack.docker.exec(self.name(), argv, None)?;
        if output.exit_code != 0 {
            bail!(
                "`{}` failed (exit {}):\n{}{}",
                argv.join(" "),
                output.exit_code,
                output.stdout,
                output.stderr.trim_end()
            );
        }
        Ok(output.stdout)
    }
}

/// Removes this stack's throw-away containers of `role` that a killed run
/// left behind, with anything still running in them.
pub fn sweep(stack: &Stack, role: &str) -> anyhow::Result<usize> {
    let labels = [
        format!("{PROJECT_LABEL}={}", stack.config.project()),
        format!("{ROLE_LABEL}={role}"),
    ];
    let leftovers = stack.docker.containers_labelled(&labels)?;
    for container in &leftovers {
        if let Some(id) = &container.id {
            stack.docker.remove_container(id)?;
        }
    }
    Ok(leftovers.len())
}
