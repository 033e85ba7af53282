//! `ContainerSpec`: the one description of a container we start outside
//! compose (one-shots, throw-away workspaces, verify and QA servers, bench
//! floors). A confined spec carries the service's confinement by default: a
//! non-root user, every capability dropped, no-new-privileges, a read-only root
//! with a private `/tmp`, the deny-by-default seccomp profile, a pids limit, no
//! network. `start` returns a guard that removes the container (and its
//! anonymous volumes) when dropped or on Ctrl-C; `run` is a one-shot.

use std::collections::HashMap;

use anyhow::{bail, Context};
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount as ApiMount, MountType, PortBinding,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptions};
use camino::Utf8Path;
use futures_util::StreamExt;

use super::{cleanup, Docker};

/// A volume or bind mount.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Volume name or host path; `None` for a fresh anonymous volume.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub bind: bool,
}

impl Mount {
    /// A named volume (created by Docker if missing).
    pub fn volume(name: impl Into<String>, target: impl Into<String>, read_only: bool) -> Mount {
        Mount {
            source: Some(name.into()),
            target: target.into(),
            read_only,
            bind: false,
        }
    }

    /// A fresh anonymous volume, removed with the container.
    pub fn anonymous(target: impl Into<String>) -> Mount {
        Mount {
            source: None,
            target: target.into(),
            read_only: false,
            bind: false,
        }
    }

    /// A read-only bind mount of a host path (configuration, secrets, certificates).
    pub fn bind(path: impl Into<String>, target: impl Into<String>) -> Mount {
        Mount {
            source: Some(path.into()),
            target: target.into(),
            read_only: true,
            bind: true,
        }
    }

    fn api(&self) -> ApiMount {
        ApiMount {
            target: Some(self.target.clone()),
            source: self.source.clone(),
            typ: Some(if self.bind {
                MountType::BIND
            } else {
                MountType::VOLUME
            }),
            read_only: Some(self.read_only),
            ..Default::default()
        }
    }
}

/// What a confined container may not do.
#[derive(Debug, Clone)]
struct Confinement {
    /// The seccomp profile's JSON (the API takes the contents, not a path).
    seccomp: String,
    pids_limit: i64,
}

/// How to create one container; see the module comment for the defaults.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    image: String,
    name: Option<String>,
    entrypoint: Option<Vec<String>>,
    cmd: Vec<String>,
    user: Option<String>,
    env: Vec<String>,
    labels: HashMap<String, String>,
    mounts: Vec<Mount>,
    network: String,
    tmpfs: HashMap<String, String>,
    ports: HashMap<String, Option<Vec<PortBinding>>>,
    confinement: Option<Confinement>,
    shm_size: Option<i64>,
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    /// `HostConfig.SecurityOpt` entries besides the confinement's (`apparmor=<profile>`).
    security_opts: Vec<String>,
    /// Capabilities added back after the confinement dropped them all.
    cap_add: Vec<String>,
    healthcheck: Option<HealthConfig>,
}

impl ContainerSpec {
    /// A confined container of `image` running as `uid:gid` under the seccomp
    /// profile at `seccomp_profile`.
    pub fn confined(
        image: &str,
        uid: u32,
        gid: u32,
        seccomp_profile: &Utf8Path,
    ) -> anyhow::Result<ContainerSpec> {
        let seccomp = std::fs::read_to_string(seccomp_profile)
            .with_context(|| format!("cannot read the seccomp profile `{seccomp_profile}`"))?;
        let unconfined = ContainerSpec::unconfined(image);
        Ok(ContainerSpec {
            user: Some(format!("{uid}:{gid}")),
            tmpfs: HashMap::from([("/tmp".to_owned(), "mode=1777,size=256m".to_owned())]),
            confinement: Some(Confinement {
                seccomp,
                pids_limit: 512,
            }),
            ..unconfined
        })
    }

