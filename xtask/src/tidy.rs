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

/// The service blocks of compose.yaml: (name, lines).
fn compose_services() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(repo_root().join("compose/compose.yaml")).unwrap();
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_services = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_services = line == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                services.push((name.to_owned(), Vec::new()));
                continue;
            }
        }
        if let Some((_, lines)) = services.last_mut() {
            lines.push(line.trim().to_owned());
        }
    }
    assert!(!services.is_empty(), "no services parsed from compose.yaml");
    services
}

#[test]
fn every_compose_service_is_confined() {
    for (service, lines) in compose_services() {
        let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
        assert!(
            has("cap_drop: [ALL]"),
            "service `{service}` must drop all capabilities"
        );
        assert!(
            has("no-new-privileges:true"),
            "service `{service}` must set no-new-privileges"
        );
        assert!(
            has("read_only: true"),
            "service `{service}` must have a read-only root filesystem"
        );
        assert!(
            has("pids_limit:"),
            "service `{service}` must have a pids limit"
        );
        let seccomp = lines
            .iter()
            .find_map(|line| {
                line.split("/seccomp/")
                    .nth(1)
                    .map(|rest| rest.trim_end_matches('}').to_owned())
            })
            .unwrap_or_else(|| panic!("service `{service}` names no seccomp/ profile"));
        let profile = repo_root().join("seccomp").join(&seccomp);
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&profile)
                .unwrap_or_else(|_| panic!("`{profile}` (service `{service}`) is missing")),
        )
        .unwrap_or_else(|err| panic!("`{profile}` is not JSON: {err}"));
        assert_eq!(
            json["defaultAction"], "SCMP_ACT_ERRNO",
            "`{profile}` must deny by default"
        );
        assert!(
            !lines.iter().any(|line| line.starts_with("privileged")),
            "service `{service}` must not be privileged"
        );
        let published_everywhere = lines.iter().any(|line| {
            line.starts_with("- \"0.0.0.0:")
                || line.starts_with("- \"${") && !line.contains("BIND_ADDRESS")
        });
        assert!(
            !published_everywhere,
            "service `{service}` must publish ports on the configured bind address only"
        );
    }
}
