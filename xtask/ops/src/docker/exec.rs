//! Commands run inside a running container through bollard's attached exec:
//! never a shell, stdin fed from a thread, stdout and stderr streamed to
//! writers while they run. Every exec of the project goes through `exec_io`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::capped::Capped;
use super::Docker;

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

/// What feeds a command's stdin: called on its own thread with a writer that
/// ends up in the command; stdin is closed when it returns.
pub type Feed = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send + 'static>;

/// Where an exec's streams go.
pub struct ExecIo<'a> {
    /// `user[:group]` to run as; the container's user when `None`.
    pub user: Option<&'a str>,
    pub stdin: Option<Feed>,
    pub stdout: &'a mut dyn Write,
    /// `None`: stderr goes to `stdout` too, in order.
    pub stderr: Option<&'a mut dyn Write>,
    /// Called about every `Duration` while the command runs (progress reports).
    pub tick: Option<(Duration, &'a mut dyn FnMut())>,
}

/// How an exec ended.
#[derive(Debug)]
pub struct ExecStatus {
    pub exit_code: i64,
    /// The feed's error, if it failed (after a command that stopped reading, a broken pipe).
    pub stdin_error: Option<std::io::Error>,
}

/// A `Write` into a bounded channel, read by the async side.
struct ChannelWriter(tokio::sync::mpsc::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Docker {
    /// Runs `argv` inside a running container (no shell) and collects its output.
    pub fn exec(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
    ) -> anyhow::Result<ExecOutput> {
        Ok(self.exec_capped(container, argv, user, usize::MAX)?.output)
    }

    /// Runs `argv` with `input` on its stdin (no shell); collects its output.
    /// Used to write files into volumes (`dd of=`) and to feed SQL to psql.
    pub fn exec_with_stdin(
        &self,
        container: &str,
        argv: &[&str],
        input: &[u8],
    ) -> anyhow::Result<ExecOutput> {
        let input = input.to_vec();
        let feed: Feed = Box::new(move |stdin| stdin.write_all(&input));
        Ok(self
            .exec_collected(container, argv, None, usize::MAX, Some(feed))?
            .output)
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
        self.exec_collected(container, argv, user, max_bytes, None)
    }

    fn exec_collected(
        &self,
        container: &str,
        argv: &[&str],
        user: Option<&str>,
        max_bytes: usize,
        stdin: Option<Feed>,
    ) -> anyhow::Result<CappedExec> {
        let mut stdout = Capped::head(max_bytes);
        let mut stderr = Capped::head(max_bytes);
        let status = self.exec_io(
            container,
            argv,
            ExecIo {
                user,
                stdin,
                stdout: &mut stdout,
                stderr: Some(&mut stderr),
                tick: None,
            },
        )?;
        let (stdout, stdout_dropped) = stdout.finish();
        let (stderr, stderr_dropped) = stderr.finish();
        Ok(CappedExec {
            output: ExecOutput {
                exit_code: status.exit_code,
                stdout,
                stderr,
            },
            stdout_dropped,
            stderr_dropped,
        })
    }

    /// The one exec path: streams the output to `io`'s writers as it arrives
    /// while a thread feeds stdin, then returns the exit code.
    pub fn exec_io(
        &self,
        container: &str,
        argv: &[&str],
        io: ExecIo<'_>,
    ) -> anyhow::Result<ExecStatus> {
        let ExecIo {
            user,
            stdin,
            stdout,
            mut stderr,
            tick,
        } = io;
        let config = ExecConfig {
            attach_stdin: Some(stdin.is_some()),
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
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
        let feeder = stdin.map(|feed| {
            std::thread::spawn(move || {
                let mut writer = ChannelWriter(sender);
                feed(&mut writer)
            })
        });
        let (period, mut on_tick) = match tick {
            Some((period, on_tick)) => (period, Some(on_tick)),
            None => (Duration::from_secs(3600), None),
        };
        let exit_code = self.runtime.block_on(async {
            let exec = self
                .client
                .create_exec(container, config)
                .await
                .with_context(what)?;
            let started = self
                .client
                .start_exec(&exec.id, None)
                .await
                .with_context(what)?;
            if let bollard::exec::StartExecResults::Attached {
                mut output,
                input: mut writer,
            } = started
            {
                let feeding = async {
                    if feeder.is_some() {
                        while let Some(chunk) = receiver.recv().await {
                            if writer.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                        let _ = writer.shutdown().await;
                    }
                    drop(receiver);
                    drop(writer);
                };
                let reading = async {
                    let mut ticker = tokio::time::interval(period);
                    ticker.tick().await;
                    loop {
                        tokio::select! {
                            chunk = output.next() => match chunk {
                                None => break,
                                Some(chunk) => match chunk.with_context(what)? {
                                    bollard::container::LogOutput::StdErr { message } => {
                                        match stderr.as_deref_mut() {
                                            Some(sink) => sink.write_all(&message)?,
                                            None => stdout.write_all(&message)?,
                                        }
                                    }
                                    other => stdout.write_all(&other.into_bytes())?,
                                },
                            },
                            _ = ticker.tick() => {
                                if let Some(on_tick) = on_tick.as_mut() {
                                    on_tick();
                                }
                            }
                        }
                    }
                    anyhow::Ok(())
                };
                let ((), read) = tokio::join!(feeding, reading);
                read?;
            }
            let inspect = self
                .client
                .inspect_exec(&exec.id)
                .await
                .with_context(what)?;
            anyhow::Ok(inspect.exit_code.unwrap_or(-1))
        })?;
        let stdin_error = match feeder {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the stdin feed panicked")))
                .err(),
            None => None,
        };
        Ok(ExecStatus {
            exit_code,
            stdin_error,
        })
    }
}
