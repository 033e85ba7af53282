//! Confinement of the mounts, colliding and hostile names, psql meta-commands, symlinks.

use super::*;

// ---------------------------------------------------------------- confinement and names

pub(super) fn mounts_are_confined(t: &TestStack) {
    let postgres = t
        .stack
        .docker
        .exec(
            &t.stack.container(),
            &["touch", "/backups/written-by-postgres"],
            None,
        )
        .unwrap();
    assert_ne!(postgres.exit_code, 0, "postgres must not write to /backups");
    assert!(
        postgres.stderr.contains("Read-only file system"),
        "{postgres:?}"
    );
    let sidecar = t
        .stack
        .docker
        .exec(
            &logical::sidecar_container(&t.stack),
            &["ls", "-A", "/backups"],
            None,
        )
        .unwrap();
    assert_eq!(
        sidecar.stdout.trim(),
        "logical",
        "the sidecar sees only its directory"
    );
}

pub(super) fn colliding_names_get_their_own_files(t: &TestStack) {
    let names = ["a b", "a_b", "a.b"];
    let mut admin = t.stack.connect("postgres").unwrap();
    for name in names {
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {}",
                core_data_ops::sql::quote_ident(name)
            ))
            .unwrap();
        t.stack
            .connect(name)
            .unwrap()
            .execute("CREATE TABLE who AS SELECT $1::text AS name", &[&name])
            .unwrap();
    }
    let created = epoch_now();
    // `dump` in the same second: three files, none overwritten.
    let paths: Vec<Utf8PathBuf> = names
        .iter()
        .map(|name| logical::dump(&t.stack, name, None, &Quiet).unwrap().path)
        .collect();
    let mut unique = paths.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "{paths:?}");
    for path in &paths {
        assert!(
            path.exists() && dump_file::manifest_path(path).exists(),
            "{path}"
        );
    }

    // The sidecar: one file per database, each with its manifest, each restoring its own database.
    let run = wait_for(
        t,
        "a sidecar run with the new databases",
        Duration::from_secs(90),
        || {
            status(t)
                .and_then(|s| s.last_run)
                .filter(|r| r.ok && r.started_epoch > created)
        },
    );
    let dir = logical::sidecar_dir(&t.stack).join(&run.directory);
    // Copied out at once: the 20s retention prunes the run while we restore from it.
    let kept = t.paths().backups_dir().join("sidecar-copy");
    std::fs::create_dir(&kept).unwrap();
    for entry in dir.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let copy = kept.join(entry.file_name());
        std::fs::copy(entry.path(), &copy).unwrap();
        core_data_ops::fsutil::hand_over(&copy, t.stack.config.uid(), t.stack.config.gid())
            .unwrap();
    }
    core_data_ops::fsutil::hand_over(&kept, t.stack.config.uid(), t.stack.config.gid()).unwrap();
    let dir = kept;
    let mut files = Vec::new();
    for name in names {
        let entry = run
            .databases
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("`{name}` missing from {:?}", run.databases));
        let file = entry.file.clone().expect("dumped");
        assert_eq!(
            file,
            format!("{}.dump", logical::file_stem(name)),
            "same names as the CLI"
        );
        files.push(file.clone());
        let path = dir.join(&file);
        assert!(dump_file::manifest_path(&path).exists(), "{path}");
        let target = format!("check_{}", files.len());
        logical::restore_dump(&t.stack, &path, &target, &opts(false, None, false), &Quiet)
            .unwrap_or_else(|err| panic!("restoring the sidecar's `{path}`: {err:#}"));
        assert_eq!(t.query_one_string(&target, "SELECT name FROM who"), name);
    }
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 3, "{files:?}");
}

pub(super) fn meta_commands_never_run(t: &TestStack, original: &str) {
    let oid = database_oid(t, "app");
    let sql = logical::dump_sql(&t.stack, "app", None, &Quiet).unwrap();
    let text = std::fs::read_to_string(&sql.path).unwrap();
    let own_key = text
        .lines()
        .find_map(|line| line.strip_prefix("\\restrict "))
        .expect("pg_dump 17.6+ brackets plain dumps with \\restrict")
        .to_owned();
    let first_set = text.find("\nSET ").expect("a SET statement") + 1;
    let pwned = "/tmp/core_data_pwned";
    let evil = |payload: &str| {
        let mut evil = text.clone();
        evil.insert_str(first_set, payload);
        evil
    };
    let shell = format!("\\! touch {pwned}\n");
    let backups = t.paths().backups_dir();

    let plain = backups.join("evil.sql");
    std::fs::write(&plain, evil(&shell)).unwrap();
    assert_refused(
        t,
        &plain,
        &opts(true, None, false),
        "was not written by core_data",
        original,
        oid,
    );
    dump_file::write_manifest(&plain, &dump_file::manifest_path(&plain), "evil.sql").unwrap();
    assert_refused(
        t,
        &plain,
        &opts(true, None, false),
        "a psql meta-command",
        original,
        oid,
    );
    // `--trust` skips the early check; psql still refuses, restricted by a key the file cannot know.
    assert_refused(
        t,
        &plain,
        &opts(true, None, true),
        "restricted",
        original,
        oid,
    );
    let sneaky = backups.join("evil-unrestrict.sql");
    std::fs::write(&sneaky, evil(&format!("\\unrestrict {own_key}\n{shell}"))).unwrap();
    assert_refused(
        t,
        &sneaky,
        &opts(true, None, true),
        "unrestrict",
        original,
        oid,
    );

    let ran = t
        .stack
        .docker
        .exec(&t.stack.container(), &["test", "-e", pwned], None)
        .unwrap();
    assert_ne!(
        ran.exit_code, 0,
        "`\\!` ran a shell command in the postgres container"
    );
}

pub(super) fn writes_never_follow_symlinks(t: &TestStack) {
    let state = t.paths().state();
    let victim = state.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let link = state.join("out.dump");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let err = logical::dump(&t.stack, "app", Some(&link), &Quiet).unwrap_err();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
    let output = state.join("planted.dump");
    std::os::unix::fs::symlink(&victim, state.join("planted.dump.partial")).unwrap();
    let err = logical::dump(&t.stack, "app", Some(&output), &Quiet).unwrap_err();
    assert!(format!("{err:#}").contains("must not exist yet"), "{err:#}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!output.exists());

    // A symlinked backups/ is refused, not written through.
    let backups = t.paths().backups_dir();
    let real = state.join("backups-real");
    std::fs::rename(&backups, &real).unwrap();
    std::os::unix::fs::symlink(&real, &backups).unwrap();
    let result = logical::dump(&t.stack, "app", None, &Quiet);
    std::fs::remove_file(&backups).unwrap();
    std::fs::rename(&real, &backups).unwrap();
    let err = result.unwrap_err();
    assert!(format!("{err:#}").contains("is a symbolic link"), "{err:#}");
}
