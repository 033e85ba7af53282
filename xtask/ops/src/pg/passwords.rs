//! Keeping the platform's own logins equal to their secret files. After a
//! restore of an older backup, or `init --force`, the server holds other
//! passwords than `secrets/`, and the CLI (superuser), the sidecar
//! (`core_data_backup`), runbooks (`core_data_reader`) and applications (the
//! configured owners) would be locked out. `up` reads the stored verifiers over
//! the container's Unix socket (peer authentication for the OS user `postgres`,
//! so no password is needed), checks each secret against its verifier here,
//! and sets a fresh SCRAM verifier (computed on the client) only where they
//! differ: a second run changes nothing.

use anyhow::{bail, Context};
use base64::Engine as _;
use camino::Utf8PathBuf;
use hmac::{Hmac, KeyInit, Mac};
use sha2_scram::{Digest, Sha256};

use crate::paths::Paths;
use crate::secrets;
use crate::sql::{quote_ident, quote_literal};
use crate::stack::Stack;

/// A login whose password the platform keeps equal to a secret file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLogin {
    pub role: String,
    pub file: Utf8PathBuf,
}

/// The superuser, the three service roles and the configured application owners.
pub fn service_logins(paths: &Paths, config: &crate::config::Config) -> Vec<ServiceLogin> {
    let mut logins = vec![
        ServiceLogin {
            role: config.superuser().to_owned(),
            file: secrets::superuser_password_file(paths),
        },
        ServiceLogin {
            role: secrets::BACKUP_ROLE.to_owned(),
            file: secrets::backup_password_file(paths),
        },
        ServiceLogin {
            role: secrets::READER_ROLE.to_owned(),
            file: secrets::reader_password_file(paths),
        },
        ServiceLogin {
            role: secrets::RUNBOOK_ROLE.to_owned(),
            file: secrets::runbook_password_file(paths),
        },
        ServiceLogin {
            role: secrets::AUDITOR_ROLE.to_owned(),
            file: secrets::auditor_password_file(paths),
        },
    ];
    if crate::addons::pgbouncer::enabled(config) {
        logins.push(ServiceLogin {
            role: crate::addons::pgbouncer::AUTH_ROLE.to_owned(),
            file: crate::addons::Addon::PgBouncer
                .secret_file(paths, crate::addons::pgbouncer::AUTH_PASSWORD),
        });
    }
    if crate::dashboard::enabled(config) {
        logins.push(ServiceLogin {
            role: crate::dashboard::settings::ROLE.to_owned(),
            file: crate::addons::Addon::Dashboard.secret_file(paths, crate::dashboard::DB_PASSWORD),
        });
    }
    for db in config.databases() {
        if !logins.iter().any(|login| login.role == db.owner) {
            logins.push(ServiceLogin {
                file: secrets::role_password_file(paths, &db.owner),
                role: db.owner,
            });
        }
    }
    logins
}

/// The stack's data volume when it exists (the server then holds passwords that
/// new secret files would not match until `up` syncs them). `None` also when
/// Docker cannot be asked: `init` must work without it.
pub fn existing_data_volume(config: &crate::config::Config) -> Option<String> {
    let volume = format!("{}_pgdata", config.project());
    let docker = crate::docker::Docker::connect().ok()?;
    docker.volume_exists(&volume).ok()?.then_some(volume)
}

