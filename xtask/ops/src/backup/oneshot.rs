//! One-shot and throw-away containers from the platform image, on the stack's
//! volumes (or fresh ones), confined like the service: the server's UID, no
//! capabilities, no-new-privileges, the postgres seccomp profile, no network.

use anyhow::bail;

use crate::process;
use crate::stack::Stack;

/// A volume or bind mount for `docker run --mount`.
#[derive(Debug, Clone)]
pub struct Mount {
    pub source: Option<String>,
    pub target: &'static str,
    pub read_only: bool,
    pub bind: bool,
}

impl Mount {
    /// A named volume (created by Docker if missing).
    pub fn volume(name: impl Into<String>, target: &'static str, read_only: bool) -> Mount {
        Mount {
            source: Some(name.into()),
            target,
            read_only,
            bind: false,
        }
    }

    /// A fresh anonymous volume, removed with the container (`docker rm --volumes`).
    pub fn anonymous(target: &'static str) -> Mount {
        Mount {
            source: None,
            target,
            read_only: false,
            bind: false,
        }
    }

    /// A read-only bind mount of a host path.
    pub fn bind(path: impl Into<String>, target: &'static str) -> Mount {
        Mount {
            source: Some(path.into()),
            target,
            read_only: true,
            bind: true,
        }
    }

    fn arg(&self) -> String {
        let kind = if self.bind { "bind" } else { "volume" };
        let mut arg = format!("type={kind},dst={}", self.target);
        if let Some(source) = &self.source {
            arg = format!("{arg},src={source}");
        }
        if self.read_only {
            arg.push_str(",readonly");
        }
        arg
    }
}

/// The stack's named volume `name` as compose names it.
pub fn volume_name(stack: &Stack, name: &str) -> String {
    format!("{}_{name}", stack.config.project())
}

/// Mounts every one-shot needs: the rendered configuration (for pgbackrest.conf and pg_hba.conf).
pub fn conf_mount(stack: &Stack) -> Mount {
    Mount::bind(
        crate::render::output_dir(&stack.paths).into_string(),
        "/etc/core_data/conf",
    )
}

/// The confinement flags shared by every container we start outside compose.
pub fn confinement(stack: &Stack) -> Vec<String> {
    vec![
        "--user".into(),
        format!("{}:{}", stack.config.uid(), stack.config.gid()),
        "--cap-drop=ALL".into(),
        "--security-opt=no-new-privileges:true".into(),
        format!(
            "--security-opt=seccomp={}",
            stack.paths.seccomp_dir().join("postgres.json")
        ),
        "--read-only".into(),
        "--tmpfs=/tmp:mode=1777,size=256m".into(),
        "--label".into(),
        format!("org.core-data.project={}", stack.config.project()),
    ]
}

/// Runs `entrypoint args…` in a container that is removed afterwards; returns stdout.
pub fn run(
    stack: &Stack,
    mounts: &[Mount],
    entrypoint: &str,
    args: &[&str],
) -> anyhow::Result<String> {
    let mut argv: Vec<String> = vec!["run".into(), "--rm".into(), "--network=none".into()];
    argv.extend(confinement(stack));
    for mount in mounts {
        argv.push(format!("--mount={}", mount.arg()));
    }
    argv.push(format!("--entrypoint={entrypoint}"));
    argv.push(stack.config.image().to_owned());
    argv.extend(args.iter().map(|arg| (*arg).to_owned()));
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let output = process::capture("docker", &refs)?;
    if !output.success {
        // Both streams: pgBackRest, for one, writes its errors to stdout.
        bail!(
            "`{entrypoint} {}` failed in a one-shot container:\n{}{}",
            args.join(" "),
            output.stdout,
            output.stderr.trim_end()
        );
    }
    Ok(output.stdout)
}

/// A long-lived container (`sleep infinity`) for work done in several `exec`
/// steps; removed with its anonymous volumes when dropped.
pub struct Throwaway {
    pub name: String,
}

impl Throwaway {
    pub fn start(
        stack: &Stack,
        name: &str,
        mounts: &[Mount],
        extra: &[String],
    ) -> anyhow::Result<Throwaway> {
        let _ = process::capture("docker", &["rm", "--force", "--volumes", name]);
        let mut argv: Vec<String> = vec!["run".into(), "--detach".into(), format!("--name={name}")];
        argv.extend(confinement(stack));
        argv.extend(extra.iter().cloned());
        for mount in mounts {
            argv.push(format!("--mount={}", mount.arg()));
        }
        argv.extend([
            "--entrypoint=sleep".into(),
            stack.config.image().to_owned(),
            "infinity".into(),
        ]);
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        process::run("docker", &refs)?;
        Ok(Throwaway {
            name: name.to_owned(),
        })
    }

    /// Runs `argv` in the container; a failure carries its output.
    pub fn exec(&self, stack: &Stack, argv: &[&str]) -> anyhow::Result<String> {
        let output = stack.docker.exec(&self.name, argv, None)?;
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

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = process::capture("docker", &["rm", "--force", "--volumes", &self.name]);
    }
}

/// Removes this stack's throw-away containers of `role` (label `org.core-data.role`)
/// that a killed run left behind, with anything still running in them.
pub fn sweep(stack: &Stack, role: &str) -> anyhow::Result<usize> {
    let labels = [
        format!("org.core-data.project={}", stack.config.project()),
        format!("org.core-data.role={role}"),
    ];
    let leftovers = stack.docker.containers_labelled(&labels)?;
    for container in &leftovers {
        if let Some(id) = &container.id {
            stack.docker.remove_container(id)?;
        }
    }
    Ok(leftovers.len())
}
