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

/// An exec whose output was capped: how many bytes of each stream were dropped.
#[derive(Debug, Clone)]
pub struct CappedExec {
    pub output: ExecOutput,
    pub stdout_dropped: u64,
    pub stderr_dropped: u64,
}

/// A byte stream kept up to a limit: its first bytes (`head`) or its last
/// whole lines (`tail`). What does not fit is counted, not stored, so a chatty
/// command cannot exhaust memory. Text is decoded once at the end, so a
/// character split across chunks stays whole.
#[derive(Debug, Clone)]
pub struct Capped {
    kept: Vec<u8>,
    limit: usize,
    keep_tail: bool,
    dropped: u64,
}

impl Capped {
    pub fn head(limit: usize) -> Capped {
        Capped {
            kept: Vec::new(),
            limit,
            keep_tail: false,
            dropped: 0,
        }
    }

    pub fn tail(limit: usize) -> Capped {
        Capped {
            keep_tail: true,
            ..Capped::head(limit)
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if !self.keep_tail {
            let room = self.limit.saturating_sub(self.kept.len()).min(bytes.len());
            self.kept.extend_from_slice(&bytes[..room]);
            self.dropped += (bytes.len() - room) as u64;
            return;
        }
        self.kept.extend_from_slice(bytes);
        // Trim in batches: at most twice the limit is ever held.
        if self.kept.len() > self.limit.saturating_mul(2) {
            self.trim_front();
        }
    }

    fn trim_front(&mut self) {
        let excess = self.kept.len().saturating_sub(self.limit);
        self.kept.drain(..excess);
        self.dropped += excess as u64;
    }

    /// The kept text (invalid UTF-8 replaced) and the number of bytes dropped.
    /// A head cut ends on a character boundary; a tail cut starts on a whole line.
    pub fn finish(mut self) -> (String, u64) {
        if self.keep_tail {
            self.trim_front();
            if self.dropped > 0 {
                let partial = self
                    .kept
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(self.kept.len(), |i| i + 1);
                self.kept.drain(..partial);
                self.dropped += partial as u64;
            }
        } else if self.dropped > 0 {
            // Do not end inside a multi-byte character.
            let valid = match std::str::from_utf8(&self.kept) {
                Ok(_) => self.kept.len(),
                Err(err) if err.error_len().is_none() => err.valid_up_to(),
                Err(_) => self.kept.len(),
            };
            self.dropped += (self.kept.len() - valid) as u64;
            self.kept.truncate(valid);
        }
        (
            String::from_utf8_lossy(&self.kept).into_owned(),
            self.dropped,
        )
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
        self.containers_labelled(&[format!("com.docker.compose.project={project}")])
    }

    /// Every container (running or not) carrying all of `labels` (`key=value` each).
    pub fn containers_labelled(&self, labels: &[String]) -> anyhow::Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([("label", labels.to_vec())]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.runtime
            .block_on(self.client.list_containers(Some(options)))
            .with_context(|| format!("failed to list the containers labelled {labels:?}"))
    }

    /// Runs `argv` inside a running container with `input` on its stdin (no
    /// shell); collects its output. Used to write files into volumes (`dd of=`).
    pub fn exec_with_stdin(
        &self,
        container: &str,
        argv: &[&str],
        input: &[u8],
    ) -> anyhow::Result<ExecOutput> {
        Ok(self
            .run_exec(container, argv, None, usize::MAX, Some(input))?
            .output)
    }

    /// Runs `argv` inside a running container (no shell) and collects its output.
    pub fn exec(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
    ) -> anyhow::Result<ExecOutput> {
        Ok(self.exec_capped(container, argv, user, usize::MAX)?.output)
    }

    /// Like `exec`, but keeps at most `max_bytes` of stdout and of stderr (the
    /// first ones); the rest is read and counted, never held in memory.
    pub fn exec_capped(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
        max_bytes: usize,
    ) -> anyhow::Result<CappedExec> {
        self.run_exec(container, argv, user, max_bytes, None)
    }

    /// The one exec path: `input`, when given, is written to the command's stdin
    /// and closed before its output is read.
    fn run_exec(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
        max_bytes: usize,
        input: Option<&[u8]>,
    ) -> anyhow::Result<CappedExec> {
        use tokio::io::AsyncWriteExt;
        let config = ExecConfig {
            attach_stdin: Some(input.is_some()),
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
            let mut stdout = Capped::head(max_bytes);
            let mut stderr = Capped::head(max_bytes);
            if let bollard::exec::StartExecResults::Attached {
                mut output,
                input: mut stdin,
            } = self
                .client
                .start_exec(&exec.id, None)
                .await
                .with_context(what)?
            {
                if let Some(input) = input {
                    stdin.write_all(input).await.with_context(what)?;
                    stdin.shutdown().await.with_context(what)?;
                }
                drop(stdin);
                while let Some(chunk) = output.next().await {
                    match chunk.with_context(what)? {
                        bollard::container::LogOutput::StdErr { message } => stderr.push(&message),
                        other => stdout.push(&other.into_bytes()),
                    }
                }
            }
            let inspect = self
                .client
                .inspect_exec(&exec.id)
                .await
                .with_context(what)?;
            let (stdout, stdout_dropped) = stdout.finish();
            let (stderr, stderr_dropped) = stderr.finish();
            Ok(CappedExec {
                output: ExecOutput {
                    exit_code: inspect.exit_code.unwrap_or(-1),
                    stdout,
                    stderr,
                },
                stdout_dropped,
                stderr_dropped,
            })
        })
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
        let what = || format!("failed to read the log of container `{container}`");
        self.runtime.block_on(async {
            let mut text = Capped::tail(max_bytes);
            let mut stream = self.client.logs(container, Some(options));
            while let Some(chunk) = stream.next().await {
                text.push(&chunk.with_context(what)?.into_bytes());
            }
            let (text, dropped) = text.finish();
            Ok((text.lines().map(str::to_owned).collect(), dropped))
        })
    }

    /// True when a volume of that name exists.
    pub fn volume_exists(&self, name: &str) -> anyhow::Result<bool> {
        match self.runtime.block_on(self.client.inspect_volume(name)) {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(err) => Err(err).with_context(|| format!("failed to inspect volume `{name}`")),
        }
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

#[cfg(test)]
mod tests {
    use super::Capped;

    #[test]
    fn head_keeps_the_first_bytes_and_counts_the_rest() {
        let mut capped = Capped::head(10);
        capped.push(b"0123456");
        capped.push(b"789abcdef");
        capped.push(b"ghij");
        assert_eq!(capped.finish(), ("0123456789".to_owned(), 10));
        let mut small = Capped::head(10);
        small.push(b"short");
        assert_eq!(small.finish(), ("short".to_owned(), 0));
    }

    #[test]
    fn head_never_ends_inside_a_character() {
        let mut capped = Capped::head(4);
        // "abc" + the first byte of "é" fits; that byte is dropped too.
        capped.push("abcé!".as_bytes());
        assert_eq!(capped.finish(), ("abc".to_owned(), 3));
    }

    #[test]
    fn tail_keeps_the_newest_whole_lines() {
        let mut capped = Capped::tail(12);
        for i in 0..100 {
            capped.push(format!("line {i:02}\n").as_bytes());
        }
        let (text, dropped) = capped.finish();
        assert_eq!(text, "line 99\n");
        assert_eq!(dropped, 800 - 8);
        let mut all = Capped::tail(100);
        all.push(b"a\nb\n");
        assert_eq!(all.finish(), ("a\nb\n".to_owned(), 0));
    }
}
