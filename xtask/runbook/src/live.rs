//! The live backend: the primitives acting on a real stack through
//! `core_data_ops` (verified-TLS superuser connections, the bollard facade).
//! Parameters are bound with declared types (`query_typed`), never spliced
//! into SQL; result columns are decoded by `Cell`'s `FromSql`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use camino::Utf8PathBuf;
use core_data_ops::stack::Stack;
use postgres::types::{FromSql, ToSql, Type};

use crate::backend::{Backend, Cell, ContainerInfo, ExecResult, Failure, Outcome, Row, SqlValue};

/// A backend over one stack. Connections are opened on first use, one per
/// database, and kept for the run.
pub struct Live {
    stack: Stack,
    statement_timeout: Duration,
    clients: Mutex<HashMap<String, postgres::Client>>,
}

impl Live {
    /// `statement_timeout` bounds every statement, so one slow query cannot
    /// outlive the run's wall-clock budget (which Rhai checks only between operations).
    pub fn new(stack: &Stack, statement_timeout: Duration) -> anyhow::Result<Live> {
        let stack = Stack::new(stack.paths.clone(), stack.config.clone())?;
        Ok(Live { stack, statement_timeout, clients: Mutex::new(HashMap::new()) })
    }

    fn with_client<T>(&self, db: &str, f: impl FnOnce(&mut postgres::Client) -> Outcome<T>) -> Outcome<T> {
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !clients.contains_key(db) {
            let mut client = self.stack.connect(db).map_err(|err| Failure::new("connect", format!("{err:#}")))?;
            // An integer we computed, not script input.
            let ms = self.statement_timeout.as_millis().max(1);
            client.batch_execute(&format!("SET statement_timeout = {ms}")).map_err(sql_failure)?;
            clients.insert(db.to_owned(), client);
        }
        let client = clients.get_mut(db).expect("inserted above");
        let result = f(client);
        if client.is_closed() {
            clients.remove(db);
        }
        result
    }

    fn container_of_stack(&self, name: &str) -> Outcome<String> {
        let containers = self.containers()?;
        containers
            .iter()
            .find(|c| c.name == name || c.service == name)
            .map(|c| c.name.clone())
            .ok_or_else(|| {
                let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
                Failure::new(
                    "not_found",
                    format!("`{name}` is not a container of this stack (its containers: {})", names.join(", ")),
                )
            })
    }
}

impl Backend for Live {
    fn query(&self, db: &str, sql: &str, params: &[SqlValue], max_rows: usize) -> Outcome<Vec<Row>> {
        self.with_client(db, |client| {
            let mut tx = client.build_transaction().read_only(true).start().map_err(sql_failure)?;
            let rows = query_rows(&mut tx, sql, params, max_rows)?;
            tx.commit().map_err(sql_failure)?;
            Ok(rows)
        })
    }

    fn execute(&self, db: &str, sql: &str, params: &[SqlValue]) -> Outcome<u64> {
        self.with_client(db, |client| {
            let bound = bind(params);
            client.execute_typed(sql, &refs(&bound)).map_err(sql_failure)
        })
    }

    fn transaction(&self, db: &str, statements: &[(String, Vec<SqlValue>)]) -> Outcome<Vec<u64>> {
        self.with_client(db, |client| {
            let mut tx = client.transaction().map_err(sql_failure)?;
            let mut counts = Vec::with_capacity(statements.len());
            for (sql, params) in statements {
                let bound = bind(params);
                // Dropping `tx` on the error path rolls everything back.
                counts.push(tx.execute_typed(sql, &refs(&bound)).map_err(sql_failure)?);
            }
            tx.commit().map_err(sql_failure)?;
            Ok(counts)
        })
    }

