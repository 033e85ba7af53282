//! core_data runbooks: the Rhai sandbox and the primitives it exposes to scripts.
//!
//! `engine::sandbox` is the only `Engine` constructor; `api` holds the
//! script-visible functions; `backend` abstracts the stack they act on (`live`
//! is the real one); `catalog` finds, compiles and runs runbooks; `diag`
//! renders errors with file, line, column and caret.

pub mod api;
pub mod backend;
pub mod bench;
pub mod catalog;
pub mod diag;
pub mod engine;
pub mod live;

use std::collections::BTreeMap;
use std::sync::Arc;

use core_data_ops::stack::Stack;

/// Runs runbook `name` of `catalog` against `stack`. Returns the exit code the
/// runbook asked for, or the rendered diagnostic of its failure.
pub fn run_on_stack(
    stack: &Stack,
    catalog: &catalog::Catalog,
    name: &str,
    args: &BTreeMap<String, String>,
    grants: engine::Grants,
    limits: &engine::Limits,
    output: Arc<dyn engine::Output>,
) -> anyhow::Result<Result<u8, String>> {
    if catalog.get(name).is_none() {
        // Before connecting to anything.
        let diag = catalog
            .run(&offline_sandbox(limits, grants), name, args)
            .err();
        return Ok(Err(diag.map(|d| catalog.render(&d)).unwrap_or_default()));
    }
    let backend = Arc::new(live::Live::new(
        stack,
        limits.timeout,
        grants.sql_as_superuser,
    )?);
    let sandbox = engine::sandbox(limits, grants, backend, output);
    Ok(match catalog.run(&sandbox, name, args) {
        Ok(value) => catalog::exit_code(&value),
        Err(diag) => Err(catalog.render(&diag)),
    })
}

fn offline_sandbox(limits: &engine::Limits, grants: engine::Grants) -> engine::Sandbox {
    let backend = Arc::new(backend::Offline {
        backups_dir: "backups".into(),
    });
    engine::sandbox(
        limits,
        grants,
        backend,
        Arc::new(engine::Captured::default()),
    )
}
