//! Checks of the codebase itself, run by `cargo test`: module docs, forbidden
//! constructs, and the security invariants of every compose service.

use camino::{Utf8Path, Utf8PathBuf};
use core_data_ops::paths::repo_root;

fn rust_files() -> Vec<Utf8PathBuf> {
    let mut files = Vec::new();
    for dir in ["xtask", "tests"] {
        collect(&repo_root().join(dir), &mut files);
    }
    assert!(
        files.len() > 20,
        "found only {} Rust files; is the walk broken?",
        files.len()
    );
    files
}

fn collect(dir: &Utf8Path, out: &mut Vec<Utf8PathBuf>) {
    for entry in dir.read_dir_utf8().unwrap() {
        let path = entry.unwrap().into_path();
        if path.is_dir() {
            if path.file_name() != Some("target") {
                collect(&path, out);
            }
        } else if path.extension() == Some("rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let missing: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "add a `//!` line saying what each file owns: {missing:?}"
    );
}

#[test]
fn no_forbidden_constructs() {
    // Spelled in pieces so this file does not match itself.
    let forbidden = [
        ["dbg", "!("].concat(),
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
        ["sh", " -c"].concat(),
        ["\"-c\"", ""].concat(),
        ["Engine", "::new("].concat(),
    ];
    let mut hits = Vec::new();
    for path in rust_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            for pattern in &forbidden {
                if line.contains(pattern.as_str()) {
                    hits.push(format!("{path}:{}: `{pattern}`", number + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "forbidden constructs (no shells from strings, no unsandboxed Rhai engines):\n{}",
        hits.join("\n")
    );
}

#[test]
fn exactly_one_rhai_engine_constructor() {
    let constructor = ["Engine", "::new_raw("].concat();
    let sites: Vec<_> = rust_files()
        .into_iter()
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap()
                .contains(&constructor)
        })
        .collect();
    assert!(
        sites.len() <= 1,
        "the Rhai engine must be built in one place only: {sites:?}"
    );
}

/// The services of a compose file, parsed as YAML with its merge keys (`<<: *node`)
/// applied: (name, definition).
fn services_of(file: &str) -> Vec<(String, serde_yaml::Value)> {
    let text = std::fs::read_to_string(repo_root().join("compose").join(file)).unwrap();
    let mut compose: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
    compose.apply_merge().expect("merge keys apply");
    compose["services"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{file} has no `services` mapping"))
        .iter()
        .map(|(name, service)| {
            let mut service = service.clone();
            service.apply_merge().expect("merge keys apply");
            (name.as_str().unwrap().to_owned(), service)
        })
        .collect()
}

/// The services of compose.yaml and of the `ha` topology's compose/ha.yaml.
fn all_compose_services() -> Vec<(String, serde_yaml::Value)> {
    let mut services = compose_services();
    let ha = services_of("ha.yaml");
    let names: Vec<&str> = ha.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["pg1", "pg5", "etcd1", "etcd3", "haproxy"] {
        assert!(
            names.contains(&expected),
            "ha.yaml lacks `{expected}`: {names:?}"
        );
    }
    services.extend(
        ha.into_iter()
            .map(|(name, s)| (format!("ha.yaml:{name}"), s)),
    );
    services
}

/// The services of compose.yaml, parsed as YAML: (name, definition).
fn compose_services() -> Vec<(String, serde_yaml::Value)> {
    let services = services_of("compose.yaml");
    let names: Vec<&str> = services.iter().map(|(name, _)| name.as_str()).collect();
    for expected in ["postgres", "logical_backup"] {
        assert!(
            names.contains(&expected),
            "service `{expected}` not found in {names:?}"
        );
    }
    services
}

/// The strings of a YAML sequence (empty when absent).
fn strings(value: &serde_yaml::Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What is wrong with one service's confinement (empty when nothing).
fn confinement_faults(service: &serde_yaml::Value) -> Vec<String> {
    let mut faults = Vec::new();
    if !strings(&service["cap_drop"]).iter().any(|cap| cap == "ALL") {
        faults.push("must drop all capabilities (cap_drop: [ALL])".to_owned());
    }
    let security = strings(&service["security_opt"]);
    if !security.iter().any(|opt| opt == "no-new-privileges:true") {
        faults.push("must set no-new-privileges".to_owned());
    }
    if service["read_only"].as_bool() != Some(true) {
        faults.push("must have a read-only root filesystem".to_owned());
    }
    if service["pids_limit"].as_u64().is_none() {
        faults.push("must have a pids limit".to_owned());
    }
    if service["privileged"].as_bool() == Some(true) {
        faults.push("must not be privileged".to_owned());
    }
    match security
        .iter()
        .find_map(|opt| opt.strip_prefix("seccomp=")?.split("/seccomp/").nth(1))
    {
        None => faults.push("names no seccomp/ profile".to_owned()),
        Some(file) => {
            let profile = repo_root().join("seccomp").join(file.trim_end_matches('}'));
            match std::fs::read_to_string(&profile)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            {
                None => faults.push(format!("`{profile}` is missing or not JSON")),
                Some(json) if json["defaultAction"] != "SCMP_ACT_ERRNO" => {
                    faults.push(format!("`{profile}` must deny by default"))
                }
                Some(_) => {}
            }
        }
    }
    // `apparmor=${CORE_DATA_APPARMOR_<P>:-docker-default}` where `apparmor/core_data_<p>.profile`
    // exists: the CLI sets the variable when APPARMOR=enabled.
    match security.iter().find_map(|opt| {
        opt.strip_prefix("apparmor=${CORE_DATA_APPARMOR_")?
            .strip_suffix(":-docker-default}")
    }) {
        None => faults
            .push("names no `apparmor=${CORE_DATA_APPARMOR_<SERVICE>:-docker-default}`".to_owned()),
        Some(profile) => {
            let file = repo_root()
                .join("apparmor")
                .join(format!("core_data_{}.profile", profile.to_lowercase()));
            match std::fs::read_to_string(&file) {
                Err(_) => faults.push(format!("names AppArmor profile `{file}`, which is missing")),
                Ok(text) => faults.extend(
                    writable_mounts(service)
                        .into_iter()
                        .filter(|target| !apparmor_writes(&text, target))
                        .map(|target| {
                            format!(
                                "mounts `{target}` writable, which `{file}` does not let it write"
                            )
                        }),
                ),
            }
        }
    }
    for port in strings(&service["ports"]) {
        if !port.starts_with("${") || !port.contains("BIND_ADDRESS") {
            faults.push(format!(
                "port `{port}` must be published on the configured bind address only"
            ));
        }
    }
    faults
}

/// The targets of a service's writable mounts (`source:target`, not `:ro`).
fn writable_mounts(service: &serde_yaml::Value) -> Vec<String> {
    strings(&service["volumes"])
        .iter()
        .filter_map(|mount| {
            let mut parts = mount.rsplit(':');
            let last = parts.next()?;
            match last {
                "ro" => None,
                "rw" => parts.next().map(str::to_owned),
                target => Some(target.to_owned()),
            }
        })
        .collect()
}

/// Whether an AppArmor profile has a rule `<dir>/** <perms>` with `w` covering `target`.
fn apparmor_writes(profile: &str, target: &str) -> bool {
    profile.lines().any(|line| {
        let mut words = line.split_whitespace();
        let (Some(path), Some(perms)) = (words.next(), words.next()) else {
            return false;
        };
        path.strip_suffix("/**").is_some_and(|dir| {
            (target == dir || target.starts_with(&format!("{dir}/"))) && perms.contains('w')
        })
    })
}

#[test]
fn every_compose_service_is_confined() {
    let faults: Vec<String> = all_compose_services()
        .iter()
        .flat_map(|(name, service)| {
            confinement_faults(service)
                .into_iter()
                .map(move |fault| format!("service `{name}` {fault}"))
        })
        .collect();
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[test]
fn the_confinement_check_finds_each_fault() {
    let (_, postgres) = compose_services()
        .into_iter()
        .find(|(name, _)| name == "postgres")
        .unwrap();
    assert_eq!(confinement_faults(&postgres), Vec::<String>::new());
    let broken = |key: &str, value: serde_yaml::Value| {
        let mut service = postgres.clone();
        service[key] = value;
        confinement_faults(&service)
    };
    let seq = |items: &[&str]| serde_yaml::to_value(items).unwrap();
    assert_eq!(broken("cap_drop", seq(&["NET_RAW"])).len(), 1);
    assert_eq!(broken("read_only", false.into()).len(), 1);
    assert_eq!(broken("pids_limit", serde_yaml::Value::Null).len(), 1);
    assert_eq!(broken("privileged", true.into()).len(), 1);
    assert_eq!(
        broken("security_opt", seq(&["seccomp=unconfined"])).len(),
        3
    );
    let mut security = strings(&postgres["security_opt"]);
    security.retain(|opt| !opt.starts_with("apparmor="));
    security.push("apparmor=${CORE_DATA_APPARMOR_NOPE:-docker-default}".to_owned());
    assert_eq!(
        broken("security_opt", serde_yaml::to_value(&security).unwrap()).len(),
        1
    );
    assert_eq!(broken("ports", seq(&["0.0.0.0:5432:5432"])).len(), 1);
    let mut volumes = strings(&postgres["volumes"]);
    volumes.push("stray:/var/cache/elsewhere".to_owned());
    assert_eq!(
        broken("volumes", serde_yaml::to_value(&volumes).unwrap()),
        vec![
            "mounts `/var/cache/elsewhere` writable, which `".to_owned()
                + repo_root()
                    .join("apparmor/core_data_postgres.profile")
                    .as_str()
                + "` does not let it write"
        ]
    );
}

/// Files allowed to run the `docker` CLI: builds, compose and the interactive psql.
const DOCKER_CLI_FILES: &[&str] = &[
    "xtask/ops/src/compose.rs",
    "xtask/ops/src/image/build.rs",
    "xtask/ops/src/psql.rs",
];

/// Calls that would spawn `docker` in `text`, as `line: call` (whitespace ignored,
/// so a call split over lines is found too).
fn docker_spawns(text: &str) -> Vec<String> {
    let spawners = [
        "capture(",
        "capture_with_deadline(",
        "run(",
        "stream(",
        "cmd(",
        "cmd!(sh,",
        // Spelled in pieces so this file does not match itself.
        ["Command", "::new("].concat().leak(),
    ];
    let mut hits = Vec::new();
    let mut compact = String::new();
    let mut line_of = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for c in line.chars().filter(|c| !c.is_whitespace()) {
            compact.push(c);
            line_of.push(number + 1);
        }
    }
    for (at, _) in compact.match_indices("\"docker") {
        let before = &compact[..at];
        if let Some(spawner) = spawners.iter().find(|s| before.ends_with(*s)) {
            hits.push(format!("{}: {spawner}\"docker…", line_of[at]));
        }
    }
    hits
}

#[test]
fn only_ops_docker_reaches_docker_and_nothing_spawns_a_raw_command() {
    let root = repo_root();
    let raw_command = ["process::", "Command"].concat();
    let raw_new = ["Command", "::new("].concat();
    let mut hits = Vec::new();
    for path in rust_files() {
        let relative = path.strip_prefix(&root).unwrap().as_str().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if !DOCKER_CLI_FILES.contains(&relative.as_str()) {
            hits.extend(
                docker_spawns(&text)
                    .into_iter()
                    .map(|hit| format!("{relative}:{hit}")),
            );
        }
        for (number, line) in text.lines().enumerate() {
            // A bare constructor call, not testcontainers' ExecCommand.
            let bare_new = line
                .match_indices(&raw_new)
                .any(|(at, _)| !line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if line.contains(&raw_command) || bare_new {
                hits.push(format!("{relative}:{}: a raw std Command", number + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "Docker is reached through `core_data_ops::docker` only (the docker CLI only in {DOCKER_CLI_FILES:?}), \
         and commands are spawned through duct or xshell:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_docker_spawn_check_finds_split_calls() {
    let split = "let out = process::capture(\n    \"docker\",\n    &[\"ps\"],\n);";
    assert_eq!(
        docker_spawns(split),
        vec!["2: capture(\"docker…".to_owned()]
    );
    assert_eq!(docker_spawns("duct::cmd(\"docker\", &argv)").len(), 1);
    assert_eq!(docker_spawns("cmd!(sh, \"docker ps\")").len(), 1);
    assert!(docker_spawns("Failure::new(\"docker\", message)").is_empty());
}
