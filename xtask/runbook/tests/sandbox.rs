//! Escape and exhaustion: each hostile script must end in a clean error,
//! within its limit, with nothing changed (the fake backend records every
//! change it is asked for; files outside `backups/` are checked directly).

mod support;

use std::time::Duration;

use core_data_runbook::engine::{Grants, Limits};

/// Small limits so exhaustion is quick; the defaults are tested by `limits_are_explicit`.
fn tight() -> Limits {
    Limits {
        max_operations: 200_000,
        max_call_levels: 16,
        max_string_size: 64 * 1024,
        max_array_size: 10_000,
        max_map_size: 1_000,
        timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

const WRITES: Grants = Grants::ALL_WRITES;

/// Runs `body` as the body of runbook `main` and returns the rendered error.
fn fails(body: &str, grants: Grants, limits: &Limits) -> (String, std::sync::Arc<support::Fake>) {
    let fake = support::Fake::new();
    let text = format!("fn main() {{\n{body}\n}}\n");
    let ran = support::run("hostile.rhai", &text, grants, limits, &fake, &[]);
    let Err(rendered) = ran.result else {
        panic!("`{body}` must fail; it exited {:?}", ran.result)
    };
    assert!(
        ran.elapsed < Duration::from_secs(10),
        "`{body}` took {:?}",
        ran.elapsed
    );
    assert!(rendered.starts_with("error: "), "{rendered}");
    assert!(
        rendered.contains("hostile.rhai"),
        "the error must name the script:\n{rendered}"
    );
    (rendered, fake)
}

fn assert_contains(rendered: &str, needle: &str) {
    assert!(
        rendered.contains(needle),
        "expected `{needle}` in:\n{rendered}"
    );
}

#[test]
fn import_by_absolute_and_relative_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("evil.rhai");
    std::fs::write(
        &module,
        "fn go() { pg::execute(\"postgres\", \"DROP DATABASE app\", []) }",
    )
    .unwrap();
    for path in [
        module.display().to_string(),
        "../../tmp/evil".to_owned(),
        "evil".to_owned(),
    ] {
        let (rendered, fake) = fails(
            &format!("import \"{path}\" as m;\nm::go();"),
            WRITES,
            &tight(),
        );
        assert_contains(&rendered, "'import' is a reserved keyword");
        assert_contains(&rendered, "hostile.rhai:2:1");
        assert_contains(&rendered, "runbooks cannot import files");
        assert!(fake.changes().is_empty());
    }
}

#[test]
fn eval_is_refused() {
    let (rendered, fake) = fails(
        r#"eval("pg::execute(\"postgres\", \"DROP DATABASE app\", [])");"#,
        WRITES,
        &tight(),
    );
    assert_contains(&rendered, "'eval' is disabled");
    assert!(fake.changes().is_empty());
}

#[test]
fn an_infinite_loop_hits_the_operation_limit() {
    let (rendered, _) = fails("let n = 0;\nloop { n += 1; }", Grants::default(), &tight());
    assert_contains(&rendered, "Too many operations");
}

#[test]
fn an_infinite_loop_hits_the_wall_clock() {
    let limits = Limits {
        max_operations: u64::MAX,
        timeout: Duration::from_millis(300),
        ..tight()
    };
    let started = std::time::Instant::now();
    let (rendered, _) = fails("loop { }", Grants::default(), &limits);
    assert_contains(&rendered, "exceeded its time budget of 300ms");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped after {:?}",
        started.elapsed()
    );
}

#[test]
fn doubling_a_string_hits_the_string_limit() {
    let (rendered, _) = fails(
        "let s = \"x\";\nloop { s += s; }",
        Grants::default(),
        &tight(),
    );
    assert_contains(&rendered, "Length of string too large");
}

#[test]
fn unbounded_recursion_hits_the_call_depth() {
    let fake = support::Fake::new();
    let text = "fn main() { down(0) }\nprivate fn down(n) { down(n + 1) }\n";
    let ran = support::run(
        "hostile.rhai",
        text,
        Grants::default(),
        &tight(),
        &fake,
        &[],
    );
    let rendered = ran.result.unwrap_err();
    assert_contains(&rendered, "Stack overflow");
    assert_contains(&rendered, "call-depth limit");
}

#[test]
fn a_huge_array_hits_the_array_limit() {
    let (rendered, _) = fails(
        "let a = [];\na.pad(50000000, 0);",
        Grants::default(),
        &tight(),
    );
    assert_contains(&rendered, "Size of array/BLOB too large");
    let (rendered, _) = fails(
        "let a = [];\nloop { a.push(a.len()); }",
        Grants::default(),
        &tight(),
    );
    assert_contains(&rendered, "Size of array/BLOB too large");
}

