//! `version-status`: what is installed against what the configured Debian
//! mirror offers and what each database runs. The server's version comes from
//! the server; package versions and the mirror's candidates from `apt-cache
//! policy` in a one-shot container of the image (confined, non-root, its apt
//! lists in its private /tmp, on the default bridge network because it must
//! reach the mirror); extension versions per database from `pg_extension`
//! against the image's `default_version`. Offline, the mirror's side is
//! "unknown" with the reason, and nothing fails.

use super::{extensions, Audit, Finding, Report, Severity};
use crate::backup::oneshot;

/// apt's options that keep its lists and cache in the container's private
/// /tmp (the root filesystem is read-only and the user is not root).
const APT_OPTIONS: &[&str] = &[
    "-o",
    "Dir::State::Lists=/tmp/apt/lists",
    "-o",
    "Dir::Cache=/tmp/apt/cache",
    "-o",
    "Debug::NoLocking=1",
    "-o",
    "Acquire::Retries=0",
    "-o",
    "Acquire::http::Timeout=15",
];

/// One package's installed version and the mirror's candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub package: String,
    pub installed: Option<String>,
    pub candidate: Option<String>,
}

/// Parses `apt-cache policy` output.
pub fn parse_policy(text: &str) -> Vec<Policy> {
    let mut out: Vec<Policy> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            out.push(Policy {
                package: line.trim_end_matches(':').to_owned(),
                installed: None,
                candidate: None,
            });
            continue;
        }
        let Some(current) = out.last_mut() else {
            continue;
        };
        let version = |rest: &str| {
            let rest = rest.trim();
            (rest != "(none)" && !rest.is_empty()).then(|| rest.to_owned())
        };
        if let Some(rest) = line.trim_start().strip_prefix("Installed:") {
            current.installed = version(rest);
        } else if let Some(rest) = line.trim_start().strip_prefix("Candidate:") {
            current.candidate = version(rest);
        }
    }
    out
}

/// The image's package list (the packages `apt-cache policy` is asked about):
/// packages.txt for the suite's major, without what the suite lacks.
fn packages(suite: &crate::image::suites::Suite) -> Vec<String> {
    crate::image::suites::packages(suite.major)
        .into_iter()
        .map(|(package, _)| package)
        .filter(|package| !suite.lacks.contains(package))
        .collect()
}

/// The mirror's answer: each package's policy, or why it is unknown. Runs
/// in a confined container of the image on `network` (apt-get update, then
/// apt-cache policy, as two execs; no shell).
fn mirror(audit: &Audit<'_>, network: &str) -> anyhow::Result<Result<Vec<Policy>, String>> {
    let stack = audit.stack()?;
    let container = oneshot::confined(stack)?
        .network(network)
        .label(oneshot::ROLE_LABEL, "version-status")
        .entrypoint(&["sleep"])
        .cmd(&["infinity"])
        .start(&stack.docker)?;
    let exec = |argv: Vec<&str>| stack.docker.exec(container.name(), &argv, None);
    let made = exec(vec![
        "mkdir",
        "-p",
        "/tmp/apt/lists/partial",
        "/tmp/apt/cache/archives/partial",
    ])?;
    if made.exit_code != 0 {
        return Ok(Err(format!(
            "could not prepare apt's directories: {}",
            made.stderr.trim()
        )));
    }
    let mut update = vec!["timeout", "120", "apt-get", "-q"];
    update.extend_from_slice(APT_OPTIONS);
    update.push("update");
    let updated = exec(update)?;
    let found = exec(vec!["find", "/tmp/apt/lists", "-name", "*_Packages*"])?;
    if updated.exit_code != 0 || found.stdout.trim().is_empty() {
        let said: Vec<&str> = updated
            .stdout
            .lines()
            .chain(updated.stderr.lines())
            .filter(|line| line.starts_with("W:") || line.starts_with("E:"))
            .take(3)
            .collect();
        return Ok(Err(format!(
            "the mirror `{}` could not be reached from a container: {}",
            stack.config.get("DEBIAN_MIRROR"),
            if said.is_empty() {
                "apt-get update fetched no package lists".to_owned()
            } else {
                said.join(" / ")
            }
        )));
    }
    let mut policy = vec!["apt-cache"];
    policy.extend_from_slice(APT_OPTIONS);
    policy.push("policy");
    let packages = packages(&stack.config.suite());
    policy.extend(packages.iter().map(String::as_str));
    let answered = exec(policy)?;
    if answered.exit_code != 0 {
        return Ok(Err(format!(
            "apt-cache policy failed (exit {}): {}",
            answered.exit_code,
            answered.stderr.trim()
        )));
    }
    Ok(Ok(parse_policy(&answered.stdout)))
}

