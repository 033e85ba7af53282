//! Index suggestions proven with HypoPG. For the slowest pg_stat_statements
//! entries of a database that are a single SELECT, the generic plan
//! (`EXPLAIN (GENERIC_PLAN)`, so `$1` placeholders need no values) is read;
//! each sequential scan with a filter proposes a B-tree index on the
//! filter's compared columns, which `hypopg_create_index` (called in
//! HypoPG's own schema, never through the search path) makes hypothetical in
//! this backend only, inside a READ ONLY transaction that is rolled back,
//! `hypopg_reset()` after each: no index is ever built. The plan's cost with
//! and without it is shown. Planning runs the statement's IMMUTABLE functions
//! (constant folding), which the roles that wrote the statement defined: the
//! transaction being read-only is what keeps them from writing.

use core_data_ops::sql::quote_ident;
use serde::Serialize;

use crate::state::AppState;

/// Statements examined per database.
const CANDIDATES: i64 = 15;

/// One proposed index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Suggestion {
    pub(crate) database: String,
    pub(crate) query: String,
    pub(crate) mean_ms: String,
    pub(crate) table: String,
    pub(crate) index: String,
    pub(crate) cost_before: f64,
    pub(crate) cost_after: f64,
}

/// A sequential scan in a text plan (`EXPLAIN (VERBOSE)`): the relation
/// (`schema.name`) and the columns its filter compares, equality first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeqScan {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) columns: Vec<String>,
}

fn plain_identifier(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The plan's total cost (its first line's `cost=a..b`).
pub(crate) fn total_cost(plan: &str) -> Option<f64> {
    let line = plan.lines().find(|line| line.contains("(cost="))?;
    let after = line.split("(cost=").nth(1)?;
    let range = after.split_whitespace().next()?;
    range.split("..").nth(1)?.parse().ok()
}

/// The columns compared in a filter such as `((t.a = $1) AND ((t.b)::text > 'x'::text))`.
pub(crate) fn filter_columns(filter: &str) -> Vec<String> {
    let mut equal = Vec::new();
    let mut other = Vec::new();
    for op in [" = ", " < ", " > ", " <= ", " >= "] {
        for (at, _) in filter.match_indices(op) {
            let before = filter[..at].trim_end();
            // Strip a cast and its parentheses: `(t.b)::text` -> `t.b`.
            let before = match before.rfind("::") {
                Some(cast) if !before[cast + 2..].contains(['(', ' ']) => &before[..cast],
                _ => before,
            };
            let before = before.trim_end_matches(')');
            let operand = before.rsplit(['(', ' ']).next().unwrap_or_default();
            let column = operand.rsplit('.').next().unwrap_or_default();
            if plain_identifier(column) {
                let list = if op == " = " { &mut equal } else { &mut other };
                if !list.contains(&column.to_owned()) {
                    list.push(column.to_owned());
                }
            }
        }
    }
    for column in other {
        if !equal.contains(&column) {
            equal.push(column);
        }
    }
    equal.truncate(3);
    equal
}

/// The sequential scans with a filter in a verbose text plan.
pub(crate) fn seq_scans(plan: &str) -> Vec<SeqScan> {
    let lines: Vec<&str> = plan.lines().collect();
    let mut scans = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.split("Seq Scan on ").nth(1) else {
            continue;
        };
        let relation = rest.split_whitespace().next().unwrap_or_default();
        let Some((schema, table)) = relation.split_once('.') else {
            continue;
        };
        if !plain_identifier(schema) || !plain_identifier(table) {
            continue;
        }
        let filter = lines[i + 1..]
            .iter()
            .take_while(|next| !next.contains("->"))
            .find_map(|next| next.trim().strip_prefix("Filter: "));
        let Some(filter) = filter else { continue };
        let columns = filter_columns(filter);
        if !columns.is_empty() {
            scans.push(SeqScan {
                schema: schema.to_owned(),
                table: table.to_owned(),
                columns,
            });
        }
    }
    scans
}

/// The `CREATE INDEX` HypoPG is given, identifiers quoted.
pub(crate) fn index_statement(scan: &SeqScan) -> String {
    let columns: Vec<String> = scan.columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "CREATE INDEX ON {}.{} ({})",
        quote_ident(&scan.schema),
        quote_ident(&scan.table),
        columns.join(", ")
    )
}

