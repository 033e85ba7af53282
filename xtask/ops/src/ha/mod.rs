//! The high-availability topology (`ha` in COMPOSE_PROFILES, compose/ha.yaml):
//! PostgreSQL nodes `pg1…pgN` run by Patroni from the platform image, an etcd
//! cluster `etcd1…` as Patroni's store, and HAProxy routing the read-write
//! port (POSTGRES_HOST_PORT) to the primary and the read-only port to the
//! replicas. `prepare.rs` writes its secrets, certificates and configuration,
//! `up.rs` brings it up and waits for a leader and its replicas, `status.rs`
//! reads the cluster as Patroni and etcd see it. The operations: `control.rs`
//! (switchover, failover, reinit, pause and resume), `restart.rs` (rolling
//! restart), `config_apply.rs` (`.env` into Patroni's dynamic configuration),
//! `haproxy.rs` (draining a node from the read-only port), `restore/` (a
//! backup restored into the leader's node, the others rebuilt as replicas) with
//! `dcs.rs` (the cluster's keys in etcd).

pub mod config_apply;
pub mod control;
pub mod dcs;
pub mod haproxy;
pub mod prepare;
pub mod restart;
pub mod restore;
pub mod status;
pub mod up;

use crate::config::Config;
use crate::docker::Docker;
use crate::paths::Paths;
use crate::progress::Progress;

/// The role replicas stream as (its password: `secrets/ha/replication_password`).
pub const REPLICATION_ROLE: &str = "core_data_replicator";
/// The user of Patroni's REST API basic auth (`secrets/ha/rest_password`).
pub const REST_USER: &str = "core_data_patroni";
/// The images of the topology besides the platform's, from `addons/<name>/`.
pub const IMAGES: &[&str] = &["etcd", "haproxy"];

fn number(config: &Config, key: &str) -> usize {
    config
        .get(key)
        .parse()
        .expect("numbers are checked on load")
}

/// The PostgreSQL nodes' names (`pg1…pgN`, HA_NODES), which are their compose
/// services and host names.
pub fn node_names(config: &Config) -> Vec<String> {
    (1..=number(config, "HA_NODES"))
        .map(|n| format!("pg{n}"))
        .collect()
}

/// The etcd members' names (`etcd1…`, HA_ETCD_NODES).
pub fn etcd_names(config: &Config) -> Vec<String> {
    (1..=number(config, "HA_ETCD_NODES"))
        .map(|n| format!("etcd{n}"))
        .collect()
}

/// The compose profiles that select HA_NODES nodes and HA_ETCD_NODES members
/// in compose/ha.yaml.
pub fn profiles(config: &Config) -> Vec<String> {
    let mut profiles = vec!["ha".to_owned()];
    let nodes = number(config, "HA_NODES");
    if nodes >= 3 {
        profiles.push(format!("ha-{nodes}"));
    }
    if number(config, "HA_ETCD_NODES") == 3 {
        profiles.push("ha-etcd3".to_owned());
    }
    profiles
}

/// Every profile compose/ha.yaml knows: what `down` passes to see every service.
pub const ALL_PROFILES: &[&str] = &["ha", "ha-3", "ha-4", "ha-5", "ha-etcd3"];

/// Refuses, changing nothing, a command built for the single server only
/// (`instead` says what to do) when the stack runs the `ha` topology.
pub fn refuse_in_ha(config: &Config, command: &str, instead: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.ha(),
        "`{command}` is not built for the `ha` topology yet, which stack `{}` runs; nothing was \
         changed. {instead}",
        config.project()
    );
    Ok(())
}

/// The image of one of [`IMAGES`].
pub fn image(name: &str) -> String {
    format!("core-data/{name}:trixie")
}

/// Builds the etcd and HAProxy images unless their inputs are unchanged.
pub fn ensure_images(
    docker: &Docker,
    paths: &Paths,
    config: &Config,
    progress: &dyn Progress,
) -> anyhow::Result<bool> {
    let mut built = false;
    for name in IMAGES {
        let outcome = crate::image::on_base::ensure(
            docker,
            config,
            &image(name),
            &paths.repo().join("addons").join(name),
            None,
            progress,
        )?;
        built |= outcome == crate::image::build::Outcome::Built;
    }
    Ok(built)
}
