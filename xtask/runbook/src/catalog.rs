//! Finding, compiling and running runbooks. A runbook file holds functions;
//! every function not marked `private` is a runbook, its `///` doc comment is
//! its help, and it takes no parameter or one: the map of `key=value`
//! arguments (values are strings). Every file is compiled before anything
//! runs, so a typo fails before touching Docker.

use std::collections::BTreeMap;
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use rhai::{CallFnOptions, Dynamic, FnAccess, Map, Scope, AST};

use crate::backend::Offline;
use crate::diag::Diagnostic;
use crate::engine::{sandbox, Grants, Limits, Sandbox, Terminal};

/// A runbook file's text and the name diagnostics show for it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative to the repository when the file is inside it (`scripts.rhai`).
    pub name: String,
    pub text: String,
}

impl SourceFile {
    /// Reads `path`, naming it relative to `base` when it lies below it.
    pub fn read(path: &Utf8Path, base: &Utf8Path) -> anyhow::Result<SourceFile> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            anyhow::anyhow!("failed to read runbook file `{path}`: {err}; check the `--file` path")
        })?;
        let name = path
            .strip_prefix(base)
            .map_or_else(|_| path.to_string(), |p| p.to_string());
        Ok(SourceFile { name, text })
    }
}

/// One runbook: a public function of a runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook {
    pub name: String,
    pub source: String,
    /// The doc comment without the `///` markers.
    pub doc: String,
    pub takes_args: bool,
}

impl Runbook {
    /// The first line of the help text.
    pub fn summary(&self) -> &str {
        self.doc
            .lines()
            .next()
            .unwrap_or("(no description: add a `///` comment above the function)")
    }
}

struct Compiled {
    file: SourceFile,
    ast: AST,
}

/// Every runbook of a set of files, compiled.
pub struct Catalog {
    files: Vec<Compiled>,
    runbooks: Vec<Runbook>,
}

/// The shipped runbooks' file, at the repository root.
pub fn shipped(repo: &Utf8Path) -> Utf8PathBuf {
    repo.join("scripts.rhai")
}

