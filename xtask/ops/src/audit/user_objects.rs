//! SQL fragments and look-ups shared by the audits that walk a database's
//! own objects: which schemas are the user's, which objects belong to an
//! extension, and where an extension lives.

use crate::sql::quote_ident;

/// A condition on a `pg_namespace` aliased `n`: not a system schema, not a
/// temporary one, not the platform's `core_data_audit` or `core_data_maintenance`.
pub const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', \
     'core_data_audit', 'core_data_maintenance') AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'";

/// A condition: the relation with oid `oid` (an SQL expression) is not a
/// member of an extension (`pg_depend.deptype = 'e'`).
pub fn not_extension_relation(oid: &str) -> String {
    not_extension_member("pg_class", oid)
}

/// A condition: the object `oid` (an SQL expression) of system catalog
/// `catalog` (`pg_class`, `pg_proc`, `pg_namespace`, ...) is not a member of
/// an extension.
pub fn not_extension_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.{catalog}'::regclass \
         AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// The quoted schema extension `name` is installed in, in the connected
/// database; `None` when it is not installed there.
pub fn extension_schema(
    client: &mut postgres::Client,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let row = client.query_opt(
        "SELECT n.nspname::text FROM pg_catalog.pg_extension e \
         JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
        &[&name],
    )?;
    Ok(row.map(|row| quote_ident(&row.get::<_, String>(0))))
}

/// `schema.name` for people (unquoted, as PostgreSQL prints it).
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}