    /// A container with Docker's defaults only. Used for the bench floor,
    /// which measures a bare `docker run` of the image on purpose.
    pub fn unconfined(image: &str) -> ContainerSpec {
        ContainerSpec {
            image: image.to_owned(),
            name: None,
            entrypoint: None,
            cmd: Vec::new(),
            user: None,
            env: Vec::new(),
            labels: HashMap::new(),
            mounts: Vec::new(),
            network: "none".to_owned(),
            tmpfs: HashMap::new(),
            ports: HashMap::new(),
            confinement: None,
            shm_size: None,
            memory: None,
            nano_cpus: None,
            security_opts: Vec::new(),
            cap_add: Vec::new(),
            healthcheck: None,
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn entrypoint(mut self, argv: &[&str]) -> Self {
        self.entrypoint = Some(argv.iter().map(|a| (*a).to_owned()).collect());
        self
    }

    pub fn cmd<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.cmd = args.iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// A non-secret environment variable (secrets are files: mount them).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push(format!("{key}={value}"));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    pub fn mounts(mut self, mounts: &[Mount]) -> Self {
        self.mounts.extend(mounts.iter().cloned());
        self
    }

    /// Joins `network` (default: none).
    pub fn network(mut self, network: impl Into<String>) -> Self {
        self.network = network.into();
        self
    }

    /// Publishes the container's TCP `port` on `host_ip:host_port`.
    pub fn publish(mut self, host_ip: &str, host_port: u16, port: u16) -> Self {
        self.ports.insert(
            format!("{port}/tcp"),
            Some(vec![PortBinding {
                host_ip: Some(host_ip.to_owned()),
                host_port: Some(host_port.to_string()),
            }]),
        );
        self
    }

    /// A tmpfs at `path` with mount `options` (`uid=…,mode=…,size=…`).
    pub fn tmpfs(mut self, path: &str, options: &str) -> Self {
        self.tmpfs.insert(path.to_owned(), options.to_owned());
        self
    }

    /// One more `HostConfig.SecurityOpt` entry, such as `apparmor=core_data_postgres` (the
    /// confinement's no-new-privileges and seccomp profile stay).
    pub fn security_opt(mut self, option: impl Into<String>) -> Self {
        self.security_opts.push(option.into());
        self
    }

    /// Adds `capabilities` back (after `cap_drop: ALL`): only for a one-shot that
    /// must act on files of another owner (`adopt`'s copy, as root).
    pub fn cap_add(mut self, capabilities: &[&str]) -> Self {
        self.cap_add
            .extend(capabilities.iter().map(|cap| (*cap).to_owned()));
        self
    }

    pub fn pids_limit(mut self, limit: i64) -> Self {
        if let Some(confinement) = &mut self.confinement {
            confinement.pids_limit = limit;
        }
        self
    }

    /// A health check: `argv` run in the container (`CMD`) every `interval`.
    pub fn healthcheck(mut self, argv: &[&str], interval: std::time::Duration) -> Self {
        let test = std::iter::once("CMD")
            .chain(argv.iter().copied())
            .map(str::to_owned)
            .collect();
        self.healthcheck = Some(HealthConfig {
            test: Some(test),
            interval: Some(interval.as_nanos() as i64),
            timeout: Some(5_000_000_000),
            retries: Some(3),
            ..Default::default()
        });
        self
    }

    /// Sizes in megabytes and CPUs as Docker's `--cpus`.
    pub fn limits(
        mut self,
        shm_mb: Option<u64>,
        memory_mb: Option<u64>,
        cpus: Option<f64>,
    ) -> Self {
        let bytes = |mb: u64| (mb * 1024 * 1024) as i64;
        self.shm_size = shm_mb.map(bytes);
        self.memory = memory_mb.map(bytes);
        self.nano_cpus = cpus.map(|cpus| (cpus * 1e9) as i64);
        self
    }

    fn body(&self) -> ContainerCreateBody {
        let mut host = HostConfig {
            mounts: Some(self.mounts.iter().map(Mount::api).collect()),
            network_mode: Some(self.network.clone()),
            port_bindings: (!self.ports.is_empty()).then(|| self.ports.clone()),
            tmpfs: (!self.tmpfs.is_empty()).then(|| self.tmpfs.clone()),
            shm_size: self.shm_size,
            memory: self.memory,
            nano_cpus: self.nano_cpus,
            ..Default::default()
        };
        if let Some(confinement) = &self.confinement {
            host.cap_drop = Some(vec!["ALL".to_owned()]);
            host.security_opt = Some(vec![
                "no-new-privileges:true".to_owned(),
                format!("seccomp={}", confinement.seccomp),
            ]);
            host.readonly_rootfs = Some(true);
            host.pids_limit = Some(confinement.pids_limit);
        }
        if !self.cap_add.is_empty() {
            host.cap_add = Some(self.cap_add.clone());
        }
        if !self.security_opts.is_empty() {
            host.security_opt
                .get_or_insert_with(Vec::new)
                .extend(self.security_opts.iter().cloned());
        }
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: self.entrypoint.clone(),
            cmd: (!self.cmd.is_empty()).then(|| self.cmd.clone()),
            user: self.user.clone(),
            env: (!self.env.is_empty()).then(|| self.env.clone()),
            labels: Some(self.labels.clone()),
            exposed_ports: (!self.ports.is_empty())
                .then(|| self.ports.keys().map(|port| port.to_owned()).collect()),
            healthcheck: self.healthcheck.clone(),
            host_config: Some(host),
            ..Default::default()
        }
    }

