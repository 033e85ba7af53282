//! The server's own log files: the logging collector writes them into the
//! `pglog` volume (`/var/log/postgresql`), a text file (`postgresql-<day>.log`)
//! and a jsonlog file (`postgresql-<day>.json`) per day, the day's name
//! recycling after a week or a month (`PG_LOG_FILE_CYCLE`). Docker's log of the
//! container keeps only what comes before the collector starts. Everything here
//! reads the files through the running container (`stat`, `dd`, `cat`: no shell),
//! byte ranges exactly, so a tail and a follow neither lose nor repeat a line.

pub mod day;

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::docker::ExecIo;
use crate::stack::Stack;

/// Where the volume is mounted in the postgres container (the template's `log_directory`).
pub const LOG_DIR: &str = "/var/log/postgresql";
/// The collector's record of the files it writes to now (in PGDATA).
const CURRENT_LOGFILES: &str = "/var/lib/postgresql/data/pgdata/current_logfiles";
/// How much of a file a tail reads at most, from its end.
const TAIL_WINDOW: u64 = 4 << 20;

/// The files the collector writes to now, from `current_logfiles`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Current {
    pub stderr: Option<String>,
    pub jsonlog: Option<String>,
}

/// Parses `current_logfiles` (`stderr /var/log/postgresql/postgresql-Wed.log` a line).
pub fn parse_current(text: &str) -> Current {
    let mut current = Current::default();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("stderr", path)) => current.stderr = Some(path.to_owned()),
            Some(("jsonlog", path)) => current.jsonlog = Some(path.to_owned()),
            _ => {}
        }
    }
    current
}

/// Runs `argv` in the postgres container; stdout as bytes. `Ok(None)` when it
/// exits 1 saying a file does not exist.
fn exec_bytes(stack: &Stack, argv: &[&str]) -> anyhow::Result<Option<Vec<u8>>> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let status = stack.docker.exec_io(
        &stack.container(),
        argv,
        ExecIo {
            user: None,
            stdin: None,
            stdout: &mut stdout,
            stderr: Some(&mut stderr),
            tick: None,
        },
    )?;
    let stderr = String::from_utf8_lossy(&stderr);
    if status.exit_code == 0 {
        return Ok(Some(stdout));
    }
    if stderr.contains("No such file") {
        return Ok(None);
    }
    bail!(
        "`{}` failed in the postgres container (exit {}): {}",
        argv.join(" "),
        status.exit_code,
        stderr.trim_end()
    )
}

/// The collector's current files; `None` when it is not running (the server
/// is down, or runs a configuration from before the log volume: `cargo xtask up`).
pub fn current(stack: &Stack) -> anyhow::Result<Option<Current>> {
    let text = exec_bytes(stack, &["cat", CURRENT_LOGFILES])
        .context("failed to find the server's current log file")?;
    Ok(text.map(|bytes| parse_current(&String::from_utf8_lossy(&bytes))))
}

/// The size of a file in the log volume; `None` when it does not exist.
pub fn size(stack: &Stack, path: &str) -> anyhow::Result<Option<u64>> {
    let Some(out) = exec_bytes(stack, &["stat", "--format=%s", path])? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&out);
    let size = text
        .trim()
        .parse()
        .with_context(|| format!("`stat` printed `{}` for `{path}`", text.trim()))?;
    Ok(Some(size))
}

/// Bytes `start..start+len` of a file in the log volume, exactly (`dd`).
pub fn read_range(stack: &Stack, path: &str, start: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let input = format!("if={path}");
    let skip = format!("skip={start}");
    let count = format!("count={len}");
    let argv = [
        "dd",
        &input,
        "iflag=skip_bytes,count_bytes",
        &skip,
        &count,
        "bs=65536",
        "status=none",
    ];
    exec_bytes(stack, &argv)?.with_context(|| format!("`{path}` disappeared while it was read"))
}

/// Bytes the log volume holds now (`du`): bounded by one cycle of logs.
pub fn volume_bytes(stack: &Stack) -> anyhow::Result<u64> {
    let out = exec_bytes(stack, &["du", "--bytes", "--summarize", LOG_DIR])?
        .with_context(|| format!("`{LOG_DIR}` is missing in the postgres container"))?;
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("`du` printed `{}`", text.trim()))
}

/// The whole of a file in the log volume, streamed into `out`; false when it does not exist.
pub fn read_all(stack: &Stack, path: &str, out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut stderr = Vec::new();
    let status = stack.docker.exec_io(
        &stack.container(),
        &["cat", path],
        ExecIo {
            user: None,
            stdin: None,
            stdout: out,
            stderr: Some(&mut stderr),
            tick: None,
        },
    )?;
    let stderr = String::from_utf8_lossy(&stderr);
    match status.exit_code {
        0 => Ok(true),
        _ if stderr.contains("No such file") => Ok(false),
        code => bail!("`cat {path}` failed (exit {code}): {}", stderr.trim_end()),
    }
}

