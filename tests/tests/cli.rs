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
        env.contains("POSTGRES_MEMORY_LIMIT=2048MB") && env.contains("PG_SHARED_BUFFERS=auto"),
        "the budget is written, the tuning keys follow it:\n{env}"
    );
    let config = core_data_ops::config::Config::load(&core_data_ops::paths::Paths::from_repo(
        Some(state.clone()),
    ))
    .unwrap();
    assert_eq!(
        config.get("PG_SHARED_BUFFERS"),
        "512MB",
        "a 2GB budget gives 512MB shared_buffers"
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
        &["backup", "take", "--type", "weekly"],
        &["backup", "--type", "full", "info"],
        &["backup", "--set", "x"],
        &["provision-qa"],
        &["provision-qa", "--list", "--drop", "x"],
        &["qa", "create"],
        &["qa", "drop"],
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
    // The subcommands are documented; the old flag spellings still parse but are hidden.
    for (args, words) in [
        (
            &["backup", "--help"][..],
            &["take", "verify", "info", "check", "expire"][..],
        ),
        (&["backup", "take", "--help"], &["--type", "--verify"]),
        (&["backup", "verify", "--help"], &["--set"]),
        (&["backup", "info", "--help"], &["--format"]),
        (&["qa", "--help"], &["create", "list", "drop"]),
        (&["qa", "create", "--help"], &["--name"]),
    ] {
        let out = xtask(&state, args);
        assert_eq!(out.code, Some(0), "{out}");
        for word in words {
            assert!(
                out.stdout.contains(word),
                "`{word}` missing from `{}`:\n{out}",
                args.join(" ")
            );
        }
    }
    let out = xtask(&state, &["--help"]);
    assert!(out.stdout.contains("qa "), "{out}");
    assert!(!out.stdout.contains("provision-qa"), "{out}");
}

#[test]
fn completions_cover_every_command() {
    let (_dir, state) = state_dir();
    for shell in ["bash", "zsh", "fish"] {
        let out = xtask(&state, &["completions", shell]);
        assert_eq!(out.code, Some(0), "{out}");
        for command in ["restore-dump", "dump-status", "service-urls", "qa"] {
            assert!(
                out.stdout.contains(command),
                "`{command}` missing from the {shell} completions:\n{out}"
            );
        }
    }
    let bash = xtask(&state, &["completions", "bash"]);
    let script = state.join("xtask.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let check = core_data_ops::process::capture("bash", &["-n", script.as_str()]).unwrap();
    assert!(
        check.success,
        "bash rejects the completion script: {}",
        check.stderr
    );
    let out = xtask(&state, &["completions", "tcsh"]);
    assert_eq!(
        out.code,
        Some(2),
        "an unknown shell is a usage error:\n{out}"
    );
}

#[test]
fn runbooks_as_json() {
    let (_dir, state) = state_dir();
    let out = xtask(&state, &["runbooks", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"));
    let runbooks = json.as_array().expect("an array of runbooks");
    let names: Vec<&str> = runbooks
        .iter()
        .map(|r| r["name"].as_str().expect("`name` is a string"))
        .collect();
    for shipped in ["nightly_checks", "restore_drill"] {
        assert!(names.contains(&shipped), "`{shipped}` missing: {names:?}");
    }
    for runbook in runbooks {
        let doc = runbook["doc"].as_str().expect("`doc` is a string");
        let summary = runbook["summary"].as_str().expect("`summary` is a string");
        assert!(
            !summary.is_empty() && doc.starts_with(summary),
            "the summary is the doc's first line: {runbook}"
        );
        assert!(
            runbook["source"]
                .as_str()
                .is_some_and(|s| s.ends_with("scripts.rhai")),
            "{runbook}"
        );
        assert!(runbook["takes_args"].is_boolean(), "{runbook}");
    }
    let out = xtask(&state, &["runbooks", "--format", "yaml"]);
    assert_eq!(out.code, Some(2), "{out}");
}

#[test]
fn image_info_as_json() {
    if !docker_available("image_info_as_json") {
        return;
    }
    core_data_tests::ensure_image();
    let (_dir, state) = state_dir();
    let mut init = vec!["init".to_owned(), "--non-interactive".to_owned()];
    for (key, value) in core_data_tests::test_overrides() {
        init.extend(["--set".to_owned(), format!("{key}={value}")]);
    }
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    assert_eq!(xtask(&state, &init).code, Some(0));

    let out = xtask(&state, &["image", "info", "--format", "json"]);
    assert_eq!(out.code, Some(0), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{out}"));
    let env = std::fs::read_to_string(state.join(".env")).unwrap();
    let image = json["image"].as_str().expect("`image` is a string");
    assert!(env.contains(&format!("POSTGRES_IMAGE={image}\n")), "{json}");
    assert!(!json["base"].as_str().unwrap_or("").is_empty(), "{json}");
    assert_eq!(
        json["inputs"].as_str().map(str::len),
        Some(64),
        "the inputs hash is a sha256: {json}"
    );
    let packages = json["packages"].as_array().expect("`packages` is an array");
    let postgres = packages
        .iter()
        .find(|p| p["name"] == "postgresql-17")
        .unwrap_or_else(|| panic!("postgresql-17 missing: {json}"));
    assert!(
        postgres["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("17.")),
        "{postgres}"
    );

    let out = xtask(
        &state,
        &[
            "image",
            "info",
            "--format",
            "json",
            "--filter",
            "pgbackrest",
        ],
    );
    assert_eq!(out.code, Some(0), "{out}");
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<&str> = json["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("pgbackrest")),
        "--filter applies to the JSON list: {names:?}"
    );
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
