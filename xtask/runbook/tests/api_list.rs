//! The checked-in list of script-visible functions (`docs/rhai-api.txt`) must
//! match the code. Also: each grant registers exactly its functions in
//! `WRITE_PRIMITIVES`, and docs/runbooks.md shows the exec allowlist the code
//! enforces. These are documents people read, not insta snapshots, so they are
//! compared with pretty_assertions; the same switch as the snapshots,
//! `INSTA_UPDATE=always`, rewrites them, and a missing file fails.

use core_data_runbook::api::{allowlist, api_listing, function_names, WRITE_PRIMITIVES};
use core_data_runbook::engine::{Grant, Grants};

/// The one switch that rewrites golden files (insta's own, see `.config/insta.yaml`).
fn updating() -> bool {
    std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "always" || v == "1" || v == "force")
}

const UPDATE: &str = "INSTA_UPDATE=always cargo test -p core_data_runbook --test api_list";

#[test]
fn api_list_is_current() {
    let path = core_data_ops::paths::repo_root().join("docs/rhai-api.txt");
    let actual = api_listing();
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("`{path}`: {err}; run `{UPDATE}` and commit it"));
    pretty_assertions::assert_eq!(
        expected,
        actual,
        "`{path}` is stale; run `{UPDATE}` and commit it"
    );
}

#[test]
fn each_grant_registers_exactly_its_write_primitives() {
    let read_only = function_names(Grants::default());
    let added = |grants: Grants| -> Vec<String> {
        function_names(grants)
            .into_iter()
            .filter(|name| !read_only.contains(name))
            .collect()
    };
    for grant in Grant::ALL {
        let mut expected: Vec<String> = WRITE_PRIMITIVES
            .iter()
            .filter(|(_, g)| *g == grant)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        expected.sort_unstable();
        assert!(!expected.is_empty(), "{grant:?} grants nothing");
        assert_eq!(added(Grants::only(grant)), expected, "{}", grant.flag());
    }
    // `--sql-as-superuser` changes who runs SQL writes, not which functions exist.
    let superuser = Grants {
        sql_writes: true,
        sql_as_superuser: true,
        ..Grants::default()
    };
    assert_eq!(added(superuser), added(Grants::only(Grant::SqlWrites)));
    let mut all: Vec<String> = WRITE_PRIMITIVES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    all.sort_unstable();
    assert_eq!(added(Grants::ALL_WRITES), all);
    let dry = Grants {
        dry_run: true,
        ..Grants::default()
    };
    assert_eq!(
        function_names(dry),
        function_names(Grants::ALL_WRITES),
        "a dry run registers every write primitive (they print instead of acting)"
    );
}

/// The line above the allowlist table in docs/runbooks.md; the table ends at a blank line.
const ALLOWLIST_MARKER: &str =
    "<!-- generated from xtask/runbook/src/api/allowlist.rs; a test fails when it drifts -->\n";

#[test]
fn the_exec_allowlist_in_the_docs_is_current() {
    let path = core_data_ops::paths::repo_root().join("docs/runbooks.md");
    let docs = std::fs::read_to_string(&path).unwrap();
    let start = docs
        .find(ALLOWLIST_MARKER)
        .unwrap_or_else(|| panic!("`{path}` lost the allowlist marker line"))
        + ALLOWLIST_MARKER.len();
    let end = start
        + docs[start..]
            .find("\n\n")
            .map_or(docs.len() - start, |i| i + 1);
    let table = allowlist::markdown();
    if updating() {
        std::fs::write(&path, format!("{}{table}{}", &docs[..start], &docs[end..])).unwrap();
        return;
    }
    pretty_assertions::assert_eq!(
        &docs[start..end],
        table,
        "`{path}` must show the exec allowlist the code enforces; run `{UPDATE}`"
    );
}