    fn containers(&self) -> Outcome<Vec<ContainerInfo>> {
        let project = self.stack.config.project();
        let summaries = self.stack.docker.project_containers(project).map_err(docker_failure)?;
        let mut out = Vec::new();
        for summary in summaries {
            let name = summary.names.as_ref().and_then(|n| n.first()).map_or("", |n| n.trim_start_matches('/'));
            let inspect = self.stack.docker.inspect_container(name).map_err(docker_failure)?;
            let state = inspect.as_ref().and_then(|i| i.state.clone()).unwrap_or_default();
            let health = match (&state.running, &state.health) {
                (Some(false) | None, _) => "stopped".to_owned(),
                (Some(true), Some(health)) => health.status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                (Some(true), None) => "none".to_owned(),
            };
            let labels = summary.labels.clone().unwrap_or_default();
            out.push(ContainerInfo {
                name: name.to_owned(),
                service: labels.get("com.docker.compose.service").cloned().unwrap_or_default(),
                image: summary.image.clone().unwrap_or_default(),
                state: summary.state.as_ref().map(ToString::to_string).unwrap_or_default(),
                health,
                started_at: state.started_at.unwrap_or_default(),
                restart_count: inspect.and_then(|i| i.restart_count).unwrap_or(0),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn exec(&self, container: &str, argv: &[String]) -> Outcome<ExecResult> {
        let name = self.container_of_stack(container)?;
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.stack.docker.exec(&name, &argv, None).map_err(docker_failure)?;
        Ok(ExecResult { exit_code: out.exit_code, stdout: out.stdout, stderr: out.stderr })
    }

    fn logs(&self, container: &str, lines: usize) -> Outcome<Vec<String>> {
        let name = self.container_of_stack(container)?;
        self.stack.docker.logs_tail(&name, lines).map_err(docker_failure)
    }

    fn backups_dir(&self) -> Utf8PathBuf {
        self.stack.paths.backups_dir()
    }
}

/// Reads at most `max_rows` rows; one more is a `limit` failure rather than a
/// giant array built in memory and rejected afterwards.
pub(crate) fn query_rows<C: postgres::GenericClient>(
    client: &mut C,
    sql: &str,
    params: &[SqlValue],
    max_rows: usize,
) -> Outcome<Vec<Row>> {
    use postgres::fallible_iterator::FallibleIterator;
    let bound = bind(params);
    let mut iter = client.query_typed_raw(sql, refs(&bound)).map_err(sql_failure)?;
    let mut rows = Vec::new();
    while let Some(row) = iter.next().map_err(sql_failure)? {
        if rows.len() == max_rows {
            return Err(Failure::new("limit", format!("the query returned more than {max_rows} rows; add a LIMIT")));
        }
        let mut cells = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let cell: Cell = row.try_get(i).map_err(|err| {
                Failure::new(
                    "sql",
                    format!(
                        "column `{}` has type `{}`, which runbooks cannot read ({err}); cast it in SQL, \
                         e.g. `{}::text`",
                        column.name(),
                        column.type_().name(),
                        column.name()
                    ),
                )
            })?;
            cells.push((column.name().to_owned(), cell));
        }
        rows.push(cells);
    }
    Ok(rows)
}

type Bound = Vec<(Box<dyn ToSql + Sync>, Type)>;

/// Each value with the type PostgreSQL should see for its `$n`.
fn bind(params: &[SqlValue]) -> Bound {
    params
        .iter()
        .map(|value| -> (Box<dyn ToSql + Sync>, Type) {
            match value {
                SqlValue::Null => (Box::new(None::<String>), Type::TEXT),
                SqlValue::Bool(b) => (Box::new(*b), Type::BOOL),
                SqlValue::Int(i) => (Box::new(*i), Type::INT8),
                SqlValue::Float(f) => (Box::new(*f), Type::FLOAT8),
                SqlValue::Text(s) => (Box::new(s.clone()), Type::TEXT),
                SqlValue::TextArray(v) => (Box::new(v.clone()), Type::TEXT_ARRAY),
                SqlValue::IntArray(v) => (Box::new(v.clone()), Type::INT8_ARRAY),
                SqlValue::Json(j) => (Box::new(j.clone()), Type::JSONB),
            }
        })
        .collect()
}

fn refs(bound: &Bound) -> Vec<(&(dyn ToSql + Sync), Type)> {
    bound.iter().map(|(value, ty)| (value.as_ref(), ty.clone())).collect()
}

fn sql_failure(err: postgres::Error) -> Failure {
    match err.as_db_error() {
        Some(db) => {
            let mut message = db.message().to_owned();
            if let Some(hint) = db.hint() {
                message.push_str(&format!(" (hint: {hint})"));
            }
            Failure { kind: "sql", message, sqlstate: Some(db.code().code().to_owned()) }
        }
        None if err.is_closed() => Failure::new("connect", format!("the connection closed: {err}")),
        None => Failure::new("sql", err.to_string()),
    }
}

fn docker_failure(err: anyhow::Error) -> Failure {
    Failure::new("docker", format!("{err:#}"))
}

const PG_EPOCH_UNIX_SECS: i64 = 946_684_800;

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Cell, Box<dyn StdError + Sync + Send>> {
        Ok(match *ty {
            Type::BOOL => Cell::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Cell::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Cell::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Cell::Int(i64::from_sql(ty, raw)?),
            Type::OID | Type::XID => Cell::Int(u32::from_sql(&Type::OID, raw)?.into()),
            Type::FLOAT4 => Cell::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Cell::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => Cell::Float(numeric_to_f64(raw)?),
            Type::JSON | Type::JSONB => Cell::Json(serde_json::Value::from_sql(ty, raw)?),
            Type::TIMESTAMPTZ | Type::TIMESTAMP => {
                let micros = i64::from_sql(&Type::INT8, raw)?;
                let text = match micros {
                    i64::MAX => "infinity".to_owned(),
                    i64::MIN => "-infinity".to_owned(),
                    _ => {
                        let millis = PG_EPOCH_UNIX_SECS * 1000 + micros.div_euclid(1000);
                        let iso = crate::api::time::iso_millis(millis);
                        if *ty == Type::TIMESTAMP { iso.trim_end_matches('Z').to_owned() } else { iso }
                    }
                };
                Cell::Text(text)
            }
            Type::DATE => {
                let days = i32::from_sql(&Type::INT4, raw)?;
                let millis = (PG_EPOCH_UNIX_SECS + i64::from(days) * 86_400) * 1000;
                Cell::Text(crate::api::time::iso_millis(millis)[..10].to_owned())
            }
            // Types whose binary form is their text (and extension types like citext).
            _ if is_textual(ty) => Cell::Text(String::from_utf8(raw.to_vec())?),
            _ => return Err(format!("no conversion for type `{}`", ty.name()).into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Cell, Box<dyn StdError + Sync + Send>> {
        Ok(Cell::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn is_textual(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::XML)
        || ty.name() == "citext"
}

/// PostgreSQL's binary NUMERIC: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric_to_f64(raw: &[u8]) -> Result<f64, Box<dyn StdError + Sync + Send>> {
    let word = |i: usize| -> Result<u16, Box<dyn StdError + Sync + Send>> {
        raw.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "short numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    match sign {
        0xC000 => return Ok(f64::NAN),
        0xD000 => return Ok(f64::INFINITY),
        0xF000 => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let mut value = 0.0;
    for i in 0..ndigits {
        let exponent = weight - i32::try_from(i).unwrap_or(i32::MAX);
        value += f64::from(word(4 + i)?) * 10_000f64.powi(exponent);
    }
    Ok(if sign == 0x4000 { -value } else { value })
}
