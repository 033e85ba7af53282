//! The `ha` topology's files, made what `.env` says before anything starts:
//! the replication, REST API and etcd passwords (`secrets/ha/`), etcd's certificate
//! (server and peer) and Patroni's client certificate towards etcd, both
//! signed by the stack's CA, Patroni's configuration rendered from
//! `postgres/ha/patroni.yml.j2` into `secrets/ha/patroni.yml` (0600: it holds
//! passwords), and HAProxy's from `addons/haproxy/conf/` into
//! `rendered/haproxy/`.

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::config::Config;
use crate::paths::Paths;
use crate::progress::Progress;
use crate::tls::{self, Usage};

/// What [`prepare`] changed: a running container sees a changed secret or
/// certificate only once it is re-created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub files_changed: bool,
    /// `secrets/ha/etcd_password` was made by this run: etcd's `patroni` user
    /// must be given it (`dcs::ensure_auth`).
    pub etcd_password_generated: bool,
}

pub fn secrets_dir(paths: &Paths) -> Utf8PathBuf {
    paths.secrets_dir().join("ha")
}

pub fn replication_password_file(paths: &Paths) -> Utf8PathBuf {
    secrets_dir(paths).join("replication_password")
}

pub fn rest_password_file(paths: &Paths) -> Utf8PathBuf {
    secrets_dir(paths).join("rest_password")
}

/// The password of etcd's `patroni` user (`ha::dcs`), which Patroni's
/// configuration carries.
pub fn etcd_password_file(paths: &Paths) -> Utf8PathBuf {
    secrets_dir(paths).join("etcd_password")
}

pub fn patroni_file(paths: &Paths) -> Utf8PathBuf {
    secrets_dir(paths).join("patroni.yml")
}

pub fn haproxy_dir(paths: &Paths) -> Utf8PathBuf {
    paths.rendered_dir().join("haproxy")
}

/// Makes every file of the topology what `.env` says.
pub fn prepare(
    paths: &Paths,
    config: &Config,
    progress: &dyn Progress,
) -> anyhow::Result<Prepared> {
    let mut prepared = Prepared::default();
    crate::fsutil::ensure_dir(&secrets_dir(paths), 0o700)?;
    let etcd_password = etcd_password_file(paths);
    for file in [
        replication_password_file(paths),
        rest_password_file(paths),
        etcd_password.clone(),
    ] {
        if crate::secrets::write_new(&file, &crate::secrets::generate_password(), false, config)? {
            progress.status("Generated", file.as_str());
            prepared.files_changed = true;
            prepared.etcd_password_generated |= file == etcd_password;
        }
    }
    tls::ensure_ca_key(paths, config, &["etcd", "etcd-client", "etcd-admin"])?;
    let mut etcd_names = super::etcd_names(config);
    etcd_names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    for (service, names, usage) in [
        ("etcd", etcd_names, Usage::ServerAndClient),
        (
            "etcd-client",
            vec!["patroni".to_owned()],
            Usage::GatewayClient,
        ),
        // etcdctl in the members: its common name is etcd's admin user (`dcs::ensure_auth`).
        // Not the members' own certificate: the gateway presents that one as its client, so
        // its common name must be no user at all, or a request without a token would be it.
        ("etcd-admin", vec!["etcd-admin".to_owned()], Usage::Client),
    ] {
        let (files, issued) = tls::ensure_service_for(paths, config, service, &names, usage)?;
        if issued {
            progress.status("Issued", files.cert.as_str());
            prepared.files_changed = true;
        }
    }
    let patroni = render_patroni(paths, config)?;
    let file = patroni_file(paths);
    if std::fs::read_to_string(&file).ok().as_deref() != Some(patroni.as_str()) {
        crate::secrets::write_new(&file, &patroni, true, config)?;
        progress.status("Rendered", file.as_str());
        prepared.files_changed = true;
    }
    let dir = haproxy_dir(paths);
    crate::fsutil::ensure_dir(&dir, 0o755)?;
    let haproxy = render_haproxy(paths, config)?;
    let file = dir.join("haproxy.cfg");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(haproxy.as_str()) {
        crate::fsutil::write_atomic(&file, haproxy.as_bytes(), 0o644)?;
        progress.status("Rendered", file.as_str());
        prepared.files_changed = true;
    }
    Ok(prepared)
}

/// `postgres/ha/patroni.yml.j2` with the configuration and the passwords.
pub fn render_patroni(paths: &Paths, config: &Config) -> anyhow::Result<String> {
    render_patroni_for(paths, config, None)
}

/// What a restore's Patroni configuration adds: the custom bootstrap from the
/// directories it staged (`ha::restore`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreBootstrap {
    pub id: String,
    pub staging: String,
    pub staging_wal: String,
    /// `yes` when a rollback bootstraps from the old leader's own data: the script
    /// adds recovery on its current timeline (the restore may have archived a newer
    /// one that forked before it, which a standby following `latest` refuses); `no`
    /// for a restore, whose recovery settings pgBackRest wrote.
    pub hold_timeline: &'static str,
}

/// Installs `secrets/ha/patroni.yml` as `.env` says, with `restore`'s
/// bootstrap method when given. The file is rewritten in place: a running
/// node's container keeps the file it was started with (a bind mount), so only
/// the same file, rewritten, reaches it.
pub fn install_patroni(
    paths: &Paths,
    config: &Config,
    restore: Option<&RestoreBootstrap>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let text = render_patroni_for(paths, config, restore)?;
    let file = patroni_file(paths);
    if !file.exists() {
        crate::secrets::write_new(&file, &text, true, config)?;
        return Ok(());
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&file)
        .with_context(|| format!("failed to open `{file}`"))?;
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("failed to write `{file}`"))?;
    Ok(())
}

/// [`render_patroni`], with a restore's bootstrap method when `restore` is given.
pub fn render_patroni_for(
    paths: &Paths,
    config: &Config,
    restore: Option<&RestoreBootstrap>,
) -> anyhow::Result<String> {
    let read = |file: Utf8PathBuf| crate::secrets::read(&file);
    let mut ctx = crate::render::context(config);
    let extra = [
        (
            "superuser_password",
            read(crate::secrets::superuser_password_file(paths))?,
        ),
        ("replication_user", super::REPLICATION_ROLE.to_owned()),
        (
            "replication_password",
            read(replication_password_file(paths))?,
        ),
        ("rest_user", super::REST_USER.to_owned()),
        ("rest_password", read(rest_password_file(paths))?),
        ("etcd_user", super::dcs::PATRONI_USER.to_owned()),
        ("etcd_password", read(etcd_password_file(paths))?),
    ];
    let map = ctx.as_object_mut().expect("the context is a map");
    for (name, value) in extra {
        map.insert(name.to_owned(), serde_json::Value::String(value));
    }
    map.insert("restore".to_owned(), serde_json::to_value(restore)?);
    render_file(&paths.postgres_dir().join("ha/patroni.yml.j2"), &ctx)
}

/// `addons/haproxy/conf/haproxy.cfg.j2` for the configured nodes.
pub fn render_haproxy(paths: &Paths, config: &Config) -> anyhow::Result<String> {
    let path = paths.repo().join("addons/haproxy/conf/haproxy.cfg.j2");
    render_file(&path, &crate::render::context(config))
}

fn render_file(path: &camino::Utf8Path, ctx: &serde_json::Value) -> anyhow::Result<String> {
    let source = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read template `{path}`"))?;
    let env = crate::render::environment()?;
    env.render_str(&source, minijinja::value::Serde(ctx))
        .with_context(|| format!("failed to render `{path}`"))
}
