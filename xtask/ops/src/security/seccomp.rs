//! Which seccomp profile a container runs under. Docker stores the profile's
//! JSON itself in `HostConfig.SecurityOpt` (`seccomp=<contents>`), not a path,
//! so a profile is *ours* when its parsed JSON equals that of a file in the
//! repository's `seccomp/` directory (any file there: each service has its own).

use anyhow::Context;
use camino::Utf8Path;
use serde::ser::SerializeStruct;
use serde::Serialize;

/// The profiles of `seccomp/`: (file name, parsed JSON), sorted by name.
#[derive(Debug, Clone, Default)]
pub struct OurProfiles(Vec<(String, serde_json::Value)>);

impl OurProfiles {
    /// Reads every `*.json` file of `dir`.
    pub fn read(dir: &Utf8Path) -> anyhow::Result<OurProfiles> {
        let mut profiles = Vec::new();
        let entries = dir
            .read_dir_utf8()
            .with_context(|| format!("cannot list the seccomp profiles in `{dir}`"))?;
        for entry in entries {
            let path = entry?.into_path();
            if path.extension() != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the seccomp profile `{path}`"))?;
            let json = serde_json::from_str(&text)
                .with_context(|| format!("the seccomp profile `{path}` is not JSON"))?;
            let name = path.file_name().unwrap_or_default().to_owned();
            profiles.push((name, json));
        }
        profiles.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(OurProfiles(profiles))
    }

    /// From (file name, JSON text) pairs; for tests.
    pub fn from_texts(files: &[(&str, &str)]) -> OurProfiles {
        OurProfiles(
            files
                .iter()
                .map(|(name, text)| ((*name).to_owned(), serde_json::from_str(text).unwrap()))
                .collect(),
        )
    }

    /// The file whose profile equals `json`.
    fn matching(&self, json: &serde_json::Value) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, ours)| ours == json)
            .map(|(name, _)| name.as_str())
    }
}

/// The seccomp profile a container runs under; serialized as
/// `{"kind": "ours"|"other"|"engine_default"|"unconfined", "file": "postgres.json"|null}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// The profile of this file of `seccomp/`.
    Ours(String),
    /// A profile that is no file of `seccomp/`.
    Other,
    /// No `seccomp=` option: the engine's built-in default profile.
    EngineDefault,
    /// `seccomp=unconfined`: no filter at all.
    Unconfined,
}

impl Seccomp {
    /// Judges the `seccomp=` entry of `security_opt` against `ours`.
    pub fn of(security_opt: &[String], ours: &OurProfiles) -> Seccomp {
        let Some(value) = security_opt.iter().find_map(|opt| {
            opt.strip_prefix("seccomp=")
                .or(opt.strip_prefix("seccomp:"))
        }) else {
            return Seccomp::EngineDefault;
        };
        if value == "unconfined" {
            return Seccomp::Unconfined;
        }
        serde_json::from_str::<serde_json::Value>(value)
            .ok()
            .and_then(|json| ours.matching(&json).map(str::to_owned))
            .map_or(Seccomp::Other, Seccomp::Ours)
    }
}

impl Seccomp {
    fn kind(&self) -> &'static str {
        match self {
            Seccomp::Ours(_) => "ours",
            Seccomp::Other => "other",
            Seccomp::EngineDefault => "engine_default",
            Seccomp::Unconfined => "unconfined",
        }
    }
}

impl Serialize for Seccomp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Seccomp", 2)?;
        out.serialize_field("kind", self.kind())?;
        let file = match self {
            Seccomp::Ours(file) => Some(file.as_str()),
            _ => None,
        };
        out.serialize_field("file", &file)?;
        out.end()
    }
}

impl std::fmt::Display for Seccomp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seccomp::Ours(file) => write!(f, "seccomp/{file} (ours)"),
            Seccomp::Other => f.write_str("a profile that is not in seccomp/"),
            Seccomp::EngineDefault => f.write_str("Docker's default profile"),
            Seccomp::Unconfined => f.write_str("unconfined"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_ours_when_its_json_equals_a_file() {
        let ours = OurProfiles::from_texts(&[
            (
                "a.json",
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [1]}"#,
            ),
            (
                "b.json",
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [2]}"#,
            ),
        ]);
        let opt = |value: &str| vec!["no-new-privileges:true".to_owned(), value.to_owned()];
        // Whitespace and key order do not matter; contents do.
        assert_eq!(
            Seccomp::of(
                &opt(r#"seccomp={"syscalls":[2],"defaultAction":"SCMP_ACT_ERRNO"}"#),
                &ours
            ),
            Seccomp::Ours("b.json".to_owned())
        );
        assert_eq!(
            Seccomp::of(
                &opt(r#"seccomp={"syscalls":[3],"defaultAction":"SCMP_ACT_ERRNO"}"#),
                &ours
            ),
            Seccomp::Other
        );
        assert_eq!(
            Seccomp::of(&opt("seccomp=unconfined"), &ours),
            Seccomp::Unconfined
        );
        assert_eq!(
            Seccomp::of(&opt("label=disable"), &ours),
            Seccomp::EngineDefault
        );
    }

    #[test]
    fn the_repository_profiles_read() {
        let ours = OurProfiles::read(&crate::paths::repo_root().join("seccomp")).unwrap();
        assert!(ours.0.iter().any(|(name, _)| name == "postgres.json"));
    }
}