/// True when `verifier` (a `pg_authid.rolpassword` value) accepts `password`.
/// Anything that is not a well-formed SCRAM-SHA-256 verifier does not match.
pub fn verifier_matches(verifier: &str, password: &str) -> bool {
    let Some(scram) = Scram::parse(verifier) else {
        return false;
    };
    // As the server and libpq do: SASLprep when it applies, the raw bytes otherwise.
    let prepared = stringprep::saslprep(password).map_or_else(
        |_| password.as_bytes().to_vec(),
        |p| p.into_owned().into_bytes(),
    );
    let salted = hi(&prepared, &scram.salt, scram.iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let ours_stored = Sha256::digest(client_key);
    let ours_server = hmac_sha256(&salted, b"Server Key");
    ours_stored.as_slice() == scram.stored_key.as_slice()
        && ours_server.as_slice() == scram.server_key
}

/// The parts of `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
struct Scram {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Scram {
    fn parse(verifier: &str) -> Option<Scram> {
        let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Some(Scram {
            iterations: iterations.parse().ok().filter(|i| *i > 0)?,
            salt: b64.decode(salt).ok()?,
            stored_key: b64.decode(stored).ok()?,
            server_key: b64.decode(server).ok()?,
        })
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 with one block: SCRAM's `Hi()` (RFC 5802).
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut block = salt.to_vec();
    block.extend_from_slice(&[0, 0, 0, 1]);
    let mut previous = hmac_sha256(password, &block);
    let mut result = previous;
    for _ in 1..iterations {
        previous = hmac_sha256(password, &previous);
        for (r, p) in result.iter_mut().zip(previous) {
            *r ^= p;
        }
    }
    result
}

/// Runs `sql` (from stdin, never argv) with psql inside the postgres container
/// over its Unix socket as the superuser, by peer authentication: works whatever
/// password the server holds. Returns psql's unaligned, tuples-only output.
pub fn psql_local(stack: &Stack, sql: &str) -> anyhow::Result<String> {
    let container = stack.container();
    let argv = [
        "psql",
        "--no-psqlrc",
        "--quiet",
        "--tuples-only",
        "--no-align",
        "--set",
        "ON_ERROR_STOP=1",
        "--username",
        stack.config.superuser(),
        "--dbname",
        "postgres",
    ];
    let output = stack
        .docker
        .exec_with_stdin(&container, &argv, sql.as_bytes())
        .with_context(|| format!("failed to run psql in `{container}`"))?;
    if output.exit_code != 0 {
        bail!(
            "psql over the local socket of `{container}` failed: {}; \
             is the stack up (`cargo xtask status`)?",
            output.stderr.trim()
        );
    }
    Ok(output.stdout)
}

/// The stored verifier of every login role (`None`: no password set).
fn stored_verifiers(stack: &Stack) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let out = psql_local(
        stack,
        "SELECT coalesce(json_agg(json_build_array(rolname, rolpassword)), '[]') \
         FROM pg_authid WHERE rolcanlogin;\n",
    )?;
    serde_json::from_str(out.trim()).with_context(|| {
        format!(
            "failed to read the stored password verifiers: `{}`",
            out.trim()
        )
    })
}

/// Sets the password of every existing service login whose stored verifier does
/// not accept its secret file. Returns the roles it changed (in the order of
/// `service_logins`); roles that do not exist yet are left to the bootstrap.
pub fn sync(stack: &Stack) -> anyhow::Result<Vec<String>> {
    let logins = service_logins(&stack.paths, &stack.config);
    // Every secret is read before anything changes.
    let mut wanted = Vec::new();
    for login in &logins {
        wanted.push((login, secrets::read(&login.file)?));
    }
    let stored = stored_verifiers(stack)?;
    let mut statements = String::new();
    let mut changed = Vec::new();
    for (login, password) in wanted {
        let Some((_, verifier)) = stored.iter().find(|(role, _)| *role == login.role) else {
            continue;
        };
        if verifier
            .as_deref()
            .is_some_and(|verifier| verifier_matches(verifier, &password))
        {
            continue;
        }
        let fresh = postgres_protocol::password::scram_sha_256(password.as_bytes());
        statements.push_str(&format!(
            "ALTER ROLE {} PASSWORD {};\n",
            quote_ident(&login.role),
            quote_literal(&fresh)
        ));
        changed.push(login.role.clone());
    }
    if changed.is_empty() {
        return Ok(changed);
    }
    // One transaction: every login is set, or none.
    psql_local(stack, &format!("BEGIN;\n{statements}COMMIT;\n"))
        .with_context(|| format!("failed to set the passwords of `{}`", changed.join("`, `")))?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_accepts_its_password_and_nothing_else() {
        let verifier = postgres_protocol::password::scram_sha_256(b"s3cret-Password");
        assert!(verifier_matches(&verifier, "s3cret-Password"));
        assert!(!verifier_matches(&verifier, "s3cret-password"));
        assert!(!verifier_matches(&verifier, ""));
        let other = postgres_protocol::password::scram_sha_256(b"other");
        assert!(!verifier_matches(&other, "s3cret-Password"));
    }

    #[test]
    fn malformed_verifiers_never_match() {
        for bad in [
            "",
            "md5abcdef",
            "SCRAM-SHA-256$",
            "SCRAM-SHA-256$4096:!!!$a:b",
            "SCRAM-SHA-256$0:AAAA$AAAA:AAAA",
            "SCRAM-SHA-256$x:AAAA$AAAA:AAAA",
        ] {
            assert!(!verifier_matches(bad, "postgres"), "{bad}");
        }
    }
}
