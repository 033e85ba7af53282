//! `index.html`: one self-contained page (inline CSS, inline SVG charts, no
//! script) rendered with minijinja from `index.html` beside this file. Names
//! ending in `.html` are auto-escaped; only the charts, which `chart.rs` drew
//! with every label escaped, go in as they are.

use minijinja::Environment;
use serde::Serialize;

const TEMPLATE: &str = include_str!("index.html");

/// A finding shown on the page, with the part of the bundle it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct PageFinding {
    pub source: String,
    pub severity: String,
    pub database: String,
    pub object: String,
    pub check: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageAudit {
    pub audit: String,
    pub problems: usize,
    pub worst: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageFile {
    pub name: String,
    pub what: String,
    pub size: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageStep {
    pub name: String,
    pub outcome: String,
    pub detail: String,
}

/// Everything the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub project: String,
    pub date: String,
    pub run: String,
    pub generated_at: String,
    pub retention_days: i64,
    pub verdict: String,
    pub problems: usize,
    pub failed_steps: usize,
    pub steps: Vec<PageStep>,
    pub findings: Vec<PageFinding>,
    pub audits: Vec<PageAudit>,
    pub charts: Vec<String>,
    pub pgstat_note: String,
    pub queries: Vec<crate::audit::pgstat::diff::Delta>,
    pub pgaudit: Vec<super::pgaudit::SummaryRow>,
    pub backups_line: String,
    pub sidecar_line: String,
    pub versions_line: String,
    pub files: Vec<PageFile>,
    pub pruned: Vec<String>,
}

pub fn render(page: &Page) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.add_template("index.html", TEMPLATE)?;
    Ok(env
        .get_template("index.html")?
        .render(minijinja::value::Serde(page))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_charts_are_inline() {
        let page = Page {
            project: "p".to_owned(),
            date: "2026-12-02".to_owned(),
            run: "run-001".to_owned(),
            generated_at: "now".to_owned(),
            retention_days: 30,
            verdict: "ok".to_owned(),
            problems: 0,
            failed_steps: 0,
            steps: vec![],
            findings: vec![PageFinding {
                source: "audit".to_owned(),
                severity: "warning".to_owned(),
                database: "app".to_owned(),
                object: "<script>alert(1)</script>".to_owned(),
                check: "c".to_owned(),
                detail: "d".to_owned(),
            }],
            audits: vec![],
            charts: vec![super::super::chart::columns(
                "c",
                &["00".to_owned()],
                &[1.0],
            )],
            pgstat_note: String::new(),
            queries: vec![],
            pgaudit: vec![],
            backups_line: String::new(),
            sidecar_line: String::new(),
            versions_line: String::new(),
            files: vec![PageFile {
                name: "audit.json".to_owned(),
                what: "w".to_owned(),
                size: "1 B".to_owned(),
            }],
            pruned: vec![],
        };
        let html = render(&page).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("<svg"));
        assert!(html.contains(r#"<a href="audit.json">"#));
    }
}
