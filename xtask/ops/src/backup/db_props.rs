//! Database-level properties that live outside a database's contents, so no
//! dump carries them: owner, encoding and locale, connection limit, comment,
//! `GRANT … ON DATABASE`, `ALTER DATABASE … SET` and `ALTER ROLE … IN DATABASE
//! … SET`. `restore-dump` reads them from the database it replaces, creates the
//! restored copy with the same encoding and locale, and applies the rest inside
//! the swap's transaction, then reads them back to report anything that differs.

use anyhow::{bail, Context};

use crate::sql::{quote_ident, quote_literal};

/// What a database carries besides its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbProps {
    pub owner: String,
    pub encoding: String,
    /// `c` (libc), `i` (ICU) or `b` (builtin).
    pub locale_provider: String,
    pub collate: String,
    pub ctype: String,
    pub locale: Option<String>,
    pub icu_rules: Option<String>,
    pub tablespace: String,
    pub connection_limit: i32,
    pub comment: Option<String>,
    /// `None`: the default privileges (`datacl` is NULL).
    pub acl: Option<Vec<AclItem>>,
    pub settings: Vec<RoleSetting>,
}

/// One `aclexplode` row of `datacl`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclItem {
    pub grantor: String,
    /// `None` is PUBLIC.
    pub grantee: Option<String>,
    pub privilege: String,
    pub grantable: bool,
}

/// One `pg_db_role_setting` row: `role` `None` is `ALTER DATABASE … SET`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoleSetting {
    pub role: Option<String>,
    pub config: Vec<String>,
}

/// Reads the properties of `database`.
pub fn read(client: &mut impl postgres::GenericClient, database: &str) -> anyhow::Result<DbProps> {
    let row = client
        .query_one(
            "SELECT pg_get_userbyid(d.datdba)::text, pg_encoding_to_char(d.encoding)::text, d.datlocprovider::text, \
                    d.datcollate::text, d.datctype::text, d.datlocale::text, d.daticurules::text, t.spcname::text, \
                    d.datconnlimit, shobj_description(d.oid, 'pg_database')::text, d.datacl IS NULL, d.oid \
             FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE d.datname = $1",
            &[&database],
        )
        .with_context(|| format!("failed to read the properties of database `{database}`"))?;
    let oid: u32 = row.get(11);
    let acl = if row.get::<_, bool>(10) {
        None
    } else {
        let mut items: Vec<AclItem> = client
            .query(
                "SELECT pg_get_userbyid(a.grantor)::text, \
                        CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee)::text END, \
                        a.privilege_type::text, a.is_grantable \
                 FROM pg_database d, aclexplode(d.datacl) a WHERE d.oid = $1",
                &[&oid],
            )?
            .iter()
            .map(|r| AclItem {
                grantor: r.get(0),
                grantee: r.get(1),
                privilege: r.get(2),
                grantable: r.get(3),
            })
            .collect();
        items.sort();
        Some(items)
    };
    let mut settings: Vec<RoleSetting> = client
        .query(
            "SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole)::text END, s.setconfig \
             FROM pg_db_role_setting s WHERE s.setdatabase = $1",
            &[&oid],
        )?
        .iter()
        .map(|r| RoleSetting {
            role: r.get(0),
            config: r.get(1),
        })
        .collect();
    settings.sort();
    Ok(DbProps {
        owner: row.get(0),
        encoding: row.get(1),
        locale_provider: row.get(2),
        collate: row.get(3),
        ctype: row.get(4),
        locale: row.get(5),
        icu_rules: row.get(6),
        tablespace: row.get(7),
        connection_limit: row.get(8),
        comment: row.get(9),
        acl,
        settings,
    })
}

