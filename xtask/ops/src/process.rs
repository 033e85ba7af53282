//! Running host commands (docker CLI, mmdebstrap, apt-get) with their stderr in
//! every error, optional deadlines, and line streaming for long work.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Output of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…`, capturing both streams; never a shell.
pub fn capture(program: &str, args: &[&str]) -> anyhow::Result<Output> {
    capture_expr(duct::cmd(program, args))
        .with_context(|| format!("failed to run `{program}`; is it installed?"))
}

/// Runs a prepared expression, capturing both streams, whatever its exit status.
pub fn capture_expr(expr: duct::Expression) -> anyhow::Result<Output> {
    let output = expr.stdout_capture().stderr_capture().unchecked().run()?;
    Ok(Output {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs an xshell command (the host commands of `doctor --fix`, whose `cmd!`
/// quoting keeps each value one argument) and returns stdout; a failure
/// carries the command line and its stderr.
pub fn host(cmd: xshell::Cmd<'_>) -> anyhow::Result<String> {
    let display = cmd.to_string();
    let output = cmd
        .quiet()
        .ignore_status()
        .output()
        .with_context(|| format!("failed to run `{display}`; is it installed?"))?;
    if !output.status.success() {
        bail!(
            "`{display}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `program args…` and returns stdout; a failure carries the command and its stderr.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = capture(program, args)?;
    if !output.success {
        bail!(
            "`{program} {}` failed:\n{}",
            args.join(" "),
            output.stderr.trim_end()
        );
    }
    Ok(output.stdout)
}

/// A `Write` that splits what it gets into lines, hands each to `on_line`
/// and keeps the last 60, so a failure can show the failing step.
pub struct Lines<F: FnMut(&str)> {
    on_line: F,
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl<F: FnMut(&str)> Lines<F> {
    pub fn new(on_line: F) -> Lines<F> {
        Lines {
            on_line,
            partial: Vec::new(),
            tail: VecDeque::with_capacity(60),
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        let line = String::from_utf8_lossy(bytes);
        let line = line.trim_end();
        (self.on_line)(line);
        if self.tail.len() == 60 {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    /// The last lines (an unterminated last line included).
    pub fn finish(mut self) -> String {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            self.line(&partial);
        }
        Vec::from(self.tail).join("\n")
    }
}

impl<F: FnMut(&str)> Write for Lines<F> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.line(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `expr` with stdout and stderr merged, calling `on_line` for each line.
/// On failure the error carries the last 60 lines, so the failing step shows.
pub fn stream(
    expr: duct::Expression,
    display: &str,
    on_line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let mut reader = expr
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .with_context(|| format!("failed to start `{display}`"))?;
    let mut lines = Lines::new(on_line);
    std::io::copy(&mut reader, &mut lines)?;
    let status = reader.try_wait()?.map(|output| output.status);
    let tail = lines.finish();
    match status {
        Some(status) if status.success() => Ok(()),
        _ => bail!("`{display}` failed; its last output:\n{tail}"),
    }
}

/// Runs `program args…` and gives up after `limit`, killing it. `Ok(None)` means it timed out.
pub fn capture_with_deadline(
    program: &str,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<Option<Output>> {
    let handle = duct::cmd(program, args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .with_context(|| format!("failed to run `{program}`; is it installed?"))?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(output) = handle.try_wait()? {
            return Ok(Some(Output {
                success: output.status.success(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }));
        }
        if Instant::now() > deadline {
            handle.kill()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
