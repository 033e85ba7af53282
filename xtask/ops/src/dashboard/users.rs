//! The dashboard's users file: one `NAME:HASH` line per user, the hash an
//! Argon2id PHC string (`$argon2id$v=19$m=…`). `cargo xtask dashboard
//! add-user` writes it, the service reads it; both through this module.

use anyhow::{bail, Context};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// One user of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The Argon2id PHC string.
    pub hash: String,
}

/// A user name: 1 to 64 characters of `[A-Za-z0-9_.-]`, starting with a letter.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        bail!(
            "`{name}` is not a valid dashboard user name: 1 to 64 letters, digits, `_`, `.` or \
             `-`, starting with a letter"
        );
    }
    Ok(())
}

/// A password: at least 12 characters (a dashboard can cancel queries).
pub fn check_password(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < 12 {
        bail!("the password is too short: a dashboard password has at least 12 characters");
    }
    Ok(())
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes) with a random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| anyhow::anyhow!("failed to hash the password: {error}"))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Parses a users file. Blank lines and `#` comments are skipped; a malformed
/// line or a duplicate name is an error with its line number.
pub fn parse(text: &str) -> anyhow::Result<Vec<User>> {
    let mut users: Vec<User> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let (name, hash) = line
            .split_once(':')
            .with_context(|| format!("line {number} of the users file is not `NAME:HASH`"))?;
        check_name(name).with_context(|| format!("line {number} of the users file"))?;
        PasswordHash::new(hash).map_err(|error| {
            anyhow::anyhow!("line {number} of the users file: not an Argon2 PHC string ({error})")
        })?;
        if users.iter().any(|user| user.name == name) {
            bail!("line {number} of the users file: `{name}` is listed twice");
        }
        users.push(User {
            name: name.to_owned(),
            hash: hash.to_owned(),
        });
    }
    Ok(users)
}

/// Reads the users file: none when it does not exist; a file that does not
/// parse is an error (never overwritten as if empty).
pub fn load(path: &camino::Utf8Path) -> anyhow::Result<Vec<User>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).with_context(|| format!("`{path}` is not a valid users file")),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(anyhow::Error::new(error).context(format!("failed to read `{path}`"))),
    }
}

/// Writes the users file atomically (0600, handed to the stack's UID, which
/// the service runs as).
pub fn save(
    path: &camino::Utf8Path,
    users: &[User],
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    crate::fsutil::write_atomic(path, format(users).as_bytes(), 0o600)?;
    crate::fsutil::hand_over(path, config.uid(), config.gid())
}

/// Adds `name` with `password` (or replaces its hash when `replace`); checks
/// everything before the file changes. Returns whether the user was new.
pub fn add(
    path: &camino::Utf8Path,
    name: &str,
    password: &str,
    replace: bool,
    config: &crate::config::Config,
) -> anyhow::Result<bool> {
    check_name(name)?;
    check_password(password)?;
    let mut users = load(path)?;
    let hash = hash(password)?;
    let new = match users.iter_mut().find(|user| user.name == name) {
        Some(_) if !replace => {
            bail!("dashboard user `{name}` exists; `--replace` sets a new password for it")
        }
        Some(user) => {
            user.hash = hash;
            false
        }
        None => {
            users.push(User {
                name: name.to_owned(),
                hash,
            });
            true
        }
    };
    save(path, &users, config)?;
    Ok(new)
}

/// Removes `name`; an unknown name is an error listing the users.
pub fn remove(
    path: &camino::Utf8Path,
    name: &str,
    config: &crate::config::Config,
) -> anyhow::Result<()> {
    let mut users = load(path)?;
    let before = users.len();
    users.retain(|user| user.name != name);
    if users.len() == before {
        let names: Vec<&str> = users.iter().map(|user| user.name.as_str()).collect();
        bail!(
            "there is no dashboard user `{name}`; the users are: {}",
            if names.is_empty() {
                "(none)".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    save(path, &users, config)
}

/// The file's text for `users`, in the order given.
pub fn format(users: &[User]) -> String {
    let mut text = String::from("# core_data dashboard users (cargo xtask dashboard add-user)\n");
    for user in users {
        text.push_str(&format!("{}:{}\n", user.name, user.hash));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(&hash, "correct horse battery"));
        assert!(!verify(&hash, "correct horse batterz"));
        assert!(!verify("not a hash", "correct horse battery"));
    }

    #[test]
    fn the_file_round_trips_and_refuses_bad_lines() {
        let users = vec![User {
            name: "alice".into(),
            hash: hash("twelve chars!").unwrap(),
        }];
        assert_eq!(parse(&format(&users)).unwrap(), users);
        let twice = format(&[users[0].clone(), users[0].clone()]);
        assert!(parse(&twice).unwrap_err().to_string().contains("twice"));
        assert!(parse("alice\n").is_err());
        assert!(parse("alice:plain\n").is_err());
        assert!(parse("1alice:$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\n").is_err());
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_name("ops-team.1").is_ok());
        for bad in ["", "a:b", "a b", "é", "-x"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pw").is_ok());
    }
}
