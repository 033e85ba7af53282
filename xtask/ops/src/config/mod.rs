//! The typed configuration: `.env` checked against the key table, defaults
//! filled in, and the accessors the rest of the library uses.

pub mod envfile;
pub mod keys;
pub mod sizing;
pub mod value;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use camino::Utf8Path;

pub use value::AppDatabase;

use crate::paths::Paths;

/// A problem with the configuration; nothing has been started when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration at `{0}`; run `cargo xtask init` (or `cargo xtask up`, which runs it with defaults)")]
    Missing(String),
    #[error(transparent)]
    Syntax(#[from] envfile::EnvError),
    #[error("{file} line {line}: `{key}={value}`: {message}")]
    Value {
        file: String,
        line: usize,
        key: String,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Inconsistent(String),
}

/// A checked configuration. Every key of the table has a canonical value.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
    /// Tuning keys whose value was derived (`auto` or absent in `.env`); `.env` keeps them `auto`.
    derived: BTreeSet<&'static str>,
}

/// The host address clients use to reach a port published on `bind`: loopback for
/// the wildcard, the address itself otherwise.
pub fn client_host_of(bind: &str) -> &str {
    match bind {
        "0.0.0.0" => "127.0.0.1",
        other => other,
    }
}

impl Config {
    /// Reads and checks `.env` under the state directory.
    pub fn load(paths: &Paths) -> Result<Config, ConfigError> {
        let file = paths.env_file();
        let text =
            std::fs::read_to_string(&file).map_err(|_| ConfigError::Missing(file.to_string()))?;
        Config::parse(file.as_str(), &text)
    }

