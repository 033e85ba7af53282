//! `audit indexes`: indexes never scanned since the statistics were reset,
//! duplicates (same table, keys, operator classes, expressions and
//! predicate), indexes that are a left prefix of another (redundant, listed
//! as context) and invalid indexes (a failed `CREATE INDEX CONCURRENTLY`).

use anyhow::Context;

use super::user_objects::{not_extension_relation, qualified, USER_SCHEMA};
use super::{Audit, Finding, Report, Severity};
use crate::backup::dump::human_bytes;

/// One index as the audit compares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    /// `schema.index`
    pub name: String,
    /// `schema.table`
    pub table: String,
    pub method: String,
    /// Column numbers (0 for an expression), key columns first.
    pub keys: Vec<i16>,
    /// Key columns only (`INCLUDE` columns follow them in `keys`).
    pub key_count: usize,
    pub opclasses: Vec<u32>,
    pub expressions: Option<String>,
    pub predicate: Option<String>,
    pub unique: bool,
    /// Backs a primary key, unique or exclusion constraint.
    pub constraint: bool,
    pub valid: bool,
    pub scans: Option<i64>,
    pub size: i64,
}

impl Index {
    fn key(&self) -> &[i16] {
        &self.keys[..self.key_count.min(self.keys.len())]
    }

    fn same_definition(&self, other: &Index) -> bool {
        self.table == other.table
            && self.method == other.method
            && self.keys == other.keys
            && self.key_count == other.key_count
            && self.opclasses == other.opclasses
            && self.expressions == other.expressions
            && self.predicate == other.predicate
    }

    /// Whether `self`'s key columns are a strict left prefix of `other`'s
    /// (plain columns, same operator classes, no predicate on either).
    fn prefix_of(&self, other: &Index) -> bool {
        let (mine, theirs) = (self.key(), other.key());
        self.table == other.table
            && self.method == "btree"
            && other.method == "btree"
            && !self.unique
            && self.expressions.is_none()
            && other.expressions.is_none()
            && self.predicate.is_none()
            && other.predicate.is_none()
            && mine.len() < theirs.len()
            && theirs.starts_with(mine)
            && other.opclasses.len() >= mine.len()
            && self.opclasses.get(..mine.len()) == other.opclasses.get(..mine.len())
    }
}

/// Pairs (kept, duplicate) of identical definitions; the duplicate is the
/// one to drop (an index backing a constraint is always kept).
pub fn duplicates(indexes: &[Index]) -> Vec<(&Index, &Index)> {
    let mut pairs = Vec::new();
    for (i, a) in indexes.iter().enumerate() {
        for b in &indexes[i + 1..] {
            if a.valid && b.valid && a.same_definition(b) {
                let keep_b = (b.constraint && !a.constraint) || (b.unique && !a.unique);
                pairs.push(if keep_b { (b, a) } else { (a, b) });
            }
        }
    }
    pairs
}

/// Pairs (redundant, covering): the first's key is a left prefix of the second's.
pub fn redundant(indexes: &[Index]) -> Vec<(&Index, &Index)> {
    let mut pairs = Vec::new();
    for a in indexes {
        if let Some(b) = indexes
            .iter()
            .find(|b| b.valid && a.valid && a.prefix_of(b))
        {
            pairs.push((a, b));
        }
    }
    pairs
}

pub fn run(audit: &Audit<'_>) -> anyhow::Result<Report> {
    let mut report = Report::new("indexes");
    report.databases = audit.databases.clone();
    audit.each_database(|db, client| {
        let reset: Option<String> = client
            .query_one(
                "SELECT stats_reset::text FROM pg_catalog.pg_stat_database WHERE datname = current_database()",
                &[],
            )?
            .try_get(0)?;
        report.notes.push(match reset {
            Some(time) => format!("index usage in `{db}` is counted since the statistics were reset at {time}"),
            None => format!("index usage in `{db}` is counted since the statistics were created (never reset)"),
        });
        let indexes = read(client)?;
        check(db, &indexes, &mut report);
        Ok(())
    })?;
    Ok(report)
}

fn read(client: &mut postgres::Client) -> anyhow::Result<Vec<Index>> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, tn.nspname::text, t.relname::text, am.amname::text, \
         i.indkey::int2[], i.indnkeyatts::int4, i.indclass::oid[], \
         pg_catalog.pg_get_expr(i.indexprs, i.indrelid), pg_catalog.pg_get_expr(i.indpred, i.indrelid), \
         i.indisunique, EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = c.oid), \
         i.indisvalid, s.idx_scan, pg_catalog.pg_relation_size(c.oid) \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
         JOIN pg_catalog.pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_catalog.pg_stat_user_indexes s ON s.indexrelid = c.oid \
         WHERE {USER_SCHEMA} AND {} AND {} \
         ORDER BY n.nspname, c.relname",
        not_extension_relation("c.oid"),
        not_extension_relation("t.oid")
    );
    let mut indexes = Vec::new();
    for row in client
        .query(&sql, &[])
        .context("failed to read the indexes")?
    {
        indexes.push(Index {
            name: qualified(&row.try_get::<_, String>(0)?, &row.try_get::<_, String>(1)?),
            table: qualified(&row.try_get::<_, String>(2)?, &row.try_get::<_, String>(3)?),
            method: row.try_get(4)?,
            keys: row.try_get(5)?,
            key_count: usize::try_from(row.try_get::<_, i32>(6)?).unwrap_or(0),
            opclasses: row.try_get(7)?,
            expressions: row.try_get(8)?,
            predicate: row.try_get(9)?,
            unique: row.try_get(10)?,
            constraint: row.try_get(11)?,
            valid: row.try_get(12)?,
            scans: row.try_get(13)?,
            size: row.try_get(14)?,
        });
    }
    Ok(indexes)
}

