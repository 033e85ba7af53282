//! The only way to Docker: a blocking facade over bollard (images, containers,
//! health, exec, logs, volumes, networks) and `ContainerSpec`, the one way to
//! start a container outside compose. It owns a current-thread tokio runtime
//! so the CLI and the runbook engine stay synchronous. The `docker` CLI is
//! spawned only for `docker build` (`image/build.rs`), `docker compose`
//! (`compose.rs`) and the interactive psql (`psql.rs`); a tidy test holds that.

mod capped;
mod cleanup;
mod exec;
mod image;
mod spec;

pub use capped::Capped;
pub use exec::{CappedExec, ExecIo, ExecOutput, ExecStatus, Feed};
pub use spec::{ContainerSpec, Mount, Running};

use std::collections::HashMap;

use anyhow::Context;
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::StreamExt;

pub struct Docker {
    runtime: tokio::runtime::Runtime,
    client: bollard::Docker,
}

/// `Ok(None)` for the engine's 404 ("no such container/volume/network/image"),
/// so a missing object is an answer, not an error; other errors keep `what`.
pub(super) fn found<T>(
    result: Result<T, bollard::errors::Error>,
    what: impl FnOnce() -> String,
) -> anyhow::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(err) => Err(err).with_context(what),
    }
}

impl Docker {
    /// Connects to the local engine and agrees on an API version it speaks
    /// (Docker 20.10 stops at 1.41).
    pub fn connect() -> anyhow::Result<Docker> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime
            .block_on(async { bollard::Docker::connect_with_local_defaults()?.negotiate_version().await })
            .context("cannot reach the Docker engine; is it running, and may this user use /var/run/docker.sock?")?;
        Ok(Docker { runtime, client })
    }

    /// The engine's version string and API version.
    pub fn server_version(&self) -> anyhow::Result<(String, String)> {
        let version = self.runtime.block_on(self.client.version())?;
        Ok((
            version.version.unwrap_or_default(),
            version.api_version.unwrap_or_default(),
        ))
    }

    /// Full inspection of a container, or `None` when it does not exist.
    pub fn inspect_container(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<ContainerInspectResponse>> {
        found(
            self.runtime
                .block_on(self.client.inspect_container(name, None)),
            || format!("failed to inspect container `{name}`"),
        )
    }

    /// `healthy`, `unhealthy`, `starting`, `none`, `stopped`, `restarting` (its
    /// process exited and Docker is about to start it again), or `None` when
    /// the container does not exist.
    pub fn health(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.inspect_container(name)?.map(health_of))
    }

    /// [`health`](Self::health), except that a container Docker still reports
    /// `starting` is `healthy` when its own health check, run now with `exec`
    /// under the check's timeout, passes. Docker runs the first check one
    /// `interval` after the start (this engine has no `start_interval`), so
    /// waiting for its word alone costs up to an interval on every start.
    pub fn health_now(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(inspect) = self.inspect_container(name)? else {
            return Ok(None);
        };
        let check = inspect.config.as_ref().and_then(|c| c.healthcheck.clone());
        let health = Some(health_of(inspect));
        let Some(check) = check.filter(|_| health.as_deref() == Some("starting")) else {
            return Ok(health);
        };
        let test = check.test.unwrap_or_default();
        let timeout = check
            .timeout
            .filter(|ns| *ns > 0)
            .map_or(30, |ns| (ns / 1_000_000_000).max(1))
            .to_string();
        let mut argv = vec!["timeout", timeout.as_str()];
        match test.split_first() {
            Some((kind, command)) if kind == "CMD" && !command.is_empty() => {
                argv.extend(command.iter().map(String::as_str));
            }
            // A `CMD-SHELL` check (none of ours) is left to Docker.
            _ => return Ok(health),
        }
        // A check that cannot even be run (the container just exited) has not passed;
        // the next look at Docker's state says what happened.
        let passed = self
            .exec(name, &argv, None)
            .is_ok_and(|output| output.exit_code == 0);
        Ok(Some(if passed { "healthy" } else { "starting" }.to_owned()))
    }

    /// CPU time the container's processes have used since it started (user
    /// and system, all cores), from the engine's one-shot statistics: what a
    /// benchmark subtracts before and after a phase to see the work it did.
    pub fn cpu_seconds(&self, name: &str) -> anyhow::Result<f64> {
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = self.runtime.block_on(async {
            let mut stream = self.client.stats(name, Some(options));
            stream.next().await
        });
        let stats = stats
            .with_context(|| format!("the engine returned no statistics for `{name}`"))?
            .with_context(|| format!("failed to read the statistics of `{name}`"))?;
        let nanos = stats
            .cpu_stats
            .and_then(|cpu| cpu.cpu_usage)
            .and_then(|usage| usage.total_usage)
            .with_context(|| format!("the statistics of `{name}` carry no CPU usage"))?;
        Ok(nanos as f64 / 1e9)
    }

    /// The last health check outputs of a container, newest last.
    pub fn health_log(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let inspect = self.inspect_container(name)?;
        Ok(inspect
            .and_then(|inspect| inspect.state)
            .and_then(|state| state.health)
            .and_then(|health| health.log)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| entry.output)
            .collect())
    }

    /// Every container (running or not) of a compose project.
    pub fn project_containers(&self, project: &str) -> anyhow::Result<Vec<ContainerSummary>> {
        self.containers_labelled(&[format!("com.docker.compose.project={project}")])
    }

    /// The running containers of a compose project (its stopped ones left out).
    pub fn running_project_containers(
        &self,
        project: &str,
    ) -> anyhow::Result<Vec<ContainerSummary>> {
        self.list_containers(
            HashMap::from([
                (
                    "label",
                    vec![format!("com.docker.compose.project={project}")],
                ),
                ("status", vec!["running".to_owned()]),
            ]),
            &format!("the running containers of `{project}`"),
        )
    }

    /// The engine's security features as `docker info` lists them
    /// (`name=seccomp,profile=default`, `name=apparmor`, `name=rootless`, …).
    pub fn security_options(&self) -> anyhow::Result<Vec<String>> {
        let info = self
            .runtime
            .block_on(self.client.info())
            .context("failed to read the Docker engine's information")?;
        Ok(info.security_options.unwrap_or_default())
    }

    /// Every container (running or not) carrying all of `labels` (`key=value` each).
    pub fn containers_labelled(&self, labels: &[String]) -> anyhow::Result<Vec<ContainerSummary>> {
        self.list_containers(
            HashMap::from([("label", labels.to_vec())]),
            &format!("the containers labelled {labels:?}"),
        )
    }

    /// Every container (running or not) whose name contains `fragment`.
    pub fn containers_named(&self, fragment: &str) -> anyhow::Result<Vec<ContainerSummary>> {
        self.list_containers(
            HashMap::from([("name", vec![fragment.to_owned()])]),
            &format!("the containers named like `{fragment}`"),
        )
    }

    /// The one container listing: every container (running or not) matching `filters`.
    fn list_containers(
        &self,
        filters: HashMap<&str, Vec<String>>,
        what: &str,
    ) -> anyhow::Result<Vec<ContainerSummary>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.runtime
            .block_on(self.client.list_containers(Some(options)))
            .with_context(|| format!("failed to list {what}"))
    }

    /// The last `lines` lines of a container's log (stdout and stderr, in order).
    pub fn logs_tail(&self, container: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        Ok(self.logs_tail_capped(container, lines, usize::MAX)?.0)
    }

    /// Like `logs_tail`, but keeps only the newest `max_bytes` (whole lines);
    /// also returns how many bytes of older lines were dropped.
    pub fn logs_tail_capped(
        &self,
        container: &str,
        lines: usize,
        max_bytes: usize,
    ) -> anyhow::Result<(Vec<String>, u64)> {
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut text = Capped::tail(max_bytes);
        self.read_logs(container, options, |chunk| text.push(chunk))?;
        let (text, dropped) = text.finish();
        Ok((text.lines().map(str::to_owned).collect(), dropped))
    }

    /// Streams a container's log, chunk by chunk, into `sink`.
    fn read_logs(
        &self,
        container: &str,
        options: bollard::query_parameters::LogsOptions,
        mut sink: impl FnMut(&[u8]),
    ) -> anyhow::Result<()> {
        let what = || format!("failed to read the log of container `{container}`");
        self.runtime.block_on(async {
            let mut stream = self.client.logs(container, Some(options));
            while let Some(chunk) = stream.next().await {
                sink(&chunk.with_context(what)?.into_bytes());
            }
            Ok(())
        })
    }

    /// A container's whole log with the engine's receive time of each line
    /// (stdout and stderr, in order), and when the container last started.
    pub fn logs_timed(
        &self,
        container: &str,
    ) -> anyhow::Result<(jiff::Timestamp, Vec<(jiff::Timestamp, String)>)> {
        let started = self
            .inspect_container(container)?
            .and_then(|inspect| inspect.state)
            .and_then(|state| state.started_at)
            .with_context(|| format!("container `{container}` has no start time"))?;
        let started: jiff::Timestamp = started
            .parse()
            .with_context(|| format!("container `{container}` start time `{started}`"))?;
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        self.read_logs(container, options, |chunk| bytes.extend_from_slice(chunk))?;
        let lines = String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| {
                let (at, rest) = line.split_once(' ')?;
                Some((at.parse().ok()?, rest.to_owned()))
            })
            .collect();
        Ok((started, lines))
    }

    /// Sends `signal` (`KILL`, `TERM`, …) to a running container.
    pub fn kill(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.runtime
            .block_on(self.client.kill_container(name, Some(options)))
            .with_context(|| format!("failed to send SIG{signal} to container `{name}`"))
    }

    /// Starts a stopped container as it was created (a node of the `ha` topology
    /// that was killed rejoins this way).
    pub fn start(&self, name: &str) -> anyhow::Result<()> {
        self.runtime
            .block_on(self.client.start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            ))
            .with_context(|| format!("failed to start container `{name}`"))
    }

    /// Cuts a running container off `network` (a partition, in the `ha` tests);
    /// [`connect_network`](Self::connect_network) joins it again.
    pub fn disconnect_network(&self, network: &str, container: &str) -> anyhow::Result<()> {
        let request = bollard::models::NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(true),
        };
        self.runtime
            .block_on(self.client.disconnect_network(network, request))
            .with_context(|| format!("failed to disconnect `{container}` from network `{network}`"))
    }

    /// Joins a container to `network` again, under its compose service name.
    pub fn connect_network(
        &self,
        network: &str,
        container: &str,
        aliases: &[&str],
    ) -> anyhow::Result<()> {
        let request = bollard::models::NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(aliases.iter().map(|a| (*a).to_owned()).collect()),
                ..Default::default()
            }),
        };
        self.runtime
            .block_on(self.client.connect_network(network, request))
            .with_context(|| format!("failed to connect `{container}` to network `{network}`"))
    }

    /// Removes a volume; a missing one is not an error.
    pub fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        let options = bollard::query_parameters::RemoveVolumeOptionsBuilder::default()
            .force(true)
            .build();
        found(
            self.runtime
                .block_on(self.client.remove_volume(name, Some(options))),
            || format!("failed to remove volume `{name}`"),
        )
        .map(drop)
    }

    /// Creates a volume with `labels` (compose's, for a volume of a stack made
    /// before compose first ran: compose then takes it as its own).
    pub fn create_volume(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<()> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        };
        self.runtime
            .block_on(self.client.create_volume(request))
            .with_context(|| format!("failed to create volume `{name}`"))?;
        Ok(())
    }

    /// Creates a bridge network with `subnet` (a CIDR).
    pub fn create_network(&self, name: &str, subnet: &str) -> anyhow::Result<()> {
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            ipam: Some(bollard::models::Ipam {
                config: Some(vec![bollard::models::IpamConfig {
                    subnet: Some(subnet.to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.runtime
            .block_on(self.client.create_network(request))
            .with_context(|| format!("failed to create network `{name}` ({subnet})"))?;
        Ok(())
    }

    /// Removes a network; a missing one is not an error.
    pub fn remove_network(&self, name: &str) -> anyhow::Result<()> {
        found(
            self.runtime.block_on(self.client.remove_network(name)),
            || format!("failed to remove network `{name}`"),
        )
        .map(drop)
    }

    /// The names of every network.
    pub fn network_names(&self) -> anyhow::Result<Vec<String>> {
        let networks = self
            .runtime
            .block_on(
                self.client
                    .list_networks(None::<bollard::query_parameters::ListNetworksOptions>),
            )
            .context("failed to list the networks")?;
        Ok(networks.into_iter().filter_map(|n| n.name).collect())
    }

    /// The names of every volume.
    pub fn volume_names(&self) -> anyhow::Result<Vec<String>> {
        let volumes = self
            .runtime
            .block_on(
                self.client
                    .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>),
            )
            .context("failed to list the volumes")?;
        Ok(volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// True when a volume of that name exists.
    pub fn volume_exists(&self, name: &str) -> anyhow::Result<bool> {
        Ok(found(
            self.runtime.block_on(self.client.inspect_volume(name)),
            || format!("failed to inspect volume `{name}`"),
        )?
        .is_some())
    }

    /// Removes a container, running or not; a missing one is not an error.
    pub fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        found(
            self.runtime
                .block_on(self.client.remove_container(name, Some(options))),
            || format!("failed to remove container `{name}`"),
        )
        .map(drop)
    }
}

/// A container's health as [`Docker::health`] names it, from its inspection.
fn health_of(inspect: ContainerInspectResponse) -> String {
    let state = inspect.state.unwrap_or_default();
    if state.restarting.unwrap_or(false) {
        return "restarting".to_owned();
    }
    if !state.running.unwrap_or(false) {
        return "stopped".to_owned();
    }
    state
        .health
        .and_then(|health| health.status)
        .map_or_else(|| "none".to_owned(), |s| s.to_string())
}
