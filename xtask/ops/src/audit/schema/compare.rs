//! What changed between two snapshots, as findings: `schema-added`,
//! `schema-removed`, `schema-changed` (warnings), object = the qualified name
//! with its kind (`public.orders.note (column)`), detail = what changed.

use std::collections::{BTreeMap, BTreeSet};

use super::snapshot::{Column, Database, Function, Sequence, Snapshot, Table, View};
use crate::audit::{Finding, Report, Severity};

/// Compares `old` with `new` over the databases both cover, or over `only`
/// when it is not empty; a database in one snapshot alone is itself a change.
/// `old_label` and `new_label` say where each side came from (a file, "the
/// live schema").
pub fn compare(
    old: &Snapshot,
    new: &Snapshot,
    only: &[String],
    old_label: &str,
    new_label: &str,
) -> Report {
    let mut report = Report::new("schema");
    let mut names: BTreeSet<&String> = old.databases.keys().chain(new.databases.keys()).collect();
    if !only.is_empty() {
        names.retain(|name| only.contains(name));
    }
    let mut out = Changes(Vec::new());
    for name in names {
        report.databases.push(name.clone());
        match (old.databases.get(name), new.databases.get(name)) {
            (Some(a), Some(b)) => database(name, a, b, &mut out),
            (None, Some(_)) => out.push(
                None,
                "added",
                &format!("{name} (database)"),
                format!("database `{name}` is new"),
            ),
            (Some(_), None) => out.push(
                None,
                "removed",
                &format!("{name} (database)"),
                format!("database `{name}` is gone"),
            ),
            (None, None) => {}
        }
    }
    report.findings = out.0;
    report.notes.push(format!(
        "compared {old_label} (taken at {}) with {new_label} (taken at {})",
        old.taken_at, new.taken_at
    ));
    report
}

struct Changes(Vec<Finding>);

impl Changes {
    fn push(&mut self, db: Option<&str>, change: &str, object: &str, detail: String) {
        self.0.push(Finding::new(
            db,
            object,
            &format!("schema-{change}"),
            Severity::Warning,
            detail,
        ));
    }

    /// Added, removed and changed entries of one kind of object.
    fn map<T: PartialEq>(
        &mut self,
        db: &str,
        kind: &str,
        old: &BTreeMap<String, T>,
        new: &BTreeMap<String, T>,
        describe: impl Fn(&T) -> String,
        diff: impl Fn(&T, &T) -> String,
    ) {
        for (name, a) in old {
            let object = format!("{name} ({kind})");
            match new.get(name) {
                None => self.push(
                    Some(db),
                    "removed",
                    &object,
                    format!("{kind} `{name}` was removed (it was: {})", describe(a)),
                ),
                Some(b) if a != b => self.push(
                    Some(db),
                    "changed",
                    &object,
                    format!("{kind} `{name}` changed: {}", diff(a, b)),
                ),
                Some(_) => {}
            }
        }
        for (name, b) in new {
            if !old.contains_key(name) {
                self.push(
                    Some(db),
                    "added",
                    &format!("{name} ({kind})"),
                    format!("{kind} `{name}` was added: {}", describe(b)),
                );
            }
        }
    }
}

