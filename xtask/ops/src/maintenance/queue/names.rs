//! The queue schema's name and the two roles named after it, checked before
//! anything changes: PostgreSQL would silently truncate a name past 63 bytes
//! (two schemas could then share roles) and refuses `pg_` names.

use anyhow::bail;

use crate::pg::admin::check_new_name;

/// The schema `async-queue install` uses when none is given.
pub const DEFAULT_SCHEMA: &str = "asyncq";

const PRODUCER_SUFFIX: &str = "_producer";
const WORKER_SUFFIX: &str = "_worker";

/// A queue schema's name and its roles: `<schema>_producer` may enqueue,
/// `<schema>_worker` may dequeue, complete, fail and extend leases.
#[derive(Debug, Clone)]
pub struct QueueNames {
    pub schema: String,
    pub producer: String,
    pub worker: String,
}

impl QueueNames {
    pub fn new(schema: &str) -> anyhow::Result<QueueNames> {
        check_new_name("queue schema", schema)?;
        let longest = schema.len() + PRODUCER_SUFFIX.len();
        if longest > 63 {
            bail!(
                "the queue schema name `{schema}` is {} bytes; its role `{schema}{PRODUCER_SUFFIX}` \
                 would be {longest}, past PostgreSQL's 63: choose a schema name of at most {} bytes",
                schema.len(),
                63 - PRODUCER_SUFFIX.len()
            );
        }
        if matches!(schema, "public" | "information_schema") {
            bail!("`{schema}` is a system schema; choose another name for the queue (default `{DEFAULT_SCHEMA}`)");
        }
        Ok(QueueNames {
            schema: schema.to_owned(),
            producer: format!("{schema}{PRODUCER_SUFFIX}"),
            worker: format!("{schema}{WORKER_SUFFIX}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_schema_and_bad_names_are_refused() {
        let names = QueueNames::new("q\"x").unwrap();
        assert_eq!(names.producer, "q\"x_producer");
        assert_eq!(names.worker, "q\"x_worker");
        assert!(QueueNames::new(&"a".repeat(54)).is_ok());
        let long = QueueNames::new(&"a".repeat(55)).unwrap_err().to_string();
        assert!(long.contains("at most 54 bytes"), "{long}");
        assert!(QueueNames::new("pg_queue").is_err());
        assert!(
            QueueNames::new("PG_queue").is_ok(),
            "a quoted name is case-sensitive"
        );
        assert!(QueueNames::new("core_data_q").is_err());
        assert!(QueueNames::new("public").is_err());
        assert!(QueueNames::new("").is_err());
    }
}
