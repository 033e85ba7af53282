//! The add-on services: PgBouncer, ValKey, Memcached and the dashboard, each a
//! compose profile of the same name with its own image built from Debian
//! packages (`addons/<name>/Dockerfile`; the dashboard's also carries its
//! binary from this workspace), its templates (`addons/<name>/conf/*.j2`,
//! rendered into `rendered/<name>/`), generated secrets
//! (`secrets/<name>/`), a certificate signed by the stack's CA and a seccomp
//! profile (`seccomp/<name>.json`). `COMPOSE_PROFILES` in `.env` says which run.

pub mod image;
pub mod lifecycle;
pub mod memcached;
pub mod pgbouncer;
pub mod render;
pub mod valkey;

use camino::Utf8PathBuf;

use crate::config::Config;
use crate::paths::Paths;
use crate::progress::Progress;

/// The profile names `COMPOSE_PROFILES` accepts, in [`Addon::ALL`]'s order.
pub const PROFILES: &[&str] = &["pgbouncer", "valkey", "memcached", "dashboard"];

/// One add-on service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Addon {
    PgBouncer,
    Valkey,
    Memcached,
    Dashboard,
}

impl Addon {
    pub const ALL: [Addon; 4] = [
        Addon::PgBouncer,
        Addon::Valkey,
        Addon::Memcached,
        Addon::Dashboard,
    ];

    /// The compose service, profile and directory name.
    pub fn name(self) -> &'static str {
        match self {
            Addon::PgBouncer => PROFILES[0],
            Addon::Valkey => PROFILES[1],
            Addon::Memcached => PROFILES[2],
            Addon::Dashboard => PROFILES[3],
        }
    }

    pub fn from_name(name: &str) -> Option<Addon> {
        Addon::ALL.into_iter().find(|addon| addon.name() == name)
    }

    /// The image compose runs (`image:` in compose.yaml).
    pub fn image(self) -> String {
        format!("core-data/{}:trixie", self.name())
    }

    /// The generated passwords this service needs, by secret name: each is
    /// `secrets/<name>/<secret>` and, in compose, the secret `<name>_<secret>`.
    pub fn passwords(self) -> &'static [&'static str] {
        match self {
            Addon::PgBouncer => pgbouncer::PASSWORDS,
            Addon::Valkey => valkey::PASSWORDS,
            Addon::Memcached => memcached::PASSWORDS,
            Addon::Dashboard => crate::dashboard::PASSWORDS,
        }
    }

    /// The binary from this workspace its image carries, if any.
    pub fn binary(self) -> Option<crate::image::binary::Binary> {
        (self == Addon::Dashboard).then_some(crate::image::binary::DASHBOARD)
    }

    /// `addons/<name>/` in the repository: the Dockerfile and templates.
    pub fn source_dir(self, paths: &Paths) -> Utf8PathBuf {
        paths.repo().join("addons").join(self.name())
    }

    /// `secrets/<name>/` in the state directory.
    pub fn secrets_dir(self, paths: &Paths) -> Utf8PathBuf {
        paths.secrets_dir().join(self.name())
    }

    /// The file holding one of [`Addon::passwords`].
    pub fn secret_file(self, paths: &Paths, secret: &str) -> Utf8PathBuf {
        self.secrets_dir(paths).join(secret)
    }

    /// `rendered/<name>/`: the rendered templates, mounted at `/etc/core_data/conf`.
    pub fn rendered_dir(self, paths: &Paths) -> Utf8PathBuf {
        paths.rendered_dir().join(self.name())
    }

    /// The names the service's certificate carries: the compose service, its
    /// container, and loopback when it is published on the host.
    pub fn tls_names(self, config: &Config) -> Vec<String> {
        let mut names = vec![self.name().to_owned(), config.container_name(self.name())];
        let published = match self {
            Addon::PgBouncer => Some("PGBOUNCER_BIND_ADDRESS"),
            Addon::Dashboard => Some("DASHBOARD_BIND_ADDRESS"),
            Addon::Valkey | Addon::Memcached => None,
        };
        if let Some(key) = published {
            names.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
            let bind = config.get(key);
            if !matches!(bind, "0.0.0.0" | "127.0.0.1") {
                names.push(bind.to_owned());
            }
        }
        names
    }
}

