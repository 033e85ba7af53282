//! A blocking facade over bollard: the Docker API calls whose results we
//! inspect (images, containers, health, exec). It owns a current-thread tokio
//! runtime so the CLI and the runbook engine stay synchronous.

use std::collections::HashMap;

use anyhow::Context;
use bollard::models::{ContainerInspectResponse, ContainerSummary, ExecConfig};
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use futures_util::StreamExt;

pub struct Docker {
    runtime: tokio::runtime::Runtime,
    client: bollard::Docker,
}

/// The result of a command run inside a container.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
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

    /// The labels of a local image, or `None` when there is no such image.
    pub fn image_labels(&self, image: &str) -> anyhow::Result<Option<HashMap<String, String>>> {
        match self.runtime.block_on(self.client.inspect_image(image)) {
            Ok(inspect) => Ok(Some(
                inspect
                    .config
                    .and_then(|config| config.labels)
                    .unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("failed to inspect image `{image}`")),
        }
    }

    /// Full inspection of a container, or `None` when it does not exist.
    pub fn inspect_container(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<ContainerInspectResponse>> {
        match self
            .runtime
            .block_on(self.client.inspect_container(name, None))
        {
            Ok(inspect) => Ok(Some(inspect)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("failed to inspect container `{name}`")),
        }
    }

    /// `healthy`, `unhealthy`, `starting`, `none`, `stopped`, `restarting` (its
    /// process exited and Docker is about to start it again), or `None` when
    /// the container does not exist.
    pub fn health(&self, name: &str) -> anyhow::Result<Option<String>> {
        let Some(inspect) = self.inspect_container(name)? else {
            return Ok(None);
        };
        let state = inspect.state.unwrap_or_default();
        if state.restarting.unwrap_or(false) {
            return Ok(Some("restarting".to_owned()));
        }
        if !state.running.unwrap_or(false) {
            return Ok(Some("stopped".to_owned()));
        }
        let status = state
            .health
            .and_then(|health| health.status)
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        Ok(Some(status))
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
        let filters = HashMap::from([(
            "label",
            vec![format!("com.docker.compose.project={project}")],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.runtime
            .block_on(self.client.list_containers(Some(options)))
            .with_context(|| format!("failed to list the containers of project `{project}`"))
    }

    /// Runs `argv` inside a running container (no shell) and collects its output.
    pub fn exec(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
    ) -> anyhow::Result<ExecOutput> {
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.iter().map(|arg| (*arg).to_owned()).collect()),
            user: user.map(str::to_owned),
            ..Default::default()
        };
        let what = || {
            format!(
                "failed to run `{}` in container `{container}`",
                argv.join(" ")
            )
        };
        self.runtime.block_on(async {
            let exec = self
                .client
                .create_exec(container, config)
                .await
                .with_context(what)?;
            let mut stdout = String::new();
            let mut stderr = String::new();
            if let bollard::exec::StartExecResults::Attached { mut output, .. } = self
                .client
                .start_exec(&exec.id, None)
                .await
                .with_context(what)?
            {
                while let Some(chunk) = output.next().await {
                    match chunk.with_context(what)? {
                        bollard::container::LogOutput::StdErr { message } => {
                            stderr.push_str(&String::from_utf8_lossy(&message));
                        }
                        other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                    }
                }
            }
            let inspect = self
                .client
                .inspect_exec(&exec.id)
                .await
                .with_context(what)?;
            Ok(ExecOutput {
                exit_code: inspect.exit_code.unwrap_or(-1),
                stdout,
                stderr,
            })
        })
    }

    /// The last `lines` lines of a container's log (stdout and stderr, in order).
    pub fn logs_tail(&self, container: &str, lines: usize) -> anyhow::Result<Vec<String>> {
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let what = || format!("failed to read the log of container `{container}`");
        self.runtime.block_on(async {
            let mut text = String::new();
            let mut stream = self.client.logs(container, Some(options));
            while let Some(chunk) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(
                    &chunk.with_context(what)?.into_bytes(),
                ));
            }
            Ok(text.lines().map(str::to_owned).collect())
        })
    }

    /// Removes a container, running or not; a missing one is not an error.
    pub fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self
            .runtime
            .block_on(self.client.remove_container(name, Some(options)))
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("failed to remove container `{name}`")),
        }
    }
}
