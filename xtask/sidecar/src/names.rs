//! Names: database → file stem, libpq conninfo quoting, the prefix of
//! databases that are restores in progress.

use sha2::{Digest, Sha256};

/// The databases worth dumping, counting or checking: everything that accepts
/// connections but the templates, by name.
pub const DATABASES_SQL: &str =
    "SELECT datname::text FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1";

/// Databases being restored by `restore-dump` are created under this prefix;
/// they are never dumped and never taken for real ones.
pub const TEMP_PREFIX: &str = "core_data_restore_";

/// The file name (without extension) of a dump of `database`: the name itself
/// when it is only `A-Za-z0-9_-`; otherwise, to keep names unique, each other
/// byte replaced by `_` and `.` plus 16 hex digits of the SHA-256 of the name
/// appended (`.` never survives the cleaning, so a cleaned name can never equal
/// a name that needed no cleaning).
pub fn file_stem(database: &str) -> String {
    let clean: String = database
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    if clean == database {
        return clean;
    }
    format!("{clean}.{}", &sha256_hex(database.as_bytes())[..16])
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A libpq conninfo `dbname='…'` so any database name (even one with `=`) is a name.
pub fn conninfo_dbname(database: &str) -> String {
    format!(
        "dbname='{}'",
        database.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_stay_and_others_are_cleaned_and_made_unique() {
        assert_eq!(file_stem("app_2-x"), "app_2-x");
        let a = file_stem("a b");
        let b = file_stem("a_b");
        assert_eq!(b, "a_b");
        assert!(a.starts_with("a_b.") && a.len() == "a_b.".len() + 16, "{a}");
        assert_ne!(file_stem("a b"), file_stem("a/b"));
        assert!(file_stem("x\"; DROP DATABASE postgres; --")
            .starts_with("x___DROP_DATABASE_postgres__--."));
        // The hash is the SHA-256 of the name (`sha256sum` agrees).
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hostile_names_stay_names_in_a_conninfo() {
        assert_eq!(conninfo_dbname("app"), "dbname='app'");
        assert_eq!(conninfo_dbname("a'b\\c=d"), "dbname='a\\'b\\\\c=d'");
    }
}
