//! Patroni's keys in etcd: `/core_data/<scope>/…` (`namespace` and `scope` of
//! postgres/ha/patroni.yml.j2; the scope is the compose project). A restore
//! clears the cluster's state there (leader, members, `initialize`, history,
//! status, sync) so the restored node can initialise the cluster again with a
//! timeline and position behind the old ones; the dynamic configuration stays.
//! etcdctl runs in an etcd member's container (`core-data-etcd ctl`), with its
//! certificate.
//!
//! Authentication: `up` turns it on before the nodes start ([`ensure_auth`]).
//! Patroni is the user [`PATRONI_USER`], with a password (`secrets/ha/etcd_password`;
//! it talks to etcd's HTTP gateway, which ignores certificates' common names) and
//! a role that reads and writes [`prefix`] only. etcdctl in a member authenticates
//! with the `etcd-admin` certificate as its common name, a user with the `root`
//! role and no password. The members' own certificate names no user: the gateway
//! presents it as its client, so a request without a token is refused.

use anyhow::bail;

use crate::config::Config;
use crate::docker::Docker;

/// Patroni's user in etcd.
pub const PATRONI_USER: &str = "patroni";

/// The key prefix of this stack's cluster.
pub fn prefix(config: &Config) -> String {
    format!("/core_data/{}/", config.project())
}

/// The key of the dynamic configuration, which a clear keeps.
pub fn config_key(config: &Config) -> String {
    format!("{}config", prefix(config))
}

/// The keys of `listing` (`etcdctl get --keys-only`'s output) a clear deletes:
/// every key under `prefix` but the configuration.
pub fn keys_to_clear(listing: &str, prefix: &str, keep: &str) -> Vec<String> {
    listing
        .lines()
        .map(str::trim)
        .filter(|key| key.starts_with(prefix) && *key != keep)
        .map(str::to_owned)
        .collect()
}

/// Runs `core-data-etcd ARGS` (with `input` on its stdin) in the first member
/// that answers; its stdout, or every member's error.
fn in_a_member(
    docker: &Docker,
    config: &Config,
    args: &[&str],
    input: &[u8],
) -> Result<String, Vec<String>> {
    let mut argv = vec!["/usr/local/bin/core-data-etcd"];
    argv.extend_from_slice(args);
    let mut errors = Vec::new();
    for member in super::etcd_names(config) {
        let container = config.container_name(&member);
        match docker.exec_with_stdin(&container, &argv, input) {
            Ok(out) if out.exit_code == 0 => return Ok(out.stdout),
            Ok(out) => errors.push(format!("{member}: {}", out.stderr.trim())),
            Err(err) => errors.push(format!("{member}: {err:#}")),
        }
    }
    Err(errors)
}

/// Runs `core-data-etcd ctl ARGS` (etcdctl) in the first member that answers.
fn ctl(docker: &Docker, config: &Config, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["ctl"];
    argv.extend_from_slice(args);
    in_a_member(docker, config, &argv, &[]).map_err(|errors| {
        anyhow::anyhow!(
            "no etcd member answered `etcdctl {}`: {}",
            args.join(" "),
            errors.join("; ")
        )
    })
}

/// Turns etcd's authentication on unless it is (users and roles first, see the
/// module's text), in the first member that answers; `password_changed` sets the
/// `patroni` user's password again where it is on already. Returns etcd's own
/// words (`turned on`, `on already`, …).
pub fn ensure_auth(
    docker: &Docker,
    config: &Config,
    password: &str,
    password_changed: bool,
) -> anyhow::Result<String> {
    let admin = crate::tls::service_common_name("etcd-admin");
    let prefix = prefix(config);
    let mut args = vec!["auth", &admin, &prefix];
    if password_changed {
        args.push("sync");
    }
    let input = format!("{password}\n");
    match in_a_member(docker, config, &args, input.as_bytes()) {
        Ok(out) => Ok(out.trim().to_owned()),
        Err(errors) => bail!(
            "no etcd member could turn authentication on: {}; the nodes were not started. \
             `cargo xtask logs etcd1` shows the member's side; `cargo xtask up` tries again",
            errors.join("; ")
        ),
    }
}

/// Deletes the cluster's state in etcd but its dynamic configuration; returns
/// the keys deleted. Only to be called with every node stopped.
pub fn clear_cluster_state(docker: &Docker, config: &Config) -> anyhow::Result<Vec<String>> {
    let prefix = prefix(config);
    let listing = ctl(docker, config, &["get", "--prefix", "--keys-only", &prefix])?;
    let keys = keys_to_clear(&listing, &prefix, &config_key(config));
    for key in &keys {
        ctl(docker, config, &["del", key])?;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_deletes_every_key_of_the_cluster_but_its_configuration() {
        let listing = "/core_data/app/config\n\n/core_data/app/initialize\n\n/core_data/app/leader\n\
                       /core_data/app/members/pg1\n/core_data/app/status\n/core_data/other/leader\n";
        assert_eq!(
            keys_to_clear(listing, "/core_data/app/", "/core_data/app/config"),
            vec![
                "/core_data/app/initialize",
                "/core_data/app/leader",
                "/core_data/app/members/pg1",
                "/core_data/app/status",
            ]
        );
    }
}
