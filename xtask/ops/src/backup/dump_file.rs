//! Dump files on the host: their names (one per database, never shared), the
//! `.sha256` manifest written beside every dump this tool makes (how a restore
//! recognises its own files), format detection, and the plain-SQL checks that
//! keep psql meta-commands (`\! …` is a shell in the postgres container) out of
//! a restore.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};

use anyhow::{bail, Context};
use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

/// The kinds of dump file `restore_dump` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// `pg_dump --format=custom` (starts with `PGDMP`): restored with pg_restore.
    Custom,
    /// `pg_dump --format=plain`: replayed with psql in one transaction.
    Plain,
}

pub use core_data_sidecar::file_stem;

/// The manifest beside `file`: `<file>.sha256`, in `sha256sum` format.
pub fn manifest_path(file: &Utf8Path) -> Utf8PathBuf {
    Utf8PathBuf::from(format!("{file}.sha256"))
}

/// SHA-256 of a file's contents, in hex.
pub fn sha256_file(file: &Utf8Path) -> anyhow::Result<String> {
    let mut handle = File::open(file)
        .with_context(|| format!("cannot open dump file `{file}`; check the path"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = handle
            .read(&mut buffer)
            .with_context(|| format!("failed to read `{file}`"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(core_data_sidecar::names::hex(&hasher.finalize()))
}

/// Writes `manifest` (created exclusively) for `data`, whose final name is `name`.
pub fn write_manifest(data: &Utf8Path, manifest: &Utf8Path, name: &str) -> anyhow::Result<()> {
    let digest = sha256_file(data)?;
    let mut out = crate::fsutil::create_new(manifest, 0o640)?;
    out.write_all(format!("{digest}  {name}\n").as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("failed to write `{manifest}`"))
}

/// Checks that `file` was written by this tool: its manifest exists and matches.
pub fn check_manifest(file: &Utf8Path) -> anyhow::Result<()> {
    let manifest = manifest_path(file);
    let text = match std::fs::read_to_string(&manifest) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{file}` was not written by core_data (no `{manifest}` beside it); restoring a file runs \
             its SQL as the superuser, so only restore files you trust: add `--trust` if you do"
        ),
        Err(err) => return Err(err).with_context(|| format!("failed to read `{manifest}`")),
    };
    let expected = text.split_whitespace().next().unwrap_or_default();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{manifest}` is not a SHA-256 manifest; nothing was restored; add `--trust` only if you trust `{file}`");
    }
    let actual = sha256_file(file)?;
    if !actual.eq_ignore_ascii_case(expected) {
        bail!(
            "`{file}` does not match `{manifest}`: it changed or was damaged after it was written; \
             nothing was restored; take a new dump, or add `--trust` only if you know why it changed"
        );
    }
    Ok(())
}

/// Reads the first bytes of `file` to tell a custom archive from a plain SQL dump.
pub fn detect_format(file: &Utf8Path) -> anyhow::Result<DumpFormat> {
    let mut head = Vec::with_capacity(512);
    File::open(file)
        .with_context(|| format!("cannot open dump file `{file}`; check the path"))?
        .take(512)
        .read_to_end(&mut head)?;
    if head.starts_with(b"PGDMP") {
        return Ok(DumpFormat::Custom);
    }
    let text = String::from_utf8_lossy(&head);
    if text.starts_with("--") && text.contains("PostgreSQL database dump") {
        return Ok(DumpFormat::Plain);
    }
    bail!(
        "`{file}` is not a pg_dump file: it starts with neither `PGDMP` (custom format) nor a pg_dump SQL header; \
         restore a file written by `cargo xtask dump` or `cargo xtask dump-sql`"
    )
}

/// pg_dump ends every plain dump with `-- PostgreSQL database dump complete`;
/// psql would happily replay a file cut short (ending a COPY early and
/// committing), so a plain file without that line is refused.
pub fn check_plain_complete(file: &Utf8Path) -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut handle = File::open(file)
        .with_context(|| format!("cannot open dump file `{file}`; check the path"))?;
    let length = handle.metadata()?.len();
    handle.seek(SeekFrom::Start(length.saturating_sub(8192)))?;
    let mut tail = Vec::new();
    handle.read_to_end(&mut tail)?;
    if !String::from_utf8_lossy(&tail).contains("-- PostgreSQL database dump complete") {
        bail!(
            "`{file}` is an incomplete plain SQL dump (no `-- PostgreSQL database dump complete` at its end); \
             nothing was restored; take a new one with `cargo xtask dump-sql`"
        );
    }
    Ok(())
}

fn is_comment_or_blank(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii();
    trimmed.is_empty() || trimmed.starts_with(b"--")
}

/// `\restrict KEY` / `\unrestrict KEY` (pg_dump 17.6+ brackets plain dumps with them).
fn restrict_key<'a>(line: &'a [u8], command: &[u8]) -> Option<&'a [u8]> {
    let rest = line.trim_ascii().strip_prefix(command)?;
    let key = rest.strip_prefix(b" ")?.trim_ascii();
    (!key.is_empty() && key.iter().all(u8::is_ascii_alphanumeric)).then_some(key)
}

