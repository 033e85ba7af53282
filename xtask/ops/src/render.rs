//! The one renderer: `postgres/conf/*.j2` + the configuration → `rendered/postgres/`.
//! `up`, `config apply` and `config show` all go through `render`, and the
//! guard checks the same staged text, so what runs and what is checked agree.

use anyhow::Context;
use camino::Utf8PathBuf;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::json;

use crate::config::keys::KEYS;
use crate::config::Config;
use crate::paths::Paths;

/// The templates, by output file name.
pub const TEMPLATES: &[&str] = &[
    "postgresql.conf",
    "pg_hba.conf",
    "pg_ident.conf",
    "pgbackrest.conf",
];

/// Libraries loaded at server start. `age` is not preloaded: it is loaded per
/// session by `LOAD 'age'`, and preloading it breaks DDL in fresh databases.
pub const PRELOAD_LIBRARIES: &[&str] = &[
    "pg_stat_statements",
    "pgaudit",
    "pg_cron",
    "pg_squeeze",
    "auto_explain",
];

/// [`PRELOAD_LIBRARIES`] without those of extensions the configured suite lacks.
pub fn preload_libraries(config: &Config) -> Vec<&'static str> {
    let absent = config.suite().absent_extensions();
    PRELOAD_LIBRARIES
        .iter()
        .copied()
        .filter(|library| !absent.iter().any(|name| name == library))
        .collect()
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: &'static str,
    pub text: String,
}

/// A setting whose rendered value changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedSetting {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What writing the rendered files changed.
#[derive(Debug, Clone, Default)]
pub struct RenderOutcome {
    pub changed_files: Vec<&'static str>,
    pub changed_settings: Vec<ChangedSetting>,
}

fn hba_name(name: String) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The template variable of a `.env` key: lowercase, without a `PG_` or
/// `POSTGRES_` prefix (`PG_WORK_MEM` is `work_mem`, `POSTGRES_SUPERUSER` is
/// `superuser`, `PGBACKREST_PROCESS_MAX` is `pgbackrest_process_max`); `TZ` is
/// `timezone`.
pub fn variable(key: &str) -> String {
    if key == "TZ" {
        return "timezone".to_owned();
    }
    key.strip_prefix("PG_")
        .or_else(|| key.strip_prefix("POSTGRES_"))
        .unwrap_or(key)
        .to_ascii_lowercase()
}

/// Every key of `config::keys::KEYS` under its [`variable`] name, plus the
/// platform's lists.
pub fn context(config: &Config) -> serde_json::Value {
    let mut ctx = serde_json::Map::new();
    for key in KEYS {
        ctx.insert(variable(key.name), json!(config.get(key.name)));
    }
    ctx.insert("service_roles".to_owned(), json!(SERVICE_ROLES));
    // The `ha` topology (COMPOSE_PROFILES has `ha`): pg_hba.conf admits its node network.
    ctx.insert("ha".to_owned(), json!(config.ha()));
    ctx.insert(
        "pgbouncer_auth_role".to_owned(),
        json!(crate::addons::pgbouncer::AUTH_ROLE),
    );
    ctx.insert(
        "shared_preload_libraries".to_owned(),
        json!(preload_libraries(config)),
    );
    serde_json::Value::Object(ctx)
}

/// Roles that log in only from the compose network or loopback (besides the superuser).
pub const SERVICE_ROLES: &[&str] = &[
    crate::secrets::BACKUP_ROLE,
    crate::secrets::READER_ROLE,
    crate::secrets::RUNBOOK_ROLE,
    crate::secrets::AUDITOR_ROLE,
    crate::dashboard::settings::ROLE,
];

/// The `.env` key behind each setting of postgresql.conf, read from the
/// template (`name = '{{ variable }}'`), so an error about a setting can name
/// the line of `.env` to change.
pub fn setting_keys(paths: &Paths) -> anyhow::Result<Vec<(String, &'static str)>> {
    let path = paths.postgres_dir().join("conf/postgresql.conf.j2");
    let source = std::fs::read_to_string(&path)
        .with_context(|| format!("failed to read template `{path}`"))?;
    let mut out = Vec::new();
    for line in source.lines().map(str::trim) {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        let Some(variable) = value
            .split_once("{{")
            .and_then(|(_, rest)| rest.split_once("}}"))
            .map(|(inner, _)| inner.split('|').next().unwrap_or("").trim())
        else {
            continue;
        };
        if let Some(key) = KEYS.iter().find(|key| self::variable(key.name) == variable) {
            out.push((name.trim().to_owned(), key.name));
        }
    }
    Ok(out)
}

/// The template environment every rendered file goes through (strict
/// undefined variables, trailing newlines kept, the `hba_name` filter).
pub fn environment() -> anyhow::Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_filter("hba_name", hba_name);
    Ok(env)
}

