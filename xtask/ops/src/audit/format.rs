//! Reports as text: an aligned table for people, CSV (one row per finding)
//! and JSON (`docs/schema/audit.schema.json`) for machines. The same
//! functions serve the CLI and files written by other commands.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde::Serialize;

use super::{Report, Severity, Summary};

/// One CSV row.
#[derive(Serialize)]
struct Row<'a> {
    audit: &'a str,
    database: &'a str,
    object: &'a str,
    check: &'a str,
    severity: &'a str,
    value: Option<f64>,
    detail: &'a str,
}

/// Every finding of `reports` as CSV with a header row.
pub fn csv(reports: &[Report]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // The header is written even when there are no rows.
    writer.write_record([
        "audit", "database", "object", "check", "severity", "value", "detail",
    ])?;
    let mut writer = {
        let bytes = writer.into_inner()?;
        csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(bytes)
    };
    for report in reports {
        for finding in &report.findings {
            writer.serialize(Row {
                audit: &report.audit,
                database: finding.database.as_deref().unwrap_or(""),
                object: &finding.object,
                check: &finding.check,
                severity: finding.severity.as_str(),
                value: finding.value,
                detail: &finding.detail,
            })?;
        }
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// A table of one report's findings, then its one-line verdict.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    if !report.findings.is_empty() {
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(["severity", "database", "object", "check", "detail"]);
        for finding in &report.findings {
            table.add_row([
                finding.severity.as_str(),
                finding.database.as_deref().unwrap_or("-"),
                &finding.object,
                &finding.check,
                &finding.detail,
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&verdict(report));
    out.push('\n');
    out
}

/// `audit roles: ok (3 databases)` or `audit roles: 2 problems (1 critical, 1 warning) …`.
pub fn verdict(report: &Report) -> String {
    let scope = match report.databases.len() {
        0 => "cluster-wide".to_owned(),
        1 => format!("database `{}`", report.databases[0]),
        n => format!("{n} databases"),
    };
    let count = |severity: Severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    };
    let (critical, warning) = (count(Severity::Critical), count(Severity::Warning));
    if critical + warning == 0 {
        format!("audit {}: ok ({scope})", report.audit)
    } else {
        format!(
            "audit {}: {} problem{} ({critical} critical, {warning} warning) ({scope})",
            report.audit,
            critical + warning,
            if critical + warning == 1 { "" } else { "s" }
        )
    }
}

/// Every report's table, then one summary table.
pub fn summary_table(summary: &Summary) -> String {
    let mut out = String::new();
    for report in &summary.reports {
        out.push_str(&format!("== {} ==\n", report.audit));
        out.push_str(&table(report));
        out.push('\n');
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["audit", "problems", "worst"]);
    for report in &summary.reports {
        table.add_row([
            report.audit.clone(),
            report.problems().to_string(),
            report
                .worst()
                .map_or("-", Severity::as_str)
                .to_owned(),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out.push_str(&format!(
        "{} problem{} in {} audits as `{}`{}\n",
        summary.problems,
        if summary.problems == 1 { "" } else { "s" },
        summary.reports.len(),
        summary.connected_as.role,
        if summary.failed { "; failed" } else { "; ok" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Finding;

    #[test]
    fn csv_quotes_fields_and_keeps_the_header_without_rows() {
        let mut report = Report::new("security");
        assert_eq!(
            csv(std::slice::from_ref(&report)).unwrap(),
            "audit,database,object,check,severity,value,detail\n"
        );
        report.push(
            Finding::new(Some("a,b"), "t \"x\"", "no-rls", Severity::Warning, "line\nbreak")
                .with_value(2.5),
        );
        let text = csv(&[report]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0][1], "a,b");
        assert_eq!(&rows[0][2], "t \"x\"");
        assert_eq!(&rows[0][5], "2.5");
        assert_eq!(&rows[0][6], "line\nbreak");
    }
}