/// The generic plan of `statement` (already checked to be one SELECT). Sent
/// with the simple protocol: over the extended one the server would expect
/// values for the `$n` placeholders GENERIC_PLAN exists for.
fn generic_plan(tx: &mut postgres::Transaction<'_>, statement: &str) -> anyhow::Result<String> {
    let messages = tx
        .simple_query(&format!("EXPLAIN (GENERIC_PLAN, VERBOSE) {statement}"))
        .map_err(|error| anyhow::anyhow!("{}", crate::db::message(&error)))?;
    Ok(messages
        .iter()
        .filter_map(|message| match message {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Suggestions for `database`, and notes on statements that could not be
/// examined.
pub(crate) fn suggest(
    state: &AppState,
    database: &str,
) -> anyhow::Result<(Vec<Suggestion>, Vec<String>)> {
    let role = state.settings.database.role.clone();
    let candidates = state.with_client("postgres", |client| {
        Ok(client.query(
            "SELECT min(s.query), (sum(s.total_exec_time) / greatest(sum(s.calls), 1))::float8 \
             FROM pg_stat_statements(true) s \
             JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid \
             WHERE d.datname = $1 AND r.rolname <> $2 AND s.queryid IS NOT NULL \
             GROUP BY s.queryid ORDER BY 2 DESC LIMIT $3",
            &[&database, &role, &CANDIDATES],
        )?)
    })?;
    let mut suggestions = Vec::new();
    let mut notes = Vec::new();
    state.with_client(database, |client| {
        for row in &candidates {
            let query: String = row.get(0);
            let mean: f64 = row.get(1);
            let Ok(statement) = crate::statement::check_select(&query) else {
                continue;
            };
            let result = (|| -> anyhow::Result<Vec<Suggestion>> {
                // Read-only: planning runs the statement's IMMUTABLE functions (constant
                // folding), which the roles that wrote it defined; nothing they do may write.
                let mut tx = client.build_transaction().read_only(true).start()?;
                tx.batch_execute("SET LOCAL statement_timeout = '10s'")?;
                let hypopg = hypopg_schema(&mut tx)?;
                let before = generic_plan(&mut tx, &statement)?;
                let mut found = Vec::new();
                let Some(cost_before) = total_cost(&before) else {
                    return Ok(found);
                };
                for scan in seq_scans(&before) {
                    let index = index_statement(&scan);
                    let name: String = tx
                        .query_one(
                            &format!("SELECT indexname FROM {hypopg}.hypopg_create_index($1)"),
                            &[&index],
                        )
                        .map_err(|error| anyhow::anyhow!("hypopg: {}", crate::db::message(&error)))?
                        .get(0);
                    let after = generic_plan(&mut tx, &statement)?;
                    tx.query_one(&format!("SELECT {hypopg}.hypopg_reset()"), &[])?;
                    let cost_after = total_cost(&after).unwrap_or(cost_before);
                    if after.contains(&name) && cost_after < cost_before {
                        found.push(Suggestion {
                            database: database.to_owned(),
                            query: query.clone(),
                            mean_ms: format!("{mean:.2}"),
                            table: format!("{}.{}", scan.schema, scan.table),
                            index: index.clone(),
                            cost_before,
                            cost_after,
                        });
                    }
                }
                tx.rollback()?;
                Ok(found)
            })();
            match result {
                Ok(found) => suggestions.extend(found),
                Err(error) => notes.push(format!("{database}: `{}`: {error:#}", shorten(&query))),
            }
        }
        Ok(())
    })?;
    Ok((suggestions, notes))
}

fn shorten(query: &str) -> String {
    let flat = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 80 {
        format!("{}…", flat.chars().take(79).collect::<String>())
    } else {
        flat
    }
}

/// The schema HypoPG is installed in, quoted: its functions are called by
/// that name, never through the search path (a schema the database's owner
/// controls could shadow them).
fn hypopg_schema(tx: &mut postgres::Transaction<'_>) -> anyhow::Result<String> {
    let schema: Option<String> = tx
        .query_opt(
            "SELECT n.nspname::text FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hypopg'",
            &[],
        )?
        .map(|row| row.get(0));
    let schema = schema.ok_or_else(|| anyhow::anyhow!("the hypopg extension is not installed"))?;
    Ok(core_data_ops::sql::quote_ident(&schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "\
Gather  (cost=1000.00..11675.10 rows=1 width=12)
  Output: id, owner_id, amount
  Workers Planned: 2
  ->  Parallel Seq Scan on public.orders  (cost=0.00..10675.00 rows=1 width=12)
        Output: id, owner_id, amount
        Filter: ((orders.owner_id = $1) AND ((orders.status)::text = 'open'::text) AND (orders.amount > $2))";

    #[test]
    fn a_filtered_seq_scan_proposes_an_index_on_its_columns() {
        assert_eq!(total_cost(PLAN), Some(11675.10));
        let scans = seq_scans(PLAN);
        assert_eq!(
            scans,
            vec![SeqScan {
                schema: "public".into(),
                table: "orders".into(),
                columns: vec!["owner_id".into(), "status".into(), "amount".into()],
            }]
        );
        assert_eq!(
            index_statement(&scans[0]),
            "CREATE INDEX ON \"public\".\"orders\" (\"owner_id\", \"status\", \"amount\")"
        );
        assert!(seq_scans("Seq Scan on public.t  (cost=0.00..1.00 rows=1 width=4)").is_empty());
        assert!(seq_scans(
            "Seq Scan on \"Odd\".t  (cost=0.00..1.00 rows=1 width=4)\n  Filter: (t.a = 1)"
        )
        .is_empty());
        assert_eq!(filter_columns("(t.\"Weird\" = 1)"), Vec::<String>::new());
    }
}