/// Renders every template in memory.
pub fn render(paths: &Paths, config: &Config) -> anyhow::Result<Vec<Rendered>> {
    let mut env = environment()?;
    let ctx = context(config);
    let mut out = Vec::new();
    for name in TEMPLATES {
        let path = paths.postgres_dir().join("conf").join(format!("{name}.j2"));
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read template `{path}`"))?;
        env.add_template_owned(name.to_string(), source)?;
        let text = env
            .get_template(name)?
            .render(minijinja::value::Serde(&ctx))
            .map_err(|err| anyhow::anyhow!("failed to render `{path}`: {err:#}"))?;
        out.push(Rendered { name, text });
    }
    Ok(out)
}

/// Where the server reads its configuration from (bound to /etc/core_data/conf).
pub fn output_dir(paths: &Paths) -> Utf8PathBuf {
    paths.rendered_dir().join("postgres")
}

/// Renders and writes the files that changed; reports what changed. Nothing
/// is checked: `up` and `config apply` go through [`plan`], a check of the
/// staged files (`crate::guard`) and [`Plan::install`] instead.
pub fn write(paths: &Paths, config: &Config) -> anyhow::Result<RenderOutcome> {
    let plan = plan(paths, config)?;
    plan.install(paths)?;
    Ok(plan.outcome)
}

/// The rendered files next to what is in place now, before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every rendered file.
    pub files: Vec<Rendered>,
    /// The text in place now, by file (`None`: no such file yet).
    pub previous: Vec<Option<String>>,
    pub outcome: RenderOutcome,
}

/// Renders every template and compares it with the files in place; writes nothing.
pub fn plan(paths: &Paths, config: &Config) -> anyhow::Result<Plan> {
    let dir = output_dir(paths);
    let files = render(paths, config)?;
    let mut previous = Vec::new();
    let mut outcome = RenderOutcome::default();
    for rendered in &files {
        let old = std::fs::read_to_string(dir.join(rendered.name)).ok();
        if old.as_deref() != Some(rendered.text.as_str()) {
            if rendered.name == "postgresql.conf" {
                outcome.changed_settings =
                    diff_settings(old.as_deref().unwrap_or(""), &rendered.text);
            }
            outcome.changed_files.push(rendered.name);
        }
        previous.push(old);
    }
    Ok(Plan {
        files,
        previous,
        outcome,
    })
}

/// Where the set replaced by the last install is kept (beside `output_dir`).
pub fn previous_dir(paths: &Paths) -> Utf8PathBuf {
    paths.rendered_dir().join("postgres.previous")
}

impl Plan {
    /// Writes every rendered file into `dir` (a staging directory to be checked).
    pub fn stage(&self, dir: &camino::Utf8Path) -> anyhow::Result<()> {
        for rendered in &self.files {
            crate::fsutil::write_atomic(&dir.join(rendered.name), rendered.text.as_bytes(), 0o644)?;
        }
        Ok(())
    }

    /// Puts the changed files in place, each by an atomic rename inside the
    /// bound directory (renaming the directory itself would leave the
    /// container's bind mount on the old one). The set in place before is
    /// copied to [`previous_dir`] first.
    pub fn install(&self, paths: &Paths) -> anyhow::Result<()> {
        if self.outcome.changed_files.is_empty() {
            return Ok(());
        }
        let dir = output_dir(paths);
        crate::fsutil::ensure_dir(&dir, 0o755)?;
        if self.previous.iter().any(Option::is_some) {
            let keep = previous_dir(paths);
            crate::fsutil::ensure_dir(&keep, 0o755)?;
            for (rendered, old) in self.files.iter().zip(&self.previous) {
                if let Some(old) = old {
                    crate::fsutil::write_atomic(&keep.join(rendered.name), old.as_bytes(), 0o644)?;
                }
            }
        }
        let mut written = Vec::new();
        for rendered in self.changed() {
            let result = crate::fsutil::write_atomic(
                &dir.join(rendered.name),
                rendered.text.as_bytes(),
                0o644,
            );
            if let Err(err) = result {
                // Fail back: what was written so far goes back to what it was.
                let _ = self.restore_files(paths, &written);
                return Err(err);
            }
            written.push(rendered.name);
        }
        Ok(())
    }

    /// Puts the files in place before [`Plan::install`] back.
    pub fn restore(&self, paths: &Paths) -> anyhow::Result<()> {
        self.restore_files(paths, &self.outcome.changed_files)
            .context("failed to put the previous rendered configuration back")
    }