fn check(db: &str, indexes: &[Index], report: &mut Report) {
    for index in indexes {
        if !index.valid {
            report.push(Finding::new(
                Some(db),
                index.name.clone(),
                "invalid-index",
                Severity::Critical,
                format!(
                    "`{}` on `{}` is invalid (a failed or still running `CREATE INDEX CONCURRENTLY` \
                     or `REINDEX CONCURRENTLY`): it is maintained on every write but never used; \
                     drop it with `DROP INDEX CONCURRENTLY {}` and create it again, or \
                     `REINDEX INDEX CONCURRENTLY {}` once the cause (e.g. duplicate values) is fixed",
                    index.name, index.table, index.name, index.name
                ),
            ));
        } else if index.scans == Some(0) && !index.unique && !index.constraint {
            report.push(
                Finding::new(
                    Some(db),
                    index.name.clone(),
                    "unused-index",
                    Severity::Warning,
                    format!(
                        "`{}` on `{}` ({}) has never been scanned since the statistics were reset; \
                         if no rare query needs it, drop it with `DROP INDEX CONCURRENTLY {}`",
                        index.name,
                        index.table,
                        human_bytes(index.size.max(0) as u64),
                        index.name
                    ),
                )
                .with_value(index.size as f64),
            );
        }
    }
    for (kept, duplicate) in duplicates(indexes) {
        report.push(
            Finding::new(
                Some(db),
                duplicate.name.clone(),
                "duplicate-index",
                Severity::Warning,
                format!(
                    "`{}` duplicates `{}` on `{}` (same columns, operator classes, expressions \
                     and predicate); drop one with `DROP INDEX CONCURRENTLY {}`",
                    duplicate.name, kept.name, kept.table, duplicate.name
                ),
            )
            .with_value(duplicate.size as f64),
        );
    }
    for (prefix, covering) in redundant(indexes) {
        report.push(Finding::new(
            Some(db),
            prefix.name.clone(),
            "redundant-index",
            Severity::Info,
            format!(
                "the columns of `{}` are a left prefix of `{}` on `{}`, which can serve the same \
                 queries; consider dropping `{}` if nothing needs it to be smaller",
                prefix.name, covering.name, prefix.table, prefix.name
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(name: &str, keys: &[i16]) -> Index {
        Index {
            name: format!("public.{name}"),
            table: "public.t".to_owned(),
            method: "btree".to_owned(),
            keys: keys.to_vec(),
            key_count: keys.len(),
            opclasses: keys.iter().map(|_| 1978).collect(),
            expressions: None,
            predicate: None,
            unique: false,
            constraint: false,
            valid: true,
            scans: Some(0),
            size: 8192,
        }
    }

    #[test]
    fn identical_definitions_are_duplicates_and_constraints_are_kept() {
        let a = index("a", &[1]);
        let b = index("b", &[1]);
        let c = index("c", &[2]);
        let all = [a.clone(), b.clone(), c];
        let pairs = duplicates(&all);
        assert_eq!(pairs.len(), 1);
        assert_eq!(
            (pairs[0].0.name.as_str(), pairs[0].1.name.as_str()),
            ("public.a", "public.b")
        );
        let mut pk = index("pk", &[1]);
        pk.constraint = true;
        pk.unique = true;
        let all = [a.clone(), pk];
        let pairs = duplicates(&all);
        assert_eq!(pairs[0].0.name, "public.pk");
        let mut partial = b;
        partial.predicate = Some("(x > 0)".to_owned());
        assert!(duplicates(&[a.clone(), partial]).is_empty());
        let mut other_class = index("d", &[1]);
        other_class.opclasses = vec![3128];
        assert!(duplicates(&[a, other_class]).is_empty());
    }

    #[test]
    fn a_left_prefix_is_redundant_but_not_a_unique_one() {
        let one = index("one", &[1]);
        let two = index("two", &[1, 2]);
        let other = index("other", &[2, 1]);
        let all = [one.clone(), two.clone(), other];
        let pairs = redundant(&all);
        assert_eq!(pairs.len(), 1);
        assert_eq!(
            (pairs[0].0.name.as_str(), pairs[0].1.name.as_str()),
            ("public.one", "public.two")
        );
        let mut unique = one;
        unique.unique = true;
        assert!(redundant(&[unique, two]).is_empty());
    }
}
