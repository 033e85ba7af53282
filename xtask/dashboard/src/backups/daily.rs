//! The daily maintenance bundles under `backups_dir/daily/<date>/run-NNN/`,
//! listed and served read-only. A file is served only when each part of its
//! path is a name read from the directory itself (no `..`, no separator, no
//! symbolic link can get through) and it is a regular file.

use std::fs;

use anyhow::Context;
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;

/// One run of one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Bundle {
    pub(crate) date: String,
    pub(crate) run: String,
    pub(crate) files: Vec<String>,
}

/// The names in `dir` whose entry is of the kind wanted (directory or
/// regular file, never a link), sorted.
fn names(dir: &Utf8Path, directories: bool) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            entry.file_type().is_ok_and(|kind| {
                if directories {
                    kind.is_dir()
                } else {
                    kind.is_file()
                }
            })
        })
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Every bundle, newest first.
pub(crate) fn list(backups_dir: &Utf8Path) -> Vec<Bundle> {
    let root = backups_dir.join("daily");
    let mut bundles = Vec::new();
    for date in names(&root, true).into_iter().rev() {
        for run in names(&root.join(&date), true).into_iter().rev() {
            let files = names(&root.join(&date).join(&run), false);
            bundles.push(Bundle {
                date: date.clone(),
                run,
                files,
            });
        }
    }
    bundles
}

/// The path of a bundle's file, when every part is a listed name.
pub(crate) fn find(
    backups_dir: &Utf8Path,
    date: &str,
    run: &str,
    file: &str,
) -> anyhow::Result<Utf8PathBuf> {
    let root = backups_dir.join("daily");
    let listed = |dir: &Utf8Path, name: &str, directories: bool| {
        names(dir, directories).iter().any(|listed| listed == name)
    };
    if !listed(&root, date, true)
        || !listed(&root.join(date), run, true)
        || !listed(&root.join(date).join(run), file, false)
    {
        anyhow::bail!("there is no daily bundle file `{date}/{run}/{file}`");
    }
    Ok(root.join(date).join(run).join(file))
}

/// The file's bytes and its content type.
pub(crate) fn read(path: &Utf8Path) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let bytes = fs::read(path).with_context(|| format!("failed to read `{path}`"))?;
    let kind = match path.extension() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    Ok((bytes, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_names_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let backups = Utf8PathBuf::from_path_buf(dir.path().to_owned()).unwrap();
        let run = backups.join("daily/2026-01-02/run-001");
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("audit.json"), "{}").unwrap();
        fs::write(backups.join("secret.txt"), "no").unwrap();
        std::os::unix::fs::symlink(backups.join("secret.txt"), run.join("link.txt")).unwrap();
        assert_eq!(
            list(&backups),
            vec![Bundle {
                date: "2026-01-02".into(),
                run: "run-001".into(),
                files: vec!["audit.json".into()],
            }]
        );
        assert!(find(&backups, "2026-01-02", "run-001", "audit.json").is_ok());
        for (date, run, file) in [
            ("2026-01-02", "run-001", "link.txt"),
            ("2026-01-02", "run-001", "../../../secret.txt"),
            ("..", "..", "secret.txt"),
            ("2026-01-02", "..", "run-001"),
            ("2026-01-02", "run-001", ""),
        ] {
            assert!(
                find(&backups, date, run, file).is_err(),
                "{date}/{run}/{file}"
            );
        }
        let (bytes, kind) = read(&run.join("audit.json")).unwrap();
        assert_eq!(
            (bytes.as_slice(), kind),
            (b"{}".as_slice(), "application/json")
        );
    }
}