/// Refuses a plain dump with a psql meta-command (a line starting with `\`)
/// outside COPY data, apart from pg_dump's own `\restrict` before the first
/// statement and `\unrestrict` after the last. A fast, early check with the line
/// number; the restore itself runs restricted (`restricted_stream`) regardless.
pub fn scan_meta_commands(file: &Utf8Path) -> anyhow::Result<()> {
    let mut reader = BufReader::new(
        File::open(file).with_context(|| format!("cannot open dump file `{file}`"))?,
    );
    let mut line = Vec::new();
    let (mut number, mut in_copy, mut seen_sql) = (0usize, false, false);
    let mut key: Option<Vec<u8>> = None;
    let mut pending_unrestrict: Option<usize> = None;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if in_copy {
            in_copy = line.trim_ascii_end() != b"\\.";
            continue;
        }
        if is_comment_or_blank(&line) {
            continue;
        }
        if let Some(at) = pending_unrestrict.take() {
            bail!(meta_error(file, at));
        }
        if line.starts_with(b"\\") {
            match (&key, seen_sql) {
                (None, false) if restrict_key(&line, b"\\restrict").is_some() => {
                    key = restrict_key(&line, b"\\restrict").map(<[u8]>::to_vec);
                }
                (Some(k), _) if restrict_key(&line, b"\\unrestrict") == Some(k.as_slice()) => {
                    pending_unrestrict = Some(number);
                }
                _ => bail!(meta_error(file, number)),
            }
            continue;
        }
        seen_sql = true;
        let upper = line.trim_ascii_end().to_ascii_uppercase();
        in_copy = upper.starts_with(b"COPY ") && upper.ends_with(b" FROM STDIN;");
    }
}

fn meta_error(file: &Utf8Path, line: usize) -> String {
    format!(
        "`{file}` line {line}: a psql meta-command (a line starting with `\\`) outside COPY data; \
         pg_dump never writes one there, and psql would run it (`\\!` is a shell in the postgres container); \
         nothing was restored"
    )
}

