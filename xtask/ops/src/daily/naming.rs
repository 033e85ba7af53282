//! Where bundles live: `backups/daily/<YYYY-MM-DD>/run-<NNN>/`. A date's runs
//! are numbered in order and each is created exclusively, so a second run on
//! one day lands beside the first, never over it. Retention removes only real
//! directories (not links) whose names are dates, older than the retention.

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use jiff::civil::Date;

use crate::paths::Paths;

const RUN_PREFIX: &str = "run-";

/// `backups/daily`.
pub fn daily_dir(paths: &Paths) -> Utf8PathBuf {
    paths.backups_dir().join("daily")
}

/// A strict `YYYY-MM-DD` (nothing else is a bundle's date).
pub fn parse_date(text: &str) -> anyhow::Result<Date> {
    dated_name(text)
        .with_context(|| format!("`{text}` is not a date; use YYYY-MM-DD, e.g. 2026-12-02"))
}

/// The date a directory name is, when it is exactly one.
pub fn dated_name(name: &str) -> Option<Date> {
    let shape = name.len() == 10
        && name.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    name.parse().ok()
}

/// The number of a run directory's name (`run-007` is 7).
pub fn run_number(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(RUN_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The name after every run in `existing`: `run-001`, then `run-002`, …
pub fn next_run<S: AsRef<str>>(existing: &[S]) -> String {
    let last = existing
        .iter()
        .filter_map(|name| run_number(name.as_ref()))
        .max()
        .unwrap_or(0);
    format!("{RUN_PREFIX}{:03}", last + 1)
}

/// Refuses a retention under one day.
pub fn check_retention(days: i64) -> anyhow::Result<i64> {
    if days < 1 {
        bail!(
            "`--retention-days {days}`: keep at least 1 day (the bundle just written is today's)"
        );
    }
    Ok(days)
}

/// Refuses a `--date` whose bundle the retention would remove in the same
/// run (it would be written, then pruned with every earlier run of that day).
pub fn check_date_kept(date: Date, today: Date, retention_days: i64) -> anyhow::Result<()> {
    if !expired(&[date], today, retention_days).is_empty() {
        bail!(
            "`--date {date}` is older than the retention of {retention_days} day(s) before {today}: \
             its bundle would be removed by this very run, with any earlier run of that day; \
             pass a larger `--retention-days` to write it"
        );
    }
    Ok(())
}

/// The dates among `dates` whose bundles are older than `retention_days` before `today`.
pub fn expired(dates: &[Date], today: Date, retention_days: i64) -> Vec<Date> {
    let Ok(oldest_kept) = today.checked_sub(jiff::Span::new().days(retention_days)) else {
        return Vec::new();
    };
    dates
        .iter()
        .copied()
        .filter(|date| *date < oldest_kept)
        .collect()
}

/// The real directories of `dir` (links and files left out), by name.
fn real_dirs(dir: &Utf8Path) -> anyhow::Result<Vec<String>> {
    let entries = match dir.read_dir_utf8() {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("failed to list `{dir}`")),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to list `{dir}`"))?;
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            names.push(entry.file_name().to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The dated bundle directories of `daily`, oldest first.
pub fn dates(daily: &Utf8Path) -> anyhow::Result<Vec<Date>> {
    let mut dates: Vec<Date> = real_dirs(daily)?
        .iter()
        .filter_map(|name| dated_name(name))
        .collect();
    dates.sort();
    Ok(dates)
}

/// Creates the next run directory of `date` (0700, exclusively) and returns its name and path.
pub fn create_run(daily: &Utf8Path, date: Date) -> anyhow::Result<(String, Utf8PathBuf)> {
    crate::fsutil::ensure_real_dir(daily, 0o700)?;
    let day = daily.join(date.to_string());
    crate::fsutil::ensure_real_dir(&day, 0o700)?;
    let mut existing = real_dirs(&day)?;
    loop {
        let name = next_run(&existing);
        let path = day.join(&name);
        match std::fs::create_dir(&path) {
            Ok(()) => {
                crate::fsutil::ensure_dir(&path, 0o700)?;
                return Ok((name, path));
            }
            // Another run took the name meanwhile: take the next one.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => existing.push(name),
            Err(err) => return Err(err).with_context(|| format!("failed to create `{path}`")),
        }
    }
}

/// The newest run before (`date`, `run`) holding `file`: the previous bundle to compare with.
pub fn previous_run(
    daily: &Utf8Path,
    date: Date,
    run: &str,
    file: &str,
) -> anyhow::Result<Option<Utf8PathBuf>> {
    let this = (date, run_number(run).unwrap_or(0));
    let mut best: Option<((Date, u32), Utf8PathBuf)> = None;
    for day in dates(daily)? {
        let dir = daily.join(day.to_string());
        for name in real_dirs(&dir)? {
            let Some(number) = run_number(&name) else {
                continue;
            };
            let key = (day, number);
            let path = dir.join(&name);
            if key < this
                && path.join(file).is_file()
                && best.as_ref().is_none_or(|(found, _)| key > *found)
            {
                best = Some((key, path));
            }
        }
    }
    Ok(best.map(|(_, path)| path))
}

/// Removes the dated bundles older than `retention_days` before `today`,
/// never `keep` (the date this run writes); returns what it removed.
pub fn prune(
    daily: &Utf8Path,
    today: Date,
    retention_days: i64,
    keep: Date,
) -> anyhow::Result<Vec<Utf8PathBuf>> {
    let mut removed = Vec::new();
    for date in expired(&dates(daily)?, today, retention_days)
        .into_iter()
        .filter(|date| *date != keep)
    {
        let path = daily.join(date.to_string());
        // Checked again just before: only a real directory goes, never what a link points to.
        crate::fsutil::refuse_symlink(&path)?;
        std::fs::remove_dir_all(&path).with_context(|| {
            format!("failed to remove the expired bundle `{path}`; remove it by hand or fix its permissions")
        })?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_date_the_retention_would_prune_is_refused_and_never_pruned() {
        let today = date(2026, 12, 2);
        assert!(check_date_kept(today, today, 1).is_ok());
        assert!(check_date_kept(date(2026, 11, 3), today, 30).is_ok());
        let err = check_date_kept(date(2026, 10, 1), today, 30).unwrap_err();
        assert!(err.to_string().contains("--retention-days"), "{err}");

        let root = tempfile::tempdir().unwrap();
        let daily = Utf8PathBuf::from_path_buf(root.path().to_owned()).unwrap();
        for day in ["2026-10-01", "2026-10-02"] {
            std::fs::create_dir_all(daily.join(day).join("run-001")).unwrap();
        }
        let removed = prune(&daily, today, 30, date(2026, 10, 1)).unwrap();
        assert_eq!(removed, vec![daily.join("2026-10-02")]);
        assert!(daily.join("2026-10-01/run-001").is_dir());
    }

    #[test]
    fn only_a_strict_date_is_a_date() {
        assert_eq!(parse_date("2026-12-02").unwrap(), date(2026, 12, 2));
        for bad in [
            "2026-12-2",
            "20261202",
            "2026-13-01",
            "2026-02-30",
            "x",
            "2026-12-02x",
            "../2026-12",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn runs_are_numbered_after_the_last_one() {
        assert_eq!(next_run::<&str>(&[]), "run-001");
        assert_eq!(next_run(&["run-001", "notes", "run-009"]), "run-010");
        assert_eq!(next_run(&["run-x", "run-"]), "run-001");
        assert_eq!(run_number("run-042"), Some(42));
        assert_eq!(run_number("run-4a"), None);
    }

    #[test]
    fn retention_keeps_the_last_n_days() {
        let dates = [
            date(2026, 10, 1),
            date(2026, 11, 1),
            date(2026, 11, 2),
            date(2026, 12, 2),
        ];
        assert_eq!(
            expired(&dates, date(2026, 12, 2), 30),
            [date(2026, 10, 1), date(2026, 11, 1)]
        );
        assert!(expired(&dates, date(2026, 12, 2), 100).is_empty());
        assert!(check_retention(0).is_err());
        assert_eq!(check_retention(1).unwrap(), 1);
    }

    #[test]
    fn pruning_and_runs_on_disk() {
        let root = tempfile::tempdir().unwrap();
        let daily = Utf8PathBuf::from_path_buf(root.path().join("daily")).unwrap();
        let (first, _) = create_run(&daily, date(2026, 12, 2)).unwrap();
        let (second, second_path) = create_run(&daily, date(2026, 12, 2)).unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("run-001", "run-002"));
        std::fs::write(daily.join("2026-12-02/run-001/pgstat.json"), "{}").unwrap();
        assert_eq!(
            previous_run(&daily, date(2026, 12, 2), &second, "pgstat.json").unwrap(),
            Some(daily.join("2026-12-02/run-001"))
        );
        assert!(second_path.is_dir());
        std::fs::create_dir_all(daily.join("2020-01-01/run-001")).unwrap();
        std::fs::create_dir_all(daily.join("notes-2020-01-01")).unwrap();
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, daily.join("2019-01-01")).unwrap();
        let removed = prune(&daily, date(2026, 12, 2), 30, date(2026, 12, 2)).unwrap();
        assert_eq!(removed, [daily.join("2020-01-01")]);
        assert!(daily.join("notes-2020-01-01").is_dir());
        assert!(outside.is_dir() && daily.join("2019-01-01").exists());
        assert!(daily.join("2026-12-02/run-001").is_dir());
    }
}
