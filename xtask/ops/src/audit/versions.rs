//! `version-status`: what is installed against what the configured Debian
//! mirror offers and what each database runs. The server's version comes from
//! the server; package versions and the mirror's candidates from `apt-cache
//! policy` in a one-shot container of the image (confined, non-root, its apt
//! lists in its private /tmp, on the default bridge network because it must
//! reach the mirror); extension versions per database from `pg_extension`
//! against the image's `default_version`. Offline, the mirror's side is
//! "unknown" with the reason, and nothing fails.

use super::{Audit, Finding, Report, Severity};
use crate::backup::oneshot;

/// The image's package list (the packages `apt-cache policy` is asked about).
const PACKAGES_FILE: &str = include_str!("../../../../postgres/packages.txt");

/// Fetches the mirror's package lists into /tmp and prints `apt-cache
/// policy` for the packages given as arguments; `UNREACHABLE` and the last
/// lines of apt's output when the lists could not be fetched.
const POLICY_SCRIPT: &str = r#"
set -u
lists=/tmp/apt/lists cache=/tmp/apt/cache
mkdir -p "$lists/partial" "$cache/archives/partial"
set -- -o Dir::State::Lists="$lists" -o Dir::Cache="$cache" -o Debug::NoLocking=1 \
  -o Acquire::Retries=0 -o Acquire::http::Timeout=15 "$@"
if ! timeout 120 apt-get "$@" -q update >/tmp/apt/update.log 2>&1 \
   || ! ls "$lists"/*_Packages* >/dev/null 2>&1; then
  echo UNREACHABLE; tail -n 3 /tmp/apt/update.log; exit 0
fi
"#;

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

fn packages() -> Vec<&'static str> {
    PACKAGES_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

/// The mirror's answer: each package's policy, or why it is unknown.
fn mirror(audit: &Audit<'_>, network: &str) -> anyhow::Result<Result<Vec<Policy>, String>> {
    let stack = audit.stack;
    let mut script = POLICY_SCRIPT.to_owned();
    script.push_str("apt-cache \"$@\" policy $PACKAGES\n");
    let output = oneshot::confined(stack)?
        .network(network)
        .env("PACKAGES", &packages().join(" "))
        .entrypoint(&["sh", "-c", &script, "version-status"])
        .run(&stack.docker)?;
    if output.exit_code != 0 {
        return Ok(Err(format!(
            "apt-cache failed in a one-shot container (exit {}): {}",
            output.exit_code,
            output.stderr.trim()
        )));
    }
    if let Some(rest) = output.stdout.strip_prefix("UNREACHABLE") {
        return Ok(Err(format!(
            "the mirror `{}` could not be reached from a container: {}",
            stack.config.get("DEBIAN_MIRROR"),
            rest.trim().replace('\n', " / ")
        )));
    }
    Ok(Ok(parse_policy(&output.stdout)))
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
        let rows = client.query(
            "SELECT e.extname::text, e.extversion, a.default_version \
             FROM pg_extension e LEFT JOIN pg_available_extensions a ON a.name = e.extname \
             ORDER BY 1",
            &[],
        )?;
        for row in rows {
            let (name, version, default): (String, String, Option<String>) =
                (row.get(0), row.get(1), row.get(2));
            let default = default.unwrap_or_default();
            if version == default {
                report.push(Finding::new(
                    Some(database),
                    name.as_str(),
                    "extension-current",
                    Severity::Info,
                    format!("{version}, the image's version"),
                ));
            } else {
                report.push(Finding::new(
                    Some(database),
                    name.as_str(),
                    "extension-update-available",
                    Severity::Warning,
                    format!(
                        "{version} installed, the image has {default}; \
                         run `ALTER EXTENSION {name} UPDATE` in `{database}`"
                    ),
                ));
            }
        }
        Ok(())
    })?;
    Ok(report)
}

fn stack_mirror(audit: &Audit<'_>) -> String {
    audit.stack.config.get("DEBIAN_MIRROR").to_owned()
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
        assert!(packages().contains(&"postgresql-17"));
    }
}