/// A random key for psql's `\restrict`.
pub fn new_restrict_key() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// Writes `\restrict <key>` and then `file` to `out`, leaving out pg_dump's own
/// `\restrict` (before the first statement) and its matching `\unrestrict` (after
/// the last), so psql runs the whole file with every meta-command refused: the
/// file cannot know `key`, so it cannot lift the restriction.
pub fn restricted_stream(file: &Utf8Path, key: &str, out: &mut dyn Write) -> std::io::Result<()> {
    out.write_all(format!("\\restrict {key}\n").as_bytes())?;
    let mut reader = BufReader::new(File::open(file)?);
    let mut line = Vec::new();
    let (mut header, mut in_copy) = (true, false);
    let mut own_key: Option<Vec<u8>> = None;
    // The file's `\unrestrict` and the comments after it, held back until we
    // know whether anything but comments follows.
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            // Leave the trailing `\unrestrict` out; keep the comments after it.
            for kept in held.iter().skip(1) {
                out.write_all(kept)?;
            }
            return out.flush();
        }
        if !held.is_empty() {
            held.push(line.clone());
            if !is_comment_or_blank(&line) {
                for kept in held.drain(..) {
                    out.write_all(&kept)?;
                }
            }
            continue;
        }
        if header && !is_comment_or_blank(&line) {
            header = false;
            if let Some(k) = restrict_key(&line, b"\\restrict") {
                own_key = Some(k.to_vec());
                continue;
            }
        }
        if !in_copy {
            if let (Some(k), Some(found)) = (&own_key, restrict_key(&line, b"\\unrestrict")) {
                if k.as_slice() == found {
                    held.push(line.clone());
                    continue;
                }
            }
            let upper = line.trim_ascii_end().to_ascii_uppercase();
            in_copy = upper.starts_with(b"COPY ") && upper.ends_with(b" FROM STDIN;");
        } else {
            in_copy = line.trim_ascii_end() != b"\\.";
        }
        out.write_all(&line)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(contents: &[u8]) -> (tempfile::TempDir, Utf8PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("x.sql")).unwrap();
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    #[test]
    fn stems_never_collide() {
        assert_eq!(file_stem("app"), "app");
        assert_eq!(file_stem("a_b-1"), "a_b-1");
        let spaced = file_stem("a b");
        assert!(
            spaced.starts_with("a_b.") && spaced.len() == "a_b.".len() + 16,
            "{spaced}"
        );
        assert_ne!(spaced, file_stem("a_b"));
        assert_ne!(spaced, file_stem("a.b"));
        assert_ne!(file_stem("é"), file_stem("__"));
        let hostile = file_stem("../etc");
        assert!(
            hostile.starts_with("___etc.") && !hostile.contains('/'),
            "{hostile}"
        );
        // Same as the sidecar: `printf '%s' 'a b' | sha256sum | cut -c1-16`.
        assert_eq!(spaced, "a_b.c8687a08aa5d6ed2");
    }

    #[test]
    fn manifests_recognise_our_files_only() {
        let (_dir, path) = temp_file(b"PGDMP data");
        let err = check_manifest(&path).unwrap_err().to_string();
        assert!(
            err.contains("was not written by core_data") && err.contains("--trust"),
            "{err}"
        );
        write_manifest(&path, &manifest_path(&path), "x.sql").unwrap();
        check_manifest(&path).unwrap();
        assert!(
            write_manifest(&path, &manifest_path(&path), "x.sql").is_err(),
            "never overwritten"
        );
        std::fs::write(&path, b"PGDMP dat4").unwrap();
        let err = check_manifest(&path).unwrap_err().to_string();
        assert!(err.contains("does not match"), "{err}");
    }

    #[test]
    fn garbage_is_not_a_dump() {
        let (_dir, path) = temp_file(b"\x00\x01garbage");
        let err = detect_format(&path).unwrap_err().to_string();
        assert!(err.contains("is not a pg_dump file"), "{err}");
        std::fs::write(&path, b"PGDMP\x01\x0f").unwrap();
        assert_eq!(detect_format(&path).unwrap(), DumpFormat::Custom);
        std::fs::write(&path, b"--\n-- PostgreSQL database dump\n--\n").unwrap();
        assert_eq!(detect_format(&path).unwrap(), DumpFormat::Plain);
        assert!(detect_format(&path.with_file_name("missing")).is_err());
    }

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\nSET x = 1;\n\
        COPY public.t (a) FROM stdin;\n\\N\n\\! not a command: data\n\\.\n\nSELECT 1;\n\n\
        \\unrestrict abc123\n\n-- PostgreSQL database dump complete\n\n";

    #[test]
    fn meta_commands_outside_copy_data_are_found() {
        let (_dir, path) = temp_file(DUMP.as_bytes());
        scan_meta_commands(&path).unwrap();
        for (bad, line) in [
            (DUMP.replace("SELECT 1;", "\\! id"), 13),
            (
                DUMP.replace("SET x = 1;", "SET x = 1;\n\\restrict other"),
                8,
            ),
            (
                DUMP.replace("\\unrestrict abc123\n", "\\unrestrict abc123\nSELECT 2;\n"),
                15,
            ),
            (DUMP.replace("\\restrict abc123", "\\i /etc/passwd"), 5),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = scan_meta_commands(&path).unwrap_err().to_string();
            assert!(
                err.contains(&format!("line {line}: a psql meta-command")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_restricted_stream_drops_only_the_files_own_brackets() {
        let (_dir, path) = temp_file(DUMP.as_bytes());
        let mut out = Vec::new();
        restricted_stream(&path, "K", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("\\restrict K\n--\n"), "{text}");
        assert!(!text.contains("abc123"), "{text}");
        assert!(
            text.contains("\\! not a command: data\n\\.\n"),
            "COPY data kept: {text}"
        );
        assert!(
            text.ends_with("SELECT 1;\n\n\n-- PostgreSQL database dump complete\n\n"),
            "{text}"
        );

        let sneaky = DUMP.replace(
            "SELECT 1;\n\n\\unrestrict abc123\n",
            "\\unrestrict abc123\n\\! id\n",
        );
        std::fs::write(&path, sneaky).unwrap();
        let mut out = Vec::new();
        restricted_stream(&path, "K", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\\unrestrict abc123\n\\! id\n"),
            "kept, so psql refuses it: {text}"
        );
    }
}
