//! Audits: read-only checks of the live stack that report findings and fail
//! (exit 1) when one crosses a threshold. Every audit connects as
//! `core_data_auditor` (a member of `pg_monitor`, not a superuser; see
//! `access.rs` for the few `SECURITY DEFINER` functions it may call), covers
//! every non-template database unless narrowed, and returns one [`Report`] of
//! [`Finding`]s. `AUDITS` is the registry `audit <name>` and `audit all` use.

pub mod access;
pub mod autovacuum;
pub mod buffercache;
pub mod config_drift;
pub mod cron;
pub mod exercise;
pub mod extensions;
pub mod format;
pub mod guc;
pub mod index_bloat;
pub mod indexes;
pub mod pgstat;
pub mod pgtap;
pub mod replication;
pub mod roles;
pub mod schema;
pub mod scope;
pub mod security;
pub mod snapshot_file;
pub mod squeeze;
pub mod thresholds;
pub mod user_objects;
pub mod versions;

use serde::{Deserialize, Serialize};

pub use scope::Audit;
pub use thresholds::Thresholds;

/// How much a finding matters. `Info` rows give context (a listing, a
/// measurement under its threshold) and never fail an audit; `Warning` and
/// `Critical` cross a threshold and make the command exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Whether a finding of this severity fails the audit.
    pub fn fails(self) -> bool {
        self >= Severity::Warning
    }
}

/// One observation. `database` is `None` for cluster-wide objects (roles,
/// hba rules, settings, replication). `check` is a stable kebab-case name
/// scripts can match on (`login-without-password`); `detail` is the sentence
/// for people, saying what to do where that is not obvious.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub database: Option<String>,
    pub object: String,
    pub check: String,
    pub severity: Severity,
    /// The measured figure behind the finding, when there is one (dead
    /// tuples, a percentage, bytes, seconds).
    pub value: Option<f64>,
    pub detail: String,
}

impl Finding {
    pub fn new(
        database: Option<&str>,
        object: impl Into<String>,
        check: &str,
        severity: Severity,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            database: database.map(str::to_owned),
            object: object.into(),
            check: check.to_owned(),
            severity,
            value: None,
            detail: detail.into(),
        }
    }

    pub fn with_value(mut self, value: f64) -> Finding {
        self.value = Some(value);
        self
    }
}

/// What one audit found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub audit: String,
    /// The databases examined (empty for cluster-wide audits).
    pub databases: Vec<String>,
    pub findings: Vec<Finding>,
    /// Context that is not a finding (e.g. when statistics were last reset).
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(audit: &str) -> Report {
        Report {
            audit: audit.to_owned(),
            databases: Vec::new(),
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// The most severe finding, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    pub fn failed(&self) -> bool {
        self.worst().is_some_and(Severity::fails)
    }

    /// Findings that cross a threshold (not `Info`).
    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| f.severity.fails()).count()
    }
}

/// Who the audits ran as, read from the connection itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub role: String,
    pub superuser: bool,
}

/// `audit all`: every audit's report, and the worst outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub connected_as: Identity,
    pub reports: Vec<Report>,
    pub problems: usize,
    pub failed: bool,
}

impl Summary {
    pub fn new(connected_as: Identity, reports: Vec<Report>) -> Summary {
        let problems = reports.iter().map(Report::problems).sum();
        let failed = reports.iter().any(Report::failed);
        Summary {
            connected_as,
            reports,
            problems,
            failed,
        }
    }
}

/// One audit of the registry.
pub struct Definition {
    pub name: &'static str,
    pub run: fn(&Audit<'_>) -> anyhow::Result<Report>,
}

/// Every audit `audit all` runs, in the order it prints them. `audit schema`
/// (a snapshot file, not a check) is not among them.
pub const AUDITS: &[Definition] = &[
    Definition {
        name: "config",
        run: config_drift::run,
    },
    Definition {
        name: "roles",
        run: roles::run,
    },
    Definition {
        name: "security",
        run: security::run,
    },
    Definition {
        name: "extensions",
        run: extensions::run,
    },
    Definition {
        name: "replication",
        run: replication::run,
    },
    Definition {
        name: "cron",
        run: cron::run,
    },
    Definition {
        name: "autovacuum",
        run: autovacuum::run,
    },
    Definition {
        name: "squeeze",
        run: squeeze::run,
    },
    Definition {
        name: "index-bloat",
        run: index_bloat::run,
    },
    Definition {
        name: "indexes",
        run: indexes::run,
    },
    Definition {
        name: "buffercache",
        run: buffercache::run,
    },
];

/// Looks an audit up by its command name.
pub fn find(name: &str) -> Option<&'static Definition> {
    AUDITS.iter().find(|audit| audit.name == name)
}

/// Runs one audit. An audit that cannot run (a query refused, a database gone)
/// is an error naming the audit.
pub fn run(audit: &Audit<'_>, definition: &Definition) -> anyhow::Result<Report> {
    use anyhow::Context;
    (definition.run)(audit).with_context(|| format!("audit `{}` could not run", definition.name))
}

/// Runs every audit. One that cannot run becomes a critical finding of its
/// own report (so the others still run and the summary still fails).
pub fn run_all(audit: &Audit<'_>) -> anyhow::Result<Summary> {
    let mut reports = Vec::new();
    for definition in AUDITS {
        match run(audit, definition) {
            Ok(report) => reports.push(report),
            Err(error) => {
                let mut report = Report::new(definition.name);
                report.push(Finding::new(
                    None,
                    definition.name,
                    "audit-failed",
                    Severity::Critical,
                    format!("{error:#}"),
                ));
                reports.push(report);
            }
        }
    }
    Ok(Summary::new(audit.identity()?, reports))
}

/// `(check, severity)` of each finding, for tests' comparisons.
#[cfg(test)]
pub(crate) fn checks(findings: &[Finding]) -> Vec<(&str, Severity)> {
    findings
        .iter()
        .map(|f| (f.check.as_str(), f.severity))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_warnings_and_critical_findings_fail_a_report() {
        let mut report = Report::new("roles");
        assert!(!report.failed());
        report.push(Finding::new(None, "a", "listing", Severity::Info, "x"));
        assert!(!report.failed());
        assert_eq!(report.problems(), 0);
        report.push(Finding::new(
            Some("app"),
            "b",
            "bad",
            Severity::Warning,
            "y",
        ));
        assert!(report.failed());
        assert_eq!(report.worst(), Some(Severity::Warning));
        assert_eq!(report.problems(), 1);
    }
}
