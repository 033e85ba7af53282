//! Diagnostics in just's shape for parse and runtime errors alike:
//!
//! ```text
//! error: pg::query: syntax error at or near "SELEC"
//!  --> scripts.rhai:12:11
//!    |
//! 12 |     let rows = pg::query("postgres", "SELEC 1", []);
//!    |                ^
//!    = kind: sql, sqlstate: 42601
//! called from: scripts.rhai:20:5 (call to `check`)
//! ```
//!
//! The primary position is where the innermost error happened; each
//! `called from:` line is one Rhai call frame, innermost first.

use rhai::{Dynamic, EvalAltResult, Map, ParseError, Position};

use crate::api::grant_of;

/// A place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub source: String,
    pub line: usize,
    pub column: usize,
}

/// One frame of the call chain: the function called and where it was called from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub at: Loc,
}

/// An error ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub message: String,
    pub at: Option<Loc>,
    pub notes: Vec<String>,
    pub chain: Vec<Frame>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(at) = &self.at {
            write!(f, " at {}:{}:{}", at.source, at.line, at.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

fn loc(source: &str, pos: Position) -> Option<Loc> {
    Some(Loc {
        source: source.to_owned(),
        line: pos.line()?,
        column: pos.position().unwrap_or(1),
    })
}

impl Diagnostic {
    /// A diagnostic with no position (a runbook that does not exist, bad arguments).
    pub fn plain(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            at: None,
            notes: Vec::new(),
            chain: Vec::new(),
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// A syntax error in `source`.
    pub fn from_parse(err: &ParseError, source: &str) -> Diagnostic {
        let message = err.err_type().to_string();
        let mut diag = Diagnostic {
            message,
            at: loc(source, err.position()),
            notes: Vec::new(),
            chain: Vec::new(),
        };
        if diag.message.contains("'eval' is disabled") {
            diag.notes
                .push("`eval` is disabled in runbooks: call functions directly".to_owned());
        }
        if diag.message.contains("'import'") {
            diag.notes.push(
                "runbooks cannot import files: keep helpers as `private fn` in the same file"
                    .to_owned(),
            );
        }
        if diag.message.contains("Undefined variable") {
            diag.notes.push(
                "variables must be defined with `let` or `const` before use (strict mode)"
                    .to_owned(),
            );
        }
        diag
    }

    /// A runtime error from a runbook in `source` (the AST's source name).
    // Rhai hands its errors over boxed; taking the box as it comes saves every caller an unbox.
    #[allow(clippy::boxed_local)]
    pub fn from_eval(err: Box<EvalAltResult>, source: &str) -> Diagnostic {
        let mut chain = Vec::new();
        let mut current: EvalAltResult = *err;
        while let EvalAltResult::ErrorInFunctionCall(name, src, inner, pos) = current {
            let src = if src.is_empty() { source } else { src.as_str() };
            if let Some(at) = loc(src, pos) {
                chain.push(Frame { function: name, at });
            }
            current = *inner;
        }
        let position = current.position();
        chain.reverse();
        let mut notes = Vec::new();
        let message = match &current {
            EvalAltResult::ErrorRuntime(value, _) => runtime_message(value, &mut notes),
            EvalAltResult::ErrorTerminated(value, _) => value.to_string(),
            _ => {
                // Display appends " (line L, position P)"; the position is shown separately.
                let _ = current.take_position();
                let text = current.to_string();
                current.set_position(position);
                text
            }
        };
        if let EvalAltResult::ErrorFunctionNotFound(signature, _) = &current {
            let name = signature.split([' ', '(']).next().unwrap_or_default();
            if let Some(grant) = grant_of(name) {
                notes.push(format!(
                    "`{name}` changes things, so it exists only when the run is granted `{}` \
                     (or `--dry-run`, to print what it would do)",
                    grant.flag()
                ));
            } else if name.contains("::") {
                notes.push(
                    "see `docs/rhai-api.txt` for every function and its parameters".to_owned(),
                );
            }
        }
        match &current {
            EvalAltResult::ErrorTooManyOperations(_) => {
                notes.push("the runbook hit its operation limit".to_owned())
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                notes
                    .push("the runbook hit its call-depth limit (unbounded recursion?)".to_owned());
            }
            EvalAltResult::ErrorDataTooLarge(..) => {
                notes.push("the runbook hit a size limit".to_owned())
            }
            _ => {}
        }
        Diagnostic {
            message,
            at: loc(source, position),
            notes,
            chain,
        }
    }

    /// Renders with the source line and caret. `text_of` returns a file's text by source name.
    pub fn render(&self, text_of: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = format!("error: {}\n", self.message);
        if let Some(at) = &self.at {
            let number = at.line.to_string();
            let pad = " ".repeat(number.len());
            out.push_str(&format!(
                "{pad}--> {}:{}:{}\n",
                at.source, at.line, at.column
            ));
            if let Some(line) = text_of(&at.source)
                .and_then(|text| text.lines().nth(at.line - 1).map(str::to_owned))
            {
                // Keep tabs in the caret's indent so it lines up under the column.
                let indent: String = line
                    .chars()
                    .take(at.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!("{pad} |\n{number} | {line}\n{pad} | {indent}^\n"));
            }
            for note in &self.notes {
                out.push_str(&format!("{pad} = {note}\n"));
            }
        } else {
            for note in &self.notes {
                out.push_str(&format!(" = {note}\n"));
            }
        }
        for frame in &self.chain {
            let at = &frame.at;
            out.push_str(&format!(
                "called from: {}:{}:{} (call to `{}`)\n",
                at.source, at.line, at.column, frame.function
            ));
        }
        out
    }
}

fn runtime_message(value: &Dynamic, notes: &mut Vec<String>) -> String {
    let Some(map) = value.read_lock::<Map>() else {
        return value.to_string();
    };
    let Some(message) = map.get("message") else {
        return value.to_string();
    };
    let mut facts = Vec::new();
    if let Some(kind) = map.get("kind") {
        facts.push(format!("kind: {kind}"));
    }
    if let Some(state) = map.get("sqlstate") {
        facts.push(format!("sqlstate: {state}"));
    }
    if !facts.is_empty() {
        notes.push(facts.join(", "));
    }
    message.to_string()
}