    fn restore_files(&self, paths: &Paths, names: &[&'static str]) -> anyhow::Result<()> {
        let dir = output_dir(paths);
        for (rendered, old) in self.files.iter().zip(&self.previous) {
            if !names.contains(&rendered.name) {
                continue;
            }
            let path = dir.join(rendered.name);
            match old {
                Some(old) => crate::fsutil::write_atomic(&path, old.as_bytes(), 0o644)?,
                None => match std::fs::remove_file(&path) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                        return Err(err).with_context(|| format!("failed to remove `{path}`"))
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }

    fn changed(&self) -> impl Iterator<Item = &Rendered> {
        self.files
            .iter()
            .filter(|rendered| self.outcome.changed_files.contains(&rendered.name))
    }

    /// True when there was a rendered set before (not a first start).
    pub fn had_previous(&self) -> bool {
        self.previous.iter().all(Option::is_some)
    }
}

/// The `name = value` settings of a postgresql.conf text.
pub fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| {
            (
                name.trim().to_owned(),
                value.trim().trim_matches('\'').to_owned(),
            )
        })
        .collect()
}

fn diff_settings(old: &str, new: &str) -> Vec<ChangedSetting> {
    let old = settings(old);
    let new = settings(new);
    let mut changed = Vec::new();
    for (name, value) in &new {
        let before = old.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        if before.as_ref() != Some(value) {
            changed.push(ChangedSetting {
                name: name.clone(),
                old: before,
                new: Some(value.clone()),
            });
        }
    }
    for (name, value) in &old {
        if !new.iter().any(|(n, _)| n == name) {
            changed.push(ChangedSetting {
                name: name.clone(),
                old: Some(value.clone()),
                new: None,
            });
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::sizing::Resources;

    /// A fixed configuration, so the golden files do not depend on the host.
    fn golden_config() -> Config {
        let overrides: BTreeMap<String, String> = [
            ("POSTGRES_UID", "999"),
            ("POSTGRES_GID", "999"),
            ("PG_WORK_MEM", "16MB"),
            ("POSTGRES_SUPERUSER", "postgres"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::from_overrides(
            &overrides,
            Resources {
                memory_mb: 4096,
                cpus: 2,
            },
        )
        .unwrap()
    }

    /// Each rendered file against its insta snapshot `xtask/ops/tests/golden/<name>.snap`
    /// (`.config/insta.yaml`: a missing or different snapshot fails;
    /// `INSTA_UPDATE=always` rewrites them). Insta ignores trailing newlines, so
    /// the one newline that ends every file is checked here.
    #[test]
    fn rendered_templates_match_golden_files() {
        let paths = Paths::from_repo(None);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../tests/golden");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.bind(|| {
            for rendered in render(&paths, &golden_config()).unwrap() {
                assert!(
                    rendered.text.ends_with('\n') && !rendered.text.ends_with("\n\n"),
                    "`{}` must end with exactly one newline",
                    rendered.name
                );
                insta::assert_snapshot!(rendered.name, rendered.text);
            }
        });
    }

    #[test]
    fn an_older_major_renders_without_what_its_suite_lacks() {
        let paths = Paths::from_repo(None);
        let config = golden_config().with_major(15).unwrap();
        assert_eq!(config.image(), "core-data/postgres:15");
        assert_eq!(config.suite().name, "bookworm");
        let rendered = render(&paths, &config).unwrap();
        let conf = &rendered
            .iter()
            .find(|file| file.name == "postgresql.conf")
            .unwrap()
            .text;
        let newest = render(&paths, &golden_config()).unwrap();
        let newest = &newest
            .iter()
            .find(|file| file.name == "postgresql.conf")
            .unwrap()
            .text;
        assert!(conf.contains(
            "shared_preload_libraries = 'pg_stat_statements,pgaudit,pg_cron,auto_explain'\n"
        ));
        assert!(!conf.contains("output_plugin_libraries"));
        let kept: Vec<&str> = newest
            .lines()
            .filter(|line| !line.contains("pg_squeeze") && !line.contains("PostgreSQL 17.11+"))
            .collect();
        let older: Vec<&str> = conf
            .lines()
            .filter(|line| !line.starts_with("shared_preload_libraries"))
            .collect();
        pretty_assertions::assert_eq!(older, kept, "only the suite's differences");
    }

    #[test]
    fn a_changed_value_is_reported_as_a_changed_setting() {
        let old = "work_mem = '4MB'\nport = 5432\ngone = 1\n";
        let new = "work_mem = '8MB'\nport = 5432\n";
        let changed = diff_settings(old, new);
        assert_eq!(
            changed,
            vec![
                ChangedSetting {
                    name: "work_mem".into(),
                    old: Some("4MB".into()),
                    new: Some("8MB".into())
                },
                ChangedSetting {
                    name: "gone".into(),
                    old: Some("1".into()),
                    new: None
                },
            ]
        );
    }

    #[test]
    fn every_key_has_its_own_template_variable() {
        let mut names: Vec<String> = KEYS.iter().map(|key| variable(key.name)).collect();
        names.extend(
            [
                "service_roles",
                "shared_preload_libraries",
                "pgbouncer_auth_role",
            ]
            .map(str::to_owned),
        );
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(before, names.len(), "two keys share a template variable");
        assert_eq!(variable("POSTGRES_SUPERUSER"), "superuser");
        assert_eq!(variable("TZ"), "timezone");
        assert_eq!(variable("PG_PGAUDIT_LOG"), "pgaudit_log");
    }

    #[test]
    fn hba_names_are_quoted_only_when_needed() {
        assert_eq!(hba_name("postgres".into()), "postgres");
        assert_eq!(hba_name("Admin".into()), "\"Admin\"");
    }
}