fn database(db: &str, old: &Database, new: &Database, out: &mut Changes) {
    let as_map = |set: &BTreeSet<String>| -> BTreeMap<String, ()> {
        set.iter().map(|s| (s.clone(), ())).collect()
    };
    out.map(
        db,
        "schema",
        &as_map(&old.schemas),
        &as_map(&new.schemas),
        |()| "a schema".to_owned(),
        |(), ()| String::new(),
    );
    tables(db, &old.tables, &new.tables, out);
    out.map(
        db,
        "index",
        &old.indexes,
        &new.indexes,
        Clone::clone,
        |a, b| format!("`{a}` → `{b}`"),
    );
    out.map(
        db,
        "constraint",
        &old.constraints,
        &new.constraints,
        Clone::clone,
        |a, b| format!("`{a}` → `{b}`"),
    );
    out.map(
        db,
        "function",
        &old.functions,
        &new.functions,
        describe_function,
        function_diff,
    );
    out.map(
        db,
        "view",
        &old.views,
        &new.views,
        |v: &View| v.kind.clone(),
        |a: &View, b: &View| {
            if a.kind == b.kind {
                "its definition changed".to_owned()
            } else {
                format!("{} → {}", a.kind, b.kind)
            }
        },
    );
    out.map(
        db,
        "sequence",
        &old.sequences,
        &new.sequences,
        describe_sequence,
        |a, b| format!("{} → {}", describe_sequence(a), describe_sequence(b)),
    );
    out.map(
        db,
        "extension",
        &old.extensions,
        &new.extensions,
        |v| format!("version {v}"),
        |a, b| format!("version {a} → {b}"),
    );
}

fn tables(
    db: &str,
    old: &BTreeMap<String, Table>,
    new: &BTreeMap<String, Table>,
    out: &mut Changes,
) {
    let describe = |t: &Table| format!("{} with {} column(s)", t.kind, t.columns.len());
    // Tables that exist on both sides are compared column by column below.
    let shallow = |m: &BTreeMap<String, Table>| -> BTreeMap<String, String> {
        m.iter().map(|(k, t)| (k.clone(), t.kind.clone())).collect()
    };
    let (old_kinds, new_kinds) = (shallow(old), shallow(new));
    for (name, t) in old {
        if !new_kinds.contains_key(name) {
            out.push(
                Some(db),
                "removed",
                &format!("{name} (table)"),
                format!("table `{name}` was removed (it was a {})", describe(t)),
            );
        }
    }
    for (name, t) in new {
        let Some(before) = old.get(name) else {
            out.push(
                Some(db),
                "added",
                &format!("{name} (table)"),
                format!("table `{name}` was added: a {}", describe(t)),
            );
            continue;
        };
        if old_kinds.get(name) != new_kinds.get(name) {
            out.push(
                Some(db),
                "changed",
                &format!("{name} (table)"),
                format!("`{name}` changed from a {} to a {}", before.kind, t.kind),
            );
        }
        let columns = |t: &Table| -> BTreeMap<String, Column> {
            t.columns
                .iter()
                .map(|c| (format!("{name}.{}", c.name), c.clone()))
                .collect()
        };
        out.map(
            db,
            "column",
            &columns(before),
            &columns(t),
            describe_column,
            column_diff,
        );
    }
}

fn describe_column(c: &Column) -> String {
    let mut text = c.data_type.clone();
    if c.not_null {
        text.push_str(" NOT NULL");
    }
    if let Some(default) = &c.default {
        text.push_str(&format!(" DEFAULT {default}"));
    }
    text
}

fn column_diff(a: &Column, b: &Column) -> String {
    let mut parts = Vec::new();
    if a.data_type != b.data_type {
        parts.push(format!("type {} → {}", a.data_type, b.data_type));
    }
    if a.not_null != b.not_null {
        parts.push(if b.not_null {
            "NOT NULL added".to_owned()
        } else {
            "NOT NULL dropped".to_owned()
        });
    }
    if a.default != b.default {
        let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".to_owned());
        parts.push(format!(
            "default {} → {}",
            show(&a.default),
            show(&b.default)
        ));
    }
    parts.join("; ")
}

fn describe_function(f: &Function) -> String {
    format!(
        "{} {} returning {}{}",
        f.language,
        f.kind,
        f.returns.as_deref().unwrap_or("nothing"),
        if f.security_definer {
            ", SECURITY DEFINER"
        } else {
            ""
        }
    )
}

