//! `--format json`: one pretty-printed JSON document on stdout, from a
//! `Serialize` struct of `core_data_ops` (never built by hand).

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

/// Prints `value` as one JSON document and a newline on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("failed to serialize the report")?;
    writeln!(std::io::stdout().lock(), "{text}").context("failed to write the report")?;
    Ok(())
}
