//! Secret files under `secrets/` (mode 0600, directory 0700): the superuser
//! password, one password per application role, and the TLS material. Secrets
//! are generated once and never overwritten without `force`; they travel to the
//! container as compose secrets, never through environment variables or argv.

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use rand::distr::{Alphanumeric, SampleString};

use crate::config::Config;
use crate::fsutil;
use crate::paths::Paths;

pub const SUPERUSER_PASSWORD: &str = "postgres_superuser_password";
/// The password of `BACKUP_ROLE`, the `logical_backup` sidecar's login (a compose secret).
pub const BACKUP_PASSWORD: &str = "core_data_backup_password";
/// The least-privileged role the `logical_backup` sidecar dumps as (member of `pg_read_all_data`).
pub const BACKUP_ROLE: &str = "core_data_backup";

/// The password of `READER_ROLE`, the login runbooks' `pg::query` uses.
pub const READER_PASSWORD: &str = "core_data_reader_password";
/// A role that reads everything and writes nothing (not a superuser): read-only
/// runbooks query as it, so `COPY … TO PROGRAM` or `dblink_exec` are refused.
pub const READER_ROLE: &str = "core_data_reader";

/// The password of `RUNBOOK_ROLE`, the login of runbooks' SQL writes.
pub const RUNBOOK_PASSWORD: &str = "core_data_runbook_password";
/// Runbooks' writing login (`pg::execute`, `pg::transaction`): reads and writes
/// table data and maintains tables, but is not a superuser and owns nothing.
pub const RUNBOOK_ROLE: &str = "core_data_runbook";

/// The password of `AUDITOR_ROLE`, the login every audit connects as.
pub const AUDITOR_PASSWORD: &str = "core_data_auditor_password";
/// The audits' login: a member of `pg_monitor` only, plus the few
/// `SECURITY DEFINER` functions of `audit::access`. Not a superuser.
pub const AUDITOR_ROLE: &str = "core_data_auditor";

/// 32 random alphanumeric characters (~190 bits): safe in URLs and config files.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// The file holding `role`'s password. Characters outside `[A-Za-z0-9_-]` are
/// percent-encoded, so any role name maps to one plain file name.
pub fn role_password_file(paths: &Paths, role: &str) -> Utf8PathBuf {
    const FILE_NAME: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'_').remove(b'-');
    let name = percent_encoding::utf8_percent_encode(role, FILE_NAME);
    paths
        .secrets_dir()
        .join("roles")
        .join(format!("{name}.password"))
}

pub fn superuser_password_file(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join(SUPERUSER_PASSWORD)
}

pub fn backup_password_file(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join(BACKUP_PASSWORD)
}

pub fn reader_password_file(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join(READER_PASSWORD)
}

pub fn runbook_password_file(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join(RUNBOOK_PASSWORD)
}

pub fn auditor_password_file(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join(AUDITOR_PASSWORD)
}

/// Reads a secret file, trimming one trailing newline; a missing file says how to make it.
pub fn read(path: &Utf8Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("failed to read secret `{path}`; run `cargo xtask init` to generate it")
    })?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// Writes a secret with mode 0600 unless it exists (or `force`). Returns whether it wrote.
pub fn write_new(
    path: &Utf8Path,
    value: &str,
    force: bool,
    config: &Config,
) -> anyhow::Result<bool> {
    if path.exists() && !force {
        return Ok(false);
    }
    fsutil::write_atomic(path, value.as_bytes(), 0o600)?;
    fsutil::hand_over(path, config.uid(), config.gid())?;
    Ok(true)
}

/// Makes sure every secret the configuration needs exists. Returns the files written.
pub fn ensure(paths: &Paths, config: &Config, force: bool) -> anyhow::Result<Vec<Utf8PathBuf>> {
    fsutil::ensure_dir(&paths.secrets_dir(), 0o700)?;
    fsutil::ensure_dir(&paths.secrets_dir().join("roles"), 0o700)?;
    let mut written = Vec::new();
    let superuser = superuser_password_file(paths);
    if write_new(&superuser, &generate_password(), force, config)? {
        written.push(superuser);
    }
    for service in [
        backup_password_file(paths),
        reader_password_file(paths),
        runbook_password_file(paths),
        auditor_password_file(paths),
    ] {
        if write_new(&service, &generate_password(), force, config)? {
            written.push(service);
        }
    }
    for db in config.databases() {
        let file = role_password_file(paths, &db.owner);
        if write_new(&file, &generate_password(), force, config)? {
            written.push(file);
        }
    }
    written.extend(crate::tls::ensure(paths, config, force)?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::role_password_file;
    use crate::paths::Paths;

    #[test]
    fn role_file_names_keep_only_safe_characters() {
        let paths = Paths::new("/repo", "/state");
        let name = |role: &str| {
            role_password_file(&paths, role)
                .file_name()
                .unwrap()
                .to_owned()
        };
        assert_eq!(name("shop_owner-2"), "shop_owner-2.password");
        assert_eq!(name("a.b/c d"), "a%2Eb%2Fc%20d.password");
        assert_eq!(name("élan"), "%C3%A9lan.password");
        assert_eq!(
            role_password_file(&paths, "x").parent().unwrap(),
            "/state/secrets/roles"
        );
    }
}
