//! `ha config apply`: the cluster-wide settings `.env` decides, put into a
//! running cluster. Patroni keeps them in its dynamic configuration (in
//! etcd): the `bootstrap.dcs` section of the rendered `patroni.yml` is what
//! they should be, `patronictl show-config` what they are. The rendered
//! server configuration every node includes is checked and installed as `up`
//! does, only the keys that differ are patched (`edit-config --apply -`),
//! every node reloads (each run, so a run that failed after installing is finished by the next), and the nodes Patroni then marks as needing a restart
//! get a rolling one. Settings outside Patroni's dynamic configuration (the
//! number of nodes, passwords, certificates) need `cargo xtask up`.

use serde_yaml::Value;

use crate::progress::Progress;
use crate::stack::Stack;

use super::control::Outcome;
use super::restart::{self, Step};
use super::status;

/// One setting that differs: its dotted path, what it is, what it becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub from: Option<String>,
    pub to: String,
}

/// The keys of `desired` whose values differ in `current`, recursively
/// (`postgresql.parameters.max_connections`); keys only `current` has are left alone.
pub fn diff(desired: &Value, current: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk("", desired, current, &mut changes);
    changes
}

fn walk(prefix: &str, desired: &Value, current: &Value, changes: &mut Vec<Change>) {
    match desired {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = scalar(key);
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let here = current.get(key.as_str()).unwrap_or(&Value::Null);
                walk(&path, value, here, changes);
            }
        }
        _ => {
            if !same(desired, current) {
                changes.push(Change {
                    key: prefix.to_owned(),
                    from: (!current.is_null()).then(|| scalar(current)),
                    to: scalar(desired),
                });
            }
        }
    }
}

/// Patroni stores what it was given: `"on"` stays a string and `20` a number,
/// but an operator's `edit-config` may have written either; compare as text.
fn same(a: &Value, b: &Value) -> bool {
    !b.is_null() && scalar(a) == scalar(b)
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// The patch for `changes`: a mapping holding only the changed keys, with the desired values.
pub fn patch(desired: &Value, changes: &[Change]) -> Value {
    let mut out = Value::Mapping(Default::default());
    for change in changes {
        let parts: Vec<&str> = change.key.split('.').collect();
        let mut source = desired;
        for part in &parts {
            source = &source[*part];
        }
        let mut target = &mut out;
        for part in &parts[..parts.len() - 1] {
            let map = target.as_mapping_mut().expect("built as mappings");
            target = map
                .entry(Value::String((*part).to_owned()))
                .or_insert_with(|| Value::Mapping(Default::default()));
        }
        target.as_mapping_mut().expect("built as mappings").insert(
            Value::String(parts[parts.len() - 1].to_owned()),
            source.clone(),
        );
    }
    out
}

/// What `apply` did.
#[derive(Debug)]
pub struct Applied {
    pub changes: Vec<Change>,
    pub files_changed: Vec<String>,
    pub restarts: Vec<Step>,
    pub outcome: Outcome,
}

/// The dynamic configuration `.env` asks for: `bootstrap.dcs` of the rendered `patroni.yml`.
pub fn desired(stack: &Stack) -> anyhow::Result<Value> {
    let rendered = super::prepare::render_patroni(&stack.paths, &stack.config)?;
    let file: Value = serde_yaml::from_str(&rendered)
        .map_err(|err| anyhow::anyhow!("the rendered patroni.yml is not YAML: {err}"))?;
    Ok(file["bootstrap"]["dcs"].clone())
}

pub fn apply(stack: &Stack, progress: &dyn Progress) -> anyhow::Result<Applied> {
    let (paths, config) = (&stack.paths, &stack.config);
    let now = status::read(&stack.docker, config)?;
    let leader = now.leader().map(|l| l.name.clone()).ok_or_else(|| {
        anyhow::anyhow!(
            "the cluster has no leader ({}); nothing was changed",
            now.summary()
        )
    })?;
    let container = config.container_name(&leader);
    // Check, then change: the server configuration is parsed by the image's server first.
    let plan = crate::render::plan(paths, config)?;
    if !plan.outcome.changed_files.is_empty() {
        crate::guard::check(stack, &plan, progress)?;
    }
    let want = desired(stack)?;
    let changes = diff(&want, &status::dynamic_config(&stack.docker, &container)?);
    let files_changed: Vec<String> = plan
        .outcome
        .changed_files
        .iter()
        .map(ToString::to_string)
        .collect();
    plan.install(paths)?;
    if !changes.is_empty() {
        let text = serde_yaml::to_string(&patch(&want, &changes))?;
        for change in &changes {
            progress.status(
                "Setting",
                &format!(
                    "{}: {} -> {}",
                    change.key,
                    change.from.as_deref().unwrap_or("(unset)"),
                    change.to
                ),
            );
        }
        status::patronictl_with_stdin(
            &stack.docker,
            &container,
            &["edit-config", "--apply", "-", "--force", "--quiet"],
            &text,
        )?;
    }
    // Every time, not only when this run installed a file: a run that failed after installing
    // (the patch refused, etcd unreachable) leaves nothing changed on disk for the next run to
    // see, and the next run's reload is what makes the nodes read it. A reload is idempotent.
    progress.status("Reloading", "every node's server configuration");
    status::patronictl(
        &stack.docker,
        &container,
        &["reload", config.project(), "--force"],
    )?;
    crate::guard::record_applied(paths)?;
    if !changes.is_empty() || !files_changed.is_empty() {
        // Patroni marks a pending restart in its next loops; the restart reads the members then.
        std::thread::sleep(std::time::Duration::from_secs(
            config.get("HA_LOOP_WAIT").parse::<u64>().unwrap_or(2) * 2 + 1,
        ));
    }
    let (outcome, restarts) = restart::rolling(stack, true, progress)?;
    let outcome = Outcome {
        did: if changes.is_empty() && files_changed.is_empty() {
            "nothing to change: the cluster already runs what .env says".to_owned()
        } else {
            format!(
                "{} setting(s) changed, {} file(s) re-rendered, {} node(s) restarted",
                changes.len(),
                files_changed.len(),
                restarts.len()
            )
        },
        ..outcome
    };
    Ok(Applied {
        changes,
        files_changed,
        restarts,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn only_differing_keys_are_patched() {
        let want = yaml(
            "ttl: 22\nloop_wait: 2\nsynchronous_mode: true\npostgresql:\n  parameters:\n    max_connections: 120\n    hot_standby: 'on'\n",
        );
        let have = yaml(
            "ttl: 20\nloop_wait: 2\nsynchronous_mode: true\npause: true\npostgresql:\n  parameters:\n    max_connections: 100\n    hot_standby: 'on'\n",
        );
        let changes = diff(&want, &have);
        pretty_assertions::assert_eq!(
            changes,
            vec![
                Change {
                    key: "ttl".into(),
                    from: Some("20".into()),
                    to: "22".into()
                },
                Change {
                    key: "postgresql.parameters.max_connections".into(),
                    from: Some("100".into()),
                    to: "120".into()
                },
            ]
        );
        assert_eq!(
            patch(&want, &changes),
            yaml("ttl: 22\npostgresql:\n  parameters:\n    max_connections: 120\n")
        );
        assert!(diff(&want, &want).is_empty());
    }

    #[test]
    fn a_key_missing_from_the_cluster_is_a_change() {
        let changes = diff(
            &yaml("synchronous_mode_strict: false\n"),
            &yaml("ttl: 20\n"),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].from, None);
    }
}