impl Catalog {
    /// Compiles every file (with the sandbox's limits and disabled symbols) and lists its runbooks.
    pub fn compile(files: Vec<SourceFile>, limits: &Limits) -> Result<Catalog, Diagnostic> {
        let offline = Arc::new(Offline {
            backups_dir: Utf8PathBuf::from("backups"),
        });
        let compiler = sandbox(limits, Grants::ALL_WRITES, offline, Arc::new(Terminal));
        let mut compiled = Vec::new();
        let mut runbooks: Vec<Runbook> = Vec::new();
        for file in files {
            let mut ast = compiler
                .engine
                .compile(&file.text)
                .map_err(|err| Diagnostic::from_parse(&err, &file.name))?;
            ast.set_source(file.name.as_str());
            for f in ast.iter_functions() {
                // Closures compile to anonymous functions: not runbooks either.
                if f.access == FnAccess::Private || f.name.starts_with("anon$") {
                    continue;
                }
                if f.params.len() > 1 {
                    return Err(Diagnostic::plain(format!(
                        "runbook `{}` in `{}` takes {} parameters; a runbook takes none or one (the arguments map)",
                        f.name,
                        file.name,
                        f.params.len()
                    ))
                    .with_note("mark helper functions `private fn` so they are not runbooks"));
                }
                if let Some(other) = runbooks.iter().find(|r| r.name == f.name) {
                    return Err(Diagnostic::plain(format!(
                        "runbook `{}` is defined in both `{}` and `{}`; rename one",
                        f.name, other.source, file.name
                    )));
                }
                let doc = f
                    .comments
                    .iter()
                    .flat_map(|c| c.lines())
                    .map(|line| {
                        line.trim_start()
                            .trim_start_matches("///")
                            .trim_start_matches("/**")
                    })
                    .map(|line| {
                        line.strip_prefix(' ')
                            .unwrap_or(line)
                            .trim_end_matches("*/")
                            .trim_end()
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                runbooks.push(Runbook {
                    name: f.name.to_owned(),
                    source: file.name.clone(),
                    doc: doc.trim().to_owned(),
                    takes_args: f.params.len() == 1,
                });
            }
            compiled.push(Compiled { file, ast });
        }
        Ok(Catalog {
            files: compiled,
            runbooks,
        })
    }

    pub fn runbooks(&self) -> &[Runbook] {
        &self.runbooks
    }

    pub fn get(&self, name: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.name == name)
    }

    /// The text of a file by its source name (for rendering diagnostics).
    pub fn text_of(&self, source: &str) -> Option<String> {
        self.files
            .iter()
            .find(|c| c.file.name == source)
            .map(|c| c.file.text.clone())
    }

    /// Renders a diagnostic against these files.
    pub fn render(&self, diag: &Diagnostic) -> String {
        diag.render(&|source| self.text_of(source))
    }

    /// Runs one runbook in `sandbox` (whose clock starts now) with `args`.
    pub fn run(
        &self,
        sandbox: &Sandbox,
        name: &str,
        args: &BTreeMap<String, String>,
    ) -> Result<Dynamic, Diagnostic> {
        let Some(runbook) = self.get(name) else {
            let known: Vec<&str> = self.runbooks.iter().map(|r| r.name.as_str()).collect();
            return Err(
                Diagnostic::plain(format!("there is no runbook `{name}`")).with_note(format!(
                    "runbooks: {}; `cargo xtask runbooks` lists them",
                    known.join(", ")
                )),
            );
        };
        if !runbook.takes_args && !args.is_empty() {
            return Err(Diagnostic::plain(format!(
                "runbook `{name}` takes no arguments; drop the `key=value` ones"
            )));
        }
        let compiled = self
            .files
            .iter()
            .find(|c| c.file.name == runbook.source)
            .expect("runbook from a compiled file");
        let map: Map = args
            .iter()
            .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
            .collect();
        let mut scope = Scope::new();
        // Top-level statements of a runbook file are not run: a file is a set of functions.
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        sandbox.clock.start(sandbox.limits.timeout);
        let result = if runbook.takes_args {
            sandbox.engine.call_fn_with_options::<Dynamic>(
                options,
                &mut scope,
                &compiled.ast,
                name,
                (map,),
            )
        } else {
            sandbox.engine.call_fn_with_options::<Dynamic>(
                options,
                &mut scope,
                &compiled.ast,
                name,
                (),
            )
        };
        result.map_err(|err| {
            let diag = Diagnostic::from_eval(err, &compiled.file.name);
            if diag.at.is_some() {
                return diag;
            }
            // Rhai moves a limit error to the outermost call site, and a runbook has none.
            diag.with_note(format!(
                "while running runbook `{name}` from `{}`",
                compiled.file.name
            ))
        })
    }
}

/// Parses `key=value` arguments.
pub fn parse_args(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut args = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!("argument `{pair}` is not `key=value`"));
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "argument name `{key}` must be letters, digits and `_`"
            ));
        }
        if args.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(format!("argument `{key}` is given twice"));
        }
    }
    Ok(args)
}

/// The process exit code a runbook's return value stands for: `()` or `true`
/// is 0, `false` is 1, an INT is itself (0..=255); anything else is an error.
pub fn exit_code(value: &Dynamic) -> Result<u8, String> {
    if value.is_unit() {
        return Ok(0);
    }
    if let Ok(ok) = value.as_bool() {
        return Ok(u8::from(!ok));
    }
    if let Ok(code) = value.as_int() {
        return u8::try_from(code)
            .map_err(|_| format!("the runbook returned {code}; an exit code is 0 to 255"));
    }
    Err(format!(
        "the runbook returned a `{}`; return nothing, a bool or an INT exit code \
         (write reports with `fs::` or `print`)",
        value.type_name()
    ))
}

/// Reads `scripts.rhai` from `repo` and every `extra` file, and compiles them
/// all. On a compile error, returns the rendered diagnostic.
pub fn load(
    repo: &Utf8Path,
    extra: &[Utf8PathBuf],
    limits: &Limits,
) -> anyhow::Result<Result<Catalog, String>> {
    let mut files = vec![SourceFile::read(&shipped(repo), repo)?];
    for path in extra {
        files.push(SourceFile::read(path, repo)?);
    }
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.name.clone(), f.text.clone()))
        .collect();
    Ok(Catalog::compile(files, limits).map_err(|diag| {
        diag.render(&|source| {
            texts
                .iter()
                .find(|(name, _)| name == source)
                .map(|(_, text)| text.clone())
        })
    }))
}