fn function_diff(a: &Function, b: &Function) -> String {
    let mut parts = Vec::new();
    if a.body_sha256 != b.body_sha256 {
        parts.push("body changed".to_owned());
    }
    if a.returns != b.returns {
        parts.push(format!("returns {:?} → {:?}", a.returns, b.returns));
    }
    if a.kind != b.kind || a.language != b.language {
        parts.push(format!(
            "{} {} → {} {}",
            a.language, a.kind, b.language, b.kind
        ));
    }
    if a.security_definer != b.security_definer {
        parts.push(if b.security_definer {
            "now SECURITY DEFINER".to_owned()
        } else {
            "no longer SECURITY DEFINER".to_owned()
        });
    }
    if a.volatility != b.volatility {
        parts.push(format!("{} → {}", a.volatility, b.volatility));
    }
    parts.join("; ")
}

fn describe_sequence(s: &Sequence) -> String {
    format!(
        "{} start {} increment {} min {} max {}{}",
        s.data_type,
        s.start,
        s.increment,
        s.min,
        s.max,
        if s.cycle { " cycle" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::schema::snapshot::VERSION;

    fn snapshot(db: Database) -> Snapshot {
        Snapshot {
            version: VERSION,
            taken_at: "2026-01-01T00:00:00.000000Z".to_owned(),
            server_version: "17".to_owned(),
            databases: [("shop".to_owned(), db)].into_iter().collect(),
        }
    }

    fn column(name: &str, data_type: &str) -> Column {
        Column {
            name: name.to_owned(),
            data_type: data_type.to_owned(),
            not_null: false,
            default: None,
        }
    }

    #[test]
    fn a_snapshot_compared_with_itself_has_no_changes() {
        let mut db = Database::default();
        db.tables.insert(
            "public.t".to_owned(),
            Table {
                kind: "table".to_owned(),
                columns: vec![column("id", "integer")],
            },
        );
        let s = snapshot(db);
        let report = compare(&s, &s, &[], "a", "b");
        assert!(report.findings.is_empty());
        assert_eq!(report.databases, ["shop"]);
    }

    #[test]
    fn added_removed_and_changed_objects_are_named_with_their_kind() {
        let mut old = Database::default();
        old.tables.insert(
            "public.t".to_owned(),
            Table {
                kind: "table".to_owned(),
                columns: vec![column("id", "integer"), column("gone", "text")],
            },
        );
        old.extensions.insert("hstore".to_owned(), "1.7".to_owned());
        let mut new = old.clone();
        let t = new.tables.get_mut("public.t").unwrap();
        t.columns = vec![column("id", "bigint"), column("note", "text")];
        new.indexes.insert(
            "public.t_note_idx".to_owned(),
            "CREATE INDEX t_note_idx ON public.t USING btree (note)".to_owned(),
        );
        new.extensions.insert("hstore".to_owned(), "1.8".to_owned());
        let report = compare(&snapshot(old), &snapshot(new), &[], "a", "b");
        let find = |check: &str, object: &str| {
            report
                .findings
                .iter()
                .find(|f| f.check == check && f.object == object)
                .unwrap_or_else(|| panic!("{check} {object}: {report:#?}"))
        };
        assert!(find("schema-added", "public.t.note (column)")
            .detail
            .contains("text"));
        find("schema-removed", "public.t.gone (column)");
        assert!(find("schema-changed", "public.t.id (column)")
            .detail
            .contains("integer → bigint"));
        find("schema-added", "public.t_note_idx (index)");
        assert!(find("schema-changed", "hstore (extension)")
            .detail
            .contains("1.7 → 1.8"));
        assert_eq!(report.findings.len(), 5);
        assert!(report.failed());
    }

    #[test]
    fn a_database_on_one_side_only_is_a_change_unless_out_of_scope() {
        let old = snapshot(Database::default());
        let mut new = old.clone();
        new.databases.insert("app".to_owned(), Database::default());
        let report = compare(&old, &new, &[], "a", "b");
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.findings[0].object, "app (database)");
        assert!(compare(&old, &new, &["shop".to_owned()], "a", "b")
            .findings
            .is_empty());
    }
}