#[test]
fn a_huge_map_hits_the_map_limit() {
    let (rendered, _) = fails(
        "let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; m.len(); }",
        Grants::default(),
        &tight(),
    );
    assert_contains(&rendered, "Size of object map too large");
    // Rhai checks sizes when a value passes through a function call, not on an indexer
    // assignment, so a map filled only by `m[k] = v` is stopped by the operation limit instead.
    let (rendered, _) = fails(
        "let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; }",
        Grants::default(),
        &tight(),
    );
    assert_contains(&rendered, "Too many operations");
}

#[test]
fn write_primitives_do_not_exist_without_the_grant() {
    let calls = [
        (
            r#"pg::execute("postgres", "DROP DATABASE app", [])"#,
            "--allow-sql-writes",
        ),
        (
            r#"pg::transaction("postgres", [["DROP DATABASE app", []]])"#,
            "--allow-sql-writes",
        ),
        (
            r#"docker::exec("postgres", ["pg_isready"])"#,
            "--allow-exec",
        ),
        (r#"backup::run(#{ type: "full" })"#, "--allow-backups"),
        (r#"qa::drop("qa_x")"#, "--allow-backups"),
        (
            r#"fs::write_text("reports", "x.txt", "x")"#,
            "--allow-files",
        ),
        (r#"fs::write_json("reports", "x.json", 1)"#, "--allow-files"),
        (
            r#"fs::write_csv("reports", "x.csv", ["a"], [])"#,
            "--allow-files",
        ),
        (
            r#"fs::append_csv("reports", "x.csv", ["a"], [])"#,
            "--allow-files",
        ),
        (r#"fs::prune("reports", 1)"#, "--allow-files"),
    ];
    for (call, flag) in calls {
        let (rendered, fake) = fails(&format!("{call};"), Grants::default(), &tight());
        assert_contains(&rendered, "Function not found");
        assert_contains(&rendered, &format!("`{flag}`"));
        assert!(fake.changes().is_empty(), "{call} changed something");
        assert!(
            std::fs::read_dir(fake.backups.path())
                .unwrap()
                .next()
                .is_none(),
            "{call} wrote a file"
        );
    }
}

#[test]
fn fs_paths_outside_the_backups_locations_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("target.txt");
    std::fs::write(&target, "original").unwrap();
    let attempts = [
        (
            r#"fs::write_text("../..", "x.txt", "pwned")"#.to_owned(),
            "is not a location under ./backups",
        ),
        (
            r#"fs::write_text("/tmp", "x.txt", "pwned")"#.to_owned(),
            "is not a location under ./backups",
        ),
        (
            r#"fs::write_text("reports", "../../x.txt", "pwned")"#.to_owned(),
            "is not a plain file name",
        ),
        (
            format!(
                r#"fs::write_text("reports", "{}", "pwned")"#,
                target.display()
            ),
            "is not a plain file name",
        ),
        (
            r#"fs::write_text("reports", ".hidden", "pwned")"#.to_owned(),
            "is not a plain file name",
        ),
        (
            r#"fs::list("..")"#.to_owned(),
            "is not a location under ./backups",
        ),
        (
            r#"fs::prune("../reports", 1)"#.to_owned(),
            "is not a location under ./backups",
        ),
    ];
    for (call, message) in attempts {
        let (rendered, _) = fails(&format!("{call};"), WRITES, &tight());
        assert_contains(&rendered, message);
    }
    // A symlink planted inside a location is never followed.
    let fake = support::Fake::new();
    let reports = fake.backups.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    std::os::unix::fs::symlink(&target, reports.join("evil.txt")).unwrap();
    let ran = support::run(
        "hostile.rhai",
        "fn main() {\nfs::write_text(\"reports\", \"evil.txt\", \"pwned\");\n}\n",
        WRITES,
        &tight(),
        &fake,
        &[],
    );
    assert_contains(&ran.result.unwrap_err(), "is a symlink");
    // Nor is a location that is itself a symlink.
    std::os::unix::fs::symlink(outside.path(), fake.backups.path().join("drills")).unwrap();
    let ran = support::run(
        "hostile.rhai",
        "fn main() {\nfs::write_text(\"drills\", \"x.txt\", \"pwned\");\n}\n",
        WRITES,
        &tight(),
        &fake,
        &[],
    );
    assert_contains(&ran.result.unwrap_err(), "is a symlink");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "original");
    assert!(!outside.path().join("x.txt").exists());
}

#[test]
fn fs_writes_land_under_backups_and_prune_only_old_files() {
    let fake = support::Fake::new();
    // A report last modified three days ago, beside the fresh ones this run writes.
    let reports = fake.backups.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let old = reports.join("old.txt");
    std::fs::write(&old, "old").unwrap();
    let three_days_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(three_days_ago)
        .unwrap();
    let text = r#"fn main() {
        fs::write_json("reports", "r.json", #{ ok: true, n: [1, 2] });
        fs::write_csv("drills", "d.csv", ["a", "b"], [#{ a: 1, b: "x,y" }]);
        fs::append_csv("drills", "d.csv", ["a", "b"], [#{ a: 2 }]);
        let names = fs::list("drills").map(|f| f.name);
        print(names);
        print(fs::prune("reports", 1));
        print(fs::prune("reports", 4));
    }"#;
    let ran = support::run("ok.rhai", text, WRITES, &tight(), &fake, &[]);
    assert_eq!(ran.result, Ok(0), "{}", ran.stderr);
    let root = fake.backups.path();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("reports/r.json")).unwrap())
            .unwrap();
    assert_eq!(json, serde_json::json!({ "ok": true, "n": [1, 2] }));
    assert_eq!(
        std::fs::read_to_string(root.join("drills/d.csv")).unwrap(),
        "a,b\n1,\"x,y\"\n2,\n"
    );
    assert_eq!(
        ran.stdout, "ok.rhai:6: [\"d.csv\"]\nok.rhai:7: [\"old.txt\"]\nok.rhai:8: []\n",
        "prune returns what it deleted: the old file, then nothing"
    );
    assert!(!old.exists(), "a file older than the limit is deleted");
    assert!(
        root.join("reports/r.json").exists(),
        "a fresh file is not pruned"
    );
}

#[test]
fn sql_values_are_parameters_not_text() {
    let fake = support::Fake::new();
    let text = r#"fn main() {
        let rows = pg::query("postgres", "SELECT $1::text AS v", ["x'; DROP TABLE t; --"]);
        print(rows[0].sql);
    }"#;
    let ran = support::run("ok.rhai", text, Grants::default(), &tight(), &fake, &[]);
    assert_eq!(ran.result, Ok(0));
    assert!(
        ran.stdout.contains("SELECT $1::text AS v"),
        "the SQL text must reach the backend unchanged: {}",
        ran.stdout
    );
}

/// The limits `cargo xtask run` uses are the engine's, in every build (Rhai's own
/// call-depth default is 8 levels in debug builds and 64 in release): the engine
/// reports them, and at run time the limit itself passes and one past it stops
/// the script with that limit's error.
#[test]
fn limits_are_explicit_and_the_same_in_every_build() {
    let limits = Limits::default();
    assert_eq!(limits.max_modules, 0, "runbooks import nothing");
    let sb = core_data_runbook::engine::sandbox(
        &limits,
        Grants::default(),
        support::Fake::new(),
        std::sync::Arc::new(core_data_runbook::engine::Captured::default()),
    );
    let engine = &sb.engine;
    assert_eq!(engine.max_operations(), limits.max_operations);
    assert_eq!(engine.max_call_levels(), limits.max_call_levels);
    assert_eq!(engine.max_expr_depth(), limits.max_expr_depth);
    assert_eq!(
        engine.max_function_expr_depth(),
        limits.max_function_expr_depth
    );
    assert_eq!(engine.max_string_size(), limits.max_string_size);
    assert_eq!(engine.max_array_size(), limits.max_array_size);
    assert_eq!(engine.max_map_size(), limits.max_map_size);
    assert_eq!(engine.max_variables(), limits.max_variables);
    assert_eq!(engine.max_functions(), limits.max_functions);
    assert_eq!(engine.max_modules(), limits.max_modules);

    let run = |limits: &Limits, text: &str| {
        let fake = support::Fake::new();
        support::run("limits.rhai", text, Grants::default(), limits, &fake, &[]).result
    };
    let body = |body: String| format!("fn main() {{\n{body}\n()\n}}\n");
    for (make, error, max) in [
        (
            "let s = \"\"; s.pad(N, 'x'); s.len();",
            "Length of string too large",
            limits.max_string_size,
        ),
        (
            "let a = []; a.pad(N, 0); a.len();",
            "Size of array/BLOB too large",
            limits.max_array_size,
        ),
        (
            "let m = #{}; for i in 0..N { m[`k${i}`] = i; } m.len();",
            "Size of object map too large",
            limits.max_map_size,
        ),
    ] {
        let at = |n: usize| run(&limits, &body(make.replace('N', &n.to_string())));
        assert_eq!(at(max), Ok(0), "`{make}` at its limit {max}");
        let stopped = at(max + 1).unwrap_err();
        assert!(stopped.contains(error), "`{make}` past {max}:\n{stopped}");
    }
    // Call depth: the deepest recursion that runs follows the configured limit.
    let deepest = |limits: &Limits| {
        (1..200)
            .find(|depth| {
                let text = format!(
                    "fn main() {{ down({depth}) }}\nprivate fn down(n) {{ if n > 0 {{ down(n - 1) }} }}\n"
                );
                match run(limits, &text) {
                    Ok(_) => false,
                    Err(rendered) => {
                        assert!(rendered.contains("Stack overflow"), "{rendered}");
                        true
                    }
                }
            })
            .expect("some depth overflows")
    };
    let small = Limits {
        max_call_levels: 16,
        ..Limits::default()
    };
    assert_eq!(
        deepest(&limits) - limits.max_call_levels,
        deepest(&small) - small.max_call_levels,
        "the call depth that overflows follows `max_call_levels`"
    );
    assert!(
        deepest(&limits) > 40,
        "48 levels, not Rhai's debug default of 8"
    );
}
