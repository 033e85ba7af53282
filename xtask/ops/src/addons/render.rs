//! An add-on's templates (`addons/<name>/conf/*.j2`) rendered with the same
//! environment and context as postgres's (`crate::render`) into
//! `rendered/<name>/`, which compose mounts read-only at `/etc/core_data/conf`.

use anyhow::Context;

use super::Addon;
use crate::config::Config;
use crate::paths::Paths;

/// Every template of `addon`, rendered in memory, by output file name.
pub fn render(
    paths: &Paths,
    config: &Config,
    addon: Addon,
) -> anyhow::Result<Vec<(String, String)>> {
    let dir = addon.source_dir(paths).join("conf");
    let mut env = crate::render::environment()?;
    let ctx = crate::render::context(config);
    let mut names: Vec<String> = Vec::new();
    if dir.exists() {
        for entry in dir
            .read_dir_utf8()
            .with_context(|| format!("failed to read `{dir}`"))?
        {
            let entry = entry?;
            if let Some(name) = entry.file_name().strip_suffix(".j2") {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(format!("{name}.j2"));
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read template `{path}`"))?;
        env.add_template_owned(name.clone(), source)?;
        let text = env
            .get_template(&name)?
            .render(minijinja::value::Serde(&ctx))
            .map_err(|err| anyhow::anyhow!("failed to render `{path}`: {err:#}"))?;
        out.push((name, text));
    }
    Ok(out)
}

/// Renders and writes the files whose text changed; returns their names.
pub fn write(paths: &Paths, config: &Config, addon: Addon) -> anyhow::Result<Vec<String>> {
    let dir = addon.rendered_dir(paths);
    crate::fsutil::ensure_dir(&dir, 0o755)?;
    let mut changed = Vec::new();
    for (name, text) in render(paths, config, addon)? {
        let path = dir.join(&name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            crate::fsutil::write_atomic(&path, text.as_bytes(), 0o644)?;
            changed.push(name);
        }
    }
    Ok(changed)
}
