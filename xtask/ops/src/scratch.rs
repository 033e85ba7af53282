//! Throw-away stacks for tests and benchmarks: a private state directory, a
//! unique compose project, a free port and a given subnet. Dropping one removes
//! its containers, volumes and files (unless `CORE_DATA_KEEP_SCRATCH` is set).

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
        if let Err(err) = self.stack.down(true, &Quiet) {
            eprintln!(
                "warning: could not remove scratch stack `{}`: {err:#}",
                self.stack.config.project()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
