//! The pgBadger report of the bundle's server log: pgBadger (in the image)
//! runs in the postgres container, reads the bundle's jsonlog on its stdin and
//! writes its HTML to stdout, straight into the bundle's file. (The original
//! handed pgBadger's arguments to a shell (`bash` with `-c`) as separate words, so it ran with
//! none and wrote nothing; here its exit status and stderr are checked.)

use std::io::Write;

use anyhow::{bail, Context};
use camino::Utf8Path;

use crate::docker::{ExecIo, Feed};
use crate::stack::Stack;

/// pgBadger's command line: jsonlog from stdin, HTML to stdout, no progress bar.
pub const ARGV: &[&str] = &[
    "pgbadger",
    "--format",
    "jsonlog",
    "--extension",
    "html",
    "--outfile",
    "-",
    "--quiet",
    "--title",
    "core_data daily maintenance",
    "-",
];

/// Writes the report of `log` (the bundle's jsonlog) into `out`.
pub fn report(stack: &Stack, log: &Utf8Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let input = std::fs::File::open(log).with_context(|| format!("failed to open `{log}`"))?;
    let feed: Feed = Box::new(move |stdin| {
        let mut input = input;
        std::io::copy(&mut input, stdin).map(|_| ())
    });
    let mut stderr = Vec::new();
    let status = stack.docker.exec_io(
        &stack.container(),
        ARGV,
        ExecIo {
            user: None,
            stdin: Some(feed),
            stdout: out,
            stderr: Some(&mut stderr),
            tick: None,
        },
    )?;
    if status.exit_code != 0 {
        bail!(
            "pgBadger failed (exit {}): {}",
            status.exit_code,
            String::from_utf8_lossy(&stderr).trim_end()
        );
    }
    if let Some(err) = status.stdin_error {
        bail!("feeding the log to pgBadger failed: {err}");
    }
    Ok(())
}
