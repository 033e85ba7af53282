//! Terminal prompts for `init` and confirmations (never used without a
//! terminal), and the one check whether there is a terminal.

use std::io::{BufRead, IsTerminal, Write};

pub(crate) fn is_interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Whether stdin and stdout are a terminal (so `psql` gets one too).
pub(crate) fn has_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Asks for a value, showing the default; an empty answer keeps it.
pub(crate) fn ask(question: &str, default: &str) -> anyhow::Result<String> {
    eprint!("{question} [{default}]: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim();
    Ok(if answer.is_empty() {
        default.to_owned()
    } else {
        answer.to_owned()
    })
}

/// A yes/no question that defaults to no.
pub(crate) fn confirm(question: &str) -> anyhow::Result<bool> {
    if !is_interactive() {
        return Ok(false);
    }
    let answer = ask(&format!("{question} (y/N)"), "n")?;
    Ok(matches!(answer.as_str(), "y" | "Y" | "yes"))
}