impl std::fmt::Display for Addon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The add-ons `COMPOSE_PROFILES` enables, in [`Addon::ALL`]'s order.
pub fn enabled(config: &Config) -> Vec<Addon> {
    let profiles: Vec<&str> = config.get("COMPOSE_PROFILES").split(',').collect();
    Addon::ALL
        .into_iter()
        .filter(|addon| profiles.contains(&addon.name()))
        .collect()
}

/// What [`prepare`] changed, and so what a running container of each add-on needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// A secret, certificate or derived file changed: only a new container sees it
    /// (compose secrets are bind mounts of the file as it was).
    pub recreate: Vec<Addon>,
    /// Only rendered configuration changed, and the service re-reads it on SIGHUP
    /// (PgBouncer): the clients stay connected.
    pub reload: Vec<Addon>,
}

impl Addon {
    /// Whether the service has a certificate (Memcached runs without TLS: few of its
    /// clients speak it, and it is reachable on the compose network only).
    pub fn serves_tls(self) -> bool {
        matches!(self, Addon::PgBouncer | Addon::Valkey | Addon::Dashboard)
    }

    /// Whether the service re-reads its rendered configuration on SIGHUP.
    pub fn reloads_on_sighup(self) -> bool {
        self == Addon::PgBouncer
    }
}

/// Makes every enabled add-on's files what `.env` says: passwords,
/// certificate, rendered templates and the service's own derived files.
pub fn prepare(
    paths: &Paths,
    config: &Config,
    progress: &dyn Progress,
) -> anyhow::Result<Prepared> {
    let mut prepared = Prepared::default();
    for addon in enabled(config) {
        // What an earlier `up` changed but did not get to apply (it failed after writing).
        let pending = std::fs::read_to_string(pending_file(paths, addon)).unwrap_or_default();
        let mut files_changed = pending.trim() == "recreate";
        let mut rendered_changed = pending.trim() == "reload";
        crate::fsutil::ensure_dir(&addon.secrets_dir(paths), 0o700)?;
        for secret in addon.passwords() {
            let file = addon.secret_file(paths, secret);
            if crate::secrets::write_new(
                &file,
                &crate::secrets::generate_password(),
                false,
                config,
            )? {
                progress.status("Generated", file.as_str());
                files_changed = true;
            }
        }
        if addon.serves_tls() {
            let (tls, issued) =
                crate::tls::ensure_service(paths, config, addon.name(), &addon.tls_names(config))?;
            if issued {
                progress.status("Issued", &format!("{} for {addon}", tls.cert));
                files_changed = true;
            }
        }
        for name in render::write(paths, config, addon)? {
            progress.status("Rendered", addon.rendered_dir(paths).join(name).as_str());
            rendered_changed = true;
        }
        let derived = match addon {
            Addon::PgBouncer => pgbouncer::prepare(paths, config)?,
            Addon::Valkey => valkey::prepare(paths, config)?,
            Addon::Memcached => memcached::prepare(paths, config)?,
            Addon::Dashboard => crate::dashboard::prepare(paths, config)?,
        };
        let need = if files_changed || derived || (rendered_changed && !addon.reloads_on_sighup()) {
            prepared.recreate.push(addon);
            "recreate"
        } else if rendered_changed {
            prepared.reload.push(addon);
            "reload"
        } else {
            continue;
        };
        // Until `up` has applied it ([`settle`]), the next `up` applies it again.
        crate::fsutil::write_atomic(&pending_file(paths, addon), need.as_bytes(), 0o644)?;
    }
    Ok(prepared)
}

/// `rendered/<name>.pending`: `recreate` or `reload`, written by [`prepare`] when
/// an add-on's files changed and removed by [`settle`] once the container runs on them.
fn pending_file(paths: &Paths, addon: Addon) -> Utf8PathBuf {
    paths
        .rendered_dir()
        .join(format!("{}.pending", addon.name()))
}

/// Records that every enabled add-on's container now runs on its current files.
pub fn settle(paths: &Paths, config: &Config) -> anyhow::Result<()> {
    for addon in enabled(config) {
        let file = pending_file(paths, addon);
        match std::fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::new(err).context(format!("failed to remove `{file}`")))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_profiles() {
        for addon in Addon::ALL {
            assert_eq!(Addon::from_name(addon.name()), Some(addon));
            assert!(PROFILES.contains(&addon.name()));
        }
        assert_eq!(Addon::from_name("postgres"), None);
    }
}