impl DbProps {
    /// The `CREATE DATABASE` options that give a new database the same encoding,
    /// locale and tablespace (after `TEMPLATE template0 OWNER …`).
    pub fn create_options(&self) -> anyhow::Result<String> {
        let provider = match self.locale_provider.as_str() {
            "c" => "libc",
            "i" => "icu",
            "b" => "builtin",
            other => bail!("unknown locale provider `{other}`"),
        };
        let mut options = format!(
            " ENCODING {} LOCALE_PROVIDER {provider} LC_COLLATE {} LC_CTYPE {}",
            quote_literal(&self.encoding),
            quote_literal(&self.collate),
            quote_literal(&self.ctype)
        );
        match (provider, &self.locale) {
            ("icu", Some(locale)) => options += &format!(" ICU_LOCALE {}", quote_literal(locale)),
            ("builtin", Some(locale)) => {
                options += &format!(" BUILTIN_LOCALE {}", quote_literal(locale));
            }
            _ => {}
        }
        if let Some(rules) = &self.icu_rules {
            options += &format!(" ICU_RULES {}", quote_literal(rules));
        }
        if self.tablespace != "pg_default" {
            options += &format!(" TABLESPACE {}", quote_ident(&self.tablespace));
        }
        Ok(options)
    }

    /// Applies the connection limit, comment, grants and settings to `database`
    /// (inside the caller's transaction); returns what was carried over.
    pub fn apply(
        &self,
        tx: &mut postgres::Transaction<'_>,
        database: &str,
    ) -> anyhow::Result<Vec<String>> {
        let db = quote_ident(database);
        let mut carried = Vec::new();
        tx.batch_execute(&format!(
            "COMMENT ON DATABASE {db} IS {}",
            self.comment
                .as_deref()
                .map_or("NULL".to_owned(), quote_literal)
        ))?;
        if self.comment.is_some() {
            carried.push("comment".to_owned());
        }
        if self.connection_limit != -1 {
            tx.batch_execute(&format!(
                "ALTER DATABASE {db} CONNECTION LIMIT {}",
                self.connection_limit
            ))?;
            carried.push(format!("connection limit {}", self.connection_limit));
        }
        if let Some(items) = &self.acl {
            let owner = quote_ident(&self.owner);
            tx.batch_execute(&format!(
                "REVOKE ALL ON DATABASE {db} FROM PUBLIC; REVOKE ALL ON DATABASE {db} FROM {owner}"
            ))?;
            // The owner's grants first: another grantor needs its grant option in place.
            let mut ordered: Vec<&AclItem> = items.iter().collect();
            ordered.sort_by_key(|item| item.grantor != self.owner);
            for item in ordered {
                let privilege = match item.privilege.as_str() {
                    p @ ("CREATE" | "CONNECT" | "TEMPORARY") => p,
                    other => bail!("unexpected database privilege `{other}`"),
                };
                let grantee = item
                    .grantee
                    .as_deref()
                    .map_or("PUBLIC".to_owned(), quote_ident);
                let option = if item.grantable {
                    " WITH GRANT OPTION"
                } else {
                    ""
                };
                let grant = format!("GRANT {privilege} ON DATABASE {db} TO {grantee}{option}");
                if item.grantor == self.owner {
                    tx.batch_execute(&grant)?;
                } else {
                    tx.batch_execute(&format!(
                        "SET LOCAL ROLE {}; {grant}; RESET ROLE",
                        quote_ident(&item.grantor)
                    ))?;
                }
            }
            carried.push(format!("{} privilege grant(s)", items.len()));
        }
        // Exactly the replaced database's settings, whatever the restored file brought.
        tx.batch_execute(&format!("ALTER DATABASE {db} RESET ALL"))?;
        let roles: Vec<String> = tx
            .query(
                "SELECT pg_get_userbyid(s.setrole)::text FROM pg_db_role_setting s \
                 JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 AND s.setrole <> 0",
                &[&database],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for role in roles {
            tx.batch_execute(&format!(
                "ALTER ROLE {} IN DATABASE {db} RESET ALL",
                quote_ident(&role)
            ))?;
        }
        for setting in &self.settings {
            let target = match &setting.role {
                None => format!("DATABASE {db}"),
                Some(role) => format!("ROLE {} IN DATABASE {db}", quote_ident(role)),
            };
            for entry in &setting.config {
                let Some((name, value)) = entry.split_once('=') else {
                    bail!("unexpected setting `{entry}`");
                };
                tx.batch_execute(&format!(
                    "ALTER {target} SET {} TO {}",
                    quote_ident(name),
                    setting_value(name, value)?
                ))?;
            }
            carried.push(match &setting.role {
                None => format!("{} database setting(s)", setting.config.len()),
                Some(role) => format!("{} setting(s) of role `{role}`", setting.config.len()),
            });
        }
        Ok(carried)
    }

    /// What differs between `self` (wanted) and `got`, as sentences.
    pub fn differences(&self, got: &DbProps) -> Vec<String> {
        let mut found = Vec::new();
        let mut check = |what: &str, wanted: String, got: String| {
            if wanted != got {
                found.push(format!(
                    "{what} differs from the replaced database's: {got} instead of {wanted}"
                ));
            }
        };
        let locale = |p: &DbProps| {
            format!(
                "{:?}",
                (&p.locale_provider, &p.collate, &p.ctype, &p.locale)
            )
        };
        check("the owner", self.owner.clone(), got.owner.clone());
        check("the encoding", self.encoding.clone(), got.encoding.clone());
        check("the locale", locale(self), locale(got));
        check(
            "the tablespace",
            self.tablespace.clone(),
            got.tablespace.clone(),
        );
        check(
            "the connection limit",
            self.connection_limit.to_string(),
            got.connection_limit.to_string(),
        );
        check(
            "the comment",
            format!("{:?}", self.comment),
            format!("{:?}", got.comment),
        );
        check(
            "the privileges",
            format!("{:?}", self.acl),
            format!("{:?}", got.acl),
        );
        check(
            "the settings",
            format!("{:?}", self.settings),
            format!("{:?}", got.settings),
        );
        found
    }
}

/// A setting's value as SQL, the way pg_dump writes it: the list-valued settings
/// PostgreSQL stores already quoted are split and each element quoted as a literal.
fn setting_value(name: &str, value: &str) -> anyhow::Result<String> {
    const LIST_QUOTE: &[&str] = &[
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    ];
    if !LIST_QUOTE.contains(&name.to_ascii_lowercase().as_str()) {
        return Ok(quote_literal(value));
    }
    let elements = split_guc_list(value)
        .with_context(|| format!("cannot parse the value of `{name}`: `{value}`"))?;
    Ok(elements
        .iter()
        .map(|e| quote_literal(e))
        .collect::<Vec<_>>()
        .join(", "))
}

/// PostgreSQL's `SplitGUCList`: comma-separated, elements optionally
/// double-quoted (`""` inside is a quote), whitespace around them ignored.
fn split_guc_list(value: &str) -> anyhow::Result<Vec<String>> {
    let mut elements = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut element = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        element.push('"');
                    }
                    Some('"') => break,
                    Some(c) => element.push(c),
                    None => bail!("unterminated quote"),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                element.push(c);
                chars.next();
            }
            if element.is_empty() {
                bail!("empty element");
            }
        }
        elements.push(element);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(elements),
            Some(',') => {}
            Some(c) => bail!("unexpected `{c}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_are_split_like_postgres_does() {
        assert_eq!(
            setting_value("search_path", "\"$user\", public, \"My \"\"Schema\"\"\"").unwrap(),
            "'$user', 'public', 'My \"Schema\"'"
        );
        assert_eq!(setting_value("search_path", "\"\"").unwrap(), "''");
        assert_eq!(setting_value("work_mem", "64MB").unwrap(), "'64MB'");
        assert_eq!(
            setting_value("statement_timeout", "it's").unwrap(),
            "'it''s'"
        );
        assert!(setting_value("search_path", "\"open").is_err());
    }
}
