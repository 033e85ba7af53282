//! The templates (minijinja, embedded with `include_str!`, HTML auto-escaped
//! by their `.html` names) and what every page's layout needs: the user, the
//! session's CSRF token for the forms, the navigation and the database
//! selector.

use minijinja::value::Serde;
use minijinja::{context, Environment, Value};
use serde::Serialize;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("table.html", include_str!("templates/table.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("queries.html", include_str!("templates/queries.html")),
    ("query.html", include_str!("templates/query.html")),
    ("space.html", include_str!("templates/space.html")),
    (
        "connections.html",
        include_str!("templates/connections.html"),
    ),
    ("live.html", include_str!("templates/live.html")),
    (
        "maintenance.html",
        include_str!("templates/maintenance.html"),
    ),
    ("indexes.html", include_str!("templates/indexes.html")),
    ("explain.html", include_str!("templates/explain.html")),
    ("settings.html", include_str!("templates/settings.html")),
    ("backups.html", include_str!("templates/backups.html")),
    ("system.html", include_str!("templates/system.html")),
];

/// The navigation: path and label of each page.
pub(crate) const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/queries", "Queries"),
    ("/space", "Space"),
    ("/connections", "Connections"),
    ("/live", "Live queries"),
    ("/maintenance", "Maintenance"),
    ("/indexes", "Indexes"),
    ("/explain", "Explain"),
    ("/settings", "Settings"),
    ("/backups", "Backups"),
    ("/system", "System"),
];

/// The compiled templates.
pub(crate) struct Templates {
    env: Environment<'static>,
}

/// What the layout shows on every page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Common {
    pub(crate) user: String,
    pub(crate) csrf: String,
    /// The page's path (its navigation entry is marked).
    pub(crate) active: &'static str,
    /// The databases for the selector (empty: no selector on this page).
    pub(crate) databases: Vec<String>,
    /// The database picked, empty for all.
    pub(crate) db: String,
    pub(crate) allow_signal: bool,
}

impl Templates {
    pub(crate) fn new() -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text) in TEMPLATES {
            env.add_template(name, text).map_err(|error| {
                anyhow::anyhow!("template `{name}` does not compile: {error:#}")
            })?;
        }
        env.add_global("nav", Value::from(Serde(NAV)));
        Ok(Templates { env })
    }

    /// Renders page template `name` with the layout's `common` and the page's `page`.
    pub(crate) fn page(
        &self,
        name: &str,
        common: &Common,
        page: impl Serialize,
    ) -> anyhow::Result<String> {
        self.render(
            name,
            context! { c => Value::from(Serde(common)), page => Value::from(Serde(page)) },
        )
    }

    /// Renders `name` with `ctx`.
    pub(crate) fn render(&self, name: &str, ctx: Value) -> anyhow::Result<String> {
        self.env
            .get_template(name)
            .and_then(|template| template.render(ctx))
            .map_err(|error| anyhow::anyhow!("failed to render `{name}`: {error:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let templates = Templates::new().unwrap();
        let html = templates
            .render(
                "login.html",
                context! { csrf => "tok", error => "<script>x</script>", user => "" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;"), "{html}");
        assert!(!html.contains("<script>x"));
    }
}
