//! Tidy checks of the runbooks we ship and of the sandbox boundary:
//! `scripts.rhai` compiles in the sandbox, every runbook has help, and no
//! code outside `engine.rs` constructs a Rhai `Engine`.

mod support;

use core_data_runbook::catalog::{shipped, Catalog, SourceFile};
use core_data_runbook::engine::{Grants, Limits};

#[test]
fn shipped_runbooks_compile_and_have_help() {
    let repo = core_data_ops::paths::repo_root();
    let file = SourceFile::read(&shipped(&repo), &repo).unwrap();
    assert_eq!(file.name, "scripts.rhai");
    let catalog = Catalog::compile(vec![file], &Limits::default()).unwrap_or_else(|diag| panic!("{diag}"));
    let names: Vec<&str> = catalog.runbooks().iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"nightly_checks"), "{names:?}");
    for runbook in catalog.runbooks() {
        assert!(!runbook.doc.is_empty(), "runbook `{}` needs a `///` comment: it is its help text", runbook.name);
    }
}

#[test]
fn nightly_checks_refuse_bad_arguments_before_touching_anything() {
    let repo = core_data_ops::paths::repo_root();
    let text = std::fs::read_to_string(shipped(&repo)).unwrap();
    // Run it under the name `main` through the shared helper.
    let text = text.replace("fn nightly_checks(args)", "fn main(args)");
    let fake = support::Fake::new();
    let ran = support::run("scripts.rhai", &text, Grants::default(), &Limits::default(), &fake, &[("max_txn", "1")]);
    let err = ran.result.unwrap_err();
    assert!(err.contains("unknown argument `max_txn`"), "{err}");
    let ran = support::run(
        "scripts.rhai",
        &text,
        Grants::default(),
        &Limits::default(),
        &fake,
        &[("max_disk_percent", "lots")],
    );
    let err = ran.result.unwrap_err();
    assert!(err.contains("`max_disk_percent` must be a whole number"), "{err}");
}

#[test]
fn only_the_sandbox_constructor_builds_an_engine() {
    let repo = core_data_ops::paths::repo_root();
    let mut offenders = Vec::new();
    let mut stack = vec![repo.join("xtask"), repo.join("tests")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = camino::Utf8PathBuf::from_path_buf(entry.path()).unwrap();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension() == Some("rs") && !path.ends_with("runbook/src/engine.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let needle = ["Engine::", "new("].concat();
                let raw = ["Engine::", "new_raw("].concat();
                if text.contains(&needle) || text.contains(&raw) {
                    offenders.push(path);
                }
            }
        }
    }
    assert!(offenders.is_empty(), "only xtask/runbook/src/engine.rs may construct a Rhai Engine: {offenders:?}");
}
