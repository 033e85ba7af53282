//! Which PostgreSQL major each Debian suite carries and which of the image's
//! packages it lacks (`postgres/suites.txt`), and the bundle extensions those
//! packages provide (`postgres/packages.txt`). A new major is a line of
//! `suites.txt`, not code.

pub const SUITES_FILE: &str = include_str!("../../../../postgres/suites.txt");
pub const PACKAGES_FILE: &str = include_str!("../../../../postgres/packages.txt");

/// One line of `suites.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub major: u32,
    /// Packages of `packages.txt` this suite lacks, `@PG_MAJOR@` resolved.
    pub lacks: Vec<String>,
}

impl Suite {
    /// The bundle extensions an image of this suite leaves out.
    pub fn absent_extensions(&self) -> Vec<String> {
        packages(self.major)
            .into_iter()
            .filter(|(package, _)| self.lacks.contains(package))
            .flat_map(|(_, provides)| provides)
            .collect()
    }
}

/// Every suite of `suites.txt`, in file order.
pub fn all() -> Vec<Suite> {
    parse_suites(SUITES_FILE)
}

/// The first suite of the file: the newest, which the add-ons build on.
pub fn newest() -> Suite {
    all().into_iter().next().expect("suites.txt lists a suite")
}

/// The suite named `name`.
pub fn named(name: &str) -> Option<Suite> {
    all().into_iter().find(|suite| suite.name == name)
}

/// The first suite of the file that carries `major`.
pub fn for_major(major: u32) -> Option<Suite> {
    all().into_iter().find(|suite| suite.major == major)
}

/// The majors the suites offer, ascending.
pub fn majors() -> Vec<u32> {
    let mut majors: Vec<u32> = all().iter().map(|suite| suite.major).collect();
    majors.sort_unstable();
    majors.dedup();
    majors
}

fn parse_suites(text: &str) -> Vec<Suite> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().expect("a suite name").to_owned();
            let major: u32 = fields
                .next()
                .and_then(|major| major.parse().ok())
                .unwrap_or_else(|| panic!("suites.txt: `{line}` has no major"));
            let lacks = fields
                .map(|package| package.replace("@PG_MAJOR@", &major.to_string()))
                .collect();
            Suite { name, major, lacks }
        })
        .collect()
}

/// `packages.txt` for `major`: each package with the bundle extensions it alone provides.
pub fn packages(major: u32) -> Vec<(String, Vec<String>)> {
    PACKAGES_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let package = fields
                .next()
                .expect("a package name")
                .replace("@PG_MAJOR@", &major.to_string());
            (package, fields.map(str::to_owned).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_suite_and_what_it_lacks() {
        let trixie = named("trixie").unwrap();
        assert_eq!(trixie.major, 17);
        assert!(trixie.absent_extensions().is_empty());
        let bookworm = for_major(15).unwrap();
        assert_eq!(bookworm.name, "bookworm");
        assert_eq!(
            bookworm.absent_extensions(),
            vec![
                "vector".to_owned(),
                "age".to_owned(),
                "pg_squeeze".to_owned()
            ]
        );
        assert_eq!(majors(), vec![15, 17]);
        let bundle = crate::pg::bootstrap::extensions();
        for suite in all() {
            for package in &suite.lacks {
                assert!(
                    packages(suite.major)
                        .iter()
                        .any(|(name, _)| name == package),
                    "{} lacks `{package}`, which packages.txt does not list",
                    suite.name
                );
            }
            for extension in suite.absent_extensions() {
                assert!(bundle.contains(&extension.as_str()), "{extension}");
            }
        }
    }
}
