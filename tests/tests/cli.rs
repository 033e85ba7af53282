//! The CLI binary as a user meets it: help, a bad configuration that starts
//! nothing, and destructive commands that refuse without `--yes`.

use core_data_ops::docker::Docker;
use core_data_tests::{docker_available, xtask};

fn state_dir() -> (tempfile::TempDir, camino::Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = camino::Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
    (dir, path)
}

#[test]
fn help_lists_the_commands() {
    let (_dir, state) = state_dir();
    let out = xtask(&state, &["--help"]);
    assert_eq!(out.code, Some(0), "{out}");
    for command in [
        "doctor",
        "init",
        "build-image",
        "up",
        "down",
        "status",
        "psql",
        "service-urls",
        "create-db",
        "drop-db",
    ] {
        assert!(
            out.stdout.contains(command),
            "`{command}` missing from --help:\n{out}"
        );
    }
    let out = xtask(&state, &["no-such-command"]);
    assert_eq!(out.code, Some(2), "usage errors exit 2:\n{out}");
}

#[test]
fn a_bad_value_fails_clearly_and_starts_nothing() {
    if !docker_available("a_bad_value_fails_clearly_and_starts_nothing") {
        return;
    }
    let (_dir, state) = state_dir();
    let project = format!("cdt_badvalue_{}", std::process::id());
    let out = xtask(
        &state,
        &[
            "init",
            "--non-interactive",
            "--set",
            &format!("COMPOSE_PROJECT_NAME={project}"),
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");

    let env = state.join(".env");
    let text = std::fs::read_to_string(&env).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("PG_SHARED_BUFFERS="))
        .unwrap()
        + 1;
    std::fs::write(
        &env,
        text.replace(
            &text.lines().nth(line - 1).unwrap().to_owned(),
            "PG_SHARED_BUFFERS=lots",
        ),
    )
    .unwrap();

    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(1), "{out}");
    let expected = format!(
        "error: {env} line {line}: `PG_SHARED_BUFFERS=lots`: expected a size such as 512MB or 4GB"
    );
    assert!(
        out.stderr.contains(&expected),
        "expected `{expected}` in:\n{out}"
    );
    assert!(
        !out.stderr.contains("Building") && !out.stderr.contains("Starting"),
        "nothing may start:\n{out}"
    );

    let containers = Docker::connect()
        .unwrap()
        .project_containers(&project)
        .unwrap();
    assert!(
        containers.is_empty(),
        "a bad configuration must start nothing: {containers:?}"
    );
    assert!(
        !state.join("rendered").exists(),
        "nothing may be rendered from a bad configuration"
    );

    std::fs::write(
        &env,
        format!(
            "{}\nPG_WROK_MEM=4MB\n",
            std::fs::read_to_string(&env)
                .unwrap()
                .replace("PG_SHARED_BUFFERS=lots", "PG_SHARED_BUFFERS=128MB")
        ),
    )
    .unwrap();
    let out = xtask(&state, &["up"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr
            .contains("unknown key `PG_WROK_MEM`; did you mean `PG_WORK_MEM`?"),
        "{out}"
    );
}

#[test]
fn init_never_overwrites_secrets_without_force() {
    let (_dir, state) = state_dir();
    let out = xtask(
        &state,
        &[
            "init",
            "--non-interactive",
            "--memory",
            "2GB",
            "--cpus",
            "2",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let secret = state.join("secrets/postgres_superuser_password");
    let first = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(first.len(), 32);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "secret files are 0600");
    let env = std::fs::read_to_string(state.join(".env")).unwrap();
    assert!(
        env.contains("PG_SHARED_BUFFERS=512MB"),
        "a 2GB budget gives 512MB shared_buffers:\n{env}"
    );
    assert!(!env.contains(&first), "no secret may appear in .env");

    let out = xtask(&state, &["init", "--non-interactive"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        first,
        "secrets survive a second init"
    );

    let out = xtask(&state, &["init", "--non-interactive", "--force"]);
    assert_eq!(out.code, Some(0), "{out}");
    assert_ne!(
        std::fs::read_to_string(&secret).unwrap(),
        first,
        "--force regenerates"
    );

    let out = xtask(
        &state,
        &[
            "init",
            "--non-interactive",
            "--force",
            "--set",
            "NETWORK_SUBNET=10.0.0.5/24",
        ],
    );
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("did you mean `10.0.0.0/24`?"), "{out}");
}

#[test]
fn destructive_commands_need_yes() {
    let (_dir, state) = state_dir();
    assert_eq!(xtask(&state, &["init", "--non-interactive"]).code, Some(0));
    let out = xtask(&state, &["drop-db", "app"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("add `--yes` to confirm"), "{out}");
    if docker_available("destructive_commands_need_yes") {
        let out = xtask(&state, &["down", "--volumes"]);
        assert_eq!(out.code, Some(1), "{out}");
        assert!(out.stderr.contains("add `--yes` to confirm"), "{out}");
    }
}

#[test]
fn backup_commands_explain_before_acting() {
    if !docker_available("backup_commands_explain_before_acting") {
        return;
    }
    let (_dir, state) = state_dir();
    assert_eq!(xtask(&state, &["init", "--non-interactive"]).code, Some(0));

    let missing = state.join("backups/no-such.dump");
    let out = xtask(&state, &["restore-dump", missing.as_str(), "app"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "cannot open dump file `{missing}`; check the path"
        )),
        "{out}"
    );

    let garbage = state.join("backups/garbage.dump");
    std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    std::fs::write(&garbage, "not a dump at all").unwrap();
    let out = xtask(&state, &["restore-dump", garbage.as_str(), "app"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.starts_with("error: "),
        "one error line for the user:\n{out}"
    );

    for args in [
        &["backup", "--type", "weekly"][..],
        &["provision-qa"],
        &["restore-dump", "only-a-file"],
    ] {
        let out = xtask(&state, args);
        assert_eq!(
            out.code,
            Some(2),
            "`{}` is a usage error:\n{out}",
            args.join(" ")
        );
    }
    let out = xtask(&state, &["backup", "--help"]);
    assert_eq!(out.code, Some(0), "{out}");
    for word in ["--type", "--verify", "--set", "info", "check", "expire"] {
        assert!(
            out.stdout.contains(word),
            "`{word}` missing from `backup --help`:\n{out}"
        );
    }
}

#[test]
fn runbook_grants_are_named_one_by_one() {
    let (_dir, state) = state_dir();
    let out = xtask(&state, &["run", "--help"]);
    assert_eq!(out.code, Some(0), "{out}");
    for flag in [
        "--allow-sql-writes",
        "--sql-as-superuser",
        "--allow-exec",
        "--allow-backups",
        "--allow-files",
        "--max-output-bytes",
    ] {
        assert!(out.stdout.contains(flag), "`{flag}` missing:\n{out}");
    }
    assert!(!out.stdout.contains("--allow-writes"), "{out}");
    // The removed catch-all is a usage error naming its replacements, before anything is read.
    let out = xtask(&state, &["run", "nightly_checks", "--allow-writes"]);
    assert_eq!(out.code, Some(2), "{out}");
    for needle in [
        "`--allow-writes` was removed",
        "--allow-sql-writes",
        "--allow-exec",
    ] {
        assert!(out.stderr.contains(needle), "`{needle}` missing:\n{out}");
    }
    let out = xtask(&state, &["run", "nightly_checks", "--sql-as-superuser"]);
    assert_eq!(out.code, Some(2), "{out}");
    assert!(out.stderr.contains("--allow-sql-writes"), "{out}");
}
