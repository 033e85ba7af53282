//! Throw-away stacks for tests and benchmarks: a private state directory, a
//! unique compose project, a free port and a given subnet. Dropping one removes
//! its containers, volumes and files (unless `CORE_DATA_KEEP_SCRATCH` is set).
//! A process killed before its drop leaves them behind, with its subnet taken:
//! the first scratch a process creates removes those of processes that are gone.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use camino::Utf8PathBuf;

use crate::config::{sizing::Resources, Config};
use crate::paths::Paths;
use crate::progress::Quiet;
use crate::secrets;
use crate::stack::Stack;

pub struct Scratch {
    pub stack: Stack,
    dir: Utf8PathBuf,
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Scratch {
    /// Writes a configuration (`overrides` on top of a unique project, a free
    /// port and `172.30.<subnet>.0/24`) and its secrets. Nothing is started.
    pub fn create(
        name: &str,
        subnet: u8,
        overrides: &[(&str, &str)],
        resources: Resources,
    ) -> anyhow::Result<Scratch> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            if let Err(err) = crate::docker::Docker::connect().and_then(|d| sweep_leftovers(&d)) {
                eprintln!("warning: could not look for leftover scratch stacks: {err:#}");
            }
        });
        let id = format!(
            "{name}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = Utf8PathBuf::from_path_buf(
            std::env::temp_dir().join(format!("core_data-scratch-{id}")),
        )
        .map_err(|_| anyhow::anyhow!("the temp dir is not UTF-8"))?;
        crate::fsutil::ensure_dir(&dir, 0o755)?;
        let mut values: BTreeMap<String, String> = BTreeMap::from([
            ("COMPOSE_PROJECT_NAME".to_owned(), format!("cds_{id}")),
            ("POSTGRES_HOST_PORT".to_owned(), free_port()?.to_string()),
            ("PGBOUNCER_HOST_PORT".to_owned(), free_port()?.to_string()),
            ("DASHBOARD_HOST_PORT".to_owned(), free_port()?.to_string()),
            ("NETWORK_SUBNET".to_owned(), format!("172.30.{subnet}.0/24")),
        ]);
        for (key, value) in overrides {
            values.insert((*key).to_owned(), (*value).to_owned());
        }
        let config = Config::from_overrides(&values, resources)?;
        let paths = Paths::from_repo(Some(dir.clone()));
        config.write(&paths.env_file())?;
        secrets::ensure(&paths, &config, false).context("failed to write scratch secrets")?;
        Ok(Scratch {
            stack: Stack::new(paths, config)?,
            dir,
        })
    }

    /// Re-reads `.env` after a test edited it.
    pub fn reload(&mut self) -> anyhow::Result<()> {
        self.stack.config = Config::load(&self.stack.paths)?;
        Ok(())
    }
}

/// The pid of the process that made a scratch resource. Scratch projects are
/// `cds_<name>_<pid>_<n>`, the tests' image-only configurations `cdt_<name>_<pid>`,
/// and the name of each container, network and volume starts with its project.
/// Test names have no all-digit part, so the first one is the pid.
fn owner_pid(resource: &str) -> Option<u32> {
    let rest = resource
        .strip_prefix("cds_")
        .or_else(|| resource.strip_prefix("cdt_"))?;
    rest.split(['_', '-'])
        .find(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

/// Removes the containers, then the networks, then the volumes of scratch
/// stacks whose process no longer runs (killed before its drop). A leftover
/// network keeps its subnet, and the next stack on that subnet fails with
/// "Pool overlaps". Only names of the scratch form with a dead owner are touched.
pub fn sweep_leftovers(docker: &crate::docker::Docker) -> anyhow::Result<()> {
    let gone = |name: &str| {
        owner_pid(name).is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    let say = |kind: &str, name: &str| {
        eprintln!(
            "removing leftover scratch {kind} `{name}`: process {} is gone",
            owner_pid(name).unwrap_or_default()
        );
    };
    for prefix in ["cds_", "cdt_"] {
        for container in docker.containers_named(prefix)? {
            for name in container.names.unwrap_or_default() {
                let name = name.trim_start_matches('/');
                if gone(name) {
                    say("container", name);
                    docker.remove_container(name)?;
                }
            }
        }
    }
    for name in docker.network_names()? {
        if gone(&name) {
            say("network", &name);
            docker.remove_network(&name)?;
        }
    }
    for name in docker.volume_names()? {
        if gone(&name) {
            say("volume", &name);
            docker.remove_volume(&name)?;
        }
    }
    Ok(())
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("CORE_DATA_KEEP_SCRATCH").is_some() {
            eprintln!(
                "keeping scratch stack `{}` in {}",
                self.stack.config.project(),
                self.dir
            );
            return;
        }
        // `.env` is the truth: a command the test ran may have changed the topology
        // (`up --ha` adds `ha` to COMPOSE_PROFILES), and `down` with the old compose file
        // would leave the other topology's networks and volumes behind.
        if let Ok(config) = Config::load(&self.stack.paths) {
            self.stack.config = config;
        }
        if let Err(err) = self.stack.down(true, &Quiet) {
            eprintln!(
                "warning: could not remove scratch stack `{}`: {err:#}",
                self.stack.config.project()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn the_owner_of_a_scratch_resource_is_the_first_number_in_its_name() {
        assert_eq!(owner_pid("cds_ha_11904_0_dcs"), Some(11904));
        assert_eq!(owner_pid("cds_sec_doctor_77_3-postgres-1"), Some(77));
        assert_eq!(owner_pid("cds_ha_5_0_pg1data"), Some(5));
        assert_eq!(owner_pid("cdt_image_4242-probe"), Some(4242));
        assert_eq!(owner_pid("core_data_pgdata"), None);
        assert_eq!(owner_pid("cds_noowner"), None);
    }
}
