//! The checked-in list of script-visible functions (`docs/rhai-api.txt`) must
//! match the code; `UPDATE_GOLDEN=1` rewrites it. Also: the write gate hides
//! exactly the functions named in `WRITE_PRIMITIVES`.

use core_data_runbook::api::{api_listing, function_names, WRITE_PRIMITIVES};
use core_data_runbook::engine::Grants;

#[test]
fn api_list_is_current() {
    let path = core_data_ops::paths::repo_root().join("docs/rhai-api.txt");
    let actual = api_listing();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    pretty_assertions::assert_eq!(
        expected,
        actual,
        "`{path}` is stale; run `UPDATE_GOLDEN=1 cargo test -p core_data_runbook --test api_list` and commit it"
    );
}

#[test]
fn write_primitives_exist_only_with_a_grant() {
    let read_only = function_names(Grants::default());
    let granted = function_names(Grants {
        allow_writes: true,
        dry_run: false,
    });
    let dry = function_names(Grants {
        allow_writes: false,
        dry_run: true,
    });
    let only_granted: Vec<&str> = granted
        .iter()
        .filter(|name| !read_only.contains(name))
        .map(String::as_str)
        .collect();
    let mut expected = WRITE_PRIMITIVES.to_vec();
    expected.sort_unstable();
    assert_eq!(only_granted, expected);
    assert_eq!(
        dry, granted,
        "a dry run registers the write primitives (they print instead of acting)"
    );
}
