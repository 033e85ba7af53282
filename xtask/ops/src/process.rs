//! Running host commands (docker CLI, mmdebstrap, apt-get) with their stderr in
//! every error, optional deadlines, and line streaming for long work.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
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

/// Runs `expr` with stdout and stderr merged, calling `on_line` for each line.
/// On failure the error carries the last 60 lines, so the failing step shows.
pub fn stream(
    expr: duct::Expression,
    display: &str,
    mut on_line: impl FnMut(&str),
) -> anyhow::Result<()> {
    let reader = expr
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .with_context(|| format!("failed to start `{display}`"))?;
    let mut tail: VecDeque<String> = VecDeque::with_capacity(60);
    let mut lines = BufReader::new(&reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if lines.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        on_line(line);
        if tail.len() == 60 {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }
    let status = reader.try_wait()?.map(|output| output.status);
    match status {
        Some(status) if status.success() => Ok(()),
        _ => bail!(
            "`{display}` failed; its last output:\n{}",
            Vec::from(tail).join("\n")
        ),
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