    /// Checks `.env` text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let entries = envfile::parse(file, text)?;
        let given: BTreeMap<&str, (usize, String)> = entries
            .iter()
            .map(|entry| (entry.key.as_str(), (entry.line, entry.value.clone())))
            .collect();
        Config::from_given(file, &given, sizing::Resources::from_host())
    }

    /// Builds a configuration from explicit values (as `init --set` does),
    /// sizing whatever is not given from `resources`.
    pub fn from_overrides(
        overrides: &BTreeMap<String, String>,
        resources: sizing::Resources,
    ) -> Result<Config, ConfigError> {
        let mut given: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for (key, value) in overrides {
            let Some(known) = keys::find(key) else {
                return Err(ConfigError::Inconsistent(format!(
                    "unknown key `{key}` in --set"
                )));
            };
            given.insert(known.name, (0, value.clone()));
        }
        Config::from_given("--set", &given, resources)
    }

    fn from_given(
        file: &str,
        given: &BTreeMap<&str, (usize, String)>,
        resources: sizing::Resources,
    ) -> Result<Config, ConfigError> {
        let host: BTreeMap<&str, String> = sizing::host_values(resources).into_iter().collect();
        let (uid, gid) = sizing::default_ids();
        let checked = |key: &keys::Key, line: usize, raw: &str| {
            value::check(key.kind, raw).map_err(|message| ConfigError::Value {
                file: file.to_owned(),
                line,
                key: key.name.to_owned(),
                value: raw.to_owned(),
                message: if raw == "auto" {
                    format!("{message} (`auto` is for the tuning keys only)")
                } else {
                    message
                },
            })
        };
        let tuned = |name: &str| sizing::TUNED_KEYS.contains(&name);
        // Everything but the tuning keys first: those derive from the memory
        // limit, the CPUs and the workload.
        let mut values = BTreeMap::new();
        for key in keys::KEYS.iter().filter(|key| !tuned(key.name)) {
            let (line, raw) = match (given.get(key.name), key.default) {
                (Some((line, raw)), _) => (*line, raw.clone()),
                (None, keys::DefaultValue::Static(_)) if key.name == "POSTGRES_IMAGE" => {
                    (0, format!("core-data/postgres:{}", values["PG_MAJOR"]))
                }
                (None, keys::DefaultValue::Static(default)) => (0, default.to_owned()),
                (None, keys::DefaultValue::Sized) => match key.name {
                    "POSTGRES_UID" => (0, uid.to_string()),
                    "POSTGRES_GID" => (0, gid.to_string()),
                    name => (0, host[name].clone()),
                },
            };
            values.insert(key.name, checked(key, line, &raw)?);
        }
        let memory_mb = value::parse_size_mb(&values["POSTGRES_MEMORY_LIMIT"])
            .expect("sizes are checked on load");
        let cpus = values["POSTGRES_CPU_LIMIT"]
            .parse::<f64>()
            .map_or(1, |cpus| cpus.floor().max(1.0) as u32);
        let workload =
            sizing::Workload::parse(&values["PG_WORKLOAD"]).expect("workloads are checked on load");
        let storage =
            sizing::Storage::parse(&values["PG_STORAGE"]).expect("storage is checked on load");
        let pinned = |name: &str| given.get(name).filter(|(_, raw)| raw != "auto");
        let connections_key = keys::find("PG_MAX_CONNECTIONS").expect("a key of the table");
        let connections = match pinned("PG_MAX_CONNECTIONS") {
            Some((line, raw)) => checked(connections_key, *line, raw)?
                .parse()
                .expect("checked as a number"),
            None => workload.connections(),
        };
        let derived_values: BTreeMap<&str, String> =
            sizing::tuned_values(memory_mb, cpus, workload, storage, connections)
                .into_iter()
                .collect();
        let mut derived = BTreeSet::new();
        for key in keys::KEYS.iter().filter(|key| tuned(key.name)) {
            let value = match pinned(key.name) {
                Some((line, raw)) => checked(key, *line, raw)?,
                None => {
                    derived.insert(key.name);
                    derived_values[key.name].clone()
                }
            };
            values.insert(key.name, value);
        }
        let config = Config { values, derived };
        config.check_consistency()?;
        Ok(config)
    }

    /// The same configuration with `PG_WORKLOAD` set to `workload` (its
    /// `auto` keys re-derived, pinned ones kept): what a change of workload
    /// would do.
    pub fn with_workload(&self, workload: &str) -> Result<Config, ConfigError> {
        self.with_changes("--workload", &[("PG_WORKLOAD", workload.to_owned())])
    }

    /// The same configuration with `changes` made (derived keys re-derived,
    /// everything checked as on load); `source` names it in errors.
    fn with_changes(
        &self,
        source: &str,
        changes: &[(&'static str, String)],
    ) -> Result<Config, ConfigError> {
        let mut given: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for (key, value) in &self.values {
            let raw = if self.derived.contains(key) {
                "auto".to_owned()
            } else {
                value.clone()
            };
            given.insert(key, (0, raw));
        }
        for (key, value) in changes {
            given.insert(key, (0, value.clone()));
        }
        Config::from_given(source, &given, sizing::Resources::from_host())
    }

    /// The tuning keys `.env` pins to a number (they do not follow `PG_WORKLOAD`).
    pub fn pinned_tuning_keys(&self) -> Vec<&'static str> {
        sizing::TUNED_KEYS
            .iter()
            .copied()
            .filter(|key| !self.derived.contains(key))
            .collect()
    }

    /// Whether `key` was derived (`auto`) rather than set in `.env`.
    pub fn is_derived(&self, key: &str) -> bool {
        self.derived.contains(key)
    }

    fn check_consistency(&self) -> Result<(), ConfigError> {
        self.check_major()?;
        self.check_ha()?;
        let shared = self.size_mb("PG_SHARED_BUFFERS");
        let limit = self.size_mb("POSTGRES_MEMORY_LIMIT");
        if shared >= limit {
            return Err(ConfigError::Inconsistent(format!(
                "PG_SHARED_BUFFERS ({shared}MB) must be smaller than POSTGRES_MEMORY_LIMIT ({limit}MB)"
            )));
        }
        let maxmemory = self.size_mb("VALKEY_MAXMEMORY");
        let valkey_limit = self.size_mb("VALKEY_MEMORY_LIMIT");
        if maxmemory >= valkey_limit {
            return Err(ConfigError::Inconsistent(format!(
                "VALKEY_MAXMEMORY ({maxmemory}MB) must be smaller than VALKEY_MEMORY_LIMIT ({valkey_limit}MB); up to twice VALKEY_MAXMEMORY is safe"
            )));
        }
        let items: u64 = self
            .get("MEMCACHED_MEMORY_MB")
            .parse()
            .expect("numbers are checked on load");
        let memcached_limit = self.size_mb("MEMCACHED_MEMORY_LIMIT");
        if items + 32 > memcached_limit {
            return Err(ConfigError::Inconsistent(format!(
                "MEMCACHED_MEMORY_LIMIT ({memcached_limit}MB) must be at least MEMCACHED_MEMORY_MB ({items}MB) plus 32MB"
            )));
        }
        if self
            .databases()
            .iter()
            .any(|db| db.owner == self.superuser())
        {
            return Err(ConfigError::Inconsistent(
                "APP_DATABASES: an application database must not be owned by POSTGRES_SUPERUSER"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The canonical value of a key of the table.
    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map_or_else(
            || panic!("`{key}` is not a configuration key"),
            String::as_str,
        )
    }

    /// All values, by key.
    pub fn values(&self) -> &BTreeMap<&'static str, String> {
        &self.values
    }

    fn size_mb(&self, key: &str) -> u64 {
        value::parse_size_mb(self.get(key)).expect("sizes are checked on load")
    }

    pub fn project(&self) -> &str {
        self.get("COMPOSE_PROJECT_NAME")
    }

    pub fn image(&self) -> &str {
        self.get("POSTGRES_IMAGE")
    }

    /// The PostgreSQL major of the image (`PG_MAJOR`).
    pub fn pg_major(&self) -> u32 {
        self.get("PG_MAJOR").parse().expect("checked on load")
    }

    /// The Debian suite the image is built from (`DEBIAN_SUITE`, `auto` resolved).
    pub fn suite(&self) -> crate::image::suites::Suite {
        let found = match self.get("DEBIAN_SUITE") {
            "auto" => crate::image::suites::for_major(self.pg_major()),
            name => crate::image::suites::named(name),
        };
        found.expect("the suite is checked on load")
    }

    /// The platform image of `major`: POSTGRES_IMAGE with the major its tag starts with replaced.
    pub fn image_for(&self, major: u32) -> String {
        let image = self.image();
        let (repository, tag) = image.rsplit_once(':').expect("checked on load");
        let rest = tag
            .strip_prefix(self.get("PG_MAJOR"))
            .expect("checked on load");
        format!("{repository}:{major}{rest}")
    }

    /// The same configuration for another major (its suite `auto`, its image
    /// named by [`Config::image_for`]): what an upgrade's target or a rollback's
    /// source runs with.
    pub fn with_major(&self, major: u32) -> Result<Config, ConfigError> {
        self.with_changes(
            "--to",
            &[
                ("POSTGRES_IMAGE", self.image_for(major)),
                ("PG_MAJOR", major.to_string()),
                ("DEBIAN_SUITE", "auto".to_owned()),
            ],
        )
    }

    /// The same configuration with `key` set to `value` (checked like `.env`).
    pub fn with_value(&self, key: &str, value: &str) -> Result<Config, ConfigError> {
        let known = keys::find(key)
            .ok_or_else(|| ConfigError::Inconsistent(format!("unknown key `{key}`")))?;
        self.with_changes("--set", &[(known.name, value.to_owned())])
    }

    /// Whether `ha` is in COMPOSE_PROFILES: the high-availability topology
    /// (compose/ha.yaml) instead of the single server.
    pub fn ha(&self) -> bool {
        self.get("COMPOSE_PROFILES").split(',').any(|p| p == "ha")
    }

    /// The `ha` keys together: etcd has 1 or 3 members, and Patroni's timing
    /// rule `loop_wait + 2 * retry_timeout <= ttl` holds.
    fn check_ha(&self) -> Result<(), ConfigError> {
        let number =
            |key: &str| -> i64 { self.get(key).parse().expect("numbers are checked on load") };
        if number("HA_ETCD_NODES") == 2 {
            return Err(ConfigError::Inconsistent(
                "HA_ETCD_NODES=2 is refused: two etcd members stop together when either is lost \
                 (a quorum of two); use 1 or 3"
                    .to_owned(),
            ));
        }
        let (ttl, loop_wait, retry) = (
            number("HA_TTL"),
            number("HA_LOOP_WAIT"),
            number("HA_RETRY_TIMEOUT"),
        );
        if loop_wait + 2 * retry > ttl {
            return Err(ConfigError::Inconsistent(format!(
                "HA_LOOP_WAIT ({loop_wait}) + 2 * HA_RETRY_TIMEOUT ({retry}) must be at most HA_TTL ({ttl}): \
                 otherwise a leader can lose its key while it still retries, and two nodes may accept writes; \
                 raise HA_TTL to {} or lower the others",
                loop_wait + 2 * retry
            )));
        }
        if self.get("HA_SYNCHRONOUS_STRICT") == "true" && self.get("HA_SYNCHRONOUS") != "true" {
            return Err(ConfigError::Inconsistent(
                "HA_SYNCHRONOUS_STRICT=true needs HA_SYNCHRONOUS=true".to_owned(),
            ));
        }
        Ok(())
    }

    fn check_major(&self) -> Result<(), ConfigError> {
        let major = self.pg_major();
        let offered = crate::image::suites::majors()
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let suite = match self.get("DEBIAN_SUITE") {
            "auto" => crate::image::suites::for_major(major).ok_or_else(|| {
                ConfigError::Inconsistent(format!(
                    "PG_MAJOR={major}: no Debian suite of postgres/suites.txt carries it (they offer {offered})"
                ))
            })?,
            name => crate::image::suites::named(name).ok_or_else(|| {
                ConfigError::Inconsistent(format!(
                    "DEBIAN_SUITE={name}: not a suite of postgres/suites.txt (`auto`, or one of: {})",
                    crate::image::suites::all()
                        .iter()
                        .map(|suite| suite.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        };
        if suite.major != major {
            return Err(ConfigError::Inconsistent(format!(
                "PG_MAJOR={major}: Debian {} carries PostgreSQL {}; set DEBIAN_SUITE=auto or a suite that carries {major} (postgres/suites.txt)",
                suite.name, suite.major
            )));
        }
        let image = self.image();
        // The tag is after the last `:` that follows the last `/` (not a registry's port).
        let tag = image
            .rsplit_once(':')
            .map(|(_, tag)| tag)
            .filter(|tag| !tag.contains('/'))
            .unwrap_or("");
        let starts = tag
            .strip_prefix(self.get("PG_MAJOR"))
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()));
        if !starts {
            return Err(ConfigError::Inconsistent(format!(
                "POSTGRES_IMAGE={image}: its tag must start with PG_MAJOR ({major}), e.g. core-data/postgres:{major} or registry.example/pg:{major}-prod (an upgrade names the other major's image by that number)"
            )));
        }
        Ok(())
    }

    pub fn superuser(&self) -> &str {
        self.get("POSTGRES_SUPERUSER")
    }

    pub fn host_port(&self) -> u16 {
        self.get("POSTGRES_HOST_PORT")
            .parse()
            .expect("ports are checked on load")
    }

    pub fn bind_address(&self) -> &str {
        self.get("POSTGRES_BIND_ADDRESS")
    }

    /// The host address clients use to reach the published port (loopback for a wildcard bind).
    pub fn client_host(&self) -> &str {
        client_host_of(self.bind_address())
    }

    /// The container of a compose service: `container_name: ${COMPOSE_PROJECT_NAME}-<service>`
    /// in compose.yaml.
    pub fn container_name(&self, service: &str) -> String {
        format!("{}-{service}", self.project())
    }

    /// The container's CPU limit rounded up, at least 1: how many jobs a parallel step may run.
    pub fn cpus(&self) -> u32 {
        self.get("POSTGRES_CPU_LIMIT")
            .parse::<f64>()
            .map_or(1, |cpus| cpus.ceil().max(1.0) as u32)
    }

    pub fn uid(&self) -> u32 {
        self.get("POSTGRES_UID")
            .parse()
            .expect("ids are checked on load")
    }

    pub fn gid(&self) -> u32 {
        self.get("POSTGRES_GID")
            .parse()
            .expect("ids are checked on load")
    }

    pub fn databases(&self) -> Vec<AppDatabase> {
        value::parse_databases(self.get("APP_DATABASES")).expect("databases are checked on load")
    }

    /// The first application database: where `psql` lands by default.
    pub fn primary_database(&self) -> String {
        self.databases()
            .first()
            .map_or_else(|| "postgres".to_owned(), |db| db.name.clone())
    }

    /// The `.env` text for this configuration.
    pub fn to_env_text(&self) -> String {
        envfile::render(&self.values, &self.derived)
    }

    /// Sets one key in `.env`, keeping every other line as it is (the key's
    /// line replaced, or appended when `.env` predates the key). The new text
    /// is checked as a whole before it is written; returns the new configuration.
    pub fn set_in_file(paths: &Paths, key: &str, value: &str) -> anyhow::Result<Config> {
        let file = paths.env_file();
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("failed to read `{file}`"))?;
        let prefix = format!("{key}=");
        let mut found = false;
        let mut out: String = text
            .lines()
            .map(|line| {
                if line.starts_with(&prefix) {
                    found = true;
                    format!("{key}={value}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        if !found {
            out.push_str(&format!("{key}={value}\n"));
        }
        let config = Config::parse(file.as_str(), &out)?;
        crate::fsutil::write_atomic(&file, out.as_bytes(), 0o644)
            .with_context(|| format!("failed to write `{file}`"))?;
        Ok(config)
    }

    /// Writes `.env` atomically (temp file, then rename) with mode 0644: it holds no secrets.
    pub fn write(&self, path: &Utf8Path) -> anyhow::Result<()> {
        crate::fsutil::write_atomic(path, self.to_env_text().as_bytes(), 0o644)
            .with_context(|| format!("failed to write `{path}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(".env", text)
    }

    #[test]
    fn the_major_names_the_suite_and_the_image() {
        let config = parse("PG_MAJOR=15\n").unwrap();
        assert_eq!(config.image(), "core-data/postgres:15");
        assert_eq!(config.suite().name, "bookworm");
        assert_eq!(config.image_for(17), "core-data/postgres:17");
        let custom = parse("POSTGRES_IMAGE=registry.example:5000/pg:17-prod\n").unwrap();
        assert_eq!(custom.image_for(15), "registry.example:5000/pg:15-prod");
        for refused in [
            "PG_MAJOR=16\n",
            "PG_MAJOR=15\nDEBIAN_SUITE=trixie\n",
            "DEBIAN_SUITE=sid\n",
            "POSTGRES_IMAGE=core-data/postgres:15\n",
            "POSTGRES_IMAGE=core-data/postgres:170\n",
            "POSTGRES_IMAGE=host:17/postgres\n",
            "POSTGRES_IMAGE=myreg/pg:prod\n",
        ] {
            assert!(
                matches!(parse(refused), Err(ConfigError::Inconsistent(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn cpus_round_the_limit_up_to_whole_jobs() {
        for (limit, cpus) in [("0.1", 1), ("1", 1), ("1.5", 2), ("2", 2), ("3.2", 4)] {
            let config = parse(&format!("POSTGRES_CPU_LIMIT={limit}\n")).unwrap();
            assert_eq!(config.cpus(), cpus, "POSTGRES_CPU_LIMIT={limit}");
        }
    }

    #[test]
    fn defaults_fill_every_key() {
        let config = parse("").unwrap();
        for key in keys::KEYS
            .iter()
            .filter(|key| !matches!(key.kind, keys::Kind::Names | keys::Kind::Subset(_)))
        {
            assert!(!config.get(key.name).is_empty(), "{} is empty", key.name);
        }
        assert_eq!(config.project(), "core_data");
        assert_eq!(config.host_port(), 5432);
        assert_eq!(config.primary_database(), "app");
    }

    #[test]
    fn a_bad_value_names_key_line_and_expectation() {
        let err = parse("TZ=UTC\n\nPG_SHARED_BUFFERS=lots\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".env line 3: `PG_SHARED_BUFFERS=lots`: expected a size such as 512MB or 4GB (units kB, MB, GB, TB)"
        );
        let err = parse("NETWORK_SUBNET=10.0.0.0/33\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            ".env line 1: `NETWORK_SUBNET=10.0.0.0/33`: expected a prefix length from /8 to /29"
        );
    }

    #[test]
    fn addon_memory_must_fit_its_container() {
        assert!(parse("VALKEY_MAXMEMORY=512MB\nVALKEY_MEMORY_LIMIT=1GB\n").is_ok());
        let err = parse("VALKEY_MAXMEMORY=1GB\nVALKEY_MEMORY_LIMIT=1GB\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("VALKEY_MAXMEMORY (1024MB) must be smaller"),
            "{err}"
        );
        assert!(parse("MEMCACHED_MEMORY_MB=96\nMEMCACHED_MEMORY_LIMIT=128MB\n").is_ok());
        let err = parse("MEMCACHED_MEMORY_MB=100\nMEMCACHED_MEMORY_LIMIT=128MB\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("MEMCACHED_MEMORY_LIMIT (128MB) must be at least"),
            "{err}"
        );
    }

    #[test]
    fn round_trip_through_env_text() {
        let config = parse("PG_WORK_MEM=64MB\nAPP_DATABASES=a:b,c:d\n").unwrap();
        let again = parse(&config.to_env_text()).unwrap();
        assert_eq!(config.values(), again.values());
        assert_eq!(again.get("PG_WORK_MEM"), "64MB");
    }

    #[test]
    fn tuning_keys_follow_the_workload_unless_pinned() {
        let mixed = parse("POSTGRES_MEMORY_LIMIT=8GB\nPOSTGRES_CPU_LIMIT=4\n").unwrap();
        assert_eq!(mixed.get("PG_WORKLOAD"), "mixed");
        assert_eq!(mixed.get("PG_MAX_CONNECTIONS"), "100");
        assert!(mixed.is_derived("PG_WORK_MEM"));
        assert!(mixed.to_env_text().contains("\nPG_WORK_MEM=auto\n"));
        let dw = mixed.with_workload("dw").unwrap();
        assert_eq!(dw.get("PG_MAX_CONNECTIONS"), "40");
        assert_eq!(dw.get("PG_DEFAULT_STATISTICS_TARGET"), "500");
        assert_eq!(dw.get("POSTGRES_MEMORY_LIMIT"), "8192MB");
        let pinned = parse("POSTGRES_MEMORY_LIMIT=8GB\nPG_WORKLOAD=dw\nPG_WORK_MEM=64MB\nPG_MAX_CONNECTIONS=auto\n").unwrap();
        assert_eq!(pinned.get("PG_WORK_MEM"), "64MB");
        assert!(!pinned.is_derived("PG_WORK_MEM"));
        assert_eq!(pinned.get("PG_MAX_CONNECTIONS"), "40");
        assert_eq!(
            pinned.with_workload("oltp").unwrap().get("PG_WORK_MEM"),
            "64MB"
        );
        let err = parse("PG_STATEMENT_TIMEOUT=auto\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("`auto` is for the tuning keys only"),
            "{err}"
        );
        assert!(parse("PG_WORKLOAD=batch\n").is_err());
    }

    #[test]
    fn inconsistent_memory_is_rejected() {
        let err = parse("POSTGRES_MEMORY_LIMIT=1GB\nPG_SHARED_BUFFERS=2GB\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("must be smaller than POSTGRES_MEMORY_LIMIT"),
            "{err}"
        );
    }
}
