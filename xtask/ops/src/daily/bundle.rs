//! The files of one run directory: each created exclusively (never over an
//! existing file, never through a link), 0600 like every backup, and recorded
//! with what it holds, so `index.html` links exactly the files that exist.

use std::fs::File;
use std::io::Write;

use anyhow::Context;
use camino::Utf8PathBuf;
use serde::Serialize;

/// One file written into the bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleFile {
    pub name: String,
    pub what: String,
    pub bytes: u64,
}

pub struct Bundle {
    pub dir: Utf8PathBuf,
    pub files: Vec<BundleFile>,
}

impl Bundle {
    pub fn new(dir: Utf8PathBuf) -> Bundle {
        Bundle {
            dir,
            files: Vec::new(),
        }
    }

    /// Creates `name`, lets `fill` write it, syncs it and records it.
    pub fn stream<T>(
        &mut self,
        name: &str,
        what: &str,
        fill: impl FnOnce(&mut File) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let path = self.dir.join(name);
        let mut file = crate::fsutil::create_new(&path, 0o600)?;
        let filled = fill(&mut file).and_then(|value| {
            file.flush()?;
            file.sync_all()?;
            Ok(value)
        });
        match filled {
            Ok(value) => {
                self.record(name, what)?;
                Ok(value)
            }
            Err(err) => {
                // A half-written file is not part of the bundle.
                let _ = std::fs::remove_file(&path);
                Err(err.context(format!("failed to write `{path}`")))
            }
        }
    }

    /// Records a file written by other means (e.g. two at once).
    pub fn record(&mut self, name: &str, what: &str) -> anyhow::Result<()> {
        let path = self.dir.join(name);
        let bytes = std::fs::metadata(&path)
            .with_context(|| format!("`{path}` was not written"))?
            .len();
        self.files.push(BundleFile {
            name: name.to_owned(),
            what: what.to_owned(),
            bytes,
        });
        Ok(())
    }

    pub fn write(&mut self, name: &str, what: &str, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream(name, what, |file| Ok(file.write_all(bytes)?))
    }

    pub fn write_json(
        &mut self,
        name: &str,
        what: &str,
        value: &impl Serialize,
    ) -> anyhow::Result<()> {
        let mut text = serde_json::to_vec_pretty(value).context("failed to serialize")?;
        text.push(b'\n');
        self.write(name, what, &text)
    }

    /// A path inside the bundle, for a file created by [`Bundle::create`].
    pub fn path(&self, name: &str) -> Utf8PathBuf {
        self.dir.join(name)
    }

    /// Creates `name` exclusively without recording it yet (see [`Bundle::record`]).
    pub fn create(&self, name: &str) -> anyhow::Result<File> {
        crate::fsutil::create_new(&self.dir.join(name), 0o600)
    }
}
