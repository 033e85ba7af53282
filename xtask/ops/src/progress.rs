//! Progress for long work: cargo-style status lines on stderr (`   Building image …`),
//! and detail lines (build output) shown only when asked for.

pub trait Progress {
    /// A step: a verb right-aligned in 12 columns, then what it applies to.
    fn status(&self, verb: &str, message: &str);
    /// One line of a subprocess's output (build steps, compose).
    fn detail(&self, line: &str);
}

/// Prints to stderr; detail lines only when `verbose` (else build steps only).
pub struct Stderr {
    pub verbose: bool,
}

impl Progress for Stderr {
    fn status(&self, verb: &str, message: &str) {
        eprintln!("{verb:>12} {message}");
    }

    fn detail(&self, line: &str) {
        let is_step = line.starts_with("Step ") || line.starts_with("#") && line.contains('[');
        if self.verbose || is_step {
            eprintln!("{:>12} {line}", "|");
        }
    }
}

/// Prints nothing; for tests and benchmarks that report their own figures.
pub struct Quiet;

impl Progress for Quiet {
    fn status(&self, _verb: &str, _message: &str) {}

    fn detail(&self, _line: &str) {}
}
