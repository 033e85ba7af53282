//! `docker compose` invocations for one stack: the project name, the env file
//! and the compose file are always explicit, and the state directory is passed
//! as `CORE_DATA_STATE` (a path, never a secret) for the file's interpolation,
//! with `CORE_DATA_APPARMOR_<SERVICE>` (a profile name) when `APPARMOR=enabled`.
//! An inherited `COMPOSE_PROFILES` is removed: the `--profile` flags decide.

use crate::config::Config;
use crate::paths::Paths;
use crate::process;

pub struct Compose {
    paths: Paths,
    project: String,
    env_file: camino::Utf8PathBuf,
    /// compose/compose.yaml, or compose/ha.yaml for the `ha` topology.
    file: camino::Utf8PathBuf,
    ha: bool,
    /// The profiles passed as `--profile` (the enabled add-ons, or the `ha` topology's).
    profiles: Vec<String>,
    /// `CORE_DATA_APPARMOR_<SERVICE>`: the profile's name, or `None` to remove
    /// the variable (compose.yaml then falls back to `docker-default`).
    apparmor: Vec<(String, Option<String>)>,
}

impl Compose {
    pub fn new(paths: &Paths, config: &Config) -> Compose {
        Compose {
            paths: paths.clone(),
            project: config.project().to_owned(),
            env_file: paths.env_file(),
            file: if config.ha() {
                paths.ha_compose_file()
            } else {
                paths.compose_file()
            },
            ha: config.ha(),
            profiles: if config.ha() {
                crate::ha::profiles(config)
            } else {
                crate::addons::enabled(config)
                    .into_iter()
                    .map(|addon| addon.name().to_owned())
                    .collect()
            },
            apparmor: crate::security::apparmor::compose_env(paths, config),
        }
    }

    /// The same stack with every profile on: what `down` and the removal of a
    /// disabled add-on need to see every service.
    pub fn all_profiles(mut self) -> Compose {
        let all = if self.ha {
            crate::ha::ALL_PROFILES
        } else {
            crate::addons::PROFILES
        };
        self.profiles = all.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    /// The same stack read through another env file (a recorded `.env`, to
    /// re-create a container as it was).
    pub fn with_env_file(mut self, env_file: camino::Utf8PathBuf) -> Compose {
        self.env_file = env_file;
        self
    }

    /// The full argument list, for display and for running.
    pub fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = vec![
            "compose".into(),
            "--project-name".into(),
            self.project.clone(),
            "--env-file".into(),
            self.env_file.clone().into_string(),
            "--file".into(),
            self.file.clone().into_string(),
        ];
        for profile in &self.profiles {
            all.extend(["--profile".into(), profile.clone()]);
        }
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        all
    }

    pub fn expression(&self, args: &[&str]) -> duct::Expression {
        // Only the `--profile` flags (from `.env`) decide which add-ons run: compose reads an
        // exported `COMPOSE_PROFILES` whenever no flag is given, over the env file's.
        let mut expression = duct::cmd("docker", self.args(args))
            .env("CORE_DATA_STATE", self.paths.state().as_str())
            .env("CORE_DATA_REPO", self.paths.repo().as_str())
            .env_remove("COMPOSE_PROFILES");
        for (variable, profile) in &self.apparmor {
            expression = match profile {
                Some(profile) => expression.env(variable, profile),
                None => expression.env_remove(variable),
            };
        }
        expression
    }

    /// Runs a compose command, returning stdout; failures carry compose's stderr.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = process::capture_expr(self.expression(args))?;
        if !output.success {
            anyhow::bail!(
                "`docker {}` failed:\n{}",
                self.args(args).join(" "),
                output.stderr.trim_end()
            );
        }
        Ok(output.stdout)
    }

    /// Runs a compose command with its output streamed line by line.
    pub fn stream(&self, args: &[&str], on_line: impl FnMut(&str)) -> anyhow::Result<()> {
        let display = format!("docker {}", self.args(args).join(" "));
        process::stream(self.expression(args), &display, on_line)
    }
}

/// The compose v2 version, or `None` when `docker compose` is not available.
pub fn compose_version() -> Option<String> {
    let output = process::capture("docker", &["compose", "version", "--short"]).ok()?;
    output.success.then(|| output.stdout.trim().to_owned())
}