/// The last `lines` whole lines of `bytes` (a window that may start mid-line:
/// a first partial line is dropped unless the window is the whole file).
pub fn last_lines(bytes: &[u8], lines: usize, whole_file: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if !whole_file && !all.is_empty() {
        all.remove(0);
    }
    let from = all.len().saturating_sub(lines);
    all[from..].iter().map(|line| (*line).to_owned()).collect()
}

/// The text log's last `lines` lines and its path; `None` when the collector
/// is not running.
pub fn tail(stack: &Stack, lines: usize) -> anyhow::Result<Option<(String, Vec<String>)>> {
    let Some(path) = current(stack)?.and_then(|current| current.stderr) else {
        return Ok(None);
    };
    let end = size(stack, &path)?.unwrap_or(0);
    let start = end.saturating_sub(TAIL_WINDOW);
    let bytes = read_range(stack, &path, start, end - start)?;
    Ok(Some((path, last_lines(&bytes, lines, start == 0))))
}

/// The text log's last `lines` lines while the server's container is not
/// running (a crash loop, a failed start): read from the `pglog` volume by a
/// confined one-shot container, the newest `.log` file by modification time.
/// `None` when the volume holds no text log yet.
pub fn tail_stopped(stack: &Stack, lines: usize) -> anyhow::Result<Option<(String, Vec<String>)>> {
    let volume = crate::backup::oneshot::volume_name(stack, "pglog");
    let mounts = [crate::docker::Mount::volume(volume, LOG_DIR, true)];
    let listing = crate::backup::oneshot::run(stack, &mounts, "ls", &["-t", LOG_DIR])?;
    let Some(newest) = listing.lines().find(|name| name.ends_with(".log")) else {
        return Ok(None);
    };
    let path = format!("{LOG_DIR}/{newest}");
    let count = lines.to_string();
    let text = crate::backup::oneshot::run(stack, &mounts, "tail", &["-n", &count, &path])?;
    Ok(Some((path, text.lines().map(str::to_owned).collect())))
}

/// Prints the text log's last `lines` lines into `out`, then what the server
/// writes, across the daily switch of files, until `out` refuses a write (a
/// closed pipe) or the process is interrupted. Polls twice a second: a process
/// left in the container (as `tail -F` would be after an interrupted attach)
/// is worse than the delay.
pub fn follow(stack: &Stack, lines: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    let (mut path, mut offset) = match current(stack)?.and_then(|c| c.stderr) {
        Some(path) => {
            let end = size(stack, &path)?.unwrap_or(0);
            let start = end.saturating_sub(TAIL_WINDOW);
            let bytes = read_range(stack, &path, start, end - start)?;
            for line in last_lines(&bytes, lines, start == 0) {
                if writeln!(out, "{line}").is_err() {
                    return Ok(());
                }
            }
            (path, end)
        }
        None => bail!(
            "the server's logging collector is not running (no `{CURRENT_LOGFILES}`); \
             `cargo xtask up` applies the logging configuration"
        ),
    };
    loop {
        if out.flush().is_err() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
        let now = current(stack)?.and_then(|c| c.stderr);
        // What the old file got before the switch, then the new one from its start.
        let end = size(stack, &path)?.unwrap_or(0);
        if end > offset
            && out
                .write_all(&read_range(stack, &path, offset, end - offset)?)
                .is_err()
        {
            return Ok(());
        }
        offset = end.max(offset);
        if let Some(now) = now {
            if now != path {
                path = now;
                offset = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_logfiles_names_each_destination() {
        let current = parse_current(
            "stderr /var/log/postgresql/postgresql-Wed.log\njsonlog /var/log/postgresql/postgresql-Wed.json\n",
        );
        assert_eq!(
            current.stderr.as_deref(),
            Some("/var/log/postgresql/postgresql-Wed.log")
        );
        assert_eq!(
            current.jsonlog.as_deref(),
            Some("/var/log/postgresql/postgresql-Wed.json")
        );
        assert_eq!(parse_current(""), Current::default());
    }

    #[test]
    fn a_tail_window_drops_its_partial_first_line() {
        assert_eq!(last_lines(b"ial\nb\nc\n", 5, false), ["b", "c"]);
        assert_eq!(last_lines(b"a\nb\nc\n", 5, true), ["a", "b", "c"]);
        assert_eq!(last_lines(b"a\nb\nc\n", 2, true), ["b", "c"]);
        assert!(last_lines(b"", 2, true).is_empty());
    }
}