    /// Creates and starts the container; a container of the same name already
    /// there is an error (the engine's), never removed here. The guard removes
    /// it when dropped unless `keep` is called.
    pub fn start(self, docker: &Docker) -> anyhow::Result<Running<'_>> {
        let what = || format!("failed to start a container of `{}`", self.image);
        let options = self
            .name
            .as_ref()
            .map(|name| CreateContainerOptionsBuilder::default().name(name).build());
        let id = docker
            .runtime
            .block_on(docker.client.create_container(options, self.body()))
            .with_context(what)?
            .id;
        cleanup::register(&id);
        let running = Running {
            docker,
            id,
            name: self.name.clone(),
            keep: false,
        };
        docker
            .runtime
            .block_on(docker.client.start_container(&running.id, None))
            .with_context(what)?;
        Ok(running)
    }

    /// Runs the container to its end and removes it. Returns its exit code,
    /// stdout and stderr.
    pub fn run(self, docker: &Docker) -> anyhow::Result<super::ExecOutput> {
        let running = self.start(docker)?;
        let exit_code = running.wait()?;
        let (stdout, stderr) = running.output()?;
        Ok(super::ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// `run`, failing with both streams when the exit code is not 0.
    pub fn run_ok(self, docker: &Docker) -> anyhow::Result<String> {
        let what = format!(
            "`{}` in a one-shot container of `{}`",
            self.entrypoint
                .iter()
                .flatten()
                .chain(self.cmd.iter())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            self.image
        );
        let output = self.run(docker)?;
        if output.exit_code != 0 {
            // Both streams: pgBackRest, for one, writes its errors to stdout.
            bail!(
                "{what} failed (exit {}):\n{}{}",
                output.exit_code,
                output.stdout,
                output.stderr.trim_end()
            );
        }
        Ok(output.stdout)
    }
}

/// A started container; removed with its anonymous volumes when dropped.
pub struct Running<'d> {
    docker: &'d Docker,
    id: String,
    name: Option<String>,
    keep: bool,
}

impl Running<'_> {
    /// The container's name, or its ID when it has none.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// Leaves the container running after the guard is gone (QA clones).
    pub fn keep(mut self) -> String {
        self.keep = true;
        cleanup::deregister(&self.id);
        self.name().to_owned()
    }

    /// Waits for the container to exit; returns its exit code.
    pub fn wait(&self) -> anyhow::Result<i64> {
        let docker = self.docker;
        docker.runtime.block_on(async {
            let mut stream = docker.client.wait_container(&self.id, None);
            match stream.next().await {
                Some(Ok(response)) => Ok(response.status_code),
                // A non-zero exit arrives as this error.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                    Ok(code)
                }
                Some(Err(err)) => Err(err).context("failed to wait for a container"),
                None => bail!("the engine ended the wait without a status"),
            }
        })
    }

    /// Everything the container printed: stdout and stderr.
    pub fn output(&self) -> anyhow::Result<(String, String)> {
        let docker = self.docker;
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        docker.runtime.block_on(async {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            let mut stream = docker.client.logs(&self.id, Some(options));
            while let Some(chunk) = stream.next().await {
                match chunk.context("failed to read a container's output")? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.extend_from_slice(&message)
                    }
                    other => stdout.extend_from_slice(&other.into_bytes()),
                }
            }
            Ok((
                String::from_utf8_lossy(&stdout).into_owned(),
                String::from_utf8_lossy(&stderr).into_owned(),
            ))
        })
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.docker.remove_container(&self.id);
            cleanup::deregister(&self.id);
        }
    }
}
