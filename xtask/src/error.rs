//! `CliError`: what a command returns to `main` when it fails, carrying its exit
//! code. `main` prints it once, on stderr, and exits with that code. Outcomes
//! that are not errors (`status` or `dump-status` finding the stack unhealthy, a
//! failed `backup verify`, a runbook's own exit code) are an `ExitCode` in `Ok`.

use std::process::ExitCode;

/// A failed command and how it failed.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The work failed: `error: …` with its causes; exit 1.
    Failed(anyhow::Error),
    /// A misuse clap cannot express: `error: …`; exit 2 (clap's own usage errors exit 2 too).
    Usage(String),
    /// Text already rendered for the terminal (runbook diagnostics in just's format,
    /// which start with `error:` themselves); printed as it is; exit 1.
    Rendered(String),
}

/// What every command returns.
pub(crate) type CmdResult = Result<ExitCode, CliError>;

/// `anyhow::bail!` for a command: returns `CliError::Failed` (exit 1) with this message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::CliError::Failed(anyhow::anyhow!($($arg)*)))
    };
}
pub(crate) use fail;

impl CliError {
    pub(crate) fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// The process exit code.
    pub(crate) fn code(&self) -> u8 {
        match self {
            CliError::Failed(_) | CliError::Rendered(_) => 1,
            CliError::Usage(_) => 2,
        }
    }

    /// A closed stdout (`cargo xtask … | head`) is not an error.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        let CliError::Failed(err) = self else {
            return false;
        };
        err.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    }

    /// What `main` prints on stderr.
    pub(crate) fn message(&self) -> String {
        match self {
            CliError::Failed(err) => format!("error: {err:#}\n"),
            CliError::Usage(message) => format!("error: {message}\n"),
            CliError::Rendered(text) => text.clone(),
        }
    }

    /// Prints the error once and returns its exit code.
    pub(crate) fn report(&self) -> ExitCode {
        if self.is_broken_pipe() {
            return ExitCode::SUCCESS;
        }
        eprint!("{}", self.message());
        ExitCode::from(self.code())
    }
}

/// Any error `anyhow` takes (`anyhow::Error`, io, configuration errors) is a failure.
impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(err: E) -> CliError {
        CliError::Failed(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_code_and_message() {
        let failed = CliError::from(anyhow::anyhow!("inner").context("outer"));
        assert_eq!(failed.code(), 1);
        assert_eq!(failed.message(), "error: outer: inner\n");
        let usage = CliError::usage("`--x` must be at least 1");
        assert_eq!(usage.code(), 2);
        assert_eq!(usage.message(), "error: `--x` must be at least 1\n");
        let rendered = CliError::Rendered("error: parse\n  --> a.rhai:1\n".into());
        assert_eq!(rendered.code(), 1);
        assert_eq!(rendered.message(), "error: parse\n  --> a.rhai:1\n");
    }

    #[test]
    fn a_broken_pipe_is_not_reported() {
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        let err = CliError::from(anyhow::Error::from(pipe).context("writing the report"));
        assert!(err.is_broken_pipe());
        assert!(!CliError::usage("x").is_broken_pipe());
        assert!(!CliError::from(anyhow::anyhow!("other")).is_broken_pipe());
    }
}
