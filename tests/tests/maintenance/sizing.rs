//! Workload-aware sizing: `init --workload` writes the workload and leaves
//! the tuning keys `auto`; `config show --diff --workload` previews a change
//! without making it; `PG_WORKLOAD` in `.env` plus `config apply` makes it.

use core_data_tests::{xtask, TestStack};

use super::cli;

pub(crate) fn init_writes_the_workload(t: &TestStack) {
    let _ = t;
    let state = tempfile::tempdir().unwrap();
    let state_path = camino::Utf8Path::from_path(state.path()).unwrap();
    let out = xtask(
        state_path,
        &[
            "init",
            "--non-interactive",
            "--workload",
            "dw",
            "--memory",
            "8GB",
            "--cpus",
            "4",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let env = std::fs::read_to_string(state.path().join(".env")).unwrap();
    for line in [
        "PG_WORKLOAD=dw",
        "PG_WORK_MEM=auto",
        "PG_MAX_CONNECTIONS=auto",
        "POSTGRES_MEMORY_LIMIT=8192MB",
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "`{line}` missing from:\n{env}"
        );
    }
    let out = xtask(
        state_path,
        &[
            "init",
            "--non-interactive",
            "--force",
            "--workload",
            "batch",
        ],
    );
    assert_ne!(out.code, Some(0), "{out}");
    assert!(out.stderr.contains("PG_WORKLOAD"), "{out}");
}

pub(crate) fn a_workload_change_is_previewed_then_applied(t: &mut TestStack) {
    let env_before = std::fs::read_to_string(t.paths().env_file()).unwrap();
    assert!(
        env_before.lines().any(|l| l == "PG_WORK_MEM=auto"),
        "{env_before}"
    );
    let out = cli(t, &["config", "show", "--diff"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.stdout.contains("nothing would change"), "{out}");

    let out = cli(t, &["config", "show", "--diff", "--workload", "dw"]);
    assert_eq!(out.code, Some(0), "{out}");
    for change in [
        "max_connections",
        "default_statistics_target",
        "max_wal_size",
    ] {
        assert!(
            out.stdout.contains(change),
            "`{change}` not previewed: {out}"
        );
    }
    assert!(out.stdout.contains("100 -> 500"), "{out}");
    // A preview changes nothing.
    assert_eq!(
        std::fs::read_to_string(t.paths().env_file()).unwrap(),
        env_before
    );
    assert_eq!(
        t.query_one_string("postgres", "SHOW default_statistics_target"),
        "100"
    );

    t.set("PG_WORKLOAD", "dw");
    let out = cli(t, &["config", "apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        t.query_one_string("postgres", "SHOW default_statistics_target"),
        "500"
    );
    assert_eq!(t.query_one_string("postgres", "SHOW max_connections"), "40");
    assert_eq!(t.query_one_string("postgres", "SHOW max_wal_size"), "16GB");

    t.set("PG_WORKLOAD", "mixed");
    let out = cli(t, &["config", "apply"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        t.query_one_string("postgres", "SHOW max_connections"),
        "100"
    );
    let out = cli(t, &["config", "show", "--diff"]);
    assert!(out.stdout.contains("nothing would change"), "{out}");
}