/// `network` is the Docker network the one-shot container reaches the mirror through.
pub fn run(audit: &Audit<'_>, network: &str) -> anyhow::Result<Report> {
    let mut report = Report::new("versions");
    let mut client = audit.connect("postgres")?;
    let server: String = client.query_one("SELECT version()", &[])?.get(0);
    report.notes.push(format!("server: {server}"));

    match mirror(audit, network)? {
        Ok(policies) => {
            for policy in policies {
                let installed = policy.installed.as_deref().unwrap_or("(none)");
                let finding = match policy.candidate.as_deref() {
                    None => Finding::new(
                        None,
                        policy.package.as_str(),
                        "package-not-offered",
                        Severity::Info,
                        format!("installed {installed}; the mirror does not offer it"),
                    ),
                    Some(candidate) if Some(candidate) != policy.installed.as_deref() => {
                        Finding::new(
                            None,
                            policy.package.as_str(),
                            "package-update-available",
                            Severity::Warning,
                            format!(
                                "installed {installed}, the mirror offers {candidate}; \
                                 `cargo xtask build-image --force` then `cargo xtask up` takes it"
                            ),
                        )
                    }
                    Some(_) => Finding::new(
                        None,
                        policy.package.as_str(),
                        "package-current",
                        Severity::Info,
                        format!("installed {installed}, the newest the mirror offers"),
                    ),
                };
                report.push(finding);
            }
        }
        Err(reason) => report.push(Finding::new(
            None,
            stack_mirror(audit),
            "mirror-unknown",
            Severity::Info,
            format!("package updates unknown: {reason}"),
        )),
    }

    audit.each_database(|database, client| {
        report.databases.push(database.to_owned());
        for ext in extensions::installed(client)? {
            let finding = extensions::version_finding(database, &ext).unwrap_or_else(|| {
                Finding::new(
                    Some(database),
                    ext.name.as_str(),
                    "extension-current",
                    Severity::Info,
                    format!("{}, the image's version", ext.version),
                )
            });
            report.push(finding);
        }
        Ok(())
    })?;
    Ok(report)
}

fn stack_mirror(audit: &Audit<'_>) -> String {
    audit
        .stack()
        .map(|stack| stack.config.get("DEBIAN_MIRROR").to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_output_is_read_per_package() {
        let text = "postgresql-17:\n  Installed: 17.6-1\n  Candidate: 17.7-1\n  Version table:\n \
                    *** 17.6-1 100\n        100 /var/lib/dpkg/status\npgbadger:\n  Installed: 13.1-1\n  \
                    Candidate: 13.1-1\nghost:\n  Installed: (none)\n  Candidate: (none)\n";
        let got = parse_policy(text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].installed.as_deref(), Some("17.6-1"));
        assert_eq!(got[0].candidate.as_deref(), Some("17.7-1"));
        assert_eq!(got[1].installed, got[1].candidate);
        assert_eq!(got[2].installed, None);
        assert_eq!(got[2].candidate, None);
        let trixie = crate::image::suites::named("trixie").unwrap();
        assert!(packages(&trixie).contains(&"postgresql-17".to_owned()));
        let bookworm = crate::image::suites::named("bookworm").unwrap();
        assert!(packages(&bookworm).contains(&"postgresql-15-postgis-3".to_owned()));
        assert!(!packages(&bookworm).contains(&"postgresql-15-age".to_owned()));
    }
}
