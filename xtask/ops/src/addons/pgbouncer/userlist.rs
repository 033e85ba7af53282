//! PgBouncer's auth file (`secrets/pgbouncer/userlist.txt`, a compose secret):
//! the auth role's password (PgBouncer logs in as it to run `auth_query`, so it
//! needs the password itself) and the stats and admin users' SCRAM verifiers. Every other
//! user is looked up in PostgreSQL; no application password is ever here.

use crate::config::Config;
use crate::paths::Paths;
use crate::pg::passwords::verifier_matches;
use crate::secrets;

use super::{
    Addon, ADMIN_PASSWORD, ADMIN_USER, AUTH_PASSWORD, AUTH_ROLE, STATS_PASSWORD, STATS_USER,
};

/// The auth file's name under `secrets/pgbouncer/`.
pub const FILE: &str = "userlist.txt";

/// One `"user" "secret"` line, with `"` doubled as PgBouncer reads it.
fn line(user: &str, secret: &str) -> String {
    format!(
        "\"{}\" \"{}\"\n",
        user.replace('"', "\"\""),
        secret.replace('"', "\"\"")
    )
}

/// The `"user" "secret"` pairs of an auth file.
fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split("\" \"");
            let user = fields.next()?.strip_prefix('"')?;
            let secret = fields.next()?.strip_suffix('"')?;
            Some((user.replace("\"\"", "\""), secret.replace("\"\"", "\"")))
        })
        .collect()
}

/// Whether `text` already says what the secrets say (the verifiers are
/// checked, not compared: a fresh one has a new salt every time).
fn current(text: &str, auth_password: &str, stats_password: &str, admin_password: &str) -> bool {
    let entries = parse(text);
    let verifies = |name: &str, password: &str| {
        entries
            .iter()
            .any(|(user, secret)| user == name && verifier_matches(secret, password))
    };
    entries.len() == 3
        && entries
            .iter()
            .any(|(user, secret)| user == AUTH_ROLE && secret == auth_password)
        && verifies(STATS_USER, stats_password)
        && verifies(ADMIN_USER, admin_password)
}

/// Writes the auth file unless it matches the secrets; returns whether it wrote.
pub fn ensure(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    let addon = Addon::PgBouncer;
    let auth = secrets::read(&addon.secret_file(paths, AUTH_PASSWORD))?;
    let stats = secrets::read(&addon.secret_file(paths, STATS_PASSWORD))?;
    let admin = secrets::read(&addon.secret_file(paths, ADMIN_PASSWORD))?;
    let file = addon.secret_file(paths, FILE);
    if let Ok(text) = std::fs::read_to_string(&file) {
        if current(&text, &auth, &stats, &admin) {
            return Ok(false);
        }
    }
    let verifier = |password: &str| postgres_protocol::password::scram_sha_256(password.as_bytes());
    let text = line(AUTH_ROLE, &auth)
        + &line(STATS_USER, &verifier(&stats))
        + &line(ADMIN_USER, &verifier(&admin));
    secrets::write_new(&file, &text, true, config)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_current_only_for_the_same_secrets() {
        let verifier = postgres_protocol::password::scram_sha_256(b"stats-pw");
        let admin = postgres_protocol::password::scram_sha_256(b"admin-pw");
        let text =
            line(AUTH_ROLE, "auth-pw") + &line(STATS_USER, &verifier) + &line(ADMIN_USER, &admin);
        assert!(current(&text, "auth-pw", "stats-pw", "admin-pw"));
        assert!(!current(&text, "other", "stats-pw", "admin-pw"));
        assert!(!current(&text, "auth-pw", "other", "admin-pw"));
        assert!(!current(&text, "auth-pw", "stats-pw", "other"));
        assert!(!current("", "auth-pw", "stats-pw", "admin-pw"));
        // A file from before the admin user is rewritten.
        let old = line(AUTH_ROLE, "auth-pw") + &line(STATS_USER, &verifier);
        assert!(!current(&old, "auth-pw", "stats-pw", "admin-pw"));
        assert_eq!(
            parse(&line("a\"b", "c")),
            vec![("a\"b".to_owned(), "c".to_owned())]
        );
    }
}
