//! The pages, one file each, and what they share: the query string's
//! database pick, the layout's common part, and generic tables (every cell
//! text, cast in SQL, so a page is its query and a template).

pub(crate) mod assets;
pub(crate) mod backups;
pub(crate) mod connections;
pub(crate) mod explain;
pub(crate) mod indexes;
pub(crate) mod live;
pub(crate) mod maintenance;
pub(crate) mod overview;
pub(crate) mod queries;
pub(crate) mod settings;
pub(crate) mod space;
pub(crate) mod system;

use serde::{Deserialize, Serialize};

use crate::auth::require::Current;
use crate::render::Common;
use crate::state::AppState;

/// `?db=NAME&sort=KEY`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Pick {
    pub(crate) db: Option<String>,
    pub(crate) sort: Option<String>,
}

impl Pick {
    pub(crate) fn db(&self) -> Option<&str> {
        self.db.as_deref().filter(|db| !db.is_empty())
    }
}

/// The layout's part for `current` on page `active`.
pub(crate) fn common(
    state: &AppState,
    current: &Current,
    active: &'static str,
    databases: Vec<String>,
    db: Option<&str>,
) -> Common {
    Common {
        user: current.session.user.clone(),
        csrf: current.session.csrf.clone(),
        active,
        databases,
        db: db.unwrap_or_default().to_owned(),
        allow_signal: state.settings.allow_signal,
    }
}

/// A table of text cells.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    /// Which columns are numbers (right-aligned).
    pub(crate) numeric: Vec<bool>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// `columns` as `name` or `#name` (a number).
    pub(crate) fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns
                .iter()
                .map(|c| c.trim_start_matches('#').to_owned())
                .collect(),
            numeric: columns.iter().map(|c| c.starts_with('#')).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends the rows of `sql`, whose every column is text (or NULL, shown
    /// empty), optionally prefixed by `first` (the database).
    pub(crate) fn query(
        &mut self,
        client: &mut postgres::Client,
        first: Option<&str>,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<()> {
        for row in client.query(sql, params)? {
            let mut cells: Vec<String> = first.map(str::to_owned).into_iter().collect();
            for index in 0..row.len() {
                cells.push(row.get::<_, Option<String>>(index).unwrap_or_default());
            }
            self.rows.push(cells);
        }
        Ok(())
    }

    /// Keeps the first `n` rows after sorting by numeric column `column`, descending.
    pub(crate) fn top_by(&mut self, column: usize, n: usize) {
        let number = |row: &Vec<String>| row[column].parse::<f64>().unwrap_or(0.0);
        self.rows.sort_by(|a, b| {
            number(b)
                .partial_cmp(&number(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        self.rows.truncate(n);
    }
}

/// Bytes for people (`1.5 MiB`), as the daily bundle writes them.
pub(crate) fn bytes(value: i64) -> String {
    core_data_ops::daily::chart::Unit::Bytes.format(value as f64)
}
