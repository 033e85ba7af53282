//! ValKey's ACL file (`secrets/valkey/users.acl`, a compose secret the server
//! reads with `aclfile`): every user with the SHA-256 of its password, never
//! the password. The default user is off with no password, so an
//! unauthenticated client can run nothing; `protected-mode` stays on.

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::paths::Paths;
use crate::secrets;

use super::{
    Addon, ADMIN_PASSWORD, ADMIN_USER, APP_PASSWORD, APP_USER, HEALTH_PASSWORD, HEALTH_USER,
};

/// The ACL file's name under `secrets/valkey/`.
pub const FILE: &str = "users.acl";

/// Commands the application user may never run: scripting (`EVAL`, `FUNCTION`,
/// `SCRIPT`: Lua runs outside the key patterns' reach, and a replaced function
/// library would run the app's code with the rights of whoever calls it next),
/// and the rest `@dangerous` already takes, named so the file says the policy.
pub const APP_DENIED: &[&str] = &[
    "@scripting",
    "flushall",
    "flushdb",
    "config",
    "debug",
    "module",
];

/// `#<sha256 hex>`: a password as the ACL file holds it.
fn hashed(password: &str) -> String {
    let digest = Sha256::digest(password.as_bytes());
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("#{hex}")
}

/// The ACL file for these passwords and `VALKEY_APP_KEY_PATTERNS` (comma-separated
/// globs; `.env` values have no spaces, so a pattern cannot add a rule).
pub fn text(
    app_password: &str,
    admin_password: &str,
    health_password: &str,
    patterns: &str,
) -> String {
    let keys: Vec<String> = patterns
        .split(',')
        .filter(|pattern| !pattern.is_empty())
        .map(|pattern| format!("~{pattern}"))
        .collect();
    let mut denied: Vec<String> = APP_DENIED
        .iter()
        .map(|command| format!("-{command}"))
        .collect();
    // SCAN and RANDOMKEY are not filtered by key patterns: they would list every key.
    if keys != ["~*"] {
        denied.extend(["-scan", "-randomkey"].map(str::to_owned));
    }
    format!(
        "user default off resetpass resetkeys resetchannels -@all\n\
         user {APP_USER} on {} resetkeys {} resetchannels &* +@all -@dangerous {}\n\
         user {ADMIN_USER} on {} ~* &* +@all -debug -module\n\
         user {HEALTH_USER} on {} resetkeys resetchannels -@all +ping\n",
        hashed(app_password),
        keys.join(" "),
        denied.join(" "),
        hashed(admin_password),
        hashed(health_password),
    )
}

/// Writes the ACL file unless it already says what the secrets and `.env` say.
pub fn ensure(paths: &Paths, config: &Config) -> anyhow::Result<bool> {
    let addon = Addon::Valkey;
    let read = |secret: &str| secrets::read(&addon.secret_file(paths, secret));
    let wanted = text(
        &read(APP_PASSWORD)?,
        &read(ADMIN_PASSWORD)?,
        &read(HEALTH_PASSWORD)?,
        config.get("VALKEY_APP_KEY_PATTERNS"),
    );
    let file = addon.secret_file(paths, FILE);
    if std::fs::read_to_string(&file).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(false);
    }
    secrets::write_new(&file, &wanted, true, config)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_holds_hashes_and_the_app_users_patterns() {
        let acl = text("app-pw", "admin-pw", "health-pw", "app:*,jobs:*");
        assert!(!acl.contains("app-pw") && !acl.contains("admin-pw") && !acl.contains("health-pw"));
        // echo -n app-pw | sha256sum
        assert!(acl.contains(&hashed("app-pw")));
        assert_eq!(hashed("").len(), 65);
        let lines: Vec<&str> = acl.lines().collect();
        assert_eq!(
            lines[0],
            "user default off resetpass resetkeys resetchannels -@all"
        );
        assert!(lines[1].starts_with("user app on #"));
        assert!(lines[1].contains(" resetkeys ~app:* ~jobs:* resetchannels "));
        assert!(lines[1].ends_with(
            "+@all -@dangerous -@scripting -flushall -flushdb -config -debug -module -scan -randomkey"
        ));
        let everything = text("a", "b", "c", "*");
        assert!(
            !everything.contains("-scan"),
            "with every key allowed, SCAN shows nothing more"
        );
        assert!(lines[2].ends_with("~* &* +@all -debug -module"));
        assert!(lines[3].ends_with("-@all +ping"));
    }

    #[test]
    fn a_known_password_hashes_like_sha256sum() {
        // printf 'secret' | sha256sum
        assert_eq!(
            hashed("secret"),
            "#2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
    }
}
